// The last events, newest first, each with who did it: the door page's log and the dashboard's activity.
import { Link } from '../../components/ui.js';
import { formatFull, formatWhen } from '../../format.js';
import { t } from '../../i18n/index.js';
import type { HubEvent } from '../../types.js';
import { actorOf, describeEvent } from './model.js';

function tone(e: HubEvent): string {
  if (e.type === 'decision') return e.data.granted === true ? 'ok' : 'bad';
  if (e.type.startsWith('alarm.')) return e.type.endsWith('_cleared') ? 'neutral' : 'bad';
  if (e.type.startsWith('admin.')) return 'info';
  return 'neutral';
}

/**
 * A mode change shows twice in the log: the command (`admin.door.mode_changed`, with who and why) and
 * the door following it (`door.mode_changed`). Staff need the first one only.
 */
function withoutEchoes(events: HubEvent[]): HubEvent[] {
  return events.filter(
    (e) =>
      e.type !== 'door.mode_changed' ||
      !events.some(
        (c) =>
          c.type === 'admin.door.mode_changed' &&
          c.doorId === e.doorId &&
          c.data.to === e.data.to &&
          Math.abs(c.ts - e.ts) < 5000,
      ),
  );
}

export function EventList({
  events,
  names,
  doorNames,
  label,
}: {
  events: HubEvent[];
  names: ReadonlyMap<string, string>;
  /** Set on the dashboard: each row names its door. */
  doorNames?: ReadonlyMap<string, string>;
  label: string;
}) {
  return (
    <ol class="event-list" aria-label={label} aria-live="polite">
      {withoutEchoes(events).map((e) => {
        const reason =
          typeof e.data.reason === 'string' && e.type.startsWith('admin.') ? e.data.reason : null;
        return (
          <li key={e.seq} class={`event-row event-${tone(e)}`}>
            <time class="event-time" dateTime={new Date(e.ts).toISOString()} title={formatFull(e.ts)}>
              {formatWhen(e.ts)}
            </time>
            <div class="event-what">
              <span class="event-text">{describeEvent(e)}</span>
              {doorNames && e.doorId && (
                <>
                  {' · '}
                  <Link href={`/doors/${encodeURIComponent(e.doorId)}`}>
                    {doorNames.get(e.doorId) ?? e.doorId}
                  </Link>
                </>
              )}
              <span class="event-actor">{actorOf(e, names)}</span>
              {reason && <span class="event-reason">{t.doors.reasonLabel(reason)}</span>}
            </div>
          </li>
        );
      })}
    </ol>
  );
}
