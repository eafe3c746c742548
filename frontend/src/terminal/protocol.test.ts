// @vitest-environment node
import { describe, expect, it } from 'vitest';
import {
  Op,
  OffsetTracker,
  ProtocolError,
  decodeClient,
  decodeServer,
  encodeClient,
  encodeInput,
  encodePause,
  encodePing,
  encodePong,
  encodeResize,
  encodeResume,
  encodeServer,
  type ClientFrame,
  type ServerFrame,
} from './protocol';

const bytes = (...b: number[]) => new Uint8Array(b);
// Built with the test realm's Uint8Array (jsdom's TextEncoder comes from another realm).
const text = (s: string) => Uint8Array.from(new TextEncoder().encode(s));

describe('client frames', () => {
  it('encodes each opcode with the documented layout', () => {
    expect(Array.from(encodeInput('ls\r'))).toEqual([Op.Input, 0x6c, 0x73, 0x0d]);
    expect(Array.from(encodeInput(bytes(0xff, 0x00)))).toEqual([0x01, 0xff, 0x00]);
    expect(Array.from(encodeResize(80, 24))).toEqual([0x02, 0x00, 0x50, 0x00, 0x18]);
    expect(Array.from(encodeResize(300, 1000))).toEqual([0x02, 0x01, 0x2c, 0x03, 0xe8]);
    expect(Array.from(encodePause())).toEqual([0x03]);
    expect(Array.from(encodeResume())).toEqual([0x04]);
    expect(Array.from(encodePing(bytes(1, 2, 3)))).toEqual([0x05, 1, 2, 3]);
    expect(Array.from(encodePong(bytes(4, 5)))).toEqual([0x06, 4, 5]);
  });

  it('clamps resize to u16', () => {
    expect(decodeClient(encodeResize(70000, -5))).toEqual({ type: 'resize', cols: 0xffff, rows: 0 });
  });

  it('round-trips every client frame', () => {
    const frames: ClientFrame[] = [
      { type: 'input', data: text('echo héllo\r') },
      { type: 'resize', cols: 132, rows: 43 },
      { type: 'pause' },
      { type: 'resume' },
      { type: 'ping', payload: bytes(9, 8, 7, 6, 5, 4, 3, 2) },
      { type: 'pong', payload: bytes(0, 0, 1, 2) },
    ];
    for (const f of frames) expect(decodeClient(encodeClient(f))).toEqual(f);
  });

  it('rejects empty, short and unknown client frames', () => {
    expect(() => decodeClient(bytes())).toThrow(ProtocolError);
    expect(() => decodeClient(bytes(0x02, 0, 80))).toThrow(ProtocolError);
    expect(() => decodeClient(bytes(0x7f))).toThrow(ProtocolError);
  });
});

