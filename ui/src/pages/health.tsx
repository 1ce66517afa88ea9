// The hub's own health at a glance (scenario 4 of docs/staff-guide.md): one card per part, each figure
// with one line saying what it means. GET /status and GET /keypads, every 10 s and on live events that
// move them.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useId, useState } from 'preact/hooks';
import { api, seg } from '../api.js';
import { Badge, Button, Notice, PageTitle, type Tone } from '../components/ui.js';
import { formatAgo, formatBytes, formatFull, formatWhen } from '../format.js';
import { useResource } from '../hooks.js';
import { t } from '../i18n/index.js';
import { useLive } from '../live.js';
import { mayOpenFlows, useMay, useSession } from '../session.js';
import type { HubEvent } from '../types.js';
import { ReasonDialog } from './doors/dialogs.js';
import { useFlash } from './doors/model.js';

interface HubStatus {
  version: string;
  uptimeS: number;
  devicesOnline?: number;
  mqttClients?: number;
  doorSync?: Array<{ doorId: string; stale: boolean; ackedVersion: number | null }>;
  mqtt?: { tcp?: number; tls?: number };
  doors?: Array<{ doorId: string }>;
  cloud?: {
    enabled?: boolean;
    state: string;
    connected?: boolean;
    since?: number | null;
    backlog?: number;
    oldestUnsentAt?: number | null;
    lastError?: string | null;
    nextAttemptAt?: number | null;
  };
  clock?: {
    ms: number;
    trusted: boolean;
    reason: string;
    systemMs: number;
    lastConfirmedAt: number | null;
    refusedSystemMs: number | null;
  } | null;
  disk?: { path: string; freeBytes: number; totalBytes: number; low: boolean } | null;
  /** The supervised Node-RED (absent on a hub without it). */
  nodeRed?: {
    state: string;
    pid: number | null;
    rssBytes: number | null;
    heapLimitMb?: number;
    restarts: number;
    since: number;
    lastExit: { at: number; code: number | null; signal: string | null; reason: string } | null;
    editor?: string;
  };
  /** Scheduled backups (absent on a hub without them). */
  backups?: {
    enabled: boolean;
    copyTo: string | null;
    everyHours: number;
    keep: number;
    lastSuccess: { at: number; file: string; bytes: number } | null;
    lastFailure: { at: number; error: string } | null;
    nextAt: number | null;
    overdue: boolean;
  };
  parts?: Record<string, string>;
}

interface Keypads {
  keypads: Array<{ keypad: string; since: number; failures: number }>;
  guessing?: Array<{ doorId: string; perDay: number; odds: string; overLimit: boolean }>;
}

const REFRESH_MS = 10_000;
// Live events after which the figures have moved: refresh at once instead of at the next tick.
const RELEVANT = /^(alarm\.|cloud\.|admin\.clock\.|admin\.keypad\.|admin\.code\.|admin\.credential\.)/;

export function HealthPage() {
  const may = useMay();
  const me = useSession();
  const status = useResource(() => api.get<HubStatus>('/status'), []);
  const keypads = useResource(
    () => (may('keypad.list') ? api.get<Keypads>('/keypads') : Promise.resolve<Keypads>({ keypads: [] })),
    [],
  );
  const doorNames = useResource(
    () =>
      may('door.list')
        ? api.get<{ doors: Array<{ id: string; name: string }> }>('/doors').then((r) => r.doors)
        : Promise.resolve([]),
    [],
  );
  const [updatedAt, setUpdatedAt] = useState(Date.now());
  const [accepting, setAccepting] = useState(false);
  const [done, setDone] = useFlash();

  const refresh = useCallback(() => {
    status.reload();
    keypads.reload();
    setUpdatedAt(Date.now());
  }, [status.reload, keypads.reload]);
  useEffect(() => {
    const timer = setInterval(refresh, REFRESH_MS);
    return () => clearInterval(timer);
  }, [refresh]);
  const onEvent = useCallback((e: HubEvent) => RELEVANT.test(e.type) && refresh(), [refresh]);
  useLive('event', onEvent);
  useLive('reset', refresh);

  const s = status.data;
  const nameOf = (id: string) => doorNames.data?.find((d) => d.id === id)?.name ?? id;

  return (
    <>
      <PageTitle
        actions={
          <Button variant="quiet" onClick={refresh} busy={status.loading && s !== null}>
            {t.health.refresh}
          </Button>
        }
      >
        {t.health.title}
      </PageTitle>
      <p class="muted health-intro">
        {t.health.intro} <span class="small">{t.health.updated(formatWhen(updatedAt))}</span>
      </p>
      {status.error && <Notice tone="error">{`${t.health.loadFailed} ${status.error.message}`}</Notice>}
      {done && <Notice tone="ok">{done}</Notice>}
      {s && (
        <div class="health-grid">
          <CloudCard cloud={s.cloud} />
          <ClockCard
            clock={s.clock ?? null}
            canAccept={may('clock.accept')}
            onAccept={() => setAccepting(true)}
          />
          <BrokerCard status={s} nameOf={nameOf} />
          {s.disk && <DiskCard disk={s.disk} />}
          {s.nodeRed && <NodeRedCard nodeRed={s.nodeRed} canOpen={mayOpenFlows(me)} />}
          {s.backups && <BackupsCard backups={s.backups} />}
          {may('keypad.list') && keypads.data && (
            <KeypadCard
              data={keypads.data}
              nameOf={nameOf}
              canEnable={may('keypad.enable')}
              onEnabled={() => {
                setDone(t.health.keypads.enabled);
                refresh();
              }}
            />
          )}
          <HubCard status={s} />
        </div>
      )}
      <ReasonDialog
        open={accepting}
        title={t.health.clock.acceptTitle}
        text={t.health.clock.acceptText(formatFull(Date.now()))}
        confirmLabel={t.health.clock.accept}
        withReason={false}
        onConfirm={() => api.post('/clock/accept', {})}
        onClose={() => setAccepting(false)}
        onDone={() => {
          setAccepting(false);
          setDone(t.health.clock.accepted);
          refresh();
        }}
      />
    </>
  );
}

