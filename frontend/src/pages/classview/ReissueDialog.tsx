import { useState } from 'react';
import { workspaceLink, workshops, type ReissueResult } from '../../api';
import { groupCode } from '../../accessCode';
import { useAction } from '../../hooks';
import { Button, ConfirmDialog, CopyButton, Modal } from '../../components/ui';

/**
 * Reissues a learner's access code: asks first, then shows the new code once.
 * The old code and its live connections stop at once.
 */
export function ReissueDialog({
  workshopId,
  registrationId,
  name,
  onClose,
}: {
  workshopId: string;
  registrationId: string;
  name: string;
  onClose: (changed: boolean) => void;
}) {
  const [done, setDone] = useState<ReissueResult | null>(null);
  const reissue = useAction(async () => {
    setDone(await workshops.reissue(workshopId, registrationId));
  });
  if (!done) {
    return (
      <ConfirmDialog
        title={`New access code for ${name}?`}
        confirmLabel="Issue a new code"
        busy={reissue.busy}
        error={reissue.error}
        onCancel={() => onClose(false)}
        onConfirm={() => void reissue.run()}
      >
        <p>Their current code stops working at once and its open terminals close. They keep their seat and files.</p>
      </ConfirmDialog>
    );
  }
  return (
    <Modal title={`New access code for ${name}`} onClose={() => onClose(true)}>
      <p>Give this code to {name}. It is shown only now.</p>
      <p className="access-code" data-testid="reissued-code">
        {groupCode(done.access_code)}
      </p>
      <div className="btn-row">
        <CopyButton text={groupCode(done.access_code)} label="Copy code" />
        <CopyButton text={workspaceLink(done.access_code)} label="Copy link" />
      </div>
      {done.revoke_pending && (
        <p className="notice small">
          The workshop machine has not confirmed yet that the old code's connections are closed; it is retried
          {done.error ? ` (${done.error})` : ''}.
        </p>
      )}
      <div className="dialog-actions">
        <Button variant="primary" onClick={() => onClose(true)} autoFocus>
          Done
        </Button>
      </div>
    </Modal>
  );
}
