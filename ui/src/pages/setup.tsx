// First run: the hub printed a one-time link (https://host:port/setup#<token>) on its console and in its
// log. Opening it creates the first admin; there is no default password, ever. The token lives in the
// hash so it never reaches a server log or a Referer, and it leaves the address bar as soon as it is read.
import { useState } from 'preact/hooks';
import { type ApiError, api } from '../api.js';
import { PasswordPair, UsernameField, WelcomeCard } from '../components/form-parts.js';
import { Button, Notice } from '../components/ui.js';
import { asApiError } from '../hooks.js';
import { t } from '../i18n/index.js';

/** Reads the token from the hash once per page load, then removes it from the address bar and history. */
function takeToken(): string {
  const token = decodeURIComponent(location.hash.replace(/^#/, '')).trim();
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  return token;
}

type Errors = { username?: string; password?: string; again?: string; top?: string };

export function SetupPage() {
  const s = t.login;
  const [token] = useState(takeToken);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [outcome, setOutcome] = useState<'forbidden' | 'done' | 'created' | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (password !== again) {
      setErrors({ again: s.setupMismatch });
      return;
    }
    setBusy(true);
    setErrors({});
    setOutcome(null);
    try {
      await api.post('/setup', { username, password, ...(token ? { setupToken: token } : {}) });
      setOutcome('created');
      await api.post('/session', { username, password });
      // A full load: the app starts again signed in, with the new admin's session and live stream.
      location.assign('/');
    } catch (err) {
      setBusy(false);
      const refusal = asApiError(err);
      if (refusal.status === 403) setOutcome('forbidden');
      else if (refusal.status === 409) setOutcome('done');
      else setErrors(placeRefusal(refusal));
    }
  };

  return (
    <WelcomeCard title={s.setupTitle} intro={s.setupIntro}>
      {!token && outcome === null && <Notice tone="warn">{s.setupNoToken}</Notice>}
      {outcome === 'forbidden' && <Notice tone="error">{s.setupForbidden}</Notice>}
      {outcome === 'created' && <Notice tone="ok">{s.setupCreated}</Notice>}
      {outcome === 'done' ? (
        <>
          <Notice tone="info">{s.setupDone}</Notice>
          <a class="btn btn-primary btn-block" href="/login">
            {s.setupSignIn}
          </a>
        </>
      ) : (
        <form onSubmit={submit} noValidate>
          {errors.top && <Notice tone="error">{errors.top}</Notice>}
          <UsernameField
            label={s.setupUsername}
            hint={s.setupUsernameHint}
            value={username}
            error={errors.username}
            onInput={setUsername}
          />
          <PasswordPair
            label={s.setupPassword}
            hint={s.setupPasswordHint}
            againLabel={s.setupPasswordAgain}
            password={password}
            again={again}
            onPassword={setPassword}
            onAgain={setAgain}
            passwordError={errors.password}
            againError={errors.again}
          />
          <Button type="submit" variant="primary" busy={busy} class="btn-block">
            {s.setupSubmit}
          </Button>
        </form>
      )}
    </WelcomeCard>
  );
}

/** The hub says "password must be at least 10 characters": that belongs next to the password field. */
function placeRefusal(refusal: ApiError): Errors {
  const message = refusal.message;
  const text = `${message.charAt(0).toUpperCase()}${message.slice(1)}${/[.!?]$/.test(message) ? '' : '.'}`;
  if (refusal.field === 'password' || /^password|password must/i.test(message)) return { password: text };
  if (refusal.field === 'username' || /^username|username must/i.test(message)) return { username: text };
  return { top: text };
}
