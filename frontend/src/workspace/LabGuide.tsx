// The lab guide of a workshop that has a lab: the steps with where the
// learner is, the open step's text, a Check button with the check's
// message, and "Raise hand".
import { useEffect, useRef, useState } from 'react';
import { errorMessage, type CheckResult, type LabSetup, type LearnerLab, type LearnerLabClient } from '../api';
import { Markdown } from '../components/Markdown';

const MARK: Record<string, { icon: string; label: string }> = {
  done: { icon: '✓', label: 'done' },
  failing: { icon: '✗', label: 'check failed' },
  current: { icon: '•', label: 'in progress' },
};

function StepList({
  lab,
  open,
  onOpen,
}: {
  lab: LearnerLab;
  open: string;
  onOpen: (id: string) => void;
}) {
  return (
    <ol className="lab-steps" aria-label="Steps">
      {lab.lab.steps.map((s, i) => {
        const status = lab.progress[s.id]?.status;
        const locked = !lab.unlocked.includes(s.id);
        const mark = locked ? { icon: '○', label: 'locked' } : MARK[status ?? ''] ?? { icon: String(i + 1), label: 'not started' };
        return (
          <li key={s.id}>
            <button
              type="button"
              className={`lab-step lab-step-${locked ? 'locked' : status ?? 'todo'}`}
              aria-current={s.id === open ? 'step' : undefined}
              disabled={locked}
              onClick={() => onOpen(s.id)}
              title={mark.label}
            >
              <span className="lab-step-mark" aria-hidden="true">
                {mark.icon}
              </span>
              <span>{s.title}</span>
              <span className="sr-only"> ({mark.label})</span>
            </button>
          </li>
        );
      })}
    </ol>
  );
}

function HandControl({ lab, client, onChange }: { lab: LearnerLab; client: LearnerLabClient; onChange: () => void }) {
  const [question, setQuestion] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const act = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      onChange();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  if (lab.hand) {
    return (
      <div className="lab-hand" role="status">
        <span>
          {lab.hand.picked_at ? 'An instructor is on their way to help you.' : 'Your hand is raised.'}
          {lab.hand.question ? ` “${lab.hand.question}”` : ''}
        </span>
        <button type="button" className="btn btn-small" disabled={busy} onClick={() => void act(() => client.lowerHand())}>
          Lower hand
        </button>
      </div>
    );
  }
  return (
    <form
      className="lab-hand"
      onSubmit={(e) => {
        e.preventDefault();
        void act(() => client.raiseHand(question.trim()));
      }}
    >
      <label className="sr-only" htmlFor="hand-question">
        Your question (optional)
      </label>
      <input
        id="hand-question"
        value={question}
        maxLength={200}
        placeholder="What are you stuck on? (optional)"
        onChange={(e) => setQuestion(e.target.value)}
      />
      <button type="submit" className="btn btn-small" disabled={busy}>
        Raise hand
      </button>
      {error && <span className="error-text">{error}</span>}
    </form>
  );
}

type StepProgress = LearnerLab['progress'][string];

/** What identifies a step's progress: it changes with every check, a reset and a solve. */
function progressKey(p: StepProgress | undefined): string {
  return p ? `${p.status}|${p.attempts}|${p.checked_at ?? ''}` : 'none';
}

/**
 * The check result shown on a step: the learner's own check while the polled
 * progress is still the one it started from or the one it wrote; once the
 * progress moved on without the learner (the instructor reset the step or
 * solved it for them), what the server says: nothing after a reset, the
 * last check's ✓ or ✗ and message otherwise.
 */
function shownResult(
  result: { step: string; r: CheckResult; before: string } | null,
  stepId: string,
  p: StepProgress | undefined,
): { passed: boolean; message: string } | null {
  const now = progressKey(p);
  if (result?.step === stepId && (now === result.before || now === progressKey(result.r.progress))) return result.r;
  if (!p?.checked_at || p.status === 'current') return null;
  return { passed: p.status === 'done', message: p.message ?? '' };
}

