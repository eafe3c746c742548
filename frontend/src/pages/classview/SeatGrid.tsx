import type { Seat } from '../../api';
import { parseDate, timeAgo } from '../../format';

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

/** Every seat as a button; a taken seat opens its learner's terminal. */
export function SeatGrid({
  seats,
  selected,
  onSelect,
  now,
}: {
  seats: Seat[];
  selected: number | null;
  onSelect: (s: Seat) => void;
  now: number;
}) {
  if (!seats.length) return <p className="muted">No seats yet. They appear once the workshop is running.</p>;
  return (
    <ul className="seat-grid" aria-label="Seats">
      {seats.map((s) => {
        const taken = seatTaken(s);
        return (
          <li key={s.seat}>
            <button
              type="button"
              className={`seat seat-${s.status} ${selected === s.seat ? 'selected' : ''}`}
              onClick={() => onSelect(s)}
              disabled={!taken}
              aria-pressed={selected === s.seat}
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
      })}
    </ul>
  );
}
