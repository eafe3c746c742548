import type { ProvisionStep } from '../../api';
import { StatusBadge } from '../../components/ui';
import { formatDuration, parseDate } from '../../format';

function stepDuration(s: ProvisionStep, now: number): string {
  const a = parseDate(s.started_at);
  if (!a) return '';
  const b = parseDate(s.finished_at);
  // A running step may have started after the last tick of `now` (the
  // class view's clock ticks every 5 s): it has run until this render.
  return formatDuration((b ? b.getTime() : Math.max(now, Date.now())) - a.getTime());
}

/** The provisioning steps with their state and how long each took (or has taken so far). */
export function ProvisionSteps({ steps, now }: { steps: ProvisionStep[]; now: number }) {
  if (!steps.length) return <p className="muted small">No provisioning steps yet.</p>;
  return (
    <ol className="steps">
      {steps.map((s, i) => (
        <li key={`${s.name}-${i}`} className={`step step-${s.status}`} data-step={s.name}>
          <span className={`step-icon step-icon-${s.status}`} aria-hidden="true" />
          <span className="step-name">{s.name}</span>
          <StatusBadge status={s.status} />
          <span className="step-time muted small">{stepDuration(s, now)}</span>
          {s.status === 'running' && s.progress && <span className="muted small step-progress">{s.progress}</span>}
          {s.error && <span className="error-text small step-error">{s.error}</span>}
        </li>
      ))}
    </ol>
  );
}
