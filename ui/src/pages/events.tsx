// The audit log: filters kept in the URL (a filtered view can be shared or reloaded), readable rows,
// "Load older" paging with the hub's `next` cursor, live events on top, and a CSV download of the same
// filters (a plain link: the session cookie authenticates it).
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { api, withQuery } from '../api.js';
import { Badge, Button, Card, Empty, Field, Notice, PageTitle } from '../components/ui.js';
import { formatFull, formatWhen, fromLocalInput, toLocalInput } from '../format.js';
import { asApiError, useResource } from '../hooks.js';
import { t } from '../i18n/index.js';
import { useLive } from '../live.js';
import { navigate, useLocation } from '../router.js';
import { useMay } from '../session.js';
import type { Door, HubEvent, Person } from '../types.js';

const s = t.events;
const PAGE = 50;

/** The filters, exactly as they appear in the URL and in the API query. */
interface Filters {
  door: string;
  person: string;
  type: string;
  from: string; // epoch ms
  until: string; // epoch ms
}
const FILTER_KEYS: Array<keyof Filters> = ['door', 'person', 'type', 'from', 'until'];
const PRESET_TYPES = new Set(s.types.map(([value]) => value));

function filtersOf(query: URLSearchParams): Filters {
  const get = (key: string) => query.get(key)?.trim() ?? '';
  const ms = (key: string) => (/^\d{1,15}$/.test(get(key)) ? get(key) : '');
  return {
    door: get('door'),
    person: get('person'),
    type: get('type'),
    from: ms('from'),
    until: ms('until'),
  };
}

function queryOf(filters: Filters): Record<string, string> {
  const query: Record<string, string> = {};
  for (const key of FILTER_KEYS) if (filters[key]) query[key] = filters[key];
  return query;
}

/** Would the hub list this event under these filters? (for live events arriving at the top) */
function matches(e: HubEvent, f: Filters): boolean {
  if (f.door && e.doorId !== f.door) return false;
  if (f.person && e.personId !== f.person) return false;
  if (f.type && !typeMatches(e.type, f.type)) return false;
  if (f.from && e.ts < Number(f.from)) return false;
  if (f.until && e.ts > Number(f.until)) return false;
  return true;
}

/** As the hub reads `type`: 'alarm' is alarm and its sub-types; 'admin.cred*' is a raw prefix. */
function typeMatches(type: string, filter: string): boolean {
  if (filter.endsWith('*')) return type.startsWith(filter.slice(0, -1));
  return type === filter || type.startsWith(`${filter}.`);
}

interface Page {
  events: HubEvent[];
  next: string | number | null;
}

