// The code editor: CodeMirror 6, several open files as tabs, Ctrl/Cmd-S to
// save, an unsaved-changes marker, and a reload from disk when a clean file is
// reopened (so changes made in the terminal show up). The open tabs come
// back after a reload (localStorage, per seat).
import { useCallback, useEffect, useImperativeHandle, useLayoutEffect, useRef, useState, type Ref } from 'react';
import { EditorView, keymap } from '@codemirror/view';
import { EditorState, Compartment, type Extension } from '@codemirror/state';
import { basicSetup } from 'codemirror';
import { indentWithTab } from '@codemirror/commands';
import { errorMessage, type WorkspaceClient } from '../api';
import { ErrorBox, Spinner } from '../components/ui';
import { languageFor } from './languages';
import { oneDark } from '@codemirror/theme-one-dark';

const prefersDark = () => typeof window.matchMedia === 'function' && window.matchMedia('(prefers-color-scheme: dark)').matches;

export interface OpenFile {
  path: string;
  /** The content last read from or written to disk. */
  saved: string;
  dirty: boolean;
  loading: boolean;
  saving: boolean;
  error: string | null;
  binary: boolean;
}

export interface EditorHandle {
  open: (path: string) => Promise<void>;
  /** Tells the editor a path was renamed or deleted in the file tree. */
  renamed: (from: string, to: string) => void;
  removed: (path: string) => void;
  focus: () => void;
  /** Saves the active file (no-op when it is clean). */
  save: () => Promise<void>;
}

const baseTheme = EditorView.theme({
  '&': { height: '100%', fontSize: '14px' },
  '.cm-scroller': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace' },
});

const basename = (p: string) => p.split('/').pop() || p;

interface StoredTabs {
  open: string[];
  active: string | null;
}

const tabsKey = (storageKey: string) => `clarateach.editor.${storageKey}`;

function readTabs(storageKey: string | undefined): StoredTabs | null {
  if (!storageKey) return null;
  try {
    const v = JSON.parse(localStorage.getItem(tabsKey(storageKey)) ?? 'null') as StoredTabs | null;
    if (!v || !Array.isArray(v.open)) return null;
    return { open: v.open.filter((p) => typeof p === 'string').slice(0, 30), active: typeof v.active === 'string' ? v.active : null };
  } catch {
    return null;
  }
}

