import { describe, expect, it } from 'vitest';
import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { App } from '../App';
import { SharePanel } from '../components/SharePanel';
import { mockFetch } from '../test/fetchMock';
import type { UserRow, Workshop } from '../api';

const root = { id: 'a1', email: 'root@example.com', name: 'Root', role: 'admin', created_at: '2026-01-01T00:00:00Z' };
const ada: UserRow = {
  id: 'u1', email: 'ada@example.com', name: 'Ada', role: 'instructor', created_at: '2026-01-01T00:00:00Z',
  quota: { running_workshops: 2, seats: 60, workshop_hours: 8 }, quota_custom: false, usage: { running_workshops: 1, seats: 30 },
};

describe('admin page', () => {
  it('lists instructors with their quota, saves a change and makes an invite link shown once', async () => {
    const u = userEvent.setup();
    const { calls } = mockFetch({
      'GET /api/auth/me': () => ({ body: { user: root } }),
      'GET /api/admin/users': () => ({
        body: { users: [{ ...root, quota: null, quota_custom: false, usage: { running_workshops: 0, seats: 0 } }, ada], default_quota: ada.quota, signup: 'closed' },
      }),
      'GET /api/invites': () => ({ body: { invites: [] } }),
      'PUT /api/admin/users/u1/quota': (c) => ({ body: { ...ada, quota: c.body, quota_custom: true } }),
      'POST /api/invites': () => ({
        body: { invite: { id: 'i1', email: 'bea@example.com', status: 'pending' }, token: 't0k', url: 'http://x.test/signup?invite=t0k' },
      }),
    });
    window.history.replaceState(null, '', '/admin');
    render(<App />);
    const row = (await screen.findByText('ada@example.com')).closest('tr')!;
    expect(within(row).getByText(/1 running · 30 seats/)).toBeInTheDocument();
    expect(screen.getByText('root@example.com').closest('tr')!).toHaveTextContent('no quota (admin)');
    const seats = within(row).getByLabelText('Seats');
    await u.clear(seats);
    await u.type(seats, '90');
    await u.click(within(row).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'PUT')).toBe(true));
    expect(calls.find((c) => c.method === 'PUT')!.body).toEqual({ running_workshops: 2, seats: 90, workshop_hours: 8 });

    // Closed sign-up: the invite names an email.
    const email = screen.getByRole('textbox', { name: /email/i });
    expect(email).toBeRequired();
    await u.type(email, 'bea@example.com');
    await u.click(screen.getByRole('button', { name: 'Create invite link' }));
    expect(await screen.findByTestId('invite-link')).toHaveTextContent('http://x.test/signup?invite=t0k');
    expect(calls.find((c) => c.method === 'POST' && c.url === '/api/invites')!.body).toEqual({ email: 'bea@example.com' });
  }, 30_000);
});

describe('sign-up page', () => {
  it('says sign-up is by invitation when the server is closed and there is no invite', async () => {
    mockFetch({ 'GET /api/auth/signup': () => ({ body: { mode: 'closed' } }) });
    window.history.replaceState(null, '', '/signup');
    render(<App />);
    expect(await screen.findByTestId('invitation-only')).toHaveTextContent('Sign-up is by invitation');
    expect(screen.queryByRole('button', { name: 'Create account' })).toBeNull();
  });

  it('sends the invite token from the link with the new account', async () => {
    const u = userEvent.setup();
    const { calls } = mockFetch({
      'GET /api/auth/signup': () => ({ body: { mode: 'closed' } }),
      'POST /api/auth/register': () => ({ status: 201, body: { user: ada, token: 'sess' } }),
      'GET /api/auth/me': () => ({ body: { user: ada } }),
      'GET /api/workshops': () => ({ body: { workshops: [] } }),
    });
    window.history.replaceState(null, '', '/signup?invite=abc123');
    render(<App />);
    await u.type(await screen.findByLabelText('Name'), 'Ada');
    await u.type(screen.getByLabelText('Email'), 'ada@example.com');
    await u.type(screen.getByLabelText(/^Password/), 'correct horse battery');
    await u.click(screen.getByRole('button', { name: 'Create account' }));
    await waitFor(() => expect(calls.some((c) => c.url === '/api/auth/register')).toBe(true));
    expect(calls.find((c) => c.url === '/api/auth/register')!.body).toMatchObject({ email: 'ada@example.com', invite: 'abc123' });
  }, 30_000);
});

