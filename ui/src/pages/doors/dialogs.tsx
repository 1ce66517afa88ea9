// The confirmations the door pages share: an action with a reason for the log (unlock, a mode change,
// every door at once) and acknowledging an alarm with a note. A refusal stays in the dialog, in the
// hub's words, with what was typed.
import type { ComponentChildren } from 'preact';
import { Dialog } from '../../components/dialog.js';
import { Button, Field, Notice } from '../../components/ui.js';
import { useForm } from '../../hooks.js';
import { t } from '../../i18n/index.js';
import { type Alarm, acknowledgeAlarm, alarmLabel } from './model.js';

export function ReasonDialog({
  open,
  title,
  text,
  confirmLabel,
  danger = false,
  withReason = true,
  onConfirm,
  onClose,
  onDone,
  children,
}: {
  open: boolean;
  title: string;
  text: string;
  confirmLabel: string;
  danger?: boolean;
  /** False for a confirmation whose command takes no reason. */
  withReason?: boolean;
  onConfirm: (reason: string) => Promise<unknown>;
  onClose: () => void;
  onDone: () => void;
  children?: ComponentChildren;
}) {
  const form = useForm({ reason: '' });
  const close = () => {
    form.reset();
    onClose();
  };
  return (
    <Dialog open={open} title={title} onClose={close}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void form.submit(
            (values) => onConfirm(values.reason),
            () => {
              form.reset();
              onDone();
            },
          );
        }}
      >
        <p class="dialog-text">{text}</p>
        {children}
        {form.errors[''] && <Notice tone="error">{form.errors['']}</Notice>}
        {withReason && (
          <Field label={t.doors.reason} hint={t.doors.reasonHint} error={form.errors.reason}>
            {(props) => (
              <input
                {...props}
                name="reason"
                maxLength={200}
                autoComplete="off"
                value={form.values.reason}
                onInput={(e) => form.set('reason', e.currentTarget.value)}
              />
            )}
          </Field>
        )}
        <div class="actions dialog-actions">
          <Button onClick={close}>{t.common.cancel}</Button>
          <Button type="submit" variant={danger ? 'danger' : 'primary'} busy={form.busy}>
            {confirmLabel}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

export function AckDialog({
  alarm,
  doorName,
  onClose,
  onDone,
}: {
  alarm: Alarm | null;
  doorName: string;
  onClose: () => void;
  onDone: () => void;
}) {
  const form = useForm({ note: '' });
  const close = () => {
    form.reset();
    onClose();
  };
  return (
    <Dialog open={alarm !== null} title={t.doors.acknowledgeTitle} onClose={close}>
      {alarm && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void form.submit(
              (values) => acknowledgeAlarm(alarm.seq, values.note),
              () => {
                form.reset();
                onDone();
              },
            );
          }}
        >
          <p class="dialog-text">
            <strong>{t.doors.alarmAt(alarmLabel(alarm.type), doorName)}</strong>
          </p>
          {form.errors[''] && <Notice tone="error">{form.errors['']}</Notice>}
          <Field label={t.doors.acknowledgeNote} hint={t.doors.acknowledgeNoteHint} error={form.errors.note}>
            {(props) => (
              <textarea
                {...props}
                name="note"
                rows={2}
                maxLength={200}
                value={form.values.note}
                onInput={(e) => form.set('note', e.currentTarget.value)}
              />
            )}
          </Field>
          <div class="actions dialog-actions">
            <Button onClick={close}>{t.common.cancel}</Button>
            <Button type="submit" variant="primary" busy={form.busy}>
              {t.doors.acknowledgeSubmit}
            </Button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
