import { lazy, Suspense, useEffect, useMemo, useState, type FormEvent } from 'react';
import { ApiError, errorMessage, learner, type JoinResult } from '../api';
import { navigate } from '../router';
import { PlainPage } from '../components/TopBar';
import { Button, ErrorBox, Spinner } from '../components/ui';
import { formatDuration } from '../format';
import { rememberAccessCode } from '../learnerCodes';
import { endingOf, JoinSession } from '../joinSession';
import { EndedNotice } from '../workspace/EndOfClass';

const loadWorkspace = () => import('../workspace/Workspace');
const Workspace = lazy(loadWorkspace);

export function AccessCodeForm() {
  const [code, setCode] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (code.trim()) navigate(`/w/${encodeURIComponent(code.trim())}`);
  };
  return (
    <PlainPage>
      <form className="card stack" onSubmit={submit}>
        <h1>Open your workspace</h1>
        <label className="field">
          <span>Access code</span>
          <input name="access_code" value={code} onChange={(e) => setCode(e.target.value)} required autoFocus spellCheck={false} className="mono" />
        </label>
        <Button type="submit" variant="primary">
          Continue
        </Button>
      </form>
    </PlainPage>
  );
}

const PHASES: { key: string; label: string }[] = [
  { key: 'created', label: 'Workshop scheduled' },
  { key: 'provisioning', label: 'Preparing machines' },
  { key: 'seat', label: 'Setting up your seat' },
  { key: 'ready', label: 'Opening your workspace' },
];

function phaseIndex(r: JoinResult): number {
  if (r.status === 'ready') return 3;
  if (r.workshop.status === 'running') return 2;
  if (r.workshop.status === 'provisioning') return 1;
  return 0;
}

export function WaitingScreen({ result, since }: { result: JoinResult; since: number }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const idx = phaseIndex(result);
  const w = result.workshop;
  const notStarted = w.status === 'created' || w.status === 'stopped';
  return (
    <PlainPage>
      <div className="card stack waiting" aria-live="polite">
        <h1>{w.name}</h1>
        <p className="lead">
          {notStarted
            ? 'Your instructor has not started the workshop yet. This page opens your workspace as soon as it is ready.'
            : 'Your machine is being prepared. This usually takes under a minute.'}
        </p>
        <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={3} aria-valuenow={idx} aria-label="Progress">
          <div className="progress-bar" style={{ width: `${((idx + 0.5) / PHASES.length) * 100}%` }} />
        </div>
        <ol className="phases">
          {PHASES.map((p, i) => (
            <li key={p.key} className={i < idx ? 'done' : i === idx ? 'current' : ''}>
              {p.label}
              {i === idx && w.step && w.status === 'provisioning' && <span className="muted"> — {w.step}</span>}
            </li>
          ))}
        </ol>
        <p className="muted small">Waiting for {formatDuration(Math.floor((now - since) / 1000) * 1000) || '0 s'}</p>
      </div>
    </PlainPage>
  );
}

/** /w/<ACCESS_CODE>: join, wait while the seat is prepared, then open the workspace. */
export function JoinPage({ accessCode }: { accessCode: string }) {
  const [result, setResult] = useState<JoinResult | null>(null);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [since] = useState(() => Date.now());
  const joinSession = useMemo(() => new JoinSession(accessCode), [accessCode]);

  useEffect(() => {
    void loadWorkspace(); // fetch the workspace code while we wait
  }, []);

  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ctrl = new AbortController();
    const poll = async () => {
      try {
        const r = await learner.join(accessCode, ctrl.signal);
        if (!live) return;
        rememberAccessCode(accessCode);
        setError(null);
        setResult(r);
        if (r.status === 'ready') {
          joinSession.accept(r);
          return;
        }
        timer = setTimeout(() => void poll(), 2000);
      } catch (err) {
        if (!live) return;
        const e = err instanceof Error ? err : new Error(String(err));
        setError(e);
        // Network trouble or a busy server: keep trying; a rejected code stops.
        if (e instanceof ApiError && (e.status === 0 || e.status >= 500 || e.status === 429)) {
          timer = setTimeout(() => void poll(), 4000);
        }
      }
    };
    void poll();
    return () => {
      live = false;
      clearTimeout(timer);
      ctrl.abort();
    };
  }, [accessCode, attempt, joinSession]);

  if (result?.status === 'ready') {
    return (
      <Suspense
        fallback={
          <main className="page narrow">
            <Spinner label="Opening your workspace…" />
          </main>
        }
      >
        <Workspace session={joinSession} initial={result} />
      </Suspense>
    );
  }
  const ending = endingOf(result, error);
  if (ending) {
    // Polling goes on: a class the instructor starts again opens by itself.
    return (
      <PlainPage>
        <EndedNotice ending={ending} accessCode={accessCode} />
      </PlainPage>
    );
  }
  if (error && !result) {
    return (
      <PlainPage>
        <div className="card stack">
          <h1>Cannot open the workspace</h1>
          <ErrorBox error={errorMessage(error)} onRetry={() => setAttempt((a) => a + 1)} />
          <p className="muted small">
            Check your access code. If your instructor gave you a new one, <a href="/w">enter it here</a>; the old one no
            longer works. Lost it? Ask your instructor for a new code.
          </p>
        </div>
      </PlainPage>
    );
  }
  if (!result)
    return (
      <main className="page narrow">
        <Spinner label="Joining…" />
      </main>
    );
  return (
    <>
      {error && (
        <div className="page narrow">
          <ErrorBox error={errorMessage(error)} />
        </div>
      )}
      <WaitingScreen result={result} since={since} />
    </>
  );
}
