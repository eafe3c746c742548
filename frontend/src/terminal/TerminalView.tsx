// An xterm.js terminal attached to one terminal session over a TerminalConnection.
import { useEffect, useLayoutEffect, useRef } from 'react';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { WebLinksAddon } from '@xterm/addon-web-links';
import '@xterm/xterm/css/xterm.css';
import '@fontsource/jetbrains-mono/latin-400.css';
import '@fontsource/jetbrains-mono/latin-700.css';
import { TerminalConnection, type ConnState } from './connection';
import { isPasteKey } from '../workspace/keys';
import {
  DEFAULT_SETTINGS,
  TERMINAL_FONT,
  TERMINAL_LINE_HEIGHT,
  TERMINAL_THEMES,
  type TerminalSettings,
} from './settings';

export interface TerminalHandle {
  /** Types text into the session (a trailing newline runs it). */
  send: (text: string) => boolean;
  focus: () => void;
  fit: () => void;
}

export interface TerminalViewProps {
  /** Builds the WebSocket URL for an offset (refresh = ask for a new token). */
  url: (offset: number, refresh: boolean, size: { cols: number; rows: number } | null) => Promise<string>;
  readOnly?: boolean;
  visible?: boolean;
  autoFocus?: boolean;
  onState?: (s: ConnState, detail?: string) => void;
  onLatency?: (ms: number) => void;
  onExit?: (code: number) => void;
  /** The session is gone for good (unknown to the server). */
  onGone?: () => void;
  /**
   * Watchers: take the PTY's size from HELLO instead of fitting the panel,
   * and never resize the PTY (that would reflow the learner's screen).
   */
  sizeFromServer?: boolean;
  /** Receives the handle once the terminal exists (and null when it goes). */
  handleRef?: (h: TerminalHandle | null) => void;
  /** Keys the terminal should not swallow (global shortcuts). */
  passKey?: (e: KeyboardEvent) => boolean;
  label?: string;
  /** Font size and theme (TerminalTabs keeps them in localStorage). */
  settings?: TerminalSettings;
  /** Called when the person runs something (Enter): the file list looks again. */
  onEnter?: () => void;
}

// Flow control: pause the server when this much output waits to be rendered.
const HIGH_WATER = 256 * 1024;
const LOW_WATER = 32 * 1024;

/** Re-measures the cell once the bundled font has loaded (xterm measured the fallback). */
function remeasureWhenFontLoads(term: Terminal, size: number, after: () => void) {
  const fonts = typeof document !== 'undefined' ? document.fonts : undefined;
  if (!fonts?.load) return;
  void fonts.load(`${size}px "JetBrains Mono"`).then(
    () => {
      if (term.element === undefined) return;
      term.options.fontFamily = 'monospace';
      term.options.fontFamily = TERMINAL_FONT;
      after();
    },
    () => undefined,
  );
}

