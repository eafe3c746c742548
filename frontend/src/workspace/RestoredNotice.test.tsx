import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/react';
import { RestoredNotice } from './RestoredNotice';

describe('RestoredNotice', () => {
  it('says from when the machine was restored, in local time, until dismissed', () => {
    const at = '2026-12-04T21:05:00Z';
    const local = new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    render(<RestoredNotice restoredFrom={at} />);
    expect(screen.getByRole('status').textContent).toContain(`Your machine was restored from ${local}`);
    fireEvent.click(screen.getByRole('button', { name: 'Dismiss' }));
    expect(screen.queryByRole('status')).toBeNull();
  });

  it('shows nothing without restored_from', () => {
    const { container } = render(<RestoredNotice />);
    expect(container.textContent).toBe('');
  });
});
