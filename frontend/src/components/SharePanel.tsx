import { useState, type FormEvent } from 'react';
import { members } from '../api';
import { useAction, useAsync } from '../hooks';
import { Button, ErrorBox, Modal, Spinner } from './ui';

/**
 * The workshop's owner and teaching assistants. The owner (or an admin) can
 * share the workshop with another instructor by email and take it back;
 * an assistant only sees the list.
 */
export function SharePanel({ workshopId, canManage }: { workshopId: string; canManage: boolean }) {
  const list = useAsync((signal) => members.list(workshopId, signal), [workshopId]);
  const [email, setEmail] = useState('');
  const add = useAction(async () => {
    await members.add(workshopId, email.trim());
    setEmail('');
    list.reload();
  });
  const remove = useAction(async (userId: string) => {
    await members.remove(workshopId, userId);
    list.reload();
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void add.run();
  };

  return (
    <div className="stack share-panel">
      <p className="muted small">
        Teaching assistants see this workshop on their dashboard. They can watch and take over seats and revoke learners,
        but not start, stop, extend or delete it, or share it further.
      </p>
      <ErrorBox error={list.error} onRetry={list.reload} />
      {list.loading && !list.data && <Spinner />}
      {list.data && (
        <ul className="member-list">
          <li>
            <span>{list.data.owner.name || list.data.owner.email}</span> <span className="muted small">{list.data.owner.email} · owner</span>
          </li>
          {list.data.members.map((m) => (
            <li key={m.user_id} data-member={m.email}>
              <span>{m.name || m.email}</span> <span className="muted small">{m.email} · teaching assistant</span>
              {canManage && (
                <Button small variant="ghost" className="danger-text" busy={remove.busy} onClick={() => void remove.run(m.user_id)}>
                  Remove
                </Button>
              )}
            </li>
          ))}
        </ul>
      )}
      <ErrorBox error={remove.error} />
      {canManage && (
        <form onSubmit={submit} className="btn-row" aria-busy={add.busy}>
          <label className="field grow">
            <span>Instructor's email</span>
            <input name="share_email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} required />
          </label>
          <Button type="submit" variant="primary" busy={add.busy}>
            Add teaching assistant
          </Button>
        </form>
      )}
      <ErrorBox error={add.error} />
    </div>
  );
}

/** The class view's Share button: the panel in a dialog. */
export function ShareButton({ workshopId, canManage }: { workshopId: string; canManage: boolean }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button onClick={() => setOpen(true)}>{canManage ? 'Share' : 'Team'}</Button>
      {open && (
        <Modal title="Teaching assistants" onClose={() => setOpen(false)}>
          <SharePanel workshopId={workshopId} canManage={canManage} />
          <div className="dialog-actions">
            <Button onClick={() => setOpen(false)}>Close</Button>
          </div>
        </Modal>
      )}
    </>
  );
}
