// One person: credentials, what each door answers now, codes, suspension.
import { PageTitle } from '../components/ui.js';

export function PersonPage({ id }: { id: string }) {
  return <PageTitle>{id}</PageTitle>;
}
