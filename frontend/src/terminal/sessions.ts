// Which terminal sessions a seat's tabs show, and which one first. No DOM:
// unit-tested in the node environment (sessions.test.ts).
import type { TerminalSessionInfo, WorkspaceClient } from '../api';

/** The part of WorkspaceClient the tabs list and create sessions with. */
export type SessionLister = Pick<WorkspaceClient, 'endpoints' | 'listSessions' | 'createSession'>;

/** Oldest first (then by id), as tabs are shown. */
export function sortSessions(s: TerminalSessionInfo[]) {
  return [...s].sort((a, b) => (a.created_at ?? '').localeCompare(b.created_at ?? '') || a.id.localeCompare(b.id));
}

// One "list, and create a session if there is none" at a time per seat, so two
// mounts (React's strict mode, two tabs of the page) do not open two shells.
const inflight = new Map<string, Promise<TerminalSessionInfo[]>>();

export function listOrCreate(client: SessionLister, create: boolean): Promise<TerminalSessionInfo[]> {
  const key = `${client.endpoints.sessions}|${create}`;
  let p = inflight.get(key);
  if (!p) {
    p = (async () => {
      const sessions = sortSessions((await client.listSessions()).filter((s) => !s.exited));
      if (sessions.length === 0 && create) {
        const created = await client.createSession();
        return [{ id: created.id }];
      }
      return sessions;
    })().finally(() => inflight.delete(key));
    inflight.set(key, p);
  }
  return p;
}

/**
 * The tab to show first: for the learner the oldest shell; for a watching
 * instructor the one the learner is busiest in (connected, most output).
 */
export function preferred(sessions: TerminalSessionInfo[], mode: 'rw' | 'ro'): string {
  if (mode === 'rw' || sessions.length === 1) return sessions[0].id;
  const score = (s: TerminalSessionInfo) => [(s.clients ?? 0) > 0 ? 1 : 0, s.offset ?? 0];
  return [...sessions].sort((a, b) => {
    const [ca, oa] = score(a);
    const [cb, ob] = score(b);
    return cb - ca || ob - oa;
  })[0].id;
}
