// The fetch wrapper every API call goes through. Errors always surface as
// ApiError carrying the server's message; errorMessage shows it as a sentence.
//
// The instructor's session is the HttpOnly ct_session cookie the server sets
// at sign-in: it is sent with every request (credentials: 'include') and no
// script can read it. Only workspace calls pass a bearer token (a seat's
// short-lived workspace token).
import { formatDateTime } from '../format';

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

// An RFC 3339 time inside a server message ("ended at 2026-12-04T21:21:17Z").
const RFC3339 = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})/g;

/**
 * A message as a sentence for a person: times in their own time zone (never
 * raw UTC), a capital first letter and a full stop.
 */
export function sentence(msg: string): string {
  let m = msg.trim().replace(RFC3339, (t) => formatDateTime(t));
  if (!m) return m;
  m = m[0].toUpperCase() + m.slice(1);
  return /[.!?…)"”]$/.test(m) ? m : `${m}.`;
}

/** The message to show a person for any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return sentence(err.message);
  return sentence(String(err));
}

export interface RequestOptions {
  method?: string;
  /** JSON-encoded unless it is a string, Blob, ArrayBuffer or FormData. */
  body?: unknown;
  /** A bearer token (a workspace token); instructor calls rely on the session cookie. */
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
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;

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

/** Encodes one path segment or query value. */
export const enc = encodeURIComponent;
