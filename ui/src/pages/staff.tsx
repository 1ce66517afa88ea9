// Staff accounts (admin): add, change role, reset password, remove.
import { PageTitle } from '../components/ui.js';
import { t } from '../i18n/index.js';

export function StaffPage() {
  return <PageTitle>{t.staff.title}</PageTitle>;
}
