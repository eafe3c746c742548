import type { HostState, WorkshopHost } from '../../api';
import { StatusBadge } from '../../components/ui';

const STATE_ORDER: HostState[] = ['ready', 'provisioning', 'unhealthy', 'failed', 'stopped'];
const STATE_WORDS: Record<HostState, string> = {
  ready: 'ready',
  provisioning: 'starting',
  unhealthy: 'not answering',
  failed: 'failed',
  stopped: 'stopped',
};

function seatRange(h: WorkshopHost): string {
  if (h.seats <= 0) return 'no seats (being removed)';
  return h.first_seat === h.last_seat ? `seat ${h.first_seat}` : `seats ${h.first_seat}–${h.last_seat}`;
}

function hostLabel(h: WorkshopHost): string {
  return `Host ${h.number} (${h.name}), ${seatRange(h)}: ${STATE_WORDS[h.state]}${h.reason ? ` — ${h.reason}` : ''}`;
}

/**
 * The hosts of a workshop that runs on several (big classes): one small
 * square per host, coloured by its state, and a line for each host that is
 * not ready saying which seats wait for it and why (e.g. the region's CPU
 * quota). Nothing for a workshop on one host: the provisioning card is it.
 */
export function HostsCard({ hosts }: { hosts: WorkshopHost[] }) {
  if (hosts.length <= 1) return null;
  const counts = STATE_ORDER.map((s) => [s, hosts.filter((h) => h.state === s).length] as const).filter(([, n]) => n > 0);
  const notReady = hosts.filter((h) => h.state !== 'ready' && h.state !== 'stopped');
  return (
    <section className="card hosts-card" aria-labelledby="hosts-h">
      <h2 id="hosts-h">Hosts</h2>
      <p className="muted small" data-testid="hosts-summary">
        {hosts.length} hosts · {counts.map(([s, n]) => `${n} ${STATE_WORDS[s]}`).join(' · ')}
      </p>
      <ul className="host-chips" aria-label="Hosts">
        {hosts.map((h) => (
          <li
            key={h.number}
            className={`host-chip host-${h.state}`}
            data-host={h.number}
            data-state={h.state}
            title={hostLabel(h)}
            aria-label={hostLabel(h)}
          >
            {h.number}
          </li>
        ))}
      </ul>
      {notReady.length > 0 && (
        <ul className="host-problems" aria-label="Hosts not ready">
          {notReady.map((h) => (
            <li key={h.number} data-host={h.number}>
              <StatusBadge status={h.state === 'unhealthy' ? 'down' : h.state}>{STATE_WORDS[h.state]}</StatusBadge>{' '}
              <span className="mono small">{h.name}</span> <span className="small">{seatRange(h)} wait for it</span>
              {h.reason && <div className="error-text small host-reason">{h.reason}</div>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
