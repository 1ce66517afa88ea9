// The audit log: filter, page, export CSV.
import { PageTitle } from '../components/ui.js';
import { t } from '../i18n/index.js';

export function EventsPage() {
  return <PageTitle>{t.events.title}</PageTitle>;
}
