// "Add a card": type its number, or hold it to a reader while the page waits ("Waiting for a card at
// Front entrance…", POST /doors/:id/capture-card, asked again until a card comes, Cancel, or a minute).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, seg } from '../../api.js';
import { Dialog } from '../../components/dialog.js';
import { Button, Field, Notice } from '../../components/ui.js';
import { asApiError, useForm } from '../../hooks.js';
import { t } from '../../i18n/index.js';
import type { Door } from '../../types.js';
import type { Credential } from './model.js';

/** One ask waits this long at the hub; the page asks again until WAIT_TOTAL_MS have passed. */
const CAPTURE_TIMEOUT_S = 20;
const WAIT_TOTAL_MS = 60_000;

type Capture =
  | { state: 'idle' }
  | { state: 'waiting'; door: Door }
  | { state: 'read'; door: Door }
  | { state: 'failed'; message: string };

export function CardDialog({
  open,
  personId,
  doors,
  preferredDoorId,
  onClose,
  onAdded,
}: {
  open: boolean;
  personId: string;
  doors: Door[];
  /** The reader to offer first: a door the person normally uses (they are likely standing there). */
  preferredDoorId?: string | undefined;
  onClose: () => void;
  onAdded: (c: Credential) => void;
}) {
  const s = t.people.card;
  const form = useForm({ card: '' });
  const [readerDoor, setReaderDoor] = useState('');
  const [capture, setCapture] = useState<Capture>({ state: 'idle' });
  // A new wait, a Cancel or a close makes every older wait's answer void and aborts its request: the hub
  // stops the capture when its client goes, so a card shown afterwards is not read into this form.
  const generation = useRef(0);
  const pending = useRef<AbortController | null>(null);
  const abandonWait = () => {
    generation.current++;
    pending.current?.abort();
    pending.current = null;
  };
  const cardInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (!open) return;
    form.reset();
    setCapture({ state: 'idle' });
    setReaderDoor((current) => current || preferredDoorId || doors[0]?.id || '');
    setTimeout(() => cardInput.current?.focus(), 0);
    return abandonWait; // closed or unmounted
  }, [open]);
  useEffect(() => {
    if (!readerDoor && doors[0]) setReaderDoor(preferredDoorId ?? doors[0].id);
  }, [doors.length, preferredDoorId]);

  const stopWaiting = () => {
    abandonWait();
    setCapture({ state: 'idle' });
  };
  const close = () => {
    abandonWait();
    onClose();
  };

  const waitForCard = async () => {
    const door = doors.find((d) => d.id === readerDoor);
    if (!door) return;
    abandonWait();
    const mine = generation.current;
    const controller = new AbortController();
    pending.current = controller;
    setCapture({ state: 'waiting', door });
    const until = Date.now() + WAIT_TOTAL_MS;
    while (mine === generation.current) {
      try {
        const answer = await api.post<{ card: string }>(
          `/doors/${seg(door.id)}/capture-card`,
          { timeoutS: CAPTURE_TIMEOUT_S },
          { signal: controller.signal },
        );
        if (mine !== generation.current) return;
        pending.current = null;
        form.set('card', answer.card);
        setCapture({ state: 'read', door });
        cardInput.current?.focus();
        return;
      } catch (err) {
        if (mine !== generation.current) return;
        const refusal = asApiError(err);
        // "No card within N s" is the normal answer while the person looks for their card: ask again.
        const nothingYet = refusal.code === 'refused' || refusal.status === 408 || refusal.status === 422;
        if (!nothingYet) {
          setCapture({ state: 'failed', message: refusal.message });
          return;
        }
        if (Date.now() >= until) {
          setCapture({ state: 'failed', message: s.gaveUp });
          return;
        }
      }
    }
  };

  const waiting = capture.state === 'waiting';
  return (
    <Dialog open={open} title={s.title} onClose={close}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          stopWaiting();
          void form.submit(
            (v) => api.post<{ credential: Credential }>('/credentials', { personId, card: v.card.trim() }),
            (answer) => {
              form.reset();
              onAdded(answer.credential);
            },
          );
        }}
      >
        {/* Every refusal of this form is about the card number: it goes next to it, what was typed stays. */}
        <Field label={s.number} hint={s.numberHint} error={form.errors.card ?? form.errors['']}>
          {(props) => (
            <input
              {...props}
              ref={cardInput}
              class="card-number mono"
              autoComplete="off"
              autoCapitalize="characters"
              spellcheck={false}
              required
              value={form.values.card}
              onInput={(e) => form.set('card', e.currentTarget.value)}
            />
          )}
        </Field>
        <div class="capture">
          {doors.length === 0 ? (
            <p class="muted">{s.noDoors}</p>
          ) : (
            <div class="row">
              <Field label={s.reader}>
                {(props) => (
                  <select
                    {...props}
                    value={readerDoor}
                    disabled={waiting}
                    onChange={(e) => setReaderDoor(e.currentTarget.value)}
                  >
                    {doors.map((d) => (
                      <option key={d.id} value={d.id}>
                        {d.name}
                      </option>
                    ))}
                  </select>
                )}
              </Field>
              <div class="field capture-button">
                {waiting ? (
                  <Button variant="secondary" onClick={stopWaiting}>
                    {t.common.cancel}
                  </Button>
                ) : (
                  <Button variant="secondary" onClick={() => void waitForCard()}>
                    {s.present}
                  </Button>
                )}
              </div>
            </div>
          )}
          {capture.state === 'waiting' && (
            <div class="capture-waiting" role="status">
              <span class="spinner" aria-hidden="true" />
              <span>
                <strong>{s.waiting(capture.door.name)}</strong>
                <span class="muted small">{s.waitingHint}</span>
              </span>
            </div>
          )}
          {capture.state === 'read' && <Notice tone="ok">{s.read(capture.door.name)}</Notice>}
          {capture.state === 'failed' && <Notice tone="warn">{capture.message}</Notice>}
        </div>
        <div class="actions">
          <Button type="submit" variant="primary" busy={form.busy} class="btn-large">
            {s.save}
          </Button>
          <Button variant="quiet" onClick={close}>
            {t.common.cancel}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
