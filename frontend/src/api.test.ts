import { describe, expect, it, vi } from 'vitest';
import { ApiError, WorkspaceClient, errorMessage, sentence, joinLink, learner, login, logout, me, request, signedIn, workshops } from './api';
import { apiError, mockFetch } from './test/fetchMock';

describe('messages', () => {
  it('shows a time in the viewer\'s time zone, never raw UTC, as a sentence', () => {
    // The viewer is in Tokyo: dates format in that zone unless the code
    // names another. (Not process.env.TZ: test files run in worker threads,
    // which share the process's time zone.)
    const toLocaleString = Date.prototype.toLocaleString;
    vi.spyOn(Date.prototype, 'toLocaleString').mockImplementation(function (this: Date, locales, options) {
      return toLocaleString.call(this, locales, { timeZone: 'Asia/Tokyo', ...options });
    });
    const err = new ApiError(409, 'workshop_ended', 'this workshop ended at 2026-12-04T21:21:17Z; extend it first');
    const msg = errorMessage(err);
    expect(msg).not.toMatch(/2026-12-04T|Z;/);
    // 21:21 UTC is 06:21 the next morning in Tokyo.
    expect(msg).toMatch(/^This workshop ended at Dec 5, 2026, 6:21\sAM; extend it first\.$/);
  });

  it('makes sentences of fragments and leaves sentences alone', () => {
    expect(sentence('seat limit reached')).toBe('Seat limit reached.');
    expect(sentence('This workshop is full.')).toBe('This workshop is full.');
    expect(sentence('Are you sure?')).toBe('Are you sure?');
    expect(errorMessage(new Error('no such file: a.txt'))).toBe('No such file: a.txt.');
  });
});

