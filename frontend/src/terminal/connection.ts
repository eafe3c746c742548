// One terminal session's WebSocket, kept alive: reconnects with backoff,
// resuming from the last output offset seen, measures latency with pings, and
// forwards flow control (pause/resume) from the renderer.

import {
  OffsetTracker,
  decodeServer,
  encodeInput,
  encodePause,
  encodePing,
  encodePong,
  encodeResize,
  Close,
  PROTOCOL_VERSION,
  encodeResume,
  encodeSkip,
  type Frame,
  type HelloInfo,
} from './protocol';

/** SKIP after Ctrl-C when at least SKIP_LAG bytes behind (per BEHIND), or
 * when SKIP_FLOOD bytes arrived in the last SKIP_WINDOW ms. */
const SKIP_LAG = 64 * 1024;
const SKIP_FLOOD = 256 * 1024;
const SKIP_WINDOW = 1000;

export type ConnState = 'connecting' | 'open' | 'reconnecting' | 'exited' | 'closed';

export interface ConnectionEvents {
  onData?: (data: Uint8Array) => void;
  /** The server could not resume (offset too old): clear the screen, a re-render follows. */
  onReset?: () => void;
  onState?: (state: ConnState, detail?: string) => void;
  onLatency?: (ms: number) => void;
  onExit?: (code: number) => void;
  onHello?: (info: HelloInfo) => void;
  /** The server closed for good (unknown session, bad request). */
  onGone?: (code: number, reason: string) => void;
}

export interface ConnectionOptions extends ConnectionEvents {
  /** Builds the WebSocket URL for a given offset; `refresh` asks for a new token; `size` is the terminal's. */
  url: (offset: number, refresh: boolean, size: { cols: number; rows: number } | null) => Promise<string>;
  /** Interval between latency pings (ms). */
  pingInterval?: number;
  /** First and largest reconnect delays (ms). */
  minBackoff?: number;
  maxBackoff?: number;
  /** For tests. */
  WebSocketImpl?: typeof WebSocket;
}

export class TerminalConnection {
  private ws: WebSocket | null = null;
  private readonly opts: ConnectionOptions;
  private readonly tracker = new OffsetTracker();
  private state: ConnState = 'connecting';
  private attempts = 0;
  private failedOpens = 0;
  private disposed = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private size: { cols: number; rows: number } | null = null;
  private paused = false;
  /** A SKIP was sent: output is dropped until the RESET that answers it. */
  private skipping = false;
  /** The output end the server last reported with BEHIND. */
  private behindEnd = 0;
  /** Output bytes received recently (a window of SKIP_WINDOW ms). */
  private recent: { at: number; n: number }[] = [];
  latency: number | null = null;

  constructor(opts: ConnectionOptions) {
    this.opts = opts;
  }

  /** The offset to resume from: every output byte before it has been delivered. */
  get offset() {
    return this.tracker.next;
  }

  get connState() {
    return this.state;
  }

  start() {
    void this.connect();
  }

  private setState(s: ConnState, detail?: string) {
    this.state = s;
    this.opts.onState?.(s, detail);
  }

