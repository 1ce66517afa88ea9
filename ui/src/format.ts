// Times and sizes as staff read them, in the browser's locale and time zone.

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  day: 'numeric',
  month: 'short',
  hour: '2-digit',
  minute: '2-digit',
});
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

export function formatTime(ms: number): string {
  return timeFormat.format(ms);
}

/** Today: "14:05"; another day: "3 Dec, 14:05". */
export function formatWhen(ms: number): string {
  const sameDay = new Date(ms).toDateString() === new Date().toDateString();
  return sameDay ? timeFormat.format(ms) : dateTimeFormat.format(ms);
}

export function formatFull(ms: number): string {
  return fullFormat.format(ms);
}

/** "just now", "5 min ago", "3 h ago", "1 day ago", "2 days ago". */
export function formatAgo(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 45) return 'just now';
  // Each unit rounds on its own, so 59.6 min reads "1 h ago", never "60 min ago".
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(s / 3600);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.round(s / 86_400);
  return days === 1 ? '1 day ago' : `${days} days ago`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 && unit > 0 ? 1 : 0)} ${units[unit]}`;
}

/** For <input type="datetime-local">: local "YYYY-MM-DDTHH:MM" ↔ epoch ms. */
export function toLocalInput(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '';
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fromLocalInput(text: string): number | null {
  if (!text) return null;
  const ms = new Date(text).getTime();
  return Number.isNaN(ms) ? null : ms;
}
