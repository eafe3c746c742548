import { useEffect, useRef, useState, type ButtonHTMLAttributes, type ReactNode } from 'react';

export function Spinner({ label = 'Loading…' }: { label?: string }) {
  return (
    <span className="spinner" role="status" aria-live="polite">
      <span className="spinner-dot" aria-hidden="true" />
      <span className="spinner-label">{label}</span>
    </span>
  );
}

/** Shows a server error message; optional retry. */
export function ErrorBox({ error, onRetry }: { error: string | null | undefined; onRetry?: () => void }) {
  if (!error) return null;
  return (
    <div className="error-box" role="alert">
      <span>{error}</span>
      {onRetry && (
        <button type="button" className="btn btn-small" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

type ButtonProps = ButtonHTMLAttributes<HTMLButtonElement> & {
  busy?: boolean;
  variant?: 'primary' | 'danger' | 'ghost' | 'default';
  small?: boolean;
};

export function Button({ busy, variant = 'default', small, className, children, disabled, ...rest }: ButtonProps) {
  const cls = ['btn', variant !== 'default' && `btn-${variant}`, small && 'btn-small', className]
    .filter(Boolean)
    .join(' ');
  return (
    <button type="button" className={cls} disabled={disabled || busy} aria-busy={busy || undefined} {...rest}>
      {busy && <span className="spinner-dot" aria-hidden="true" />}
      {children}
    </button>
  );
}

export async function copyText(text: string): Promise<void> {
  if (navigator.clipboard?.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return;
    } catch {
      /* fall back below (no permission, insecure origin) */
    }
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.style.position = 'fixed';
  ta.style.opacity = '0';
  document.body.appendChild(ta);
  ta.select();
  try {
    document.execCommand('copy');
  } finally {
    ta.remove();
  }
}

export function CopyButton({ text, label = 'Copy', small = true, className }: { text: string; label?: string; small?: boolean; className?: string }) {
  const [done, setDone] = useState(false);
  useEffect(() => {
    if (!done) return;
    const t = setTimeout(() => setDone(false), 1500);
    return () => clearTimeout(t);
  }, [done]);
  return (
    <Button
      small={small}
      className={className}
      onClick={() => {
        void copyText(text).then(() => setDone(true));
      }}
      aria-label={`${label}: ${text.length > 60 ? text.slice(0, 60) + '…' : text}`}
    >
      {done ? 'Copied' : label}
    </Button>
  );
}

const STATUS_LABELS: Record<string, string> = {
  created: 'Created',
  provisioning: 'Provisioning',
  running: 'Running',
  stopping: 'Stopping',
  stopped: 'Stopped',
  deleted: 'Deleted',
  error: 'Error',
  waiting: 'Waiting',
  ready: 'Ready',
  connected: 'Connected',
  idle: 'Idle',
  revoked: 'Revoked',
  down: 'Restarting',
  pending: 'Pending',
  done: 'Done',
  ok: 'Done',
  failed: 'Failed',
};

export function StatusBadge({ status, children }: { status: string; children?: ReactNode }) {
  return (
    <span className={`badge badge-${status}`} data-status={status}>
      {children ?? STATUS_LABELS[status] ?? status}
    </span>
  );
}

/** A modal confirmation dialog; focus starts on Cancel, Escape cancels. */
export function ConfirmDialog({
  title,
  children,
  confirmLabel = 'Confirm',
  danger,
  busy,
  error,
  onConfirm,
  onCancel,
}: {
  title: string;
  children?: ReactNode;
  confirmLabel?: string;
  danger?: boolean;
  busy?: boolean;
  error?: string | null;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  return (
    <Modal title={title} onClose={onCancel}>
      {children}
      <ErrorBox error={error} />
      <div className="dialog-actions">
        <Button onClick={onCancel} autoFocus>
          Cancel
        </Button>
        <Button variant={danger ? 'danger' : 'primary'} busy={busy} onClick={onConfirm}>
          {confirmLabel}
        </Button>
      </div>
    </Modal>
  );
}

export function Modal({ title, children, onClose }: { title: string; children: ReactNode; onClose: () => void }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    const el = ref.current;
    if (el && !el.contains(document.activeElement)) {
      const first = el.querySelector<HTMLElement>('[autofocus], button, input, textarea, select, a[href]');
      first?.focus();
    }
    return () => prev?.focus?.();
  }, []);
  return (
    <div
      className="modal-backdrop"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <div
        className="modal"
        role="dialog"
        aria-modal="true"
        aria-label={title}
        ref={ref}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.stopPropagation();
            onClose();
          } else if (e.key === 'Tab' && ref.current) {
            // Keep Tab inside the dialog.
            const items = Array.from(
              ref.current.querySelectorAll<HTMLElement>('button:not([disabled]), input, textarea, select, a[href]'),
            );
            if (!items.length) return;
            const first = items[0];
            const last = items[items.length - 1];
            if (e.shiftKey && document.activeElement === first) {
              e.preventDefault();
              last.focus();
            } else if (!e.shiftKey && document.activeElement === last) {
              e.preventDefault();
              first.focus();
            }
          }
        }}
      >
        <h2 className="modal-title">{title}</h2>
        {children}
      </div>
    </div>
  );
}
