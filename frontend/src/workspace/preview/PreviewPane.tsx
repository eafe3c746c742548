// The preview beside the editor: the learner's app in a frame of its own
// origin ({port}-{seat}-{workshop}.PREVIEW_DOMAIN). The frame may run
// scripts and keep its own cookies, but cannot navigate this page.
import type { Preview } from './usePreview';

export const FRAME_SANDBOX =
  'allow-scripts allow-same-origin allow-forms allow-modals allow-popups allow-popups-to-escape-sandbox allow-downloads';

export function PreviewPane({
  preview,
  busy,
  error,
  onReload,
  onNewTab,
  onClose,
}: {
  preview: Preview;
  busy: boolean;
  error: string | null;
  onReload: () => void;
  onNewTab: () => void;
  onClose: () => void;
}) {
  const host = preview.origin.replace(/^https?:\/\//, '');
  return (
    <section className="preview-pane" aria-label={`Preview of port ${preview.port}`} data-testid="preview-pane" data-port={preview.port}>
      <div className="panel-bar">
        <span className="panel-title">Port {preview.port}</span>
        <span className="preview-host muted small" title={preview.origin}>
          {host}
        </span>
        <div className="btn-row tight">
          <button type="button" className="btn btn-small btn-ghost" onClick={onReload} disabled={busy} aria-label="Reload the preview">
            Reload
          </button>
          <button type="button" className="btn btn-small btn-ghost" onClick={onNewTab} aria-label="Open the preview in a new tab">
            New tab
          </button>
          <button type="button" className="btn btn-small btn-ghost" onClick={onClose} aria-label="Close the preview">
            Close
          </button>
        </div>
      </div>
      {error && (
        <p className="error-box preview-error" role="alert">
          {error}
        </p>
      )}
      <iframe
        key={preview.load}
        className="preview-frame"
        src={preview.url}
        title={`Your app on port ${preview.port}`}
        sandbox={FRAME_SANDBOX}
        referrerPolicy="no-referrer"
      />
    </section>
  );
}
