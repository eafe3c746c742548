import type { WorkshopEvent } from '../../api';
import { formatDateTime } from '../../format';

/** The workshop's last 30 events, newest first, folded away. */
export function EventLog({ events }: { events: WorkshopEvent[] }) {
  if (!events.length) return null;
  const recent = [...events].slice(-30).reverse();
  return (
    <details className="event-log">
      <summary>Activity log ({events.length})</summary>
      <ul>
        {recent.map((e) => (
          <li key={String(e.id)} className={`event event-${e.level}`}>
            <time className="muted small">{formatDateTime(e.at)}</time> {e.step && <span className="mono small">[{e.step}]</span>} {e.message}
          </li>
        ))}
      </ul>
    </details>
  );
}
