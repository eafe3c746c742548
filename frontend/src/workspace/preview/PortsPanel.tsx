// The ports panel: what listens in the learner's seat, live, with a preview
// of each port beside the editor or in a new tab, and share links (anyone
// with the link sees that port until the learner revokes it).
import { useCallback, useEffect, useState } from 'react';
import type { ListeningPort, PreviewClient, PreviewShare } from '../../api';
import { CopyButton } from '../../components/ui';
import { openInTab, previewError } from './usePreview';

export function PortsPanel({
  client,
  ports,
  shown,
  opening,
  error,
  onShow,
}: {
  client: PreviewClient;
  ports: ListeningPort[] | null;
  /** The port shown beside the editor, if any. */
  shown?: number;
  opening: number | null;
  /** The last failure to show a preview beside the editor. */
  error: string | null;
  onShow: (port: number) => void;
}) {
  const [shares, setShares] = useState<PreviewShare[]>([]);
  // The link of a share made here (the API shows it only once).
  const [made, setMade] = useState<PreviewShare | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const loadShares = useCallback(async () => {
    try {
      setShares(await client.shares());
    } catch {
      // Previews may be off on this server: the buttons say so when used.
    }
  }, [client]);
  useEffect(() => {
    let alive = true;
    client.shares().then(
      (list) => alive && setShares(list),
      () => {},
    );
    return () => {
      alive = false;
    };
  }, [client]);

  const act = async (key: string, fn: () => Promise<void>) => {
    setBusy(key);
    setProblem(null);
    try {
      await fn();
    } catch (err) {
      setProblem(previewError(err));
    } finally {
      setBusy(null);
    }
  };
  const share = (port: number) =>
    act(`share-${port}`, async () => {
      const sh = await client.share(port);
      setMade(sh);
      await loadShares();
    });
  const revoke = (sh: PreviewShare) =>
    act(`revoke-${sh.id}`, async () => {
      await client.revokeShare(sh.id);
      if (made?.id === sh.id) setMade(null);
      await loadShares();
    });

  return (
    <section className="ports-panel" aria-label="Ports" data-testid="ports-panel">
      <div className="panel-bar">
        <span className="panel-title">Ports</span>
        {ports && ports.length > 0 && <span className="muted small">{ports.length} listening</span>}
      </div>
      <div className="ports-scroll">
        {ports === null && <p className="muted small pad-sm">Looking for servers in your machine…</p>}
        {ports?.length === 0 && (
          <p className="muted small pad-sm">
            Nothing is listening yet. Start a web server (e.g. <code>python3 -m http.server 8000</code>) and it shows here.
          </p>
        )}
        {(error || problem) && (
          <p className="error-box small ports-error" role="alert">
            {error || problem}
          </p>
        )}
        <ul className="ports-list">
          {ports?.map((p) => {
            const mine = shares.filter((s) => s.port === p.port);
            return (
              <li key={p.port} data-port={p.port} className={shown === p.port ? 'shown' : undefined}>
                <div className="port-head">
                  <span className="port-number mono">{p.port}</span>
                  <span className="muted small port-addrs" title={`listening on ${p.addresses.join(', ')}`}>
                    {p.addresses.join(', ')}
                  </span>
                </div>
                <div className="btn-row tight">
                  <button
                    type="button"
                    className="btn btn-small btn-primary"
                    disabled={opening === p.port}
                    aria-label={`Show port ${p.port} beside the editor`}
                    onClick={() => onShow(p.port)}
                  >
                    Preview
                  </button>
                  <button
                    type="button"
                    className="btn btn-small"
                    aria-label={`Open port ${p.port} in a new tab`}
                    onClick={() => void act(`tab-${p.port}`, () => openInTab(client, p.port))}
                  >
                    New tab
                  </button>
                  <button
                    type="button"
                    className="btn btn-small btn-ghost"
                    disabled={busy === `share-${p.port}`}
                    aria-label={`Make a share link for port ${p.port}`}
                    onClick={() => void share(p.port)}
                  >
                    Share
                  </button>
                </div>
                {made?.port === p.port && made.url && (
                  <div className="share-made" data-testid="share-link">
                    <span className="small">Anyone with this link sees port {p.port} until you revoke it:</span>
                    <input readOnly value={made.url} aria-label={`Share link for port ${p.port}`} onFocus={(e) => e.currentTarget.select()} />
                    <CopyButton text={made.url} label="Copy link" />
                  </div>
                )}
                {mine.map((s) => (
                  <div key={s.id} className="share-row small">
                    <span className="muted">Shared {new Date(s.created_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}</span>
                    <button
                      type="button"
                      className="btn btn-small btn-ghost"
                      disabled={busy === `revoke-${s.id}`}
                      aria-label={`Revoke the share link of port ${p.port} made at ${s.created_at}`}
                      onClick={() => void revoke(s)}
                    >
                      Revoke
                    </button>
                  </div>
                ))}
              </li>
            );
          })}
        </ul>
      </div>
    </section>
  );
}

/** "Your app on port 8000 is ready — Open": a port that started listening while the page was open. */
export function PortToasts({ fresh, onOpen, onDismiss }: { fresh: number[]; onOpen: (port: number) => void; onDismiss: (port: number) => void }) {
  if (fresh.length === 0) return null;
  return (
    <div className="port-toasts" role="status" aria-live="polite">
      {fresh.slice(-3).map((port) => (
        <div key={port} className="port-toast" data-testid="port-toast" data-port={port}>
          <span>
            Your app on port <strong className="mono">{port}</strong> is ready
          </span>
          <button
            type="button"
            className="btn btn-small btn-primary"
            onClick={() => {
              onDismiss(port);
              onOpen(port);
            }}
          >
            Open
          </button>
          <button type="button" className="btn btn-small btn-ghost" aria-label={`Dismiss the notice of port ${port}`} onClick={() => onDismiss(port)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
