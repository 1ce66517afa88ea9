// The lifecycle that runs the hub's parts (hub/parts.ts): start in order, stop in reverse, a failed start
// undone, stop deadlines, one logger name per part, status collected from every part.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../hub/logger.js';
import { Held, Lifecycle, type Part, type PartContext } from '../hub/parts.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: createLogger('debug', sink), lines, raw };
}

/** A part that records what happens to it in `log` ("start a", "stop a"). */
function recording(
  name: string,
  log: string[],
  behaviour: {
    failStart?: boolean;
    failStop?: boolean;
    hangStop?: boolean;
    stopDeadlineMs?: number;
    startDelayMs?: number;
  } = {},
): Part & { ctx: PartContext | null } {
  return {
    name,
    ctx: null,
    ...(behaviour.stopDeadlineMs === undefined ? {} : { stopDeadlineMs: behaviour.stopDeadlineMs }),
    async start(ctx) {
      this.ctx = ctx;
      log.push(`start ${name}`);
      ctx.logger.info('hello');
      if (behaviour.startDelayMs) await new Promise((r) => setTimeout(r, behaviour.startDelayMs));
      if (behaviour.failStart) throw new Error(`${name} cannot start`);
    },
    async stop() {
      log.push(`stop ${name}`);
      if (behaviour.hangStop) await new Promise(() => undefined);
      if (behaviour.failStop) throw new Error(`${name} cannot stop`);
    },
    status: () => ({ [name]: 'fine' }),
  };
}

describe('the lifecycle of the parts', () => {
  it('starts parts in order and stops them in reverse', async () => {
    const log: string[] = [];
    const { logger } = capture();
    const life = new Lifecycle(
      ['a', 'b', 'c'].map((n) => recording(n, log)),
      logger,
    );
    await life.start();
    await life.stop();
    expect(log).toEqual(['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  });

  it("names each part's logger once", async () => {
    const { logger, lines, raw } = capture();
    const life = new Lifecycle([recording('doors', []), recording('broker', [])], logger);
    await life.start();
    await life.stop();
    const hellos = lines.filter((l) => l.msg === 'hello');
    expect(hellos.map((l) => l.part)).toEqual(['doors', 'broker']);
    for (const line of raw) expect(line.match(/"part":/g)?.length ?? 0).toBeLessThanOrEqual(1);
  });

  it('stops the parts already started, in reverse, when one fails to start', async () => {
    const log: string[] = [];
    const { logger, lines } = capture();
    const parts = [
      recording('store', log),
      recording('doors', log),
      recording('broker', log, { failStart: true }),
      recording('http', log),
    ];
    const life = new Lifecycle(parts, logger);
    await expect(life.start()).rejects.toThrow('broker cannot start');
    // The failing part is stopped too: it may have opened a port before it failed.
    expect(log).toEqual([
      'start store',
      'start doors',
      'start broker',
      'stop broker',
      'stop doors',
      'stop store',
    ]);
    expect(life.status().parts).toEqual({
      store: 'stopped',
      doors: 'stopped',
      broker: 'failed',
      http: 'stopped',
    });
    expect(lines.find((l) => l.level === 50)).toMatchObject({
      part: 'broker',
      msg: expect.stringMatching(/could not start/),
    });
    // Stopping the hub afterwards (main.ts does) stops nothing twice.
    await life.stop();
    expect(log).toHaveLength(6);
  });

  it('goes on with the next part when one does not stop within its deadline', async () => {
    const log: string[] = [];
    const { logger, lines } = capture();
    const life = new Lifecycle(
      [recording('store', log), recording('cloud', log, { hangStop: true, stopDeadlineMs: 100 })],
      logger,
    );
    await life.start();
    await life.stop();
    expect(log).toEqual(['start store', 'start cloud', 'stop cloud', 'stop store']);
    expect(lines.find((l) => l.level === 40)).toMatchObject({ part: 'cloud', deadlineMs: 100 });
  });

  it('keeps the whole stop within the budget it is given, the last parts still getting their turn', async () => {
    const log: string[] = [];
    const { logger } = capture();
    const life = new Lifecycle(
      [
        recording('store', log),
        recording('doors', log),
        recording('http', log, { hangStop: true, stopDeadlineMs: 3_600_000 }),
      ],
      logger,
    );
    await life.start();
    await life.stop({ deadlineMs: 200 }); // without the budget this would wait an hour (test timeout)
    expect(log.slice(-3)).toEqual(['stop http', 'stop doors', 'stop store']);
  });

  it('stops every part even when one fails to stop, then reports the error', async () => {
    const log: string[] = [];
    const { logger } = capture();
    const life = new Lifecycle(
      [recording('store', log), recording('broker', log, { failStop: true }), recording('http', log)],
      logger,
    );
    await life.start();
    await expect(life.stop()).rejects.toThrow('broker cannot stop');
    expect(log.slice(-3)).toEqual(['stop http', 'stop broker', 'stop store']);
    expect(life.status().parts).toEqual({ store: 'stopped', broker: 'stopped', http: 'stopped' });
  });

  it('a stop during start lets the starting part finish, then stops it and those before it', async () => {
    const log: string[] = [];
    const { logger } = capture();
    const life = new Lifecycle(
      [
        recording('store', log),
        recording('certificates', log, { startDelayMs: 200 }),
        recording('http', log),
      ],
      logger,
    );
    const starting = life.start();
    await new Promise((r) => setTimeout(r, 20));
    const stopped = life.stop();
    await expect(starting).rejects.toThrow(/stopped while it was starting/);
    await stopped;
    expect(log).toEqual(['start store', 'start certificates', 'stop certificates', 'stop store']);
    expect(life.status().parts).toEqual({ store: 'stopped', certificates: 'stopped', http: 'stopped' });
  });

  it("collects every part's status and the state of each part", async () => {
    const { logger } = capture();
    const broken: Part = {
      name: 'broken',
      start: () => undefined,
      stop: () => undefined,
      status: () => {
        throw new Error('cannot say');
      },
    };
    const life = new Lifecycle([recording('a', []), broken, recording('b', [])], logger);
    expect(life.status()).toEqual({
      a: 'fine',
      b: 'fine',
      parts: { a: 'stopped', broken: 'stopped', b: 'stopped' },
    });
    await life.start();
    expect(life.status()).toEqual({
      a: 'fine',
      b: 'fine',
      parts: { a: 'running', broken: 'running', b: 'running' },
    });
  });

  it('refuses two parts with the same name', () => {
    const { logger } = capture();
    expect(() => new Lifecycle([recording('a', []), recording('a', [])], logger)).toThrow(
      /two parts are named 'a'/,
    );
  });

  it('a held part gives its object only while it runs, and is stopped with it after a half start', async () => {
    const events: string[] = [];
    const held = new Held<{ id: number }>('thing', {
      build: () => ({ id: 7 }),
      start: () => {
        events.push('start');
        throw new Error('port in use');
      },
      stop: (value) => {
        events.push(`stop ${value.id}`);
      },
      status: (value) => ({ thing: value?.id ?? null }),
    });
    expect(() => held.get()).toThrow('hub is not started');
    const { logger } = capture();
    await expect(new Lifecycle([held], logger).start()).rejects.toThrow('port in use');
    expect(events).toEqual(['start', 'stop 7']);
    expect(held.current).toBeNull();
    expect(held.status()).toEqual({ thing: null });
  });
});
