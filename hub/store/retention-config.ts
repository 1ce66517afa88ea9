// The `events` section of the hub config (part of the main schema, hub/config/schema.ts): how long the
// event log is kept on the SD card (hub/store/retention.ts, docs/storage.md §4).
import Type, { type Static } from 'typebox';

/** Events younger than this are never pruned, whatever the settings: alarms are read from the last 7 days. */
export const MIN_KEEP_DAYS = 30;

export const RetentionConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: true,
      description:
        'Delete old events once a day so the event log does not fill the SD card. With the cloud on, only events the cloud has acknowledged are deleted.',
    }),
    keepDays: Type.Integer({
      minimum: MIN_KEEP_DAYS,
      maximum: 36_500,
      default: 400,
      description: `Events older than this many days are deleted (at least ${MIN_KEEP_DAYS}).`,
    }),
    maxEvents: Type.Integer({
      minimum: 0,
      maximum: 1_000_000_000,
      default: 0,
      description: `Also delete the oldest events beyond this many (about 0.4 KB each on disk), but never events younger than ${MIN_KEEP_DAYS} days. 0: no cap, only keepDays.`,
    }),
    batchSize: Type.Integer({
      minimum: 10,
      maximum: 5_000,
      default: 500,
      description:
        'Events deleted per transaction; the pass pauses between batches so door decisions are never held up.',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'Event-log retention: pruning by age, with the hash chain verifiable from an anchor (docs/storage.md).',
  },
);

export const EventsConfigSchema = Type.Object(
  { retention: RetentionConfigSchema },
  { additionalProperties: false, default: {}, description: 'The event log (docs/data.md).' },
);

export type RetentionConfig = Static<typeof RetentionConfigSchema>;
