import { useState } from 'react';
import { workshops, type Workshop, type WorkshopDetail } from '../../api';
import { useAction } from '../../hooks';
import { Button, ErrorBox } from '../../components/ui';
import { isoToLocalInput, localInputToISO, parseDate } from '../../format';

/** Moves the workshop's end time (an hour later by default). */
export function ExtendForm({ workshop, onDone }: { workshop: WorkshopDetail; onDone: (w: Workshop) => void }) {
  const [value, setValue] = useState(() => {
    const base = parseDate(workshop.ends_at) ?? new Date();
    return isoToLocalInput(new Date(base.getTime() + 60 * 60_000).toISOString());
  });
  const act = useAction(async () => {
    const iso = localInputToISO(value);
    if (!iso) throw new Error('Choose a new end time.');
    onDone(await workshops.extend(workshop.id, iso));
  });
  return (
    <form
      className="extend-form"
      onSubmit={(e) => {
        e.preventDefault();
        void act.run();
      }}
    >
      <label className="field inline">
        <span>End time</span>
        <input type="datetime-local" value={value} onChange={(e) => setValue(e.target.value)} required />
      </label>
      <Button type="submit" small busy={act.busy}>
        Extend
      </Button>
      <ErrorBox error={act.error} />
    </form>
  );
}
