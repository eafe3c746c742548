// The class view's one source of data: the workshop's Server-Sent Events
// (GET /api/workshops/{id}/stream). A `workshop` event is a whole
// ClassSnapshot (workshop, seats, events, registrations, lab), sent at once on
// connecting; `delta` events then carry only what changed, folded into the
// class by classDelta.ts. The browser's EventSource resumes a
// dropped stream itself; a stream the server refused (or one that fails
// hard) is opened again here after a growing pause.
import { useCallback, useEffect, useState } from 'react';
import { errorMessage, workshops, type ClassDelta, type ClassSnapshot, type WorkshopDetail } from '../../api';
import { applyDelta, fromSnapshot } from './classDelta';

export type LiveMode = 'connecting' | 'live' | 'reconnecting';

/** Pauses before opening a refused stream again: 1 s, 2 s, 4 s … at most 30 s. */
export function reconnectDelay(failures: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, failures - 1));
}

export interface ClassStream {
  snapshot: ClassSnapshot | null;
  error: string | null;
  mode: LiveMode;
  /** Opens the stream again now (the Retry button). */
  reconnect: () => void;
  /** Shows an answer the page already has (an action's result) until the next event. */
  patchWorkshop: (w: Partial<WorkshopDetail>) => void;
}

export function useClassStream(id: string): ClassStream {
  const [snapshot, setSnapshot] = useState<ClassSnapshot | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [mode, setMode] = useState<LiveMode>('connecting');
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let es: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    let closed = false;
    const ctrl = new AbortController();

    const open = () => {
      es = new EventSource(workshops.streamUrl(id), { withCredentials: true });
      es.addEventListener('workshop', (ev) => {
        let snap: ClassSnapshot;
        try {
          snap = JSON.parse((ev as MessageEvent<string>).data) as ClassSnapshot;
        } catch {
          return; // a malformed event: the next one will do
        }
        if (!snap.workshop) return;
        failures = 0;
        setSnapshot(fromSnapshot(snap));
        setMode('live');
        setError(null);
      });
      es.addEventListener('delta', (ev) => {
        let d: ClassDelta;
        try {
          d = JSON.parse((ev as MessageEvent<string>).data) as ClassDelta;
        } catch {
          // A lost change: only a whole class sets it right. The server
          // sends one to every new stream.
          es?.close();
          es = null;
          open();
          return;
        }
        setSnapshot((s) => (s ? applyDelta(s, d) : s));
      });
      es.onerror = () => {
        if (closed || !es) return;
        setMode('reconnecting');
        // CONNECTING: the browser resumes the stream on its own.
        if (es.readyState !== EventSource.CLOSED) return;
        es = null;
        failures++;
        if (failures === 1) void explain();
        timer = setTimeout(open, reconnectDelay(failures));
      };
    };

    // A refused stream says nothing about why: ask the workshop itself once,
    // so the page can show the server's reason (gone, no access, signed out).
    const explain = async () => {
      try {
        await workshops.get(id, ctrl.signal);
      } catch (err) {
        if (!ctrl.signal.aborted) setError(errorMessage(err));
      }
    };

    if (typeof EventSource === 'undefined') {
      queueMicrotask(() => setError('This browser cannot receive live updates (no EventSource).'));
    } else {
      open();
    }
    return () => {
      closed = true;
      ctrl.abort();
      clearTimeout(timer);
      es?.close();
    };
  }, [id, attempt]);

  const reconnect = useCallback(() => setAttempt((a) => a + 1), []);
  const patchWorkshop = useCallback(
    (w: Partial<WorkshopDetail>) => setSnapshot((s) => (s ? { ...s, workshop: { ...s.workshop, ...w } } : s)),
    [],
  );
  return { snapshot, error, mode, reconnect, patchWorkshop };
}
