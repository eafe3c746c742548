import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { WorkspaceClient, errorMessage, workshops, type Seat, type SeatToken } from '../../api';
import { useAction } from '../../hooks';
import { Button, ConfirmDialog, ErrorBox, Spinner } from '../../components/ui';
import { TerminalTabs } from '../../terminal/TerminalTabs';
import { ReissueDialog } from './ReissueDialog';
import { WatcherPreview } from '../../workspace/preview/WatcherPreview';

type Mode = 'ro' | 'rw';

/** The seat token for one seat and mode, fetched when either changes, and a client using it. */
function useSeatGrant(workshopId: string, seat: number, mode: Mode) {
  const key = `${seat}:${mode}`;
  // The answer is kept with the seat and mode it is for: a newer choice shows nothing until its own answer.
  const [answer, setAnswer] = useState<{ key: string; client: WorkspaceClient | null; error: string | null }>({
    key: '',
    client: null,
    error: null,
  });
  const modeRef = useRef(mode);
  useLayoutEffect(() => {
    modeRef.current = mode;
  });

  useEffect(() => {
    let live = true;
    let grant: SeatToken | null = null;
    // Hands out the current token, fetching a fresh one when it is about to expire.
    // Token refreshes only update `grant`: a new grant (a mode change) makes a new client.
    const tokenSource = async (refresh?: boolean) => {
      const exp = grant ? Date.parse(grant.expires_at) : 0;
      if (!refresh && grant && (!Number.isFinite(exp) || Date.now() < exp - 30_000)) return grant.token;
      grant = await workshops.seatToken(workshopId, seat, modeRef.current);
      return grant.token;
    };
    workshops.seatToken(workshopId, seat, mode).then(
      (g) => {
        if (!live) return;
        grant = g;
        setAnswer({ key, client: new WorkspaceClient(g.endpoints, tokenSource), error: null });
      },
      (err: unknown) => live && setAnswer({ key, client: null, error: errorMessage(err) }),
    );
    return () => {
      live = false;
    };
  }, [workshopId, seat, mode, key]);

  return answer.key === key ? answer : { client: null, error: null };
}

/** One learner's terminal, watched read-only or taken over, with revoke and a new code. */
export function SeatWatcher({ workshopId, seat, onClose }: { workshopId: string; seat: Seat; onClose: () => void }) {
  const [mode, setMode] = useState<Mode>('ro');
  const [confirmRevoke, setConfirmRevoke] = useState(false);
  const [reissuing, setReissuing] = useState(false);
  const { error, client } = useSeatGrant(workshopId, seat.seat, mode);
  const boxRef = useRef<HTMLElement | null>(null);

  // Opening a learner's terminal puts it in view (it sits below the seat grid).
  useEffect(() => {
    boxRef.current?.scrollIntoView?.({ block: 'nearest', behavior: 'smooth' });
  }, [seat.seat]);

  const revoke = useAction(async () => {
    if (!seat.registration_id) return;
    await workshops.revoke(workshopId, seat.registration_id);
    setConfirmRevoke(false);
    onClose();
  });
  const who = seat.learner_name || seat.learner_email || 'Learner';

  return (
    <section className="card watcher" aria-label={`Seat ${seat.seat}`} ref={boxRef}>
      <div className="watcher-head">
        <h2>
          Seat {seat.seat}: {who}
          {seat.learner_email && <span className="muted small"> · {seat.learner_email}</span>}
        </h2>
        <div className="btn-row tight">
          {mode === 'ro' ? (
            <Button small variant="primary" onClick={() => setMode('rw')} title="Type into the learner's terminal">
              Take over
            </Button>
          ) : (
            <Button small onClick={() => setMode('ro')}>
              Stop typing (watch only)
            </Button>
          )}
          <Button small onClick={() => setReissuing(true)} disabled={!seat.registration_id} title="Give the learner a new access code">
            New code
          </Button>
          <Button small className="danger-text" onClick={() => setConfirmRevoke(true)} disabled={!seat.registration_id}>
            Revoke
          </Button>
          <Button small variant="ghost" onClick={onClose} aria-label="Close terminal view">
            Close
          </Button>
        </div>
      </div>
      {mode === 'rw' && <p className="notice small">You are typing into this learner's terminal. They see what you type.</p>}
      <ErrorBox error={error} />
      <WatcherPreview workshopId={workshopId} seat={seat.seat} client={client}>
        <div className="watcher-term">
          {!client && !error && <Spinner label="Connecting to the seat…" />}
          {client && (
            <TerminalTabs
              key={`${seat.seat}-${mode}`}
              client={client}
              mode={mode}
              storageKey={`watch.${workshopId}.${seat.seat}`}
              createIfNone={false}
              followSize
              autoFocus={mode === 'rw'}
            />
          )}
        </div>
      </WatcherPreview>
      {confirmRevoke && (
        <ConfirmDialog
          title={`Revoke ${seat.learner_name || 'this learner'}?`}
          confirmLabel="Revoke access"
          danger
          busy={revoke.busy}
          error={revoke.error}
          onCancel={() => setConfirmRevoke(false)}
          onConfirm={() => void revoke.run()}
        >
          <p>Their access code stops working and their seat is freed. Their files are removed.</p>
        </ConfirmDialog>
      )}
      {reissuing && seat.registration_id && (
        <ReissueDialog
          workshopId={workshopId}
          registrationId={seat.registration_id}
          name={seat.learner_name || seat.learner_email || 'this learner'}
          onClose={() => setReissuing(false)}
        />
      )}
    </section>
  );
}
