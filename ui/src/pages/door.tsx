// One door: live state, unlock once, modes, alarms, its last events.
import { PageTitle } from '../components/ui.js';

export function DoorPage({ id }: { id: string }) {
  return <PageTitle>{id}</PageTitle>;
}
