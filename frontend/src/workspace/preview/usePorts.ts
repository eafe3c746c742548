// The seat's listening ports, live (the workspace daemon's ?watch=1 stream,
// followed again after a drop), and the ports that started listening while
// the page was open: each gets a toast until it is dismissed or stops.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { ListeningPort, PreviewClient } from '../../api';

/** Waits before following the stream again after it ended or failed: the first, then doubling up to the last. */
export const RETRY_MS = { first: 1000, max: 15_000 };

export interface PortsState {
  /** null until the first list arrives. */
  ports: ListeningPort[] | null;
  /** Ports that started listening since the page opened, newest last, not yet dismissed. */
  fresh: number[];
  dismiss: (port: number) => void;
}

/**
 * newPorts: the ports of `next` that were in neither the previous list nor
 * any list before it (`seen`); the first list is what was already running.
 */
export function newPorts(seen: Set<number> | null, next: ListeningPort[]): number[] {
  if (!seen) return [];
  return next.map((p) => p.port).filter((p) => !seen.has(p));
}

export function usePorts(client: PreviewClient, retry = RETRY_MS): PortsState {
  const [ports, setPorts] = useState<ListeningPort[] | null>(null);
  const [fresh, setFresh] = useState<number[]>([]);
  const seen = useRef<Set<number> | null>(null);

  useEffect(() => {
    const ctl = new AbortController();
    let wait = retry.first;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onPorts = (list: ListeningPort[]) => {
      wait = retry.first;
      const added = newPorts(seen.current, list);
      seen.current = new Set([...(seen.current ?? []), ...list.map((p) => p.port)]);
      const open = new Set(list.map((p) => p.port));
      setPorts(list);
      setFresh((f) => [...f.filter((p) => open.has(p)), ...added.filter((p) => !f.includes(p))]);
    };
    const follow = async () => {
      try {
        await client.watchPorts(onPorts, ctl.signal);
      } catch {
        // A drop, a restart of the seat or an expired token: follow again.
      }
      if (ctl.signal.aborted) return;
      timer = setTimeout(() => void follow(), wait);
      wait = Math.min(wait * 2, retry.max);
    };
    void follow();
    return () => {
      ctl.abort();
      clearTimeout(timer);
    };
  }, [client, retry]);

  const dismiss = useCallback((port: number) => setFresh((f) => f.filter((p) => p !== port)), []);
  return { ports, fresh, dismiss };
}
