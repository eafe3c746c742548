// Every call the web app makes to the control plane and to a learner's
// workspace lives in this module, with the JSON types of the contract
// (docs/ARCHITECTURE.md, docs/openapi.yaml).
//
// Errors always surface as ApiError carrying the server's message, so pages can
// show it as is.

export type Role = 'instructor' | 'admin' | string;

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  created_at: string;
}

export type WorkshopStatus =
  | 'created'
  | 'provisioning'
  | 'running'
  | 'stopping'
  | 'stopped'
  | 'deleted'
  | 'error';

export interface Workshop {
  id: string;
  owner_id: string;
  name: string;
  code: string;
  seats: number;
  seats_used: number;
  status: WorkshopStatus;
  desired_state: string;
  status_reason?: string;
  step?: string;
  starts_at?: string | null;
  ends_at?: string | null;
  lab_guide?: string;
  /** What the signed-in user is to it: owner, assistant (shared with them) or admin. */
  access?: 'owner' | 'assistant' | 'admin';
  /** Lab servers on private addresses the seats may reach ("CIDR[:port]"). */
  egress_allow?: string[];
  /** Size of each seat's home in MiB; writing past it fails inside the seat. */
  disk_mb?: number;
  created_at: string;
  updated_at: string;
}

export interface ProvisionStep {
  name: string;
  status: string; // running | done | failed (free text tolerated)
  started_at?: string | null;
  finished_at?: string | null;
  error?: string | null;
}

export interface WorkshopVM {
  name: string;
  status: string;
  steps: ProvisionStep[];
}

export interface WorkshopEvent {
  id: string | number;
  at: string;
  level: string; // info | warn | error
  step?: string;
  message: string;
}

export interface WorkshopDetail extends Workshop {
  vm?: WorkshopVM | null;
  events?: WorkshopEvent[] | null;
}

/** "empty" = no learner on the seat yet; "down" = its machine is not answering (being restarted). */
export type SeatStatus = 'empty' | 'waiting' | 'ready' | 'connected' | 'idle' | 'revoked' | 'down';

export interface Seat {
  seat: number;
  registration_id?: string | null;
  learner_name?: string | null;
  learner_email?: string | null;
  status: SeatStatus;
  last_activity?: string | null;
  /** When the seat's machine was last restarted in place (files kept). */
  restarted_at?: string | null;
  /** A revoke or code reissue of this seat that its host has not confirmed yet (it is retried). */
  revoke_pending?: boolean;
  revoke_error?: string;
}

export interface Registration {
  id: string;
  name: string;
  email: string;
  created_at: string;
  revoked_at: string | null;
  seat: number | null;
  seat_status: SeatStatus | string | null;
  last_activity: string | null;
}

export interface Endpoints {
  terminal: string;
  files: string;
  sessions: string;
}

export interface SeatToken {
  token: string;
  expires_at: string;
  endpoints: Endpoints;
}

export interface RegisterResult {
  access_code: string;
  workshop: { id: string; name: string };
}

/** The answer to a revoke: null when the host confirmed it at once. */
export interface RevokeResult {
  revoke_pending: boolean;
  seat?: number;
  error?: string;
}

/** A reissued access code, shown to the instructor once. */
export interface ReissueResult {
  registration_id: string;
  email: string;
  access_code: string;
  seat?: number;
  revoke_pending: boolean;
  error?: string;
}

export interface JoinResult {
  /** pending: not started yet or being prepared; stopped: the instructor stopped the class. */
  status: 'pending' | 'ready' | 'stopped';
  stopped_by_instructor?: boolean;
  /** The seat's machine as last seen: "down" while it is being restarted. */
  machine_status?: 'ok' | 'down';
  /** When the seat's machine was last restarted in place (files kept, shells new). */
  restarted_at?: string;
  /** Set when the seat was restored from saved work: when that work was saved. */
  restored_from?: string;
  workshop: {
    id: string;
    name: string;
    status: WorkshopStatus;
    step?: string;
    lab_guide?: string;
    starts_at?: string;
    ends_at?: string;
  };
  seat?: number;
  token?: string;
  expires_at?: string;
  endpoints?: Endpoints;
}

