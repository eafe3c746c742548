import { describe, expect, it } from 'vitest';
import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { App } from '../App';
import { apiError, mockFetch } from '../test/fetchMock';
import type { Workshop } from '../api';

const user = { id: 'u1', email: 'i@example.com', name: 'Ines', role: 'instructor', created_at: '2026-01-01T00:00:00Z' };

function ws(p: Partial<Workshop>): Workshop {
  return {
    id: 'w1', owner_id: 'u1', name: 'Workshop', code: 'ABC123', seats: 10, seats_used: 0, status: 'created',
    desired_state: 'stopped', status_reason: '', lab_guide: '', disk_mb: 2048, egress_allow: [], environment: '', environment_auth: false, learner_root: false,
    created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z', ...p,
  };
}

describe('dashboard', () => {
  it('lists workshops with status, seats used/total and schedule', async () => {
    mockFetch({
      'GET /api/auth/me': () => ({ body: { user } }),
      'GET /api/workshops': () => ({
        body: {
          workshops: [
            ws({ id: 'w1', name: 'Go basics', status: 'running', seats_used: 4, seats: 12, starts_at: '2026-03-02T09:00:00Z', ends_at: '2026-03-02T12:00:00Z' }),
            // Whatever the server names the step is shown as is.
            ws({ id: 'w2', name: 'Rust day', status: 'provisioning', step: 'Starting agent' as Workshop['step'] }),
            ws({ id: 'w3', name: 'Gone', status: 'deleted' }),
          ],
        },
      }),
    });
    window.history.replaceState(null, '', '/dashboard');
    const { container } = render(<App />);
    const go = (await screen.findByText('Go basics')).closest('li')!;
    expect(within(go).getByText('Running')).toBeInTheDocument();
    expect(go.querySelector('.seats-used')?.textContent).toBe('4');
    expect(within(go).getByText(/\/ 12/)).toBeInTheDocument();
    expect(within(go).getByText(/2026/)).toBeInTheDocument();
    expect(within(go).getByRole('button', { name: 'Stop' })).toBeInTheDocument();
    const rust = screen.getByText('Rust day').closest('li')!;
    expect(within(rust).getByText('Provisioning')).toBeInTheDocument();
    expect(within(rust).getByText('Starting agent')).toBeInTheDocument();
    expect(screen.queryByText('Gone')).toBeNull();
    expect(container.querySelectorAll('.workshop-card')).toHaveLength(2);
  });

  it('starts a workshop and shows a server error from an action', async () => {
    const u = userEvent.setup();
    const { calls } = mockFetch({
      'GET /api/auth/me': () => ({ body: { user } }),
      'GET /api/workshops': () => ({ body: { workshops: [ws({ id: 'w1', name: 'Go basics', status: 'created' })] } }),
      'POST /api/workshops/w1/start': () => apiError(503, 'no_capacity', 'No agent has room for 10 seats.'),
    });
    window.history.replaceState(null, '', '/dashboard');
    render(<App />);
    await u.click(await screen.findByRole('button', { name: 'Start' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('No agent has room for 10 seats.');
    expect(calls.some((c) => c.method === 'POST' && c.url === '/api/workshops/w1/start')).toBe(true);
  });

  it('deletes only after confirmation', async () => {
    const u = userEvent.setup();
    let deleted = false;
    mockFetch({
      'GET /api/auth/me': () => ({ body: { user } }),
      'GET /api/workshops': () => ({ body: { workshops: deleted ? [] : [ws({ id: 'w1', name: 'Go basics' })] } }),
      'DELETE /api/workshops/w1': () => {
        deleted = true;
        return { status: 202, body: ws({ status: 'deleted' }) };
      },
    });
    window.history.replaceState(null, '', '/dashboard');
    render(<App />);
    await u.click(await screen.findByRole('button', { name: 'Delete' }));
    const dialog = screen.getByRole('dialog');
    await u.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(deleted).toBe(false);
    await u.click(screen.getByRole('button', { name: 'Delete' }));
    await u.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Delete workshop' }));
    await waitFor(() => expect(screen.getByText('No workshops yet.')).toBeInTheDocument());
    expect(deleted).toBe(true);
  });

  it('sends a signed-out visitor to the sign-in page', async () => {
    mockFetch({ 'GET /api/auth/me': () => apiError(401, 'unauthorized', 'Sign in.') });
    window.history.replaceState(null, '', '/dashboard');
    render(<App />);
    expect(await screen.findByRole('heading', { name: 'Instructor sign in' })).toBeInTheDocument();
    expect(window.location.pathname + window.location.search).toBe('/signin?next=%2Fdashboard');
  });
});
