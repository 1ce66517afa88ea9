// Device accounts, roles and per-door ACLs on mosquitto 2 through its dynamic-security plugin
// ($CONTROL/dynamic-security/v1). The hub's device table is the source of truth: every reconcile makes
// the broker's Gatehouse clients and roles match it, and leaves every other client and role alone.
// The ACLs are the embedded broker's (hub/broker/acl.ts, docs/mqtt.md §3) in dynsec's terms.
import type { Logger } from 'pino';
import { isTopicSafeId } from '../contract.js';

export const CONTROL_TOPIC = '$CONTROL/dynamic-security/v1';
export const CONTROL_RESPONSE_TOPIC = '$CONTROL/dynamic-security/v1/response';
/** A command that gets no answer within this is failed (the broker is gone or not mosquitto). */
const COMMAND_TIMEOUT_MS = 10_000;
/**
 * Bytes per control message: the broker's max_packet_size (5120 recommended, docs/external-broker.md)
 * applies to the hub's packets too, and a larger one disconnects it.
 */
const MAX_MESSAGE_BYTES = 3500;
/** Roles and clients listed per answer, so each answer stays under max_packet_size as well. */
const LIST_PAGE = 3;

export type AclType =
  | 'publishClientSend'
  | 'publishClientReceive'
  | 'subscribePattern'
  | 'subscribeLiteral'
  | 'unsubscribePattern';

export interface Acl {
  acltype: AclType;
  topic: string;
  allow: boolean;
  priority: number;
}

export interface DynsecCommand {
  command: string;
  [field: string]: unknown;
}

export interface DynsecResponse {
  command: string;
  error?: string;
  data?: Record<string, unknown>;
  correlationData?: string;
}

/** One device as the hub's table has it. */
export interface ProvisionedDevice {
  id: string;
  role: 'door' | 'integration';
  doors: readonly string[];
}

/** Sends one control message; the transport publishes it on CONTROL_TOPIC. */
export type ControlSend = (payload: string) => Promise<void>;

/** Names of the roles and the mark on the clients the hub owns (`<baseTopic>-door-front`, ...). */
export function roleNames(baseTopic: string) {
  return {
    hub: `${baseTopic}-hub`,
    integration: `${baseTopic}-integration`,
    door: (doorId: string) => `${baseTopic}-door-${doorId}`,
    device: (deviceId: string) => `${baseTopic}-device-${deviceId}`,
    /** textname of every client the hub made; clients without it are never touched. */
    mark: `${baseTopic} device (managed by the Gatehouse hub)`,
  };
}

const allow = (acltype: AclType, topic: string, priority = 0): Acl => ({
  acltype,
  topic,
  allow: true,
  priority,
});
const deny = (acltype: AclType, topic: string, priority = 10): Acl => ({
  acltype,
  topic,
  allow: false,
  priority,
});

/**
 * Topics outside the v1 contract a part offers integrations (Home Assistant), as topic filters: what
 * integrations may subscribe to, what they may publish (the hub takes it; nobody else receives it, as on
 * the embedded broker), and where the hub publishes besides the base topic (the discovery prefix).
 */
export interface ExtraAcls {
  subscribe: readonly string[];
  publish: readonly string[];
  hubPublish: readonly string[];
}