/** A card with a verdict badge in its header. */
function HealthCard({
  title,
  tone,
  verdict,
  children,
}: {
  title: string;
  tone: Tone;
  verdict: string;
  children: ComponentChildren;
}) {
  const id = useId();
  return (
    <section class={`card health-card health-${tone}`} aria-labelledby={id}>
      <header class="card-header">
        <h2 id={id}>{title}</h2>
        <Badge tone={tone}>{verdict}</Badge>
      </header>
      {children}
    </section>
  );
}

/** One figure: its name, the value big, and a line saying what it means. */
function Figure({
  label,
  value,
  text,
}: {
  label: string;
  value: ComponentChildren;
  text?: string | undefined;
}) {
  return (
    <div class="figure">
      <dt>{label}</dt>
      <dd>
        <span class="figure-value">{value}</span>
        {text && <span class="figure-text">{text}</span>}
      </dd>
    </div>
  );
}

function CloudCard({ cloud }: { cloud: HubStatus['cloud'] }) {
  const c = t.health.cloud;
  if (!cloud || cloud.enabled === false || cloud.state === 'disabled') {
    return (
      <HealthCard title={c.title} tone="neutral" verdict={c.disabled}>
        <p class="small">{c.disabledText}</p>
      </HealthCard>
    );
  }
  const up = cloud.connected === true;
  const backlog = cloud.backlog ?? 0;
  return (
    <HealthCard title={c.title} tone={up ? 'ok' : 'warn'} verdict={up ? c.connected : c.down}>
      {cloud.since && <p class="small">{c.since(formatWhen(cloud.since), formatAgo(cloud.since))}</p>}
      {!up && <p class="small">{c.downText}</p>}
      <dl class="figures">
        <Figure label={c.backlog} value={t.health.count(backlog)} text={c.backlogText} />
        {cloud.oldestUnsentAt ? (
          <Figure label={c.oldest} value={formatAgo(cloud.oldestUnsentAt)} text={c.oldestText} />
        ) : null}
      </dl>
      {!up && cloud.lastError && (
        <details class="tech">
          <summary>{c.lastError}</summary>
          <p class="mono small">{cloud.lastError}</p>
          {cloud.nextAttemptAt && <p class="small">{c.nextAttempt(formatWhen(cloud.nextAttemptAt))}</p>}
        </details>
      )}
    </HealthCard>
  );
}

function ClockCard({
  clock,
  canAccept,
  onAccept,
}: {
  clock: HubStatus['clock'];
  canAccept: boolean;
  onAccept: () => void;
}) {
  const c = t.health.clock;
  if (!clock) return null;
  const refused = clock.refusedSystemMs !== null;
  return (
    <HealthCard
      title={c.title}
      tone={clock.trusted ? 'ok' : refused ? 'bad' : 'warn'}
      verdict={clock.trusted ? c.trusted : c.untrusted}
    >
      <p class="small">{c.reason[clock.reason] ?? clock.reason}</p>
      <dl class="figures">
        <Figure label={c.now} value={formatFull(clock.ms)} text={c.nowText} />
        {refused && (
          <Figure label={c.refused} value={formatFull(clock.refusedSystemMs!)} text={c.refusedText} />
        )}
        {!refused && (
          <Figure
            label={c.confirmed}
            value={clock.lastConfirmedAt ? formatAgo(clock.lastConfirmedAt) : c.never}
          />
        )}
      </dl>
      {refused && canAccept && (
        <Button variant="primary" onClick={onAccept}>
          {c.accept}
        </Button>
      )}
    </HealthCard>
  );
}

