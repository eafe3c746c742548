// The signed-in instructor, loaded once from GET /api/auth/me on instructor pages.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import { errorMessage, logout as apiLogout, me, type User } from './api';
import { navigate } from './router';
import { ErrorBox, Spinner } from './components/ui';

interface AuthState {
  user: User | null | undefined; // undefined = not checked yet
  error: string | null;
  check: () => void;
  setUser: (u: User | null) => void;
  signOut: () => Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);

  const check = useCallback(() => {
    setError(null);
    me()
      .then((u) => setUser(u))
      .catch((e: unknown) => setError(errorMessage(e)));
  }, []);

  const signOut = useCallback(async () => {
    try {
      await apiLogout();
    } catch {
      /* signed out locally either way */
    }
    setUser(null);
    navigate('/');
  }, []);

  return <AuthContext.Provider value={{ user, error, check, setUser, signOut }}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error('useAuth outside AuthProvider');
  return ctx;
}

/** Renders children for a signed-in instructor; otherwise sends to /signin. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const { user, error, check } = useAuth();
  useEffect(() => {
    if (user === undefined && !error) check();
  }, [user, error, check]);
  useEffect(() => {
    if (user === null) {
      const next = window.location.pathname + window.location.search;
      navigate(`/signin?next=${encodeURIComponent(next)}`, { replace: true });
    }
  }, [user]);
  if (error)
    return (
      <main className="page narrow">
        <ErrorBox error={error} onRetry={check} />
      </main>
    );
  if (!user)
    return (
      <main className="page narrow">
        <Spinner label="Checking your session…" />
      </main>
    );
  return <>{children}</>;
}
