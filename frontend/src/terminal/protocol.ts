// The terminal wire protocol (docs/terminal-protocol.md): binary WebSocket
// frames whose first byte is an opcode. Multi-byte integers are big-endian.

export const Op = {
  // client → server
  Input: 0x01, // bytes typed by the user
  Resize: 0x02, // u16 cols, u16 rows
  Pause: 0x03, // stop sending output (flow control)
  Resume: 0x04, // send output again
  Ping: 0x05, // payload echoed back in Pong
  PongC: 0x06, // answer to a server ping, echoing its payload
  Skip: 0x07, // drop my backlog: RESET me to the newest output
  // server → client
  Output: 0x81, // u64 offset of the first byte, then bytes
  Exit: 0x82, // i32 exit status
  Pong: 0x83, // the payload of a client Ping
  Hello: 0x84, // JSON: session metadata
  Reset: 0x85, // u64 offset: forget the screen, output resumes at this offset
  ServerPing: 0x86, // payload; the client answers PongC with the same payload
  Behind: 0x87, // u64: the output end, sent while this client lags far behind
} as const;

/** The JSON of HELLO, the first frame of every connection. */
export interface HelloInfo {
  protocol?: number;
  session?: string;
  /** Offset of the next output byte this connection sends (before any RESET). */
  offset?: number;
  /** Oldest offset still in the replay buffer. */
  start?: number;
  /** Offset of the next byte the shell will produce. */
  end?: number;
  mode?: string;
  cols?: number;
  rows?: number;
  ping_interval_ms?: number;
  [key: string]: unknown;
}

/** The protocol version this client speaks (HELLO.protocol). */
export const PROTOCOL_VERSION = 1;

/** WebSocket close codes of the terminal endpoint (besides 1000/1001). */
export const Close = {
  BadRequest: 4400,
  Unauthorized: 4401, // from the proxy: get a new token
  Forbidden: 4403,
  NotFound: 4404, // no such session
  Stalled: 4408, // client too slow or silent: reconnect
  TooManyConnections: 4409, // this token or seat has too many terminals open
  TooManySessions: 4429,
} as const;

export type ServerFrame =
  | { type: 'output'; offset: number; data: Uint8Array }
  | { type: 'exit'; code: number }
  | { type: 'pong'; payload: Uint8Array }
  | { type: 'hello'; info: HelloInfo }
  | { type: 'reset'; offset: number }
  | { type: 'ping'; payload: Uint8Array }
  | { type: 'behind'; end: number }
  | { type: 'unknown'; op: number; payload: Uint8Array };

export type ClientFrame =
  | { type: 'input'; data: Uint8Array }
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'ping'; payload: Uint8Array }
  | { type: 'pong'; payload: Uint8Array }
  | { type: 'skip' };

const textEncoder = new TextEncoder();

export class ProtocolError extends Error {}

/** An encoded frame, ready for WebSocket.send. */
export type Frame = Uint8Array<ArrayBuffer>;

function withOp(op: number, payload?: Uint8Array): Frame {
  const out = new Uint8Array(1 + (payload?.length ?? 0));
  out[0] = op;
  if (payload) out.set(payload, 1);
  return out;
}

export function encodeInput(data: string | Uint8Array): Frame {
  return withOp(Op.Input, typeof data === 'string' ? textEncoder.encode(data) : data);
}

export function encodeResize(cols: number, rows: number): Frame {
  const out = new Uint8Array(5);
  const v = new DataView(out.buffer);
  out[0] = Op.Resize;
  v.setUint16(1, clampU16(cols));
  v.setUint16(3, clampU16(rows));
  return out;
}

export const encodePause = (): Frame => withOp(Op.Pause);
export const encodeResume = (): Frame => withOp(Op.Resume);
export const encodePing = (payload: Uint8Array = new Uint8Array()): Frame => withOp(Op.Ping, payload);
export const encodePong = (payload: Uint8Array = new Uint8Array()): Frame => withOp(Op.PongC, payload);
export const encodeSkip = (): Frame => withOp(Op.Skip);

function clampU16(n: number): number {
  if (!Number.isFinite(n)) return 0;
  return Math.max(0, Math.min(0xffff, Math.floor(n)));
}

/** Encodes any client frame. */
export function encodeClient(f: ClientFrame): Frame {
  switch (f.type) {
    case 'input':
      return encodeInput(f.data);
    case 'resize':
      return encodeResize(f.cols, f.rows);
    case 'pause':
      return encodePause();
    case 'resume':
      return encodeResume();
    case 'ping':
      return encodePing(f.payload);
    case 'pong':
      return encodePong(f.payload);
    case 'skip':
      return encodeSkip();
  }
}

