import { describe, expect, it, vi } from 'vitest';
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import type { Seat } from '../../api';
import { SeatGrid } from './SeatGrid';

const seats = (n: number): Seat[] =>
  Array.from({ length: n }, (_, i) => ({ seat: i + 1, registration_id: `r${i + 1}`, learner_name: `Learner ${i + 1}`, status: 'connected' as const }));

describe('seat grid', () => {
  it('draws every seat of a small class', () => {
    render(<SeatGrid seats={seats(30)} selected={null} onSelect={() => undefined} now={Date.now()} />);
    expect(within(screen.getByRole('list', { name: 'Seats' })).getAllByRole('button')).toHaveLength(30);
  });

  it('draws only the seats near the screen of a 500-seat class, and the others as the page scrolls', async () => {
    const onSelect = vi.fn();
    render(<SeatGrid seats={seats(500)} selected={null} onSelect={onSelect} now={Date.now()} />);
    const grid = screen.getByRole('list', { name: 'Seats' });
    const drawn = within(grid).getAllByRole('button');
    expect(drawn.length).toBeGreaterThan(0);
    expect(drawn.length).toBeLessThan(60);
    expect(drawn[0]).toHaveAttribute('data-seat', '1');
    expect(drawn[0].closest('li')).toHaveAttribute('aria-setsize', '500');
    expect(Number.parseInt(grid.style.paddingBottom)).toBeGreaterThan(400 * 100);

    // Scrolled 300 rows down (jsdom lays nothing out: one column of 110 px rows).
    vi.spyOn(grid, 'getBoundingClientRect').mockReturnValue({ top: -300 * 110 } as DOMRect);
    await act(async () => {
      window.dispatchEvent(new Event('scroll'));
      await new Promise((r) => requestAnimationFrame(() => r(null)));
    });
    const now = within(grid).getAllByRole('button');
    expect(now.map((b) => b.dataset.seat)).toContain('301');
    expect(now.map((b) => b.dataset.seat)).not.toContain('1');
    fireEvent.click(within(grid).getByRole('button', { name: /#301/ }));
    expect(onSelect).toHaveBeenCalledWith(expect.objectContaining({ seat: 301 }));
  });

  it('moves the focus with the arrow keys, bringing the next seat in', async () => {
    render(<SeatGrid seats={seats(500)} selected={null} onSelect={() => undefined} now={Date.now()} />);
    const grid = screen.getByRole('list', { name: 'Seats' });
    const seat = (n: number) => grid.querySelector<HTMLButtonElement>(`button[data-seat="${n}"]`);
    const first = seat(1)!;
    first.focus();
    fireEvent.keyDown(first, { key: 'ArrowDown' });
    await waitFor(() => expect(seat(2)).toHaveFocus());
    fireEvent.keyDown(document.activeElement!, { key: 'End' });
    // Seat 500 is far below: the page scrolls to it (jsdom: the grid moves up) and it is drawn and focused.
    vi.spyOn(grid, 'getBoundingClientRect').mockReturnValue({ top: -495 * 110 } as DOMRect);
    await act(async () => {
      window.dispatchEvent(new Event('scroll'));
      await new Promise((r) => requestAnimationFrame(() => r(null)));
    });
    await waitFor(() => expect(seat(500)).toHaveFocus());
  });
});
