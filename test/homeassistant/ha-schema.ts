// What Home Assistant's MQTT integration requires of a discovery config, per component the hub publishes,
// written from HA's documentation (integrations/mqtt "MQTT Discovery", lock.mqtt, binary_sensor.mqtt,
// sensor.mqtt, select.mqtt). HA validates a discovered config with its platform schema, which refuses
// unknown keys ("extra keys not allowed"), so every object here is closed. Only full key names are
// listed: the hub publishes no abbreviations.
import Type, { type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';

/** `<prefix>/<component>/[<node_id>/]<object_id>/config`; node and object ids are `[a-zA-Z0-9_-]+`. */
export const DISCOVERY_TOPIC =
  /^(.+)\/(lock|binary_sensor|sensor|select)\/(?:([A-Za-z0-9_-]+)\/)?([A-Za-z0-9_-]+)\/config$/;

const Topic = Type.String({ minLength: 1, pattern: '^[^#+]+$' }); // a concrete topic: no wildcards
const Template = Type.String({ minLength: 1 });

const Availability = Type.Array(
  Type.Object(
    {
      topic: Topic,
      payload_available: Type.Optional(Type.String()),
      payload_not_available: Type.Optional(Type.String()),
      value_template: Type.Optional(Template),
    },
    { additionalProperties: false, required: ['topic'] },
  ),
  { minItems: 1 },
);

/** A device needs at least one of identifiers or connections. */
const Device = Type.Union([
  Type.Object(
    {
      identifiers: Type.Union([
        Type.String({ minLength: 1 }),
        Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
      ]),
      connections: Type.Optional(Type.Array(Type.Tuple([Type.String(), Type.String()]))),
      name: Type.Optional(Type.String()),
      manufacturer: Type.Optional(Type.String()),
      model: Type.Optional(Type.String()),
      model_id: Type.Optional(Type.String()),
      serial_number: Type.Optional(Type.String()),
      sw_version: Type.Optional(Type.String()),
      hw_version: Type.Optional(Type.String()),
      suggested_area: Type.Optional(Type.String()),
      configuration_url: Type.Optional(Type.String()),
      via_device: Type.Optional(Type.String()),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      connections: Type.Array(Type.Tuple([Type.String(), Type.String()]), { minItems: 1 }),
      name: Type.Optional(Type.String()),
      manufacturer: Type.Optional(Type.String()),
      model: Type.Optional(Type.String()),
      sw_version: Type.Optional(Type.String()),
      via_device: Type.Optional(Type.String()),
    },
    { additionalProperties: false },
  ),
]);

/** Keys every MQTT entity may have. The hub always sets a device, and HA then needs a unique_id. */
const common = {
  unique_id: Type.String({ minLength: 1 }),
  device: Device,
  name: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Null()])),
  availability: Type.Optional(Availability),
  availability_mode: Type.Optional(Type.Enum(['all', 'any', 'latest'])),
  availability_topic: Type.Optional(Topic),
  availability_template: Type.Optional(Template),
  payload_available: Type.Optional(Type.String()),
  payload_not_available: Type.Optional(Type.String()),
  origin: Type.Optional(
    Type.Object(
      {
        name: Type.String({ minLength: 1 }),
        sw_version: Type.Optional(Type.String()),
        support_url: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    ),
  ),
  entity_category: Type.Optional(Type.Enum(['config', 'diagnostic'])),
  enabled_by_default: Type.Optional(Type.Boolean()),
  icon: Type.Optional(Type.String({ pattern: '^[a-z0-9-]+:[a-z0-9-]+$' })),
  json_attributes_topic: Type.Optional(Topic),
  json_attributes_template: Type.Optional(Template),
  qos: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 })),
  encoding: Type.Optional(Type.String()),
};

/** HA refuses availability_topic and availability together. */
function notBothAvailability(config: Record<string, unknown>): string | null {
  return 'availability' in config && 'availability_topic' in config
    ? 'availability and availability_topic must not be used together'
    : null;
}

