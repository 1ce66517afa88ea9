// The one config schema: defaults, validation and docs/configuration.md all come from here.
import Type, { type Static } from 'typebox';
import { HardwareSectionSchema } from '../../adapters/config.js';
import { BackupsConfigSchema } from '../backups/config.js';
import { MqttBrokerModeSchema, MqttExternalSchema } from '../broker/external/config.js';
import { MqttLimitsSchema } from '../broker/limits.js';
import { CloudConfigSchema } from '../cloud/config.js';
import { HomeAssistantConfigSchema } from '../homeassistant/config.js';
import { LoginLimitsSchema, StreamLimitsSchema } from '../http/limits.js';
import { LogFormatSchema, MetricsConfigSchema } from '../metrics/config.js';
import { NodeRedConfigSchema } from '../nodered/config.js';
import { OfflineConfigSchema } from '../offline/config.js';
import { EventsConfigSchema } from '../store/retention-config.js';

const Port = (def: number, description: string) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: def, description });

const Listener = (host: string, port: number, what: string) =>
  Type.Object(
    {
      enabled: Type.Boolean({ default: true, description: `Serve ${what}.` }),
      host: Type.String({ default: host, description: `Address ${what} binds to.` }),
      port: Port(port, `TCP port for ${what} (0 picks a free port, for tests).`),
    },
    { additionalProperties: false, default: {} },
  );

