import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MachineRestarted, RECENT_MS } from './MachineRestarted';

describe('MachineRestarted', () => {
  const at = '2026-12-04T14:03:00Z';
  const atMs = Date.parse(at);

  it('says so when the machine restarted while the page was open, and can be dismissed', async () => {
    render(<MachineRestarted restartedAt={at} seenAtLoad={undefined} now={atMs + 2 * RECENT_MS} />);
    expect(screen.getByRole('status').textContent).toMatch(/Your machine restarted at .*Your files were kept/);
    await userEvent.click(screen.getByRole('button', { name: 'Dismiss' }));
    expect(screen.queryByRole('status')).toBeNull();
  });

  it('mentions a restart from before the page opened only while it is recent', () => {
    const { rerender } = render(<MachineRestarted restartedAt={at} seenAtLoad={at} now={atMs + 60_000} />);
    expect(screen.getByRole('status')).toBeTruthy();
    rerender(<MachineRestarted restartedAt={at} seenAtLoad={at} now={atMs + RECENT_MS + 1} />);
    expect(screen.queryByRole('status')).toBeNull();
  });

  it('shows nothing when the machine never restarted', () => {
    render(<MachineRestarted restartedAt={undefined} now={atMs} />);
    expect(screen.queryByRole('status')).toBeNull();
  });
});