/** The ACLs of each role (docs/mqtt.md §3; docs/external-broker.md lists them). */
export function roleAcls(baseTopic: string, extra: ExtraAcls | null = null) {
  const b = baseTopic;
  const outside = (filter: string) => !filter.startsWith(`${b}/`);
  return {
    /** The hub publishes every answer and hears every device message (and the part's topics). */
    hub: (): Acl[] => [
      allow('publishClientSend', `${b}/#`),
      allow('publishClientReceive', `${b}/#`),
      allow('subscribePattern', `${b}/#`),
      ...(extra?.hubPublish ?? []).filter(outside).map((f) => allow('publishClientSend', f)),
      ...(extra?.publish ?? [])
        .filter(outside)
        .flatMap((f) => [allow('subscribePattern', f), allow('publishClientReceive', f)]),
    ],
    door: (doorId: string): Acl[] => [
      // Credentials carry card UIDs and PINs: nobody but the hub receives them, not even the door's devices.
      deny('publishClientReceive', `${b}/door/${doorId}/credential`),
      allow('publishClientSend', `${b}/door/${doorId}/credential`),
      allow('publishClientSend', `${b}/door/${doorId}/state`),
      allow('publishClientSend', `${b}/door/${doorId}/event`),
      allow('publishClientSend', `${b}/door/${doorId}/sync/ack`),
      allow('subscribePattern', `${b}/door/${doorId}/#`),
      allow('publishClientReceive', `${b}/door/${doorId}/#`),
    ],
    device: (deviceId: string): Acl[] => [
      allow('publishClientSend', `${b}/device/${deviceId}/availability`),
      allow('subscribePattern', `${b}/device/${deviceId}/error`),
      allow('publishClientReceive', `${b}/device/${deviceId}/error`),
    ],
    integration: (): Acl[] => [
      deny('publishClientReceive', `${b}/door/+/credential`),
      allow('publishClientSend', `${b}/bridge/request/+`),
      allow('subscribePattern', `${b}/bridge/#`),
      allow('subscribePattern', `${b}/door/+/state`),
      allow('subscribePattern', `${b}/door/+/event`),
      allow('subscribePattern', `${b}/door/+/decision`),
      allow('publishClientReceive', `${b}/bridge/#`),
      allow('publishClientReceive', `${b}/door/+/state`),
      allow('publishClientReceive', `${b}/door/+/event`),
      allow('publishClientReceive', `${b}/door/+/decision`),
      // Commands and Home Assistant's birth go to the hub alone: the embedded broker never routes them.
      ...(extra?.publish ?? []).flatMap((f) => [
        deny('publishClientReceive', f),
        allow('publishClientSend', f),
      ]),
      ...(extra?.subscribe ?? []).flatMap((f) => [
        allow('subscribePattern', f),
        allow('publishClientReceive', f),
      ]),
    ],
  };
}

/** Sends dynsec commands and matches the answers by correlation id. */
export class DynsecControl {
  readonly #send: ControlSend;
  readonly #pending = new Map<
    string,
    { resolve: (r: DynsecResponse) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  #next = 0;

  constructor(send: ControlSend) {
    this.#send = send;
  }

  /** Feed every message received on CONTROL_RESPONSE_TOPIC here. */
  onResponse(payload: Buffer): void {
    let responses: unknown;
    try {
      responses = (JSON.parse(payload.toString('utf8')) as { responses?: unknown }).responses;
    } catch {
      return;
    }
    if (!Array.isArray(responses)) return;
    for (const response of responses as DynsecResponse[]) {
      const id = typeof response?.correlationData === 'string' ? response.correlationData : undefined;
      const pending = id === undefined ? undefined : this.#pending.get(id);
      if (!pending || id === undefined) continue;
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      pending.resolve(response);
    }
  }

  /** Runs commands in order; each answer (with its `error`, if any) in the same order. */
  async run(commands: DynsecCommand[]): Promise<DynsecResponse[]> {
    const answers: DynsecResponse[] = [];
    for (const group of bySize(commands)) {
      const batch = group.map((c) => ({ ...c, correlationData: `gh-${++this.#next}` }));
      const waits = batch.map(
        (c) =>
          new Promise<DynsecResponse>((resolve, reject) => {
            const timer = setTimeout(() => {
              this.#pending.delete(c.correlationData);
              reject(
                new Error(`dynamic-security did not answer '${c.command}' within ${COMMAND_TIMEOUT_MS} ms`),
              );
            }, COMMAND_TIMEOUT_MS);
            this.#pending.set(c.correlationData, { resolve, reject, timer });
          }),
      );
      try {
        await this.#send(JSON.stringify({ commands: batch }));
      } catch (error) {
        this.failAll(error instanceof Error ? error : new Error(String(error)));
      }
      answers.push(...(await Promise.all(waits)));
    }
    return answers;
  }

  /** The connection is gone: every command waiting for an answer fails. */
  failAll(error: Error): void {
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
      this.#pending.delete(id);
    }
  }
}

interface BrokerClient {
  username: string;
  textname?: string;
  roles?: Array<{ rolename: string }>;
  disabled?: boolean;
}

interface BrokerRole {
  rolename: string;
  acls?: Array<{ acltype: string; topic: string; allow: boolean; priority?: number }>;
}

