import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import type { WorkshopHost } from '../../api';
import { HostsCard } from './HostsCard';

const QUOTA = 'create VM clarateach-fc-ws-w1-17: region CPU quota: the host needs 16 vCPUs (n2-standard-16) but us-central1 has 480 of its 480 CPUS in use or being created';

/** A 500-seat class at 30 seats per host: 17 hosts, the last one holding seats 481–500. */
function bigClass(): WorkshopHost[] {
  return Array.from({ length: 17 }, (_, i): WorkshopHost => {
    const n = i + 1;
    const first = i * 30 + 1;
    const last = Math.min(n * 30, 500);
    const name = n === 1 ? 'clarateach-fc-ws-w1' : `clarateach-fc-ws-w1-${n}`;
    const base = { number: n, name, first_seat: first, last_seat: last, seats: last - first + 1 };
    if (n === 16) return { ...base, state: 'provisioning' };
    if (n === 17) return { ...base, state: 'failed', reason: QUOTA };
    return { ...base, state: 'ready', zone: 'us-central1-b', ip: `10.0.0.${n}` };
  });
}

describe('hosts card', () => {
  it('shows every host of a 500-seat class compactly, and why the ones not ready wait', () => {
    render(<HostsCard hosts={bigClass()} />);
    const chips = within(screen.getByRole('list', { name: 'Hosts' })).getAllByRole('listitem');
    expect(chips).toHaveLength(17);
    expect(chips[16]).toHaveAttribute('data-state', 'failed');
    expect(chips[16]).toHaveAccessibleName(/Host 17 \(clarateach-fc-ws-w1-17\), seats 481–500: failed — .*region CPU quota/);
    expect(screen.getByTestId('hosts-summary')).toHaveTextContent('17 hosts · 15 ready · 1 starting · 1 failed');

    const problems = within(screen.getByRole('list', { name: 'Hosts not ready' })).getAllByRole('listitem');
    expect(problems.map((li) => li.dataset.host)).toEqual(['16', '17']);
    expect(problems[1]).toHaveTextContent('clarateach-fc-ws-w1-17');
    expect(problems[1]).toHaveTextContent('seats 481–500 wait for it');
    expect(problems[1]).toHaveTextContent('region CPU quota');
    expect(problems[0]).toHaveTextContent('seats 451–480 wait for it');
  });

  it('says nothing more for a workshop on one host', () => {
    const { container } = render(
      <HostsCard hosts={[{ number: 1, name: 'clarateach-fc-ws-w1', state: 'ready', first_seat: 1, last_seat: 30, seats: 30 }]} />,
    );
    expect(container).toBeEmptyDOMElement();
  });

  it('lists no problems when every host is ready', () => {
    const hosts = bigClass().map((h) => ({ ...h, state: 'ready' as const, reason: undefined }));
    render(<HostsCard hosts={hosts} />);
    expect(screen.queryByRole('list', { name: 'Hosts not ready' })).toBeNull();
    expect(screen.getByTestId('hosts-summary')).toHaveTextContent('17 hosts · 17 ready');
  });
});
