// The time a door controller and its I/O run on, injected so tests can use fake timers or short real
// timings. Its own module so controller.ts and io.ts both depend on it and not on each other.

export type TimerHandle = ReturnType<typeof setTimeout>;

export interface DoorClock {
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Calls the globals at call time, so vitest fake timers apply. */
export const systemClock: DoorClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle),
};