function ws(p: Partial<Workshop>): Workshop {
  return {
    id: 'w1', owner_id: 'u1', name: 'Workshop', code: 'ABC123', seats: 10, seats_used: 0, status: 'created',
    desired_state: 'stopped', status_reason: '', lab_guide: '', disk_mb: 2048, egress_allow: [], environment: '', environment_auth: false, learner_root: false,
    created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z', ...p,
  };
}

describe('co-instructors', () => {
  it('lists workshops shared with a teaching assistant apart, without owner actions', async () => {
    mockFetch({
      'GET /api/auth/me': () => ({ body: { user: ada } }),
      'GET /api/workshops': () => ({
        body: { workshops: [ws({ id: 'w1', name: 'Mine', access: 'owner' }), ws({ id: 'w2', name: 'Theirs', access: 'assistant', owner_id: 'u9' })] },
      }),
    });
    window.history.replaceState(null, '', '/dashboard');
    render(<App />);
    const shared = await screen.findByTestId('shared-workshops');
    const theirs = within(shared).getByText('Theirs').closest('li')!;
    expect(within(theirs).queryByRole('button', { name: 'Start' })).toBeNull();
    expect(within(theirs).queryByRole('button', { name: 'Delete' })).toBeNull();
    expect(within(theirs).getByRole('button', { name: /Copy join link/ })).toBeInTheDocument();
    const mine = screen.getByText('Mine').closest('li')!;
    expect(within(mine).getByRole('button', { name: 'Start' })).toBeInTheDocument();
  });

  it('the owner shares by email and removes a teaching assistant', async () => {
    const u = userEvent.setup();
    let list = [] as { user_id: string; email: string; name: string }[];
    const { calls } = mockFetch({
      'GET /api/workshops/w1/members': () => ({ body: { owner: { id: 'u1', email: 'ada@example.com', name: 'Ada' }, members: list } }),
      'POST /api/workshops/w1/members': (c) => {
        list = [{ user_id: 'u2', email: (c.body as { email: string }).email, name: 'Tom' }];
        return { status: 201, body: list[0] };
      },
      'DELETE /api/workshops/w1/members/u2': () => {
        list = [];
        return { status: 204 };
      },
    });
    render(<SharePanel workshopId="w1" canManage />);
    await u.type(await screen.findByLabelText("Instructor's email"), 'tom@example.com');
    await u.click(screen.getByRole('button', { name: 'Add teaching assistant' }));
    const li = await screen.findByText(/tom@example.com · teaching assistant/);
    await u.click(within(li.closest('li')!).getByRole('button', { name: 'Remove' }));
    await waitFor(() => expect(screen.queryByText(/tom@example.com/)).toBeNull());
    expect(calls.filter((c) => c.method !== 'GET').map((c) => `${c.method} ${c.url}`)).toEqual([
      'POST /api/workshops/w1/members',
      'DELETE /api/workshops/w1/members/u2',
    ]);
  }, 30_000);

  it('a teaching assistant sees the team but cannot share further', async () => {
    mockFetch({
      'GET /api/workshops/w1/members': () => ({
        body: { owner: { id: 'u1', email: 'ada@example.com', name: 'Ada' }, members: [{ user_id: 'u2', email: 'tom@example.com', name: 'Tom' }] },
      }),
    });
    render(<SharePanel workshopId="w1" canManage={false} />);
    expect(await screen.findByText(/tom@example.com · teaching assistant/)).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Add teaching assistant' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Remove' })).toBeNull();
  });
});

describe('landing page', () => {
  it('offers sign-up only when the server is open', async () => {
    mockFetch({ 'GET /api/auth/signup': () => ({ body: { mode: 'invite' } }) });
    window.history.replaceState(null, '', '/');
    const { unmount } = render(<App />);
    expect(await screen.findByText(/ask an administrator for an invite link/)).toBeInTheDocument();
    expect(screen.queryByRole('link', { name: 'Create an instructor account' })).toBeNull();
    unmount();
    mockFetch({ 'GET /api/auth/signup': () => ({ body: { mode: 'open' } }) });
    render(<App />);
    expect(await screen.findByRole('link', { name: 'Create an instructor account' })).toBeInTheDocument();
  });
});