export function EventsPage() {
  const may = useMay();
  const { query } = useLocation();
  const filters = filtersOf(query);
  const key = JSON.stringify(filters);
  const canSeePeople = may('person.list');

  const doors = useResource(() => api.get<{ doors: Door[] }>('/doors').then((a) => a.doors), []);
  const people = useResource(
    () =>
      canSeePeople
        ? api.get<{ people: Person[] }>('/people').then((a) => a.people)
        : Promise.resolve([] as Person[]),
    [canSeePeople],
  );

  const [list, setList] = useState<HubEvent[]>([]);
  const [next, setNext] = useState<string | number | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(
    async (before: string | number | null) => {
      setLoading(true);
      setError(null);
      try {
        const page = await api.get<Page>('/events', {
          ...queryOf(filters),
          limit: PAGE,
          ...(before !== null ? { before } : {}),
        });
        setList((current) => {
          const merged = before === null ? page.events : [...current, ...page.events];
          const seen = new Set<number>();
          return merged.filter((e) => {
            if (seen.has(e.seq)) return false;
            seen.add(e.seq);
            return true;
          });
        });
        // Older hubs answer without `next`: the oldest seq shown is the cursor while a page came back full.
        const oldest = page.events.at(-1)?.seq;
        setNext(page.next !== undefined ? page.next : page.events.length >= PAGE && oldest ? oldest : null);
      } catch (err) {
        const refusal = asApiError(err);
        setError(refusal.code === 'invalid' ? s.badFilters(refusal.message) : refusal.message);
      } finally {
        setLoading(false);
      }
    },
    [key],
  );
  useEffect(() => {
    setList([]);
    setNext(null);
    void load(null);
  }, [load]);

  const live = !filters.until || Number(filters.until) > Date.now();
  const onEvent = useCallback(
    (e: HubEvent) => {
      if (!matches(e, filters)) return;
      setList((current) => (current.some((x) => x.seq === e.seq) ? current : [e, ...current]));
    },
    [key],
  );
  useLive('event', onEvent);
  const onReset = useCallback(() => void load(null), [load]);
  useLive('reset', onReset);

  const doorNames = useMemo(() => new Map((doors.data ?? []).map((d) => [d.id, d.name])), [doors.data]);
  const personNames = useMemo(() => new Map((people.data ?? []).map((p) => [p.id, p.name])), [people.data]);

  const apply = (change: Partial<Filters>) => {
    const nextFilters = { ...filters, ...change };
    navigate(withQuery('/events', queryOf(nextFilters)), { replace: false });
  };
  const hasFilters = FILTER_KEYS.some((k) => filters[k]);
  const csv = withQuery('/api/v1/events.csv', queryOf(filters));

  return (
    <>
      <PageTitle
        actions={
          <a class="btn btn-secondary" href={csv} download>
            {s.download}
          </a>
        }
      >
        {s.title}
      </PageTitle>
      <p class="muted page-intro">{canSeePeople ? s.intro : s.installerIntro}</p>

      <Card class="event-filters">
        <form
          class="filters"
          aria-label={s.filters}
          onSubmit={(e) => {
            e.preventDefault();
          }}
        >
          <Field label={s.door}>
            {(p) => (
              <select {...p} value={filters.door} onChange={(e) => apply({ door: e.currentTarget.value })}>
                <option value="">{s.anyDoor}</option>
                {(doors.data ?? []).map((d) => (
                  <option key={d.id} value={d.id}>
                    {d.name}
                  </option>
                ))}
                {filters.door && !doorNames.has(filters.door) && (
                  <option value={filters.door}>{filters.door}</option>
                )}
              </select>
            )}
          </Field>
          {canSeePeople && (
            <PersonFilter
              key={filters.person}
              value={filters.person}
              people={people.data ?? []}
              onPick={(person) => apply({ person })}
            />
          )}
          <TypeFilter key={filters.type} value={filters.type} onPick={(type) => apply({ type })} />
          <TimeFilter label={s.from} value={filters.from} onPick={(from) => apply({ from })} />
          <TimeFilter label={s.until} value={filters.until} onPick={(until) => apply({ until })} />
          {hasFilters && (
            <div class="filters-clear">
              <Button variant="quiet" onClick={() => navigate('/events')}>
                {s.clear}
              </Button>
            </div>
          )}
        </form>
      </Card>

      <Card>
        <p class="event-live muted">
          {live ? s.newOnTop : s.paused} {list.length > 0 && <span>· {s.count(list.length)}</span>}
        </p>
        {error && <Notice tone="error">{error}</Notice>}
        {!loading && !error && list.length === 0 && <Empty>{s.none}</Empty>}
        <ol class="events" aria-label={s.title}>
          {list.map((e) => (
            <EventRow key={e.seq} event={e} doorNames={doorNames} personNames={personNames} />
          ))}
        </ol>
        <div class="events-more">
          {next !== null ? (
            <Button busy={loading} onClick={() => void load(next)}>
              {s.loadOlder}
            </Button>
          ) : (
            list.length > 0 && !loading && <p class="muted">{s.noMore}</p>
          )}
        </div>
      </Card>
    </>
  );
}

function PersonFilter({
  value,
  people,
  onPick,
}: {
  value: string;
  people: Person[];
  onPick: (id: string) => void;
}) {
  const nameOf = (id: string) => people.find((p) => p.id === id)?.name ?? id;
  const [text, setText] = useState(value ? nameOf(value) : '');
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setText(value ? nameOf(value) : ''), [value, people.length]);
  const commit = () => {
    const typed = text.trim();
    if (!typed) {
      setError(null);
      if (value) onPick('');
      return;
    }
    const match =
      people.find((p) => p.name.toLowerCase() === typed.toLowerCase()) ?? people.find((p) => p.id === typed);
    if (!match) {
      setError(s.badPerson);
      return;
    }
    setError(null);
    if (match.id !== value) onPick(match.id);
  };
  return (
    <Field label={s.person} hint={s.personHint} error={error}>
      {(p) => (
        <>
          <input
            {...p}
            type="search"
            list="event-people"
            placeholder={s.anyone}
            autoComplete="off"
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
            onChange={commit}
            onKeyDown={(e) => {
              if (e.key === 'Enter') {
                e.preventDefault();
                commit();
              }
            }}
          />
          <datalist id="event-people">
            {people.map((person) => (
              <option key={person.id} value={person.name} />
            ))}
          </datalist>
        </>
      )}
    </Field>
  );
}

