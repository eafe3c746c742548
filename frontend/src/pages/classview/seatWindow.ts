// Which seats of a big class's grid are drawn: the rows on screen and a few
// around them. No DOM: unit-tested on its own (seatWindow.test.ts).

/** From this many seats on, the class view draws only the seats near the screen. */
export const WINDOW_FROM = 60;

/** Rows drawn above and below the screen, so a quick scroll shows no gap. */
const OVERSCAN = 3;

export interface GridGeometry {
  /** The grid's top edge relative to the top of the window, in px (negative once scrolled past). */
  top: number;
  /** The grid's inner width in px (0: not laid out yet). */
  width: number;
  /** The window's height in px. */
  viewport: number;
}

export interface CellSize {
  minWidth: number;
  height: number;
  gap: number;
}

export interface SeatWindow {
  cols: number;
  /** The first seat drawn (index) and the one after the last. */
  first: number;
  last: number;
  /** The height in px standing for the rows not drawn above and below. */
  padTop: number;
  padBottom: number;
}

export function seatWindow(count: number, g: GridGeometry, cell: CellSize): SeatWindow {
  const cols = Math.max(1, Math.floor((g.width + cell.gap) / (cell.minWidth + cell.gap)));
  const rows = Math.ceil(count / cols);
  const pitch = cell.height + cell.gap;
  const viewport = Math.max(g.viewport, pitch);
  const firstRow = Math.min(rows, Math.max(0, Math.floor(-g.top / pitch) - OVERSCAN));
  const lastRow = Math.max(firstRow, Math.min(rows, Math.ceil((viewport - g.top) / pitch) + OVERSCAN));
  return {
    cols,
    first: firstRow * cols,
    last: Math.min(count, lastRow * cols),
    padTop: firstRow * pitch,
    padBottom: (rows - lastRow) * pitch,
  };
}
