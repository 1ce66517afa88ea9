// Sign-in, with the hub's certificate and how to trust it on each kind of device.
import { api } from '../api.js';
import { UsernameField, WelcomeCard } from '../components/form-parts.js';
import { Button, Field, Notice } from '../components/ui.js';
import { useForm } from '../hooks.js';
import { t } from '../i18n/index.js';
import type { Me } from '../types.js';

export function LoginPage({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const form = useForm({ username: '', password: '' });
  const s = t.login;
  return (
    <WelcomeCard title={s.title} intro={s.intro}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void form.submit(
            async (values) => {
              await api.post('/session', values);
              return api.get<Me>('/me');
            },
            (me) => onSignedIn({ user: me.user, may: me.may ?? [] }),
          );
        }}
      >
        {form.errors[''] && <Notice tone="error">{form.errors['']}</Notice>}
        <UsernameField
          label={s.username}
          value={form.values.username}
          error={form.errors.username}
          onInput={(value) => form.set('username', value)}
        />
        <Field label={s.password} error={form.errors.password}>
          {(props) => (
            <input
              {...props}
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={form.values.password}
              onInput={(e) => form.set('password', e.currentTarget.value)}
            />
          )}
        </Field>
        <Button type="submit" variant="primary" busy={form.busy} class="btn-block">
          {s.submit}
        </Button>
      </form>
      <details class="cert-help">
        <summary>{s.certificateTitle}</summary>
        <p>{s.certificateText}</p>
        <p>
          <a href="/ca.crt" download="gatehouse-hub-ca.crt">
            {s.certificateLink}
          </a>
        </p>
        <dl>
          {s.certificateSteps.map(([os, how]) => (
            <>
              <dt key={`${os}-t`}>{os}</dt>
              <dd key={`${os}-d`}>{how}</dd>
            </>
          ))}
        </dl>
      </details>
    </WelcomeCard>
  );
}
