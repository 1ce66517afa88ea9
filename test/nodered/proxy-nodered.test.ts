// The real hub running the real Node-RED child, reached only through /flows/ (issue #11 item 2): anonymous
// and staff are refused, installers and admins pass; Node-RED's own port refuses anything without the
// token the hub injects; a flow deployed through the proxied admin API with an installer session runs,
// and its output arrives over the editor's WebSocket through the proxy.
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Hub } from '../../hub/app.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { rawRequest } from '../http/raw.js';

const PASSWORD = 'correct horse battery';
/** Node-RED's first start on a loaded 2-core machine (it loads every core node) can take a while. */
const START_TIMEOUT_MS = 150_000;

let dir: string;
let hub: Hub;
let port: number;
const sessions: Record<string, string> = {};

function nodeRedState(): string {
  return (hub.status().nodeRed as { state: string }).state;
}

async function waitForRunning(): Promise<void> {
  const until = Date.now() + START_TIMEOUT_MS;
  while (nodeRedState() !== 'running') {
    if (Date.now() > until)
      throw new Error(`Node-RED did not start: ${JSON.stringify(hub.status().nodeRed)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  dir = tempDataDir();
  hub = await startHub(dir, { http: { https: { enabled: false } }, nodeRed: { enabled: true } });
  port = hub.addresses().http.http!;
  for (const [name, role] of [
    ['ivan', 'installer'],
    ['alice', 'admin'],
    ['sam', 'staff'],
  ] as const) {
    const user = await hub.store.users.add(name, PASSWORD, role);
    sessions[name] = hub.store.users.createSession(user.id, 3_600_000);
  }
  await waitForRunning();
}, START_TIMEOUT_MS + 30_000);

afterAll(async () => {
  await hub?.stop();
  if (dir) removeDir(dir);
}, 30_000);

const bearer = (name: string) => ({ authorization: `Bearer ${sessions[name]}` });

describe('who reaches Node-RED through /flows/', () => {
  it('anonymous and staff are refused; installer and admin get the editor and its admin API', async () => {
    expect((await rawRequest(port, '/flows/settings')).status).toBe(401);
    const page = await rawRequest(port, '/flows/', { headers: { accept: 'text/html' } });
    expect(page.status).toBe(302);
    expect(page.headers.location).toBe('/login?next=%2Fflows%2F');
    expect((await rawRequest(port, '/flows/settings', { headers: bearer('sam') })).status).toBe(403);
    expect((await rawRequest(port, '/flows/flows', { headers: bearer('sam') })).status).toBe(403);

    for (const name of ['ivan', 'alice']) {
      const settings = await rawRequest(port, '/flows/settings', { headers: bearer(name) });
      expect(settings.status).toBe(200);
      expect(JSON.parse(settings.text)).toHaveProperty('httpNodeRoot');
      const editor = await rawRequest(port, '/flows/', {
        headers: { cookie: `gatehouse_session=${sessions[name]}`, accept: 'text/html' },
      });
      expect(editor.status).toBe(200);
      expect(editor.text).toContain('Gatehouse flows');
      expect(editor.headers['content-security-policy']).toContain("'unsafe-inline'");
    }
  });

  it("Node-RED's own port refuses requests and WebSockets without the injected token", async () => {
    const target = hub.nodeRed!.target()!;
    const local = Number(new URL(target.origin).port);
    expect((await rawRequest(local, '/flows/settings')).status).toBe(401);
    expect((await rawRequest(local, '/flows/flows')).status).toBe(401);
    const deploy = await rawRequest(local, '/flows/flows', {
      method: 'POST',
      body: '[]',
      headers: { 'content-type': 'application/json', 'content-length': '2' },
    });
    expect(deploy.status).toBe(401);
    // A forged token in the header, and the hub's session as a bearer, are worth nothing there either.
    expect((await rawRequest(local, '/flows/flows', { headers: { [target.header]: 'guess' } })).status).toBe(
      401,
    );
    expect((await rawRequest(local, '/flows/flows', { headers: bearer('ivan') })).status).toBe(401);
    // The editor's WebSocket with a wrong token is dropped at the upgrade.
    const ws = new WebSocket(`ws://127.0.0.1:${local}/flows/comms`, {
      headers: { [target.header]: 'guess' },
    });
    const [error] = (await once(ws, 'error')) as [Error];
    expect(error.message).toMatch(/socket hang up|closed|ECONNRESET/i);
    // With the token it answers: the refusals above are the token's doing, not a dead port.
    expect(
      (await rawRequest(local, '/flows/settings', { headers: { [target.header]: target.token } })).status,
    ).toBe(200);
  });
});

