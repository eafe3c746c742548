// The file explorer: a lazily loaded tree with create, rename, delete, upload
// (button or drag and drop), and download of one file or of the whole
// workspace. It looks again by itself, so files made in the terminal show up.
import { useCallback, useEffect, useLayoutEffect, useRef, useState, type DragEvent, type FormEvent, type KeyboardEvent } from 'react';
import { errorMessage, saveBlob, type FileEntry, type WorkspaceClient } from '../api';
import { Button, ConfirmDialog, ErrorBox, Spinner } from '../components/ui';
import { formatBytes } from '../format';

interface DirState {
  entries: FileEntry[] | null;
  loading: boolean;
  error: string | null;
}

type Pending =
  | { kind: 'new-file' | 'new-dir'; dir: string }
  | { kind: 'rename'; entry: FileEntry };

const parentOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
const join = (dir: string, name: string) => (dir && dir !== '.' ? `${dir}/${name}` : name);

/** Tells the tree that something may have changed (a command ran in the terminal). */
export class TreeNudge {
  private readonly fns = new Set<() => void>();
  subscribe(fn: () => void): () => void {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }
  nudge() {
    for (const fn of this.fns) fn();
  }
}

/** How often the tree looks again: soon after a change or a nudge, then less and less often. */
export const POLL = { min: 1500, max: 15_000 };

const sameEntries = (a: FileEntry[] | null | undefined, b: FileEntry[]) =>
  !!a && a.length === b.length && a.every((e, i) => e.path === b[i].path && e.type === b[i].type && e.size === b[i].size && e.mtime === b[i].mtime);

/** The folder a drop lands in: the folder under the pointer, a file's folder, or the top. */
function dropDir(target: EventTarget | null): string {
  const item = target instanceof Element ? target.closest<HTMLElement>('[data-tree-item]') : null;
  if (!item) return '';
  const path = item.dataset.path ?? '';
  return item.dataset.type === 'dir' ? path : parentOf(path);
}

function sortEntries(es: FileEntry[]) {
  return [...es].sort((a, b) => (a.type === 'dir') === (b.type === 'dir') ? a.name.localeCompare(b.name) : a.type === 'dir' ? -1 : 1);
}

