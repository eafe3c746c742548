// The seat's live facts, polled (GET …/live): the plain lab guide when the
// instructor edited it (sent only when our version is old), the lab version,
// and the instructors who have this learner's terminal open.
import { useEffect, useRef, useState } from 'react';
import type { LearnerLabClient, LearnerLive } from '../api';

const POLL_MS = 4000;

export interface LiveState {
  live: LearnerLive | null;
  /** The latest plain guide text the server sent, or null while we have the page's own. */
  guide: string | null;
}

export function useLearnerLive(client: LearnerLabClient, pollMs = POLL_MS): LiveState {
  const [state, setState] = useState<LiveState>({ live: null, guide: null });
  const version = useRef('');

  useEffect(() => {
    let alive = true;
    const tick = async () => {
      try {
        const l = await client.live(version.current);
        if (!alive) return;
        const changed = l.guide !== undefined && l.guide_version !== version.current;
        const first = version.current === '';
        version.current = l.guide_version;
        // The first answer names the version the page was loaded with: no change to show.
        setState((s) => ({ live: l, guide: changed && !first ? (l.guide ?? '') : s.guide }));
      } catch {
        // A blip or an expired token: keep what we have, ask again.
      }
    };
    const first = setTimeout(() => void tick(), 0);
    const t = setInterval(() => void tick(), pollMs);
    return () => {
      alive = false;
      clearTimeout(first);
      clearInterval(t);
    };
  }, [client, pollMs]);

  return state;
}
