import { afterEach, describe, expect, it, vi } from 'vitest';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { LearnerActions, Matrix, PushFileForm, type LiveLab } from './LabCard';
import { labs } from '../../api';

const live: LiveLab = {
  lab: {
    id: 'l1',
    version: 1,
    title: 'Say hello',
    description: '',
    order: 'sequential',
    resources: {},
    files: 0,
    created_at: '2026-12-05T00:00:00Z',
    steps: [
      { id: 'make', title: 'Make a file', markdown: '', has_check: true, has_solve: false },
      { id: 'hello', title: 'Make it say hello', markdown: '', has_check: true, has_solve: true },
    ],
  },
  learners: [
    { registration_id: 'r2', name: 'Grace', email: 'g@x', seat: 2, joined_at: 'x', current_step: 'make', steps_done: 0, failed_checks: 0, on_step_seconds: 0, hand_raised: false, steps: {} },
    { registration_id: 'r1', name: 'Ada', email: 'a@x', seat: 1, joined_at: 'x', current_step: 'hello', steps_done: 1, failed_checks: 1, on_step_seconds: 0, hand_raised: false, steps: {} },
    { registration_id: 'r3', name: 'Not joined', email: 'n@x', joined_at: 'x', steps_done: 0, failed_checks: 0, on_step_seconds: 0, hand_raised: false, steps: {} },
  ],
  hands: [],
};

afterEach(() => vi.restoreAllMocks());

describe('PushFileForm', () => {
  it('pushes typed text to every learner and says where it went, naming a seat that failed', async () => {
    const push = vi.spyOn(labs, 'pushFile').mockResolvedValue({
      path: 'notes/hint.txt',
      bytes: 5,
      written: 1,
      failed: 1,
      seats: [
        { seat: 1, registration_id: 'r1', learner_name: 'Ada', ok: true },
        { seat: 2, registration_id: 'r2', learner_name: 'Grace', ok: false, error: 'the file could not be written' },
      ],
    });
    render(<PushFileForm workshopId="w1" live={live} />);
    await userEvent.type(screen.getByLabelText('Path in the home'), 'notes/hint.txt');
    await userEvent.type(screen.getByLabelText('Text of the file'), 'use grep');
    await userEvent.click(screen.getByRole('button', { name: 'Push the file' }));
    expect(push).toHaveBeenCalledWith('w1', { path: 'notes/hint.txt', content: 'use grep' });
    const note = await screen.findByRole('status');
    expect(note.textContent).toContain('notes/hint.txt was written to 1 seat.');
    expect(note.textContent).toContain('seat 2 (Grace): the file could not be written');
  });

  it('pushes to one learner chosen by seat, and a file from disk as base64', async () => {
    const push = vi.spyOn(labs, 'pushFile').mockResolvedValue({ path: 'data.bin', bytes: 3, written: 1, failed: 0, seats: [{ seat: 1, registration_id: 'r1', learner_name: 'Ada', ok: true }] });
    render(<PushFileForm workshopId="w1" live={live} />);
    const options = Array.from((screen.getByLabelText('To') as HTMLSelectElement).options).map((o) => o.textContent);
    expect(options).toEqual(['every learner', 'Ada (seat 1)', 'Grace (seat 2)']);
    await userEvent.selectOptions(screen.getByLabelText('To'), '1');
    await userEvent.upload(screen.getByTestId('push-upload'), new File([new Uint8Array([0, 1, 255])], 'data.bin'));
    await userEvent.click(screen.getByRole('button', { name: 'Push the file' }));
    // The form reads the file (FileReader) before it pushes: wait for the call.
    await waitFor(() => expect(push).toHaveBeenCalledWith('w1', { path: 'data.bin', content: 'AAH/', encoding: 'base64', seat: 1 }));
    expect((await screen.findByRole('status')).textContent).toBe('data.bin was written to seat 1.');
  });

  it('shows the server refusal', async () => {
    vi.spyOn(labs, 'pushFile').mockRejectedValue(new Error('path must be a file path inside the learner’s home'));
    render(<PushFileForm workshopId="w1" live={undefined} />);
    await userEvent.type(screen.getByLabelText('Path in the home'), '../x');
    await userEvent.click(screen.getByRole('button', { name: 'Push the file' }));
    expect((await screen.findByRole('status')).className).toContain('error-text');
  });
});

describe('LearnerActions', () => {
  it('solves the chosen learner’s current step and reports the check', async () => {
    const solve = vi.spyOn(labs, 'solve').mockResolvedValue({ passed: true, message: 'hello.txt says hello', progress: { step_id: 'hello', status: 'done', attempts: 2, entered_at: 'x' } });
    render(<LearnerActions workshopId="w1" live={live} />);
    // Seat order: Ada first, on step 2, which has a solve script.
    expect((screen.getByLabelText('Step') as HTMLSelectElement).value).toBe('hello');
    await userEvent.click(screen.getByRole('button', { name: 'Solve for them' }));
    expect(solve).toHaveBeenCalledWith('w1', 'r1', 'hello');
    expect((await screen.findByRole('status')).textContent).toContain('solved for Ada; the check passes: hello.txt says hello');
  });

  it('resets a step, and offers Solve only for a step with a solve script', async () => {
    const reset = vi.spyOn(labs, 'resetStep').mockResolvedValue(undefined);
    render(<LearnerActions workshopId="w1" live={live} />);
    await userEvent.selectOptions(screen.getByLabelText('Learner'), 'r2');
    expect((screen.getByLabelText('Step') as HTMLSelectElement).value).toBe('make');
    expect((screen.getByRole('button', { name: 'Solve for them' }) as HTMLButtonElement).disabled).toBe(true);
    await userEvent.click(screen.getByRole('button', { name: 'Reset the step' }));
    expect(reset).toHaveBeenCalledWith('w1', 'r2', 'make');
    expect((await screen.findByRole('status')).textContent).toBe('Make a file was reset for Grace.');
  });
});

describe('Matrix', () => {
  it('shows each learner’s lab setup: running, done, or failed with the reason', () => {
    const [grace, ada, other] = live.learners;
    const withSetup: LiveLab = {
      ...live,
      learners: [
        { ...grace, setup: { status: 'running', message: '', started_at: '2026-12-05T00:00:00Z' } },
        { ...ada, setup: { status: 'failed', message: 'the lab’s setup script failed (exit 3): no such package', started_at: '2026-12-05T00:00:00Z' } },
        { ...other, registration_id: 'r4', name: 'Linus', seat: 4, setup: { status: 'done', message: 'The lab is set up.', started_at: '2026-12-05T00:00:00Z' } },
        other,
      ],
    };
    render(<Matrix matrix={withSetup} onWatch={() => {}} />);
    expect(screen.getByRole('columnheader', { name: 'Setup' })).toBeTruthy();
    const cell = (name: string) => screen.getByRole('row', { name: new RegExp(name) }).lastElementChild as HTMLElement;
    expect(cell('Grace').dataset.setup).toBe('running');
    expect(cell('Ada').dataset.setup).toBe('failed');
    expect(cell('Ada').textContent).toContain('no such package');
    expect(cell('Linus').textContent).toContain('done');
    expect(cell('Not joined').textContent).toBe('not started');
  });

  it('has no setup column for a lab without setup', () => {
    render(<Matrix matrix={live} onWatch={() => {}} />);
    expect(screen.queryByRole('columnheader', { name: 'Setup' })).toBeNull();
  });
});
