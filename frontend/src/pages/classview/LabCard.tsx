// The class view's lab, live from the class stream: choose (upload) the
// workshop's lab, the progress matrix (learners × steps, stuck first on
// request), the queue of raised hands, a broadcast to every workspace, a
// file pushed into every learner's home (or one), "solve" and "reset the
// step" for one learner, and the CSV export.
import { useMemo, useState } from 'react';
import {
  errorMessage,
  labProblems,
  labs,
  type Hand,
  type LabProblem,
  type LearnerProgress,
  type ClassSnapshot,
  type PushFile,
} from '../../api';
import { useNow } from '../../hooks';

/** The lab part of the class view's stream (useClassStream). */
export type LiveLab = NonNullable<ClassSnapshot['lab']>;

function minutes(s: number): string {
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m`;
}

/** Seconds on the current step (not done), counted from when it was entered. */
function onStep(l: LearnerProgress, now: number): number {
  const p = l.current_step ? l.steps[l.current_step] : undefined;
  if (!p || p.status === 'done') return 0;
  return Math.max(0, Math.floor((now - Date.parse(p.entered_at)) / 1000));
}

function stuckScore(l: LearnerProgress, now: number): number {
  return onStep(l, now) + 120 * l.failed_checks + (l.hand_raised ? 100000 : 0);
}

/** How long on one step counts as stuck. */
export const STUCK_AFTER_S = 5 * 60;

/** Stuck: a raised hand, a failing check on the current step, or a long time on it. */
export function isStuck(l: LearnerProgress, now: number): boolean {
  const cur = l.current_step ? l.steps[l.current_step] : undefined;
  return !!l.hand_raised || cur?.status === 'failing' || onStep(l, now) >= STUCK_AFTER_S;
}

export function Matrix({ matrix, onWatch }: { matrix: LiveLab; onWatch: (seat: number) => void }) {
  const [stuckFirst, setStuckFirst] = useState(false);
  const [onlyStuck, setOnlyStuck] = useState(false);
  const now = useNow(5000);
  const rows = useMemo(() => {
    const r = onlyStuck ? matrix.learners.filter((l) => isStuck(l, now)) : [...matrix.learners];
    if (stuckFirst) r.sort((a, b) => stuckScore(b, now) - stuckScore(a, now));
    return r;
  }, [matrix, stuckFirst, onlyStuck, now]);
  const steps = matrix.lab.steps;
  // A lab with files or a setup script: each learner's setup, once their workspace opened.
  const withSetup = matrix.learners.some((l) => l.setup);
  return (
    <div>
      <div className="matrix-controls">
        <label className="small">
          <input type="checkbox" checked={stuckFirst} onChange={(e) => setStuckFirst(e.target.checked)} /> Stuck first (longest on a step, most failed checks)
        </label>
        <label className="small">
          <input type="checkbox" checked={onlyStuck} onChange={(e) => setOnlyStuck(e.target.checked)} /> Only stuck (hand raised, failing check, or{' '}
          {STUCK_AFTER_S / 60} min on a step)
        </label>
        <span className="small muted" role="status">
          {rows.length} of {matrix.learners.length} learners
        </span>
      </div>
      <div className="progress-matrix" data-testid="progress-matrix">
        <table>
          <thead>
            <tr>
              <th scope="col">Learner</th>
              {steps.map((s, i) => (
                <th scope="col" key={s.id} title={s.title}>
                  {i + 1}
                </th>
              ))}
              <th scope="col">On step</th>
              {withSetup && <th scope="col">Setup</th>}
            </tr>
          </thead>
          <tbody>
            {rows.map((l) => (
              <tr key={l.registration_id}>
                <th scope="row">
                  {l.seat ? (
                    <button type="button" className="btn-link" onClick={() => onWatch(l.seat!)}>
                      {l.name}
                    </button>
                  ) : (
                    l.name
                  )}
                  {l.hand_raised && <span className="badge hand-badge"> hand up</span>}
                </th>
                {steps.map((s) => {
                  const p = l.steps[s.id];
                  const cur = l.current_step === s.id && p?.status !== 'done';
                  const cls = p?.status === 'done' ? 'pm-done' : p?.status === 'failing' ? 'pm-failing' : cur ? 'pm-current' : '';
                  const label = p?.status === 'done' ? '✓' : p?.status === 'failing' ? `✗${p.attempts}` : cur ? '•' : '';
                  return (
                    <td key={s.id} className={cls} title={p?.message ? `${s.title}: ${p.message}` : s.title}>
                      {label}
                    </td>
                  );
                })}
                <td>{l.current_step ? minutes(onStep(l, now)) : ''}</td>
                {withSetup && <SetupCell setup={l.setup} />}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

/** A learner's lab setup in the matrix: running, done, or failed with the reason. */
function SetupCell({ setup }: { setup: LearnerProgress['setup'] }) {
  if (!setup) return <td className="muted small">not started</td>;
  if (setup.status === 'running') {
    return (
      <td className="pm-current" data-setup="running">
        running
      </td>
    );
  }
  if (setup.status === 'done') {
    return (
      <td className="pm-done" data-setup="done">
        ✓ done
      </td>
    );
  }
  return (
    <td className="pm-failing pm-setup-failed" data-setup="failed" title={setup.message}>
      ✗ failed: {setup.message}
    </td>
  );
}

/** The queue of raised hands: Help picks one up (the learner is told) and opens their terminal. */
export function Hands({ workshopId, hands, onHelp }: { workshopId: string; hands: Hand[]; onHelp: (seat: number) => void }) {
  const [error, setError] = useState<string | null>(null);
  // The stream shows the change within a second.
  const act = (fn: () => Promise<unknown>) => fn().catch((err) => setError(errorMessage(err)));
  if (hands.length === 0) return <p className="muted small">No raised hands.</p>;
  return (
    <>
      <ul className="hands-list" aria-label="Raised hands" data-testid="hands">
        {hands.map((h) => (
          <li key={h.id}>
            <strong>{h.learner_name ?? 'A learner'}</strong>
            {h.seat ? <span className="muted small">seat {h.seat}</span> : null}
            {h.question && <span>“{h.question}”</span>}
            {h.picked_at ? <span className="badge">picked up</span> : null}
            <button
              type="button"
              className="btn btn-small btn-primary"
              onClick={() =>
                void act(async () => {
                  await labs.pickHand(workshopId, h.id);
                  if (h.seat) onHelp(h.seat);
                })
              }
            >
              Help
            </button>
            <button type="button" className="btn btn-small" onClick={() => void act(() => labs.closeHand(workshopId, h.id))}>
              Close
            </button>
          </li>
        ))}
      </ul>
      {error && <p className="error-text">{error}</p>}
    </>
  );
}

function BroadcastForm({ workshopId }: { workshopId: string }) {
  const [msg, setMsg] = useState('');
  const [note, setNote] = useState<string | null>(null);
  return (
    <form
      className="inline-form"
      onSubmit={(e) => {
        e.preventDefault();
        labs
          .broadcast(workshopId, msg.trim())
          .then(() => setNote(msg.trim() ? 'Sent to every workspace.' : 'Cleared.'))
          .catch((err) => setNote(errorMessage(err)));
      }}
    >
      <label htmlFor="broadcast-msg" className="small">
        Message to everyone
      </label>
      <input id="broadcast-msg" value={msg} maxLength={500} onChange={(e) => setMsg(e.target.value)} placeholder="Empty clears it" />
      <button type="submit" className="btn btn-small">
        Broadcast
      </button>
      {note && (
        <span className="small muted" role="status">
          {note}
        </span>
      )}
    </form>
  );
}

/** Reads a file from the instructor's disk as base64 (for a binary push). */
function base64Of(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ''));
    r.onerror = () => reject(r.error ?? new Error('the file could not be read'));
    r.readAsDataURL(file);
  });
}

/** Learners who hold a seat, by seat, for the "which learner" choices. */
function seated(live: LiveLab | undefined): LearnerProgress[] {
  return (live?.learners ?? []).filter((l) => !!l.seat).sort((a, b) => a.seat! - b.seat!);
}

/** Push a file into every learner's home, or into one learner's: typed text, or a file from disk. */
export function PushFileForm({ workshopId, live }: { workshopId: string; live: LiveLab | undefined }) {
  const [path, setPath] = useState('');
  const [text, setText] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [seat, setSeat] = useState(0);
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const learners = seated(live);
  const submit = async () => {
    setBusy(true);
    setNote(null);
    try {
      const body: PushFile = file
        ? { path: path.trim() || file.name, content: await base64Of(file), encoding: 'base64' }
        : { path: path.trim(), content: text };
      if (seat) body.seat = seat;
      const r = await labs.pushFile(workshopId, body);
      const failed = r.seats.filter((x) => !x.ok);
      const where = seat ? `seat ${seat}` : `${r.written} ${r.written === 1 ? 'seat' : 'seats'}`;
      setNote({
        ok: failed.length === 0,
        text:
          r.seats.length === 0
            ? 'No learner holds a seat yet: nothing was written.'
            : `${r.path} was written to ${where}.` +
              (failed.length ? ` Not written: ${failed.map((x) => `seat ${x.seat} (${x.learner_name}): ${x.error ?? 'no answer'}`).join('; ')}.` : ''),
      });
    } catch (err) {
      setNote({ ok: false, text: errorMessage(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      className="push-file"
      data-testid="push-file"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <div className="inline-form">
        <label htmlFor="push-path" className="small">
          Path in the home
        </label>
        <input id="push-path" value={path} onChange={(e) => setPath(e.target.value)} placeholder={file ? file.name : 'notes/step2.txt'} />
        <label htmlFor="push-seat" className="small">
          To
        </label>
        <select id="push-seat" value={seat} onChange={(e) => setSeat(Number(e.target.value))}>
          <option value={0}>every learner</option>
          {learners.map((l) => (
            <option key={l.registration_id} value={l.seat}>
              {l.name} (seat {l.seat})
            </option>
          ))}
        </select>
      </div>
      <label htmlFor="push-text" className="small">
        Text of the file
      </label>
      <textarea id="push-text" rows={3} value={text} disabled={!!file} onChange={(e) => setText(e.target.value)} />
      <div className="inline-form">
        <label className="small">
          …or a file from your computer (at most 1 MiB):{' '}
          <input type="file" data-testid="push-upload" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
        </label>
        <button type="submit" className="btn btn-small" disabled={busy || (!file && !path.trim())}>
          {busy ? 'Pushing…' : 'Push the file'}
        </button>
      </div>
      {note && (
        <p className={note.ok ? 'small muted' : 'small error-text'} role="status">
          {note.text}
        </p>
      )}
    </form>
  );
}

/** Solve a step for one learner (its solve script, then its check), or reset their progress on it. */
export function LearnerActions({ workshopId, live }: { workshopId: string; live: LiveLab }) {
  const learners = seated(live);
  const [rid, setRid] = useState('');
  const [stepId, setStepId] = useState('');
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const who = learners.find((l) => l.registration_id === rid) ?? learners[0];
  const steps = live.lab.steps;
  const step = steps.find((s) => s.id === stepId) ?? steps.find((s) => s.id === who?.current_step) ?? steps[0];
  if (!who || !step) return <p className="muted small">Solve and reset act on a learner who has joined.</p>;
  const act = async (what: 'solve' | 'reset') => {
    setBusy(true);
    setNote(null);
    try {
      if (what === 'solve') {
        const r = await labs.solve(workshopId, who.registration_id, step.id);
        setNote({ ok: r.passed, text: `${step.title} solved for ${who.name}; the check ${r.passed ? 'passes' : 'still fails'}: ${r.message}` });
      } else {
        await labs.resetStep(workshopId, who.registration_id, step.id);
        setNote({ ok: true, text: `${step.title} was reset for ${who.name}.` });
      }
    } catch (err) {
      setNote({ ok: false, text: errorMessage(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="learner-actions" data-testid="learner-actions">
      <div className="inline-form">
        <label htmlFor="act-learner" className="small">
          Learner
        </label>
        <select id="act-learner" value={who.registration_id} onChange={(e) => setRid(e.target.value)}>
          {learners.map((l) => (
            <option key={l.registration_id} value={l.registration_id}>
              {l.name} (seat {l.seat})
            </option>
          ))}
        </select>
        <label htmlFor="act-step" className="small">
          Step
        </label>
        <select id="act-step" value={step.id} onChange={(e) => setStepId(e.target.value)}>
          {steps.map((s, i) => (
            <option key={s.id} value={s.id}>
              {i + 1}. {s.title}
            </option>
          ))}
        </select>
        <button type="button" className="btn btn-small" disabled={busy || !step.has_solve} onClick={() => void act('solve')} title={step.has_solve ? undefined : 'This step has no solve script'}>
          Solve for them
        </button>
        <button type="button" className="btn btn-small" disabled={busy} onClick={() => void act('reset')}>
          Reset the step
        </button>
      </div>
      {note && (
        <p className={note.ok ? 'small muted' : 'small error-text'} role="status">
          {note.text}
        </p>
      )}
    </div>
  );
}

function LabUpload({ workshopId, labId }: { workshopId: string; labId?: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [problems, setProblems] = useState<LabProblem[]>([]);
  const [warnings, setWarnings] = useState<string[]>([]);
  const upload = async (file: File) => {
    setBusy(true);
    setError(null);
    setProblems([]);
    try {
      const r = await labs.upload(file, labId);
      await labs.setWorkshopLab(workshopId, r.lab.id, r.lab.version);
      setWarnings(r.lab.warnings ?? []);
    } catch (err) {
      setError(errorMessage(err));
      setProblems(labProblems(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div>
      <label className="small">
        {labId ? 'Upload a new version (.zip or .tar.gz): ' : 'Upload a lab (.zip or .tar.gz; ClaraTeach, Killercoda or Instruqt): '}
        <input
          type="file"
          accept=".zip,.tar.gz,.tgz,application/zip,application/gzip"
          disabled={busy}
          data-testid="lab-upload"
          onChange={(e) => {
            const f = e.target.files?.[0];
            if (f) void upload(f);
            e.target.value = '';
          }}
        />
      </label>
      {busy && <span className="muted small"> Uploading…</span>}
      {problems.length > 0 ? (
        <ul className="lab-problems error-text" role="alert">
          {problems.map((p, i) => (
            <li key={i}>
              {p.file ? `${p.file}${p.line ? `:${p.line}` : ''}: ` : ''}
              {p.message}
            </li>
          ))}
        </ul>
      ) : (
        error && (
          <p className="error-text" role="alert">
            {error}
          </p>
        )
      )}
      {warnings.map((w) => (
        <p key={w} className="small muted">
          Note: {w}
        </p>
      ))}
    </div>
  );
}

export function LabCard({
  workshopId,
  live,
  canEdit,
  onWatch,
  onHelp,
}: {
  workshopId: string;
  live: LiveLab | undefined;
  canEdit: boolean;
  onWatch: (seat: number) => void;
  /** Help on a raised hand: the learner's terminal opens beside the queue. */
  onHelp: (seat: number) => void;
}) {
  return (
    <section className="card lab-card" aria-labelledby="lab-h">
      <h2 id="lab-h">Lab{live ? `: ${live.lab.title} (version ${live.lab.version})` : ''}</h2>
      {!live && <p className="muted small">This workshop follows its plain lab guide. Upload a lab to get steps with checks and live progress.</p>}
      {canEdit && <LabUpload workshopId={workshopId} labId={live?.lab.id} />}
      {live && (
        <>
          <h3>Raised hands</h3>
          <Hands workshopId={workshopId} hands={live.hands} onHelp={onHelp} />
          <h3>Progress</h3>
          <Matrix matrix={live} onWatch={onWatch} />
          <p className="small">
            <a href={labs.progressCsvUrl(workshopId)} download>
              Download attendance and progress (CSV)
            </a>
          </p>
          <h3>One learner</h3>
          <LearnerActions workshopId={workshopId} live={live} />
          <h3>Broadcast</h3>
          <BroadcastForm workshopId={workshopId} />
        </>
      )}
      <h3>Push a file</h3>
      <PushFileForm workshopId={workshopId} live={live} />
    </section>
  );
}
