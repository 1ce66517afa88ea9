// Reconnect delays: exponential, capped, with jitter so a fleet of hubs never reconnects in step.

/**
 * Delay before reconnect attempt `attempt` (0-based): a random value in
 * [minMs * 2^attempt, minMs * 2^(attempt+1)], both ends capped at maxMs (so [maxMs/2, maxMs] at the top).
 */
export function backoffDelay(
  attempt: number,
  minMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const low = Math.min(maxMs / 2, minMs * 2 ** Math.min(attempt, 40));
  const high = Math.min(maxMs, low * 2);
  return Math.max(minMs, Math.round(low + random() * (high - low)));
}