function TypeFilter({ value, onPick }: { value: string; onPick: (type: string) => void }) {
  const [other, setOther] = useState(value !== '' && !PRESET_TYPES.has(value));
  const [text, setText] = useState(other ? value.replace(/\*$/, '') : '');
  const commit = () => {
    const prefix = text.trim().toLowerCase().replace(/\*+$/, '');
    onPick(prefix ? `${prefix}*` : '');
  };
  return (
    <>
      <Field label={s.type}>
        {(p) => (
          <select
            {...p}
            value={other ? '*' : value}
            onChange={(e) => {
              const picked = e.currentTarget.value;
              if (picked === '*') {
                setOther(true);
                return;
              }
              setOther(false);
              onPick(picked);
            }}
          >
            {s.types.map(([v, label]) => (
              <option key={v} value={v}>
                {label}
              </option>
            ))}
          </select>
        )}
      </Field>
      {other && (
        <Field label={s.typePrefix} hint={s.typePrefixHint}>
          {(p) => (
            <input
              {...p}
              autoCapitalize="none"
              maxLength={64}
              value={text}
              onInput={(e) => setText(e.currentTarget.value)}
              onChange={commit}
              onKeyDown={(e) => {
                if (e.key === 'Enter') {
                  e.preventDefault();
                  commit();
                }
              }}
            />
          )}
        </Field>
      )}
    </>
  );
}

function TimeFilter({
  label,
  value,
  onPick,
}: {
  label: string;
  value: string;
  onPick: (ms: string) => void;
}) {
  return (
    <Field label={label}>
      {(p) => (
        <input
          {...p}
          type="datetime-local"
          value={value ? toLocalInput(Number(value)) : ''}
          onChange={(e) => {
            const ms = fromLocalInput(e.currentTarget.value);
            onPick(ms === null ? '' : String(ms));
          }}
        />
      )}
    </Field>
  );
}

/** One event in words: what happened, where, to whom, who did it, and the details that matter. */
function EventRow({
  event: e,
  doorNames,
  personNames,
}: {
  event: HubEvent;
  doorNames: Map<string, string>;
  personNames: Map<string, string>;
}) {
  const d = e.data ?? {};
  const str = (key: string) => (typeof d[key] === 'string' ? (d[key] as string) : null);
  const isDecision = e.type === 'decision';
  const granted = d.granted === true;
  const what = isDecision
    ? granted
      ? s.granted
      : s.denied
    : (s.typeWords[e.type] ?? s.typeFallback(e.type));
  const tone = isDecision
    ? granted
      ? 'ok'
      : 'bad'
    : e.type.startsWith('alarm.')
      ? e.type.endsWith('_cleared')
        ? 'ok'
        : 'warn'
      : e.type.startsWith('admin.')
        ? 'info'
        : 'neutral';
  const door = e.doorId ? (doorNames.get(e.doorId) ?? e.doorId) : null;
  const person = e.personId ? (personNames.get(e.personId) ?? e.personId) : null;
  const kind = str('kind');
  const kindWords = kind ? (s.kinds[kind] ?? kind) : null;
  const by = actorOf(e, person, kindWords);

  const details: string[] = [];
  if (isDecision) {
    if (!granted && str('reason'))
      details.push(s.reasons[str('reason')!] ?? s.reasonFallback(str('reason')!));
    if (kindWords) details.push(s.details.via(kindWords, str('reader')));
    if (str('card')) details.push(str('card')!);
  } else {
    if (typeof d.from === 'string' && typeof d.to === 'string') details.push(s.details.mode(d.from, d.to));
    if (typeof d.ms === 'number') details.push(s.details.ms(d.ms));
    for (const [k, v] of Object.entries(d)) {
      if (['actor', 'from', 'to', 'ms', 'granted', 'kind'].includes(k) || s.hiddenFields.includes(k))
        continue;
      const text =
        typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
          ? String(v)
          : Array.isArray(v) && v.every((x) => typeof x === 'string')
            ? v.join(', ')
            : null;
      if (text === null) continue;
      const say = s.fields[k];
      details.push(k === 'reason' ? s.details.reason(text) : say ? say(text) : `${k}: ${text}`);
      if (details.length >= 5) break;
    }
  }
  return (
    <li class={`event event-${tone}`}>
      <time class="event-time" dateTime={new Date(e.ts).toISOString()} title={formatFull(e.ts)}>
        {formatWhen(e.ts)}
      </time>
      <div class="event-body">
        <div class="event-head">
          <Badge tone={tone}>{what}</Badge>
          {door && <span class="event-door">{door}</span>}
          {person && !isDecision && <span class="event-person">{person}</span>}
        </div>
        <p class="event-meta">
          <span class="event-by">
            {s.by} <strong>{by}</strong>
          </span>
          {details.length > 0 && <span class="event-details"> · {details.join(' · ')}</span>}
        </p>
      </div>
    </li>
  );
}

/** Who did it: the login, console user, device or cloud in `actor`; for a decision, who presented. */
function actorOf(e: HubEvent, person: string | null, kind: string | null): string {
  const actor = e.data?.actor;
  if (typeof actor === 'string' && actor) return s.actor(actor);
  if (e.type === 'decision') {
    if (person) return s.presenter.person(person);
    const card = e.data?.card;
    if (typeof card === 'string') return s.presenter.credential(card);
    return s.presenter.unknown(kind ?? 'credential');
  }
  const device = e.data?.device ?? e.data?.deviceId;
  if (typeof device === 'string') return s.actor(`device:${device}`);
  return s.actor('hub');
}
