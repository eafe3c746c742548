import { describe, expect, it, vi } from 'vitest';
import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { App } from '../App';
import { navigate } from '../router';
import { apiError, mockFetch } from '../test/fetchMock';

// The real workspace needs a browser (xterm.js, CodeMirror): a stand-in shows what it was given.
vi.mock('../workspace/Workspace', () => ({
  default: ({ initial }: { initial: { seat?: number; token?: string } }) => (
    <div data-testid="workspace-stub">
      seat {initial.seat} token {initial.token}
    </div>
  ),
}));

describe('learner registration and join', () => {
  it('pre-fills the code from the link, registers, and shows a bookmarkable access link', async () => {
    const user = userEvent.setup();
    const { calls } = mockFetch({
      'POST /api/register': () => ({ status: 201, body: { access_code: 'ACC-123', workshop: { id: 'w1', name: 'Intro to Go' } } }),
    });
    window.history.replaceState(null, '', '/join/WK-42');
    render(<App />);
    expect(screen.getByLabelText('Workshop code')).toHaveValue('WK-42');
    await user.type(screen.getByLabelText('Your name'), 'Ada');
    await user.type(screen.getByLabelText('Email'), 'ada@example.com');
    await user.click(screen.getByRole('button', { name: 'Get my access code' }));
    expect(await screen.findByTestId('access-code')).toHaveTextContent('ACC-123');
    expect(calls.find((c) => c.url === '/api/register')?.body).toEqual({ workshop_code: 'WK-42', name: 'Ada', email: 'ada@example.com' });
    expect(screen.getByRole('link', { name: /\/w\/ACC-123$/ })).toHaveAttribute('href', '/w/ACC-123');
    expect(localStorage.getItem('clarateach.access')).toBe('ACC-123');
  });

  it("shows the server's message when the workshop is full", async () => {
    const user = userEvent.setup();
    mockFetch({ 'POST /api/register': () => apiError(409, 'workshop_full', 'All 10 seats are taken.') });
    window.history.replaceState(null, '', '/join/WK-42');
    render(<App />);
    await user.type(screen.getByLabelText('Your name'), 'Ada');
    await user.type(screen.getByLabelText('Email'), 'ada@example.com');
    await user.click(screen.getByRole('button', { name: 'Get my access code' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('All 10 seats are taken.');
    expect(screen.getByRole('button', { name: 'Get my access code' })).toBeEnabled();
  });

  it('waits with progress while the seat is pending, then opens the workspace', async () => {
    let n = 0;
    const workshop = { id: 'w1', name: 'Intro to Go', status: 'provisioning', step: 'Creating seats', lab_guide: '# Hi' };
    const { calls } = mockFetch({
      'POST /api/join': () => {
        n++;
        if (n === 1) return { body: { status: 'pending', workshop } };
        return {
          body: {
            status: 'ready',
            workshop: { ...workshop, status: 'running' },
            seat: 3,
            token: 'tok-3',
            expires_at: new Date(Date.now() + 600_000).toISOString(),
            endpoints: { terminal: '/t', files: '/f', sessions: '/s' },
          },
        };
      },
    });
    window.history.replaceState(null, '', '/');
    render(<App />);
    act(() => navigate('/w/ACC-123'));
    expect(await screen.findByRole('heading', { name: 'Intro to Go' })).toBeInTheDocument();
    expect(screen.getByRole('progressbar')).toBeInTheDocument();
    expect(screen.getByText(/Creating seats/)).toBeInTheDocument();
    // The landing page asks for the sign-up mode first.
    expect(calls.find((c) => c.url === '/api/join')?.body).toEqual({ access_code: 'ACC-123' });
    await waitFor(() => expect(screen.getByTestId('workspace-stub')).toHaveTextContent('seat 3 token tok-3'), { timeout: 5000 });
  });

  it('explains a rejected access code', async () => {
    mockFetch({ 'POST /api/join': () => apiError(404, 'not_found', 'No registration has this access code.') });
    window.history.replaceState(null, '', '/w/NOPE');
    render(<App />);
    expect(await screen.findByRole('alert')).toHaveTextContent('No registration has this access code.');
    expect(screen.getByRole('heading', { name: 'Cannot open the workspace' })).toBeInTheDocument();
  });

  it('never gets an existing code from the server, but shows the one this browser registered', async () => {
    const user = userEvent.setup();
    let n = 0;
    mockFetch({
      'POST /api/register': () =>
        n++ === 0
          ? { status: 201, body: { access_code: 'ACC-123', workshop: { id: 'w1', name: 'Intro to Go' } } }
          : apiError(409, 'already_registered', 'ada@example.com is already registered for this workshop.'),
    });
    window.history.replaceState(null, '', '/join/WK-42');
    const first = render(<App />);
    await user.type(screen.getByLabelText('Your name'), 'Ada');
    await user.type(screen.getByLabelText('Email'), 'ada@example.com');
    await user.click(screen.getByRole('button', { name: 'Get my access code' }));
    expect(await screen.findByTestId('access-code')).toHaveTextContent('ACC-123');
    first.unmount();

    // A refresh (or a second tab) of the join link shows it again.
    const second = render(<App />);
    expect(await screen.findByTestId('access-code')).toHaveTextContent('ACC-123');
    expect(screen.getByText(/You registered from this browser/)).toBeInTheDocument();

    // Registering the same email again: the server answers 409; the code comes from this browser.
    await user.click(screen.getByRole('button', { name: 'Register someone else' }));
    await user.type(screen.getByLabelText('Your name'), 'Ada');
    await user.type(screen.getByLabelText('Email'), 'ADA@example.com');
    await user.click(screen.getByRole('button', { name: 'Get my access code' }));
    expect(await screen.findByTestId('access-code')).toHaveTextContent('ACC-123');
    expect(n).toBe(2);
    second.unmount();
  });

  it('tells a learner registered elsewhere to use their code or ask the instructor', async () => {
    const user = userEvent.setup();
    mockFetch({
      'POST /api/register': () => apiError(409, 'already_registered', 'lea@example.com is already registered for this workshop.'),
    });
    window.history.replaceState(null, '', '/join/WK-42');
    render(<App />);
    await user.type(screen.getByLabelText('Your name'), 'Mallory');
    await user.type(screen.getByLabelText('Email'), 'lea@example.com');
    await user.click(screen.getByRole('button', { name: 'Get my access code' }));
    const box = await screen.findByTestId('already-registered');
    expect(box).toHaveTextContent('already registered');
    expect(box).toHaveTextContent('instructor');
    expect(within(box).getByRole('link', { name: 'Enter your access code' })).toHaveAttribute('href', '/w');
    expect(screen.queryByTestId('access-code')).toBeNull();
  });
});
