// One person, for the resident standing in the lobby: who they are and whether anything stops them, the
// four quick actions, what every door answers them right now and why, what they hold, suspension and
// access window, and their last events. Everything reloads when an event about them arrives.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { Badge, Link, Notice } from '../components/ui.js';
import { formatWhen } from '../format.js';
import { useResource } from '../hooks.js';
import { t } from '../i18n/index.js';
import { useLive } from '../live.js';
import { useMay } from '../session.js';
import type { HubEvent, Person } from '../types.js';
import { initials, StatusBadges } from './people.js';
import { AccessControl } from './person/access-control.js';
import { LogoutDialog, type QuickAction, QuickActions, RevokeCardDialog } from './person/actions.js';
import { CardDialog } from './person/card-dialog.js';
import { CodeDialog } from './person/code-dialog.js';
import { Credentials } from './person/credentials.js';
import { DoorsNow } from './person/doors-now.js';
import { History } from './person/history.js';
import { loadAccess, loadDoors, loadGroups, loadHistory, loadPerson, type Unit } from './person/model.js';

export function PersonPage({ id }: { id: string }) {
  const s = t.people;
  const may = useMay();
  const detail = useResource(() => loadPerson(id), [id]);
  const access = useResource(() => loadAccess(id), [id]);
  const history = useResource(() => loadHistory(id), [id]);
  const doors = useResource(loadDoors, []);
  const groups = useResource(() => (may('group.list') ? loadGroups() : Promise.resolve([])), []);
  const units = useResource(() => api.get<{ units: Unit[] }>('/units').then((a) => a.units), []);
  const [open, setOpen] = useState<QuickAction | null>(null);
  const [message, setMessage] = useState<string | null>(null);

  const reloadAll = useCallback(() => {
    detail.reload();
    access.reload();
    history.reload();
  }, [detail.reload, access.reload, history.reload]);

  // Anything about this person (a decision at a door, a change by another staff member) moves the page.
  useLive(
    'event',
    useCallback(
      (e: HubEvent) => {
        if (e.personId === id || e.data.personId === id) reloadAll();
      },
      [id, reloadAll],
    ),
  );
  useLive('reset', reloadAll);
  useEffect(() => {
    if (!message) return;
    const timer = setTimeout(() => setMessage(null), 8000);
    return () => clearTimeout(timer);
  }, [message]);

  const done = (text?: string) => {
    setOpen(null);
    if (text) setMessage(text);
    reloadAll();
  };

  if (detail.error?.status === 404) {
    return (
      <>
        <Link href="/people" class="back-link">
          ← {s.person.back}
        </Link>
        <Notice tone="warn">{s.person.notFound}</Notice>
      </>
    );
  }
  if (!detail.data) {
    return detail.error ? (
      <Notice tone="error">{detail.error.message}</Notice>
    ) : (
      <p class="muted">{t.common.loading}</p>
    );
  }
  const { person } = detail.data;
  const doorList = doors.data ?? [];
  const groupList = groups.data ?? [];
  const unitName = person.unitId
    ? (units.data?.find((u) => u.id === person.unitId)?.name ?? person.unitId)
    : null;
  const suspendedReason = lastSuspensionReason(history.data ?? [], person);

  return (
    <div class="person-page">
      <Link href="/people" class="back-link">
        ← {s.person.back}
      </Link>
      <header class={`person-header${person.suspended ? ' person-header-suspended' : ''}`}>
        <span class="person-avatar person-avatar-large" aria-hidden="true">
          {initials(person.name)}
        </span>
        <div class="person-header-main">
          <h1 tabIndex={-1}>{person.name}</h1>
          <p class="person-header-meta">
            <span>{unitName ? s.unit(unitName) : s.noUnit}</span>
            <span aria-hidden="true"> · </span>
            <span>{s.kind(person.kind)}</span>
          </p>
          <p class="person-header-status">
            {!person.suspended && windowOk(person) && <Badge tone="ok">{s.active}</Badge>}
            <StatusBadges person={person} />
            <WindowText person={person} />
          </p>
          {person.suspended && (
            <p class="person-suspended-reason">
              {suspendedReason ? s.person.suspendedBecause(suspendedReason) : s.person.suspendedNoReason}
            </p>
          )}
        </div>
      </header>

      {message && <Notice tone="ok">{message}</Notice>}

      <QuickActions may={may} onPick={setOpen} />

      <div class="person-columns">
        <div class="person-column">
          <DoorsNow access={access} />
          <Credentials
            detail={detail.data}
            doors={doorList}
            groups={groupList}
            canRevoke={may('credential.revoke')}
            onChanged={done}
          />
        </div>
        <div class="person-column">
          <AccessControl
            key={`${person.suspended}-${person.accessFrom ?? ''}-${person.accessUntil ?? ''}`}
            person={person}
            suspendedReason={suspendedReason}
            may={may}
            onChanged={done}
          />
          <History history={history} doors={doorList} personId={id} />
        </div>
      </div>

      <CodeDialog
        open={open === 'code'}
        personId={id}
        doors={doorList}
        groups={groupList}
        access={access.data}
        onClose={() => setOpen(null)}
        onIssued={reloadAll}
      />
      <LogoutDialog
        open={open === 'logout'}
        detail={detail.data}
        onClose={() => setOpen(null)}
        onDone={done}
      />
      <RevokeCardDialog
        open={open === 'revokeCard'}
        detail={detail.data}
        onClose={() => setOpen(null)}
        onDone={done}
      />
      <CardDialog
        open={open === 'addCard'}
        personId={id}
        doors={doorList}
        preferredDoorId={access.data?.doors.find((d) => d.granted)?.doorId}
        onClose={() => setOpen(null)}
        onAdded={(c) => done(s.card.saved(c.label))}
      />
    </div>
  );
}

function windowOk(person: Person, now = Date.now()): boolean {
  return !(
    (person.accessFrom != null && now < person.accessFrom) ||
    (person.accessUntil != null && now >= person.accessUntil)
  );
}

function WindowText({ person }: { person: Person }) {
  const s = t.people.person;
  const from = person.accessFrom;
  const until = person.accessUntil;
  if (from == null && until == null) return null;
  const text =
    from != null && until != null
      ? s.windowBetween(formatWhen(from), formatWhen(until))
      : from != null
        ? s.windowFrom(formatWhen(from))
        : s.windowUntil(formatWhen(until!));
  return <span class="person-window muted small">{text}</span>;
}

/** The reason of the suspension in force: kept in the log, not on the person. */
function lastSuspensionReason(events: HubEvent[], person: Person): string | null {
  if (!person.suspended) return null;
  const last = events.find((e) => e.type === 'admin.person.suspended');
  return typeof last?.data.reason === 'string' ? last.data.reason : null;
}
