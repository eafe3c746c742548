// The class view: one workshop, live (Server-Sent Events, polling as a
// fallback): provisioning steps with timings, the seat grid, watching or
// taking over a learner's terminal, revoking, extending the end time.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  WorkspaceClient,
  errorMessage,
  workspaceLink,
  workshops,
  type ClassSnapshot,
  type ProvisionStep,
  type ReissueResult,
  type Registration,
  type Seat,
  type SeatToken,
  type WorkshopDetail,
  type WorkshopEvent,
} from '../api';
import { useAction, useAsync, useInterval, useNow } from '../hooks';
import { Link, navigate } from '../router';
import { TopBar } from '../components/TopBar';
import { Button, ConfirmDialog, CopyButton, ErrorBox, Modal, Spinner, StatusBadge } from '../components/ui';
import { WorkshopActions } from '../components/WorkshopActions';
import { SavedWork } from './SavedWork';
import { ShareButton } from '../components/SharePanel';
import { formatDateTime, formatDuration, formatSchedule, isoToLocalInput, localInputToISO, parseDate, timeAgo } from '../format';
import { TerminalTabs } from '../terminal/TerminalTabs';
import { groupCode } from '../accessCode';

type LiveMode = 'connecting' | 'live' | 'polling';

/** Keeps a workshop's snapshot fresh: SSE first, polling the GETs if the stream fails. */
export function useClassSnapshot(id: string) {
  const [workshop, setWorkshop] = useState<WorkshopDetail | null>(null);
  const [seats, setSeats] = useState<Seat[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [mode, setMode] = useState<LiveMode>('connecting');
  const [tick, setTick] = useState(0);

  const fetchAll = useCallback(
    async (signal?: AbortSignal) => {
      try {
        const [w, s] = await Promise.all([workshops.get(id, signal), workshops.seats(id, signal)]);
        setWorkshop(w);
        setSeats(s);
        setError(null);
      } catch (err) {
        if (signal?.aborted) return;
        setError(errorMessage(err));
      }
    },
    [id],
  );

  useEffect(() => {
    const ctrl = new AbortController();
    void fetchAll(ctrl.signal);
    let es: EventSource | null = null;
    let poll: ReturnType<typeof setInterval> | undefined;
    const startPolling = () => {
      if (poll) return;
      setMode('polling');
      poll = setInterval(() => {
        if (document.visibilityState !== 'hidden') void fetchAll(ctrl.signal);
      }, 3000);
    };
    if (typeof EventSource !== 'undefined') {
      try {
        es = new EventSource(workshops.streamUrl(id), { withCredentials: true });
        es.addEventListener('workshop', (ev) => {
          try {
            const snap = JSON.parse((ev as MessageEvent<string>).data) as ClassSnapshot;
            if (snap.workshop) setWorkshop({ ...snap.workshop, events: snap.events ?? snap.workshop.events });
            if (snap.seats) setSeats(snap.seats);
            setMode('live');
            setError(null);
          } catch {
            /* a malformed event: the next one or polling will do */
          }
        });
        es.onerror = () => {
          // CLOSED: the server refused the stream; CONNECTING: it retries on its own,
          // and polling covers the gap meanwhile.
          if (es && es.readyState === EventSource.CLOSED) {
            es = null;
            startPolling();
          } else {
            void fetchAll(ctrl.signal);
          }
        };
      } catch {
        startPolling();
      }
    } else startPolling();
    return () => {
      ctrl.abort();
      es?.close();
      clearInterval(poll);
    };
  }, [id, fetchAll, tick]);

  return {
    workshop,
    seats,
    error,
    mode,
    refresh: () => void fetchAll(),
    reconnect: () => setTick((t) => t + 1),
    setWorkshop,
  };
}

function stepDuration(s: ProvisionStep, now: number): string {
  const a = parseDate(s.started_at);
  if (!a) return '';
  const b = parseDate(s.finished_at);
  return formatDuration((b ? b.getTime() : now) - a.getTime());
}

export function ProvisionSteps({ steps, now }: { steps: ProvisionStep[]; now: number }) {
  if (!steps.length) return <p className="muted small">No provisioning steps yet.</p>;
  return (
    <ol className="steps">
      {steps.map((s, i) => (
        <li key={`${s.name}-${i}`} className={`step step-${s.status}`} data-step={s.name}>
          <span className={`step-icon step-icon-${s.status}`} aria-hidden="true" />
          <span className="step-name">{s.name}</span>
          <StatusBadge status={s.status} />
          <span className="step-time muted small">{stepDuration(s, now)}</span>
          {s.error && <span className="error-text small step-error">{s.error}</span>}
        </li>
      ))}
    </ol>
  );
}

function seatLabel(s: Seat, now: number): string {
  if (s.status === 'empty') return 'free';
  if (s.status === 'idle') {
    const d = parseDate(s.last_activity);
    if (d) return `Idle for ${Math.max(1, Math.round((now - d.getTime()) / 60_000))} min`;
  }
  return s.status;
}

export function SeatGrid({
  seats,
  selected,
  onSelect,
  now,
}: {
  seats: Seat[];
  selected: number | null;
  onSelect: (s: Seat) => void;
  now: number;
}) {
  if (!seats.length) return <p className="muted">No seats yet. They appear once the workshop is running.</p>;
  return (
    <ul className="seat-grid" aria-label="Seats">
      {seats.map((s) => {
        const taken = !!s.registration_id && s.status !== 'revoked';
        return (
          <li key={s.seat}>
            <button
              type="button"
              className={`seat seat-${s.status} ${selected === s.seat ? 'selected' : ''}`}
              onClick={() => onSelect(s)}
              disabled={!taken}
              aria-pressed={selected === s.seat}
              data-seat={s.seat}
              title={taken ? `Watch ${s.learner_name ?? 'this learner'}'s terminal` : 'Free seat'}
            >
              <span className="seat-no">#{s.seat}</span>
              <span className="seat-name">{taken ? s.learner_name || s.learner_email || 'Learner' : 'Free'}</span>
              <span className="seat-state">
                <span className={`dot dot-seat-${s.status}`} aria-hidden="true" />
                {seatLabel(s, now)}
              </span>
              {s.revoke_pending && (
                <span className="seat-pending small" title={s.revoke_error || 'Waiting for the workshop machine to confirm'}>
                  revoke pending
                </span>
              )}
              <span className="seat-activity muted small">{taken ? timeAgo(s.last_activity, now) : ''}</span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}

/**
 * Reissues a learner's access code: asks first, then shows the new code once.
 * The old code and its live connections stop at once.
 */
function ReissueDialog({
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

function SeatWatcher({ workshopId, seat, onClose, onRevoked }: { workshopId: string; seat: Seat; onClose: () => void; onRevoked: () => void }) {
  const [mode, setMode] = useState<'ro' | 'rw'>('ro');
  const [grant, setGrant] = useState<SeatToken | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirmRevoke, setConfirmRevoke] = useState(false);
  const [reissuing, setReissuing] = useState(false);
  const grantRef = useRef<SeatToken | null>(null);
  const modeRef = useRef(mode);
  modeRef.current = mode;
  const boxRef = useRef<HTMLElement | null>(null);

  // Opening a learner's terminal puts it in view (it sits below the seat grid).
  useEffect(() => {
    boxRef.current?.scrollIntoView?.({ block: 'nearest', behavior: 'smooth' });
  }, [seat.seat]);

  useEffect(() => {
    let live = true;
    setGrant(null);
    setError(null);
    workshops
      .seatToken(workshopId, seat.seat, mode)
      .then((g) => {
        if (!live) return;
        grantRef.current = g;
        setGrant(g);
      })
      .catch((err: unknown) => live && setError(errorMessage(err)));
    return () => {
      live = false;
    };
  }, [workshopId, seat.seat, mode]);

  const client = useMemo(() => {
    if (!grant) return null;
    return new WorkspaceClient(grant.endpoints, async (refresh) => {
      const g = grantRef.current;
      const exp = g ? Date.parse(g.expires_at) : 0;
      if (!refresh && g && (!Number.isFinite(exp) || Date.now() < exp - 30_000)) return g.token;
      const fresh = await workshops.seatToken(workshopId, seat.seat, modeRef.current);
      grantRef.current = fresh;
      return fresh.token;
    });
    // Token refreshes only update grantRef: a new grant (a mode change) makes a new client.
  }, [grant, workshopId, seat.seat]);

  const revoke = useAction(async () => {
    if (!seat.registration_id) return;
    await workshops.revoke(workshopId, seat.registration_id);
    setConfirmRevoke(false);
    onRevoked();
  });

  return (
    <section className="card watcher" aria-label={`Seat ${seat.seat}`} ref={boxRef}>
      <div className="watcher-head">
        <h2>
          Seat {seat.seat}: {seat.learner_name || seat.learner_email || 'Learner'}
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
      <div className="watcher-term">
        {!grant && !error && <Spinner label="Connecting to the seat…" />}
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

function ExtendForm({ workshop, onDone }: { workshop: WorkshopDetail; onDone: (w: WorkshopDetail) => void }) {
  const base = parseDate(workshop.ends_at) ?? new Date();
  const [value, setValue] = useState(isoToLocalInput(new Date(base.getTime() + 60 * 60_000).toISOString()));
  const act = useAction(async () => {
    const iso = localInputToISO(value);
    if (!iso) throw new Error('Choose a new end time.');
    const w = await workshops.extend(workshop.id, iso);
    onDone({ ...workshop, ...w });
  });
  return (
    <form
      className="extend-form"
      onSubmit={(e) => {
        e.preventDefault();
        void act.run();
      }}
    >
      <label className="field inline">
        <span>End time</span>
        <input type="datetime-local" value={value} onChange={(e) => setValue(e.target.value)} required />
      </label>
      <Button type="submit" small busy={act.busy}>
        Extend
      </Button>
      <ErrorBox error={act.error} />
    </form>
  );
}

function EventLog({ events }: { events: WorkshopEvent[] }) {
  if (!events.length) return null;
  const recent = [...events].slice(-30).reverse();
  return (
    <details className="event-log">
      <summary>Activity log ({events.length})</summary>
      <ul>
        {recent.map((e) => (
          <li key={String(e.id)} className={`event event-${e.level}`}>
            <time className="muted small">{formatDateTime(e.at)}</time> {e.step && <span className="mono small">[{e.step}]</span>} {e.message}
          </li>
        ))}
      </ul>
    </details>
  );
}

/** Everyone who registered, seated or not, with revoke. */
function Learners({ workshopId, seatsKey, onChange }: { workshopId: string; seatsKey: string; onChange: () => void }) {
  const regs = useAsync((signal) => workshops.registrations(workshopId, signal), [workshopId, seatsKey]);
  useInterval(regs.reload, 15_000);
  const [confirm, setConfirm] = useState<Registration | null>(null);
  const [reissue, setReissue] = useState<Registration | null>(null);
  const revoke = useAction(async (r: Registration) => {
    await workshops.revoke(workshopId, r.id);
    setConfirm(null);
    regs.reload();
    onChange();
  });
  const list = regs.data ?? [];
  return (
    <details className="card learners">
      <summary>
        <h2>Learners ({list.filter((r) => !r.revoked_at).length})</h2>
      </summary>
      <ErrorBox error={regs.error} onRetry={regs.reload} />
      {regs.loading && !regs.data && <Spinner />}
      {regs.data && list.length === 0 && <p className="muted">Nobody has registered yet. Share the join link or the QR code.</p>}
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
                <td>{r.revoked_at ? <StatusBadge status="revoked" /> : r.seat ? `#${r.seat} · ${r.seat_status ?? ''}` : 'not seated yet'}</td>
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
          onClose={(changed) => {
            setReissue(null);
            if (changed) onChange();
          }}
        />
      )}
    </details>
  );
}

export default function ClassView({ id }: { id: string }) {
  const { workshop, seats, error, mode, refresh, setWorkshop } = useClassSnapshot(id);
  const [watch, setWatch] = useState<number | null>(null);
  const now = useNow(5000);

  if (!workshop) {
    return (
      <div>
        <TopBar />
        <main className="page">
          {error ? <ErrorBox error={error} onRetry={refresh} /> : <Spinner label="Loading the workshop…" />}
        </main>
      </div>
    );
  }
  const watched = seats?.find((s) => s.seat === watch) ?? null;
  const steps = workshop.vm?.steps ?? [];
  const used = seats ? seats.filter((s) => s.registration_id && s.status !== 'revoked').length : workshop.seats_used;

  return (
    <div>
      <TopBar />
      <main className="page wide class-view" data-status={workshop.status}>
        <p className="crumbs">
          <Link to="/dashboard">← Workshops</Link>
        </p>
        <div className="page-head">
          <div>
            <h1>{workshop.name}</h1>
            <p className="muted">
              {formatSchedule(workshop.starts_at, workshop.ends_at)} · code <span className="mono">{workshop.code}</span> · {used}/
              {workshop.seats} seats taken
            </p>
          </div>
          <div className="head-status">
            {workshop.access === 'assistant' && <span className="badge">Teaching assistant</span>}
            <ShareButton workshopId={workshop.id} canManage={workshop.access !== 'assistant'} />
            <StatusBadge status={workshop.status} />
            <span className={`live-indicator live-${mode}`} title={mode === 'live' ? 'Live updates' : mode === 'polling' ? 'Refreshing every few seconds' : 'Connecting'}>
              {mode === 'live' ? 'Live' : mode === 'polling' ? 'Auto-refresh' : '…'}
            </span>
          </div>
        </div>
        <ErrorBox error={error} onRetry={refresh} />
        {workshop.status === 'error' && workshop.status_reason && <div className="error-box">{workshop.status_reason}</div>}
        <WorkshopActions
          workshop={workshop}
          onChange={(w) => {
            if (!w) navigate('/dashboard');
            else {
              setWorkshop({ ...workshop, ...w });
              refresh();
            }
          }}
        />
        <div className="class-grid">
          <section className="card" aria-labelledby="prov-h">
            <h2 id="prov-h">Provisioning</h2>
            {workshop.step && workshop.status !== 'running' && <p className="muted small">Now: {workshop.step}</p>}
            <ProvisionSteps steps={steps} now={now} />
            {workshop.vm?.name && (
              <p className="muted small">
                Machine <span className="mono">{workshop.vm.name}</span> · {workshop.vm.status}
              </p>
            )}
            <EventLog events={workshop.events ?? []} />
          </section>
          <section className="card" aria-labelledby="sched-h">
            <h2 id="sched-h">Schedule</h2>
            <p className="small">
              Starts: {formatDateTime(workshop.starts_at)}
              <br />
              Ends: {formatDateTime(workshop.ends_at)}
            </p>
            {workshop.access === 'assistant' ? null : workshop.ends_at ? (
              <ExtendForm workshop={workshop} onDone={(w) => setWorkshop(w)} />
            ) : (
              <p className="small muted">No end time: the workshop runs until you stop it.</p>
            )}
          </section>
          {workshop.access !== 'assistant' && <SavedWork workshop={workshop} />}
        </div>
        <section aria-labelledby="seats-h" className="seats-section">
          <h2 id="seats-h">Seats</h2>
          {seats === null ? (
            <Spinner label="Loading seats…" />
          ) : (
            <SeatGrid seats={seats} selected={watch} onSelect={(s) => setWatch(s.seat === watch ? null : s.seat)} now={now} />
          )}
        </section>
        <Learners
          workshopId={workshop.id}
          seatsKey={(seats ?? []).map((s) => `${s.seat}:${s.registration_id ?? ''}`).join(',')}
          onChange={refresh}
        />
        {watched && (
          <SeatWatcher
            key={watched.seat}
            workshopId={workshop.id}
            seat={watched}
            onClose={() => setWatch(null)}
            onRevoked={() => {
              setWatch(null);
              refresh();
            }}
          />
        )}
      </main>
    </div>
  );
}
