// The class view: one workshop, live from its Server-Sent Events stream
// (classview/useClassStream.ts): provisioning steps with timings, the seat
// grid, the hosts of a big class (classview/HostsCard.tsx), watching or
// taking over a learner's terminal, the learners, revoking,
// extending the end time.
import { useState } from 'react';
import type { Seat, WorkshopDetail } from '../api';
import { useNow } from '../hooks';
import { Link, navigate } from '../router';
import { TopBar } from '../components/TopBar';
import { ErrorBox, Spinner, StatusBadge } from '../components/ui';
import { WorkshopActions } from '../components/WorkshopActions';
import { ShareButton } from '../components/SharePanel';
import { formatDateTime, formatSchedule } from '../format';
import { SavedWork } from './SavedWork';
import { useClassStream, type LiveMode } from './classview/useClassStream';
import { ProvisionSteps } from './classview/ProvisionSteps';
import { EventLog } from './classview/EventLog';
import { SeatGrid, seatTaken } from './classview/SeatGrid';
import { SeatWatcher } from './classview/SeatWatcher';
import { ExtendForm } from './classview/ExtendForm';
import { Learners } from './classview/Learners';
import { Hands, LabCard } from './classview/LabCard';
import { EditWorkshopForm } from './classview/EditWorkshopForm';
import { HostsCard } from './classview/HostsCard';

const LIVE_LABEL: Record<LiveMode, { text: string; title: string }> = {
  live: { text: 'Live', title: 'Live updates' },
  reconnecting: { text: 'Reconnecting…', title: 'The live connection dropped; reconnecting' },
  connecting: { text: '…', title: 'Connecting' },
};

function ClassHeader({ workshop, seats, mode }: { workshop: WorkshopDetail; seats: Seat[]; mode: LiveMode }) {
  const used = seats.filter(seatTaken).length;
  return (
    <div className="page-head">
      <div>
        <h1>{workshop.name}</h1>
        <p className="muted">
          {formatSchedule(workshop.starts_at, workshop.ends_at)} · code <span className="mono">{workshop.code}</span> · {used}/
          {workshop.seats} seats taken
        </p>
      </div>
      <div className="head-status">
        {workshop.access === 'assistant' && <span className="badge">Teaching assistant</span>}
        <ShareButton workshopId={workshop.id} canManage={workshop.access !== 'assistant'} />
        <StatusBadge status={workshop.status} />
        <span className={`live-indicator live-${mode}`} title={LIVE_LABEL[mode].title}>
          {LIVE_LABEL[mode].text}
        </span>
      </div>
    </div>
  );
}

function ProvisioningCard({ workshop, now }: { workshop: WorkshopDetail; now: number }) {
  return (
    <section className="card" aria-labelledby="prov-h">
      <h2 id="prov-h">Provisioning</h2>
      {workshop.step && workshop.status !== 'running' && <p className="muted small">Now: {workshop.step}</p>}
      <ProvisionSteps steps={workshop.vm?.steps ?? []} now={now} />
      {workshop.vm?.name && (
        <p className="muted small">
          Machine <span className="mono">{workshop.vm.name}</span> · {workshop.vm.status}
        </p>
      )}
      <EventLog events={workshop.events ?? []} />
    </section>
  );
}

function ScheduleCard({ workshop, onChange }: { workshop: WorkshopDetail; onChange: (w: Partial<WorkshopDetail>) => void }) {
  return (
    <section className="card" aria-labelledby="sched-h">
      <h2 id="sched-h">Schedule</h2>
      <p className="small">
        Starts: {formatDateTime(workshop.starts_at)}
        <br />
        Ends: {formatDateTime(workshop.ends_at)}
      </p>
      {workshop.access === 'assistant' ? null : workshop.ends_at ? (
        <ExtendForm workshop={workshop} onDone={onChange} />
      ) : (
        <p className="small muted">No end time: the workshop runs until you stop it.</p>
      )}
    </section>
  );
}

