import { describe, expect, it } from 'vitest';
import type { ClassSnapshot, Registration, Seat } from '../../api';
import { applyDelta, fromSnapshot } from './classDelta';

const seat = (n: number, extra: Partial<Seat> = {}): Seat => ({ seat: n, status: 'empty', ...extra });
const reg = (id: string, extra: Partial<Registration> = {}): Registration => ({
  id, workshop_id: 'w1', name: id, email: `${id}@example.com`, created_at: '2026-01-01T00:00:00Z', ...extra,
});
const cls = (): ClassSnapshot =>
  fromSnapshot({
    workshop: {
      id: 'w1', owner_id: 'u1', name: 'W', code: 'C', seats: 3, seats_used: 0, status: 'running', desired_state: 'running',
      disk_mb: 2048, egress_allow: [], environment: '', environment_auth: false, learner_root: false,
      created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z', hosts: [], events: [],
    },
    seats: [seat(1), seat(2), seat(3)],
    events: [{ id: 1, workshop_id: 'w1', at: '2026-01-01T00:00:00Z', level: 'info', step: 's', message: 'm' }],
    registrations: [reg('a'), reg('b')],
  });

describe('class deltas', () => {
  it('takes the events from the stream\'s own list, not the workshop part', () => {
    const c = cls();
    expect(c.workshop.events).toHaveLength(1);
    expect(c.events).toHaveLength(1);
  });

  it('replaces changed seats by number and keeps the others as they were', () => {
    const c = cls();
    const next = applyDelta(c, { seats: [seat(2, { status: 'connected', registration_id: 'a' })] });
    expect(next.seats.map((s) => s.status)).toEqual(['empty', 'connected', 'empty']);
    expect(next.seats[0]).toBe(c.seats[0]);
    expect(next.seats[2]).toBe(c.seats[2]);
    expect(next.registrations).toBe(c.registrations);
    expect(next.workshop).toBe(c.workshop);
  });

  it('adds and removes seats and registrations, in seat order', () => {
    const c = cls();
    const next = applyDelta(c, {
      seats: [seat(5), seat(4)],
      seats_removed: [2],
      registrations: [reg('b', { name: 'Bee' }), reg('c')],
      registrations_removed: ['a'],
    });
    expect(next.seats.map((s) => s.seat)).toEqual([1, 3, 4, 5]);
    expect(next.registrations.map((r) => `${r.id}:${r.name}`)).toEqual(['b:Bee', 'c:c']);
  });

  it('replaces the workshop, keeping the events, and the lab; removes the lab', () => {
    const c = cls();
    const next = applyDelta(c, { workshop: { ...c.workshop, name: 'W2', events: [] } });
    expect(next.workshop.name).toBe('W2');
    expect(next.workshop.events).toHaveLength(1);
    const lab = { lab: { id: 'l', title: 'L', version: 1, order: 'linear', steps: [] }, learners: [], hands: [] } as unknown as NonNullable<ClassSnapshot['lab']>;
    const withLab = applyDelta(next, { lab });
    expect(withLab.lab).toBe(lab);
    expect(applyDelta(withLab, { events: [] }).lab).toBe(lab);
    expect(applyDelta(withLab, { lab_removed: true }).lab).toBeUndefined();
  });
});
