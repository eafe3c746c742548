import { useState, type FormEvent } from 'react';
import { Link, navigate } from '../router';
import { Brand } from '../components/TopBar';
import { signedIn, signupMode } from '../api';
import { useAsync } from '../hooks';

export function Landing() {
  const [code, setCode] = useState('');
  const [access, setAccess] = useState('');
  const lastAccess = (() => {
    try {
      return localStorage.getItem('clarateach.access') ?? '';
    } catch {
      return '';
    }
  })();
  const [isSignedIn] = useState(() => signedIn.get());
  // Sign-up is by invitation unless the server is open (SIGNUP).
  const signup = useAsync((signal) => signupMode(signal), []);

  const goRegister = (e: FormEvent) => {
    e.preventDefault();
    const c = code.trim();
    navigate(c ? `/join/${encodeURIComponent(c)}` : '/join');
  };
  const goWorkspace = (e: FormEvent) => {
    e.preventDefault();
    const a = access.trim();
    if (a) navigate(`/w/${encodeURIComponent(a)}`);
  };

  return (
    <div className="landing">
      <header className="topbar topbar-plain">
        <Brand />
      </header>
      <main className="page">
        <section className="hero">
          <h1>Hands-on coding workshops, in the browser.</h1>
          <p className="lead">
            Every learner gets a private Linux machine with a terminal, files, an editor and the lab guide. No
            installs, nothing to clean up.
          </p>
        </section>
        <div className="paths">
          <section className="card path" aria-labelledby="learner-h">
            <h2 id="learner-h">I'm a learner</h2>
            <form onSubmit={goRegister} className="stack">
              <label className="field">
                <span>Workshop code from your instructor</span>
                <input
                  value={code}
                  onChange={(e) => setCode(e.target.value)}
                  placeholder="e.g. K7QX-2M"
                  autoComplete="off"
                  autoCapitalize="characters"
                  spellCheck={false}
                />
              </label>
              <button type="submit" className="btn btn-primary">
                Register for the workshop
              </button>
            </form>
            <div className="divider-text">already registered?</div>
            <form onSubmit={goWorkspace} className="stack">
              <label className="field">
                <span>Your personal access code</span>
                <input
                  value={access}
                  onChange={(e) => setAccess(e.target.value)}
                  placeholder="access code"
                  autoComplete="off"
                  spellCheck={false}
                />
              </label>
              <button type="submit" className="btn" disabled={!access.trim()}>
                Open my workspace
              </button>
            </form>
            {lastAccess && (
              <p className="muted small">
                Welcome back: <Link to={`/w/${encodeURIComponent(lastAccess)}`}>continue where you left off</Link>
              </p>
            )}
          </section>
          <section className="card path" aria-labelledby="instructor-h">
            <h2 id="instructor-h">I'm an instructor</h2>
            <p>Create a workshop, share its code, and watch your class work live.</p>
            <div className="stack">
              {isSignedIn ? (
                <Link to="/dashboard" className="btn btn-primary">
                  Go to my workshops
                </Link>
              ) : (
                <>
                  <Link to="/signin" className="btn btn-primary">
                    Sign in
                  </Link>
                  {signup.data === undefined || signup.data === 'open' ? (
                    <Link to="/signup" className="btn">
                      Create an instructor account
                    </Link>
                  ) : (
                    <p className="muted small">New instructors: ask an administrator for an invite link.</p>
                  )}
                </>
              )}
            </div>
          </section>
        </div>
      </main>
    </div>
  );
}
