// Everything the person holds: cards, PIN (set or not), phone keys with their phone, today's doorcodes.
// Revoking asks first, takes an optional reason, and stops the credential at every door at once.
import { useState } from 'preact/hooks';
import { api, seg } from '../../api.js';
import { Dialog } from '../../components/dialog.js';
import { ReasonField, SubmitOrCancel } from '../../components/form-parts.js';
import { Badge, Button, Card, Notice, type Tone } from '../../components/ui.js';
import { useForm } from '../../hooks.js';
import { t } from '../../i18n/index.js';
import type { Door } from '../../types.js';
import {
  type Credential,
  formatStamp,
  type Group,
  isActive,
  type OfflineCode,
  type PersonDetail,
  scopeName,
  stateOf,
} from './model.js';

const TONE: Record<string, Tone> = {
  active: 'ok',
  revoked: 'bad',
  expired: 'neutral',
  not_yet_valid: 'info',
  used: 'neutral',
};

function validity(c: { validFrom: number | null; validUntil: number | null }): string {
  const s = t.people.credentials;
  const parts = [
    c.validFrom !== null ? s.validFrom(formatStamp(c.validFrom)) : '',
    c.validUntil !== null ? s.validUntil(formatStamp(c.validUntil)) : '',
  ].filter(Boolean);
  return parts.length ? parts.join(' ') : s.always;
}

export function Credentials({
  detail,
  doors,
  groups,
  canRevoke,
  onChanged,
}: {
  detail: PersonDetail;
  doors: Door[];
  groups: Group[];
  canRevoke: boolean;
  onChanged: (message: string) => void;
}) {
  const s = t.people.credentials;
  const [revoking, setRevoking] = useState<Credential | null>(null);
  const cards = detail.credentials.filter((c) => c.kind === 'card');
  const pins = detail.credentials.filter((c) => c.kind === 'pin');
  const activePin = pins.find(isActive);
  const keys = detail.mobileKeys;
  const today = (detail.offlineCodes ?? []).filter((c) => c.windowEnd > Date.now());

  const row = (c: Credential, kindClass: string) => {
    const state = stateOf(c);
    return (
      <li key={c.id} class={`cred cred-${kindClass}${state === 'active' ? '' : ' cred-inactive'}`}>
        <span class="cred-icon" aria-hidden="true" />
        <span class="grow">
          <span class="cred-title">
            <span class="cred-label">{c.label}</span>
            <Badge tone={TONE[state] ?? 'neutral'}>{s.state[state] ?? state}</Badge>
          </span>
          <span class="cred-meta">
            {state === 'revoked' && c.revokedAt !== null
              ? s.revokedOn(formatStamp(c.revokedAt))
              : `${validity(c)} · ${s.added(formatStamp(c.createdAt))}`}
          </span>
        </span>
        {canRevoke && state !== 'revoked' && (
          <Button
            variant="secondary"
            class="btn-small"
            onClick={() => setRevoking(c)}
            aria-label={`${s.revoke} ${c.label}`}
          >
            {s.revoke}
          </Button>
        )}
      </li>
    );
  };

  const split = (list: Credential[], kindClass: string, none: string) => {
    const current = list.filter((c) => stateOf(c) !== 'revoked' && stateOf(c) !== 'expired');
    const old = list.filter((c) => !current.includes(c));
    return (
      <>
        {current.length === 0 && <p class="muted cred-none">{none}</p>}
        <ul class="list cred-list">{current.map((c) => row(c, kindClass))}</ul>
        {old.length > 0 && (
          <details class="cred-old">
            <summary>{s.older(old.length)}</summary>
            <ul class="list cred-list">{old.map((c) => row(c, kindClass))}</ul>
          </details>
        )}
      </>
    );
  };

  return (
    <Card title={s.title} class="credentials">
      <div class="cred-section">
        <h3>{s.cards}</h3>
        {split(cards, 'card', s.noCards)}
      </div>
      <div class="cred-section">
        <h3>{s.pin}</h3>
        <p class="cred-pin">
          {activePin ? <Badge tone="ok">{s.pinSet}</Badge> : <Badge tone="neutral">{s.pinNone}</Badge>}
          {activePin && <span class="muted small">{validity(activePin)}</span>}
          {activePin && canRevoke && (
            <Button
              variant="secondary"
              class="btn-small"
              onClick={() => setRevoking(activePin)}
              aria-label={`${s.revoke} ${activePin.label}`}
            >
              {s.revoke}
            </Button>
          )}
        </p>
      </div>
      <div class="cred-section">
        <h3>{s.mobile}</h3>
        {split(keys, 'mobile', s.noMobile)}
      </div>
      <div class="cred-section">
        <h3>{s.codes}</h3>
        {detail.offlineCodes === null ? (
          <p class="muted">{s.codesUnavailable}</p>
        ) : today.length === 0 ? (
          <p class="muted cred-none">{s.noCodes}</p>
        ) : (
          <ul class="list cred-list">
            {today.map((code) => (
              <CodeRow key={code.serial} code={code} doors={doors} groups={groups} />
            ))}
          </ul>
        )}
      </div>
      <RevokeDialog
        credential={revoking}
        onClose={() => setRevoking(null)}
        onDone={(c) => {
          setRevoking(null);
          onChanged(t.people.revoke.done(c.label));
        }}
      />
    </Card>
  );
}

