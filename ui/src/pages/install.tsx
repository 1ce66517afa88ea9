// Installers: doors, LAN devices (door controllers and integrations) with their MQTT secret shown once
// (text and QR code) together with the hub's CA, and the wiring of doors wired to the hub itself.
import { useCallback, useState } from 'preact/hooks';
import { api, seg } from '../api.js';
import { Dialog } from '../components/dialog.js';
import { SelectField } from '../components/form-parts.js';
import { Badge, Button, Card, Empty, Field, Notice, PageTitle } from '../components/ui.js';
import { formatWhen } from '../format.js';
import { useForm, useResource } from '../hooks.js';
import { t } from '../i18n/index.js';
import { useLive } from '../live.js';
import { useMay } from '../session.js';
import type { Door, DoorStatus } from '../types.js';
import { ConfirmDialog } from './admin/parts.js';
import { type Issued, SecretDialog } from './admin/secret.js';

const s = t.install;
/** The hub's id rule, checked here too so the refusal is in words next to the field. */
const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

interface Device {
  id: string;
  role: 'door' | 'integration';
  doors: string[];
  createdAt: number;
}

/** A wired door's lines as the hub's config describes them (hardware.doors), when the hub shows them. */
interface WiredLine {
  gpio: number;
  activeLow?: boolean;
}
interface WiredHardware {
  lock: WiredLine;
  contact?: WiredLine;
  rex?: WiredLine;
  tamper?: WiredLine;
  fire?: WiredLine;
  readers?: Array<{ id: string; type: 'wiegand' | 'pn532'; d0?: number; d1?: number; path?: string }>;
  keypads?: Array<{ id: string; d0: number; d1: number }>;
}
type InstallDoor = Door & { hardware?: WiredHardware | null };

interface Status {
  mqtt?: { tcp?: number; tls?: number };
}

