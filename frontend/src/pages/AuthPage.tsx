import { useState, type FormEvent } from 'react';
import { Link, navigate, useLocation } from '../router';
import { login, registerInstructor, signupMode } from '../api';
import { useAuth } from '../auth';
import { useAction, useAsync } from '../hooks';
import { PlainPage } from '../components/TopBar';
import { Button, ErrorBox } from '../components/ui';

function safeNext(search: string): string {
  const next = new URLSearchParams(search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/dashboard';
}

export function AuthPage({ mode }: { mode: 'signin' | 'signup' }) {
  const { search } = useLocation();
  const { setUser } = useAuth();
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const signup = mode === 'signup';
  // An admin's invite link is /signup?invite=TOKEN.
  const invite = new URLSearchParams(search).get('invite') ?? undefined;
  const signupInfo = useAsync((signal) => signupMode(signal), []);
  // Without an invite, sign-up only works when the server is open.
  const invitationOnly = signup && !invite && signupInfo.data !== undefined && signupInfo.data !== 'open';
  const { run, busy, error } = useAction(async () => {
    const user = signup ? await registerInstructor({ email, password, name, invite }) : await login({ email, password });
    setUser(user);
    navigate(safeNext(search), { replace: true });
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run();
  };

  if (invitationOnly) {
    return (
      <PlainPage>
        <div className="card" data-testid="invitation-only">
          <h1>Sign-up is by invitation</h1>
          <p>
            Instructor accounts on this server are created by an administrator. Ask one for an invite link, then open it
            to create your account.
          </p>
          <p className="muted small">
            Already have an account? <Link to={`/signin${search}`}>Sign in</Link>
          </p>
        </div>
      </PlainPage>
    );
  }

  return (
    <PlainPage>
      <div className="card">
        <h1>{signup ? 'Create an instructor account' : 'Instructor sign in'}</h1>
        {signup && invite && <p className="muted small">You were invited: create your account below.</p>}
        <form onSubmit={submit} className="stack" aria-busy={busy}>
          {signup && (
            <label className="field">
              <span>Name</span>
              <input name="name" value={name} onChange={(e) => setName(e.target.value)} required autoComplete="name" autoFocus />
            </label>
          )}
          <label className="field">
            <span>Email</span>
            <input
              name="email"
              type="email"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              required
              autoComplete="email"
              autoFocus={!signup}
            />
          </label>
          <label className="field">
            <span>Password</span>
            <input
              name="password"
              type="password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              required
              minLength={signup ? 8 : undefined}
              autoComplete={signup ? 'new-password' : 'current-password'}
            />
            {signup && <small className="muted">At least 8 characters.</small>}
          </label>
          <ErrorBox error={error} />
          <Button type="submit" variant="primary" busy={busy}>
            {signup ? 'Create account' : 'Sign in'}
          </Button>
        </form>
        <p className="muted small">
          {signup ? (
            <>
              Already have an account? <Link to={`/signin${search}`}>Sign in</Link>
            </>
          ) : signupInfo.data === 'open' ? (
            <>
              New here? <Link to={`/signup${search}`}>Create an account</Link>
            </>
          ) : (
            <>New here? Ask an administrator for an invite link.</>
          )}
        </p>
      </div>
    </PlainPage>
  );
}
