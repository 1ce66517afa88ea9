// Every door with its live state (scenario 3 of docs/staff-guide.md): a tile per door, alarms on top,
// and the building-wide lockdown for roles that may run door.set_mode_all.
import { useState } from 'preact/hooks';
import { Button, Card, Link, Notice, PageTitle } from '../components/ui.js';
import { t } from '../i18n/index.js';
import { useMay } from '../session.js';
import type { Door } from '../types.js';
import { AckDialog, ReasonDialog } from './doors/dialogs.js';
import { EventList } from './doors/event-list.js';
import {
  type Alarm,
  type DoorSync,
  setAllDoorsMode,
  useAlarms,
  useDoorSync,
  useDoors,
  useFlash,
  usePeopleNames,
  useRecentEvents,
} from './doors/model.js';
import { AlarmRow, DoorBadges, DoorState, doorTone, ModeBanner, openAlarms } from './doors/state.js';

export function DashboardPage() {
  const may = useMay();
  const doors = useDoors();
  const alarms = useAlarms();
  const sync = useDoorSync();
  const [allMode, setAllMode] = useState<'lockdown' | 'normal' | null>(null);
  const [acking, setAcking] = useState<Alarm | null>(null);
  const [done, setDone] = useFlash();
  const recent = useRecentEvents(null, 8);
  const names = usePeopleNames(
    (recent.events ?? []).flatMap((e) => (e.personId ? [e.personId] : [])),
    may('person.get'),
  );

  const list = doors.data ?? [];
  const open = openAlarms(alarms.data);
  const nameOf = (id: string | null) => list.find((d) => d.id === id)?.name ?? id ?? t.common.product;
  const canAck = may('alarm.ack');
  const offline = list.filter((d) => d.status && !d.status.online).length;
  const notNormal = list.filter((d) => d.mode !== 'normal').length;

  return (
    <>
      <PageTitle
        actions={
          may('door.set_mode_all') && list.length > 0 ? (
            <>
              <Button variant="danger" onClick={() => setAllMode('lockdown')}>
                {t.doors.lockdownAll}
              </Button>
              <Button onClick={() => setAllMode('normal')} disabled={notNormal === 0}>
                {t.doors.normalAll}
              </Button>
            </>
          ) : undefined
        }
      >
        {t.doors.title}
      </PageTitle>

      {open.length > 0 && (
        <section class="alarm-banner" aria-labelledby="alarm-banner-title">
          <h2 id="alarm-banner-title">
            <span class="alarm-banner-mark" aria-hidden="true">
              !
            </span>
            {t.doors.alarmBanner(open.length)}
          </h2>
          <ul class="list alarm-list">
            {open.slice(0, 5).map((alarm) => (
              <AlarmRow
                key={alarm.seq}
                alarm={alarm}
                doorName={nameOf(alarm.doorId)}
                doorHref={alarm.doorId ? `/doors/${encodeURIComponent(alarm.doorId)}` : undefined}
                onAck={canAck ? () => setAcking(alarm) : undefined}
              />
            ))}
          </ul>
        </section>
      )}

      {done && <Notice tone="ok">{done}</Notice>}
      {doors.error && <Notice tone="error">{`${t.doors.loadFailed} ${doors.error.message}`}</Notice>}
      {doors.data && list.length === 0 && <p class="empty">{t.doors.none}</p>}
      {list.length > 0 && (
        <p class="muted dash-summary">{t.doors.summary(list.length, offline, notNormal)}</p>
      )}

      <ul class="door-grid" aria-label={t.doors.title}>
        {list.map((door) => (
          <DoorTile
            key={door.id}
            door={door}
            alarms={open.filter((a) => a.doorId === door.id)}
            sync={sync.data?.find((s) => s.doorId === door.id)}
          />
        ))}
      </ul>

      {recent.events && (
        <Card
          title={t.doors.recent}
          actions={
            <Link href="/events" class="btn btn-quiet">
              {t.doors.allEvents}
            </Link>
          }
          class="recent-card"
        >
          {recent.events.length === 0 ? (
            <p class="empty">{t.doors.noRecent}</p>
          ) : (
            <EventList
              events={recent.events}
              names={names}
              doorNames={new Map(list.map((d) => [d.id, d.name]))}
              label={t.doors.recent}
            />
          )}
        </Card>
      )}

      <ReasonDialog
        open={allMode !== null}
        title={allMode === 'lockdown' ? t.doors.lockdownAllTitle : t.doors.normalAllTitle}
        text={allMode === 'lockdown' ? t.doors.lockdownAllText : t.doors.normalAllText}
        confirmLabel={allMode === 'lockdown' ? t.doors.lockdownAll : t.doors.normalAll}
        danger={allMode === 'lockdown'}
        onConfirm={(reason) => setAllDoorsMode(allMode ?? 'normal', reason)}
        onClose={() => setAllMode(null)}
        onDone={() => {
          setDone(t.doors.modeDone(t.doors.mode[allMode ?? 'normal']));
          setAllMode(null);
          doors.reload();
        }}
      />
      <AckDialog
        alarm={acking}
        doorName={nameOf(acking?.doorId ?? null)}
        onClose={() => setAcking(null)}
        onDone={() => {
          setAcking(null);
          alarms.reload();
        }}
      />
    </>
  );
}

function DoorTile({ door, alarms, sync }: { door: Door; alarms: Alarm[]; sync: DoorSync | undefined }) {
  const tone = doorTone(door, alarms);
  const href = `/doors/${encodeURIComponent(door.id)}`;
  return (
    <li class={`door-tile tone-${tone}${door.mode !== 'normal' ? ` mode-${door.mode}` : ''}`}>
      <Link href={href} class="door-tile-link">
        <div class="door-tile-head">
          <h2 class="door-tile-name">{door.name}</h2>
          <span class="door-tile-chevron" aria-hidden="true">
            ›
          </span>
        </div>
        <ModeBanner mode={door.mode} />
        <DoorState door={door} />
        {alarms.length > 0 && (
          <ul class="tile-alarms">
            {alarms.map((a) => (
              <li key={a.seq} class={a.active ? 'tile-alarm-active' : 'tile-alarm-ended'}>
                {t.doors.alarmType[a.type] ?? t.doors.alarmOther(a.type)}
              </li>
            ))}
          </ul>
        )}
        <DoorBadges door={door} sync={sync} />
      </Link>
    </li>
  );
}
