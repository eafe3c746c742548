// The instructor's side of previews, in the class view's seat watcher: the
// learner's listening ports, live, and any of them shown beside the
// learner's terminal (the preview origin, signed in with the instructor's
// seat token; never the class view's own origin).
import { useEffect, useState, type ReactNode } from 'react';
import { PreviewClient, type WorkspaceClient } from '../../api';
import { PreviewPane } from './PreviewPane';
import { usePorts } from './usePorts';
import { openInTab, usePreview } from './usePreview';
import './preview.css';

/** The seat's terminal endpoint (GET /api/join's and the seat token's endpoints.terminal). */
const terminalPath = (workshopId: string, seat: number) => `/api/workspaces/${encodeURIComponent(workshopId)}/${seat}/terminal`;

/** Hands out the watcher's current seat token (its client changes when the instructor takes over). */
class SeatTokens {
  private client: WorkspaceClient | null = null;
  set(client: WorkspaceClient | null) {
    this.client = client;
  }
  readonly get = async () => {
    if (!this.client) throw new Error('the seat is connecting');
    return this.client.token();
  };
}

interface Props {
  workshopId: string;
  seat: number;
  /** The watcher's seat client (null while a new seat token is fetched). */
  client: WorkspaceClient | null;
  /** The learner's terminal. */
  children: ReactNode;
}

/** A new seat starts afresh (no preview of the previous learner's app stays open). */
export function WatcherPreview(props: Props) {
  return <SeatPreview key={`${props.workshopId}/${props.seat}`} {...props} />;
}

function SeatPreview({ workshopId, seat, client, children }: Props) {
  const [tokens] = useState(() => new SeatTokens());
  useEffect(() => {
    tokens.set(client);
  }, [tokens, client]);
  const [pc] = useState(() => new PreviewClient(terminalPath(workshopId, seat), tokens.get));
  const { ports } = usePorts(pc);
  const { preview, opening, error, show, close } = usePreview(pc);

  return (
    <div className="watcher-preview" data-testid="watcher-preview">
      <div className="watcher-ports small" aria-label="The learner's ports">
        <span className="muted">Ports:</span>
        {ports === null && <span className="muted">…</span>}
        {ports?.length === 0 && <span className="muted">nothing is listening</span>}
        {ports?.map((p) => (
          <button
            key={p.port}
            type="button"
            className={`btn btn-small ${preview?.port === p.port ? 'btn-primary' : ''}`}
            disabled={opening === p.port}
            aria-label={`Preview port ${p.port} beside the terminal`}
            onClick={() => void show(p.port)}
          >
            {p.port}
          </button>
        ))}
        {!preview && error && (
          <span className="ports-error-inline" role="alert">
            {error}
          </span>
        )}
      </div>
      <div className={`watcher-split ${preview ? 'with-preview' : ''}`}>
        {children}
        {preview && (
          <PreviewPane
            preview={preview}
            busy={opening !== null}
            error={error}
            onReload={() => void show(preview.port)}
            onNewTab={() => void openInTab(pc, preview.port).catch(() => {})}
            onClose={close}
          />
        )}
      </div>
    </div>
  );
}
