import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { SavedWork } from './SavedWork';
import { mockFetch } from '../test/fetchMock';
import type { Workshop } from '../api';

const ws = { id: 'w 1', name: 'Go', code: 'ABCDEF', seats: 3, seats_used: 1, status: 'stopped' } as Workshop;

describe('SavedWork', () => {
  it("links to everyone's work and deletes it only after confirmation", async () => {
    const user = userEvent.setup();
    const { calls } = mockFetch({ 'DELETE /api/workshops/w%201/archives': () => ({ body: { deleted: 4 } }) });
    render(<SavedWork workshop={ws} />);
    expect(screen.getByRole('link', { name: "Download everyone's work" })).toHaveAttribute('href', '/api/workshops/w%201/archives.tar');
    await user.click(screen.getByRole('button', { name: 'Delete saved work' }));
    expect(calls).toHaveLength(0);
    const dialog = await screen.findByRole('dialog');
    await user.click(dialog.querySelector('button.btn-danger')!);
    await waitFor(() => expect(screen.getByRole('status')).toHaveTextContent('4 saved copies were deleted.'));
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual(['DELETE /api/workshops/w%201/archives']);
  });
});
