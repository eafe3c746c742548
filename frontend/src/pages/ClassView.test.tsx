import { beforeEach, describe, expect, it, vi } from 'vitest';
import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import ClassView from './ClassView';
import { AuthProvider } from '../auth';
import { mockFetch } from '../test/fetchMock';
import type { ClassSnapshot, Registration, Seat, WorkshopDetail } from '../api';

// The seat watcher needs a browser terminal: a stand-in records what it was
// given, and how often a terminal was made (a remount loses its output).
const terminals = vi.hoisted(() => ({ mounted: 0 }));
vi.mock('../terminal/TerminalTabs', async () => {
  const { useEffect } = await import('react');
  return {
    TerminalTabs: ({ mode }: { mode: string }) => {
      useEffect(() => {
        terminals.mounted++;
      }, []);
      return <div data-testid="terminal-stub">terminal {mode}</div>;
    },
  };
});

class FakeEventSource {
  static CLOSED = 2;
  static last: FakeEventSource | null = null;
  static all: FakeEventSource[] = [];
  readyState = 0;
  onerror: (() => void) | null = null;
  listeners: Record<string, ((ev: MessageEvent) => void)[]> = {};
  constructor(public url: string) {
    FakeEventSource.last = this;
    FakeEventSource.all.push(this);
  }
  addEventListener(name: string, fn: (ev: MessageEvent) => void) {
    (this.listeners[name] ??= []).push(fn);
  }
  emit(name: string, data: unknown) {
    this.readyState = 1;
    for (const fn of this.listeners[name] ?? []) fn(new MessageEvent(name, { data: JSON.stringify(data) }));
  }
  fail() {
    this.readyState = FakeEventSource.CLOSED;
    this.onerror?.();
  }
  close() {
    this.readyState = FakeEventSource.CLOSED;
  }
}

const base: WorkshopDetail = {
  id: 'w1', owner_id: 'u1', name: 'Go basics', code: 'GO1234', seats: 3, seats_used: 1, status: 'provisioning',
  desired_state: 'running', step: 'create_seats', disk_mb: 2048, egress_allow: [], environment: '', environment_auth: false, learner_root: false,
  created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
  vm: {
    id: 'h1', workshop_id: 'w1', name: 'local', status: 'starting',
    created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
    steps: [
      { name: 'create_host', status: 'done', started_at: '2026-01-01T00:00:00Z', finished_at: '2026-01-01T00:00:02.500Z' },
      { name: 'create_seats', status: 'running', started_at: '2026-01-01T00:00:03Z' },
    ],
  },
  hosts: [{ number: 1, name: 'local', state: 'provisioning', first_seat: 1, last_seat: 3, seats: 3 }],
  events: [{ id: 1, workshop_id: 'w1', at: '2026-01-01T00:00:00Z', level: 'info', step: 'create_host', message: 'host ready' }],
};
const seats: Seat[] = [
  { seat: 1, registration_id: 'r1', learner_name: 'Ada', learner_email: 'ada@example.com', status: 'connected', last_activity: new Date().toISOString() },
  { seat: 2, registration_id: 'r2', learner_name: 'Bob', status: 'idle', last_activity: new Date(Date.now() - 12 * 60_000).toISOString() },
  { seat: 3, status: 'empty' },
];

/** The class view's stream answers with one snapshot (as the server does on connecting). */
function snapshot(workshop: WorkshopDetail, seatList: Seat[], registrations: Registration[] = []): ClassSnapshot {
  return { workshop, seats: seatList, events: workshop.events ?? [], registrations };
}

/** Sends a snapshot on the open stream (the server's `workshop` event). */
function stream(snap: ClassSnapshot) {
  act(() => FakeEventSource.last!.emit('workshop', snap));
}

function renderView() {
  return render(
    <AuthProvider>
      <ClassView id="w1" />
    </AuthProvider>,
  );
}

