// Temporary removal of access: suspend / lift with a reason, or an access window (from / until) with a
// reason. Both go into the log, and the door answers above change at once.
import { api, seg } from '../../api.js';
import { Button, Card, Field, Notice } from '../../components/ui.js';
import { fromLocalInput, toLocalInput } from '../../format.js';
import { useForm } from '../../hooks.js';
import { t } from '../../i18n/index.js';
import type { Person } from '../../types.js';

export function AccessControl({
  person,
  suspendedReason,
  may,
  onChanged,
}: {
  person: Person;
  suspendedReason: string | null;
  may: (command: string) => boolean;
  onChanged: (message?: string) => void;
}) {
  const s = t.people.access;
  const suspend = useForm({ reason: '' });
  const windowForm = useForm({
    from: toLocalInput(person.accessFrom),
    until: toLocalInput(person.accessUntil),
    reason: '',
  });
  const verb = person.suspended ? 'unsuspend' : 'suspend';
  const canSuspend = may(person.suspended ? 'person.unsuspend' : 'person.suspend');
  const canWindow = may('person.set_window');
  const hasWindow = person.accessFrom != null || person.accessUntil != null;

  const saveWindow = (from: number | null, until: number | null, message: string) =>
    void windowForm.submit(
      (v) =>
        api.post<{ person: Person }>(`/people/${seg(person.id)}/window`, {
          from,
          until,
          ...(v.reason.trim() ? { reason: v.reason.trim() } : {}),
        }),
      (answer) => {
        windowForm.reset({
          from: toLocalInput(answer.person.accessFrom),
          until: toLocalInput(answer.person.accessUntil),
          reason: '',
        });
        onChanged(message);
      },
    );

  return (
    <Card title={s.title} class="access-control">
      <div class="access-grid">
        <section class="access-part" aria-labelledby="suspend-title">
          <h3 id="suspend-title">{s.suspendTitle}</h3>
          {person.suspended ? (
            <Notice tone="error">
              {suspendedReason ? t.people.person.suspendedBecause(suspendedReason) : s.suspendedNow}
            </Notice>
          ) : (
            <p class="muted small">{s.suspendExplain}</p>
          )}
          {canSuspend && (
            <form
              onSubmit={(e) => {
                e.preventDefault();
                void suspend.submit(
                  (v) =>
                    api.post<{ person: Person }>(
                      `/people/${seg(person.id)}/${verb}`,
                      v.reason.trim() ? { reason: v.reason.trim() } : {},
                    ),
                  () => {
                    suspend.reset();
                    onChanged();
                  },
                );
              }}
            >
              {suspend.errors[''] && <Notice tone="error">{suspend.errors['']}</Notice>}
              <Field
                label={person.suspended ? s.unsuspendReason : s.reason}
                hint={s.reasonHint}
                error={suspend.errors.reason}
              >
                {(props) => (
                  <input
                    {...props}
                    name="suspend-reason"
                    maxLength={200}
                    value={suspend.values.reason}
                    onInput={(e) => suspend.set('reason', e.currentTarget.value)}
                  />
                )}
              </Field>
              <Button type="submit" variant={person.suspended ? 'primary' : 'danger'} busy={suspend.busy}>
                {person.suspended ? s.unsuspend : s.suspend}
              </Button>
            </form>
          )}
        </section>
        <section class="access-part" aria-labelledby="window-title">
          <h3 id="window-title">{s.windowTitle}</h3>
          <p class="muted small">{hasWindow ? s.windowExplain : s.noWindow}</p>
          {canWindow && (
            <form
              onSubmit={(e) => {
                e.preventDefault();
                saveWindow(
                  fromLocalInput(windowForm.values.from),
                  fromLocalInput(windowForm.values.until),
                  s.windowSaved,
                );
              }}
            >
              {windowForm.errors[''] && <Notice tone="error">{windowForm.errors['']}</Notice>}
              <div class="row">
                <Field label={s.from} error={windowForm.errors.from}>
                  {(props) => (
                    <input
                      {...props}
                      type="datetime-local"
                      value={windowForm.values.from}
                      onInput={(e) => windowForm.set('from', e.currentTarget.value)}
                    />
                  )}
                </Field>
                <Field label={s.until} error={windowForm.errors.until}>
                  {(props) => (
                    <input
                      {...props}
                      type="datetime-local"
                      value={windowForm.values.until}
                      onInput={(e) => windowForm.set('until', e.currentTarget.value)}
                    />
                  )}
                </Field>
              </div>
              <Field label={s.windowReason} hint={s.reasonHint} error={windowForm.errors.reason}>
                {(props) => (
                  <input
                    {...props}
                    name="window-reason"
                    maxLength={200}
                    value={windowForm.values.reason}
                    onInput={(e) => windowForm.set('reason', e.currentTarget.value)}
                  />
                )}
              </Field>
              <div class="actions">
                <Button type="submit" variant="primary" busy={windowForm.busy}>
                  {s.saveWindow}
                </Button>
                {hasWindow && (
                  <Button
                    variant="secondary"
                    busy={windowForm.busy}
                    onClick={() => saveWindow(null, null, s.windowCleared)}
                  >
                    {s.clearWindow}
                  </Button>
                )}
              </div>
            </form>
          )}
        </section>
      </div>
    </Card>
  );
}