export function InstallPage() {
  const may = useMay();
  const doors = useResource(() => api.get<{ doors: InstallDoor[] }>('/doors').then((a) => a.doors), []);
  const devices = useResource(() => api.get<{ devices: Device[] }>('/devices').then((a) => a.devices), []);
  const status = useResource(() => api.get<Status>('/status'), []);
  const [dialog, setDialog] = useState<
    | null
    | { kind: 'addDoor' }
    | { kind: 'addDevice' }
    | { kind: 'removeDoor'; door: InstallDoor }
    | { kind: 'removeDevice'; device: Device }
    | { kind: 'rotate'; device: Device }
  >(null);
  const [issued, setIssued] = useState<Issued | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const onDoor = useCallback(
    (st: DoorStatus) =>
      doors.set((list) => list?.map((d) => (d.id === st.doorId ? { ...d, status: st } : d)) ?? null),
    [doors.set],
  );
  useLive('door', onDoor);

  const tlsPort = status.data?.mqtt?.tls ?? 8883;
  const doorName = (id: string) => doors.data?.find((d) => d.id === id)?.name ?? id;
  const close = () => setDialog(null);
  const reloadAll = () => {
    doors.reload();
    devices.reload();
  };

  return (
    <>
      <PageTitle
        actions={
          <>
            {may('door.add') && <Button onClick={() => setDialog({ kind: 'addDoor' })}>{s.addDoor}</Button>}
            {may('device.add') && (
              <Button variant="primary" onClick={() => setDialog({ kind: 'addDevice' })}>
                {s.addDevice}
              </Button>
            )}
          </>
        }
      >
        {s.title}
      </PageTitle>
      <p class="muted page-intro">{s.intro}</p>
      {done && <Notice tone="ok">{done}</Notice>}

      <div class="install-layout">
        <div>
          <Card title={s.doorsTitle}>
            {doors.error && <Notice tone="error">{doors.error.message}</Notice>}
            {doors.data && doors.data.length === 0 && <Empty>{s.noDoors}</Empty>}
            <ul class="list install-list">
              {doors.data?.map((door) => (
                <DoorRow
                  key={door.id}
                  door={door}
                  controllers={(devices.data ?? []).filter((d) => d.doors.includes(door.id))}
                  onRemove={may('door.remove') ? () => setDialog({ kind: 'removeDoor', door }) : null}
                />
              ))}
            </ul>
          </Card>

          <Card title={s.devicesTitle}>
            <p class="muted card-intro">{s.devicesIntro}</p>
            {devices.error && <Notice tone="error">{devices.error.message}</Notice>}
            {devices.data && devices.data.length === 0 && <Empty>{s.noDevices}</Empty>}
            <ul class="list install-list">
              {devices.data?.map((device) => (
                <li key={device.id} class="install-item">
                  <div class="grow">
                    <div class="install-name">
                      <span class="mono">{device.id}</span>
                      <Badge tone={device.role === 'door' ? 'info' : 'neutral'}>
                        {s.deviceRoleShort[device.role] ?? device.role}
                      </Badge>
                    </div>
                    <p class="install-meta">
                      {device.doors.length > 0
                        ? s.serves(device.doors.map(doorName).join(', '))
                        : s.servesNothing}
                      {' · '}
                      {s.added(formatWhen(device.createdAt))}
                    </p>
                  </div>
                  <div class="actions">
                    {may('device.rotate_secret') && (
                      <Button
                        aria-label={`${s.rotate} ${device.id}`}
                        onClick={() => setDialog({ kind: 'rotate', device })}
                      >
                        {s.rotate}
                      </Button>
                    )}
                    {may('device.remove') && (
                      <Button
                        variant="quiet"
                        class="danger-text"
                        aria-label={`${s.removeDevice} ${device.id}`}
                        onClick={() => setDialog({ kind: 'removeDevice', device })}
                      >
                        {s.removeDevice}
                      </Button>
                    )}
                  </div>
                </li>
              ))}
            </ul>
          </Card>
        </div>

        <aside>
          <Card title={s.needsTitle} class="install-needs">
            <dl class="needs">
              {s.needs(tlsPort).map(([what, why]) => (
                <div key={what}>
                  <dt>{what}</dt>
                  <dd>{why}</dd>
                </div>
              ))}
            </dl>
          </Card>
        </aside>
      </div>

      <Dialog open={dialog?.kind === 'addDoor'} title={s.addDoor} onClose={close}>
        <AddDoorForm
          onDone={(door) => {
            close();
            setDone(s.doorAdded(door.name));
            doors.reload();
          }}
        />
      </Dialog>

      <Dialog open={dialog?.kind === 'addDevice'} title={s.addDevice} onClose={close}>
        <AddDeviceForm
          doors={doors.data ?? []}
          onDone={(answer) => {
            close();
            setDone(null);
            setIssued(answer);
            devices.reload();
          }}
        />
      </Dialog>

      {dialog?.kind === 'removeDoor' && (
        <ConfirmDialog
          open
          title={s.removeDoorTitle(dialog.door.name)}
          confirmLabel={s.removeDoor}
          onClose={close}
          onConfirm={async () => {
            await api.del(`/doors/${seg(dialog.door.id)}`);
            setDone(s.doorRemoved(dialog.door.name));
            reloadAll();
          }}
        >
          <p>{s.removeDoorText}</p>
        </ConfirmDialog>
      )}

      {dialog?.kind === 'removeDevice' && (
        <ConfirmDialog
          open
          title={s.removeDeviceTitle(dialog.device.id)}
          confirmLabel={s.removeDevice}
          onClose={close}
          onConfirm={async () => {
            await api.del(`/devices/${seg(dialog.device.id)}`);
            setDone(s.deviceRemoved(dialog.device.id));
            devices.reload();
          }}
        >
          <p>{s.removeDeviceText}</p>
        </ConfirmDialog>
      )}

      {dialog?.kind === 'rotate' && (
        <ConfirmDialog
          open
          tone="primary"
          title={s.rotateTitle(dialog.device.id)}
          confirmLabel={s.rotateConfirm}
          onClose={close}
          onConfirm={async () => {
            const answer = await api.post<{ device: string; secret: string }>(
              `/devices/${seg(dialog.device.id)}/rotate-secret`,
            );
            setDone(null);
            setIssued({ deviceId: answer.device, secret: answer.secret });
          }}
        >
          <p>{s.rotateText}</p>
        </ConfirmDialog>
      )}

      {issued && <SecretDialog issued={issued} port={tlsPort} onClose={() => setIssued(null)} />}
    </>
  );
}