describe('server frames', () => {
  it('decodes output with a big-endian u64 offset', () => {
    const f = decodeServer(bytes(0x81, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0x68, 0x69));
    expect(f).toEqual({ type: 'output', offset: 256, data: text('hi') });
  });

  it('handles offsets above 2^32 exactly and refuses ones past 2^53', () => {
    const big = 2 ** 40 + 12345;
    const f = decodeServer(encodeServer({ type: 'output', offset: big, data: text('x') }));
    expect(f).toMatchObject({ type: 'output', offset: big });
    const max = Number.MAX_SAFE_INTEGER;
    expect(decodeServer(encodeServer({ type: 'output', offset: max, data: bytes() }))).toMatchObject({ offset: max });
    const tooBig = new Uint8Array(9);
    tooBig[0] = 0x81;
    new DataView(tooBig.buffer).setBigUint64(1, 2n ** 60n);
    expect(() => decodeServer(tooBig)).toThrow(ProtocolError);
  });

  it('decodes exit as a signed i32', () => {
    expect(decodeServer(bytes(0x82, 0, 0, 0, 0))).toEqual({ type: 'exit', code: 0 });
    expect(decodeServer(bytes(0x82, 0xff, 0xff, 0xff, 0xff))).toEqual({ type: 'exit', code: -1 });
    expect(decodeServer(bytes(0x82, 0, 0, 0, 130))).toEqual({ type: 'exit', code: 130 });
  });

  it('decodes pong, hello, reset and server ping', () => {
    expect(decodeServer(bytes(0x83, 1, 2))).toEqual({ type: 'pong', payload: bytes(1, 2) });
    const hello = new Uint8Array([0x84, ...text('{"session":"s1","offset":10,"mode":"rw"}')]);
    expect(decodeServer(hello)).toEqual({ type: 'hello', info: { session: 's1', offset: 10, mode: 'rw' } });
    expect(decodeServer(bytes(0x84))).toEqual({ type: 'hello', info: {} });
    expect(decodeServer(bytes(0x85, 0, 0, 0, 0, 0, 0, 0x10, 0))).toEqual({ type: 'reset', offset: 4096 });
    expect(decodeServer(bytes(0x85))).toEqual({ type: 'reset', offset: 0 });
    expect(decodeServer(bytes(0x86, 4))).toEqual({ type: 'ping', payload: bytes(4) });
  });

  it('round-trips every server frame', () => {
    const frames: ServerFrame[] = [
      { type: 'output', offset: 0, data: text('$ ') },
      { type: 'output', offset: 123456789, data: bytes(0xe2, 0x82) },
      { type: 'exit', code: -15 },
      { type: 'pong', payload: bytes(1, 2, 3, 4, 5, 6, 7, 8) },
      { type: 'hello', info: { session: 'abc', offset: 5 } },
      { type: 'reset', offset: 2 ** 33 },
      { type: 'ping', payload: bytes(42) },
    ];
    for (const f of frames) expect(decodeServer(encodeServer(f))).toEqual(f);
  });

  it('reports unknown opcodes without throwing, and rejects malformed frames', () => {
    expect(decodeServer(bytes(0x99, 1))).toEqual({ type: 'unknown', op: 0x99, payload: bytes(1) });
    expect(() => decodeServer(bytes())).toThrow(ProtocolError);
    expect(() => decodeServer(bytes(0x81, 0, 0))).toThrow(ProtocolError);
    expect(() => decodeServer(bytes(0x82, 0))).toThrow(ProtocolError);
    expect(() => decodeServer(new Uint8Array([0x84, ...text('{nope')]))).toThrow(ProtocolError);
  });

  it('decodes from an ArrayBuffer and from a subarray view', () => {
    const frame = encodeServer({ type: 'output', offset: 7, data: text('ok') });
    expect(decodeServer(frame.buffer)).toMatchObject({ offset: 7 });
    const padded = new Uint8Array(frame.length + 3);
    padded.set(frame, 3);
    expect(decodeServer(padded.subarray(3))).toMatchObject({ offset: 7, data: text('ok') });
  });
});

describe('OffsetTracker', () => {
  it('passes contiguous output and advances', () => {
    const t = new OffsetTracker();
    expect(t.accept(0, text('abc'))).toEqual({ data: text('abc'), gap: false });
    expect(t.accept(3, text('de'))).toEqual({ data: text('de'), gap: false });
    expect(t.next).toBe(5);
  });

  it('drops bytes already shown (a replay overlapping the resume point)', () => {
    const t = new OffsetTracker();
    t.accept(0, text('hello'));
    expect(t.accept(3, text('lo world')).data).toEqual(text(' world'));
    expect(t.accept(0, text('hello')).data).toEqual(new Uint8Array());
    expect(t.next).toBe(11);
  });

  it('reports a gap when the server skipped ahead', () => {
    const t = new OffsetTracker();
    t.accept(0, text('ab'));
    expect(t.accept(10, text('z'))).toEqual({ data: text('z'), gap: true });
    expect(t.next).toBe(11);
  });
});