function BrokerCard({ status, nameOf }: { status: HubStatus; nameOf: (id: string) => string }) {
  const b = t.health.broker;
  const online = status.devicesOnline ?? 0;
  const stale = (status.doorSync ?? [])
    .filter((d) => d.stale || d.ackedVersion === null)
    .map((d) => nameOf(d.doorId));
  return (
    <HealthCard
      title={b.title}
      tone={stale.length > 0 ? 'warn' : 'neutral'}
      verdict={stale.length > 0 ? t.health.attention : t.health.info}
    >
      <dl class="figures">
        <Figure label={b.devices} value={t.health.count(online)} text={b.devicesText} />
        {status.mqttClients !== undefined && (
          <Figure label={b.clients} value={t.health.count(status.mqttClients)} text={b.clientsText} />
        )}
        {stale.length > 0 && <Figure label={b.stale} value={stale.join(', ')} text={b.staleText} />}
      </dl>
      {status.mqtt?.tls !== undefined && (
        <p class="small muted">
          {b.ports(status.mqtt.tcp ? String(status.mqtt.tcp) : '', String(status.mqtt.tls))}
        </p>
      )}
    </HealthCard>
  );
}

function DiskCard({ disk }: { disk: NonNullable<HubStatus['disk']> }) {
  const d = t.health.disk;
  const usedPct = disk.totalBytes > 0 ? Math.round(100 * (1 - disk.freeBytes / disk.totalBytes)) : 0;
  return (
    <HealthCard
      title={d.title}
      tone={disk.low ? 'bad' : 'ok'}
      verdict={disk.low ? t.health.attention : t.health.allGood}
    >
      <dl class="figures">
        <Figure
          label={d.free}
          value={formatBytes(disk.freeBytes)}
          text={d.freeText(formatBytes(disk.totalBytes))}
        />
      </dl>
      <div class={`meter${disk.low ? ' meter-low' : ''}`} aria-hidden="true">
        <span class="meter-fill" style={{ width: `${Math.min(100, usedPct)}%` }} />
      </div>
      <p class={`small${disk.low ? ' bad-text' : ''}`}>{disk.low ? d.low : d.ok}</p>
    </HealthCard>
  );
}

const NODE_RED_TONES: Record<string, Tone> = {
  running: 'ok',
  starting: 'neutral',
  disabled: 'neutral',
  unresponsive: 'warn',
  backoff: 'warn',
  stopped: 'warn',
};

/** Node-RED: the installers' flows. Never a door matter, so at worst "needs attention", never red. */
function NodeRedCard({ nodeRed, canOpen }: { nodeRed: NonNullable<HubStatus['nodeRed']>; canOpen: boolean }) {
  const n = t.health.nodeRed;
  if (nodeRed.state === 'disabled') {
    return (
      <HealthCard title={n.title} tone="neutral" verdict={n.state.disabled!}>
        <p class="small">{n.disabledText}</p>
      </HealthCard>
    );
  }
  const exit = nodeRed.lastExit;
  return (
    <HealthCard
      title={n.title}
      tone={NODE_RED_TONES[nodeRed.state] ?? 'warn'}
      verdict={n.state[nodeRed.state] ?? nodeRed.state}
    >
      <p class="small">{n.stateText[nodeRed.state] ?? n.doorsUnaffected}</p>
      <dl class="figures">
        {nodeRed.rssBytes !== null && (
          <Figure
            label={n.memory}
            value={formatBytes(nodeRed.rssBytes)}
            text={nodeRed.heapLimitMb ? n.memoryText(nodeRed.heapLimitMb) : undefined}
          />
        )}
        <Figure label={n.restarts} value={t.health.count(nodeRed.restarts)} text={n.restartsText} />
        {nodeRed.state === 'running' && (
          <Figure label={n.since} value={t.health.duration((Date.now() - nodeRed.since) / 1000)} />
        )}
        {exit && (
          <Figure
            label={n.lastExit}
            value={formatAgo(exit.at)}
            text={n.exitText(exit.reason, exit.code, exit.signal)}
          />
        )}
      </dl>
      {canOpen && nodeRed.state === 'running' && (
        <p>
          <a href={nodeRed.editor ?? '/flows/'} target="_blank" rel="noopener">
            {n.open}
          </a>
        </p>
      )}
    </HealthCard>
  );
}

