import { useState } from 'react';
import { workshops, type Workshop } from '../api';
import { useAction } from '../hooks';
import { Button, ConfirmDialog } from '../components/ui';

/**
 * The learners' saved work for the workshop's owner: download everyone's
 * latest archive as one file, or delete every saved copy now (learners then
 * have nothing left to download).
 */
export function SavedWork({ workshop }: { workshop: Workshop }) {
  const [confirm, setConfirm] = useState(false);
  const [deleted, setDeleted] = useState<number | null>(null);
  const purge = useAction(async () => {
    const r = await workshops.purgeArchives(workshop.id);
    setConfirm(false);
    setDeleted(r.deleted);
  });
  return (
    <section className="card" aria-labelledby="work-h">
      <h2 id="work-h">Learners' work</h2>
      <p className="small muted">
        Each learner's home is saved while the workshop runs and before it stops or ends; learners download theirs with
        their access code.
      </p>
      <div className="btn-row">
        <a className="btn btn-small" href={workshops.archivesUrl(workshop.id)} download>
          Download everyone's work
        </a>
        <Button small variant="danger" onClick={() => setConfirm(true)}>
          Delete saved work
        </Button>
      </div>
      {deleted !== null && (
        <p className="small" role="status">
          {deleted === 1 ? '1 saved copy was deleted.' : `${deleted} saved copies were deleted.`}
        </p>
      )}
      {confirm && (
        <ConfirmDialog
          title="Delete every learner's saved work?"
          confirmLabel="Delete saved work"
          danger
          busy={purge.busy}
          error={purge.error}
          onConfirm={() => void purge.run()}
          onCancel={() => setConfirm(false)}
        >
          <p>
            Learners will no longer be able to download their work from this workshop. Their running seats are not
            touched.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
