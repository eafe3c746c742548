import { describe, expect, it } from 'vitest';
import { seatWindow } from './seatWindow';

const cell = { minWidth: 155, height: 100, gap: 10 };

describe('seat window', () => {
  it('draws the rows on screen and three around them, the rest as padding', () => {
    // 500 seats, 5 columns (825 px), the grid's top 2,200 px above the window (20 rows).
    const w = seatWindow(500, { top: -2200, width: 825, viewport: 880 }, cell);
    expect(w.cols).toBe(5);
    expect(w.first).toBe(17 * 5);
    expect(w.last).toBe((Math.ceil((880 + 2200) / 110) + 3) * 5);
    expect(w.padTop).toBe(17 * 110);
    expect(w.padTop + w.padBottom + ((w.last - w.first) / 5) * 110).toBe(100 * 110);
  });

  it('starts at the first seat when the grid is below the top, and ends at the last', () => {
    expect(seatWindow(500, { top: 400, width: 825, viewport: 880 }, cell)).toMatchObject({ first: 0, last: 40, padTop: 0 });
    const end = seatWindow(503, { top: -1e6, width: 825, viewport: 880 }, cell);
    expect(end.last).toBe(503);
    expect(end.padBottom).toBe(0);
  });

  it('takes one column before the grid is laid out', () => {
    const w = seatWindow(200, { top: 0, width: 0, viewport: 880 }, cell);
    expect(w.cols).toBe(1);
    expect(w.last - w.first).toBeLessThan(20);
  });
});
