// The `nodeRed` section of the hub config (part of the main schema, hub/config/schema.ts): the supervised
// Node-RED child process installers build flows in (docs/architecture.md, "Node-RED").
import Type, { type Static } from 'typebox';

export const NodeRedConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: true,
      description:
        'Run Node-RED for installer flows as a child process of the hub, with its editor at /flows/ behind the hub login. The hub decides doors without waiting for it.',
    }),
    port: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 0,
      description:
        'Loopback port Node-RED listens on (127.0.0.1 only; reach it through the hub at /flows/). 0 picks a free port at each start.',
    }),
    maxHeapMb: Type.Integer({
      minimum: 64,
      maximum: 4096,
      default: 160,
      description:
        'JavaScript heap limit of the Node-RED process: a flow that allocates without bound crashes Node-RED (which is restarted), never the hub.',
    }),
    maxRssMb: Type.Integer({
      minimum: 128,
      maximum: 16_384,
      default: 400,
      description:
        'Resident memory above which Node-RED is killed and restarted (checked every second): buffers a flow holds are outside the heap limit.',
    }),
    allowPaletteInstall: Type.Boolean({
      default: false,
      description:
        'Let the editor install extra nodes from the internet (npm). Off: such code runs with the rights of the hub user. The hub logs a warning when it is on.',
    }),
    startTimeoutSeconds: Type.Integer({
      minimum: 5,
      maximum: 600,
      default: 120,
      description:
        'Node-RED that has not answered this long after it was started is killed and started again.',
    }),
    probeIntervalSeconds: Type.Integer({
      minimum: 1,
      maximum: 300,
      default: 10,
      description:
        'How often the hub asks the running Node-RED whether it still answers (HTTP, 2 s timeout).',
    }),
    probeFailures: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 3,
      description:
        'Unanswered probes in a row after which Node-RED is killed and restarted (a flow stuck in a busy loop).',
    }),
    backoffMinMs: Type.Integer({
      minimum: 100,
      maximum: 600_000,
      default: 1000,
      description:
        'Wait before the first restart after Node-RED stopped; doubles at each further crash, back to this after a stable minute.',
    }),
    backoffMaxMs: Type.Integer({
      minimum: 100,
      maximum: 3_600_000,
      default: 60_000,
      description: 'Longest wait between restarts of a Node-RED that keeps crashing.',
    }),
    logLinesPerSecond: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      default: 20,
      description:
        "Node-RED's log lines copied into the hub log per second (bursts up to 10× this); the rest are counted in one line every 10 s.",
    }),
  },
  { additionalProperties: false, default: {} },
);

export type NodeRedConfig = Static<typeof NodeRedConfigSchema>;
