// Edit a workshop after creation (PATCH /api/workshops/{id}): name, seats (up
// to the server's limit, which the form reads from GET /api/auth/me), the
// plain lab guide, start and end. Only what changed is sent; learners get a
// new guide on their next poll without losing their place.
import { useState, type FormEvent } from 'react';
import { workshops, type Workshop, type WorkshopDetail, type WorkshopPatch } from '../../api';
import { useAction, useAsync } from '../../hooks';
import { Button, ErrorBox } from '../../components/ui';
import { isoToLocalInput, localInputToISO } from '../../format';

interface Fields {
  name: string;
  seats: number;
  guide: string;
  starts: string;
  ends: string;
}

const fieldsOf = (w: WorkshopDetail): Fields => ({
  name: w.name,
  seats: w.seats,
  guide: w.lab_guide ?? '',
  starts: isoToLocalInput(w.starts_at),
  ends: isoToLocalInput(w.ends_at),
});

/** The changed fields as a PATCH body; an emptied time is null (cleared). */
export function patchOf(before: Fields, after: Fields): WorkshopPatch {
  const p: WorkshopPatch = {};
  if (after.name.trim() !== before.name) p.name = after.name.trim();
  if (after.seats !== before.seats) p.seats = after.seats;
  if (after.guide !== before.guide) p.lab_guide = after.guide;
  if (after.starts !== before.starts) p.starts_at = localInputToISO(after.starts) ?? null;
  if (after.ends !== before.ends) p.ends_at = localInputToISO(after.ends) ?? null;
  return p;
}

export function EditWorkshopForm({ workshop, onDone }: { workshop: WorkshopDetail; onDone: (w: Workshop) => void }) {
  const [f, setF] = useState<Fields>(() => fieldsOf(workshop));
  const [saved, setSaved] = useState(false);
  const limits = useAsync((signal) => workshops.limits(signal), []);
  const max = limits.data?.max_seats;
  const save = useAction(async () => {
    const patch = patchOf(fieldsOf(workshop), f);
    if (Object.keys(patch).length === 0) throw new Error('Nothing has changed.');
    onDone(await workshops.update(workshop.id, patch));
    setSaved(true);
  });
  const set = (p: Partial<Fields>) => {
    setSaved(false);
    setF((x) => ({ ...x, ...p }));
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void save.run();
  };
  return (
    <form className="stack edit-workshop" onSubmit={submit} aria-label="Edit the workshop">
      <div className="grid-2">
        <label className="field">
          <span>Name</span>
          <input name="edit_name" value={f.name} onChange={(e) => set({ name: e.target.value })} required maxLength={200} />
        </label>
        <label className="field">
          <span>Seats{max ? ` (up to ${max})` : ''}</span>
          <input
            name="edit_seats"
            type="number"
            min={1}
            max={max}
            value={f.seats}
            onChange={(e) => set({ seats: Number(e.target.value) })}
            required
          />
        </label>
        <label className="field">
          <span>Starts</span>
          <input name="edit_starts" type="datetime-local" value={f.starts} onChange={(e) => set({ starts: e.target.value })} />
        </label>
        <label className="field">
          <span>Ends</span>
          <input name="edit_ends" type="datetime-local" value={f.ends} onChange={(e) => set({ ends: e.target.value })} />
        </label>
      </div>
      <label className="field">
        <span>Lab guide (Markdown; learners see the new text within seconds, where they are)</span>
        <textarea name="edit_guide" rows={8} value={f.guide} onChange={(e) => set({ guide: e.target.value })} />
      </label>
      <div className="btn-row">
        <Button type="submit" variant="primary" busy={save.busy}>
          Save changes
        </Button>
        {saved && (
          <span className="small" role="status">
            Saved.
          </span>
        )}
      </div>
      <ErrorBox error={save.error} />
    </form>
  );
}