  private async connect() {
    if (this.disposed) return;
    this.setState(this.attempts === 0 ? 'connecting' : 'reconnecting');
    let url: string;
    try {
      url = await this.opts.url(this.tracker.next, this.failedOpens > 0, this.size);
    } catch (err) {
      this.scheduleRetry(err instanceof Error ? err.message : String(err));
      return;
    }
    if (this.disposed) return;
    const WS = this.opts.WebSocketImpl ?? WebSocket;
    let ws: WebSocket;
    try {
      ws = new WS(url);
    } catch (err) {
      this.scheduleRetry(err instanceof Error ? err.message : String(err));
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.skipping = false;
      this.behindEnd = 0;
      this.failedOpens = 0;
      this.setState('open');
      if (this.size) ws.send(encodeResize(this.size.cols, this.size.rows));
      if (this.paused) ws.send(encodePause());
      this.startPings();
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data === 'string') return; // the protocol is binary only
      this.handle(new Uint8Array(ev.data as ArrayBuffer));
    };
    ws.onerror = () => {
      /* onclose follows and decides */
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws === ws) this.ws = null;
      this.stopPings();
      if (this.disposed || this.state === 'exited') return;
      if (ev.code === Close.NotFound || ev.code === Close.BadRequest) {
        // The session is gone (or the request is wrong): retrying cannot help.
        this.setState('exited', ev.reason || 'session not found');
        this.opts.onGone?.(ev.code, ev.reason);
        return;
      }
      if (ev.code === Close.TooManySessions) {
        this.setState('exited', 'too many terminals are open on this seat');
        this.opts.onGone?.(ev.code, ev.reason);
        return;
      }
      if (ev.code === Close.TooManyConnections) {
        this.setState('exited', ev.reason || 'too many terminal connections are open; close other tabs');
        this.opts.onGone?.(ev.code, ev.reason);
        return;
      }
      // A failed handshake (often an expired token) or an auth close from the
      // proxy: the next attempt asks for a fresh token.
      if (!opened || ev.code === Close.Unauthorized || ev.code === Close.Forbidden) this.failedOpens++;
      this.scheduleRetry(ev.reason || undefined);
    };
  }

  private handle(buf: Uint8Array) {
    let f;
    try {
      f = decodeServer(buf);
    } catch {
      return;
    }
    switch (f.type) {
      case 'output': {
        if (this.skipping) break; // obsolete: a RESET to the newest output is coming
        this.noteReceived(f.data.length);
        const { data } = this.tracker.accept(f.offset, f.data);
        if (data.length) this.opts.onData?.(data);
        // A healthy stream resets the backoff.
        this.attempts = 0;
        break;
      }
      case 'reset':
        // The bytes we asked for are gone from the replay buffer: clear the
        // screen; output resumes at the given offset.
        this.tracker.reset(f.offset);
        this.skipping = false;
        this.opts.onReset?.();
        break;
      case 'behind':
        this.behindEnd = f.end;
        break;
      case 'hello':
        // When the requested offset cannot be honoured, a RESET follows.
        if (typeof f.info.protocol === 'number' && f.info.protocol !== PROTOCOL_VERSION) {
          this.setState('exited', `unsupported terminal protocol ${f.info.protocol}`);
          this.opts.onGone?.(0, 'unsupported protocol');
          this.ws?.close(1000, 'unsupported protocol');
          return;
        }
        this.attempts = 0;
        this.opts.onHello?.(f.info);
        break;
      case 'pong': {
        if (f.payload.length >= 8) {
          const sent = new DataView(f.payload.buffer, f.payload.byteOffset, 8).getFloat64(0);
          const ms = Math.max(0, performance.now() - sent);
          this.latency = ms;
          this.opts.onLatency?.(ms);
        }
        break;
      }
      case 'ping':
        // The server closes connections that stay silent: answer every ping.
        this.send(encodePong(f.payload));
        break;
      case 'exit':
        this.setState('exited', `exit ${f.code}`);
        this.opts.onExit?.(f.code);
        this.ws?.close(1000, 'exited');
        break;
      default:
        break;
    }
  }

  private scheduleRetry(detail?: string) {
    if (this.disposed) return;
    const min = this.opts.minBackoff ?? 500;
    const max = this.opts.maxBackoff ?? 10_000;
    const delay = Math.min(max, min * 2 ** this.attempts) * (0.75 + Math.random() * 0.5);
    this.attempts++;
    this.setState('reconnecting', detail);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
  }

  /** Reconnects now (e.g. when the browser comes back online). */
  retryNow() {
    if (this.disposed || this.state === 'open' || this.state === 'exited') return;
    clearTimeout(this.retryTimer);
    this.attempts = 0;
    void this.connect();
  }

  private startPings() {
    this.stopPings();
    const ping = () => {
      if (!this.ws || this.ws.readyState !== 1) return;
      const p = new Uint8Array(8);
      new DataView(p.buffer).setFloat64(0, performance.now());
      this.ws.send(encodePing(p));
    };
    ping();
    this.pingTimer = setInterval(ping, this.opts.pingInterval ?? 5_000);
  }

  private stopPings() {
    clearInterval(this.pingTimer);
    this.pingTimer = undefined;
  }

  private send(frame: Frame): boolean {
    if (this.ws && this.ws.readyState === 1) {
      this.ws.send(frame);
      return true;
    }
    return false;
  }

  private noteReceived(n: number) {
    const now = performance.now();
    this.recent.push({ at: now, n });
    while (this.recent.length && now - this.recent[0].at > SKIP_WINDOW) this.recent.shift();
  }

  /**
   * How far behind the output this client is, as far as it can tell: what
   * BEHIND last said, or a flood of output received in the last moment.
   */
  private lagging(): boolean {
    if (this.behindEnd - this.tracker.next >= SKIP_LAG) return true;
    const now = performance.now();
    let n = 0;
    for (const r of this.recent) if (now - r.at <= SKIP_WINDOW) n += r.n;
    return n >= SKIP_FLOOD;
  }

  /**
   * Sends keystrokes; returns false when the socket is not open. Ctrl-C while
   * far behind a flood also asks the server to SKIP to the newest output, so
   * the prompt shows at once instead of after megabytes of replay.
   */
  input(data: string | Uint8Array): boolean {
    const ok = this.send(encodeInput(data));
    const ctrlC = typeof data === 'string' ? data.includes('\x03') : data.includes(0x03);
    if (ok && ctrlC && !this.skipping && this.lagging()) {
      this.skipping = this.send(encodeSkip());
      this.recent = [];
    }
    return ok;
  }

  resize(cols: number, rows: number) {
    if (this.size && this.size.cols === cols && this.size.rows === rows) return;
    this.size = { cols, rows };
    this.send(encodeResize(cols, rows));
  }

  /** Flow control: asks the server to stop (true) or resume (false) sending output. */
  setPaused(paused: boolean) {
    if (this.paused === paused) return;
    this.paused = paused;
    this.send(paused ? encodePause() : encodeResume());
  }

  dispose() {
    this.disposed = true;
    clearTimeout(this.retryTimer);
    this.stopPings();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onmessage = null;
      ws.onclose = null;
      // Closing a socket that is still connecting makes browsers log an error:
      // close it as soon as it opens instead.
      if (ws.readyState === 0) ws.onopen = () => ws.close(1000, 'bye');
      else if (ws.readyState === 1) ws.close(1000, 'bye');
    }
    this.setState('closed');
  }
}