export interface ClassSnapshot {
  workshop: WorkshopDetail;
  seats: Seat[];
  events: WorkshopEvent[];
}

export interface TerminalSessionInfo {
  id: string;
  created_at?: string;
  clients?: number;
  cols?: number;
  rows?: number;
  exited?: boolean;
  /** Bytes of output so far. */
  offset?: number;
}

export interface FileEntry {
  name: string;
  path: string;
  type: 'file' | 'dir' | 'symlink';
  size: number;
  mtime: string;
}

export interface DirListing {
  path: string;
  entries: FileEntry[];
}

/** An error answered by the server (or a network failure, status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** Machine-readable facts from the server (e.g. `ends_at` of workshop_ended). */
  readonly details: Record<string, unknown>;
  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** The message to show a person for any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

// ---- session token ---------------------------------------------------------

const TOKEN_KEY = 'clarateach.session';

/** The instructor's session token, when the server gave one (the cookie is primary). */
export const session = {
  get(): string | null {
    try {
      return localStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  },
  set(token: string | null) {
    try {
      if (token) localStorage.setItem(TOKEN_KEY, token);
      else localStorage.removeItem(TOKEN_KEY);
    } catch {
      /* storage unavailable: the cookie still works */
    }
  },
};

// ---- the fetch wrapper -----------------------------------------------------

export interface RequestOptions {
  method?: string;
  /** JSON-encoded unless it is a string, Blob, ArrayBuffer or FormData. */
  body?: unknown;
  /** A bearer token; defaults to the instructor session token. Pass null for none. */
  token?: string | null;
  signal?: AbortSignal;
  /** How to read a successful answer. */
  as?: 'json' | 'text' | 'blob' | 'none';
  headers?: Record<string, string>;
}

function isRawBody(b: unknown): b is BodyInit {
  return (
    typeof b === 'string' ||
    (typeof Blob !== 'undefined' && b instanceof Blob) ||
    b instanceof ArrayBuffer ||
    ArrayBuffer.isView(b) ||
    (typeof FormData !== 'undefined' && b instanceof FormData)
  );
}

async function readError(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let message = res.statusText || `Request failed (${res.status})`;
  let text = '';
  let details: Record<string, unknown> = {};
  try {
    text = await res.text();
  } catch {
    /* ignore */
  }
  if (text) {
    try {
      const parsed = JSON.parse(text) as {
        error?: { code?: string; message?: string; details?: Record<string, unknown> } | string;
      };
      if (parsed && typeof parsed.error === 'object' && parsed.error) {
        if (parsed.error.code) code = parsed.error.code;
        if (parsed.error.message) message = parsed.error.message;
        if (parsed.error.details && typeof parsed.error.details === 'object') details = parsed.error.details;
      } else if (parsed && typeof parsed.error === 'string') {
        message = parsed.error;
      }
    } catch {
      // Not JSON (a proxy's HTML page, say): show a short plain-text excerpt.
      const plain = text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
      if (plain && plain.length < 200) message = plain;
    }
  }
  return new ApiError(res.status, code, message, details);
}

/** Calls the API and returns the decoded answer, or throws ApiError. */
export async function request<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
  let body: BodyInit | undefined;
  if (opts.body !== undefined) {
    if (isRawBody(opts.body)) {
      body = opts.body;
      if (!headers['Content-Type'] && typeof opts.body === 'string') {
        headers['Content-Type'] = 'application/octet-stream';
      }
    } else {
      body = JSON.stringify(opts.body);
      headers['Content-Type'] = 'application/json';
    }
  }
  const token = opts.token === undefined ? session.get() : opts.token;
  if (token) headers.Authorization = `Bearer ${token}`;

  let res: Response;
  try {
    res = await fetch(path, {
      method: opts.method ?? (body === undefined ? 'GET' : 'POST'),
      headers,
      body,
      credentials: 'include',
      signal: opts.signal,
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection and try again.');
  }
  if (!res.ok) throw await readError(res);
  const as = opts.as ?? 'json';
  if (as === 'none' || res.status === 204) return undefined as T;
  if (as === 'text') return (await res.text()) as T;
  if (as === 'blob') return (await res.blob()) as T;
  const text = await res.text();
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(res.status, 'bad_response', 'The server sent an answer that could not be read.');
  }
}

const enc = encodeURIComponent;

// ---- instructor auth -------------------------------------------------------

export async function registerInstructor(input: { email: string; password: string; name: string; invite?: string }) {
  const r = await request<{ user: User; token: string }>('/api/auth/register', { body: input, token: null });
  session.set(r.token);
  return r.user;
}

export async function login(input: { email: string; password: string }) {
  const r = await request<{ user: User; token: string }>('/api/auth/login', { body: input, token: null });
  session.set(r.token);
  return r.user;
}

export async function logout() {
  try {
    await request('/api/auth/logout', { method: 'POST', as: 'none' });
  } finally {
    session.set(null);
  }
}

/** The signed-in user, or null when signed out (401). */
export async function me(signal?: AbortSignal): Promise<User | null> {
  try {
    const r = await request<{ user: User }>('/api/auth/me', { signal });
    return r.user;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      session.set(null);
      return null;
    }
    throw err;
  }
}

