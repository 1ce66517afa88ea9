// A system clock and a monotonic clock the test moves, as an operator or a dead RTC battery would.
export const T0 = Date.parse('2026-11-27T12:00:00Z');

export function fakeTime() {
  const t = { system: T0, mono: 1_000 };
  return {
    t,
    advance(ms: number) {
      t.system += ms;
      t.mono += ms;
    },
    systemNow: () => t.system,
    monotonicNow: () => t.mono,
  };
}
