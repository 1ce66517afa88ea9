// Pieces the admin pages share: a confirm dialog that shows the hub's refusal in its own words, and a
// copy button for text an installer types into a device.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { Dialog } from '../../components/dialog.js';
import { Button, Notice } from '../../components/ui.js';
import { asApiError } from '../../hooks.js';
import { t } from '../../i18n/index.js';

/**
 * "Are you sure?" for an action that cannot be undone. `onConfirm` runs the command; a refusal stays in
 * the dialog (e.g. "'alice' is the last admin: …") and the dialog closes only on success.
 */
export function ConfirmDialog({
  open,
  title,
  confirmLabel,
  tone = 'danger',
  onConfirm,
  onClose,
  children,
}: {
  open: boolean;
  title: string;
  confirmLabel: string;
  tone?: 'danger' | 'primary';
  onConfirm: () => Promise<void>;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const close = () => {
    setError(null);
    onClose();
  };
  return (
    <Dialog open={open} title={title} onClose={close}>
      <div class="confirm-text">{children}</div>
      {error && <Notice tone="error">{error}</Notice>}
      <div class="dialog-actions">
        <Button onClick={close}>{t.common.cancel}</Button>
        <Button
          variant={tone}
          busy={busy}
          onClick={async () => {
            setBusy(true);
            setError(null);
            try {
              await onConfirm();
              setBusy(false);
              onClose();
            } catch (err) {
              setBusy(false);
              setError(asApiError(err).message);
            }
          }}
        >
          {confirmLabel}
        </Button>
      </div>
    </Dialog>
  );
}

/** Copies `text`; where the browser refuses (no secure context), says to select and copy by hand. */
export function CopyButton({ text, what }: { text: string; what: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const s = t.install;
  return (
    <Button
      variant="secondary"
      class="copy-btn"
      aria-label={s.copyWhat(what)}
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setState('copied');
        } catch {
          setState('failed');
        }
        setTimeout(() => setState('idle'), 2500);
      }}
    >
      <span aria-live="polite">
        {state === 'copied' ? s.copied : state === 'failed' ? s.copyFailed : s.copy}
      </span>
    </Button>
  );
}
