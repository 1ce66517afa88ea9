// Form pieces that several pages share: a new password typed twice, an optional reason, and a dialog's
// confirm + cancel buttons. Labels and hints come from the page (all text lives in i18n).
import type { ComponentChildren } from 'preact';
import { t } from '../i18n/index.js';
import { Button, Field } from './ui.js';

/** The page a person sees before signing in (sign-in, first-run setup): the product's name and a card. */
export function WelcomeCard({
  title,
  intro,
  children,
}: {
  title: string;
  intro: string;
  children: ComponentChildren;
}) {
  return (
    <div class="login">
      <main id="main" class="login-card">
        <div class="brand brand-large">
          <span class="brand-mark" aria-hidden="true" />
          {t.common.product}
        </div>
        <h1>{title}</h1>
        <p class="muted">{intro}</p>
        {children}
      </main>
    </div>
  );
}

/** A staff account's username, as password managers expect it. */
export function UsernameField({
  label,
  hint,
  value,
  error,
  onInput,
}: {
  label: string;
  hint?: string | undefined;
  value: string;
  error?: string | null | undefined;
  onInput: (value: string) => void;
}) {
  return (
    <Field label={label} hint={hint} error={error}>
      {(p) => (
        <input
          {...p}
          name="username"
          autoComplete="username"
          autoCapitalize="none"
          required
          value={value}
          onInput={(e) => onInput(e.currentTarget.value)}
        />
      )}
    </Field>
  );
}

/** A new password and the same again (the two must agree before the hub is asked). */
export function PasswordPair({
  label,
  hint,
  againLabel,
  password,
  again,
  onPassword,
  onAgain,
  passwordError,
  againError,
}: {
  label: string;
  hint?: string | undefined;
  againLabel: string;
  password: string;
  again: string;
  onPassword: (value: string) => void;
  onAgain: (value: string) => void;
  passwordError?: string | null | undefined;
  againError?: string | null | undefined;
}) {
  return (
    <>
      <Field label={label} hint={hint} error={passwordError}>
        {(p) => (
          <input
            {...p}
            name="password"
            type="password"
            autoComplete="new-password"
            required
            value={password}
            onInput={(e) => onPassword(e.currentTarget.value)}
          />
        )}
      </Field>
      <Field label={againLabel} error={againError}>
        {(p) => (
          <input
            {...p}
            name="password-again"
            type="password"
            autoComplete="new-password"
            required
            value={again}
            onInput={(e) => onAgain(e.currentTarget.value)}
          />
        )}
      </Field>
    </>
  );
}

/** One choice from a fixed list: `options` maps each value to what the person reads. */
export function SelectField({
  label,
  hint,
  error,
  value,
  options,
  onChange,
}: {
  label: string;
  hint?: string | undefined;
  error?: string | null | undefined;
  value: string;
  options: Readonly<Record<string, string>>;
  onChange: (value: string) => void;
}) {
  return (
    <Field label={label} hint={hint} error={error}>
      {(p) => (
        <select {...p} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
          {Object.entries(options).map(([optionValue, optionLabel]) => (
            <option key={optionValue} value={optionValue}>
              {optionLabel}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

/** The reason a person gives for a change; it goes into the audit log (at most 200 characters). */
export function ReasonField({
  label,
  hint,
  value,
  error,
  onInput,
}: {
  label: string;
  hint?: string | undefined;
  value: string;
  error?: string | null | undefined;
  onInput: (value: string) => void;
}) {
  return (
    <Field label={label} hint={hint} error={error}>
      {(p) => <input {...p} maxLength={200} value={value} onInput={(e) => onInput(e.currentTarget.value)} />}
    </Field>
  );
}

/** A dialog form's buttons: the action (submits the form), then Cancel. */
export function SubmitOrCancel({
  variant = 'primary',
  busy,
  onCancel,
  children,
}: {
  variant?: 'primary' | 'danger';
  busy: boolean;
  onCancel: () => void;
  children: ComponentChildren;
}) {
  return (
    <div class="actions">
      <Button type="submit" variant={variant} busy={busy}>
        {children}
      </Button>
      <Button variant="quiet" onClick={onCancel}>
        {t.common.cancel}
      </Button>
    </div>
  );
}
