// Keeps a learner's short-lived workspace token fresh by re-joining with the
// access code before it expires (or when the server answers 401).
import { ApiError, errorMessage, learner, type Endpoints, type JoinResult } from './api';
import type { Ending } from './workspace/EndOfClass';

/** What ended the class, from a join answer or error (null: not over). */
export function endingOf(r: JoinResult | null, err?: unknown): Ending | null {
  if (err instanceof ApiError && err.status === 410 && err.code === 'workshop_ended') {
    const at = err.details.ends_at;
    return { by: 'schedule', endsAt: typeof at === 'string' ? at : undefined };
  }
  if (r && r.status === 'stopped') return { by: 'instructor' };
  return null;
}

const EARLY_MS = 60_000; // refresh this long before expiry

/** Why a code that worked is refused now: the instructor reissued it. */
export const REISSUED =
  'This access code no longer works: your instructor has given you a new one. Open your workspace with the new code.';

export class JoinSession {
  readonly accessCode: string;
  private token: string | null = null;
  private expiresAt = 0;
  private inflight: Promise<string> | null = null;
  endpoints: Endpoints | null = null;
  last: JoinResult | null = null;
  private listeners = new Set<(r: JoinResult) => void>();
  private fatalListeners = new Set<(message: string) => void>();
  /** Set once the seat is gone for good (revoked, workshop ended or stopped). */
  fatal: string | null = null;
  /** Set while the class is over (stopped by the instructor, or past its end). */
  ending: Ending | null = null;
  private endingListeners = new Set<(e: Ending | null) => void>();

  constructor(accessCode: string) {
    this.accessCode = accessCode;
  }

  accept(r: JoinResult) {
    this.last = r;
    this.setEnding(endingOf(r));
    if (r.token) {
      this.token = r.token;
      const exp = r.expires_at ? Date.parse(r.expires_at) : NaN;
      this.expiresAt = Number.isFinite(exp) ? exp : Date.now() + 10 * 60_000;
    }
    if (r.endpoints) this.endpoints = r.endpoints;
    this.listeners.forEach((l) => l(r));
  }

  onUpdate(fn: (r: JoinResult) => void) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Called when the seat cannot be used any more (the message says why). */
  onFatal(fn: (message: string) => void) {
    this.fatalListeners.add(fn);
    return () => this.fatalListeners.delete(fn);
  }

  /** Called when the class ends (or, after a restart by the instructor, resumes: null). */
  onEnded(fn: (e: Ending | null) => void) {
    this.endingListeners.add(fn);
    return () => this.endingListeners.delete(fn);
  }

  private setEnding(e: Ending | null) {
    if (JSON.stringify(e) === JSON.stringify(this.ending)) return;
    this.ending = e;
    this.endingListeners.forEach((l) => l(e));
  }

  /** Asks the server whether the class goes on (a periodic check from the workspace). */
  check = (): Promise<void> => this.getToken(true).then(
    () => undefined,
    () => undefined,
  );

  private fail(message: string) {
    this.fatal = message;
    this.fatalListeners.forEach((l) => l(message));
  }

  /** A valid token; re-joins when it expires soon or when `refresh` is set. */
  getToken = (refresh = false): Promise<string> => {
    if (!refresh && this.token && Date.now() < this.expiresAt - EARLY_MS) return Promise.resolve(this.token);
    if (!this.inflight) {
      this.inflight = learner
        .join(this.accessCode)
        .then((r) => {
          this.accept(r);
          if (r.status === 'stopped') throw new Error('Your instructor ended the workshop.');
          if (r.status !== 'ready' || !r.token) {
            const msg =
              r.machine_status === 'down'
                ? 'Your machine is restarting (your files are kept). This page reconnects when it is back.'
                : `Your machine is not available any more (the workshop is ${r.workshop.status}). This page reconnects when it is back.`;
            throw new Error(msg);
          }
          this.fatal = null;
          return r.token;
        })
        .catch((err: unknown) => {
          // Revoked (403), unknown code (404), workshop over (410): retrying cannot help.
          const ending = endingOf(null, err);
          if (ending) this.setEnding(ending);
          if (err instanceof ApiError && err.status === 404) this.fail(REISSUED);
          else if (err instanceof ApiError && [403, 410].includes(err.status)) this.fail(errorMessage(err));
          throw err;
        })
        .finally(() => {
          this.inflight = null;
        });
    }
    return this.inflight;
  };
}
