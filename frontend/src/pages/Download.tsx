import { useState } from 'react';
import { PlainPage } from '../components/TopBar';

/** The route learners' work is downloaded from (a plain form POST: the browser saves it straight to disk). */
export const DOWNLOAD_API = '/api/download';

function codeFromQuery(search: string): string {
  return new URLSearchParams(search).get('code') ?? '';
}

/**
 * "Download your work": the learner's newest saved work (.tar.gz) for their access code,
 * during the workshop and for the retention period after it ends.
 */
export function DownloadPage({ search = window.location.search }: { search?: string }) {
  const [code, setCode] = useState(() => codeFromQuery(search));
  return (
    <PlainPage>
      <div className="card stack">
        <h1>Download your work</h1>
        <p>
          Your files are saved every few minutes while the workshop runs, and when it ends. Enter your access code to download the
          latest copy as a <span className="mono">.tar.gz</span> archive. Saved work is kept for a few days after the end of the
          workshop (your instructor knows how long).
        </p>
        <form method="post" action={DOWNLOAD_API} className="stack">
          <label className="field">
            <span>Access code</span>
            <input
              name="access_code"
              value={code}
              onChange={(e) => setCode(e.target.value)}
              required
              autoComplete="off"
              spellCheck={false}
              autoFocus={!code}
              className="mono"
            />
          </label>
          <button type="submit" className="btn btn-primary btn-large" disabled={!code.trim()}>
            Download my work
          </button>
        </form>
        <p className="muted small">
          To unpack it: <span className="mono">tar -xzf</span> the file, or open it with your archive tool.
        </p>
      </div>
    </PlainPage>
  );
}