// ---- workshops -------------------------------------------------------------

export interface NewWorkshop {
  name: string;
  seats: number;
  starts_at?: string;
  ends_at?: string;
  lab_guide?: string;
  egress_allow?: string[];
  /** MiB, 256..65536; omitted: 2048. */
  disk_mb?: number;
}

export const workshops = {
  list: (signal?: AbortSignal) =>
    request<{ workshops: Workshop[] | null }>('/api/workshops', { signal }).then((r) => r.workshops ?? []),
  create: (w: NewWorkshop) => request<Workshop>('/api/workshops', { body: w }),
  get: (id: string, signal?: AbortSignal) => request<WorkshopDetail>(`/api/workshops/${enc(id)}`, { signal }),
  start: (id: string) => request<Workshop>(`/api/workshops/${enc(id)}/start`, { method: 'POST' }),
  stop: (id: string) => request<Workshop>(`/api/workshops/${enc(id)}/stop`, { method: 'POST' }),
  retry: (id: string) => request<Workshop>(`/api/workshops/${enc(id)}/retry`, { method: 'POST' }),
  extend: (id: string, endsAt: string) =>
    request<Workshop>(`/api/workshops/${enc(id)}/extend`, { body: { ends_at: endsAt } }),
  remove: (id: string) => request<Workshop>(`/api/workshops/${enc(id)}`, { method: 'DELETE' }),
  /** Every learner's latest saved work, one .tar of .tar.gz files (a plain link: the session cookie authorises it). */
  archivesUrl: (id: string) => `/api/workshops/${enc(id)}/archives.tar`,
  purgeArchives: (id: string) => request<{ deleted: number }>(`/api/workshops/${enc(id)}/archives`, { method: 'DELETE' }),
  seats: (id: string, signal?: AbortSignal) =>
    request<{ seats: Seat[] | null }>(`/api/workshops/${enc(id)}/seats`, { signal }).then((r) => r.seats ?? []),
  registrations: (id: string, signal?: AbortSignal) =>
    request<{ registrations: Registration[] | null }>(`/api/workshops/${enc(id)}/registrations`, { signal }).then(
      (r) => r.registrations ?? [],
    ),
  /** 204 (confirmed by the host) resolves to null; 202 to the pending revoke. */
  revoke: (id: string, registrationId: string) =>
    request<RevokeResult | undefined>(`/api/workshops/${enc(id)}/registrations/${enc(registrationId)}`, {
      method: 'DELETE',
    }).then((r) => r ?? null),
  reissue: (id: string, registrationId: string) =>
    request<ReissueResult>(`/api/workshops/${enc(id)}/registrations/${enc(registrationId)}/reissue`, { method: 'POST' }),
  seatToken: (id: string, seat: number, mode: 'ro' | 'rw') =>
    request<SeatToken>(`/api/workshops/${enc(id)}/seats/${seat}/token`, { body: { mode } }),
  streamUrl: (id: string) => `/api/workshops/${enc(id)}/stream`,
};

