// Scraping /metrics over real HTTP(S) and reading samples out of the parsed text format.
import parsePrometheusTextFormat, { type Family, type Sample } from 'parse-prometheus-text-format';
import { type RawResponse, rawRequest } from '../http/raw.js';

export type { Family, Sample };

export interface Scrape {
  response: RawResponse;
  families: Family[];
}

export async function scrape(
  port: number,
  token: string,
  options: { ca?: string; from?: string } = {},
): Promise<Scrape> {
  const response = await rawRequest(port, '/metrics', {
    headers: { authorization: `Bearer ${token}` },
    ...options,
  });
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}: ${response.text}`);
  return { response, families: parsePrometheusTextFormat(response.text) };
}

export function family(s: Scrape, name: string): Family | undefined {
  return s.families.find((f) => f.name === name);
}

/** The sample of `name` whose labels include `labels`; undefined when there is none. */
export function sample(s: Scrape, name: string, labels: Record<string, string> = {}): Sample | undefined {
  return family(s, name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
}

/** The value of a counter or gauge sample; 0 when the series does not exist (yet). */
export function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const found = sample(s, name, labels);
  return found?.value === undefined ? 0 : Number(found.value);
}