export function LabGuide({
  lab,
  client,
  onRun,
  onChange,
}: {
  lab: LearnerLab;
  client: LearnerLabClient;
  onRun: (cmd: string) => void;
  onChange: () => void;
}) {
  const [chosen, setChosen] = useState<string | null>(null);
  // A check's answer, with the step's progress as it was when the check
  // started (see shownResult).
  const [result, setResult] = useState<{ step: string; r: CheckResult; before: string } | null>(null);
  const [checking, setChecking] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const open = chosen && lab.lab.steps.some((s) => s.id === chosen) ? chosen : lab.current_step;
  const step = lab.lab.steps.find((s) => s.id === open) ?? lab.lab.steps[0];
  const index = lab.lab.steps.findIndex((s) => s.id === step?.id);
  const next = lab.lab.steps[index + 1];

  const openStep = (id: string) => {
    setChosen(id);
    setResult(null);
    setError(null);
  };
  // The step shown is entered (its clock starts; the first time, its setup
  // runs in the seat): the current step on load too, not only one clicked.
  const entered = useRef<string | null>(null);
  const openId = step?.id;
  const openDone = openId ? lab.progress[openId]?.status === 'done' : true;
  useEffect(() => {
    if (!openId || openDone || entered.current === openId) return;
    entered.current = openId;
    void client.enter(openId).catch(() => undefined);
  }, [openId, openDone, client]);
  const check = async () => {
    if (!step) return;
    setChecking(true);
    setError(null);
    const before = progressKey(lab.progress[step.id]);
    try {
      const r = await client.check(step.id);
      // The checked step stays open (the current step moves on after a
      // pass): the learner reads ✓ and its message, then "Next step".
      setChosen(step.id);
      setResult({ step: step.id, r, before });
      onChange();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setChecking(false);
    }
  };
  if (!step) return <p className="muted">This lab has no steps.</p>;
  const shown = shownResult(result, step.id, lab.progress[step.id]);
  const done = lab.progress[step.id]?.status === 'done';
  return (
    <div className="lab-guide">
      <h2 className="lab-title">{lab.lab.title}</h2>
      <StepList lab={lab} open={step.id} onOpen={openStep} />
      <article className="lab-step-text" aria-label={`Step ${index + 1}: ${step.title}`}>
        <h3>
          Step {index + 1}: {step.title}
        </h3>
        <Markdown source={step.markdown} onRun={onRun} />
      </article>
      <div className="lab-actions">
        <button type="button" className="btn btn-primary" disabled={checking} onClick={() => void check()}>
          {checking ? 'Checking…' : step.has_check ? 'Check' : 'Mark as done'}
        </button>
        {next && (done || lab.lab.order === 'free') && (
          <button type="button" className="btn" onClick={() => openStep(next.id)}>
            Next step
          </button>
        )}
      </div>
      {shown && (
        <p className={`lab-result ${shown.passed ? 'lab-pass' : 'lab-fail'}`} role="status" data-testid="check-result">
          <span aria-hidden="true">{shown.passed ? '✓ ' : '✗ '}</span>
          <span className="sr-only">{shown.passed ? 'Passed: ' : 'Not yet: '}</span>
          {shown.message}
        </p>
      )}
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      <HandControl lab={lab} client={client} onChange={onChange} />
    </div>
  );
}

/** The lab's setup in this seat (its files and setup script): said while it runs, and if it failed. */
export function SetupBanner({ setup }: { setup?: LabSetup }) {
  if (!setup || setup.status === 'done') return null;
  if (setup.status === 'running') {
    return (
      <div className="notice workspace-notice" role="status" data-testid="lab-setup" data-state="running">
        <span>Preparing your lab: copying its files into your home and setting up your machine…</span>
      </div>
    );
  }
  return (
    <div className="error-box workspace-notice" role="alert" data-testid="lab-setup" data-state="failed">
      <span>
        The lab could not be set up in your machine. {setup.message} Tell your instructor (Raise hand).
      </span>
    </div>
  );
}

export function BroadcastBanner({ lab }: { lab: LearnerLab | null }) {
  const [hidden, setHidden] = useState<string | null>(null);
  const b = lab?.broadcast;
  if (!b || hidden === b.at) return null;
  return (
    <div className="notice workspace-notice broadcast" role="status" data-testid="broadcast">
      <span>
        <strong>From your instructor:</strong> {b.message}
      </span>
      <button type="button" className="btn btn-small btn-ghost" onClick={() => setHidden(b.at)}>
        Dismiss
      </button>
    </div>
  );
}

/** Tells the learner that an instructor has their terminal open (and whether they can type in it). */
export function WatchedBanner({ by, typing }: { by?: string; typing?: boolean }) {
  if (!by) return null;
  return (
    <div className="notice workspace-notice watched" role="status" data-testid="watched" data-typing={typing ? 'true' : 'false'}>
      <span>
        {typing ? (
          <>
            <strong>{by}</strong> has your terminal open and can type in it. You see everything they type.
          </>
        ) : (
          <>
            <strong>{by}</strong> is watching your terminal.
          </>
        )}
      </span>
    </div>
  );
}