export interface ReconcileOptions {
  baseTopic: string;
  /** The hub's own username: it gets the hub role. */
  hubUsername: string;
  doors: readonly string[];
  devices: readonly ProvisionedDevice[];
  /** A secret waiting for the broker (a new device, a rotated secret), or null. */
  pendingSecret: (deviceId: string) => string | null;
  /** The broker has the secret now. */
  secretDelivered: (deviceId: string) => void;
  /** Devices to disconnect once (their rights changed); removed devices are disconnected by deletion. */
  kick: ReadonlySet<string>;
  /** Devices shut out for going over a budget right now: they stay disabled. */
  shutOut: (deviceId: string) => boolean;
  /** A part's integration topics (Home Assistant), null when none is on. */
  extra?: ExtraAcls | null;
  logger: Logger;
}

export interface ReconcileResult {
  created: string[];
  deleted: string[];
  updated: string[];
  /** Devices the hub could not give an account: no secret known (rotate it). */
  withoutSecret: string[];
  errors: string[];
}

/** Makes the broker's Gatehouse clients and roles match the hub's device table. */
export async function reconcile(control: DynsecControl, opts: ReconcileOptions): Promise<ReconcileResult> {
  const names = roleNames(opts.baseTopic);
  const acls = roleAcls(opts.baseTopic, opts.extra ?? null);
  const result: ReconcileResult = { created: [], deleted: [], updated: [], withoutSecret: [], errors: [] };
  const doors = opts.doors.filter(isTopicSafeId);
  const devices = opts.devices.filter((d) => isTopicSafeId(d.id) && d.id !== opts.hubUsername);

  const roles = new Map(
    (await listAll<BrokerRole>(control, 'listRoles', 'roles')).map((r) => [r.rolename, r]),
  );
  const clients = new Map(
    (await listAll<BrokerClient>(control, 'listClients', 'clients')).map((c) => [c.username, c]),
  );

  // Roles: the ones wanted, with exactly their ACLs.
  const wanted = new Map<string, Acl[]>();
  wanted.set(names.hub, acls.hub());
  wanted.set(names.integration, acls.integration());
  for (const door of doors) wanted.set(names.door(door), acls.door(door));
  for (const device of devices) wanted.set(names.device(device.id), acls.device(device.id));
  const commands: DynsecCommand[] = [];
  for (const [rolename, want] of wanted) {
    const have = roles.get(rolename);
    if (!have) commands.push({ command: 'createRole', rolename, textname: names.mark });
    const key = (a: { acltype: string; topic: string; allow: boolean; priority?: number }) =>
      `${a.acltype} ${a.topic} ${a.allow} ${a.priority ?? 0}`;
    const haveKeys = new Set((have?.acls ?? []).map(key));
    const wantKeys = new Set(want.map(key));
    for (const acl of have?.acls ?? []) {
      if (!wantKeys.has(key(acl)))
        commands.push({ command: 'removeRoleACL', rolename, acltype: acl.acltype, topic: acl.topic });
    }
    for (const acl of want)
      if (!haveKeys.has(key(acl))) commands.push({ command: 'addRoleACL', rolename, ...acl });
  }
  const ownRole = (rolename: string) =>
    rolename.startsWith(`${opts.baseTopic}-door-`) || rolename.startsWith(`${opts.baseTopic}-device-`);

  // Clients: every device of the table, with its roles; the hub's own account gets the hub role.
  const hubClient = clients.get(opts.hubUsername);
  if (hubClient && !(hubClient.roles ?? []).some((r) => r.rolename === names.hub)) {
    commands.push({
      command: 'addClientRole',
      username: opts.hubUsername,
      rolename: names.hub,
      priority: 100,
    });
  }
  const tableIds = new Set(devices.map((d) => d.id));
  const kickAfter: string[] = [];
  for (const device of devices) {
    const wantRoles = [
      names.device(device.id),
      ...(device.role === 'integration'
        ? [names.integration]
        : device.doors.filter(isTopicSafeId).map(names.door)),
    ];
    const have = clients.get(device.id);
    const secret = opts.pendingSecret(device.id);
    if (!have) {
      if (secret === null) {
        result.withoutSecret.push(device.id);
        continue;
      }
      commands.push({
        command: 'createClient',
        username: device.id,
        password: secret,
        textname: names.mark,
        roles: wantRoles.map((rolename) => ({ rolename })),
      });
      result.created.push(device.id);
      continue;
    }
    if (have.textname !== names.mark) {
      // An operator's own client with a device's name: the hub does not take it over.
      result.errors.push(`broker client '${device.id}' was not made by the hub; rename one of them`);
      continue;
    }
    let changed = false;
    if (secret !== null) {
      commands.push({ command: 'setClientPassword', username: device.id, password: secret });
      changed = true;
    }
    const haveRoles = new Set((have.roles ?? []).map((r) => r.rolename));
    for (const rolename of wantRoles) {
      if (!haveRoles.has(rolename)) {
        commands.push({ command: 'addClientRole', username: device.id, rolename });
        changed = true;
      }
    }
    for (const rolename of haveRoles) {
      if (!wantRoles.includes(rolename)) {
        commands.push({ command: 'removeClientRole', username: device.id, rolename });
        changed = true;
      }
    }
    const shut = opts.shutOut(device.id);
    if (have.disabled && !shut) commands.push({ command: 'enableClient', username: device.id });
    if (!have.disabled && shut) commands.push({ command: 'disableClient', username: device.id });
    if (changed) result.updated.push(device.id);
    if ((changed || opts.kick.has(device.id)) && !have.disabled && !shut) kickAfter.push(device.id);
  }
  for (const [username, client] of clients) {
    if (client.textname === names.mark && !tableIds.has(username)) {
      commands.push({ command: 'deleteClient', username }); // disconnects it at once
      result.deleted.push(username);
    }
  }
  for (const rolename of roles.keys()) {
    if (ownRole(rolename) && !wanted.has(rolename)) commands.push({ command: 'deleteRole', rolename });
  }
  // A device whose rights or secret changed reconnects with the new ones (dynsec keeps live sessions).
  for (const username of kickAfter) {
    commands.push({ command: 'disableClient', username }, { command: 'enableClient', username });
  }

  const answers = await control.run(commands);
  answers.forEach((answer, i) => {
    const command = commands[i];
    if (!answer.error || !command) return;
    // Idempotent steps that were done already are not failures.
    if (/already exists|already has|not found/i.test(answer.error) && command.command !== 'createClient')
      return;
    result.errors.push(
      `${command.command} ${String(command['username'] ?? command['rolename'] ?? '')}: ${answer.error}`,
    );
  });
  for (const id of result.created) {
    if (!result.errors.some((e) => e.startsWith(`createClient ${id}:`))) opts.secretDelivered(id);
  }
  for (const id of result.updated) {
    if (!result.errors.some((e) => e.startsWith(`setClientPassword ${id}:`))) opts.secretDelivered(id);
  }
  if (result.withoutSecret.length > 0) {
    opts.logger.warn(
      { devices: result.withoutSecret.slice(0, 20), count: result.withoutSecret.length },
      'devices without an account on the external broker: the hub does not know their secret; rotate it (`gatehouse device rotate-secret <id>`) to give them one',
    );
  }
  return result;
}