describe('a flow deployed through the proxy', () => {
  it('with an installer session runs, and its debug output reaches the editor WebSocket through the hub', async () => {
    // The editor's connection first (as the browser opens it), subscribed to debug output.
    const ws = new WebSocket(`ws://127.0.0.1:${port}/flows/comms`, { headers: bearer('ivan') });
    await once(ws, 'open');
    const messages: Array<{ topic: string; data: unknown }> = [];
    ws.on('message', (data) => messages.push(...(JSON.parse(data.toString()) as typeof messages)));
    ws.send(JSON.stringify({ subscribe: 'debug' }));
    ws.send(JSON.stringify({ subscribe: 'notification/#' }));

    const flows = [
      { id: 'tab1', type: 'tab', label: 'Proxy proof' },
      {
        id: 'inject1',
        type: 'inject',
        z: 'tab1',
        name: 'tick',
        props: [{ p: 'payload' }],
        repeat: '1',
        once: true,
        onceDelay: 0.1,
        payload: 'through-the-hub',
        payloadType: 'str',
        wires: [['function1']],
      },
      {
        id: 'function1',
        type: 'function',
        z: 'tab1',
        name: 'stamp',
        func: 'msg.payload = msg.payload + ":" + (1 + 1); return msg;',
        outputs: 1,
        wires: [['debug1']],
      },
      {
        id: 'debug1',
        type: 'debug',
        z: 'tab1',
        name: 'out',
        active: true,
        tosidebar: true,
        complete: 'payload',
        targetType: 'msg',
        wires: [],
      },
    ];
    // Admin API v2: the body is {flows}, the answer names the new revision.
    const body = JSON.stringify({ flows });
    const deployed = await rawRequest(port, '/flows/flows', {
      method: 'POST',
      body,
      headers: {
        ...bearer('ivan'),
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'node-red-deployment-type': 'full',
        'node-red-api-version': 'v2',
      },
    });
    expect(deployed.status).toBe(200);
    expect(JSON.parse(deployed.text)).toHaveProperty('rev');

    await expect
      .poll(() => messages.find((m) => m.topic === 'debug'), { timeout: 20_000 })
      .toMatchObject({ data: { msg: 'through-the-hub:2' } });

    // What the admin API now holds is the flow the installer deployed.
    const stored = await rawRequest(port, '/flows/flows', {
      headers: { ...bearer('alice'), 'node-red-api-version': 'v2' },
    });
    expect(stored.status).toBe(200);
    const ids = (JSON.parse(stored.text) as { flows: Array<{ id: string }> }).flows.map((n) => n.id);
    expect(ids).toEqual(expect.arrayContaining(['tab1', 'inject1', 'function1', 'debug1']));
    ws.close();
  });

  it('a staff session can neither deploy nor open the WebSocket', async () => {
    const deploy = await rawRequest(port, '/flows/flows', {
      method: 'POST',
      body: '[]',
      headers: { ...bearer('sam'), 'content-type': 'application/json', 'content-length': '2' },
    });
    expect(deploy.status).toBe(403);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/flows/comms`, { headers: bearer('sam') });
    ws.on('error', () => {}); // the refused handshake also surfaces as an error: the status is checked below
    const [, response] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number }];
    expect(response.statusCode).toBe(403);
    ws.terminate();
    // The flow deployed above is still there: the refused deploy changed nothing.
    const stored = await rawRequest(port, '/flows/flows', { headers: bearer('ivan') });
    expect(stored.text).toContain('inject1');
  });
});
