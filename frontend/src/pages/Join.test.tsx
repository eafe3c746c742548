import { describe, expect, it, vi } from 'vitest';
import { render, screen } from '@testing-library/react';
import { JoinPage } from './Join';
import { mockFetch } from '../test/fetchMock';

vi.mock('../workspace/Workspace', () => ({ default: () => <div data-testid="workspace-stub" /> }));

describe('the join page after the end of a class', () => {
  it('says the instructor ended the workshop (not "not started yet") after a reload', async () => {
    mockFetch({
      'POST /api/join': () => ({
        body: { status: 'stopped', stopped_by_instructor: true, workshop: { id: 'w1', name: 'Intro', status: 'stopped' }, seat: 1 },
      }),
    });
    render(<JoinPage accessCode="ACC" />);
    expect(await screen.findByText('Your instructor ended the workshop')).toBeTruthy();
    expect(screen.getByRole('link', { name: 'Download my work' }).getAttribute('href')).toBe('/download?code=ACC');
    expect(screen.queryByText(/not started/)).toBeNull();
  });

  it('shows when a scheduled class ended in local time', async () => {
    const endsAt = '2026-12-04T21:21:17Z';
    mockFetch({
      'POST /api/join': () => ({ status: 410, body: { error: { code: 'workshop_ended', message: 'this workshop has ended', details: { ends_at: endsAt } } } }),
    });
    render(<JoinPage accessCode="ACC" />);
    const local = new Date(endsAt).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
    expect(await screen.findByText('The workshop has ended')).toBeTruthy();
    expect(screen.getByText(/It ended at/).textContent).toContain(local);
    expect(document.body.textContent).not.toContain(endsAt);
  });
});
