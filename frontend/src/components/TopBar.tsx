import type { ReactNode } from 'react';
import { Link } from '../router';
import { useAuth } from '../auth';

export function Brand() {
  return (
    <Link to="/" className="brand" aria-label="ClaraTeach home">
      <svg width="22" height="22" viewBox="0 0 32 32" aria-hidden="true">
        <rect width="32" height="32" rx="7" fill="currentColor" />
        <path d="M9 11l6 5-6 5M17 22h7" stroke="#fff" strokeWidth="2.6" fill="none" strokeLinecap="round" strokeLinejoin="round" />
      </svg>
      <span>ClaraTeach</span>
    </Link>
  );
}

/** A page for learners and sign-in: the brand alone on top, one narrow column. */
export function PlainPage({ children }: { children: ReactNode }) {
  return (
    <div>
      <header className="topbar topbar-plain">
        <Brand />
      </header>
      <main className="page narrow">{children}</main>
    </div>
  );
}

/** The header of instructor pages. */
export function TopBar({ children }: { children?: ReactNode }) {
  const { user, signOut } = useAuth();
  return (
    <header className="topbar">
      <Brand />
      <nav className="topbar-nav" aria-label="Main">
        {user && <Link to="/dashboard">Workshops</Link>}
        {user?.role === 'admin' && <Link to="/admin">Admin</Link>}
        {children}
      </nav>
      {user && (
        <div className="topbar-user">
          <span className="muted" title={user.email}>
            {user.name || user.email}
          </span>
          <button type="button" className="btn btn-ghost btn-small" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      )}
    </header>
  );
}
