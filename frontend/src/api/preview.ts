// Previews of the learner's web apps: the ports listening in a seat (live),
// a link that opens one port on the preview origin, and share links. Called
// with the seat's workspace token, like the rest of the workspace.
import { ApiError, enc } from './http';
import type { components } from './schema';
import { requestWithToken, type TokenSource } from './workspace';

type Schemas = components['schemas'];
export type ListeningPort = Schemas['ListeningPort'];
export type PortList = Schemas['PortList'];
/** A link that signs the browser in to one port's preview origin (valid 2 minutes). */
export type PreviewOpen = Schemas['PreviewOpen'];
export type PreviewShare = Schemas['PreviewShare'];
export type PreviewShareList = Schemas['PreviewShareList'];

/** /api/workspaces/{ws}/{seat} from the seat's terminal endpoint. */
export function seatBase(terminalEndpoint: string): string {
  return terminalEndpoint.replace(/\/terminal$/, '');
}

/**
 * Reads a text/event-stream body and calls onEvent(name, data) for each
 * event (comments and keep-alives are skipped). Resolves when the stream ends.
 */
export async function readEvents(body: ReadableStream<Uint8Array>, onEvent: (name: string, data: string) => void): Promise<void> {
  const reader = body.getReader();
  const text = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += text.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let name = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
        if (field === 'event') name = val;
        else if (field === 'data') data.push(val);
      }
      if (data.length) onEvent(name, data.join('\n'));
    }
  }
}

/** A typed client for one seat's ports, previews and share links. */
export class PreviewClient {
  readonly base: string;
  private readonly tokenSource: TokenSource;

  constructor(terminalEndpoint: string, tokenSource: TokenSource) {
    this.base = seatBase(terminalEndpoint);
    this.tokenSource = tokenSource;
  }

  /** The ports listening in the seat now. */
  ports(signal?: AbortSignal) {
    return requestWithToken<PortList>(`${this.base}/ports`, { signal }, this.tokenSource).then((r) => r.ports ?? []);
  }

  /**
   * Follows the seat's ports (GET …/ports?watch=1, a stream of `ports`
   * events, each the whole list): calls onPorts with each list until the
   * stream ends (it resolves) or fails (it throws ApiError). A 401 is tried
   * once more with a fresh token.
   */
  async watchPorts(onPorts: (ports: ListeningPort[]) => void, signal: AbortSignal): Promise<void> {
    let res = await this.openWatch(signal, false);
    if (res.status === 401) res = await this.openWatch(signal, true);
    if (!res.ok || !res.body) {
      throw new ApiError(res.status, `http_${res.status}`, `the ports of the seat cannot be followed (${res.status})`);
    }
    await readEvents(res.body, (name, data) => {
      if (name !== 'ports') return;
      try {
        onPorts((JSON.parse(data) as PortList).ports ?? []);
      } catch {
        /* a garbled event: the next one carries the whole list again */
      }
    });
  }

  private async openWatch(signal: AbortSignal, refresh: boolean): Promise<Response> {
    const token = await this.tokenSource(refresh);
    try {
      return await fetch(`${this.base}/ports?watch=1`, {
        headers: { Accept: 'text/event-stream', Authorization: `Bearer ${token}` },
        credentials: 'include',
        signal,
      });
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') throw err;
      throw new ApiError(0, 'network', 'Cannot reach the server.');
    }
  }

  /** A link that opens the port's preview (its own origin) signed in. */
  open(port: number) {
    return requestWithToken<PreviewOpen>(`${this.base}/preview`, { body: { port } }, this.tokenSource);
  }

  shares() {
    return requestWithToken<PreviewShareList>(`${this.base}/shares`, {}, this.tokenSource).then((r) => r.shares ?? []);
  }
  /** Makes the port public to whoever holds the link (the URL is in this answer only). */
  share(port: number) {
    return requestWithToken<PreviewShare>(`${this.base}/shares`, { body: { port } }, this.tokenSource);
  }
  revokeShare(id: string) {
    return requestWithToken(`${this.base}/shares/${enc(id)}`, { method: 'DELETE', as: 'none' }, this.tokenSource);
  }
}
