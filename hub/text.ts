// Text that came from outside (topics, ids, names) put into a log line or an error reply: bounded in length,
// and printable where a terminal or a JSON log viewer would otherwise show control characters.

/** `text` cut to `max` characters, with `…` when something was cut. */
export function shorten(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Printable ASCII only (anything else becomes `?`), then shortened: for ids and names in messages. */
export function printable(text: string, max = 64): string {
  return shorten(text.replace(/[^\x20-\x7e]/g, '?'), max);
}