// ---- sign-up, invites, quotas, co-instructors -------------------------------

export type SignupMode = 'closed' | 'invite' | 'open';

export interface Quota {
  running_workshops: number;
  seats: number;
  workshop_hours: number;
}

export interface Usage {
  running_workshops: number;
  seats: number;
}

export interface UserRow extends User {
  /** null for admins: they have no quota. */
  quota: Quota | null;
  quota_custom: boolean;
  usage: Usage;
}

export interface Invite {
  id: string;
  email?: string;
  created_by: string;
  created_at: string;
  expires_at: string;
  used_at?: string;
  status: 'pending' | 'used' | 'expired';
}

export interface Member {
  workshop_id: string;
  user_id: string;
  role: 'assistant';
  email: string;
  name: string;
  created_at: string;
}

/** How accounts are made on this server (SIGNUP). */
export const signupMode = (signal?: AbortSignal) =>
  request<{ mode: SignupMode }>('/api/auth/signup', { signal, token: null }).then((r) => r.mode);

export const admin = {
  users: (signal?: AbortSignal) =>
    request<{ users: UserRow[] | null; default_quota: Quota; signup: SignupMode }>('/api/admin/users', { signal }),
  setQuota: (userId: string, q: Partial<Quota>) =>
    request<UserRow>(`/api/admin/users/${enc(userId)}/quota`, { method: 'PUT', body: q }),
  resetQuota: (userId: string) => request<UserRow>(`/api/admin/users/${enc(userId)}/quota`, { method: 'DELETE' }),
  invites: (signal?: AbortSignal) =>
    request<{ invites: Invite[] | null }>('/api/invites', { signal }).then((r) => r.invites ?? []),
  invite: (input: { email?: string; ttl_hours?: number }) =>
    request<{ invite: Invite; token: string; url: string }>('/api/invites', { body: input }),
  withdrawInvite: (id: string) => request(`/api/invites/${enc(id)}`, { method: 'DELETE', as: 'none' }),
};

export const members = {
  list: (workshopId: string, signal?: AbortSignal) =>
    request<{ owner: { id: string; email: string; name: string }; members: Member[] | null }>(
      `/api/workshops/${enc(workshopId)}/members`,
      { signal },
    ).then((r) => ({ owner: r.owner, members: r.members ?? [] })),
  add: (workshopId: string, email: string) =>
    request<Member>(`/api/workshops/${enc(workshopId)}/members`, { body: { email } }),
  remove: (workshopId: string, userId: string) =>
    request(`/api/workshops/${enc(workshopId)}/members/${enc(userId)}`, { method: 'DELETE', as: 'none' }),
};

/** The link a learner opens to register; it pre-fills the workshop code. */
export function joinLink(code: string, origin = window.location.origin): string {
  return `${origin}/join/${enc(code)}`;
}

/** The bookmarkable link to a learner's workspace. */
export function workspaceLink(accessCode: string, origin = window.location.origin): string {
  return `${origin}/w/${enc(accessCode)}`;
}

// ---- learners --------------------------------------------------------------

export const learner = {
  register: (input: { workshop_code: string; name: string; email: string }) =>
    request<RegisterResult>('/api/register', { body: input, token: null }),
  join: (accessCode: string, signal?: AbortSignal) =>
    request<JoinResult>('/api/join', { body: { access_code: accessCode }, token: null, signal }),
};

// ---- a seat's workspace (terminal sessions and files) ----------------------

/** Supplies a fresh workspace token (re-joining when it is about to expire). */
export type TokenSource = (refresh?: boolean) => Promise<string>;

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

  private async call<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    try {
      return await request<T>(path, { ...opts, token: await this.tokenSource() });
    } catch (err) {
      // The token expired or was rotated: get a fresh one and try once more.
      if (err instanceof ApiError && err.status === 401) {
        return request<T>(path, { ...opts, token: await this.tokenSource(true) });
      }
      throw err;
    }
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
