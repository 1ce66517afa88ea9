// Staff accounts (admin): add, change role, reset password, remove. The hub refuses removing or demoting
// the last admin; its words are shown as they are.
import { useState } from 'preact/hooks';
import { api, seg } from '../api.js';
import { Dialog } from '../components/dialog.js';
import { PasswordPair } from '../components/form-parts.js';
import { Badge, Button, Card, Empty, Field, Notice, PageTitle, type Tone } from '../components/ui.js';
import { formatWhen } from '../format.js';
import { type Form, useForm, useResource } from '../hooks.js';
import { t } from '../i18n/index.js';
import { useSession } from '../session.js';
import { ConfirmDialog } from './admin/parts.js';

const s = t.staff;
const ROLES = ['admin', 'staff', 'installer'] as const;
const ROLE_TONE: Record<string, Tone> = { admin: 'info', staff: 'ok', installer: 'warn' };

interface StaffUser {
  id: string;
  username: string;
  role: string;
  disabled: boolean;
  createdAt: number;
  lastLoginAt?: number | null;
}

type Open =
  | null
  | { kind: 'add' }
  | { kind: 'role'; user: StaffUser }
  | { kind: 'password'; user: StaffUser }
  | { kind: 'remove'; user: StaffUser };

export function StaffPage() {
  const me = useSession();
  const users = useResource(() => api.get<{ users: StaffUser[] }>('/users').then((a) => a.users), []);
  const [open, setOpen] = useState<Open>(null);
  const [done, setDone] = useState<string | null>(null);
  const close = () => setOpen(null);
  const finish = (message: string) => {
    close();
    setDone(message);
    users.reload();
  };

  return (
    <>
      <PageTitle
        actions={
          <Button variant="primary" onClick={() => setOpen({ kind: 'add' })}>
            {s.add}
          </Button>
        }
      >
        {s.title}
      </PageTitle>
      <p class="muted page-intro">{s.intro}</p>
      {done && <Notice tone="ok">{done}</Notice>}

      <div class="staff-layout">
        <Card>
          {users.error && <Notice tone="error">{users.error.message}</Notice>}
          {users.data?.length === 0 && <Empty>{s.none}</Empty>}
          <ul class="list staff-list">
            {users.data?.map((user) => {
              const self = user.username === me.user.username;
              return (
                <li key={user.id} class="staff-item">
                  <span class="avatar" aria-hidden="true">
                    {user.username.charAt(0).toUpperCase()}
                  </span>
                  <div class="grow">
                    <div class="staff-name">
                      <strong>{user.username}</strong>
                      {self && <span class="muted">({s.you})</span>}
                    </div>
                    <div class="badges">
                      <Badge tone={ROLE_TONE[user.role] ?? 'neutral'}>
                        {s.roles[user.role] ?? user.role}
                      </Badge>
                      {user.disabled && <Badge tone="bad">{s.disabled}</Badge>}
                      <span class="staff-meta">
                        {user.lastLoginAt
                          ? formatWhen(user.lastLoginAt)
                          : s.since(formatWhen(user.createdAt))}
                      </span>
                    </div>
                  </div>
                  <div class="actions staff-actions">
                    <Button
                      aria-label={`${s.changeRole}: ${user.username}`}
                      onClick={() => setOpen({ kind: 'role', user })}
                    >
                      {s.changeRole}
                    </Button>
                    <Button
                      aria-label={`${s.resetPassword}: ${user.username}`}
                      onClick={() => setOpen({ kind: 'password', user })}
                    >
                      {s.resetPassword}
                    </Button>
                    <Button
                      variant="quiet"
                      class="danger-text"
                      aria-label={`${s.remove}: ${user.username}`}
                      onClick={() => setOpen({ kind: 'remove', user })}
                    >
                      {s.remove}
                    </Button>
                  </div>
                </li>
              );
            })}
          </ul>
        </Card>
        <aside>
          <Card title={s.rolesTitle}>
            <dl class="needs">
              {ROLES.map((role) => (
                <div key={role}>
                  <dt>{s.roles[role]}</dt>
                  <dd>{s.roleHelp[role]}</dd>
                </div>
              ))}
            </dl>
          </Card>
        </aside>
      </div>

      <Dialog open={open?.kind === 'add'} title={s.add} onClose={close}>
        <AddForm onDone={(name) => finish(s.added(name))} />
      </Dialog>
      {open?.kind === 'role' && (
        <Dialog open title={s.changeRoleTitle(open.user.username)} onClose={close}>
          <RoleForm
            user={open.user}
            onDone={(role) => finish(s.roleChanged(open.user.username, s.roles[role] ?? role))}
          />
        </Dialog>
      )}
      {open?.kind === 'password' && (
        <Dialog open title={s.resetTitle(open.user.username)} onClose={close}>
          <PasswordForm user={open.user} onDone={() => finish(s.passwordReset(open.user.username))} />
        </Dialog>
      )}
      {open?.kind === 'remove' && (
        <ConfirmDialog
          open
          title={s.removeTitle(open.user.username)}
          confirmLabel={s.remove}
          onClose={close}
          onConfirm={async () => {
            await api.del(`/users/${seg(open.user.username)}`);
            setDone(s.removed(open.user.username));
            users.reload();
          }}
        >
          <p>{s.removeText}</p>
          {open.user.username === me.user.username && <Notice tone="warn">{s.selfWarning}</Notice>}
        </ConfirmDialog>
      )}
    </>
  );
}

