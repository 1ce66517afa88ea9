// Find a resident by name or unit.
import { PageTitle } from '../components/ui.js';
import { t } from '../i18n/index.js';

export function PeoplePage() {
  return <PageTitle>{t.people.title}</PageTitle>;
}
