import { memo, useCallback, useEffect, useLayoutEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { Seat } from '../../api';
import { parseDate, timeAgo } from '../../format';
import { useLatest } from '../../hooks';
import { seatWindow, WINDOW_FROM, type GridGeometry } from './seatWindow';

/** Whether a learner holds the seat. */
export const seatTaken = (s: Seat) => !!s.registration_id;

function seatLabel(s: Seat, now: number): string {
  if (s.status === 'empty') return 'free';
  if (s.status === 'idle') {
    const d = parseDate(s.last_activity);
    if (d) return `Idle for ${Math.max(1, Math.round((now - d.getTime()) / 60_000))} min`;
  }
  return s.status;
}

// A windowed grid's fixed sizes (styles.css .seat-grid.windowed uses the same).
const CELL_MIN_WIDTH = 155;
const CELL_HEIGHT = 100;
const GAP = 10;

const SeatCell = memo(function SeatCell({
  s,
  selected,
  onSelect,
  now,
  pos,
  size,
}: {
  s: Seat;
  selected: boolean;
  onSelect: (s: Seat) => void;
  now: number;
  pos?: number;
  size?: number;
}) {
  const taken = seatTaken(s);
  return (
    <li aria-posinset={pos} aria-setsize={size}>
      <button
        type="button"
        className={`seat seat-${s.status} ${selected ? 'selected' : ''}`}
        onClick={() => onSelect(s)}
        disabled={!taken}
        aria-pressed={selected}
        data-seat={s.seat}
        title={taken ? `Watch ${s.learner_name ?? 'this learner'}'s terminal` : 'Free seat'}
      >
        <span className="seat-no">#{s.seat}</span>
        <span className="seat-name">{taken ? s.learner_name || s.learner_email || 'Learner' : 'Free'}</span>
        <span className="seat-state">
          <span className={`dot dot-seat-${s.status}`} aria-hidden="true" />
          {seatLabel(s, now)}
        </span>
        {s.revoke_pending && (
          <span className="seat-pending small" title={s.revoke_error || 'Waiting for the workshop machine to confirm'}>
            revoke pending
          </span>
        )}
        <span className="seat-activity muted small">{taken ? timeAgo(s.last_activity, now) : ''}</span>
      </button>
    </li>
  );
});

/** Where the grid is and how wide, read from the page. */
function measure(el: HTMLElement): GridGeometry {
  return { top: el.getBoundingClientRect().top, width: el.clientWidth, viewport: window.innerHeight };
}

/**
 * A big class's grid: only the rows on screen (and a few around them) are in
 * the page; the rest is padding of the same height, so the page scrolls as if
 * every seat were there. Arrow keys move between seats, bringing the next
 * one in.
 */
function WindowedGrid({ seats, selected, onSelect, now }: Props) {
  const ref = useRef<HTMLUListElement>(null);
  const [geo, setGeo] = useState<GridGeometry>({ top: 0, width: 0, viewport: typeof window === 'undefined' ? 800 : window.innerHeight });
  const [focusSeat, setFocusSeat] = useState<number | null>(null);
  const win = seatWindow(seats.length, geo, { minWidth: CELL_MIN_WIDTH, height: CELL_HEIGHT, gap: GAP });

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    let raf = 0;
    const update = () => {
      cancelAnimationFrame(raf);
      raf = requestAnimationFrame(() => setGeo(measure(el)));
    };
    setGeo(measure(el));
    window.addEventListener('scroll', update, { passive: true });
    window.addEventListener('resize', update);
    const ro = typeof ResizeObserver === 'undefined' ? null : new ResizeObserver(update);
    ro?.observe(el);
    return () => {
      cancelAnimationFrame(raf);
      window.removeEventListener('scroll', update);
      window.removeEventListener('resize', update);
      ro?.disconnect();
    };
  }, []);

  // A seat reached with the arrow keys takes the focus once it is drawn.
  useEffect(() => {
    if (focusSeat === null) return;
    const b = ref.current?.querySelector<HTMLButtonElement>(`button[data-seat="${focusSeat}"]`);
    if (b) {
      b.focus();
      setFocusSeat(null);
    }
  }, [focusSeat, win.first, win.last]);

  const onKeyDown = useCallback(
    (e: KeyboardEvent<HTMLUListElement>) => {
      const at = Number((e.target as HTMLElement).closest('button')?.dataset.seat);
      const i = seats.findIndex((s) => s.seat === at);
      if (i < 0) return;
      const step: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: win.cols, ArrowUp: -win.cols, Home: -i, End: seats.length - 1 - i };
      if (!(e.key in step)) return;
      e.preventDefault();
      const j = Math.min(seats.length - 1, Math.max(0, i + step[e.key]));
      const el = ref.current;
      if (el) {
        const rowTop = el.getBoundingClientRect().top + Math.floor(j / win.cols) * (CELL_HEIGHT + GAP);
        if (rowTop < 0 || rowTop + CELL_HEIGHT > window.innerHeight) window.scrollBy?.({ top: rowTop - window.innerHeight / 3 });
      }
      setFocusSeat(seats[j].seat);
    },
    [seats, win.cols],
  );

  return (
    <ul
      ref={ref}
      className="seat-grid windowed"
      aria-label="Seats"
      onKeyDown={onKeyDown}
      style={{ paddingTop: win.padTop, paddingBottom: win.padBottom }}
      data-window={`${win.first}-${win.last}`}
    >
      {seats.slice(win.first, win.last).map((s, k) => (
        <SeatCell
          key={s.seat}
          s={s}
          selected={selected === s.seat}
          onSelect={onSelect}
          now={now}
          pos={win.first + k + 1}
          size={seats.length}
        />
      ))}
    </ul>
  );
}

interface Props {
  seats: Seat[];
  selected: number | null;
  onSelect: (s: Seat) => void;
  now: number;
}

/** Every seat as a button; a taken seat opens its learner's terminal. A big class's grid is windowed. */
export function SeatGrid({ seats, selected, onSelect: onSelectNow, now }: Props) {
  // One callback for every render, so a seat that did not change is not drawn again.
  const latest = useLatest(onSelectNow);
  const onSelect = useCallback((s: Seat) => latest.current(s), [latest]);
  if (!seats.length) return <p className="muted">No seats yet. They appear once the workshop is running.</p>;
  if (seats.length >= WINDOW_FROM) return <WindowedGrid seats={seats} selected={selected} onSelect={onSelect} now={now} />;
  return (
    <ul className="seat-grid" aria-label="Seats">
      {seats.map((s) => (
        <SeatCell key={s.seat} s={s} selected={selected === s.seat} onSelect={onSelect} now={now} />
      ))}
    </ul>
  );
}
