// @vitest-environment node
import { describe, expect, it, vi } from 'vitest';
import type { TerminalSessionInfo } from '../api';
import { listOrCreate, preferred, sortSessions, type SessionLister } from './sessions';
import { connLabel } from './status';

function fakeClient(sessions: TerminalSessionInfo[], sessionsUrl = '/api/workspaces/w1/1/sessions') {
  let created = 0;
  const client = {
    endpoints: { terminal: '/t', files: '/f', sessions: sessionsUrl },
    listSessions: vi.fn(async () => sessions),
    createSession: vi.fn(async () => ({ id: `new-${++created}` })),
  };
  return client as typeof client & SessionLister;
}

describe('terminal tabs: which sessions', () => {
  it('sorts oldest first, then by id', () => {
    const s = sortSessions([
      { id: 'b', created_at: '2026-01-01T00:00:02Z' },
      { id: 'c', created_at: '2026-01-01T00:00:01Z' },
      { id: 'a', created_at: '2026-01-01T00:00:02Z' },
    ]);
    expect(s.map((x) => x.id)).toEqual(['c', 'a', 'b']);
  });

  it('lists the live sessions and creates one only when there is none and creating is allowed', async () => {
    const busy = fakeClient([{ id: 's2', created_at: '2' }, { id: 'gone', created_at: '0', exited: true }, { id: 's1', created_at: '1' }]);
    expect((await listOrCreate(busy, true)).map((s) => s.id)).toEqual(['s1', 's2']);
    expect(busy.createSession).not.toHaveBeenCalled();

    const empty = fakeClient([{ id: 'gone', exited: true }], '/api/workspaces/w1/2/sessions');
    expect(await listOrCreate(empty, false)).toEqual([]);
    expect(empty.createSession).not.toHaveBeenCalled();
    expect((await listOrCreate(empty, true)).map((s) => s.id)).toEqual(['new-1']);
  });

  it('two mounts at once open one shell, not two', async () => {
    const c = fakeClient([], '/api/workspaces/w1/3/sessions');
    const [a, b] = await Promise.all([listOrCreate(c, true), listOrCreate(c, true)]);
    expect(a).toEqual([{ id: 'new-1' }]);
    expect(b).toBe(a);
    expect(c.createSession).toHaveBeenCalledTimes(1);
    // Once settled, the next mount asks again.
    await listOrCreate(c, true);
    expect(c.listSessions).toHaveBeenCalledTimes(2);
  });

  it('shows the learner their oldest shell and a watcher the busiest one', () => {
    const sessions: TerminalSessionInfo[] = [
      { id: 'old', clients: 0, offset: 9000 },
      { id: 'quiet', clients: 1, offset: 10 },
      { id: 'busy', clients: 1, offset: 5000 },
    ];
    expect(preferred(sessions, 'rw')).toBe('old');
    expect(preferred(sessions, 'ro')).toBe('busy');
    expect(preferred([{ id: 'only' }], 'ro')).toBe('only');
  });

  it('names each connection state', () => {
    expect(connLabel('open')).toBe('Connected');
    expect(connLabel('reconnecting')).toBe('Reconnecting…');
    expect(connLabel('exited')).toBe('Session ended');
    expect(connLabel(undefined)).toBe('Not connected');
  });
});
