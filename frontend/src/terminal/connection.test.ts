// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TerminalConnection, type ConnState } from './connection';
import { decodeClient, encodeServer } from './protocol';

/** A scripted stand-in for the browser WebSocket. */
class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  binaryType = 'blob';
  sent: Uint8Array[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: ArrayBuffer | string }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(public url: string) {
    FakeSocket.all.push(this);
  }
  send(b: Uint8Array) {
    this.sent.push(new Uint8Array(b));
  }
  close() {
    this.readyState = 3;
    this.onclose?.({ code: 1000, reason: '' });
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  serverSends(f: Parameters<typeof encodeServer>[0]) {
    const b = encodeServer(f);
    this.onmessage?.({ data: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) });
  }
  drop() {
    this.readyState = 3;
    this.onclose?.({ code: 1006, reason: 'gone' });
  }
}

// Built with the test realm's Uint8Array (jsdom's TextEncoder comes from another realm).
const text = (s: string) => Uint8Array.from(new TextEncoder().encode(s));
const decode = (chunks: Uint8Array[]) => chunks.map((c) => new TextDecoder().decode(c)).join('');

function setup() {
  const out: Uint8Array[] = [];
  const states: ConnState[] = [];
  const urls: { offset: number; refresh: boolean }[] = [];
  const onReset = vi.fn();
  const onLatency = vi.fn();
  const conn = new TerminalConnection({
    url: async (offset, refresh) => {
      urls.push({ offset, refresh });
      return `ws://test/term?offset=${offset}`;
    },
    WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
    onData: (d) => out.push(new Uint8Array(d)),
    onState: (s) => states.push(s),
    onReset,
    onLatency,
    minBackoff: 10,
    maxBackoff: 40,
  });
  return { conn, out, states, urls, onReset, onLatency };
}

const last = () => FakeSocket.all[FakeSocket.all.length - 1];

