import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { errorMessage } from './api';

export interface AsyncState<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload: () => void;
  setData: (d: T) => void;
}

/**
 * The latest value, for effects and callbacks that read it when they run
 * without running again when it changes. It is updated after each render
 * is committed (refs are not written during render).
 */
export function useLatest<T>(value: T): { readonly current: T } {
  const ref = useRef(value);
  useLayoutEffect(() => {
    ref.current = value;
  });
  return ref;
}

/** A dependency of useAsync: ids and counters (compared by value). */
export type AsyncDep = string | number | boolean | null | undefined;

/**
 * Runs an async loader when deps change; exposes loading and error states.
 * `reload` runs it again without clearing the shown data (quiet refresh).
 */
export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, deps: readonly AsyncDep[]): AsyncState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [tick, setTick] = useState(0);
  // The run is named by its deps and reload count; loading until that run settles.
  const key = JSON.stringify([...deps, tick]);
  const [settled, setSettled] = useState<{ key: string; error: string | null }>({ key: '', error: null });
  const loadRef = useLatest(load);

  useEffect(() => {
    const ctrl = new AbortController();
    loadRef.current(ctrl.signal).then(
      (d) => {
        if (ctrl.signal.aborted) return;
        setData(d);
        setSettled({ key, error: null });
      },
      (err: unknown) => {
        if (ctrl.signal.aborted) return;
        setSettled({ key, error: errorMessage(err) });
      },
    );
    return () => ctrl.abort();
  }, [key, loadRef]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error: settled.error, loading: settled.key !== key, reload, setData };
}

/** Runs an action with busy and error state (buttons that call the API). */
export function useAction<A extends unknown[], R>(fn: (...args: A) => Promise<R>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const fnRef = useLatest(fn);
  const run = useCallback(async (...args: A): Promise<R | undefined> => {
    setBusy(true);
    setError(null);
    try {
      return await fnRef.current(...args);
    } catch (err) {
      setError(errorMessage(err));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, [fnRef]);
  return { run, busy, error, setError };
}

/** Calls fn every `ms` while the page is visible (and once when it becomes visible). */
export function useInterval(fn: () => void, ms: number | null) {
  const fnRef = useLatest(fn);
  useEffect(() => {
    if (ms === null) return;
    const id = setInterval(() => {
      if (document.visibilityState !== 'hidden') fnRef.current();
    }, ms);
    const onVis = () => {
      if (document.visibilityState === 'visible') fnRef.current();
    };
    document.addEventListener('visibilitychange', onVis);
    return () => {
      clearInterval(id);
      document.removeEventListener('visibilitychange', onVis);
    };
  }, [ms, fnRef]);
}

/** A state value persisted in localStorage under `key`. */
export function useStoredState<T>(key: string, initial: T): [T, (v: T) => void] {
  const [value, setValue] = useState<T>(() => {
    try {
      const raw = localStorage.getItem(key);
      return raw === null ? initial : (JSON.parse(raw) as T);
    } catch {
      return initial;
    }
  });
  const set = useCallback(
    (v: T) => {
      setValue(v);
      try {
        localStorage.setItem(key, JSON.stringify(v));
      } catch {
        /* storage full or disabled */
      }
    },
    [key],
  );
  return [value, set];
}

/** Re-renders every `ms` (for "5 min ago" labels). */
export function useNow(ms = 30_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(id);
  }, [ms]);
  return now;
}
