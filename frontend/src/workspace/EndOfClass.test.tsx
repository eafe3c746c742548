import { act, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EndCountdown, EndedNotice } from './EndOfClass';
import { DOWNLOAD_PATH, formatTimeLeft, warningDue } from './endOfClass';

const START = new Date('2026-12-04T13:00:00Z').getTime();

describe('the end of a class', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(START);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const advance = (ms: number) =>
    act(() => {
      vi.advanceTimersByTime(ms);
    });

  it('counts down and warns at 10, 5 and 1 minutes with a download button', () => {
    const endsAt = new Date(START + 12 * 60_000).toISOString();
    render(<EndCountdown endsAt={endsAt} accessCode="ACC-123" />);
    expect(screen.getByRole('timer').textContent).toBe('Ends in 12:00');
    expect(screen.queryByTestId('end-warning')).toBeNull();

    advance(61_000); // 10:59 left
    expect(screen.getByRole('timer').textContent).toBe('Ends in 10:59');
    expect(screen.queryByTestId('end-warning')).toBeNull();

    advance(60_000); // 9:59
    expect(screen.getByTestId('end-warning').textContent).toMatch(/ends in 10 minutes/);
    const link = screen.getByRole('link', { name: 'Download my work' });
    expect(link.getAttribute('href')).toBe(`${DOWNLOAD_PATH}?code=ACC-123`);

    // Dismissed, it stays away until the next warning.
    act(() => screen.getByRole('button', { name: 'Dismiss the warning' }).click());
    expect(screen.queryByTestId('end-warning')).toBeNull();
    advance(4 * 60_000); // 5:59
    expect(screen.queryByTestId('end-warning')).toBeNull();
    advance(60_000); // 4:59
    expect(screen.getByTestId('end-warning').textContent).toMatch(/ends in 5 minutes/);

    advance(4 * 60_000); // 0:59
    expect(screen.getByTestId('end-warning').textContent).toMatch(/ends in less than a minute/);
    expect(screen.getByRole('timer').textContent).toBe('Ends in 0:59');

    advance(60_000);
    expect(screen.getByRole('timer').textContent).toBe('Ended');
    expect(screen.queryByTestId('end-warning')).toBeNull();
  });

  it('shows the end time in the viewer’s time zone, never raw UTC', () => {
    const endsAt = new Date(START + 8 * 60_000).toISOString();
    render(<EndCountdown endsAt={endsAt} accessCode="A" />);
    const local = new Date(endsAt).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
    const text = screen.getByTestId('end-warning').textContent ?? '';
    expect(text).toContain(`(at ${local})`);
    expect(text).not.toContain('T13:08');
    expect(text).not.toContain('Z');
  });

  it('tells the learner their instructor ended the class, with the download button', () => {
    render(<EndedNotice ending={{ by: 'instructor' }} accessCode="ACC" />);
    expect(screen.getByRole('heading').textContent).toBe('Your instructor ended the workshop');
    expect(screen.getByRole('link', { name: 'Download my work' }).getAttribute('href')).toBe(`${DOWNLOAD_PATH}?code=ACC`);
    expect(screen.queryByText(/Reconnecting/)).toBeNull();
    expect(screen.queryByText(/not started/)).toBeNull();
  });

  it('says when a scheduled class ended, in local time', () => {
    const endsAt = new Date(START - 30 * 60_000).toISOString();
    render(<EndedNotice ending={{ by: 'schedule', endsAt }} accessCode="ACC" />);
    const local = new Date(endsAt).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
    expect(screen.getByText(/It ended at/).textContent).toBe(`It ended at ${local}.`);
  });
});

describe('warningDue and formatTimeLeft', () => {
  it('picks the warning due', () => {
    expect(warningDue(11 * 60_000)).toBeNull();
    expect(warningDue(10 * 60_000)).toBe(10);
    expect(warningDue(5 * 60_000 + 1)).toBe(10);
    expect(warningDue(5 * 60_000)).toBe(5);
    expect(warningDue(30_000)).toBe(1);
    expect(warningDue(0)).toBeNull();
  });
  it('formats the time left', () => {
    expect(formatTimeLeft(3_909_000)).toBe('1:05:09');
    expect(formatTimeLeft(754_000)).toBe('12:34');
    expect(formatTimeLeft(6_500)).toBe('0:07');
    expect(formatTimeLeft(-5)).toBe('0:00');
  });
});