describe('class view', () => {
  beforeEach(() => {
    FakeEventSource.last = null;
    FakeEventSource.all = [];
  });

  it('shows provisioning steps with timings and updates live from the stream', async () => {
    vi.stubGlobal('EventSource', FakeEventSource);
    const { calls } = mockFetch({});
    renderView();
    await waitFor(() => expect(FakeEventSource.last).not.toBeNull());
    stream(snapshot(base, seats));
    expect(await screen.findByRole('heading', { name: 'Go basics' })).toBeInTheDocument();
    const done = document.querySelector('[data-step="create_host"]') as HTMLElement;
    expect(within(done).getByText('2.5 s')).toBeInTheDocument();
    expect(FakeEventSource.last?.url).toBe('/api/workshops/w1/stream');

    act(() =>
      FakeEventSource.last!.emit('workshop', {
        workshop: { ...base, status: 'running', vm: { ...base.vm, steps: base.vm!.steps!.map((s) => ({ ...s, status: 'done', finished_at: '2026-01-01T00:00:05Z' })) } },
        seats,
        events: base.events,
      }),
    );
    expect(document.querySelector('main.class-view')).toHaveAttribute('data-status', 'running');
    expect(screen.getByText('Live')).toBeInTheDocument();
    const grid = screen.getByRole('list', { name: 'Seats' });
    expect(within(grid).getByText('Ada')).toBeInTheDocument();
    expect(within(grid).getByText('Idle for 12 min')).toBeInTheDocument();
    expect(within(grid).getByRole('button', { name: /#3/ })).toBeDisabled();
    // The stream is the one source: nothing is polled.
    expect(calls.filter((c) => c.url.startsWith('/api/workshops'))).toEqual([]);
  });

  it('takes the keyboard to the seats with its first Tab (a skip link)', async () => {
    vi.stubGlobal('EventSource', FakeEventSource);
    mockFetch({});
    const user = userEvent.setup();
    renderView();
    await waitFor(() => expect(FakeEventSource.last).not.toBeNull());
    stream(snapshot({ ...base, status: 'running' }, seats));
    await screen.findByRole('heading', { name: 'Go basics' });
    await user.tab();
    const skip = screen.getByRole('link', { name: 'Skip to the seats' });
    expect(skip).toHaveFocus();
    await user.keyboard('{Enter}');
    expect(within(screen.getByRole('list', { name: 'Seats' })).getByRole('button', { name: /Ada/ })).toHaveFocus();
  });

  it('reconnects when the stream is refused, and shows why meanwhile', async () => {
    vi.stubGlobal('EventSource', FakeEventSource);
    mockFetch({
      'GET /api/workshops/w1': () => ({ status: 503, body: { error: { code: 'unavailable', message: 'Database unreachable' } } }),
    });
    renderView();
    await waitFor(() => expect(FakeEventSource.last).not.toBeNull());
    stream(snapshot(base, seats));
    await screen.findByRole('heading', { name: 'Go basics' });
    const first = FakeEventSource.last!;
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      act(() => first.fail());
      expect(screen.getByText('Reconnecting…')).toBeInTheDocument();
      expect(await screen.findByText('Database unreachable.')).toBeInTheDocument();
      await act(() => vi.advanceTimersByTimeAsync(1100));
      expect(FakeEventSource.last).not.toBe(first);
      expect(FakeEventSource.last!.url).toBe('/api/workshops/w1/stream');
      stream(snapshot({ ...base, status: 'running' }, seats));
      await waitFor(() => expect(document.querySelector('main.class-view')).toHaveAttribute('data-status', 'running'));
      expect(screen.getByText('Live')).toBeInTheDocument();
      expect(screen.queryByText('Database unreachable.')).toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });

  it('lists learners, also those without a seat, and revokes one', async () => {
    vi.stubGlobal('EventSource', FakeEventSource);
    const user = userEvent.setup();
    const cleo = (revoked: boolean): Registration[] => [
      { id: 'r9', workshop_id: 'w1', name: 'Cleo', email: 'cleo@example.com', created_at: '2026-01-01T00:00:00Z', ...(revoked ? { revoked_at: '2026-01-01T01:00:00Z' } : {}) },
    ];
    mockFetch({
      'DELETE /api/workshops/w1/registrations/r9': () => {
        // The server's next event carries the revoke.
        setTimeout(() => stream(snapshot({ ...base, status: 'created' }, [], cleo(true))), 0);
        return { status: 204 };
      },
    });
    renderView();
    await waitFor(() => expect(FakeEventSource.last).not.toBeNull());
    stream(snapshot({ ...base, status: 'created' }, [], cleo(false)));
    await user.click(await screen.findByText(/Learners \(1\)/));
    const row = (await screen.findByText('Cleo')).closest('tr')!;
    expect(row).toHaveTextContent('not seated yet');
    await user.click(within(row).getByRole('button', { name: 'Revoke' }));
    await user.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Revoke access' }));
    await waitFor(() => expect(screen.getByText(/Learners \(0\)/)).toBeInTheDocument());
    expect(screen.getByText('Cleo').closest('tr')).toHaveClass('revoked');
  });

  it('watches a seat read-only, takes over, and revokes after confirmation', async () => {
    vi.stubGlobal('EventSource', FakeEventSource);
    const user = userEvent.setup();
    const { calls } = mockFetch({
      'POST /api/workshops/w1/seats/1/token': (c) => ({
        body: { token: `t-${(c.body as { mode: string }).mode}`, expires_at: new Date(Date.now() + 600_000).toISOString(), endpoints: { terminal: '/t', files: '/f', sessions: '/s' } },
      }),
      'DELETE /api/workshops/w1/registrations/r1': () => ({ status: 204 }),
    });
    renderView();
    await waitFor(() => expect(FakeEventSource.last).not.toBeNull());
    stream(snapshot({ ...base, status: 'running' }, seats));
    await user.click(await screen.findByRole('button', { name: /Ada/ }));
    expect(await screen.findByTestId('terminal-stub')).toHaveTextContent('terminal ro');
    await user.click(screen.getByRole('button', { name: 'Take over' }));
    await waitFor(() => expect(screen.getByTestId('terminal-stub')).toHaveTextContent('terminal rw'));
    expect(calls.filter((c) => c.url.endsWith('/seats/1/token')).map((c) => c.body)).toEqual([{ mode: 'ro' }, { mode: 'rw' }]);

    await user.click(screen.getByRole('button', { name: 'Revoke' }));
    await user.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Revoke access' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'DELETE' && c.url === '/api/workshops/w1/registrations/r1')).toBe(true));
    await waitFor(() => expect(screen.queryByTestId('terminal-stub')).toBeNull());
  });

  it('folds the stream\'s deltas into the class, and an open terminal watcher stays as it is', async () => {
    vi.stubGlobal('EventSource', FakeEventSource);
    const user = userEvent.setup();
    mockFetch({
      'POST /api/workshops/w1/seats/1/token': () => ({
        body: { token: 't-ro', expires_at: new Date(Date.now() + 600_000).toISOString(), endpoints: { terminal: '/t', files: '/f', sessions: '/s' } },
      }),
    });
    renderView();
    await waitFor(() => expect(FakeEventSource.last).not.toBeNull());
    const running = { ...base, status: 'running' as const };
    stream(snapshot(running, seats, [{ id: 'r1', workshop_id: 'w1', name: 'Ada', email: 'ada@example.com', created_at: '2026-01-01T00:00:00Z', seat: 1 }]));
    await user.click(await screen.findByRole('button', { name: /Ada/ }));
    expect(await screen.findByTestId('terminal-stub')).toHaveTextContent('terminal ro');
    const mounted = terminals.mounted;

    // Seat 3 is taken: the delta names that seat and the new learner only.
    act(() =>
      FakeEventSource.last!.emit('delta', {
        seats: [{ seat: 3, registration_id: 'r3', learner_name: 'Cy', status: 'connected', last_activity: new Date().toISOString() }],
        registrations: [{ id: 'r3', workshop_id: 'w1', name: 'Cy', email: 'cy@example.com', created_at: '2026-01-01T00:01:00Z', seat: 3 }],
      }),
    );
    const grid = screen.getByRole('list', { name: 'Seats' });
    expect(within(grid).getByRole('button', { name: /#3.*Cy/ })).toBeEnabled();
    expect(within(grid).getByText('Ada')).toBeInTheDocument();
    expect(within(grid).getByText('Idle for 12 min')).toBeInTheDocument();
    expect(screen.getByText('cy@example.com')).toBeInTheDocument();
    expect(screen.getAllByText(/ada@example\.com/).length).toBeGreaterThan(0);
    // The workshop changes; the watched seat's learner changes activity.
    act(() => FakeEventSource.last!.emit('delta', { workshop: { ...running, name: 'Go basics, day 2', events: [] } }));
    act(() => FakeEventSource.last!.emit('delta', { seats: [{ ...seats[0], status: 'idle' }] }));
    expect(screen.getByRole('heading', { name: 'Go basics, day 2' })).toBeInTheDocument();
    expect(screen.getByRole('region', { name: 'Seat 1' })).toBeInTheDocument();
    expect(screen.getByTestId('terminal-stub')).toHaveTextContent('terminal ro');
    expect(terminals.mounted).toBe(mounted);
    // The workshop's events are kept when a delta does not carry them.
    expect(document.body).toHaveTextContent('host ready');
  });

  it('reissues a learner\'s code and shows the new one once', async () => {
    vi.stubGlobal('EventSource', FakeEventSource);
    const user = userEvent.setup();
    const { calls } = mockFetch({
      'POST /api/workshops/w1/registrations/r1/reissue': () => ({
        body: { registration_id: 'r1', email: 'ada@example.com', access_code: 'NEWCODE347', seat: 1, revoke_pending: false },
      }),
    });
    renderView();
    await waitFor(() => expect(FakeEventSource.last).not.toBeNull());
    stream(
      snapshot({ ...base, status: 'running' }, seats, [
        { id: 'r1', workshop_id: 'w1', name: 'Ada', email: 'ada@example.com', created_at: '2026-01-01T00:00:00Z', seat: 1, seat_status: 'connected' },
      ]),
    );
    await user.click(await screen.findByText(/Learners \(1\)/));
    const row = (await screen.findByText('ada@example.com', { selector: 'td' })).closest('tr')!;
    await user.click(within(row).getByRole('button', { name: 'New code' }));
    const confirm = screen.getByRole('dialog');
    expect(confirm).toHaveTextContent('stops working at once');
    expect(calls.some((c) => c.url.endsWith('/reissue'))).toBe(false);
    await user.click(within(confirm).getByRole('button', { name: 'Issue a new code' }));
    expect(await screen.findByTestId('reissued-code')).toHaveTextContent('NEWC-ODE3-47');
    expect(calls.filter((c) => c.method === 'POST' && c.url === '/api/workshops/w1/registrations/r1/reissue')).toHaveLength(1);
    await user.click(screen.getByRole('button', { name: 'Done' }));
    await waitFor(() => expect(screen.queryByTestId('reissued-code')).toBeNull());
  });

  it('tells the instructor which learners hold an old code to replace', async () => {
    vi.stubGlobal('EventSource', FakeEventSource);
    const user = userEvent.setup();
    mockFetch({});
    renderView();
    await waitFor(() => expect(FakeEventSource.last).not.toBeNull());
    stream(
      snapshot({ ...base, status: 'running' }, seats, [
        { id: 'r1', workshop_id: 'w1', name: 'Ada', email: 'ada@example.com', created_at: '2026-01-01T00:00:00Z', seat: 1, seat_status: 'connected', old_code: true },
        { id: 'r2', workshop_id: 'w1', name: 'Bo', email: 'bo@example.com', created_at: '2026-01-01T00:00:00Z', seat: 2, seat_status: 'ready' },
      ]),
    );
    await user.click(await screen.findByText(/Learners \(2\)/));
    const ada = (await screen.findByText('ada@example.com', { selector: 'td' })).closest('tr')!;
    expect(within(ada).getByTestId('old-code')).toHaveTextContent('give a new code');
    expect(within(ada).getByRole('button', { name: 'New code' })).toBeInTheDocument();
    const bo = screen.getByText('bo@example.com', { selector: 'td' }).closest('tr')!;
    expect(within(bo).queryByTestId('old-code')).toBeNull();
  });

  it('marks a seat whose revoke the workshop machine has not confirmed', async () => {
    vi.stubGlobal('EventSource', FakeEventSource);
    mockFetch({});
    renderView();
    await waitFor(() => expect(FakeEventSource.last).not.toBeNull());
    stream(snapshot({ ...base, status: 'running' }, [seats[0], seats[1], { seat: 3, status: 'empty', revoke_pending: true, revoke_error: 'agent unreachable' }]));
    const pending = await screen.findByText('revoke pending');
    expect(pending.closest('[data-seat]')).toHaveAttribute('data-seat', '3');
    expect(pending).toHaveAttribute('title', 'agent unreachable');
    expect(screen.getAllByText('revoke pending')).toHaveLength(1);
  });

  it('shows the lab live from the stream: the matrix, stuck learners first, and a raised hand that opens the learner\'s terminal', async () => {
    vi.stubGlobal('EventSource', FakeEventSource);
    const { calls } = mockFetch({
      'POST /api/workshops/w1/hands/h1/pick': () => ({ body: { id: 'h1' } }),
      'POST /api/workshops/w1/seats/2/token': () => ({
        body: { token: 't', expires_at: new Date(Date.now() + 600_000).toISOString(), endpoints: { terminal: '/t', files: '/f', sessions: '/s' } },
      }),
    });
    renderView();
    await waitFor(() => expect(FakeEventSource.last).not.toBeNull());
    const entered = new Date(Date.now() - 20 * 60_000).toISOString();
    const lab: NonNullable<ClassSnapshot['lab']> = {
      lab: {
        id: 'l1', version: 2, title: 'Files', description: '', order: 'sequential', resources: {}, files: 0, created_at: entered,
        steps: [
          { id: 'make', title: 'Make a file', markdown: '', has_check: true, has_solve: true },
          { id: 'chmod', title: 'Chmod', markdown: '', has_check: true, has_solve: false },
        ],
      },
      learners: [
        { registration_id: 'r1', name: 'Ada', email: 'a@x', seat: 1, joined_at: entered, current_step: 'chmod', steps_done: 1, failed_checks: 0,
          on_step_seconds: 0, hand_raised: false,
          steps: { make: { step_id: 'make', status: 'done', attempts: 1, entered_at: entered }, chmod: { step_id: 'chmod', status: 'current', attempts: 0, entered_at: new Date().toISOString() } } },
        { registration_id: 'r2', name: 'Bob', email: 'b@x', seat: 2, joined_at: entered, current_step: 'make', steps_done: 0, failed_checks: 2,
          on_step_seconds: 0, hand_raised: true,
          steps: { make: { step_id: 'make', status: 'failing', attempts: 2, message: 'hello.sh is missing', entered_at: entered } } },
      ],
      hands: [{ id: 'h1', registration_id: 'r2', learner_name: 'Bob', seat: 2, question: 'stuck on step 1', raised_at: entered }],
    };
    stream({ ...snapshot({ ...base, status: 'running' }, seats), lab });
    const matrix = await screen.findByTestId('progress-matrix');
    const rows = within(matrix).getAllByRole('row');
    expect(rows[1].textContent).toContain('Ada');
    expect(within(rows[2]).getByTitle('Make a file: hello.sh is missing').textContent).toBe('✗2');
    expect(rows[2].textContent).toContain('20m');
    await userEvent.click(screen.getByLabelText(/Stuck first/));
    expect(within(matrix).getAllByRole('row')[1].textContent).toContain('Bob');
    // Only stuck: Bob (hand raised, failing) stays, Ada (just started her step) goes.
    await userEvent.click(screen.getByLabelText(/Only stuck/));
    expect(within(matrix).getAllByRole('row').slice(1).map((r) => r.querySelector('th')?.textContent)).toEqual(['Bob hand up']);
    expect(screen.getByText('1 of 2 learners')).toBeInTheDocument();
    await userEvent.click(within(screen.getByTestId('hands')).getByRole('button', { name: 'Help' }));
    await waitFor(() => expect(calls.some((c) => c.url === '/api/workshops/w1/hands/h1/pick')).toBe(true));
    // The queue and Bob's terminal side by side.
    const desk = await screen.findByTestId('help-desk');
    expect(within(desk).getByRole('heading', { name: 'Raised hands' })).toBeInTheDocument();
    expect(within(desk).getByRole('region', { name: 'Seat 2' })).toBeInTheDocument();
    expect(within(desk).getByTestId('terminal-stub')).toBeInTheDocument();
  });

  it('edits the workshop with PATCH, sending only what changed, and shows a refusal', async () => {
    vi.stubGlobal('EventSource', FakeEventSource);
    let refuse = true;
    const { calls } = mockFetch({
      'GET /api/auth/me': () => ({ body: { user: { id: 'u1', email: 'i@x', name: 'I', role: 'instructor' }, limits: { max_seats: 30 } } }),
      'PATCH /api/workshops/w1': (c) =>
        refuse
          ? { status: 409, body: { error: { code: 'seats_in_use', message: '2 learners are registered in this workshop, so it cannot have fewer than 2 seats' } } }
          : { body: { ...base, ...(c.body as object) } },
    });
    const user = userEvent.setup();
    renderView();
    await waitFor(() => expect(FakeEventSource.last).not.toBeNull());
    stream(snapshot({ ...base, status: 'running', lab_guide: '# Old' }, seats));
    await user.click(await screen.findByText('Edit the workshop'));
    const form = screen.getByRole('form', { name: 'Edit the workshop' });
    await waitFor(() => expect(within(form).getByLabelText(/Seats \(up to 30\)/)).toHaveAttribute('max', '30'));
    const seatsInput = within(form).getByLabelText(/Seats/);
    await user.clear(seatsInput);
    await user.type(seatsInput, '1');
    await user.click(within(form).getByRole('button', { name: 'Save changes' }));
    expect(await within(form).findByRole('alert')).toHaveTextContent('2 learners are registered in this workshop, so it cannot have fewer than 2 seats.');
    expect(calls.find((c) => c.method === 'PATCH')?.body).toEqual({ seats: 1 });

    refuse = false;
    await user.clear(seatsInput);
    await user.type(seatsInput, '3');
    const guide = within(form).getByLabelText(/Lab guide/);
    await user.clear(guide);
    await user.type(guide, '# New');
    await user.click(within(form).getByRole('button', { name: 'Save changes' }));
    expect(await within(form).findByText('Saved.')).toBeInTheDocument();
    expect(calls.filter((c) => c.method === 'PATCH').pop()?.body).toEqual({ lab_guide: '# New' });
  });
});
