// Terminal tabs: one per terminal session of the seat. Sessions outlive the
// page, so a reload reattaches to the same shells (replaying their output).
import { useCallback, useEffect, useLayoutEffect, useRef, useState, type CSSProperties } from 'react';
import { errorMessage, type WorkspaceClient } from '../api';
import { useStoredState } from '../hooks';
import { Button, ErrorBox, Spinner } from '../components/ui';
import { TerminalView, type TerminalHandle } from './TerminalView';
import { connLabel } from './status';
import { listOrCreate, preferred } from './sessions';
import type { ConnState } from './connection';
import { TerminalSettingsPanel, useTerminalSettings } from './TerminalSettingsMenu';
import { TERMINAL_THEMES } from './settings';

export interface TerminalTabsHandle {
  /** Types a command into the active terminal and runs it. */
  run: (cmd: string) => boolean;
  focus: () => void;
}

interface TabStatus {
  state?: ConnState;
  detail?: string;
  latency?: number;
}

export function TerminalTabs({
  client,
  mode = 'rw',
  storageKey,
  autoFocus,
  handleRef,
  passKey,
  createIfNone = true,
  followSize = false,
  onEnter,
}: {
  client: WorkspaceClient;
  mode?: 'rw' | 'ro';
  storageKey: string;
  autoFocus?: boolean;
  handleRef?: (h: TerminalTabsHandle | null) => void;
  passKey?: (e: KeyboardEvent) => boolean;
  createIfNone?: boolean;
  /** Watching someone else's shell: use its size, never resize it. */
  followSize?: boolean;
  /** The person ran a command (pressed Enter) in one of the terminals. */
  onEnter?: () => void;
}) {
  const [settings, setSettings] = useTerminalSettings();
  const [showSettings, setShowSettings] = useState(false);
  const [tabs, setTabs] = useState<string[] | null>(null);
  const [active, setActive] = useStoredState<string>(`clarateach.term.${storageKey}`, '');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState<Record<string, TabStatus>>({});
  const handles = useRef(new Map<string, TerminalHandle>());
  const activeRef = useRef(active);
  useLayoutEffect(() => {
    activeRef.current = active;
  });

  // State is set only once the answer is in (never synchronously in an effect).
  const load = useCallback(
    () =>
      listOrCreate(client, createIfNone && mode === 'rw').then(
        (sessions) => {
          const ids = sessions.map((s) => s.id);
          setError(null);
          setTabs(ids);
          if (!ids.includes(activeRef.current) && ids.length) setActive(preferred(sessions, mode));
        },
        (err: unknown) => setError(errorMessage(err)),
      ),
    [client, createIfNone, mode, setActive],
  );

  useEffect(() => {
    void load();
  }, [load]);

  // A viewer waits for the learner to open a terminal.
  useEffect(() => {
    if (mode !== 'ro' || (tabs && tabs.length > 0)) return;
    const t = setInterval(() => void load(), 3000);
    return () => clearInterval(t);
  }, [mode, tabs, load]);

  const addTab = async () => {
    setBusy(true);
    setError(null);
    try {
      const { id } = await client.createSession();
      setTabs((t) => [...(t ?? []), id]);
      setActive(id);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const closeTab = async (id: string, alreadyGone = false) => {
    setError(null);
    try {
      await client.deleteSession(id);
    } catch (err) {
      if (!alreadyGone) {
        setError(errorMessage(err));
        return;
      }
    }
    const rest = (tabs ?? []).filter((t) => t !== id);
    setTabs(rest);
    if (activeRef.current === id && rest.length) setActive(rest[rest.length - 1]);
    if (rest.length === 0 && mode === 'rw') void addTab();
  };

  useEffect(() => {
    handleRef?.({
      run: (cmd) => {
        const h = handles.current.get(activeRef.current);
        if (!h) return false;
        const ok = h.send(`${cmd.replace(/\r?\n$/, '').replace(/\r?\n/g, '\r')}\r`);
        h.focus();
        return ok;
      },
      focus: () => handles.current.get(activeRef.current)?.focus(),
    });
    return () => handleRef?.(null);
  }, [handleRef]);

  const cur = status[active];
  return (
    <section
      className="terminal-tabs"
      aria-label="Terminal"
      data-theme={settings.theme}
      style={{ '--term-bg': TERMINAL_THEMES[settings.theme].background } as CSSProperties}
    >
      <div className="panel-bar">
        <div className="tabs" role="tablist" aria-label="Terminal sessions">
          {(tabs ?? []).map((id, i) => (
            <div key={id} className={`tab ${id === active ? 'active' : ''}`}>
              <button
                type="button"
                role="tab"
                aria-selected={id === active}
                onClick={() => {
                  setActive(id);
                  requestAnimationFrame(() => handles.current.get(id)?.focus());
                }}
              >
                <span className={`dot dot-${status[id]?.state ?? 'connecting'}`} aria-hidden="true" />
                Terminal {i + 1}
              </button>
              {mode === 'rw' && (
                <button type="button" className="tab-close" aria-label={`Close terminal ${i + 1}`} title="Close (ends the shell)" onClick={() => void closeTab(id)}>
                  ×
                </button>
              )}
            </div>
          ))}
          {mode === 'rw' && tabs && (
            <Button small variant="ghost" busy={busy} onClick={() => void addTab()} aria-label="New terminal" title="New terminal">
              +
            </Button>
          )}
        </div>
        <div className="conn-status" aria-live="polite" data-state={cur?.state ?? 'connecting'}>
          <span className={`dot dot-${cur?.state ?? 'connecting'}`} aria-hidden="true" />
          <span className="conn-label" title={cur?.detail}>
            {connLabel(cur?.state)}
          </span>
          {(cur?.state === 'reconnecting' || cur?.state === 'exited') && cur.detail && (
            <span className="conn-detail" title={cur.detail}>
              {cur.detail}
            </span>
          )}
          {cur?.state === 'open' && cur.latency !== undefined && (
            <span className="latency" title="Round trip to your machine">
              {Math.round(cur.latency)} ms
            </span>
          )}
          {cur?.state === 'exited' && mode === 'rw' && !followSize && (
            <Button
              small
              onClick={() => {
                const others = (tabs ?? []).length > 1;
                void closeTab(active, true).then(() => (others ? addTab() : undefined));
              }}
            >
              Restart shell
            </Button>
          )}
          {mode === 'ro' && <span className="badge badge-muted">read-only</span>}
          <button
            type="button"
            className="btn btn-small btn-ghost"
            aria-label="Terminal settings"
            title="Terminal settings: text size and theme"
            aria-expanded={showSettings}
            aria-controls="term-settings"
            onClick={() => setShowSettings((v) => !v)}
          >
            Aa
          </button>
        </div>
      </div>
      {showSettings && <TerminalSettingsPanel settings={settings} onChange={setSettings} />}
      <ErrorBox error={error} onRetry={() => void load()} />
      <div className="terminal-area">
        {!tabs && !error && <Spinner label="Opening terminal…" />}
        {tabs && tabs.length === 0 && <p className="muted pad">No terminal is open on this seat yet.</p>}
        {(tabs ?? []).map((id, i) => (
          <TerminalView
            key={`${id}-${mode}`}
            label={`Terminal ${i + 1}`}
            url={(offset, refresh, size) => client.terminalUrl({ session: id, offset, mode, refresh, ...size })}
            readOnly={mode === 'ro'}
            sizeFromServer={followSize}
            onGone={() => {
              // The shell is gone (killed, reaped): drop its tab, reattach to what is left.
              setTabs((t) => (t ?? []).filter((x) => x !== id));
              void load();
            }}
            visible={id === active}
            autoFocus={autoFocus && id === active}
            passKey={passKey}
            settings={settings}
            onEnter={onEnter}
            onState={(state, detail) => setStatus((s) => ({ ...s, [id]: { ...s[id], state, detail } }))}
            onLatency={(latency) => setStatus((s) => ({ ...s, [id]: { ...s[id], latency } }))}
            handleRef={(h) => {
              if (h) handles.current.set(id, h);
              else handles.current.delete(id);
            }}
          />
        ))}
      </div>
    </section>
  );
}
