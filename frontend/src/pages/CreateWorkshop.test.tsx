import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { App } from '../App';
import { mockFetch } from '../test/fetchMock';

const user = { id: 'u1', email: 'i@example.com', name: 'Ines', role: 'instructor', created_at: '2026-01-01T00:00:00Z' };
const created = {
  id: 'w9', owner_id: 'u1', name: 'Data day', code: 'ABC123', seats: 10, seats_used: 0, status: 'created',
  desired_state: 'stopped', created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
};

describe('create workshop', () => {
  it('sends the disk per seat in MiB (2 GiB unless changed)', async () => {
    const u = userEvent.setup();
    const { calls } = mockFetch({
      'GET /api/auth/me': () => ({ body: { user } }),
      'POST /api/workshops': () => ({ status: 201, body: { ...created, disk_mb: 5120 } }),
      'GET /api/workshops/w9': () => ({ body: { ...created, events: [] } }),
    });
    window.history.replaceState(null, '', '/workshops/new');
    render(<App />);
    // fireEvent, not typing: this page's many fields make typing slow.
    fireEvent.change(await screen.findByLabelText('Name', {}, { timeout: 10_000 }), { target: { value: 'Data day' } });
    const disk = screen.getByLabelText('Disk per seat (GiB)');
    expect(disk).toHaveValue(2);
    fireEvent.change(disk, { target: { value: '5' } });
    await u.click(screen.getByRole('button', { name: 'Create workshop' }));
    await waitFor(() => expect(calls.find((c) => c.method === 'POST')).toBeDefined());
    expect(calls.find((c) => c.method === 'POST')?.body).toMatchObject({ name: 'Data day', seats: 10, disk_mb: 5120, learner_root: false });
  }, 15_000); // the first render of the app takes seconds on a busy CI machine

  it('sends learner_root: false unless the instructor makes learners root', async () => {
    const u = userEvent.setup();
    const { calls } = mockFetch({
      'GET /api/auth/me': () => ({ body: { user } }),
      'POST /api/workshops': () => ({ status: 201, body: { ...created, learner_root: true } }),
      'GET /api/workshops/w9': () => ({ body: { ...created, events: [] } }),
    });
    window.history.replaceState(null, '', '/workshops/new');
    render(<App />);
    fireEvent.change(await screen.findByLabelText('Name', {}, { timeout: 10_000 }), { target: { value: 'Root day' } });
    const root = screen.getByLabelText('Learners are root in their own machine');
    expect(root).not.toBeChecked();
    await u.click(root);
    await u.click(screen.getByRole('button', { name: 'Create workshop' }));
    await waitFor(() => expect(calls.find((c) => c.method === 'POST')).toBeDefined());
    expect(calls.find((c) => c.method === 'POST')?.body).toMatchObject({ name: 'Root day', learner_root: true });
  }, 15_000);

  it('sends the environment image, and its pull secret only when both parts are given', async () => {
    const u = userEvent.setup();
    const { calls } = mockFetch({
      'GET /api/auth/me': () => ({ body: { user } }),
      'POST /api/workshops': () => ({ status: 201, body: { ...created, environment: 'ghcr.io/org/course:2026' } }),
      'GET /api/workshops/w9': () => ({ body: { ...created, events: [] } }),
    });
    window.history.replaceState(null, '', '/workshops/new');
    render(<App />);
    fireEvent.change(await screen.findByLabelText('Name', {}, { timeout: 10_000 }), { target: { value: 'Py day' } });
    fireEvent.change(screen.getByLabelText(/Container image the learners/), { target: { value: ' ghcr.io/org/course:2026 ' } });
    fireEvent.change(screen.getByLabelText('Registry user (private images only)'), { target: { value: 'bot' } });
    await u.click(screen.getByRole('button', { name: 'Create workshop' }));
    expect(await screen.findByText(/needs both a user name and a password/)).toBeInTheDocument();
    expect(calls.find((c) => c.method === 'POST')).toBeUndefined();
    fireEvent.change(screen.getByLabelText('Registry password or token'), { target: { value: 's3cret' } });
    await u.click(screen.getByRole('button', { name: 'Create workshop' }));
    await waitFor(() => expect(calls.find((c) => c.method === 'POST')).toBeDefined());
    expect(calls.find((c) => c.method === 'POST')?.body).toMatchObject({
      name: 'Py day',
      environment: 'ghcr.io/org/course:2026',
      environment_auth: { username: 'bot', password: 's3cret' },
    });
  }, 15_000);

  it('sends no environment when none is named (the host root, or the lab\'s)', async () => {
    const u = userEvent.setup();
    const { calls } = mockFetch({
      'GET /api/auth/me': () => ({ body: { user } }),
      'POST /api/workshops': () => ({ status: 201, body: created }),
      'GET /api/workshops/w9': () => ({ body: { ...created, events: [] } }),
    });
    window.history.replaceState(null, '', '/workshops/new');
    render(<App />);
    fireEvent.change(await screen.findByLabelText('Name', {}, { timeout: 10_000 }), { target: { value: 'Plain' } });
    await u.click(screen.getByRole('button', { name: 'Create workshop' }));
    await waitFor(() => expect(calls.find((c) => c.method === 'POST')).toBeDefined());
    const body = calls.find((c) => c.method === 'POST')?.body as Record<string, unknown>;
    expect(body).not.toHaveProperty('environment');
    expect(body).not.toHaveProperty('environment_auth');
  }, 15_000);

  it('offers no more seats than the server accepts (its MAX_SEATS)', async () => {
    const u = userEvent.setup();
    const { calls } = mockFetch({ 'GET /api/auth/me': () => ({ body: { user, limits: { max_seats: 30 } } }) });
    window.history.replaceState(null, '', '/workshops/new');
    render(<App />);
    fireEvent.change(await screen.findByLabelText('Name', {}, { timeout: 10_000 }), { target: { value: 'Big' } });
    const seats = await screen.findByLabelText('Seats (up to 30)');
    fireEvent.change(seats, { target: { value: '200' } });
    await u.click(screen.getByRole('button', { name: 'Create workshop' }));
    expect(seats).toBeInvalid();
    expect(calls.some((c) => c.method === 'POST')).toBe(false);
  }, 15_000);

  it('does not send a disk size out of the server\'s bounds', async () => {
    const u = userEvent.setup();
    const { calls } = mockFetch({ 'GET /api/auth/me': () => ({ body: { user } }) });
    window.history.replaceState(null, '', '/workshops/new');
    render(<App />);
    fireEvent.change(await screen.findByLabelText('Name', {}, { timeout: 10_000 }), { target: { value: 'Huge' } });
    const disk = screen.getByLabelText('Disk per seat (GiB)');
    fireEvent.change(disk, { target: { value: '500' } });
    await u.click(screen.getByRole('button', { name: 'Create workshop' }));
    expect(disk).toBeInvalid(); // 64 GiB at most, as the server allows
    expect(calls.some((c) => c.method === 'POST')).toBe(false);
  }, 15_000);
});