export const ConfigSchema = Type.Object(
  {
    version: Type.Literal(1, { default: 1, description: 'Config file format version.' }),
    dataDir: Type.String({
      default: './data',
      description:
        'Everything the hub writes: database, hub key, certificates. Env GATEHOUSE_DATA overrides it.',
    }),
    timeZone: Type.String({
      default: 'UTC',
      description:
        "The building's IANA time zone (e.g. Europe/Berlin). Schedules, holidays and daily codes use it.",
    }),
    log: Type.Object(
      {
        level: Type.Union(
          [
            Type.Literal('fatal'),
            Type.Literal('error'),
            Type.Literal('warn'),
            Type.Literal('info'),
            Type.Literal('debug'),
            Type.Literal('trace'),
          ],
          { default: 'info', description: 'Log level. Secrets are never logged; card UIDs are masked.' },
        ),
        format: LogFormatSchema,
      },
      { additionalProperties: false, default: {} },
    ),
    mqtt: Type.Object(
      {
        baseTopic: Type.String({
          default: 'gatehouse',
          pattern: '^[A-Za-z0-9_-]{1,32}$',
          description: 'First level of every topic.',
        }),
        tls: Listener('0.0.0.0', 8883, 'MQTT over TLS for devices on the LAN'),
        tcp: Listener('127.0.0.1', 1883, 'plain MQTT (keep it on 127.0.0.1; anything else is insecure)'),
        maxPayloadBytes: Type.Integer({
          minimum: 256,
          maximum: 262144,
          default: 4096,
          description:
            'Larger device messages are refused with an error; a packet over this + 1024 bytes closes the connection before anything in it is handled.',
        }),
        maxClients: Type.Integer({
          minimum: 1,
          maximum: 10000,
          default: 500,
          description:
            'Logged-in connections beyond this are refused (CONNACK 3). Connections not logged in yet are capped by limits.maxUnauthenticated.',
        }),
        limits: MqttLimitsSchema,
        broker: MqttBrokerModeSchema,
        external: MqttExternalSchema,
      },
      { additionalProperties: false, default: {} },
    ),
    http: Type.Object(
      {
        http: Listener('127.0.0.1', 8080, 'plain HTTP (the API, local only)'),
        https: Listener('0.0.0.0', 8443, 'HTTPS (the API for the LAN)'),
        sessionHours: Type.Integer({
          minimum: 1,
          maximum: 720,
          default: 12,
          description: 'How long a staff login lasts.',
        }),
        streams: Type.Object(StreamLimitsSchema.properties, {
          additionalProperties: false,
          default: {},
          description: 'Live event streams (docs/http-api.md).',
        }),
        login: Type.Object(LoginLimitsSchema.properties, {
          additionalProperties: false,
          default: {},
          description: 'Login attempts per username (docs/http-api.md).',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    certificates: Type.Object(
      {
        hostnames: Type.Array(Type.String(), {
          default: [],
          description:
            'Extra DNS names for the generated server certificate (the host name is always added).',
        }),
        ips: Type.Array(Type.String(), {
          default: [],
          description: 'Extra IP addresses for the generated server certificate.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    doors: Type.Object(
      {
        unlockMs: Type.Integer({
          minimum: 1000,
          maximum: 60000,
          default: 5000,
          description: 'Default unlock pulse for new doors.',
        }),
        heldOpenMs: Type.Integer({
          minimum: 5000,
          maximum: 3600000,
          default: 60000,
          description: 'Default held-open alarm time for new doors.',
        }),
        offlineGraceSeconds: Type.Integer({
          minimum: 1,
          maximum: 3600,
          default: 10,
          description:
            'A LAN door controller offline this long raises alarm.door_offline on its doors (docs/alarms.md); a reconnect sooner raises nothing.',
        }),
        backAfterStartSeconds: Type.Integer({
          minimum: 10,
          maximum: 3600,
          default: 60,
          description:
            'After the hub starts, a provisioned LAN door controller that has not connected within this time raises alarm.door_offline on its doors (it may have lost power with the hub).',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    keypad: Type.Object(
      {
        maxFailures: Type.Integer({
          minimum: 1,
          maximum: 20,
          default: 5,
          description: 'Wrong codes on one keypad within the window before it locks.',
        }),
        windowSeconds: Type.Integer({
          minimum: 10,
          maximum: 86400,
          default: 300,
          description: 'Failure window.',
        }),
        lockSeconds: Type.Integer({
          minimum: 1,
          maximum: 3600,
          default: 60,
          description: 'First lockout; each further lockout doubles it.',
        }),
        maxLockSeconds: Type.Integer({
          minimum: 1,
          maximum: 86400,
          default: 900,
          description: 'Longest lockout.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    simulation: Type.Object(
      {
        door: Type.String({
          default: 'sim-front',
          pattern: '^([A-Za-z0-9][A-Za-z0-9_.-]{0,63})?$',
          description:
            'Id of a simulated door created on first boot when the hub has no doors, so something visible happens. Empty disables it.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    cloud: Type.Object(CloudConfigSchema.properties, {
      additionalProperties: false,
      default: {},
      description: "The property manager's cloud mirror over gRPC (see docs/cloud-protocol.md).",
    }),
    homeAssistant: Type.Object(HomeAssistantConfigSchema.properties, {
      additionalProperties: false,
      default: {},
      description: 'Home Assistant MQTT discovery (docs/home-assistant.md).',
    }),
    nodeRed: Type.Object(NodeRedConfigSchema.properties, {
      additionalProperties: false,
      default: {},
      description: 'Node-RED for installer flows, supervised by the hub (docs/installer-flows.md).',
    }),
    offline: Type.Object(OfflineConfigSchema.properties, {
      additionalProperties: false,
      default: {},
      description: 'Offline doorcodes, keypad daily failure cap and trusted time (docs/offline-codes.md).',
    }),
    doorSync: Type.Object(
      {
        enabled: Type.Boolean({
          default: false,
          description:
            'Publish signed credential copies to LAN door controllers that keep deciding without the hub (docs/mqtt.md §8). Off by default: a copy puts card UIDs and PIN hashes on the controller, and the hub keeps every door copy in memory (about 2.5 KB per credential per door).',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    mobile: Type.Object(
      {
        cloudIssuerPublicKey: Type.Union([Type.String({ minLength: 43 }), Type.Null()], {
          default: null,
          description:
            "The cloud's Ed25519 public key (base64url or PEM) for mobile keys it issues; keys the hub issues are always trusted.",
        }),
        challengeSeconds: Type.Integer({
          minimum: 5,
          maximum: 300,
          default: 30,
          description: 'How long a phone has to answer a challenge (docs/mobile-keys.md, "Limits").',
        }),
        maxLiveChallenges: Type.Integer({
          minimum: 10,
          maximum: 100_000,
          default: 3000,
          description:
            'Challenges alive at once (all doors). At the bound new ones are refused with 429, older ones are never dropped; each takes ~100 bytes.',
        }),
        challengesPerSecondPerDoor: Type.Integer({
          minimum: 1,
          maximum: 1000,
          default: 10,
          description: 'Challenges issued per second for one door (burst twice that); beyond it 429.',
        }),
        requestsPerMinutePerAddress: Type.Integer({
          minimum: 1,
          maximum: 100_000,
          default: 30,
          description:
            'Phone challenge requests, and separately responses, per minute from one address (an IPv6 /64 counts as one); beyond it 429 with Retry-After. MQTT readers have the per-door limit.',
        }),
        burstPerAddress: Type.Integer({
          minimum: 1,
          maximum: 10_000,
          default: 10,
          description: 'Requests one address may make back to back before the per-minute rate applies.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    hardware: Type.Object(HardwareSectionSchema.properties, {
      additionalProperties: false,
      default: {},
      description: 'GPIO driver and the doors wired to the hub itself (see docs/wiring.md).',
    }),
    metrics: MetricsConfigSchema,
    storage: Type.Object(
      {
        reserveMb: Type.Integer({
          minimum: 0,
          maximum: 1024,
          default: 8,
          description:
            'Size of the reserve file (data dir, events.reserve) deleted when the disk fills, so alarms, held events and revocations still fit; recreated when space returns. 0 disables it (docs/outages.md).',
        }),
        heldEvents: Type.Integer({
          minimum: 100,
          maximum: 1_000_000,
          default: 10_000,
          description:
            'Events held in memory while the disk is full (about 0.5 KB each); beyond it the oldest are dropped and counted in an events.lost event (docs/outages.md).',
        }),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'The event log on a full disk (docs/outages.md).',
      },
    ),
    events: EventsConfigSchema,
    backups: Type.Object(BackupsConfigSchema.properties, {
      additionalProperties: false,
      default: {},
      description: 'Scheduled encrypted backups (docs/replace-a-hub.md).',
    }),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
