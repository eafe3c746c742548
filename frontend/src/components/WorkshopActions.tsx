import { useState } from 'react';
import { joinLink, workshops, type Workshop } from '../api';
import { useAction } from '../hooks';
import { Button, ConfirmDialog, CopyButton, ErrorBox, Modal } from './ui';
import { QrCode } from './QrCode';

const canStart = (s: string) => s === 'created' || s === 'stopped';
const canStop = (s: string) => s === 'running' || s === 'provisioning';

/**
 * Start / stop / retry / delete, and sharing (link, code, QR) for one
 * workshop. A teaching assistant (workshop.access "assistant") gets only the
 * sharing buttons: the server refuses them the rest.
 */
export function WorkshopActions({
  workshop,
  onChange,
  compact,
}: {
  workshop: Workshop;
  onChange: (w?: Workshop) => void;
  compact?: boolean;
}) {
  const manage = workshop.access !== 'assistant';
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [confirmStop, setConfirmStop] = useState(false);
  const [showQr, setShowQr] = useState(false);
  const act = useAction(async (what: 'start' | 'stop' | 'retry') => {
    const w = await workshops[what](workshop.id);
    onChange(w);
    return w;
  });
  const del = useAction(async () => {
    await workshops.remove(workshop.id);
    setConfirmDelete(false);
    onChange();
  });
  const link = joinLink(workshop.code);
  const s = workshop.status;

  return (
    <div className="workshop-actions">
      <div className="btn-row">
        {manage && canStart(s) && (
          <Button variant="primary" small={compact} busy={act.busy} onClick={() => void act.run('start')}>
            Start
          </Button>
        )}
        {manage && s === 'error' && (
          <Button variant="primary" small={compact} busy={act.busy} onClick={() => void act.run('retry')}>
            Retry
          </Button>
        )}
        {manage && canStop(s) && (
          <Button small={compact} busy={act.busy} onClick={() => setConfirmStop(true)}>
            Stop
          </Button>
        )}
        <CopyButton text={link} label="Copy join link" small={!!compact} />
        <CopyButton text={workshop.code} label="Copy code" small={!!compact} />
        <Button small={compact} onClick={() => setShowQr(true)}>
          QR code
        </Button>
        {manage && s !== 'deleted' && (
          <Button small={compact} variant="ghost" className="danger-text" onClick={() => setConfirmDelete(true)}>
            Delete
          </Button>
        )}
      </div>
      <ErrorBox error={act.error} />
      {confirmStop && (
        <ConfirmDialog
          title={`Stop "${workshop.name}"?`}
          confirmLabel="Stop workshop"
          danger
          busy={act.busy}
          error={act.error}
          onCancel={() => setConfirmStop(false)}
          onConfirm={() => {
            void act.run('stop').then((w) => w && setConfirmStop(false));
          }}
        >
          <p>Learners lose their terminals and the machines are torn down. Their files are not kept.</p>
        </ConfirmDialog>
      )}
      {confirmDelete && (
        <ConfirmDialog
          title={`Delete "${workshop.name}"?`}
          confirmLabel="Delete workshop"
          danger
          busy={del.busy}
          error={del.error}
          onCancel={() => setConfirmDelete(false)}
          onConfirm={() => void del.run()}
        >
          <p>The workshop is stopped and removed, with every learner's workspace. This cannot be undone.</p>
        </ConfirmDialog>
      )}
      {showQr && (
        <Modal title="Join this workshop" onClose={() => setShowQr(false)}>
          <div className="qr-box">
            <QrCode text={link} />
            <p className="join-code" aria-label="Workshop code">
              {workshop.code}
            </p>
            <p className="muted small break">{link}</p>
          </div>
          <div className="dialog-actions">
            <CopyButton text={link} label="Copy join link" small={false} />
            <Button onClick={() => setShowQr(false)}>Close</Button>
          </div>
        </Modal>
      )}
    </div>
  );
}