/** Shut a device out (over a budget): dynsec refuses its logins and disconnects it. */
export function disableCommands(username: string): DynsecCommand[] {
  return [{ command: 'disableClient', username }];
}

export function enableCommands(username: string): DynsecCommand[] {
  return [{ command: 'enableClient', username }];
}

/** Every role or client, a few per answer (see LIST_PAGE). */
async function listAll<T>(control: DynsecControl, command: string, field: string): Promise<T[]> {
  const all: T[] = [];
  for (let offset = 0; ; offset += LIST_PAGE) {
    const [answer] = await control.run([{ command, verbose: true, count: LIST_PAGE, offset }]);
    if (!answer || answer.error) throw new Error(`dynamic-security refused ${command}: ${answer?.error}`);
    const page = (answer.data?.[field] as T[] | undefined) ?? [];
    all.push(...page);
    const total = Number(answer.data?.['totalCount'] ?? 0);
    if (page.length < LIST_PAGE || all.length >= total) return all;
  }
}

/** Commands in groups whose control message stays under MAX_MESSAGE_BYTES. */
function bySize(commands: DynsecCommand[]): DynsecCommand[][] {
  const groups: DynsecCommand[][] = [];
  let group: DynsecCommand[] = [];
  let bytes = 0;
  for (const command of commands) {
    const size = JSON.stringify(command).length + 40; // + its correlation id and separators
    if (group.length > 0 && bytes + size > MAX_MESSAGE_BYTES) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(command);
    bytes += size;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}