/** Moves the focus to the first learner's seat (or the seat heading): the skip link's target. */
function focusSeats() {
  const first = document.querySelector<HTMLElement>('.seat-grid button.seat:not(:disabled)') ?? document.getElementById('seats-h');
  first?.focus();
  first?.scrollIntoView?.({ block: 'nearest' });
}

/** The first thing Tab reaches: straight to the seats, past the header and the cards. */
function SkipToSeats() {
  return (
    <a
      className="skip-link"
      href="#seats-h"
      onClick={(e) => {
        e.preventDefault();
        focusSeats();
      }}
    >
      Skip to the seats
    </a>
  );
}

export default function ClassView({ id }: { id: string }) {
  const { snapshot, error, mode, reconnect, patchWorkshop } = useClassStream(id);
  const [watch, setWatch] = useState<number | null>(null);
  // Opened from the raised hands: the queue and the terminal side by side.
  const [helping, setHelping] = useState(false);
  const openSeat = (seat: number | null, fromHand = false) => {
    setWatch(seat);
    setHelping(fromHand && seat !== null);
  };
  const now = useNow(5000);

  if (!snapshot) {
    return (
      <div>
        <TopBar />
        <main className="page">
          {error ? <ErrorBox error={error} onRetry={reconnect} /> : <Spinner label="Loading the workshop…" />}
        </main>
      </div>
    );
  }
  const { workshop, seats, registrations } = snapshot;
  const watched = seats.find((s) => s.seat === watch) ?? null;
  const watcher = watched && (
    <SeatWatcher key={watched.seat} workshopId={workshop.id} seat={watched} onClose={() => openSeat(null)} />
  );
  const sideBySide = helping && !!snapshot.lab && !!watcher;

  return (
    <div>
      <SkipToSeats />
      <TopBar />
      <main className="page wide class-view" data-status={workshop.status}>
        <p className="crumbs">
          <Link to="/dashboard">← Workshops</Link>
        </p>
        <ClassHeader workshop={workshop} seats={seats} mode={mode} />
        <ErrorBox error={error} onRetry={reconnect} />
        {workshop.status === 'error' && workshop.status_reason && <div className="error-box">{workshop.status_reason}</div>}
        <WorkshopActions workshop={workshop} onChange={(w) => (w ? patchWorkshop(w) : navigate('/dashboard'))} />
        <div className="class-grid">
          <ProvisioningCard workshop={workshop} now={now} />
          <HostsCard hosts={workshop.hosts ?? []} />
          <ScheduleCard workshop={workshop} onChange={patchWorkshop} />
          {workshop.access !== 'assistant' && <SavedWork workshop={workshop} />}
        </div>
        <section aria-labelledby="seats-h" className="seats-section">
          <h2 id="seats-h" tabIndex={-1}>
            Seats
          </h2>
          <SeatGrid seats={seats} selected={watch} onSelect={(s) => openSeat(s.seat === watch ? null : s.seat)} now={now} />
        </section>
        {sideBySide && snapshot.lab && (
          <div className="help-desk" data-testid="help-desk">
            <section className="card" aria-labelledby="help-hands-h">
              <h2 id="help-hands-h">Raised hands</h2>
              <Hands workshopId={workshop.id} hands={snapshot.lab.hands} onHelp={(seat) => openSeat(seat, true)} />
            </section>
            {watcher}
          </div>
        )}
        <LabCard
          workshopId={workshop.id}
          live={snapshot.lab}
          canEdit={workshop.access !== 'assistant'}
          onWatch={(seat) => openSeat(seat)}
          onHelp={(seat) => openSeat(seat, true)}
        />
        <Learners workshopId={workshop.id} registrations={registrations} />
        {workshop.access !== 'assistant' && (
          <details className="card edit-card">
            <summary>
              <h2>Edit the workshop</h2>
            </summary>
            <EditWorkshopForm workshop={workshop} onDone={patchWorkshop} />
          </details>
        )}
        {!sideBySide && watcher}
      </main>
    </div>
  );
}