beforeEach(() => {
  FakeSocket.all = [];
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('TerminalConnection', () => {
  it('sends the size on open and delivers output', async () => {
    const { conn, out, states } = setup();
    conn.resize(100, 30);
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    const ws = last();
    ws.open();
    expect(states).toContain('open');
    expect(decodeClient(ws.sent[0])).toEqual({ type: 'resize', cols: 100, rows: 30 });
    ws.serverSends({ type: 'output', offset: 0, data: text('$ ') });
    expect(decode(out)).toBe('$ ');
    expect(conn.input('ls\r')).toBe(true);
    expect(decodeClient(ws.sent.at(-1)!)).toEqual({ type: 'input', data: text('ls\r') });
    conn.dispose();
  });

  it('reconnects with backoff from the last offset and shows no byte twice', async () => {
    const { conn, out, urls, states } = setup();
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    last().open();
    last().serverSends({ type: 'output', offset: 0, data: text('hello ') });
    last().drop();
    expect(states.at(-1)).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(100);
    expect(FakeSocket.all).toHaveLength(2);
    expect(urls[1].offset).toBe(6);
    last().open();
    // The server replays from a little earlier: the overlap is dropped.
    last().serverSends({ type: 'output', offset: 3, data: text('lo world') });
    expect(decode(out)).toBe('hello world');
    expect(conn.offset).toBe(11);
    conn.dispose();
  });

  it('asks for a fresh token after a connection that never opened', async () => {
    const { conn, urls } = setup();
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    last().drop(); // e.g. 401 during the handshake
    await vi.advanceTimersByTimeAsync(100);
    expect(urls.map((u) => u.refresh)).toEqual([false, true]);
    conn.dispose();
  });

  it('clears the screen on reset and resumes at the offset the server names', async () => {
    const { conn, out, onReset, urls } = setup();
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    last().open();
    last().serverSends({ type: 'output', offset: 0, data: text('old') });
    last().serverSends({ type: 'reset', offset: 5000 });
    expect(onReset).toHaveBeenCalledOnce();
    last().serverSends({ type: 'output', offset: 5000, data: text('new') });
    expect(decode(out)).toBe('oldnew');
    expect(conn.offset).toBe(5003);
    last().drop();
    await vi.advanceTimersByTimeAsync(100);
    expect(urls.at(-1)!.offset).toBe(5003);
    conn.dispose();
  });

  it('answers server pings so the server does not drop a quiet connection', async () => {
    const { conn } = setup();
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    const ws = last();
    ws.open();
    ws.serverSends({ type: 'ping', payload: new Uint8Array([0, 0, 1, 2, 3, 4, 5, 6]) });
    expect(decodeClient(ws.sent.at(-1)!)).toEqual({ type: 'pong', payload: new Uint8Array([0, 0, 1, 2, 3, 4, 5, 6]) });
    conn.dispose();
  });

  it('gives up on a session the server does not know (close 4404)', async () => {
    const onGone = vi.fn();
    const states: ConnState[] = [];
    const conn = new TerminalConnection({
      url: async () => 'ws://test/term',
      WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
      onState: (s) => states.push(s),
      onGone,
      minBackoff: 10,
    });
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    last().readyState = 3;
    last().onclose?.({ code: 4404, reason: 'session not found' });
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(states.at(-1)).toBe('exited');
    expect(onGone).toHaveBeenCalledWith(4404, 'session not found');
    conn.dispose();
  });

  it('refreshes the token after an auth close from the proxy (4401)', async () => {
    const { conn, urls } = setup();
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    last().open();
    last().readyState = 3;
    last().onclose?.({ code: 4401, reason: 'token expired' });
    await vi.advanceTimersByTimeAsync(100);
    expect(urls.map((u) => u.refresh)).toEqual([false, true]);
    conn.dispose();
  });

  it('does not retry when the seat has too many sessions (4429) or speaks another protocol', async () => {
    const { conn, states } = setup();
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    last().readyState = 3;
    last().onclose?.({ code: 4429, reason: 'too many sessions' });
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(states.at(-1)).toBe('exited');
    conn.dispose();

    const b = setup();
    b.conn.start();
    await vi.advanceTimersByTimeAsync(0);
    last().open();
    last().serverSends({ type: 'hello', info: { protocol: 2, session: 's' } });
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.all).toHaveLength(2);
    expect(b.states).toContain('exited');
    b.conn.dispose();
  });

  it('does not retry when the token or seat has too many connections (4409)', async () => {
    const { conn, states } = setup();
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    last().readyState = 3;
    last().onclose?.({ code: 4409, reason: 'this token already has 16 terminal connections open; close other tabs' });
    await vi.advanceTimersByTimeAsync(20_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(states.at(-1)).toBe('exited');
    conn.dispose();
  });

  it('reconnects after the server dropped a stalled client (close 4408)', async () => {
    const { conn } = setup();
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    last().open();
    last().readyState = 3;
    last().onclose?.({ code: 4408, reason: 'client too slow' });
    await vi.advanceTimersByTimeAsync(100);
    expect(FakeSocket.all).toHaveLength(2);
    conn.dispose();
  });

  it('measures latency from ping/pong', async () => {
    const { conn, onLatency } = setup();
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    const ws = last();
    ws.open();
    const ping = decodeClient(ws.sent.find((b) => b[0] === 0x05)!);
    expect(ping.type).toBe('ping');
    if (ping.type !== 'ping') return;
    ws.serverSends({ type: 'pong', payload: ping.payload });
    expect(onLatency).toHaveBeenCalledOnce();
    expect(onLatency.mock.calls[0][0]).toBeGreaterThanOrEqual(0);
    conn.dispose();
  });

  it('stops reconnecting once the shell has exited', async () => {
    const { conn, states } = setup();
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    last().open();
    last().serverSends({ type: 'exit', code: 0 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(states).toContain('exited');
    conn.dispose();
  });

  it('forwards pause and resume, and re-sends pause after a reconnect', async () => {
    const { conn } = setup();
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    last().open();
    conn.setPaused(true);
    expect(last().sent.at(-1)).toEqual(new Uint8Array([0x03]));
    last().drop();
    await vi.advanceTimersByTimeAsync(100);
    last().open();
    expect(last().sent.some((b) => b.length === 1 && b[0] === 0x03)).toBe(true);
    conn.setPaused(false);
    expect(last().sent.at(-1)).toEqual(new Uint8Array([0x04]));
    conn.dispose();
  });

  it('after Ctrl-C far behind, asks to SKIP and drops the obsolete backlog until the RESET', async () => {
    const { conn, out, onReset } = setup();
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    const ws = last();
    ws.open();
    ws.serverSends({ type: 'output', offset: 0, data: text('y\n') });
    ws.serverSends({ type: 'behind', end: 5_000_000 });
    expect(conn.input('\x03')).toBe(true);
    expect(decodeClient(ws.sent.at(-2)!)).toEqual({ type: 'input', data: text('\x03') });
    expect(decodeClient(ws.sent.at(-1)!)).toEqual({ type: 'skip' });
    // Output already in flight is obsolete: not rendered.
    ws.serverSends({ type: 'output', offset: 2, data: text('y\ny\ny\n') });
    expect(decode(out)).toBe('y\n');
    ws.serverSends({ type: 'reset', offset: 4_990_000 });
    expect(onReset).toHaveBeenCalledOnce();
    ws.serverSends({ type: 'output', offset: 4_990_000, data: text('^C\n$ ') });
    expect(decode(out)).toBe('y\n^C\n$ ');
    expect(conn.offset).toBe(4_990_005);
    conn.dispose();
  });

  it('a Ctrl-C at a quiet prompt sends no SKIP', async () => {
    const { conn } = setup();
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    const ws = last();
    ws.open();
    ws.serverSends({ type: 'output', offset: 0, data: text('$ ') });
    conn.input('\x03');
    expect(ws.sent.some((b) => b.length === 1 && b[0] === 0x07)).toBe(false);
    conn.dispose();
  });
});