/** Decodes a client frame (used by tests and by fakes of the server). */
export function decodeClient(buf: ArrayBuffer | Uint8Array): ClientFrame {
  const b = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  if (b.length < 1) throw new ProtocolError('empty frame');
  const rest = b.subarray(1);
  switch (b[0]) {
    case Op.Input:
      return { type: 'input', data: rest.slice() };
    case Op.Resize: {
      if (rest.length < 4) throw new ProtocolError('short resize frame');
      const v = new DataView(rest.buffer, rest.byteOffset, rest.byteLength);
      return { type: 'resize', cols: v.getUint16(0), rows: v.getUint16(2) };
    }
    case Op.Pause:
      return { type: 'pause' };
    case Op.Resume:
      return { type: 'resume' };
    case Op.Ping:
      return { type: 'ping', payload: rest.slice() };
    case Op.PongC:
      return { type: 'pong', payload: rest.slice() };
    case Op.Skip:
      return { type: 'skip' };
    default:
      throw new ProtocolError(`unknown client opcode 0x${b[0].toString(16)}`);
  }
}

/** Reads a u64 offset; offsets are exact as numbers up to 2^53 (8 PiB of output). */
function readOffset(view: DataView): number {
  const big = view.getBigUint64(0);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolError('offset beyond 2^53');
  return Number(big);
}

/** Decodes a frame sent by the server. Unknown opcodes are returned, not thrown. */
export function decodeServer(buf: ArrayBuffer | Uint8Array): ServerFrame {
  const b = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  if (b.length < 1) throw new ProtocolError('empty frame');
  const rest = b.subarray(1);
  const view = new DataView(rest.buffer, rest.byteOffset, rest.byteLength);
  switch (b[0]) {
    case Op.Output: {
      if (rest.length < 8) throw new ProtocolError('short output frame');
      return { type: 'output', offset: readOffset(view), data: rest.subarray(8) };
    }
    case Op.Exit: {
      if (rest.length < 4) throw new ProtocolError('short exit frame');
      return { type: 'exit', code: view.getInt32(0) };
    }
    case Op.Pong:
      return { type: 'pong', payload: rest.slice() };
    case Op.Hello: {
      let info: HelloInfo = {};
      if (rest.length > 0) {
        try {
          const parsed: unknown = JSON.parse(new TextDecoder().decode(rest));
          if (parsed && typeof parsed === 'object') info = parsed as HelloInfo;
        } catch {
          throw new ProtocolError('hello frame is not JSON');
        }
      }
      return { type: 'hello', info };
    }
    case Op.Reset:
      // Older servers sent no offset: output then restarts from 0.
      return { type: 'reset', offset: rest.length >= 8 ? readOffset(view) : 0 };
    case Op.ServerPing:
      return { type: 'ping', payload: rest.slice() };
    case Op.Behind:
      if (rest.length < 8) throw new ProtocolError('short behind frame');
      return { type: 'behind', end: readOffset(view) };
    default:
      return { type: 'unknown', op: b[0], payload: rest.slice() };
  }
}

/** Encodes a server frame (for tests and fake servers). */
export function encodeServer(f: ServerFrame): Frame {
  switch (f.type) {
    case 'output': {
      const out = new Uint8Array(9 + f.data.length);
      out[0] = Op.Output;
      new DataView(out.buffer).setBigUint64(1, BigInt(f.offset));
      out.set(f.data, 9);
      return out;
    }
    case 'exit': {
      const out = new Uint8Array(5);
      out[0] = Op.Exit;
      new DataView(out.buffer).setInt32(1, f.code);
      return out;
    }
    case 'pong':
      return withOp(Op.Pong, f.payload);
    case 'hello':
      return withOp(Op.Hello, textEncoder.encode(JSON.stringify(f.info)));
    case 'reset': {
      const out = new Uint8Array(9);
      out[0] = Op.Reset;
      new DataView(out.buffer).setBigUint64(1, BigInt(f.offset));
      return out;
    }
    case 'ping':
      return withOp(Op.ServerPing, f.payload);
    case 'behind': {
      const out = new Uint8Array(9);
      out[0] = Op.Behind;
      new DataView(out.buffer).setBigUint64(1, BigInt(f.end));
      return out;
    }
    case 'unknown':
      return withOp(f.op, f.payload);
  }
}

/**
 * Tracks the output offset of one session so a reconnect resumes exactly after
 * the last byte shown: overlapping bytes are dropped, a gap is reported.
 */
export class OffsetTracker {
  /** The offset of the next byte we expect (= bytes shown so far since the session's start). */
  next = 0;

  /**
   * Accepts an output frame; returns the bytes to show (possibly empty) and
   * whether bytes were skipped by the server (gap: the offset was too old).
   */
  accept(offset: number, data: Uint8Array): { data: Uint8Array; gap: boolean } {
    const end = offset + data.length;
    if (end <= this.next) return { data: data.subarray(0, 0), gap: false };
    const gap = offset > this.next;
    const skip = offset < this.next ? this.next - offset : 0;
    this.next = end;
    return { data: data.subarray(skip), gap };
  }

  reset(to = 0) {
    this.next = to;
  }
}