function CodeRow({ code, doors, groups }: { code: OfflineCode; doors: Door[]; groups: Group[] }) {
  const s = t.people.credentials;
  const state =
    code.revokedAt !== null
      ? 'revoked'
      : code.firstUsedAt !== null && code.type !== 'daily' && code.type !== 'hourly'
        ? 'used'
        : 'active';
  return (
    <li class={`cred cred-code${state === 'active' ? '' : ' cred-inactive'}`}>
      <span class="cred-icon" aria-hidden="true" />
      <span class="grow">
        <span class="cred-title">
          <span class="cred-label">{scopeName(code.scope, doors, groups)}</span>
          <Badge tone={TONE[state] ?? 'neutral'}>{s.state[state] ?? state}</Badge>
        </span>
        <span class="cred-meta">
          {s.codeKinds[code.type] ?? code.type}
          {' · '}
          {code.type === 'daily' && code.windowStart <= Date.now()
            ? t.people.code.validUntil(formatStamp(code.windowEnd - 60_000))
            : t.people.code.validBetween(formatStamp(code.windowStart), formatStamp(code.windowEnd))}
        </span>
        <span class="cred-meta mono">{code.serial}</span>
      </span>
    </li>
  );
}

/** Asks before revoking one credential (card, PIN or phone key); the reason goes into the log. */
export function RevokeDialog({
  credential,
  onClose,
  onDone,
}: {
  credential: Credential | null;
  onClose: () => void;
  onDone: (c: Credential) => void;
}) {
  const s = t.people.revoke;
  const form = useForm({ reason: '' });
  const close = () => {
    form.reset();
    onClose();
  };
  return (
    <Dialog open={credential !== null} title={s.title(credential?.label ?? '')} onClose={close}>
      {credential && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void form.submit(
              (v) => {
                const body = v.reason.trim() ? { reason: v.reason.trim() } : {};
                return credential.kind === 'mobile'
                  ? api.post(`/mobile/keys/${seg(credential.id)}/revoke`, body)
                  : api.post(`/credentials/${seg(credential.id)}/revoke`, body);
              },
              () => {
                form.reset();
                onDone(credential);
              },
            );
          }}
        >
          <p>{s.explain}</p>
          {form.errors[''] && <Notice tone="error">{form.errors['']}</Notice>}
          <ReasonField
            label={s.reason}
            hint={s.reasonHint}
            value={form.values.reason}
            error={form.errors.reason}
            onInput={(value) => form.set('reason', value)}
          />
          <SubmitOrCancel variant="danger" busy={form.busy} onCancel={close}>
            {s.confirm}
          </SubmitOrCancel>
        </form>
      )}
    </Dialog>
  );
}
