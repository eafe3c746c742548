// The learner's lab, polled: steps, progress, the broadcast and their hand.
// A workshop without a lab answers 204: then `lab` is null and the plain lab
// guide is shown.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { LearnerLab, LearnerLabClient } from '../api';

const POLL_MS = 4000;

export function useLearnerLab(client: LearnerLabClient) {
  const [lab, setLab] = useState<LearnerLab | null>(null);
  const [none, setNone] = useState(false);
  const alive = useRef(true);

  const refresh = useCallback(async () => {
    try {
      const l = await client.get();
      if (alive.current) {
        setLab(l ?? null);
        setNone(!l);
      }
    } catch {
      // A network blip or an expired token: keep what we have, try again.
    }
  }, [client]);

  useEffect(() => {
    alive.current = true;
    // The first load is a timer too: state is only set from callbacks.
    const first = setTimeout(() => void refresh(), 0);
    const t = setInterval(() => void refresh(), POLL_MS);
    return () => {
      alive.current = false;
      clearInterval(t);
      clearTimeout(first);
    };
  }, [refresh]);

  return { lab, none, refresh };
}
