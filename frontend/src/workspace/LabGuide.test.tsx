import { describe, expect, it, vi } from 'vitest';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { BroadcastBanner, LabGuide, SetupBanner, WatchedBanner } from './LabGuide';
import type { LearnerLab, LearnerLabClient } from '../api';

const lab: LearnerLab = {
  lab: {
    id: 'l1',
    version: 1,
    title: 'Files',
    description: '',
    order: 'sequential',
    resources: {},
    files: 0,
    created_at: '2026-12-05T00:00:00Z',
    steps: [
      { id: 'make', title: 'Make a file', markdown: 'Run `touch hello.sh`.', has_check: true, has_solve: true },
      { id: 'chmod', title: 'Make it executable', markdown: 'chmod it', has_check: true, has_solve: false },
    ],
  },
  progress: {},
  current_step: 'make',
  unlocked: ['make'],
};

function fakeClient(passed: boolean) {
  return {
    check: vi.fn().mockResolvedValue({
      passed,
      message: passed ? 'found hello.sh' : 'hello.sh is not there yet',
      progress: { step_id: 'make', status: passed ? 'done' : 'failing', attempts: 1, entered_at: '2026-12-05T00:00:00Z' },
    }),
    enter: vi.fn().mockResolvedValue({}),
    raiseHand: vi.fn().mockResolvedValue({}),
    lowerHand: vi.fn().mockResolvedValue(undefined),
  } as unknown as LearnerLabClient & { check: ReturnType<typeof vi.fn>; raiseHand: ReturnType<typeof vi.fn> };
}

