import { useEffect, useState } from 'react';

/** Reads GET /health once and reports whether seats are isolated (true until known). */
export function useSeatsIsolated(): boolean {
  const [isolated, setIsolated] = useState(true);
  useEffect(() => {
    const ctrl = new AbortController();
    fetch('/health', { signal: ctrl.signal, headers: { Accept: 'application/json' } })
      .then((r) => r.json() as Promise<{ seats_isolated?: boolean }>)
      .then((h) => {
        if (h.seats_isolated === false) setIsolated(false);
      })
      .catch(() => {
        /* no answer: nothing to warn about */
      });
    return () => ctrl.abort();
  }, []);
  return isolated;
}

/**
 * Shown on every page, to learners and instructors alike, when the server runs
 * its seats as plain development processes (AGENT_RUNTIME=process).
 */
export function IsolationBanner() {
  const isolated = useSeatsIsolated();
  if (isolated) return null;
  return (
    <div className="isolation-banner" role="alert">
      <strong>Development seats: not isolated.</strong> Learner shells run as plain processes on the server
      itself. Use this only for development, never with real learners.
    </div>
  );
}
