// The four things staff do for a resident in the lobby, as four big buttons, and the dialogs behind the
// two that need nothing more than a confirmation: log out every phone, revoke a lost card.
import { useState } from 'preact/hooks';
import { api, seg } from '../../api.js';
import { Dialog } from '../../components/dialog.js';
import { ReasonField, SubmitOrCancel } from '../../components/form-parts.js';
import { Button, Notice } from '../../components/ui.js';
import { useForm } from '../../hooks.js';
import { t } from '../../i18n/index.js';
import { RevokeDialog } from './credentials.js';
import { type Credential, isActive, type PersonDetail } from './model.js';

export type QuickAction = 'code' | 'logout' | 'revokeCard' | 'addCard';

export function QuickActions({
  may,
  onPick,
}: {
  may: (command: string) => boolean;
  onPick: (action: QuickAction) => void;
}) {
  const s = t.people.actions;
  const items: Array<{ action: QuickAction; needs: string; label: string; hint: string; tone: string }> = [
    { action: 'code', needs: 'code.issue', label: s.code, hint: s.codeHint, tone: 'qa-code' },
    {
      action: 'logout',
      needs: 'person.logout_everywhere',
      label: s.logout,
      hint: s.logoutHint,
      tone: 'qa-logout',
    },
    {
      action: 'revokeCard',
      needs: 'credential.revoke',
      label: s.revokeCard,
      hint: s.revokeCardHint,
      tone: 'qa-revoke',
    },
    {
      action: 'addCard',
      needs: 'credential.add_card',
      label: s.addCard,
      hint: s.addCardHint,
      tone: 'qa-add',
    },
  ];
  const allowed = items.filter((item) => may(item.needs));
  if (allowed.length === 0) return null;
  return (
    <section class="quick-actions" aria-label={s.title}>
      {allowed.map((item) => (
        <button key={item.action} type="button" class={`qa ${item.tone}`} onClick={() => onPick(item.action)}>
          <span class="qa-icon" aria-hidden="true" />
          <span class="qa-label">{item.label}</span>
          <span class="qa-hint">{item.hint}</span>
        </button>
      ))}
    </section>
  );
}

export function LogoutDialog({
  open,
  detail,
  onClose,
  onDone,
}: {
  open: boolean;
  detail: PersonDetail;
  onClose: () => void;
  onDone: (message: string) => void;
}) {
  const s = t.people.logout;
  const form = useForm({ reason: '' });
  const active = detail.mobileKeys.filter(isActive).length;
  const close = () => {
    form.reset();
    onClose();
  };
  return (
    <Dialog open={open} title={s.title} onClose={close}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void form.submit(
            (v) =>
              api.post<{ keyEpoch: number }>(
                `/people/${seg(detail.person.id)}/logout-everywhere`,
                v.reason.trim() ? { reason: v.reason.trim() } : {},
              ),
            (answer) => {
              form.reset();
              onDone(s.done(answer.keyEpoch));
            },
          );
        }}
      >
        <p>{s.explain}</p>
        <Notice tone={active ? 'warn' : 'info'}>{active ? s.count(active) : s.noKeys}</Notice>
        {form.errors[''] && <Notice tone="error">{form.errors['']}</Notice>}
        <ReasonField
          label={s.reason}
          hint={t.people.revoke.reasonHint}
          value={form.values.reason}
          error={form.errors.reason}
          onInput={(value) => form.set('reason', value)}
        />
        <SubmitOrCancel variant="danger" busy={form.busy} onCancel={close}>
          {s.confirm}
        </SubmitOrCancel>
      </form>
    </Dialog>
  );
}

/** "Revoke a lost card": straight to the confirmation when there is one card, a choice when more. */
export function RevokeCardDialog({
  open,
  detail,
  onClose,
  onDone,
}: {
  open: boolean;
  detail: PersonDetail;
  onClose: () => void;
  onDone: (message: string) => void;
}) {
  const s = t.people.revoke;
  const cards = detail.credentials.filter((c) => c.kind === 'card' && isActive(c));
  const [picked, setPicked] = useState<Credential | null>(null);
  const only = cards.length === 1 ? cards[0]! : null;
  const chosen = picked ?? only;
  if (open && chosen) {
    return (
      <RevokeDialog
        credential={chosen}
        onClose={() => {
          setPicked(null);
          onClose();
        }}
        onDone={(c) => {
          setPicked(null);
          onDone(s.done(c.label));
        }}
      />
    );
  }
  return (
    <Dialog open={open} title={t.people.actions.revokeCard} onClose={onClose}>
      {cards.length === 0 ? (
        <>
          <p>{s.noCards}</p>
          <div class="actions">
            <Button variant="primary" onClick={onClose}>
              {t.common.close}
            </Button>
          </div>
        </>
      ) : (
        <>
          <p>{s.pick}</p>
          <ul class="list">
            {cards.map((c) => (
              <li key={c.id}>
                <span class="grow mono">{c.label}</span>
                <Button
                  variant="danger"
                  onClick={() => setPicked(c)}
                  aria-label={`${t.people.credentials.revoke} ${c.label}`}
                >
                  {t.people.credentials.revoke}
                </Button>
              </li>
            ))}
          </ul>
        </>
      )}
    </Dialog>
  );
}
