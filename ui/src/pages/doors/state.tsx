// A door's live state as pictures and words: the tile on the dashboard, the big panel on the door page,
// and the alarm rows both show.
import { Badge, Button, Link, type Tone } from '../../components/ui.js';
import { formatAgo, formatWhen } from '../../format.js';
import { t } from '../../i18n/index.js';
import type { Door } from '../../types.js';
import { type Alarm, alarmLabel, type DoorSync, needsAttention } from './model.js';

/** The worst thing about a door decides its colour: an alarm or offline is red, a special mode amber. */
export function doorTone(door: Door, alarms: Alarm[]): 'ok' | 'warn' | 'bad' {
  const s = door.status;
  if (alarms.some((a) => a.active) || s?.tamper || (s && !s.online)) return 'bad';
  if (door.mode !== 'normal' || alarms.length > 0 || !s) return 'warn';
  if (s.readers?.some((r) => !r.online)) return 'warn';
  return 'ok';
}

export function LockIcon({ unlocked }: { unlocked: boolean }) {
  return (
    <svg class="lock-icon" viewBox="0 0 24 24" width="28" height="28" aria-hidden="true" focusable="false">
      <rect x="4.5" y="10.5" width="15" height="11" rx="2.5" fill="currentColor" />
      <path
        d={unlocked ? 'M8 10.5V7a4 4 0 0 1 7.8-1.2' : 'M8 10.5V7a4 4 0 0 1 8 0v3.5'}
        fill="none"
        stroke="currentColor"
        stroke-width="2.2"
        stroke-linecap="round"
      />
    </svg>
  );
}

export function DoorIcon({ open }: { open: boolean }) {
  return (
    <svg class="door-icon" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">
      <path d="M4 21h16" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
      <path d="M6 21V4h12v17" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" />
      {open ? (
        <path d="M6 4l7 2.5V22L6 21z" fill="currentColor" />
      ) : (
        <circle cx="15" cy="12.5" r="1.2" fill="currentColor" />
      )}
    </svg>
  );
}

/** Badges for what is not the picture: online, readers, tamper, door-side copy. */
export function DoorBadges({ door, sync }: { door: Door; sync: DoorSync | undefined }) {
  const s = door.status;
  const readers = s?.readers ?? [];
  const down = readers.filter((r) => !r.online).map((r) => r.readerId);
  return (
    <div class="door-badges">
      {s ? (
        <Badge tone={s.online ? 'ok' : 'bad'}>{s.online ? t.doors.online : t.doors.offline}</Badge>
      ) : (
        <Badge tone="warn">{t.doors.noLiveState}</Badge>
      )}
      {readers.length > 0 &&
        (down.length > 0 ? (
          <Badge tone="warn">{t.doors.readers.down(down)}</Badge>
        ) : (
          <Badge tone="ok">{t.doors.readers.ok(readers.length)}</Badge>
        ))}
      {s?.tamper && <Badge tone="bad">{t.doors.tamper}</Badge>}
      {sync &&
        (sync.ackedVersion === null ? (
          <Badge tone="warn">{t.doors.sync.never}</Badge>
        ) : sync.stale ? (
          <Badge tone="warn">{t.doors.sync.behind(formatAgo(sync.since ?? Date.now()))}</Badge>
        ) : (
          <Badge tone="ok">{t.doors.sync.ok}</Badge>
        ))}
    </div>
  );
}

/** Lock and door position, big: the first thing anyone looks for. */
export function DoorState({ door, size = 'tile' }: { door: Door; size?: 'tile' | 'big' }) {
  const s = door.status;
  const lock = s?.lock ?? 'unknown';
  const contact = s?.contact ?? 'unknown';
  return (
    <div class={`door-state door-state-${size}`}>
      <div class={`state-lock state-lock-${lock}`}>
        <LockIcon unlocked={lock === 'unlocked'} />
        <span>{t.doors.lock[lock]}</span>
      </div>
      <div class={`state-contact state-contact-${contact}`}>
        <DoorIcon open={contact === 'open'} />
        <span>{size === 'big' ? t.doors.contactLong[contact] : t.doors.contact[contact]}</span>
      </div>
    </div>
  );
}

export function ModeBanner({ mode }: { mode: Door['mode'] }) {
  if (mode === 'normal') return null;
  return <p class={`mode-banner mode-banner-${mode}`}>{t.doors.modeBanner[mode]}</p>;
}

export function AlarmRow({
  alarm,
  doorName,
  doorHref,
  onAck,
}: {
  alarm: Alarm;
  doorName?: string | undefined;
  doorHref?: string | undefined;
  onAck?: (() => void) | undefined;
}) {
  const label = alarmLabel(alarm.type);
  const tone: Tone = alarm.active ? 'bad' : 'warn';
  return (
    <li class="alarm-row">
      <span class={`alarm-dot alarm-dot-${tone}`} aria-hidden="true" />
      <div class="grow">
        <strong>
          {doorName && doorHref ? (
            <>
              {label} — <Link href={doorHref}>{doorName}</Link>
            </>
          ) : (
            label
          )}
        </strong>
        <div class="muted small">
          {formatWhen(alarm.ts)} · {alarm.active ? t.doors.alarmActive : t.doors.alarmEnded}
          {alarm.acknowledged &&
            ` · ${t.doors.alarmAcknowledged(alarm.acknowledged.by.replace(/^user:/, ''), formatWhen(alarm.acknowledged.at))}`}
        </div>
        {alarm.acknowledged?.note && <div class="small">{t.doors.noteLabel(alarm.acknowledged.note)}</div>}
      </div>
      {onAck && !alarm.acknowledged && (
        <Button variant={alarm.active ? 'danger' : 'secondary'} onClick={onAck}>
          {t.doors.acknowledge}
          <span class="visually-hidden">
            {' '}
            {label}
            {doorName ? ` — ${doorName}` : ''}
          </span>
        </Button>
      )}
    </li>
  );
}

/** Alarms that still need someone, newest first. */
export function openAlarms(alarms: Alarm[] | null): Alarm[] {
  return (alarms ?? []).filter(needsAttention);
}
