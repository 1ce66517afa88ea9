// "Give a doorcode": a code the doors check by themselves (internet down or not), for today by default,
// for the doors the person normally has; then the digits, large, to read out, with what they open and
// until when. The hub shows the digits once and never stores them.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../../api.js';
import { Dialog } from '../../components/dialog.js';
import { Button, Field, Notice } from '../../components/ui.js';
import { formatWhen, fromLocalInput, toLocalInput } from '../../format.js';
import { useForm, useResource } from '../../hooks.js';
import { t } from '../../i18n/index.js';
import type { Door } from '../../types.js';
import { type AccessNow, type Group, type IssuedCode, scopeName } from './model.js';

type Kind = 'daily' | 'window' | 'once';

/** The doors the person normally has: their (first) group, else the first door that lets them in. */
export function defaultScope(personId: string, groups: Group[], access: AccessNow | null): string {
  const mine = groups.filter((g) => g.memberIds.includes(personId) && g.doorIds.length > 0);
  if (mine[0]) return `group:${mine[0].id}`;
  const open = access?.doors.find((d) => d.granted);
  return open ? `door:${open.doorId}` : 'site';
}

export function CodeDialog({
  open,
  personId,
  doors,
  groups,
  access,
  onClose,
  onIssued,
}: {
  open: boolean;
  personId: string;
  doors: Door[];
  groups: Group[];
  access: AccessNow | null;
  onClose: () => void;
  onIssued: () => void;
}) {
  const s = t.people.code;
  const initial = () => ({
    kind: 'daily' as Kind,
    scope: defaultScope(personId, groups, access),
    from: toLocalInput(Date.now()),
    hours: '2',
  });
  const form = useForm(initial());
  const [issued, setIssued] = useState<IssuedCode | null>(null);
  // Doors refuse timed codes while the hub cannot trust its clock (docs/trusted-time.md): say so first.
  const clock = useResource(
    () => api.get<{ clock?: { trusted: boolean } | null }>('/status').then((a) => a.clock ?? null),
    [open],
  );
  const untrusted = clock.data?.trusted === false;
  // Each time it opens: a fresh form with today's defaults (the groups may have loaded since).
  useEffect(() => {
    if (open) {
      form.reset(initial());
      setIssued(null);
    }
  }, [open, groups.length, doors.length]);

  const mine = groups.filter((g) => g.memberIds.includes(personId));
  const others = groups.filter((g) => !g.memberIds.includes(personId));
  const doorNames = (g: Group) =>
    g.doorIds.map((id) => doors.find((d) => d.id === id)?.name ?? id).join(', ');

  const close = () => {
    setIssued(null);
    onClose();
  };

  return (
    <Dialog open={open} title={s.title} onClose={close}>
      {issued ? (
        <div class="code-result">
          {untrusted && <Notice tone="warn">{s.clockUntrusted}</Notice>}
          <p class="code-readout">{s.readOut}</p>
          <div class="big-code" data-digits={issued.digits}>
            {groupDigits(issued.digits).map((part, i) => (
              <span key={i} class="big-code-group">
                {part}
              </span>
            ))}
          </div>
          <p class="code-opens">{s.opens(scopeName(issued.scope, doors, groups))}</p>
          <p class="code-valid">
            {issued.type === 'daily'
              ? s.validUntil(formatWhen(issued.window.end - 60_000))
              : s.validBetween(formatWhen(issued.window.start), formatWhen(issued.window.end))}
          </p>
          <p class="muted small">
            {s.typeAtKeypad} {issued.type === 'once' ? s.once : ''}
          </p>
          <div class="actions">
            <Button variant="primary" onClick={close}>
              {s.done}
            </Button>
            <Button
              variant="secondary"
              onClick={() => {
                setIssued(null);
                form.reset(initial());
              }}
            >
              {s.another}
            </Button>
          </div>
        </div>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void form.submit(
              (v) => {
                const base = { personId, doors: v.scope };
                const hours = Number(v.hours);
                const body =
                  v.kind === 'daily'
                    ? { ...base, kind: 'daily' }
                    : {
                        ...base,
                        kind: v.kind,
                        from: fromLocalInput(v.from) ?? Date.now(),
                        hours: Number.isFinite(hours) ? hours : 0,
                      };
                return api.post<{ code: IssuedCode }>('/codes', body);
              },
              (answer) => {
                setIssued(answer.code);
                onIssued();
              },
            );
          }}
        >
          {untrusted && <Notice tone="warn">{s.clockUntrusted}</Notice>}
          {form.errors[''] && <Notice tone="error">{form.errors['']}</Notice>}
          <fieldset class="choice">
            <legend>{s.kind}</legend>
            {(Object.keys(s.kinds) as Kind[]).map((kind) => (
              <label key={kind} class={`choice-option${form.values.kind === kind ? ' choice-on' : ''}`}>
                <input
                  type="radio"
                  name="code-kind"
                  value={kind}
                  checked={form.values.kind === kind}
                  onChange={() => form.set('kind', kind)}
                />
                <span>
                  <strong>{s.kinds[kind]}</strong>
                  <span class="muted small">{s.kindHints[kind]}</span>
                </span>
              </label>
            ))}
          </fieldset>
          <Field label={s.doors} hint={s.doorsHint} error={form.errors.scope}>
            {(props) => (
              <select
                {...props}
                value={form.values.scope}
                onChange={(e) => form.set('scope', e.currentTarget.value)}
              >
                {mine.length > 0 && (
                  <optgroup label={s.groupsLabel}>
                    {mine.map((g) => (
                      <option key={g.id} value={`group:${g.id}`}>
                        {s.group(g.name, doorNames(g))}
                      </option>
                    ))}
                  </optgroup>
                )}
                <optgroup label={s.doorsLabel}>
                  {doors.map((d) => (
                    <option key={d.id} value={`door:${d.id}`}>
                      {s.door(d.name)}
                    </option>
                  ))}
                </optgroup>
                {others.length > 0 && (
                  <optgroup label={t.people.code.otherGroups}>
                    {others.map((g) => (
                      <option key={g.id} value={`group:${g.id}`}>
                        {s.group(g.name, doorNames(g))}
                      </option>
                    ))}
                  </optgroup>
                )}
                <option value="site">{s.site}</option>
              </select>
            )}
          </Field>
          {form.values.kind !== 'daily' && (
            <div class="row">
              <Field label={s.from} error={form.errors.from}>
                {(props) => (
                  <input
                    {...props}
                    type="datetime-local"
                    value={form.values.from}
                    onInput={(e) => form.set('from', e.currentTarget.value)}
                  />
                )}
              </Field>
              <Field label={s.hours} error={form.errors.hours}>
                {(props) => (
                  <input
                    {...props}
                    type="number"
                    inputMode="numeric"
                    min={1}
                    max={672}
                    value={form.values.hours}
                    onInput={(e) => form.set('hours', e.currentTarget.value)}
                  />
                )}
              </Field>
            </div>
          )}
          <div class="actions">
            <Button type="submit" variant="primary" busy={form.busy} class="btn-large">
              {s.submit}
            </Button>
            <Button variant="quiet" onClick={close}>
              {t.common.cancel}
            </Button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

/** "12345678" → ["1234", "5678"]: easier to read out and to type; the digits stay one string for copy. */
function groupDigits(digits: string): string[] {
  if (digits.length <= 5) return [digits];
  const size = digits.length % 4 === 0 ? 4 : 3;
  const parts: string[] = [];
  for (let i = 0; i < digits.length; i += size) parts.push(digits.slice(i, i + size));
  return parts;
}
