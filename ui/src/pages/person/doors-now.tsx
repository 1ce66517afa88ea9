// "At the doors right now": what each door would answer this person if they presented a credential now,
// and why, in green and red that read at a glance from arm's length.
import { Card, Empty, Notice } from '../../components/ui.js';
import { formatTime } from '../../format.js';
import type { Resource } from '../../hooks.js';
import { t } from '../../i18n/index.js';
import type { AccessNow } from './model.js';

export function DoorsNow({ access }: { access: Resource<AccessNow> }) {
  const s = t.people.now;
  const doors = access.data?.doors ?? [];
  return (
    <Card
      title={s.title}
      actions={access.data && <span class="muted small">{s.checkedAt(formatTime(access.data.at))}</span>}
      class="doors-now"
    >
      {access.error && !access.data && <Notice tone="warn">{s.unavailable}</Notice>}
      {access.data && doors.length === 0 && <Empty>{s.none}</Empty>}
      <ul class="door-answers">
        {doors.map((door) => (
          <li
            key={door.doorId}
            class={`door-answer ${door.granted ? 'door-answer-yes' : 'door-answer-no'}`}
            data-door={door.doorId}
          >
            <span class="door-answer-mark" aria-hidden="true">
              {door.granted ? '✓' : '✕'}
            </span>
            <span class="door-answer-main">
              <span class="door-answer-name">{door.name}</span>
              <span class="door-answer-why">{door.why || t.people.reason(door.reason)}</span>
            </span>
            <span class="door-answer-verdict">{door.granted ? s.opens : s.refused}</span>
          </li>
        ))}
      </ul>
    </Card>
  );
}
