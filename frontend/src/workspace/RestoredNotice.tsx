import { useState } from 'react';

/** "Your machine was restored from HH:MM": the seat came back from the learner's saved work (join's restored_from). */
export function RestoredNotice({ restoredFrom }: { restoredFrom?: string }) {
  const [dismissed, setDismissed] = useState<string | null>(null);
  if (!restoredFrom || dismissed === restoredFrom) return null;
  const at = new Date(restoredFrom);
  if (Number.isNaN(at.getTime())) return null;
  return (
    <div className="notice workspace-notice" role="status">
      <span>
        Your machine was restored from {at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}: your files are as they
        were saved then; terminals start fresh.
      </span>
      <button type="button" className="btn btn-small btn-ghost" onClick={() => setDismissed(restoredFrom)}>
        Dismiss
      </button>
    </div>
  );
}
