import { useState, type FormEvent } from 'react';
import { learner, workspaceLink, type RegisterResult } from '../api';
import { useAction } from '../hooks';
import { Link } from '../router';
import { PlainPage } from '../components/TopBar';
import { Button, CopyButton, ErrorBox } from '../components/ui';
import { groupCode } from '../accessCode';

export function rememberAccessCode(code: string) {
  try {
    localStorage.setItem('clarateach.access', code);
  } catch {
    /* private mode */
  }
}

export function RegisterPage({ code: initialCode }: { code: string }) {
  const [code, setCode] = useState(initialCode);
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [result, setResult] = useState<RegisterResult | null>(null);
  const { run, busy, error } = useAction(async () => {
    const r = await learner.register({ workshop_code: code.trim(), name: name.trim(), email: email.trim() });
    rememberAccessCode(r.access_code);
    setResult(r);
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
          <p>This is your personal access code. Keep it: it opens your workspace from any browser.</p>
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
