// The `homeAssistant` section of the hub config (part of the main schema, hub/config/schema.ts).
import Type, { type Static } from 'typebox';

export const HomeAssistantConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: false,
      description:
        'Announce every door (lock, contact, tamper, alarm, mode) and the hub’s health to Home Assistant by MQTT discovery, and take its lock and mode commands through the command layer (docs/home-assistant.md).',
    }),
    discoveryPrefix: Type.String({
      default: 'homeassistant',
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$',
      description:
        'Home Assistant’s discovery prefix (its MQTT integration setting of the same name). Must not start with mqtt.baseTopic.',
    }),
    nodeId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        pattern: '^[A-Za-z0-9_-]+$',
        description:
          'This hub’s id in Home Assistant (discovery topics, unique ids). Default: gatehouse_ and the first 8 hex digits of the hub CA’s fingerprint, the same after a restart or a restore.',
      }),
    ),
    healthSeconds: Type.Integer({
      default: 10,
      minimum: 2,
      maximum: 3600,
      description:
        'How often the hub’s health entities (devices online, cloud link, problem) are read; they are published only when they change.',
    }),
  },
  { additionalProperties: false, default: {} },
);

export type HomeAssistantConfig = Static<typeof HomeAssistantConfigSchema>;
