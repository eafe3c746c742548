// Opening a port's preview: beside the editor (a pane in the workspace) or
// in a new tab. Both go through a fresh link from the API that signs the
// browser in to the preview's own origin; the app never runs on ours.
import { useCallback, useState } from 'react';
import { ApiError, errorMessage, type PreviewClient } from '../../api';

export interface Preview {
  port: number;
  /** The preview origin's sign-in link (valid 2 minutes): the pane's first address. */
  url: string;
  origin: string;
  /** Changes on every (re)load, so the pane's frame starts over. */
  load: number;
}

/** The sentence for a failed preview. */
export function previewError(err: unknown): string {
  if (err instanceof ApiError && err.code === 'previews_off') {
    return 'Previews are off on this server (its PREVIEW_DOMAIN is not set).';
  }
  return errorMessage(err);
}

/**
 * Opens the port's preview in a new tab. The tab is opened at once (in the
 * click, so no pop-up blocker stops it) and sent on when the link arrives;
 * it cannot reach this page (no opener).
 */
export async function openInTab(client: PreviewClient, port: number): Promise<void> {
  const tab = window.open('', '_blank');
  try {
    const link = await client.open(port);
    if (!tab) throw new Error('your browser blocked the new tab: allow pop-ups for this page, or show the preview beside the editor');
    tab.opener = null;
    tab.location.href = link.url;
  } catch (err) {
    tab?.close();
    throw err;
  }
}

export interface PreviewState {
  preview: Preview | null;
  /** The port whose link is being fetched. */
  opening: number | null;
  error: string | null;
  show: (port: number) => Promise<void>;
  close: () => void;
}

export function usePreview(client: PreviewClient): PreviewState {
  const [preview, setPreview] = useState<Preview | null>(null);
  const [opening, setOpening] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const show = useCallback(
    async (port: number) => {
      setOpening(port);
      setError(null);
      try {
        const link = await client.open(port);
        setPreview((p) => ({ port, url: link.url, origin: link.origin, load: (p?.load ?? 0) + 1 }));
      } catch (err) {
        setError(previewError(err));
      } finally {
        setOpening(null);
      }
    },
    [client],
  );
  const close = useCallback(() => {
    setPreview(null);
    setError(null);
  }, []);
  return { preview, opening, error, show, close };
}