export function Editor({
  client,
  handleRef,
  storageKey,
}: {
  client: WorkspaceClient;
  handleRef?: Ref<EditorHandle>;
  /** Where the open tabs are remembered (one seat's workspace). */
  storageKey?: string;
}) {
  const [files, setFiles] = useState<OpenFile[]>([]);
  const [active, setActive] = useState<string | null>(null);
  const [saveError, setSaveError] = useState<string | null>(null);
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const states = useRef(new Map<string, EditorState>());
  // The latest props for callbacks (refs are written after render, never during).
  const filesRef = useRef(files);
  const activeRef = useRef(active);
  useLayoutEffect(() => {
    filesRef.current = files;
    activeRef.current = active;
  });
  // Opening a file focuses the editor once the file is shown (it is hidden while loading).
  const wantFocus = useRef(false);

  const patch = useCallback((path: string, p: Partial<OpenFile>) => {
    setFiles((fs) => fs.map((f) => (f.path === path ? { ...f, ...p } : f)));
  }, []);

  const save = useCallback(async () => {
    const path = activeRef.current;
    const v = view.current;
    if (!path || !v) return true;
    const f = filesRef.current.find((x) => x.path === path);
    if (!f || f.binary || f.loading) return true;
    const content = v.state.doc.toString();
    patch(path, { saving: true });
    setSaveError(null);
    try {
      await client.write(path, content);
      const now = activeRef.current === path ? view.current?.state.doc.toString() : states.current.get(path)?.doc.toString();
      patch(path, { saving: false, saved: content, dirty: now !== content });
    } catch (err) {
      patch(path, { saving: false });
      setSaveError(`Could not save ${path}: ${errorMessage(err)}`);
    }
    return true;
  }, [client, patch]);

  const saveRef = useRef(save);
  useLayoutEffect(() => {
    saveRef.current = save;
  });

  const makeState = useCallback(async (path: string, doc: string): Promise<EditorState> => {
    const lang = new Compartment();
    const extensions: Extension[] = [
      basicSetup,
      keymap.of([
        {
          key: 'Mod-s',
          preventDefault: true,
          run: () => {
            void saveRef.current();
            return true;
          },
        },
        indentWithTab,
      ]),
      baseTheme,
      prefersDark() ? oneDark : [],
      EditorView.updateListener.of((u) => {
        if (!u.docChanged) return;
        const f = filesRef.current.find((x) => x.path === path);
        if (!f) return;
        const dirty = u.state.doc.toString() !== f.saved;
        if (dirty !== f.dirty) patch(path, { dirty });
      }),
      lang.of([]),
    ];
    const state = EditorState.create({ doc, extensions });
    // Highlighting arrives when its language pack has loaded.
    languageFor(path)
      .then((ext) => {
        if (!ext) return;
        const effect = lang.reconfigure(ext);
        if (activeRef.current === path && view.current) view.current.dispatch({ effects: effect });
        else {
          const s = states.current.get(path);
          if (s) states.current.set(path, s.update({ effects: effect }).state);
        }
      })
      .catch(() => undefined);
    return state;
  }, [patch]);

  // Creates the view once.
  useEffect(() => {
    if (!host.current) return;
    const v = new EditorView({ parent: host.current, state: EditorState.create({ doc: '' }) });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
  }, []);

  const show = useCallback((path: string) => {
    const v = view.current;
    const cur = activeRef.current;
    if (cur === path) return; // already shown: the live state is in the view
    if (v && cur && states.current.has(cur)) states.current.set(cur, v.state);
    const s = states.current.get(path);
    if (v && s) v.setState(s);
    setActive(path);
    activeRef.current = path;
  }, []);

  const load = useCallback(
    async (path: string): Promise<boolean> => {
      try {
        const text = await client.read(path);
        const binary = text.includes('\u0000');
        const existing = filesRef.current.find((f) => f.path === path);
        // Only replace a clean buffer whose file changed on disk.
        if (existing && !existing.loading && (existing.dirty || existing.saved === text)) {
          patch(path, { error: null });
          return true;
        }
        const state = await makeState(path, binary ? '' : text);
        states.current.set(path, state);
        patch(path, { loading: false, saved: binary ? '' : text, dirty: false, error: null, binary });
        if (activeRef.current === path) view.current?.setState(state);
        return true;
      } catch (err) {
        patch(path, { loading: false, error: errorMessage(err) });
        return false;
      }
    },
    [client, makeState, patch],
  );

  const open = useCallback(
    async (path: string, focus = true): Promise<boolean> => {
      let ok = true;
      const existing = filesRef.current.find((f) => f.path === path);
      if (!existing) {
        const f: OpenFile = { path, saved: '', dirty: false, loading: true, saving: false, error: null, binary: false };
        filesRef.current = [...filesRef.current, f];
        setFiles(filesRef.current);
        const v = view.current;
        const cur = activeRef.current;
        if (v && cur && states.current.has(cur)) states.current.set(cur, v.state);
        setActive(path);
        activeRef.current = path;
        ok = await load(path);
      } else {
        show(path);
        if (!existing.dirty) ok = await load(path);
      }
      wantFocus.current = focus;
      setFiles((fs) => [...fs]); // re-render so the focus effect runs once the file is visible
      return ok;
    },
    [load, show],
  );

  // The tabs of the last visit come back (without taking the focus); a file
  // that is gone since is dropped.
  const restored = useRef(!storageKey);
  useEffect(() => {
    const saved = readTabs(storageKey);
    if (!saved || saved.open.length === 0) {
      restored.current = true;
      return;
    }
    let live = true;
    void (async () => {
      for (const p of saved.open) {
        if (!live) return;
        if (await open(p, false)) continue;
        const rest = filesRef.current.filter((f) => f.path !== p);
        filesRef.current = rest;
        states.current.delete(p);
        setFiles(rest);
      }
      const keep = filesRef.current.map((f) => f.path);
      const active = saved.active && keep.includes(saved.active) ? saved.active : keep[keep.length - 1];
      if (live && active) await open(active, false);
      restored.current = true;
      if (live) setFiles((fs) => [...fs]); // stores the restored tabs
    })();
    return () => {
      live = false;
    };
    // Once per seat: `open` only changes with the client.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [storageKey]);

  useEffect(() => {
    if (!storageKey || !restored.current) return;
    try {
      const stored: StoredTabs = { open: files.map((f) => f.path), active };
      localStorage.setItem(tabsKey(storageKey), JSON.stringify(stored));
    } catch {
      /* storage full or disabled */
    }
  }, [storageKey, files, active]);

  const close = useCallback(
    (path: string) => {
      const f = filesRef.current.find((x) => x.path === path);
      if (f?.dirty && !window.confirm(`${basename(path)} has unsaved changes. Close it anyway?`)) return;
      const rest = filesRef.current.filter((x) => x.path !== path);
      states.current.delete(path);
      filesRef.current = rest;
      setFiles(rest);
      if (activeRef.current === path) {
        const next = rest[rest.length - 1]?.path ?? null;
        if (next) show(next);
        else {
          setActive(null);
          activeRef.current = null;
          view.current?.setState(EditorState.create({ doc: '' }));
        }
      }
    },
    [show],
  );

  useImperativeHandle(
    handleRef,
    () => ({
      open: async (path) => {
        await open(path);
      },
      renamed: (from, to) => {
        const under = (p: string) => p === from || p.startsWith(`${from}/`);
        const map = (p: string) => (under(p) ? to + p.slice(from.length) : p);
        for (const [p, s] of [...states.current]) {
          if (under(p)) {
            states.current.delete(p);
            states.current.set(map(p), s);
          }
        }
        setFiles((fs) => fs.map((f) => ({ ...f, path: map(f.path) })));
        if (activeRef.current) {
          activeRef.current = map(activeRef.current);
          setActive(activeRef.current);
        }
      },
      removed: (path) => {
        for (const f of filesRef.current) {
          if (f.path === path || f.path.startsWith(`${path}/`)) {
            patch(f.path, { dirty: false });
            filesRef.current = filesRef.current.map((x) => (x.path === f.path ? { ...x, dirty: false } : x));
            close(f.path);
          }
        }
      },
      focus: () => view.current?.focus(),
      save: async () => {
        const f = filesRef.current.find((x) => x.path === activeRef.current);
        if (f?.dirty) await save();
      },
    }),
    [open, close, patch, save],
  );

  // Warn before leaving with unsaved changes.
  useEffect(() => {
    const h = (e: BeforeUnloadEvent) => {
      if (filesRef.current.some((f) => f.dirty)) e.preventDefault();
    };
    window.addEventListener('beforeunload', h);
    return () => window.removeEventListener('beforeunload', h);
  }, []);

  const cur = files.find((f) => f.path === active);
  const visible = !!cur && !cur.loading && !cur.binary && !cur.error;
  useEffect(() => {
    if (visible && wantFocus.current) {
      wantFocus.current = false;
      view.current?.focus();
    }
  });

  return (
    <section className="editor" aria-label="Editor">
      <div className="panel-bar">
        <div className="tabs" role="tablist" aria-label="Open files">
          {files.map((f) => (
            <div key={f.path} className={`tab ${f.path === active ? 'active' : ''}`} data-path={f.path} data-dirty={f.dirty ? 'true' : 'false'}>
              <button type="button" role="tab" aria-selected={f.path === active} title={f.path} onClick={() => void open(f.path)}>
                {basename(f.path)}
                {f.dirty && (
                  <span className="dirty-marker" aria-label="unsaved changes" title="Unsaved changes">
                    ●
                  </span>
                )}
              </button>
              <button type="button" className="tab-close" aria-label={`Close ${basename(f.path)}`} onClick={() => close(f.path)}>
                ×
              </button>
            </div>
          ))}
        </div>
        {cur && (
          <div className="editor-status">
            {cur.saving ? <Spinner label="Saving…" /> : cur.dirty ? <span className="muted small">Unsaved · Ctrl/⌘-S</span> : <span className="muted small">Saved</span>}
            <button type="button" className="btn btn-small" disabled={!cur.dirty || cur.saving} onClick={() => void save()}>
              Save
            </button>
          </div>
        )}
      </div>
      <ErrorBox error={saveError} />
      {cur?.error && <ErrorBox error={cur.error} onRetry={() => void load(cur.path)} />}
      {cur?.loading && <Spinner label={`Opening ${basename(cur.path)}…`} />}
      {cur?.binary && <p className="muted pad">This looks like a binary file; download it from the file list instead.</p>}
      {!cur && <p className="muted pad editor-empty">Open a file from the list, or create one.</p>}
      <div className="editor-host" ref={host} style={!cur || cur.loading || cur.binary || cur.error ? { display: 'none' } : undefined} />
    </section>
  );
}
