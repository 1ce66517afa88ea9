// Find a resident by name or unit, as they stand in the lobby: one big search box, results as you type.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, seg } from '../api.js';
import { Dialog } from '../components/dialog.js';
import { SubmitOrCancel } from '../components/form-parts.js';
import { Badge, Button, Empty, Field, Link, Notice, PageTitle } from '../components/ui.js';
import { useForm, useResource } from '../hooks.js';
import { t } from '../i18n/index.js';
import { navigate } from '../router.js';
import { useMay } from '../session.js';
import type { Person } from '../types.js';
import type { Unit } from './person/model.js';

const DEBOUNCE_MS = 200;

/** "Suspended" / "Outside access window" badges for a person, empty when nothing stops them. */
export function StatusBadges({ person, now = Date.now() }: { person: Person; now?: number }) {
  const s = t.people;
  const early = person.accessFrom != null && now < person.accessFrom;
  const late = person.accessUntil != null && now >= person.accessUntil;
  return (
    <>
      {person.suspended && <Badge tone="bad">{s.suspended}</Badge>}
      {late && <Badge tone="warn">{s.outsideWindow}</Badge>}
      {early && <Badge tone="warn">{s.notYetWindow}</Badge>}
    </>
  );
}

/**
 * GET /people?query= where the hub searches; a hub that does not know `query` refuses it (400), and
 * then the whole list is filtered here, by name, unit id and unit name.
 */
async function searchPeople(query: string, units: Unit[]): Promise<Person[]> {
  const q = query.trim();
  if (q) {
    try {
      return (await api.get<{ people: Person[] }>('/people', { query: q, limit: 50 })).people;
    } catch (err) {
      if ((err as { status?: number }).status !== 400) throw err;
    }
  }
  const all = (await api.get<{ people: Person[] }>('/people')).people;
  if (!q) return all;
  const needle = q.toLowerCase();
  const unitName = new Map(units.map((u) => [u.id, u.name.toLowerCase()]));
  return all.filter(
    (p) =>
      p.name.toLowerCase().includes(needle) ||
      (p.unitId !== null &&
        (p.unitId.toLowerCase().includes(needle) || unitName.get(p.unitId)?.includes(needle))),
  );
}

export function PeoplePage() {
  const s = t.people;
  const may = useMay();
  const [query, setQuery] = useState(() => new URLSearchParams(location.search).get('q') ?? '');
  const [debounced, setDebounced] = useState(query);
  const [adding, setAdding] = useState(false);
  const searchBox = useRef<HTMLInputElement>(null);
  // The search is why staff open this page: the caret is there already.
  useEffect(() => searchBox.current?.focus(), []);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(query), DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [query]);
  // Keep the search in the address so "back" from a person returns to the same results.
  useEffect(() => {
    const path = debounced.trim() ? `/people?q=${encodeURIComponent(debounced.trim())}` : '/people';
    if (location.pathname === '/people') history.replaceState(null, '', path);
  }, [debounced]);

  const units = useResource(() => api.get<{ units: Unit[] }>('/units').then((a) => a.units), []);
  const unitList = units.data ?? [];
  const results = useResource(() => searchPeople(debounced, unitList), [debounced, unitList.length]);
  const unitName = useMemo(() => new Map(unitList.map((u) => [u.id, u.name])), [unitList]);
  const list = results.data ?? [];

  return (
    <div class="people-page">
      <PageTitle
        actions={
          may('person.add') && (
            <Button variant="primary" onClick={() => setAdding(true)}>
              {s.add.open}
            </Button>
          )
        }
      >
        {s.title}
      </PageTitle>
      <div class="people-search">
        <label for="people-search">{s.search}</label>
        <input
          id="people-search"
          class="search search-big"
          type="search"
          autoComplete="off"
          autoCapitalize="none"
          spellcheck={false}
          enterKeyHint="search"
          placeholder={s.searchPlaceholder}
          aria-describedby="people-search-hint"
          ref={searchBox}
          value={query}
          onInput={(e) => setQuery(e.currentTarget.value)}
        />
        <p id="people-search-hint" class="field-hint">
          {s.searchHint}
        </p>
      </div>
      {results.error && <Notice tone="error">{results.error.message}</Notice>}
      <p class="people-count muted" role="status" aria-live="polite">
        {results.data && s.results(list.length)}
      </p>
      {results.data && list.length === 0 ? (
        <Empty>{debounced.trim() ? s.noMatch(debounced.trim()) : s.nobodyYet}</Empty>
      ) : (
        <ul class="people-results" aria-label={s.title}>
          {list.map((p) => (
            <li key={p.id}>
              <Link href={`/people/${seg(p.id)}`} class="person-row">
                <span class="person-avatar" aria-hidden="true">
                  {initials(p.name)}
                </span>
                <span class="person-row-main">
                  <span class="person-row-name">{p.name}</span>
                  <span class="person-row-meta">
                    {p.unitId ? s.unit(unitName.get(p.unitId) ?? p.unitId) : s.noUnit}
                    {' · '}
                    {s.kind(p.kind)}
                  </span>
                </span>
                <span class="person-row-badges">
                  <StatusBadges person={p} />
                </span>
              </Link>
            </li>
          ))}
        </ul>
      )}
      <AddPersonDialog open={adding} units={unitList} onClose={() => setAdding(false)} />
    </div>
  );
}

export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0]![0], words[words.length - 1]![0]] : [words[0]?.[0]];
  return letters.join('').toUpperCase();
}

function AddPersonDialog({ open, units, onClose }: { open: boolean; units: Unit[]; onClose: () => void }) {
  const s = t.people.add;
  const form = useForm({ name: '', kind: 'resident', unitId: '' });
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (open) first.current?.focus();
  }, [open]);
  return (
    <Dialog open={open} title={s.title} onClose={onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void form.submit(
            (v) =>
              api.post<{ person: Person }>('/people', {
                name: v.name.trim(),
                kind: v.kind,
                ...(v.unitId ? { unitId: v.unitId } : {}),
              }),
            (answer) => {
              form.reset();
              onClose();
              navigate(`/people/${seg(answer.person.id)}`);
            },
          );
        }}
      >
        {form.errors[''] && <Notice tone="error">{form.errors['']}</Notice>}
        <Field label={s.name} error={form.errors.name}>
          {(props) => (
            <input
              {...props}
              ref={first}
              autoComplete="off"
              required
              value={form.values.name}
              onInput={(e) => form.set('name', e.currentTarget.value)}
            />
          )}
        </Field>
        <div class="row">
          <Field label={s.kind} error={form.errors.kind}>
            {(props) => (
              <select
                {...props}
                value={form.values.kind}
                onChange={(e) => form.set('kind', e.currentTarget.value)}
              >
                {Object.entries(t.people.kinds).map(([value, label]) => (
                  <option key={value} value={value}>
                    {label}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label={s.unit} error={form.errors.unitId}>
            {(props) => (
              <select
                {...props}
                value={form.values.unitId}
                onChange={(e) => form.set('unitId', e.currentTarget.value)}
              >
                <option value="">{s.unitNone}</option>
                {units.map((u) => (
                  <option key={u.id} value={u.id}>
                    {u.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </div>
        <SubmitOrCancel busy={form.busy} onCancel={onClose}>
          {s.submit}
        </SubmitOrCancel>
      </form>
    </Dialog>
  );
}
