// `mqtt.broker` and `mqtt.external`: run the device network on an external broker (mosquitto 2 with its
// dynamic-security plugin, or EMQX/VerneMQ calling the hub's HTTP auth endpoints). docs/external-broker.md.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Type, { type Static } from 'typebox';

export const MqttBrokerModeSchema = Type.Union([Type.Literal('embedded'), Type.Literal('external')], {
  default: 'embedded',
  description:
    'embedded: the hub is the MQTT broker (listeners mqtt.tls and mqtt.tcp). external: the hub connects as a client to the broker in mqtt.external and does not listen for MQTT (docs/external-broker.md).',
});

export const MqttExternalSchema = Type.Object(
  {
    url: Type.String({
      default: 'mqtts://127.0.0.1:8883',
      pattern: '^mqtts?://[^\\s/]+(:[0-9]{1,5})?/?$',
      description:
        'The external broker: mqtts://host:port (TLS, checked against caFile), or mqtt://127.0.0.1:port when the broker runs on the hub itself.',
    }),
    username: Type.String({
      default: 'gatehouse-hub',
      minLength: 1,
      maxLength: 128,
      description:
        "The hub's own account on the broker. With mosquitto it needs the dynamic-security admin rights (docs/external-broker.md).",
    }),
    passwordFile: Type.String({
      default: 'mqtt-broker.password',
      minLength: 1,
      description:
        "File holding the hub's broker password (first line), relative to dataDir unless absolute. Keep it 0600.",
    }),
    caFile: Type.String({
      default: '',
      description:
        "CA certificate (PEM) the broker's certificate must chain to. Empty: the hub's own CA (dataDir/certs/ca.crt).",
    }),
    clientId: Type.String({
      default: 'gatehouse-hub',
      pattern: '^[A-Za-z0-9_.-]{1,64}$',
      description: "The hub's MQTT client id; no device may use it.",
    }),
    provisioning: Type.Union([Type.Literal('dynsec'), Type.Literal('none')], {
      default: 'dynsec',
      description:
        "dynsec: the hub keeps the device accounts, roles and per-door ACLs of mosquitto's dynamic-security plugin in step with its device table. none: the broker asks the hub (HTTP /api/v1/broker/auth and /acl, EMQX, VerneMQ).",
    }),
    reconnectMinMs: Type.Integer({
      default: 500,
      minimum: 100,
      maximum: 60_000,
      description: 'First wait before reconnecting to the broker; doubles (with jitter) after each failure.',
    }),
    reconnectMaxMs: Type.Integer({
      default: 30_000,
      minimum: 1000,
      maximum: 600_000,
      description: 'Longest wait between reconnection attempts.',
    }),
    connectTimeoutMs: Type.Integer({
      default: 10_000,
      minimum: 500,
      maximum: 120_000,
      description: 'A connection attempt (TCP, TLS, CONNECT) that takes longer is abandoned and retried.',
    }),
    authSecretFile: Type.String({
      default: '',
      description:
        'For provisioning none: file holding the shared secret the broker sends in the x-gatehouse-broker-secret header to /api/v1/broker/auth and /acl (relative to dataDir unless absolute). Empty: those endpoints answer 404.',
    }),
  },
  { additionalProperties: false, default: {} },
);

export type MqttExternalConfig = Static<typeof MqttExternalSchema>;
export type MqttBrokerMode = Static<typeof MqttBrokerModeSchema>;

/** First line of a secret file named in mqtt.external (relative to dataDir unless absolute). */
export function readSecretLine(dataDir: string, file: string): string {
  const full = path.isAbsolute(file) ? file : path.join(dataDir, file);
  return readFileSync(full, 'utf8').split(/\r?\n/)[0] ?? '';
}

/** The CA an external broker's certificate must chain to: mqtt.external.caFile, or the hub's own CA. */
export function externalCaPem(dataDir: string, config: MqttExternalConfig, hubCaPem: string): string {
  if (config.caFile === '') return hubCaPem;
  return readFileSync(
    path.isAbsolute(config.caFile) ? config.caFile : path.join(dataDir, config.caFile),
    'utf8',
  );
}
