// One door: its live state, big; unlock once and the mode (with a reason, refusals in the hub's words);
// its alarms with Acknowledge; its last events streaming in with who did each.
import { useState } from 'preact/hooks';
import { Button, Card, Link, Notice, PageTitle } from '../components/ui.js';
import { t } from '../i18n/index.js';
import { useMay } from '../session.js';
import { AckDialog, ReasonDialog } from './doors/dialogs.js';
import { EventList } from './doors/event-list.js';
import {
  type Alarm,
  type DoorMode,
  setDoorMode,
  unlockDoor,
  useAlarms,
  useDoorSync,
  useDoors,
  useFlash,
  usePeopleNames,
  useRecentEvents,
} from './doors/model.js';
import { AlarmRow, DoorBadges, DoorState, doorTone, ModeBanner, openAlarms } from './doors/state.js';

const MODES: DoorMode[] = ['normal', 'unlocked', 'lockdown'];

export function DoorPage({ id }: { id: string }) {
  const may = useMay();
  const doors = useDoors();
  const alarms = useAlarms(id, { includeCleared: true });
  const sync = useDoorSync();
  const recent = useRecentEvents(id, 25);
  const names = usePeopleNames(
    (recent.events ?? []).flatMap((e) => (e.personId ? [e.personId] : [])),
    may('person.get'),
  );
  const [unlocking, setUnlocking] = useState(false);
  const [modeTo, setModeTo] = useState<DoorMode | null>(null);
  const [acking, setAcking] = useState<Alarm | null>(null);
  const [done, setDone] = useFlash();

  const door = doors.data?.find((d) => d.id === id);
  const back = (
    <Link href="/" class="back-link">
      ‹ {t.doors.backToDoors}
    </Link>
  );
  if (doors.error) return <Notice tone="error">{`${t.doors.loadFailed} ${doors.error.message}`}</Notice>;
  if (!doors.data) return <p class="muted">{t.common.loading}</p>;
  if (!door)
    return (
      <>
        {back}
        <Notice tone="warn">{t.doors.notFound}</Notice>
      </>
    );

  const mine = openAlarms(alarms.data);
  const shown = (alarms.data ?? []).slice(0, 10);
  const canAck = may('alarm.ack');
  const tone = doorTone(door, mine);
  const canUnlock = may('door.unlock');
  const canMode = may('door.set_mode');

  return (
    <>
      {back}
      <PageTitle>{door.name}</PageTitle>
      <p class="muted door-details">
        {t.doors.details(
          t.doors.transport[door.transport] ?? door.transport,
          Math.round(door.unlockMs / 1000),
          Math.round(door.heldOpenMs / 1000),
        )}
      </p>
      {done && <Notice tone="ok">{done}</Notice>}

      <div class="door-layout">
        <div class="door-main">
          <section class={`door-hero tone-${tone}`} aria-label={t.doors.bigState}>
            <ModeBanner mode={door.mode} />
            <DoorState door={door} size="big" />
            <DoorBadges door={door} sync={sync.data?.find((s) => s.doorId === door.id)} />
            {door.status && !door.status.online && <p class="small">{t.doors.offlineHint}</p>}
            {canUnlock && (
              <Button variant="primary" class="btn-big" onClick={() => setUnlocking(true)}>
                {t.doors.unlockOnce}
              </Button>
            )}
          </section>

          {canMode && (
            <Card title={t.doors.setMode}>
              <div class="mode-picker">
                {MODES.map((mode) => {
                  const current = door.mode === mode;
                  return (
                    <button
                      key={mode}
                      type="button"
                      class={`mode-option mode-option-${mode}${current ? ' mode-option-current' : ''}`}
                      aria-pressed={current}
                      onClick={() => !current && setModeTo(mode)}
                    >
                      <span class="mode-option-name">{t.doors.setModeTo[mode]}</span>
                      <span class="mode-option-text">{t.doors.modeExplain[mode]}</span>
                    </button>
                  );
                })}
              </div>
            </Card>
          )}

          <Card title={t.doors.alarms}>
            {shown.length === 0 ? (
              <p class="empty">{t.doors.noAlarms}</p>
            ) : (
              <ul class="list alarm-list">
                {shown.map((alarm) => (
                  <AlarmRow
                    key={alarm.seq}
                    alarm={alarm}
                    onAck={canAck ? () => setAcking(alarm) : undefined}
                  />
                ))}
              </ul>
            )}
          </Card>
        </div>

        <Card
          title={t.doors.events}
          class="door-events"
          actions={
            <Link href={`/events?door=${encodeURIComponent(door.id)}`} class="btn btn-quiet">
              {t.doors.allEvents}
            </Link>
          }
        >
          <p class="muted small">{t.doors.eventsLive}</p>
          {recent.error && <Notice tone="error">{recent.error.message}</Notice>}
          {recent.events &&
            (recent.events.length === 0 ? (
              <p class="empty">{t.doors.noEvents}</p>
            ) : (
              <EventList events={recent.events} names={names} label={t.doors.events} />
            ))}
        </Card>
      </div>

      <ReasonDialog
        open={unlocking}
        title={t.doors.unlockTitle}
        text={t.doors.unlockText(Math.round(door.unlockMs / 1000))}
        confirmLabel={t.doors.unlockOnce}
        onConfirm={(reason) => unlockDoor(door.id, reason)}
        onClose={() => setUnlocking(false)}
        onDone={() => {
          setUnlocking(false);
          setDone(t.doors.unlockDone);
        }}
      >
        {door.mode === 'lockdown' && <p class="small warn-text">{t.doors.unlockLockdownHint}</p>}
      </ReasonDialog>
      <ReasonDialog
        open={modeTo !== null}
        title={t.doors.modeTitle[modeTo ?? 'normal']}
        text={t.doors.modeExplain[modeTo ?? 'normal']}
        confirmLabel={t.doors.setModeTo[modeTo ?? 'normal']}
        danger={modeTo === 'lockdown'}
        onConfirm={(reason) => setDoorMode(door.id, modeTo ?? 'normal', reason)}
        onClose={() => setModeTo(null)}
        onDone={() => {
          setDone(t.doors.modeDone(t.doors.mode[modeTo ?? 'normal']));
          setModeTo(null);
          doors.reload();
        }}
      />
      <AckDialog
        alarm={acking}
        doorName={door.name}
        onClose={() => setAcking(null)}
        onDone={() => {
          setAcking(null);
          alarms.reload();
        }}
      />
    </>
  );
}
