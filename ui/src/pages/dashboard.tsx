// Every door with its live state (scenario 3 of docs/staff-guide.md).
import { PageTitle } from '../components/ui.js';
import { t } from '../i18n/index.js';

export function DashboardPage() {
  return <PageTitle>{t.doors.title}</PageTitle>;
}
