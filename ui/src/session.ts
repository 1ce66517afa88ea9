// Who is signed in and what they may do. `may` comes from the hub (GET /api/v1/me): the UI hides what
// the API would refuse, and the API refuses it anyway.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Me } from './types.js';

export const SessionContext = createContext<Me | null>(null);

export function useSession(): Me {
  const me = useContext(SessionContext);
  if (!me) throw new Error('useSession outside a signed-in page');
  return me;
}

/** True when the signed-in role may run the named command (e.g. 'door.unlock'). */
export function useMay(): (command: string) => boolean {
  const me = useSession();
  return (command) => me.may.includes(command);
}

/** Roles that may open the Node-RED flow editor the hub serves at /flows/ (docs/http-api.md). */
export function mayOpenFlows(me: Me): boolean {
  return me.user.role === 'installer' || me.user.role === 'admin';
}
