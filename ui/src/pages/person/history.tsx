// The person's last events: doors opened or refused (and why), suspensions, windows, revocations, codes,
// each with who did it. Live: the page reloads it when an event about this person arrives.
import { Card, Empty, Link, Notice } from '../../components/ui.js';
import { formatWhen } from '../../format.js';
import type { Resource } from '../../hooks.js';
import { t } from '../../i18n/index.js';
import type { Door, HubEvent } from '../../types.js';
import { actorName } from './model.js';

export function describe(e: HubEvent, doors: Door[]): string {
  const s = t.people.events;
  const door = e.doorId ? (doors.find((d) => d.id === e.doorId)?.name ?? e.doorId) : s.someDoor;
  if (e.type === 'decision') {
    return e.data.granted === true
      ? s.granted(door)
      : s.denied(door, t.people.reason(String(e.data.reason ?? '')));
  }
  const base = s.types[e.type] ?? e.type.replace(/^admin\./, '').replace(/[._]/g, ' ');
  const detail =
    typeof e.data.reason === 'string'
      ? `: ${e.data.reason}`
      : typeof e.data.groupId === 'string'
        ? `: ${e.data.groupId}`
        : '';
  return `${base}${detail}`;
}

export function History({
  history,
  doors,
  personId,
}: {
  history: Resource<HubEvent[]>;
  doors: Door[];
  personId: string;
}) {
  const s = t.people.history;
  const events = history.data ?? [];
  return (
    <Card
      title={s.title}
      class="history"
      actions={<Link href={`/events?person=${encodeURIComponent(personId)}`}>{s.more}</Link>}
    >
      {history.error && <Notice tone="warn">{history.error.message}</Notice>}
      {history.data && events.length === 0 && <Empty>{s.none}</Empty>}
      <ol class="timeline">
        {events.map((e) => {
          const tone = e.type === 'decision' ? (e.data.granted === true ? 'yes' : 'no') : 'admin';
          const actor = typeof e.data.actor === 'string' ? e.data.actor : null;
          return (
            <li key={e.seq} class={`timeline-item timeline-${tone}`}>
              <time class="timeline-time" dateTime={new Date(e.ts).toISOString()}>
                {formatWhen(e.ts)}
              </time>
              <span class="timeline-text">{describe(e, doors)}</span>
              {actor && (
                <span class="timeline-actor muted small">{t.people.events.by(actorName(actor))}</span>
              )}
            </li>
          );
        })}
      </ol>
    </Card>
  );
}
