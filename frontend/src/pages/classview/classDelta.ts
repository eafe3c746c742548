// Folds the class stream's events into the class the view shows. A
// `workshop` event is the whole class; a `delta` event carries only what
// changed (seats by number, registrations by id). Entries that did not
// change keep their identity, so the seat grid and an open terminal watcher
// see the same objects as before.
import type { ClassDelta, ClassSnapshot } from '../../api';

/** The class from a whole `workshop` event. */
export function fromSnapshot(snap: ClassSnapshot): ClassSnapshot {
  const events = snap.events ?? snap.workshop.events ?? [];
  return {
    workshop: { ...snap.workshop, events },
    seats: snap.seats ?? [],
    events,
    registrations: snap.registrations ?? [],
    lab: snap.lab,
  };
}

/** Replaces entries by key and appends new ones; drops the removed keys. */
function merge<T, K>(list: T[], changed: T[] | undefined, removed: K[] | undefined, key: (t: T) => K): T[] {
  if (!changed?.length && !removed?.length) return list;
  const next = new Map<K, T>();
  for (const t of changed ?? []) next.set(key(t), t);
  const gone = new Set(removed ?? []);
  const out: T[] = [];
  for (const t of list) {
    const k = key(t);
    if (gone.has(k)) continue;
    const n = next.get(k);
    out.push(n ?? t);
    next.delete(k);
  }
  for (const t of next.values()) out.push(t);
  return out;
}

/** The class after a `delta` event. */
export function applyDelta(cls: ClassSnapshot, d: ClassDelta): ClassSnapshot {
  const events = d.events ?? cls.events;
  const workshop = d.workshop ? { ...d.workshop, events } : d.events ? { ...cls.workshop, events } : cls.workshop;
  const seats = merge(cls.seats, d.seats, d.seats_removed, (s) => s.seat);
  return {
    workshop,
    events,
    seats: seats === cls.seats ? seats : seats.sort((a, b) => a.seat - b.seat),
    registrations: merge(cls.registrations, d.registrations, d.registrations_removed, (r) => r.id),
    lab: d.lab_removed ? undefined : (d.lab ?? cls.lab),
  };
}
