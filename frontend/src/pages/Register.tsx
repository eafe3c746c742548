import { useState, type FormEvent } from 'react';
import { ApiError, errorMessage, learner, workspaceLink, type RegisterResult } from '../api';
import { useAction } from '../hooks';
import { Link } from '../router';
import { PlainPage } from '../components/TopBar';
import { Button, CopyButton, ErrorBox } from '../components/ui';
import { groupCode } from '../accessCode';
import { rememberRegistration, rememberedRegistration } from '../learnerCodes';

interface Shown extends RegisterResult {
  /** Found in this browser rather than just created. */
  remembered?: boolean;
}

function fromMemory(code: string, email?: string): Shown | null {
  const r = code ? rememberedRegistration(code, email) : null;
  return r ? { access_code: r.accessCode, workshop: r.workshop, remembered: true } : null;
}

export function RegisterPage({ code: initialCode }: { code: string }) {
  const [code, setCode] = useState(initialCode);
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  // A refresh or a second tab shows the code this browser registered with.
  const [result, setResult] = useState<Shown | null>(() => fromMemory(initialCode));
  const [already, setAlready] = useState<string | null>(null);
  const { run, busy, error } = useAction(async () => {
    setAlready(null);
    try {
      const r = await learner.register({ workshop_code: code.trim(), name: name.trim(), email: email.trim() });
      rememberRegistration(code, email, r);
      setResult(r);
    } catch (err) {
      // The server never hands out an existing code; this browser may know it.
      if (err instanceof ApiError && err.code === 'already_registered') {
        const known = fromMemory(code, email);
        if (known) {
          setResult(known);
          return;
        }
        setAlready(errorMessage(err));
        return;
      }
      throw err;
    }
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run();
  };

  if (result) {
    const link = workspaceLink(result.access_code);
    const path = `/w/${encodeURIComponent(result.access_code)}`;
    return (
      <PlainPage>
        <div className="card stack registered">
          <h1>You're in: {result.workshop.name}</h1>
          <p>
            {result.remembered ? 'You registered from this browser. ' : ''}This is your personal access code. Keep it: it opens your
            workspace from any browser, and it is shown only here.
          </p>
          <p className="access-code" data-testid="access-code">
            {groupCode(result.access_code)}
          </p>
          <div className="btn-row">
            <CopyButton text={groupCode(result.access_code)} label="Copy code" small={false} />
            <CopyButton text={link} label="Copy link" small={false} />
          </div>
          <p className="muted small">
            Bookmark this link: <a href={path}>{link}</a>
          </p>
          <Link to={path} className="btn btn-primary btn-large" autoFocus>
            Open my workspace
          </Link>
          {result.remembered && (
            <Button small onClick={() => setResult(null)}>
              Register someone else
            </Button>
          )}
        </div>
      </PlainPage>
    );
  }

  return (
    <PlainPage>
      <div className="card">
        <h1>Join a workshop</h1>
        <form onSubmit={submit} className="stack" aria-busy={busy}>
          <label className="field">
            <span>Workshop code</span>
            <input
              name="workshop_code"
              value={code}
              onChange={(e) => setCode(e.target.value)}
              required
              autoComplete="off"
              spellCheck={false}
              autoFocus={!initialCode}
              className="mono"
            />
          </label>
          <label className="field">
            <span>Your name</span>
            <input name="name" value={name} onChange={(e) => setName(e.target.value)} required autoComplete="name" autoFocus={!!initialCode} />
          </label>
          <label className="field">
            <span>Email</span>
            <input name="email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} required autoComplete="email" />
          </label>
          <ErrorBox error={error} />
          {already && (
            <div className="notice stack" role="alert" data-testid="already-registered">
              <p>{already}</p>
              <p className="small">
                <Link to="/w">Enter your access code</Link>. Lost it? Your instructor can give you a new one.
              </p>
            </div>
          )}
          <Button type="submit" variant="primary" busy={busy}>
            Get my access code
          </Button>
        </form>
        <p className="muted small">
          Already registered? <Link to="/w">Enter your access code</Link>
        </p>
      </div>
    </PlainPage>
  );
}
