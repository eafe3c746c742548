// A seat's workspace: terminal sessions and files, called with the seat's
// workspace token (refreshed by the token source when it expires).
import { ApiError, enc, request, type RequestOptions } from './http';
import type { DirListing, Endpoints, TerminalSessionInfo } from './types';

/** Supplies a fresh workspace token (re-joining when it is about to expire). */
export type TokenSource = (refresh?: boolean) => Promise<string>;

/** A request with a seat's workspace token: on 401 (the token expired or
 * was rotated) it gets a fresh one and tries once more. */
export async function requestWithToken<T>(path: string, opts: RequestOptions, tokenSource: TokenSource): Promise<T> {
  try {
    return await request<T>(path, { ...opts, token: await tokenSource() });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      return request<T>(path, { ...opts, token: await tokenSource(true) });
    }
    throw err;
  }
}

/** A typed client for one seat's workspace endpoints. */
export class WorkspaceClient {
  readonly endpoints: Endpoints;
  private readonly tokenSource: TokenSource;

  constructor(endpoints: Endpoints, tokenSource: TokenSource) {
    this.endpoints = endpoints;
    this.tokenSource = tokenSource;
  }

  token(): Promise<string> {
    return this.tokenSource();
  }

  private call<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    return requestWithToken<T>(path, opts, this.tokenSource);
  }

  /** The WebSocket URL of a terminal session (absolute ws:// or wss://). */
  async terminalUrl(params: {
    session?: string;
    offset?: number;
    mode?: 'rw' | 'ro';
    refresh?: boolean;
    cols?: number;
    rows?: number;
  }): Promise<string> {
    const q = new URLSearchParams();
    q.set('token', await this.tokenSource(params.refresh));
    if (params.session) q.set('session', params.session);
    q.set('offset', String(params.offset ?? 0));
    q.set('mode', params.mode ?? 'rw');
    if (params.cols && params.rows && params.cols <= 1000 && params.rows <= 1000) {
      q.set('cols', String(params.cols));
      q.set('rows', String(params.rows));
    }
    const base = new URL(this.endpoints.terminal, window.location.href);
    base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${base.toString()}${base.search ? '&' : '?'}${q.toString()}`;
  }

  listSessions(signal?: AbortSignal) {
    return this.call<{ sessions: TerminalSessionInfo[] | null }>(this.endpoints.sessions, { signal }).then(
      (r) => r.sessions ?? [],
    );
  }
  createSession() {
    return this.call<{ id: string }>(this.endpoints.sessions, { method: 'POST', body: {} });
  }
  deleteSession(id: string) {
    return this.call(`${this.endpoints.sessions}/${enc(id)}`, { method: 'DELETE', as: 'none' });
  }

  list(dir: string, signal?: AbortSignal) {
    return this.call<DirListing>(`${this.endpoints.files}?path=${enc(dir)}`, { signal }).then((r) => ({
      path: r.path,
      entries: r.entries ?? [],
    }));
  }
  read(path: string) {
    return this.call<string>(`${this.endpoints.files}/content?path=${enc(path)}`, { as: 'text' });
  }
  readBlob(path: string) {
    return this.call<Blob>(`${this.endpoints.files}/content?path=${enc(path)}&download=1`, { as: 'blob' });
  }
  write(path: string, content: string | Blob) {
    return this.call(`${this.endpoints.files}/content?path=${enc(path)}`, {
      method: 'PUT',
      body: content,
      as: 'none',
      headers: { 'Content-Type': 'application/octet-stream' },
    });
  }
  mkdir(path: string) {
    return this.call(`${this.endpoints.files}/mkdir`, { body: { path }, as: 'none' });
  }
  rename(from: string, to: string) {
    return this.call(`${this.endpoints.files}/rename`, { body: { from, to }, as: 'none' });
  }
  remove(path: string) {
    return this.call(`${this.endpoints.files}?path=${enc(path)}`, { method: 'DELETE', as: 'none' });
  }
  archive() {
    return this.call<Blob>(`${this.endpoints.files}/archive`, { as: 'blob' });
  }
}

/** Saves a blob as a download in the browser. */
export function saveBlob(blob: Blob, filename: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
