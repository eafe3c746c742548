import { workshops, type Workshop } from '../api';
import { useAsync, useInterval } from '../hooks';
import { Link } from '../router';
import { TopBar } from '../components/TopBar';
import { ErrorBox, Spinner, StatusBadge } from '../components/ui';
import { WorkshopActions } from '../components/WorkshopActions';
import { formatSchedule } from '../format';

const BUSY = new Set(['provisioning', 'stopping']);

export function WorkshopCard({ w, onChange }: { w: Workshop; onChange: () => void }) {
  return (
    <li className="card workshop-card" data-workshop-id={w.id}>
      <div className="workshop-card-head">
        <h2>
          <Link to={`/workshops/${encodeURIComponent(w.id)}`}>{w.name}</Link>
        </h2>
        <StatusBadge status={w.status} />
      </div>
      {w.access === 'assistant' && <p className="muted small">Shared with you · teaching assistant</p>}
      <dl className="facts">
        <div>
          <dt>Seats</dt>
          <dd>
            <span className="seats-used">{w.seats_used}</span> / {w.seats}
          </dd>
        </div>
        <div>
          <dt>Code</dt>
          <dd className="mono">{w.code}</dd>
        </div>
        <div>
          <dt>Schedule</dt>
          <dd>{formatSchedule(w.starts_at, w.ends_at)}</dd>
        </div>
      </dl>
      {(w.status === 'provisioning' || w.status === 'stopping') && w.step && (
        <p className="muted small">
          <span className="spinner-dot" aria-hidden="true" /> {w.step}
        </p>
      )}
      {w.status === 'error' && w.status_reason && <p className="error-text small">{w.status_reason}</p>}
      <WorkshopActions workshop={w} onChange={onChange} compact />
    </li>
  );
}

export function Dashboard() {
  const list = useAsync((signal) => workshops.list(signal), []);
  const items = (list.data ?? []).filter((w) => w.status !== 'deleted');
  const anyBusy = items.some((w) => BUSY.has(w.status));
  // Workshops shared with the user as a teaching assistant come apart.
  const own = items.filter((w) => w.access !== 'assistant');
  const shared = items.filter((w) => w.access === 'assistant');
  // Live status: poll quickly while something is changing, slowly otherwise.
  useInterval(list.reload, anyBusy ? 2000 : 10_000);

  return (
    <div>
      <TopBar />
      <main className="page">
        <div className="page-head">
          <h1>Your workshops</h1>
          <Link to="/workshops/new" className="btn btn-primary">
            New workshop
          </Link>
        </div>
        <ErrorBox error={list.error} onRetry={list.reload} />
        {list.loading && !list.data && <Spinner label="Loading workshops…" />}
        {list.data && own.length === 0 && (
          <div className="card empty">
            <p>No workshops yet.</p>
            <Link to="/workshops/new" className="btn btn-primary">
              Create your first workshop
            </Link>
          </div>
        )}
        {own.length > 0 && (
          <ul className="workshop-list">
            {own.map((w) => (
              <WorkshopCard key={w.id} w={w} onChange={list.reload} />
            ))}
          </ul>
        )}
        {shared.length > 0 && (
          <section aria-labelledby="shared-h">
            <h2 id="shared-h">Shared with you</h2>
            <ul className="workshop-list" data-testid="shared-workshops">
              {shared.map((w) => (
                <WorkshopCard key={w.id} w={w} onChange={list.reload} />
              ))}
            </ul>
          </section>
        )}
      </main>
    </div>
  );
}
