import { vi } from 'vitest';

export interface MockCall {
  method: string;
  url: string;
  body: unknown;
  headers: Record<string, string>;
}

type Handler = (call: MockCall) => { status?: number; body?: unknown; text?: string } | Promise<{ status?: number; body?: unknown; text?: string }>;

/**
 * Stubs global fetch with a routing table: "METHOD /path" → handler. The path
 * is matched without the query string unless the key contains "?".
 */
export function mockFetch(routes: Record<string, Handler>) {
  const calls: MockCall[] = [];
  const fn = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    const method = (init.method ?? 'GET').toUpperCase();
    let body: unknown = init.body;
    if (typeof body === 'string' && (init.headers as Record<string, string>)?.['Content-Type'] === 'application/json') {
      body = JSON.parse(body);
    }
    const call: MockCall = { method, url, body, headers: (init.headers as Record<string, string>) ?? {} };
    const path = url.replace(/^https?:\/\/[^/]+/, '');
    const handler = routes[`${method} ${path}`] ?? routes[`${method} ${path.split('?')[0]}`];
    // Every page probes GET /health once (the isolation banner): it is not one
    // of the calls a test makes unless the test routes it.
    if (path !== '/health' || `GET ${path}` in routes) calls.push(call);
    if (!handler) {
      return new Response(JSON.stringify({ error: { code: 'not_found', message: `no mock for ${method} ${path}` } }), {
        status: 404,
        headers: { 'Content-Type': 'application/json' },
      });
    }
    const r = await handler(call);
    const status = r.status ?? 200;
    if (status === 204) return new Response(null, { status });
    const text = r.text ?? (r.body === undefined ? '' : JSON.stringify(r.body));
    return new Response(text, { status, headers: { 'Content-Type': r.text ? 'text/plain' : 'application/json' } });
  });
  vi.stubGlobal('fetch', fn);
  return { fn, calls };
}

export const apiError = (status: number, code: string, message: string) => ({ status, body: { error: { code, message } } });
