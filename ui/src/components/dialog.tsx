// A modal dialog on the native <dialog> element: focus is trapped and Escape closes it, as browsers do.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { t } from '../i18n/index.js';

export function Dialog({
  open,
  title,
  onClose,
  children,
}: {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} class="dialog" aria-label={title} onClose={onClose}>
      <header class="dialog-header">
        <h2>{title}</h2>
        <button
          type="button"
          class="btn btn-quiet dialog-close"
          onClick={onClose}
          aria-label={t.common.close}
        >
          ×
        </button>
      </header>
      {open && <div class="dialog-body">{children}</div>}
    </dialog>
  );
}