describe('request', () => {
  it('returns the decoded JSON and sends cookies', async () => {
    const { calls } = mockFetch({ 'GET /api/x': () => ({ body: { ok: 1 } }) });
    await expect(request('/api/x')).resolves.toEqual({ ok: 1 });
    expect(calls[0].method).toBe('GET');
    const init = vi.mocked(fetch).mock.calls[0][1]!;
    expect(init.credentials).toBe('include');
  });

  it("throws ApiError with the server's code and message", async () => {
    mockFetch({ 'POST /api/register': () => apiError(409, 'workshop_full', 'This workshop is full.') });
    const err = await learner.register({ workshop_code: 'A', name: 'n', email: 'e@x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(409);
    expect((err as ApiError).code).toBe('workshop_full');
    expect(errorMessage(err)).toBe('This workshop is full.');
  });

  it('copes with an error body that is not JSON', async () => {
    mockFetch({ 'GET /api/x': () => ({ status: 502, text: '<html><body>Bad gateway</body></html>' }) });
    const err = (await request('/api/x').catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(502);
    expect(err.message).toBe('Bad gateway');
  });

  it('turns a network failure into a readable error', async () => {
    vi.stubGlobal('fetch', vi.fn().mockRejectedValue(new TypeError('Failed to fetch')));
    const err = (await request('/api/x').catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(0);
    expect(err.message).toMatch(/cannot reach the server/i);
  });

  it('sends JSON bodies with the session cookie, never a bearer token of its own', async () => {
    localStorage.setItem('clarateach.session', 'tok123'); // left by an earlier version
    const { calls } = mockFetch({ 'POST /api/workshops': (c) => ({ status: 201, body: { id: 'w1', ...(c.body as object) } }) });
    const w = await workshops.create({ name: 'Go 101', seats: 3 });
    expect(w.id).toBe('w1');
    expect(calls[0].body).toEqual({ name: 'Go 101', seats: 3 });
    expect(calls[0].headers.Authorization).toBeUndefined();
    expect(vi.mocked(fetch).mock.calls[0][1]!.credentials).toBe('include');
    expect(calls[0].headers['Content-Type']).toBe('application/json');
  });

  it('answers null for a revoke the host confirmed (204), the pending revoke for a 202', async () => {
    let status = 204;
    mockFetch({
      'DELETE /api/workshops/w1/registrations/r1': () =>
        status === 204 ? { status } : { status, body: { revoke_pending: true, seat: 2, error: 'agent unreachable' } },
    });
    await expect(workshops.revoke('w1', 'r1')).resolves.toBeNull();
    status = 202;
    await expect(workshops.revoke('w1', 'r1')).resolves.toEqual({ revoke_pending: true, seat: 2, error: 'agent unreachable' });
  });

  it('treats a bad JSON success body as an error', async () => {
    mockFetch({ 'GET /api/x': () => ({ text: 'not json{' }) });
    await expect(request('/api/x')).rejects.toMatchObject({ code: 'bad_response' });
  });
});

describe('auth', () => {
  it('keeps the session out of localStorage: sign-in leaves only a signed-in hint, sign-out clears it', async () => {
    localStorage.setItem('clarateach.session', 'old-token'); // left by an earlier version
    mockFetch({
      'POST /api/auth/login': () => ({ body: { user: { id: 'u1', email: 'a@x', name: 'A', role: 'instructor' }, token: 'jwt-secret' } }),
      'POST /api/auth/logout': () => ({ status: 204 }),
    });
    const u = await login({ email: 'a@x', password: 'pw' });
    expect(u.id).toBe('u1');
    expect(signedIn.get()).toBe(true);
    const stored = Object.keys(localStorage).map((k) => localStorage.getItem(k));
    expect(stored.join(' ')).not.toContain('jwt-secret');
    expect(localStorage.getItem('clarateach.session')).toBeNull();
    await logout();
    expect(signedIn.get()).toBe(false);
  });

  it('me() answers null when signed out and forgets the signed-in hint', async () => {
    signedIn.set(true);
    mockFetch({ 'GET /api/auth/me': () => apiError(401, 'unauthorized', 'Sign in first.') });
    await expect(me()).resolves.toBeNull();
    expect(signedIn.get()).toBe(false);
  });

  it('me() rethrows other errors', async () => {
    mockFetch({ 'GET /api/auth/me': () => apiError(500, 'internal', 'Database down') });
    await expect(me()).rejects.toThrow('Database down');
  });
});

describe('WorkspaceClient', () => {
  const endpoints = {
    terminal: '/api/workspaces/w1/1/terminal',
    files: '/api/workspaces/w1/1/files',
    sessions: '/api/workspaces/w1/1/sessions',
  };

  it('uses the workspace token and retries once with a fresh one on 401', async () => {
    let n = 0;
    const { calls } = mockFetch({
      'GET /api/workspaces/w1/1/files': (c) =>
        c.headers.Authorization === 'Bearer fresh'
          ? { body: { path: '.', entries: [{ name: 'a.txt', path: 'a.txt', type: 'file', size: 1, mtime: '' }] } }
          : apiError(401, 'token_expired', 'expired'),
    });
    const source = vi.fn(async (refresh?: boolean) => {
      n++;
      return refresh ? 'fresh' : 'stale';
    });
    const c = new WorkspaceClient(endpoints, source);
    const r = await c.list('.');
    expect(r.entries[0].name).toBe('a.txt');
    expect(calls).toHaveLength(2);
    expect(calls[0].url).toBe('/api/workspaces/w1/1/files?path=.');
    expect(n).toBe(2);
  });

  it('builds the terminal WebSocket URL with token, session, offset and mode', async () => {
    const c = new WorkspaceClient(endpoints, async () => 'tk');
    const url = new URL(await c.terminalUrl({ session: 's1', offset: 42, mode: 'ro' }));
    expect(url.protocol).toBe('ws:');
    expect(url.pathname).toBe('/api/workspaces/w1/1/terminal');
    expect(Object.fromEntries(url.searchParams)).toEqual({ token: 'tk', session: 's1', offset: '42', mode: 'ro' });
  });

  it('writes raw bytes with PUT and encodes paths', async () => {
    const { calls } = mockFetch({ 'PUT /api/workspaces/w1/1/files/content': () => ({ status: 204 }) });
    const c = new WorkspaceClient(endpoints, async () => 'tk');
    await c.write('dir/a b.txt', 'hello');
    expect(calls[0].url).toBe('/api/workspaces/w1/1/files/content?path=dir%2Fa%20b.txt');
    expect(calls[0].body).toBe('hello');
  });
});

it('joinLink builds /join/<CODE> on the given origin', () => {
  expect(joinLink('AB-12', 'https://x.test')).toBe('https://x.test/join/AB-12');
});
