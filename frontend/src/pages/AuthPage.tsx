import { useState, type FormEvent } from 'react';
import { Link, navigate, useLocation } from '../router';
import { login, registerInstructor } from '../api';
import { useAuth } from '../auth';
import { useAction } from '../hooks';
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
  const { run, busy, error } = useAction(async () => {
    const user = signup ? await registerInstructor({ email, password, name, invite }) : await login({ email, password });
    setUser(user);
    navigate(safeNext(search), { replace: true });
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run();
  };

  return (
    <PlainPage>
      <div className="card">
        <h1>{signup ? 'Create an instructor account' : 'Instructor sign in'}</h1>
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
          ) : (
            <>
              New here? <Link to={`/signup${search}`}>Create an account</Link>
            </>
          )}
        </p>
      </div>
    </PlainPage>
  );
}