/** The hub says "password must be at least 10 characters": that belongs next to the password field. */
function passwordError(form: Form<{ password: string }>): string | undefined {
  return form.errors.password ?? (form.errors['']?.startsWith('password') ? form.errors[''] : undefined);
}
function topError(form: Form<Record<string, unknown>>): string | undefined {
  const top = form.errors[''];
  return top && !top.startsWith('password') ? top : undefined;
}

function PasswordFields({
  form,
  label,
  mismatch,
}: {
  form: Form<{ password: string; confirm: string }>;
  label: string;
  mismatch: string | null;
}) {
  return (
    <PasswordPair
      label={label}
      hint={s.passwordHint}
      againLabel={s.confirm}
      password={form.values.password}
      again={form.values.confirm}
      onPassword={(value) => form.set('password', value)}
      onAgain={(value) => form.set('confirm', value)}
      passwordError={passwordError(form as never)}
      againError={mismatch}
    />
  );
}

/** Client-side checks before the hub is asked: the two passwords agree (the hub checks the length too). */
function checkPasswords(values: { password: string; confirm: string }): string | null {
  if (values.password !== values.confirm) return s.mismatch;
  return null;
}

function AddForm({ onDone }: { onDone: (username: string) => void }) {
  const form = useForm({ username: '', role: 'staff', password: '', confirm: '' });
  const [mismatch, setMismatch] = useState<string | null>(null);
  return (
    <form
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        const problem = checkPasswords(form.values);
        setMismatch(problem);
        if (problem) return;
        void form.submit(
          ({ username, role, password }) =>
            api.post<{ user: StaffUser }>('/users', { username: username.trim(), role, password }),
          (answer) => {
            form.reset();
            onDone(answer.user.username);
          },
        );
      }}
    >
      {topError(form as never) && <Notice tone="error">{topError(form as never)}</Notice>}
      <Field label={s.username} hint={s.usernameHint} error={form.errors.username}>
        {(p) => (
          <input
            {...p}
            required
            autoCapitalize="none"
            autoComplete="off"
            value={form.values.username}
            onInput={(e) => form.set('username', e.currentTarget.value)}
          />
        )}
      </Field>
      <RolePicker
        value={form.values.role}
        onPick={(role) => form.set('role', role)}
        error={form.errors.role}
      />
      <PasswordFields form={form as never} label={s.password} mismatch={mismatch} />
      <div class="dialog-actions">
        <Button type="submit" variant="primary" busy={form.busy}>
          {s.add}
        </Button>
      </div>
    </form>
  );
}

function RolePicker({
  value,
  onPick,
  error,
}: {
  value: string;
  onPick: (role: string) => void;
  error?: string | undefined;
}) {
  return (
    <Field label={s.role} hint={s.roleHelp[value]} error={error}>
      {(p) => (
        <select {...p} value={value} onChange={(e) => onPick(e.currentTarget.value)}>
          {ROLES.map((role) => (
            <option key={role} value={role}>
              {s.roles[role]}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

function RoleForm({ user, onDone }: { user: StaffUser; onDone: (role: string) => void }) {
  const form = useForm({ role: user.role });
  return (
    <form
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void form.submit(
          ({ role }) => api.put(`/users/${seg(user.username)}/role`, { role }),
          () => onDone(form.values.role),
        );
      }}
    >
      {form.errors[''] && <Notice tone="error">{form.errors['']}</Notice>}
      <RolePicker
        value={form.values.role}
        onPick={(role) => form.set('role', role)}
        error={form.errors.role}
      />
      <p class="field-hint">{s.changeRoleHint}</p>
      <div class="dialog-actions">
        <Button type="submit" variant="primary" busy={form.busy}>
          {s.saveRole}
        </Button>
      </div>
    </form>
  );
}

function PasswordForm({ user, onDone }: { user: StaffUser; onDone: () => void }) {
  const form = useForm({ password: '', confirm: '' });
  const [mismatch, setMismatch] = useState<string | null>(null);
  return (
    <form
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        const problem = checkPasswords(form.values);
        setMismatch(problem);
        if (problem) return;
        void form.submit(
          ({ password }) => api.put(`/users/${seg(user.username)}/password`, { password }),
          onDone,
        );
      }}
    >
      {topError(form as never) && <Notice tone="error">{topError(form as never)}</Notice>}
      <p class="field-hint">{s.resetHint}</p>
      <PasswordFields form={form} label={s.newPassword} mismatch={mismatch} />
      <div class="dialog-actions">
        <Button type="submit" variant="primary" busy={form.busy}>
          {s.resetPassword}
        </Button>
      </div>
    </form>
  );
}
