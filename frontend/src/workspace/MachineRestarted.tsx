// "Your machine restarted": shown in the workspace when the seat's machine
// was restarted in place by its host (after a crash): the learner's files
// are kept, terminal sessions start fresh.
import { useState } from 'react';

/** How long after a restart a newly opened workspace still mentions it. */
export const RECENT_MS = 10 * 60 * 1000;

export function MachineRestarted({ restartedAt, seenAtLoad, now: nowProp }: { restartedAt?: string; seenAtLoad?: string; now?: number }) {
  const [dismissed, setDismissed] = useState<string | null>(null);
  // Without a clock from the caller: the time this notice was first shown.
  const [shownAt] = useState(() => Date.now());
  const now = nowProp ?? shownAt;
  if (!restartedAt || dismissed === restartedAt) return null;
  const at = new Date(restartedAt);
  const during = restartedAt !== seenAtLoad; // while this page was open
  if (!during && now - at.getTime() > RECENT_MS) return null;
  return (
    <div className="notice workspace-notice" role="status">
      <span>
        Your machine restarted at {at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}. Your files were kept;
        terminals start fresh.
      </span>
      <button type="button" className="btn btn-small btn-ghost" onClick={() => setDismissed(restartedAt)}>
        Dismiss
      </button>
    </div>
  );
}