export const LockConfig = Type.Object(
  {
    ...common,
    command_topic: Topic,
    command_template: Type.Optional(Template),
    state_topic: Type.Optional(Topic),
    value_template: Type.Optional(Template),
    payload_lock: Type.Optional(Type.String()),
    payload_unlock: Type.Optional(Type.String()),
    payload_open: Type.Optional(Type.String()),
    payload_reset: Type.Optional(Type.String()),
    state_locked: Type.Optional(Type.String()),
    state_unlocked: Type.Optional(Type.String()),
    state_locking: Type.Optional(Type.String()),
    state_unlocking: Type.Optional(Type.String()),
    state_jammed: Type.Optional(Type.String()),
    state_open: Type.Optional(Type.String()),
    state_opening: Type.Optional(Type.String()),
    code_format: Type.Optional(Type.String()),
    optimistic: Type.Optional(Type.Boolean()),
    retain: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const BINARY_SENSOR_CLASSES = [
  'battery',
  'battery_charging',
  'carbon_monoxide',
  'cold',
  'connectivity',
  'door',
  'garage_door',
  'gas',
  'heat',
  'light',
  'lock',
  'moisture',
  'motion',
  'moving',
  'occupancy',
  'opening',
  'plug',
  'power',
  'presence',
  'problem',
  'running',
  'safety',
  'smoke',
  'sound',
  'tamper',
  'update',
  'vibration',
  'window',
];

export const BinarySensorConfig = Type.Object(
  {
    ...common,
    state_topic: Topic,
    value_template: Type.Optional(Template),
    device_class: Type.Optional(Type.Enum(BINARY_SENSOR_CLASSES)),
    payload_on: Type.Optional(Type.String()),
    payload_off: Type.Optional(Type.String()),
    expire_after: Type.Optional(Type.Integer({ minimum: 0 })),
    force_update: Type.Optional(Type.Boolean()),
    off_delay: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);

export const SensorConfig = Type.Object(
  {
    ...common,
    state_topic: Topic,
    value_template: Type.Optional(Template),
    device_class: Type.Optional(Type.String({ pattern: '^[a-z_]+$' })),
    state_class: Type.Optional(Type.Enum(['measurement', 'measurement_angle', 'total', 'total_increasing'])),
    unit_of_measurement: Type.Optional(Type.String()),
    suggested_display_precision: Type.Optional(Type.Integer({ minimum: 0 })),
    options: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
    expire_after: Type.Optional(Type.Integer({ minimum: 0 })),
    force_update: Type.Optional(Type.Boolean()),
    last_reset_value_template: Type.Optional(Template),
  },
  { additionalProperties: false },
);

export const SelectConfig = Type.Object(
  {
    ...common,
    command_topic: Topic,
    command_template: Type.Optional(Template),
    options: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    state_topic: Type.Optional(Topic),
    value_template: Type.Optional(Template),
    optimistic: Type.Optional(Type.Boolean()),
    retain: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const SCHEMAS: Record<string, TSchema> = {
  lock: LockConfig,
  binary_sensor: BinarySensorConfig,
  sensor: SensorConfig,
  select: SelectConfig,
};
const VALIDATORS = Object.fromEntries(Object.entries(SCHEMAS).map(([k, s]) => [k, Compile(s)]));

/** Why HA would refuse this discovery message, or [] when it would take it. */
export function haProblems(topic: string, config: unknown): string[] {
  const match = DISCOVERY_TOPIC.exec(topic);
  if (!match) return [`'${topic}' is not <prefix>/<component>/[<node_id>/]<object_id>/config`];
  const component = match[2]!;
  const validator = VALIDATORS[component]!;
  if (!validator.Check(config)) {
    return [...validator.Errors(config)].map(
      (e) =>
        `${component}: ${(e as { instancePath: string }).instancePath} ${(e as { message: string }).message}`,
    );
  }
  const problem = notBothAvailability(config as Record<string, unknown>);
  return problem ? [problem] : [];
}

/**
 * Renders the only template form the hub uses, `{{ value_json.<field> }}`, as HA's Jinja would (a Python
 * str() of the value). Anything else is refused, so a template the test cannot check cannot slip in.
 */
export function renderTemplate(template: string, payload: string): string {
  const match = /^\{\{ value_json\.([A-Za-z_][A-Za-z0-9_]*) \}\}$/.exec(template);
  if (!match) throw new Error(`template '${template}' is not {{ value_json.<field> }}`);
  const value = (JSON.parse(payload) as Record<string, unknown>)[match[1]!];
  if (value === undefined) throw new Error(`payload ${payload} has no field '${match[1]}'`);
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return String(value);
}