function DoorRow({
  door,
  controllers,
  onRemove,
}: {
  door: InstallDoor;
  controllers: Device[];
  onRemove: (() => void) | null;
}) {
  const st = door.status;
  return (
    <li class="install-item">
      <div class="grow">
        <div class="install-name">
          <strong>{door.name}</strong>
          {door.name !== door.id && <span class="mono muted">{door.id}</span>}
        </div>
        <div class="badges">
          <Badge tone="info">{s.transportShort[door.transport] ?? door.transport}</Badge>
          {st ? (
            <Badge tone={st.online ? 'ok' : 'bad'}>{st.online ? s.online : s.offline}</Badge>
          ) : (
            <Badge>{s.noStatus}</Badge>
          )}
          <Badge>{s.failModeShort[door.failMode] ?? door.failMode}</Badge>
          <Badge>{s.unlockFor(Math.round(door.unlockMs / 1000))}</Badge>
        </div>
        {door.transport === 'mqtt' && (
          <p class="install-meta">
            {s.servedBy}:{' '}
            {controllers.length > 0 ? (
              <span class="mono">{controllers.map((c) => c.id).join(', ')}</span>
            ) : (
              <span class="warn-text">{s.noController}</span>
            )}
          </p>
        )}
        {door.transport === 'wired' && <WiredLines door={door} />}
      </div>
      {onRemove && (
        <div class="actions">
          <Button
            variant="quiet"
            class="danger-text"
            aria-label={`${s.removeDoor} ${door.name}`}
            onClick={onRemove}
          >
            {s.removeDoor}
          </Button>
        </div>
      )}
    </li>
  );
}

function WiredLines({ door }: { door: InstallDoor }) {
  const hw = door.hardware;
  const readers = (door.status?.readers ?? []) as Array<{ id?: string; readerId?: string; state?: string }>;
  const lines: string[] = [];
  if (hw) {
    lines.push(s.lock(hw.lock.gpio, hw.lock.activeLow === true));
    for (const key of ['contact', 'rex', 'tamper', 'fire'] as const) {
      const line = hw[key];
      if (line) lines.push(s.line(s.lineNames[key] ?? key, line.gpio));
    }
    for (const r of hw.readers ?? []) {
      lines.push(r.type === 'pn532' ? s.pn532(r.id, r.path ?? '') : s.wiegand(r.id, r.d0 ?? 0, r.d1 ?? 0));
    }
    for (const k of hw.keypads ?? []) lines.push(s.keypad(k.id, k.d0, k.d1));
  }
  for (const r of readers) {
    if (r.state) lines.push(s.readerState(r.id ?? r.readerId ?? '?', r.state));
  }
  return (
    <div class="wiring">
      <span class="wiring-title">{s.hardware}</span>
      {lines.length > 0 ? (
        <ul>
          {lines.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ul>
      ) : (
        <p class="install-meta">{s.hardwareUnknown}</p>
      )}
    </div>
  );
}

function AddDoorForm({ onDone }: { onDone: (door: Door) => void }) {
  const form = useForm({
    id: '',
    name: '',
    transport: 'mqtt',
    failMode: 'secure',
    unlockS: '5',
    heldOpenS: '60',
  });
  const v = form.values;
  // Seconds here, milliseconds in the API: the range is checked here so the words match the field.
  const [ranges, setRanges] = useState<{ id?: string; unlockS?: string; heldOpenS?: string }>({});
  return (
    <form
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        const unlock = Number(v.unlockS);
        const held = Number(v.heldOpenS);
        const problems = {
          ...(ID.test(v.id.trim()) ? {} : { id: s.idRule }),
          ...(Number.isInteger(unlock) && unlock >= 1 && unlock <= 60 ? {} : { unlockS: s.unlockRange }),
          ...(Number.isInteger(held) && held >= 1 && held <= 3600 ? {} : { heldOpenS: s.heldOpenRange }),
        };
        setRanges(problems);
        if (Object.keys(problems).length > 0) return;
        void form.submit(
          (values) =>
            api
              .post<{ door: Door }>('/doors', {
                id: values.id.trim(),
                ...(values.name.trim() ? { name: values.name.trim() } : {}),
                transport: values.transport,
                failMode: values.failMode,
                unlockMs: Math.round(Number(values.unlockS) * 1000),
                heldOpenMs: Math.round(Number(values.heldOpenS) * 1000),
              })
              .then((a) => a.door),
          onDone,
        );
      }}
    >
      {form.errors[''] && <Notice tone="error">{form.errors['']}</Notice>}
      <Field label={s.doorName} hint={s.doorNameHint} error={form.errors.name}>
        {(p) => <input {...p} value={v.name} onInput={(e) => form.set('name', e.currentTarget.value)} />}
      </Field>
      <Field label={s.doorId} hint={s.doorIdHint} error={ranges.id ?? form.errors.id}>
        {(p) => (
          <input
            {...p}
            required
            autoCapitalize="none"
            value={v.id}
            onInput={(e) => form.set('id', e.currentTarget.value)}
          />
        )}
      </Field>
      <SelectField
        label={s.transport}
        hint={v.transport === 'wired' ? s.wiredHint : undefined}
        error={form.errors.transport}
        value={v.transport}
        options={s.transports}
        onChange={(value) => form.set('transport', value)}
      />
      <SelectField
        label={s.failMode}
        error={form.errors.failMode}
        value={v.failMode}
        options={s.failModes}
        onChange={(value) => form.set('failMode', value)}
      />
      <div class="row">
        <Field label={s.unlockSeconds} hint={s.unlockHint} error={ranges.unlockS ?? form.errors.unlockS}>
          {(p) => (
            <input
              {...p}
              type="number"
              min={1}
              step={1}
              inputMode="numeric"
              value={v.unlockS}
              onInput={(e) => form.set('unlockS', e.currentTarget.value)}
            />
          )}
        </Field>
        <Field
          label={s.heldOpenSeconds}
          hint={s.heldOpenHint}
          error={ranges.heldOpenS ?? form.errors.heldOpenS}
        >
          {(p) => (
            <input
              {...p}
              type="number"
              min={1}
              step={1}
              inputMode="numeric"
              value={v.heldOpenS}
              onInput={(e) => form.set('heldOpenS', e.currentTarget.value)}
            />
          )}
        </Field>
      </div>
      <div class="dialog-actions">
        <Button type="submit" variant="primary" busy={form.busy}>
          {s.addDoor}
        </Button>
      </div>
    </form>
  );
}

