// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { mockFetch } from '../test/fetchMock';
import { PreviewClient, readEvents, seatBase } from './preview';

function stream(chunks: string[]) {
  const enc = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    start(c) {
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      c.close();
    },
  });
}

describe('readEvents', () => {
  it('reads named events split across chunks and skips keep-alives', async () => {
    const got: [string, string][] = [];
    await readEvents(stream(['event: ports\nda', 'ta: {"ports":[]}\n', '\n: keep-alive\n\n', 'event: ports\r\ndata: {"a":1}\r\n\r\n']), (n, d) =>
      got.push([n, d]),
    );
    expect(got).toEqual([
      ['ports', '{"ports":[]}'],
      ['ports', '{"a":1}'],
    ]);
  });
});

describe('PreviewClient', () => {
  const base = '/api/workspaces/ws1/3';
  it('derives the seat base from the terminal endpoint', () => {
    expect(seatBase(`${base}/terminal`)).toBe(base);
  });

  it('follows the ports stream with a fresh token after a 401', async () => {
    const tokens: string[] = [];
    let n = 0;
    const { calls } = mockFetch({
      [`GET ${base}/ports?watch=1`]: () =>
        n++ === 0
          ? { status: 401, body: { error: { code: 'unauthorized', message: 'expired' } } }
          : { text: 'event: ports\ndata: {"ports":[{"port":8000,"addresses":["0.0.0.0"]}]}\n\n' },
    });
    const client = new PreviewClient(`${base}/terminal`, async (refresh) => {
      const t = refresh ? 'fresh' : 'old';
      tokens.push(t);
      return t;
    });
    const lists: number[][] = [];
    await client.watchPorts((ports) => lists.push(ports.map((p) => p.port)), new AbortController().signal);
    expect(lists).toEqual([[8000]]);
    expect(tokens).toEqual(['old', 'fresh']);
    expect(calls.map((c) => c.headers.Authorization)).toEqual(['Bearer old', 'Bearer fresh']);
  });

  it('asks for a preview link, makes and revokes a share link', async () => {
    const { calls } = mockFetch({
      [`POST ${base}/preview`]: () => ({ body: { url: 'http://8000-3-ws1.localhost:8081/__clarateach/open?t=x', origin: 'http://8000-3-ws1.localhost:8081', expires_at: '' } }),
      [`POST ${base}/shares`]: () => ({ status: 201, body: { id: 's1', port: 8000, origin: 'o', created_at: '', url: 'o/__clarateach/share/s1/secret' } }),
      [`DELETE ${base}/shares/s1`]: () => ({ status: 204 }),
    });
    const client = new PreviewClient(`${base}/terminal`, async () => 't');
    expect((await client.open(8000)).url).toContain('/__clarateach/open?t=');
    expect((await client.share(8000)).url).toContain('/share/s1/');
    await client.revokeShare('s1');
    expect(calls.map((c) => `${c.method} ${c.url} ${JSON.stringify(c.body ?? null)}`)).toEqual([
      `POST ${base}/preview {"port":8000}`,
      `POST ${base}/shares {"port":8000}`,
      `DELETE ${base}/shares/s1 null`,
    ]);
  });
});
