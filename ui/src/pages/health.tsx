// The hub's own health at a glance.
import { PageTitle } from '../components/ui.js';
import { t } from '../i18n/index.js';

export function HealthPage() {
  return <PageTitle>{t.health.title}</PageTitle>;
}
