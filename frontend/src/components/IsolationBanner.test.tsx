import { render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IsolationBanner } from './IsolationBanner';

function health(body: object) {
  vi.stubGlobal(
    'fetch',
    vi.fn(async () => new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } })),
  );
}

afterEach(() => vi.unstubAllGlobals());

describe('IsolationBanner', () => {
  it('warns everyone when seats are not isolated', async () => {
    health({ status: 'ok', seats_isolated: false });
    render(<IsolationBanner />);
    await waitFor(() => expect(screen.getByRole('alert').textContent).toMatch(/development seats: not isolated/i));
  });

  it('says nothing for isolated seats', async () => {
    const f = vi.fn(async () => new Response(JSON.stringify({ status: 'ok', seats_isolated: true }), { status: 200 }));
    vi.stubGlobal('fetch', f);
    render(<IsolationBanner />);
    await waitFor(() => expect(f).toHaveBeenCalled());
    expect(screen.queryByRole('alert')).toBeNull();
  });
});