describe('LabGuide', () => {
  it('shows the current step, keeps later steps locked, and shows a failed check with its message', async () => {
    const client = fakeClient(false);
    const onChange = vi.fn();
    render(<LabGuide lab={lab} client={client} onRun={() => {}} onChange={onChange} />);
    expect(screen.getByRole('heading', { name: 'Step 1: Make a file' })).toBeTruthy();
    expect((screen.getByRole('button', { name: /Make it executable/ }) as HTMLButtonElement).disabled).toBe(true);
    await userEvent.click(screen.getByRole('button', { name: 'Check' }));
    expect(client.check).toHaveBeenCalledWith('make');
    // The check's answer is a promise: wait for its result to render.
    expect((await screen.findByTestId('check-result', {}, { timeout: 5000 })).textContent).toContain('hello.sh is not there yet');
    expect(screen.getByTestId('check-result').className).toContain('lab-fail');
    expect(onChange).toHaveBeenCalled();
  });

  it('keeps a passed step open with its message until the learner moves on', async () => {
    const client = fakeClient(true);
    const { rerender } = render(<LabGuide lab={lab} client={client} onRun={() => {}} onChange={() => {}} />);
    await userEvent.click(screen.getByRole('button', { name: 'Check' }));
    await screen.findByTestId('check-result', {}, { timeout: 5000 });
    // The server moves the current step on after a pass; the page still shows step 1's result.
    const after = { ...lab, current_step: 'chmod', unlocked: ['make', 'chmod'], progress: { make: { step_id: 'make', status: 'done' as const, attempts: 1, entered_at: 'x' } } };
    rerender(<LabGuide lab={after} client={client} onRun={() => {}} onChange={() => {}} />);
    expect(screen.getByRole('heading', { name: 'Step 1: Make a file' })).toBeTruthy();
    expect(screen.getByTestId('check-result').textContent).toContain('found hello.sh');
    await userEvent.click(screen.getByRole('button', { name: 'Next step' }));
    expect(screen.getByRole('heading', { name: 'Step 2: Make it executable' })).toBeTruthy();
    expect(client.enter).toHaveBeenCalledWith('chmod');
  });

  it('shows the instructor’s reset and solve of the open step at the next poll, without a reload', async () => {
    const client = fakeClient(false);
    const failing = { step_id: 'make', status: 'failing' as const, attempts: 1, message: 'hello.sh is not there yet', entered_at: 'x', checked_at: '2026-12-05T00:01:00Z' };
    client.check.mockResolvedValue({ passed: false, message: 'hello.sh is not there yet', progress: failing });
    const entered = { ...lab, progress: { make: { step_id: 'make', status: 'current' as const, attempts: 0, entered_at: 'x' } } };
    const { rerender } = render(<LabGuide lab={entered} client={client} onRun={() => {}} onChange={() => {}} />);
    await userEvent.click(screen.getByRole('button', { name: 'Check' }));
    expect((await screen.findByTestId('check-result', {}, { timeout: 5000 })).textContent).toContain('not there yet');
    rerender(<LabGuide lab={{ ...lab, progress: { make: failing } }} client={client} onRun={() => {}} onChange={() => {}} />);
    expect(screen.getByTestId('check-result').textContent).toContain('not there yet');
    // The instructor resets the step: the poll brings no progress for it.
    rerender(<LabGuide lab={{ ...lab, progress: {} }} client={client} onRun={() => {}} onChange={() => {}} />);
    expect(screen.queryByTestId('check-result')).toBeNull();
    // The instructor solves it: the poll brings their check's pass.
    const solved = { step_id: 'make', status: 'done' as const, attempts: 2, message: 'found hello.sh', entered_at: 'x', checked_at: '2026-12-05T00:02:00Z' };
    rerender(<LabGuide lab={{ ...lab, current_step: 'chmod', unlocked: ['make', 'chmod'], progress: { make: solved } }} client={client} onRun={() => {}} onChange={() => {}} />);
    expect(screen.getByTestId('check-result').textContent).toContain('found hello.sh');
    expect(screen.getByTestId('check-result').className).toContain('lab-pass');
    expect(screen.getByRole('button', { name: 'Next step' })).toBeTruthy();
  });

  it('enters the current step when the guide opens on it, once', async () => {
    const client = fakeClient(false);
    const { rerender } = render(<LabGuide lab={lab} client={client} onRun={() => {}} onChange={() => {}} />);
    expect(client.enter).toHaveBeenCalledWith('make');
    rerender(<LabGuide lab={{ ...lab }} client={client} onRun={() => {}} onChange={() => {}} />);
    expect(client.enter).toHaveBeenCalledTimes(1);
  });

  it('raises a hand with a question, and says when an instructor picked it up', async () => {
    const client = fakeClient(true);
    const { rerender } = render(<LabGuide lab={lab} client={client} onRun={() => {}} onChange={() => {}} />);
    await userEvent.type(screen.getByLabelText('Your question (optional)'), 'stuck on step 1');
    await userEvent.click(screen.getByRole('button', { name: 'Raise hand' }));
    expect(client.raiseHand).toHaveBeenCalledWith('stuck on step 1');
    const picked = { ...lab, hand: { id: 'h', registration_id: 'r', question: 'stuck on step 1', raised_at: 'x', picked_at: 'y' } };
    rerender(<LabGuide lab={picked} client={client} onRun={() => {}} onChange={() => {}} />);
    expect(screen.getByText(/An instructor is on their way to help you/)).toBeTruthy();
  });

  it('shows a broadcast until dismissed', async () => {
    render(<BroadcastBanner lab={{ ...lab, broadcast: { message: 'Break until 11:00', at: '2026-12-05T10:00:00Z' } }} />);
    expect(screen.getByTestId('broadcast').textContent).toContain('Break until 11:00');
    await userEvent.click(screen.getByRole('button', { name: 'Dismiss' }));
    expect(screen.queryByTestId('broadcast')).toBeNull();
  });
});

describe('WatchedBanner', () => {
  it('tells the learner who watches their terminal, and when they can type in it', () => {
    const { rerender, container } = render(<WatchedBanner />);
    expect(container).toBeEmptyDOMElement();
    rerender(<WatchedBanner by="Ada" typing={false} />);
    expect(screen.getByRole('status')).toHaveTextContent('Ada is watching your terminal.');
    rerender(<WatchedBanner by="Ada, Grace" typing />);
    expect(screen.getByRole('status')).toHaveTextContent('Ada, Grace has your terminal open and can type in it.');
  });
});

describe('SetupBanner', () => {
  it('says the lab is being prepared, then nothing once done', () => {
    const { rerender } = render(<SetupBanner setup={{ status: 'running', message: '', started_at: 'x' }} />);
    expect(screen.getByTestId('lab-setup').textContent).toContain('Preparing your lab');
    rerender(<SetupBanner setup={{ status: 'done', message: 'The lab is set up.', started_at: 'x' }} />);
    expect(screen.queryByTestId('lab-setup')).toBeNull();
  });

  it('says why the setup failed', () => {
    render(<SetupBanner setup={{ status: 'failed', message: 'the lab’s setup script failed (exit 1): apt: not found', started_at: 'x' }} />);
    expect(screen.getByRole('alert').textContent).toContain('apt: not found');
  });
});
