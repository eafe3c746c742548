import { useState } from 'react';
import { workshops, type Registration } from '../../api';
import { useAction } from '../../hooks';
import { Button, ConfirmDialog, Spinner, StatusBadge } from '../../components/ui';
import { formatDateTime } from '../../format';
import { ReissueDialog } from './ReissueDialog';

/**
 * Everyone who registered, seated or not, with revoke and a new code. The
 * list comes with the class view's stream (null until its first event).
 */
export function Learners({ workshopId, registrations }: { workshopId: string; registrations: Registration[] | null }) {
  const [confirm, setConfirm] = useState<Registration | null>(null);
  const [reissue, setReissue] = useState<Registration | null>(null);
  const revoke = useAction(async (r: Registration) => {
    await workshops.revoke(workshopId, r.id);
    setConfirm(null);
  });
  const list = registrations ?? [];
  return (
    <details className="card learners">
      <summary>
        <h2>Learners ({list.filter((r) => !r.revoked_at).length})</h2>
      </summary>
      {registrations === null && <Spinner />}
      {registrations && list.length === 0 && <p className="muted">Nobody has registered yet. Share the join link or the QR code.</p>}
      {list.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Email</th>
              <th>Registered</th>
              <th>Seat</th>
              <th>
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.map((r) => (
              <tr key={r.id} className={r.revoked_at ? 'revoked' : ''}>
                <td>{r.name}</td>
                <td className="break">{r.email}</td>
                <td>{formatDateTime(r.created_at)}</td>
                <td>
                  {r.revoked_at ? <StatusBadge status="revoked" /> : r.seat ? `#${r.seat} · ${r.seat_status ?? ''}` : 'not seated yet'}
                  {r.old_code && !r.revoked_at && (
                    <div className="muted small" data-testid="old-code">
                      Old 10-letter code, no longer accepted: give a new code (their work is kept).
                    </div>
                  )}
                </td>
                <td>
                  {!r.revoked_at && (
                    <div className="btn-row tight">
                      <Button small onClick={() => setReissue(r)} title="Give the learner a new access code">
                        New code
                      </Button>
                      <Button small className="danger-text" onClick={() => setConfirm(r)}>
                        Revoke
                      </Button>
                    </div>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {confirm && (
        <ConfirmDialog
          title={`Revoke ${confirm.name}?`}
          confirmLabel="Revoke access"
          danger
          busy={revoke.busy}
          error={revoke.error}
          onCancel={() => setConfirm(null)}
          onConfirm={() => void revoke.run(confirm)}
        >
          <p>Their access code stops working and their seat is freed.</p>
        </ConfirmDialog>
      )}
      {reissue && (
        <ReissueDialog
          workshopId={workshopId}
          registrationId={reissue.id}
          name={reissue.name || reissue.email}
          onClose={() => setReissue(null)}
        />
      )}
    </details>
  );
}
