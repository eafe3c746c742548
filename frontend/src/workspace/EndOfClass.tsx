// The countdown to a workshop's end, the warnings at 10, 5 and 1 minutes,
// and the notice once it is over, each with a way to take the work home.
import { useEffect, useState } from 'react';
import { downloadHref, formatLocalTime, formatTimeLeft, warningDue } from './endOfClass';

/** Re-renders every second with the current time. */
function useNow(): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return now;
}

export function DownloadButton({ accessCode }: { accessCode: string }) {
  return (
    <a className="btn btn-small btn-primary" href={downloadHref(accessCode)}>
      Download my work
    </a>
  );
}

/** The time left (top bar) and, from 10 minutes before the end, a warning banner. */
export function EndCountdown({ endsAt, accessCode }: { endsAt: string; accessCode: string }) {
  const now = useNow();
  const end = Date.parse(endsAt);
  const [dismissed, setDismissed] = useState<number | null>(null);
  if (!Number.isFinite(end)) return null;
  const left = end - now;
  const due = warningDue(left);
  return (
    <>
      <span className="end-countdown small" role="timer" aria-label="Time left in the workshop" title={`Ends at ${formatLocalTime(endsAt)}`}>
        {left > 0 ? `Ends in ${formatTimeLeft(left)}` : 'Ended'}
      </span>
      {due !== null && dismissed !== due && (
        <div className="end-warning" role="alert" data-testid="end-warning">
          <span>
            The workshop ends in {due === 1 ? 'less than a minute' : `${due} minutes`} (at {formatLocalTime(endsAt)}). Save your files
            and download your work to keep it.
          </span>
          <DownloadButton accessCode={accessCode} />
          <button type="button" className="btn btn-small btn-ghost" onClick={() => setDismissed(due)} aria-label="Dismiss the warning">
            Dismiss
          </button>
        </div>
      )}
    </>
  );
}

/** What ended a learner's class. */
export type Ending = { by: 'instructor' } | { by: 'schedule'; endsAt?: string };

/** The notice shown instead of the workspace once the class is over. */
export function EndedNotice({ ending, accessCode }: { ending: Ending; accessCode: string }) {
  const title = ending.by === 'instructor' ? 'Your instructor ended the workshop' : 'The workshop has ended';
  return (
    <div className="card stack ended-notice" role="status" data-testid="ended-notice">
      <h1>{title}</h1>
      {ending.by === 'schedule' && ending.endsAt && <p className="lead">It ended at {formatLocalTime(ending.endsAt)}.</p>}
      <p>Your files are kept: download them to take your work home.</p>
      <div className="btn-row">
        <DownloadButton accessCode={accessCode} />
      </div>
    </div>
  );
}
