// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { JoinSession, REISSUED } from './joinSession';
import { mockFetch } from './test/fetchMock';

const ready = (token: string, inMs: number) => ({
  body: {
    status: 'ready',
    workshop: { id: 'w1', name: 'W', status: 'running' },
    seat: 1,
    token,
    expires_at: new Date(Date.now() + inMs).toISOString(),
    endpoints: { terminal: '/t', files: '/f', sessions: '/s' },
  },
});

describe('JoinSession', () => {
  it('reuses a fresh token and re-joins when asked to refresh', async () => {
    let n = 0;
    const { calls } = mockFetch({ 'POST /api/join': () => ready(`t${++n}`, 10 * 60_000) });
    const s = new JoinSession('ACC');
    s.accept(ready('t0', 10 * 60_000).body as never);
    await expect(s.getToken()).resolves.toBe('t0');
    expect(calls).toHaveLength(0);
    await expect(s.getToken(true)).resolves.toBe('t1');
    expect(calls[0].body).toEqual({ access_code: 'ACC' });
    await expect(s.getToken()).resolves.toBe('t1');
    expect(calls).toHaveLength(1);
  });

  it('re-joins shortly before expiry, once for concurrent callers', async () => {
    let n = 0;
    const { calls } = mockFetch({ 'POST /api/join': () => ready(`t${++n}`, 10 * 60_000) });
    const s = new JoinSession('ACC');
    s.accept(ready('old', 30_000).body as never); // expires within the refresh margin
    const [a, b] = await Promise.all([s.getToken(), s.getToken()]);
    expect([a, b]).toEqual(['t1', 't1']);
    expect(calls).toHaveLength(1);
  });

  it('fails clearly when the seat is no longer ready', async () => {
    mockFetch({ 'POST /api/join': () => ({ body: { status: 'pending', workshop: { id: 'w1', name: 'W', status: 'stopped' } } }) });
    const s = new JoinSession('ACC');
    await expect(s.getToken(true)).rejects.toThrow(/not available any more \(the workshop is stopped\)/);
  });

  it('says the machine is restarting while its host restarts it', async () => {
    mockFetch({
      'POST /api/join': () => ({ body: { status: 'pending', machine_status: 'down', workshop: { id: 'w1', name: 'W', status: 'running' } } }),
    });
    const s = new JoinSession('ACC');
    await expect(s.getToken(true)).rejects.toThrow(/Your machine is restarting \(your files are kept\)/);
    expect(s.fatal).toBeNull(); // it comes back: not a dead end
  });
});

describe('JoinSession fatal errors', () => {
  it('tells listeners when the learner was revoked', async () => {
    mockFetch({
      'POST /api/join': () => ({ status: 403, body: { error: { code: 'forbidden', message: 'your access to this workshop was revoked by the instructor' } } }),
    });
    const s = new JoinSession('ACC');
    const seen: string[] = [];
    s.onFatal((m) => seen.push(m));
    await expect(s.getToken(true)).rejects.toThrow('revoked');
    expect(seen).toEqual(['Your access to this workshop was revoked by the instructor.']);
    expect(s.fatal).toMatch(/revoked/);
  });

  it('explains that a code that stopped working was reissued', async () => {
    mockFetch({
      'POST /api/join': () => ({ status: 404, body: { error: { code: 'not_found', message: 'this access code is not valid' } } }),
    });
    const s = new JoinSession('OLD');
    const seen: string[] = [];
    s.onFatal((m) => seen.push(m));
    await expect(s.getToken(true)).rejects.toThrow();
    expect(seen).toEqual([REISSUED]);
  });
});

describe('JoinSession at the end of a class', () => {
  it('tells listeners the instructor ended the class, and that it resumed', async () => {
    let stopped = true;
    mockFetch({
      'POST /api/join': () =>
        stopped
          ? { body: { status: 'stopped', stopped_by_instructor: true, workshop: { id: 'w1', name: 'W', status: 'stopping' } } }
          : ready('t9', 10 * 60_000),
    });
    const s = new JoinSession('ACC');
    const seen: unknown[] = [];
    s.onEnded((e) => seen.push(e));
    await expect(s.getToken(true)).rejects.toThrow('Your instructor ended the workshop.');
    expect(s.ending).toEqual({ by: 'instructor' });
    stopped = false;
    await s.check();
    expect(s.ending).toBeNull();
    expect(seen).toEqual([{ by: 'instructor' }, null]);
  });

  it('keeps the end time of a class that ended for the page to show in local time', async () => {
    mockFetch({
      'POST /api/join': () => ({
        status: 410,
        body: { error: { code: 'workshop_ended', message: 'this workshop has ended', details: { ends_at: '2026-12-04T21:21:17Z' } } },
      }),
    });
    const s = new JoinSession('ACC');
    await s.check();
    expect(s.ending).toEqual({ by: 'schedule', endsAt: '2026-12-04T21:21:17Z' });
  });
});
