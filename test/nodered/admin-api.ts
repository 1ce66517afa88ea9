// Node-RED's admin API as the hub reaches it: the hub's token header, and a full deploy for a flow body.
import type { NodeRedTarget } from '../../hub/nodered/target.js';

export function nodeRedAdmin(
  target: NodeRedTarget,
  method: string,
  route: string,
  body?: unknown,
): Promise<Response> {
  return fetch(`${target.origin}${route}`, {
    method,
    headers: {
      [target.header]: target.token,
      accept: 'application/json',
      ...(body === undefined
        ? {}
        : { 'content-type': 'application/json', 'node-red-deployment-type': 'full' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}
