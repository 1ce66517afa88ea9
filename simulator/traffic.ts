// The building's day: how many people arrive per simulated hour (morning and evening peaks), what
// each of them presents, and when the day's incidents happen. Seeded, so two runs see the same day.

export type Random = () => number;

/** mulberry32: small, fast, good enough to draw a day's traffic from a seed. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0 || 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Relative arrivals per hour of the day (0–23): quiet night, a morning peak at 8, lunch, an evening
 * peak at 18. Shaped after a residential building; only the shape matters, the total is scaled.
 */
const HOURLY_SHAPE = [
  0.15, 0.08, 0.05, 0.05, 0.08, 0.3, 1.2, 3.2, 4.0, 2.2, 1.2, 1.1, 1.5, 1.3, 1.0, 1.1, 1.7, 3.0, 3.6, 2.6,
  1.6, 1.0, 0.6, 0.3,
];
const SHAPE_SUM = HOURLY_SHAPE.reduce((a, b) => a + b, 0);

/** Arrivals per simulated second at simulated second-of-day `t`, linearly between hour centres. */
export function arrivalRate(secondOfDay: number, perDay: number): number {
  const hour = (((secondOfDay / 3600 - 0.5) % 24) + 24) % 24;
  const low = Math.floor(hour);
  const frac = hour - low;
  const shape = HOURLY_SHAPE[low]! * (1 - frac) + HOURLY_SHAPE[(low + 1) % 24]! * frac;
  return (perDay * shape) / SHAPE_SUM / 3600;
}

/** Poisson draw (Knuth for small means, normal approximation above 30). */
export function poisson(mean: number, random: Random): number {
  if (mean <= 0) return 0;
  if (mean > 30) {
    const u = 1 - random();
    const v = random();
    const normal = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * normal));
  }
  const limit = Math.exp(-mean);
  let k = 0;
  let p = random();
  while (p > limit) {
    k++;
    p *= random();
  }
  return k;
}

/** What one arrival at a door does. */
export type Passage =
  | { kind: 'card'; resident: number }
  | { kind: 'pin'; resident: number }
  | { kind: 'mobile'; resident: number }
  | { kind: 'unknown_card' }
  | { kind: 'wrong_pin' }
  | { kind: 'rex' };

/**
 * Mix of an ordinary day: a third of passages are people leaving by the exit button; the rest present
 * a card, a PIN or a phone; a few visitors try a card the building does not know or mistype a PIN.
 */
export function drawPassage(
  random: Random,
  residents: number,
  isMobileHolder: (resident: number) => boolean,
): Passage {
  const r = random();
  if (r < 0.3) return { kind: 'rex' };
  if (r < 0.31) return { kind: 'unknown_card' };
  if (r < 0.313) return { kind: 'wrong_pin' };
  const resident = Math.floor(random() * residents);
  const k = random();
  if (isMobileHolder(resident) && k < 0.5) return { kind: 'mobile', resident };
  return k < 0.8 ? { kind: 'card', resident } : { kind: 'pin', resident };
}

export type IncidentName =
  | 'held_open'
  | 'lost_card_revoked'
  | 'phone_logged_out'
  | 'dead_phone_daily_code'
  | 'one_time_code'
  | 'cloud_outage_start'
  | 'cloud_outage_end'
  | 'flood'
  | 'forced_open';

export interface Incident {
  name: IncidentName;
  /** Simulated seconds since the start of the run. */
  at: number;
}

/**
 * The day's incidents, as fractions of the run so a short run sees all of them: with a 24-hour run from
 * midnight the card is revoked at 10:48, the phone logged out at 12:00, the cloud is down 14:00–15:00
 * and the controller floods at 16:00.
 */
export function incidentTimeline(spanSeconds: number): Incident[] {
  const at = (fraction: number) => Math.round(spanSeconds * fraction);
  return [
    { name: 'held_open' as const, at: at(0.38) },
    { name: 'lost_card_revoked' as const, at: at(0.45) },
    { name: 'phone_logged_out' as const, at: at(0.5) },
    { name: 'dead_phone_daily_code' as const, at: at(0.54) },
    { name: 'one_time_code' as const, at: at(0.56) },
    { name: 'cloud_outage_start' as const, at: at(14 / 24) },
    { name: 'cloud_outage_end' as const, at: at(15 / 24) },
    { name: 'flood' as const, at: at(16 / 24) },
    { name: 'forced_open' as const, at: at(0.75) },
  ].sort((a, b) => a.at - b.at);
}