/** Scheduled backups of the hub's data (docs/replace-a-hub.md). */
function BackupsCard({ backups }: { backups: NonNullable<HubStatus['backups']> }) {
  const b = t.health.backups;
  if (!backups.enabled) {
    return (
      <HealthCard title={b.title} tone="warn" verdict={b.off}>
        <p class="small">{b.offText}</p>
      </HealthCard>
    );
  }
  const { lastSuccess, lastFailure } = backups;
  const failedLast = lastFailure !== null && (lastSuccess === null || lastFailure.at > lastSuccess.at);
  const tone: Tone = backups.overdue ? 'bad' : failedLast ? 'warn' : 'ok';
  return (
    <HealthCard title={b.title} tone={tone} verdict={tone === 'ok' ? t.health.allGood : t.health.attention}>
      {backups.overdue && <p class="small bad-text">{b.overdue}</p>}
      <dl class="figures">
        <Figure
          label={b.last}
          value={lastSuccess ? formatAgo(lastSuccess.at) : b.never}
          text={lastSuccess ? b.lastText(formatBytes(lastSuccess.bytes)) : undefined}
        />
        {backups.nextAt !== null && <Figure label={b.next} value={formatWhen(backups.nextAt)} />}
        <Figure label={b.schedule} value={b.scheduleValue(backups.everyHours, backups.keep)} />
        {backups.copyTo && <Figure label={b.copyTo} value={backups.copyTo} text={b.copyToText} />}
      </dl>
      {failedLast && (
        <details class="tech">
          <summary>{b.failed(formatAgo(lastFailure!.at))}</summary>
          <p class="mono small">{lastFailure!.error}</p>
        </details>
      )}
    </HealthCard>
  );
}

function KeypadCard({
  data,
  nameOf,
  canEnable,
  onEnabled,
}: {
  data: Keypads;
  nameOf: (id: string) => string;
  canEnable: boolean;
  onEnabled: () => void;
}) {
  const k = t.health.keypads;
  const guessing = data.guessing ?? [];
  const over = guessing.some((g) => g.overLimit) || data.keypads.length > 0;
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const enable = async (keypad: string) => {
    const slash = keypad.indexOf('/');
    setBusy(keypad);
    setError(null);
    try {
      await api.post(`/keypads/${seg(keypad.slice(0, slash))}/${seg(keypad.slice(slash + 1))}/enable`, {});
      onEnabled();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(null);
    }
  };
  return (
    <HealthCard
      title={k.title}
      tone={over ? 'warn' : 'ok'}
      verdict={over ? t.health.attention : t.health.allGood}
    >
      {guessing.length > 0 && (
        <>
          <p class="small">{k.guessingText}</p>
          <ul class="list keypad-list" aria-label={k.guessing}>
            {guessing.map((g) => (
              <li key={g.doorId}>
                <div class="grow">
                  <strong>{nameOf(g.doorId)}</strong>
                  <div class={`small${g.overLimit ? ' bad-text' : ' muted'}`}>
                    {g.overLimit ? k.tooHigh : k.ok}
                  </div>
                </div>
                <Badge tone={g.overLimit ? 'bad' : 'ok'}>
                  {g.perDay > 0 ? k.perDay(g.odds) : k.noChance}
                </Badge>
              </li>
            ))}
          </ul>
        </>
      )}
      <h3 class="subhead">{k.disabled}</h3>
      {error && <Notice tone="error">{error}</Notice>}
      {data.keypads.length === 0 ? (
        <p class="small muted">{k.disabledNone}</p>
      ) : (
        <ul class="list">
          {data.keypads.map((kp) => {
            const [door = kp.keypad, reader = ''] = kp.keypad.split('/');
            return (
              <li key={kp.keypad}>
                <span class="grow small">
                  {k.disabledRow(nameOf(door), reader, formatWhen(kp.since), kp.failures)}
                </span>
                {canEnable && (
                  <Button busy={busy === kp.keypad} onClick={() => void enable(kp.keypad)}>
                    {k.enable}
                  </Button>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </HealthCard>
  );
}

function HubCard({ status }: { status: HubStatus }) {
  const h = t.health.hub;
  const parts = Object.entries(status.parts ?? {});
  const failed = parts.filter(([, state]) => state !== 'running').map(([name]) => name);
  return (
    <HealthCard
      title={h.title}
      tone={failed.length > 0 ? 'bad' : 'ok'}
      verdict={failed.length > 0 ? t.health.attention : t.health.allGood}
    >
      <dl class="figures figures-compact">
        <Figure label={h.version} value={status.version} />
        <Figure label={h.uptime} value={t.health.duration(status.uptimeS)} />
        <Figure label={h.doors} value={t.health.count(status.doors?.length ?? 0)} />
        {parts.length > 0 && (
          <Figure label={h.parts} value={h.partsText(parts.length - failed.length, parts.length)} />
        )}
      </dl>
      {failed.length > 0 && <p class="small bad-text">{h.failed(failed.join(', '))}</p>}
    </HealthCard>
  );
}