export function TerminalView(props: TerminalViewProps) {
  const el = useRef<HTMLDivElement>(null);
  const propsRef = useRef(props);
  useLayoutEffect(() => {
    propsRef.current = props;
  });
  const fitRef = useRef<() => void>(() => undefined);
  const termRef = useRef<Terminal | null>(null);

  useEffect(() => {
    const host = el.current;
    if (!host) return;
    const p = propsRef.current;
    const look = p.settings ?? DEFAULT_SETTINGS;
    const term = new Terminal({
      cursorBlink: !p.readOnly,
      disableStdin: !!p.readOnly,
      fontFamily: TERMINAL_FONT,
      fontSize: look.fontSize,
      lineHeight: TERMINAL_LINE_HEIGHT,
      scrollback: 5000,
      theme: TERMINAL_THEMES[look.theme],
      allowProposedApi: false,
      convertEol: false,
      screenReaderMode: false,
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.loadAddon(new WebLinksAddon());
    term.open(host);
    if (p.label) term.textarea?.setAttribute('aria-label', p.label);

    // A watcher follows the output to its end unless the person scrolled up
    // themselves (wheel, touch, the scrollbar, keys). xterm takes any scroll
    // event of its viewport for the person's, including one from a viewport
    // re-laid out under it, and then stays where that left it — in a
    // read-only terminal nothing typed ever brings it back down.
    let scrolledByPerson = false;
    const notePersonScroll = () =>
      requestAnimationFrame(() => {
        const b = term.buffer.active;
        scrolledByPerson = b.viewportY < b.baseY;
      });
    const personEvents = ['wheel', 'touchend', 'mouseup', 'keyup'] as const;
    if (p.sizeFromServer) for (const ev of personEvents) host.addEventListener(ev, notePersonScroll, { passive: true });
    const follow = () => {
      if (!p.sizeFromServer || scrolledByPerson) return;
      const b = term.buffer.active;
      if (b.viewportY < b.baseY) term.scrollToBottom();
    };

    let pending = 0;
    let pausedForRender = false;
    const conn = new TerminalConnection({
      url: (offset, refresh, size) => propsRef.current.url(offset, refresh, size),
      onData: (data) => {
        pending += data.length;
        term.write(data, () => {
          pending -= data.length;
          follow();
          if (pausedForRender && pending < LOW_WATER) {
            pausedForRender = false;
            conn.setPaused(false);
          }
        });
        if (!pausedForRender && pending > HIGH_WATER) {
          pausedForRender = true;
          conn.setPaused(true);
        }
      },
      onReset: () => term.reset(),
      onState: (s, d) => propsRef.current.onState?.(s, d),
      onLatency: (ms) => propsRef.current.onLatency?.(ms),
      onExit: (code) => {
        term.write(`\r\n\x1b[2m[session ended with status ${code}]\x1b[0m\r\n`);
        propsRef.current.onExit?.(code);
      },
      onGone: () => propsRef.current.onGone?.(),
      onHello: (info) => {
        if (!p.sizeFromServer || !info.cols || !info.rows) return;
        try {
          term.resize(info.cols, info.rows);
        } catch {
          /* a size xterm refuses: keep ours */
        }
        follow();
      },
    });

    const doFit = () => {
      if (p.sizeFromServer) return;
      if (!host.offsetParent || host.clientWidth === 0 || host.clientHeight === 0) return; // hidden
      try {
        fit.fit();
      } catch {
        return;
      }
      conn.resize(term.cols, term.rows);
    };
    fitRef.current = doFit;
    termRef.current = term;
    doFit();
    remeasureWhenFontLoads(term, look.fontSize, doFit);

    const onInput = term.onData((d) => {
      if (propsRef.current.readOnly) return;
      conn.input(d);
      if (d.includes('\r')) propsRef.current.onEnter?.();
    });
    const onBinary = term.onBinary((d) => {
      if (propsRef.current.readOnly) return;
      const bytes = new Uint8Array(d.length);
      for (let i = 0; i < d.length; i++) bytes[i] = d.charCodeAt(i) & 0xff;
      conn.input(bytes);
    });
    // false = xterm leaves the key alone: Ctrl+V then does the browser's
    // paste, which xterm receives as a paste (bracketed when the shell asks).
    term.attachCustomKeyEventHandler((e) => !(propsRef.current.passKey?.(e) ?? false) && !isPasteKey(e));

    let raf = 0;
    const ro = new ResizeObserver(() => {
      cancelAnimationFrame(raf);
      raf = requestAnimationFrame(doFit);
    });
    ro.observe(host);
    const online = () => conn.retryNow();
    window.addEventListener('online', online);

    conn.start();
    const handle: TerminalHandle = {
      send: (text) => {
        if (propsRef.current.readOnly) return false;
        return conn.input(text);
      },
      focus: () => term.focus(),
      fit: doFit,
    };
    p.handleRef?.(handle);
    if (p.autoFocus) term.focus();

    const latest = propsRef; // the handleRef of the last render, not the first
    return () => {
      latest.current.handleRef?.(null);
      window.removeEventListener('online', online);
      for (const ev of personEvents) host.removeEventListener(ev, notePersonScroll);
      cancelAnimationFrame(raf);
      ro.disconnect();
      onInput.dispose();
      onBinary.dispose();
      conn.dispose();
      termRef.current = null;
      term.dispose();
    };
  }, []);

  // A new font size or theme applies at once, and the panel refits.
  const fontSize = props.settings?.fontSize ?? DEFAULT_SETTINGS.fontSize;
  const theme = props.settings?.theme ?? DEFAULT_SETTINGS.theme;
  useEffect(() => {
    const term = termRef.current;
    if (!term) return;
    if (term.options.fontSize !== fontSize) term.options.fontSize = fontSize;
    term.options.theme = TERMINAL_THEMES[theme];
    requestAnimationFrame(() => fitRef.current());
  }, [fontSize, theme]);

  // Refit when the panel is shown again.
  useEffect(() => {
    if (props.visible !== false) requestAnimationFrame(() => fitRef.current());
  }, [props.visible]);

  return (
    <div
      className="terminal-host"
      ref={el}
      style={props.visible === false ? { display: 'none' } : undefined}
      data-readonly={props.readOnly ? 'true' : undefined}
      data-follow-size={props.sizeFromServer ? 'true' : undefined}
    />
  );
}
