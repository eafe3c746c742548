// Small formatting helpers for dates, durations and sizes.

export function parseDate(s: string | null | undefined): Date | null {
  if (!s) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1971 ? null : d;
}

export function formatDateTime(s: string | null | undefined): string {
  const d = parseDate(s);
  if (!d) return '—';
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function formatSchedule(start?: string | null, end?: string | null): string {
  const a = parseDate(start);
  const b = parseDate(end);
  if (!a && !b) return 'No schedule';
  if (a && b) {
    const sameDay = a.toDateString() === b.toDateString();
    return `${formatDateTime(start)} – ${
      sameDay ? b.toLocaleTimeString(undefined, { timeStyle: 'short' }) : formatDateTime(end)
    }`;
  }
  return a ? `Starts ${formatDateTime(start)}` : `Ends ${formatDateTime(end)}`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  const rs = Math.round(s % 60);
  if (m < 60) return `${m} min ${rs ? `${rs} s` : ''}`.trim();
  const h = Math.floor(m / 60);
  return `${h} h ${m % 60} min`;
}

export function timeAgo(s: string | null | undefined, now = Date.now()): string {
  const d = parseDate(s);
  if (!d) return 'never';
  const diff = Math.max(0, now - d.getTime());
  if (diff < 45_000) return 'just now';
  const min = Math.round(diff / 60_000);
  if (min < 60) return `${min} min ago`;
  const h = Math.round(min / 60);
  if (h < 24) return `${h} h ago`;
  return d.toLocaleDateString();
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** A <input type="datetime-local"> value → RFC 3339 (local time zone), or undefined when empty. */
export function localInputToISO(v: string): string | undefined {
  if (!v) return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** RFC 3339 → a <input type="datetime-local"> value in local time. */
export function isoToLocalInput(s: string | null | undefined): string {
  const d = parseDate(s);
  if (!d) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
