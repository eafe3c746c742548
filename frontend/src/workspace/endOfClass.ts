// The end of a class as the learner meets it: the time left, the warnings
// before the end, and where to take their work home.

/** The learner's "download my work" page (served by the web app). */
export const DOWNLOAD_PATH = '/download';

/** The download page for an access code. */
export function downloadHref(accessCode: string): string {
  return `${DOWNLOAD_PATH}?code=${encodeURIComponent(accessCode)}`;
}

/** Minutes before the end at which the workspace warns. */
export const WARNING_MINUTES = [10, 5, 1] as const;

/** The warning due with msLeft to go (10, 5 or 1 minutes), or null. */
export function warningDue(msLeft: number): number | null {
  if (msLeft <= 0) return null;
  let due: number | null = null;
  for (const m of WARNING_MINUTES) if (msLeft <= m * 60_000) due = m;
  return due;
}

/** "1:05:09", "12:34" or "0:07" left. */
export function formatTimeLeft(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** A time in the viewer's own time zone, e.g. "14:30" (with the date when not today). */
export function formatLocalTime(iso: string, now = new Date()): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (d.toDateString() === now.toDateString()) return time;
  return `${d.toLocaleDateString(undefined, { dateStyle: 'medium' })} ${time}`;
}