export function FileTree({
  client,
  onOpen,
  onRenamed,
  onRemoved,
  nudge,
  poll = POLL,
}: {
  client: WorkspaceClient;
  onOpen: (path: string) => void;
  onRenamed?: (from: string, to: string) => void;
  onRemoved?: (path: string) => void;
  nudge?: TreeNudge;
  poll?: { min: number; max: number };
}) {
  const [dirs, setDirs] = useState<Record<string, DirState>>({});
  const [expanded, setExpanded] = useState<Set<string>>(() => new Set(['']));
  const [selected, setSelected] = useState<FileEntry | null>(null);
  const [pending, setPending] = useState<Pending | null>(null);
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<FileEntry | null>(null);
  const uploadRef = useRef<HTMLInputElement>(null);
  const [dragging, setDragging] = useState(false);
  const dirsRef = useRef(dirs);
  const expandedRef = useRef(expanded);
  useLayoutEffect(() => {
    dirsRef.current = dirs;
    expandedRef.current = expanded;
  });

  const loadDir = useCallback(
    async (dir: string) => {
      setDirs((d) => ({ ...d, [dir]: { entries: d[dir]?.entries ?? null, loading: true, error: null } }));
      try {
        const r = await client.list(dir || '.');
        setDirs((d) => ({ ...d, [dir]: { entries: sortEntries(r.entries), loading: false, error: null } }));
      } catch (err) {
        setDirs((d) => ({ ...d, [dir]: { entries: d[dir]?.entries ?? null, loading: false, error: errorMessage(err) } }));
      }
    },
    [client],
  );

  useEffect(() => {
    void loadDir('');
  }, [loadDir]);

  // Lists the open folders again; the tree changes only where they did.
  // Answers whether anything changed.
  const relook = useCallback(async () => {
    let changed = false;
    for (const dir of expandedRef.current) {
      if (!dirsRef.current[dir]?.entries) continue;
      try {
        const entries = sortEntries((await client.list(dir || '.')).entries);
        if (sameEntries(dirsRef.current[dir]?.entries, entries)) continue;
        changed = true;
        setDirs((d) => ({ ...d, [dir]: { entries, loading: false, error: null } }));
      } catch {
        // A folder removed in the terminal: its parent's listing drops it.
      }
    }
    return changed;
  }, [client]);

  useEffect(() => {
    let delay = poll.min;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running = false;
    let stopped = false;
    const schedule = (ms: number) => {
      clearTimeout(timer);
      if (!stopped) timer = setTimeout(() => void tick(), ms);
    };
    const tick = async () => {
      if (running) return;
      running = true;
      const changed = document.visibilityState === 'hidden' ? false : await relook();
      running = false;
      delay = changed ? poll.min : Math.min(poll.max, delay * 2);
      schedule(delay);
    };
    schedule(delay);
    const off = nudge?.subscribe(() => {
      delay = poll.min;
      schedule(300);
    });
    return () => {
      stopped = true;
      clearTimeout(timer);
      off?.();
    };
  }, [relook, nudge, poll.min, poll.max]);

  const refreshAll = () => {
    for (const d of expanded) void loadDir(d);
  };

  // The directory new things go into: the selected folder, or the selected file's folder.
  const targetDir = selected ? (selected.type === 'dir' ? selected.path : parentOf(selected.path)) : '';

  const act = async (fn: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const submitName = (e: FormEvent) => {
    e.preventDefault();
    const p = pending;
    const n = name.trim();
    if (!p || !n) return;
    if (n.includes('..') || n.startsWith('/')) {
      setError('Use a name inside your workspace (no ".." or leading "/").');
      return;
    }
    void act(async () => {
      if (p.kind === 'rename') {
        const to = join(parentOf(p.entry.path), n);
        await client.rename(p.entry.path, to);
        onRenamed?.(p.entry.path, to);
        await loadDir(parentOf(p.entry.path));
        if (p.entry.type === 'dir') setExpanded((x) => new Set([...x].filter((d) => d !== p.entry.path)));
      } else {
        const path = join(p.dir, n);
        if (p.kind === 'new-dir') await client.mkdir(path);
        else await client.write(path, '');
        setExpanded((x) => new Set(x).add(p.dir));
        await loadDir(p.dir);
        if (p.kind === 'new-file') onOpen(path);
      }
      setPending(null);
      setName('');
    });
  };

  const remove = (entry: FileEntry) =>
    act(async () => {
      await client.remove(entry.path);
      onRemoved?.(entry.path);
      setConfirm(null);
      if (selected?.path === entry.path) setSelected(null);
      await loadDir(parentOf(entry.path));
    });

  const download = (entry: FileEntry) =>
    act(async () => {
      saveBlob(await client.readBlob(entry.path), entry.name);
    });

  const downloadAll = () =>
    act(async () => {
      saveBlob(await client.archive(), 'workspace.tar.gz');
    });

  const upload = (list: FileList | null, dir = targetDir) => {
    if (!list || list.length === 0) return;
    void act(async () => {
      for (const f of Array.from(list)) await client.write(join(dir, f.name), f);
      setExpanded((x) => new Set(x).add(dir));
      await loadDir(dir);
    });
    if (uploadRef.current) uploadRef.current.value = '';
  };

  const hasFiles = (e: DragEvent) => Array.from(e.dataTransfer?.types ?? []).includes('Files');
  const dragOver = (e: DragEvent) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    if (!dragging) setDragging(true);
  };
  const drop = (e: DragEvent) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    setDragging(false);
    upload(e.dataTransfer.files, dropDir(e.target));
  };

  const toggle = (entry: FileEntry) => {
    setExpanded((x) => {
      const n = new Set(x);
      if (n.has(entry.path)) n.delete(entry.path);
      else {
        n.add(entry.path);
        if (!dirs[entry.path]) void loadDir(entry.path);
      }
      return n;
    });
  };

  const activate = (entry: FileEntry) => {
    setSelected(entry);
    if (entry.type === 'dir') toggle(entry);
    else onOpen(entry.path);
  };

  const onItemKey = (e: KeyboardEvent, entry: FileEntry) => {
    if (e.key === 'F2') {
      e.preventDefault();
      setPending({ kind: 'rename', entry });
      setName(entry.name);
    } else if (e.key === 'Delete') {
      e.preventDefault();
      setConfirm(entry);
    } else if (e.key === 'ArrowRight' && entry.type === 'dir' && !expanded.has(entry.path)) {
      e.preventDefault();
      toggle(entry);
    } else if (e.key === 'ArrowLeft' && entry.type === 'dir' && expanded.has(entry.path)) {
      e.preventDefault();
      toggle(entry);
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const items = Array.from(document.querySelectorAll<HTMLElement>('.file-tree [data-tree-item]'));
      const i = items.indexOf(e.currentTarget as HTMLElement);
      items[e.key === 'ArrowDown' ? Math.min(items.length - 1, i + 1) : Math.max(0, i - 1)]?.focus();
    }
  };

  const renderDir = (dir: string, depth: number) => {
    const st = dirs[dir];
    if (!st) return null;
    return (
      <ul role={depth === 0 ? 'tree' : 'group'} aria-label={depth === 0 ? 'Files' : undefined}>
        {st.error && (
          <li>
            <ErrorBox error={st.error} onRetry={() => void loadDir(dir)} />
          </li>
        )}
        {st.loading && !st.entries && (
          <li className="pad-sm">
            <Spinner />
          </li>
        )}
        {st.entries?.length === 0 && depth === 0 && <li className="muted small pad-sm">Your workspace is empty.</li>}
        {st.entries?.map((e) => {
          const open = e.type === 'dir' && expanded.has(e.path);
          return (
            <li key={e.path} role="treeitem" aria-expanded={e.type === 'dir' ? open : undefined} aria-selected={selected?.path === e.path}>
              <button
                type="button"
                data-tree-item
                data-path={e.path}
                data-type={e.type}
                className={`tree-item ${selected?.path === e.path ? 'selected' : ''}`}
                style={{ paddingLeft: `${0.5 + depth * 0.9}rem` }}
                onClick={() => activate(e)}
                onKeyDown={(ev) => onItemKey(ev, e)}
                title={e.type === 'file' ? `${e.path} · ${formatBytes(e.size)}` : e.path}
              >
                <span className="tree-icon" aria-hidden="true">
                  {e.type === 'dir' ? (open ? '▾' : '▸') : e.type === 'symlink' ? '↪' : '·'}
                </span>
                {e.name}
              </button>
              {open && renderDir(e.path, depth + 1)}
            </li>
          );
        })}
      </ul>
    );
  };

  return (
    <section
      className={`file-tree ${dragging ? 'drop-target' : ''}`}
      aria-label="Files"
      onDragOver={dragOver}
      onDragEnter={dragOver}
      onDragLeave={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
      }}
      onDrop={drop}
    >
      <div className="panel-bar">
        <span className="panel-title">Files</span>
        <div className="btn-row tight">
          <Button small variant="ghost" title="New file" aria-label="New file" onClick={() => { setPending({ kind: 'new-file', dir: targetDir }); setName(''); }}>
            +File
          </Button>
          <Button small variant="ghost" title="New folder" aria-label="New folder" onClick={() => { setPending({ kind: 'new-dir', dir: targetDir }); setName(''); }}>
            +Dir
          </Button>
          <Button small variant="ghost" title="Upload files" aria-label="Upload files" onClick={() => uploadRef.current?.click()}>
            ⇪
          </Button>
          <Button small variant="ghost" title="Refresh" aria-label="Refresh files" onClick={refreshAll}>
            ↻
          </Button>
        </div>
        <input ref={uploadRef} type="file" multiple hidden onChange={(e) => upload(e.target.files)} aria-label="Choose files to upload" />
      </div>
      {pending && (
        <form className="tree-name-form" onSubmit={submitName}>
          <label className="sr-only" htmlFor="tree-name">
            {pending.kind === 'rename' ? 'New name' : pending.kind === 'new-dir' ? 'Folder name' : 'File name'}
          </label>
          <input
            id="tree-name"
            autoFocus
            value={name}
            placeholder={pending.kind === 'rename' ? 'new name' : pending.kind === 'new-dir' ? 'folder name' : 'file name'}
            onChange={(e) => setName(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Escape') {
                setPending(null);
                setError(null);
              }
            }}
            spellCheck={false}
          />
          <span className="muted small">
            {pending.kind === 'rename' ? `Rename ${pending.entry.path}` : `in /${pending.dir}`}
          </span>
        </form>
      )}
      <ErrorBox error={error} />
      <div className="tree-scroll">{renderDir('', 0)}</div>
      {dragging && (
        <p className="drop-hint small" aria-hidden="true">
          Drop files here to upload them (onto a folder to put them in it).
        </p>
      )}
      <div className="tree-footer">
        {selected && (
          <div className="btn-row tight">
            <Button small onClick={() => { setPending({ kind: 'rename', entry: selected }); setName(selected.name); }}>
              Rename
            </Button>
            {selected.type === 'file' && (
              <Button small onClick={() => void download(selected)} busy={busy}>
                Download
              </Button>
            )}
            <Button small className="danger-text" onClick={() => setConfirm(selected)}>
              Delete
            </Button>
          </div>
        )}
        <Button small onClick={() => void downloadAll()} busy={busy} title="Download the whole workspace as .tar.gz">
          Download all
        </Button>
      </div>
      {confirm && (
        <ConfirmDialog
          title={`Delete ${confirm.path}?`}
          confirmLabel="Delete"
          danger
          busy={busy}
          error={error}
          onCancel={() => setConfirm(null)}
          onConfirm={() => void remove(confirm)}
        >
          <p>{confirm.type === 'dir' ? 'The folder and everything in it will be deleted.' : 'The file will be deleted.'}</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
