// Small builders for the test flows: core http-in / function / http-response nodes around the Gatehouse
// nodes, so a test drives a flow with an HTTP request and reads the node's output in the answer.

export type FlowNode = Record<string, unknown> & { id: string; type: string };

export const TAB = 'test-tab';
export const CONFIG: FlowNode = { id: 'gatehouse-hub', type: 'gatehouse-config', name: 'Gatehouse hub' };

let row = 0;
function at() {
  row += 1;
  return { z: TAB, x: 200, y: row * 40 };
}

export function tab(): FlowNode {
  return { id: TAB, type: 'tab', label: 'tests', disabled: false, info: '' };
}

export function httpIn(id: string, url: string, next: string): FlowNode {
  return {
    id,
    type: 'http in',
    name: url,
    url,
    method: 'post',
    upload: false,
    swaggerDoc: '',
    ...at(),
    wires: [[next]],
  };
}

export function httpGet(id: string, url: string, next: string): FlowNode {
  return {
    id,
    type: 'http in',
    name: url,
    url,
    method: 'get',
    upload: false,
    swaggerDoc: '',
    ...at(),
    wires: [[next]],
  };
}

export function respond(id: string): FlowNode {
  return { id, type: 'http response', name: '', statusCode: '', headers: {}, ...at(), wires: [] };
}

export function fn(id: string, func: string, next: string[] = []): FlowNode {
  return {
    id,
    type: 'function',
    name: id,
    func,
    outputs: 1,
    timeout: 0,
    noerr: 0,
    initialize: '',
    finalize: '',
    libs: [],
    ...at(),
    wires: [next],
  };
}

/** A Gatehouse node (server set to the shared config node) wired to `next`. */
export function gatehouse(
  id: string,
  type: string,
  props: Record<string, unknown>,
  next: string[],
): FlowNode {
  return {
    id,
    type,
    name: id,
    server: CONFIG.id,
    ...props,
    ...at(),
    wires: type === 'gatehouse-event' ? [next] : [next],
  };
}

/** http-in `url` → copy body fields onto msg → node → put the answer (and `extra` msg fields) in the reply. */
export function endpoint(
  name: string,
  node: (id: string, next: string[]) => FlowNode,
  extra: string[] = [],
): FlowNode[] {
  const reply = `${name}-reply`;
  return [
    httpIn(`${name}-in`, `/t/${name}`, `${name}-copy`),
    fn(`${name}-copy`, 'Object.assign(msg, msg.payload); return msg;', [`${name}-node`]),
    node(`${name}-node`, [`${name}-out`]),
    fn(
      `${name}-out`,
      `msg.payload = { answer: msg.payload${extra.map((f) => `, ${f}: msg.${f}`).join('')} }; return msg;`,
      [reply],
    ),
    respond(reply),
  ];
}