function AddDeviceForm({ doors, onDone }: { doors: Door[]; onDone: (issued: Issued) => void }) {
  const form = useForm({ id: '', role: 'door', doors: [] as string[] });
  const [pickError, setPickError] = useState<string | null>(null);
  const [idError, setIdError] = useState<string | null>(null);
  const v = form.values;
  const toggle = (id: string, on: boolean) =>
    form.set('doors', on ? [...v.doors, id] : v.doors.filter((d) => d !== id));
  return (
    <form
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        if (!ID.test(v.id.trim())) {
          setIdError(s.idRule);
          return;
        }
        setIdError(null);
        if (v.role === 'door' && v.doors.length === 0) {
          setPickError(doors.length === 0 ? s.noDoorsToServe : s.pickADoor);
          return;
        }
        setPickError(null);
        void form.submit(
          (values) =>
            api.post<{ device: { id: string }; secret: string }>('/devices', {
              id: values.id.trim(),
              role: values.role,
              doors: values.role === 'door' ? values.doors : [],
            }),
          (answer) => onDone({ deviceId: answer.device.id, secret: answer.secret }),
        );
      }}
    >
      {form.errors[''] && <Notice tone="error">{form.errors['']}</Notice>}
      <Field label={s.deviceId} hint={s.deviceIdHint} error={idError ?? form.errors.id}>
        {(p) => (
          <input
            {...p}
            required
            autoCapitalize="none"
            value={v.id}
            onInput={(e) => form.set('id', e.currentTarget.value)}
          />
        )}
      </Field>
      <SelectField
        label={s.deviceRole}
        hint={v.role === 'integration' ? s.integrationHint : undefined}
        error={form.errors.role}
        value={v.role}
        options={s.deviceRoles}
        onChange={(value) => form.set('role', value)}
      />
      {v.role === 'door' && (
        <fieldset class={`checks${pickError || form.errors.doors ? ' field-invalid' : ''}`}>
          <legend>{s.deviceDoors}</legend>
          <p class="field-hint">{s.deviceDoorsHint}</p>
          {doors.length === 0 && <p class="install-meta">{s.noDoorsToServe}</p>}
          {doors.map((door) => (
            <label key={door.id} class="check">
              <input
                type="checkbox"
                checked={v.doors.includes(door.id)}
                onChange={(e) => toggle(door.id, e.currentTarget.checked)}
              />
              <span>
                {door.name} <span class="mono muted">{door.id}</span>
              </span>
            </label>
          ))}
          {(pickError || form.errors.doors) && (
            <p class="field-error" role="alert">
              {pickError ?? form.errors.doors}
            </p>
          )}
        </fieldset>
      )}
      <div class="dialog-actions">
        <Button type="submit" variant="primary" busy={form.busy}>
          {s.addDevice}
        </Button>
      </div>
    </form>
  );
}
