// First run: create the first admin with the one-time setup link.
import { PageTitle } from '../components/ui.js';

export function SetupPage() {
  return <PageTitle>First-run setup</PageTitle>;
}
