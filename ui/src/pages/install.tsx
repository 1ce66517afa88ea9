// Installers: doors, LAN devices (secret, CA, QR), wired hardware.
import { PageTitle } from '../components/ui.js';
import { t } from '../i18n/index.js';

export function InstallPage() {
  return <PageTitle>{t.install.title}</PageTitle>;
}
