// The learner's workspace: terminal tabs, file tree, editor and lab guide in
// resizable panels (layout remembered). Loaded lazily from the join page.
import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { LearnerLabClient, PreviewClient, WorkspaceClient, labBase, type JoinResult, type LearnerLab } from '../api';
import type { JoinSession } from '../joinSession';
import { Split } from '../components/Split';
import { Markdown } from '../components/Markdown';
import { Brand } from '../components/TopBar';
import { TerminalTabs, type TerminalTabsHandle } from '../terminal/TerminalTabs';
import { FileTree, TreeNudge } from './FileTree';
import type { EditorHandle } from './Editor';
import { Spinner } from '../components/ui';
import { MachineRestarted } from './MachineRestarted';
import { RestoredNotice } from './RestoredNotice';
import { EndCountdown, EndedNotice, type Ending } from './EndOfClass';
import { BroadcastBanner, LabGuide, SetupBanner, WatchedBanner } from './LabGuide';
import { useLearnerLive } from './useLearnerLive';
import { useLearnerLab } from './useLearnerLab';
import { PreviewDock, usePreviewDock } from './preview/PreviewDock';

// CodeMirror is big: the terminal comes up first, the editor right after.
const Editor = lazy(() => import('./Editor').then((m) => ({ default: m.Editor })));
import { useStoredState } from '../hooks';
import { isPanelKey, isSaveKey, panelForKey, type Panel } from './keys';

// How often the workspace asks whether the class goes on.
const CHECK_EVERY_MS = 15_000;

function focusPanel(which: Panel, term: TerminalTabsHandle | null, editor: EditorHandle | null) {
  if (which === 'terminal') term?.focus();
  else if (which === 'editor') editor?.focus();
  else if (which === 'files') document.querySelector<HTMLElement>('.file-tree [data-tree-item], .file-tree button')?.focus();
  else if (which === 'guide') document.querySelector<HTMLElement>('.guide-panel')?.focus();
}

export function GuidePanel({
  guide,
  onRun,
  onHide,
  lab,
}: {
  guide: string;
  onRun: (cmd: string) => void;
  onHide?: () => void;
  lab?: { lab: LearnerLab; client: LearnerLabClient; onChange: () => void } | null;
}) {
  return (
    <section className="guide" aria-label="Lab guide">
      <div className="panel-bar">
        <span className="panel-title">Lab guide</span>
        {onHide && (
          <button type="button" className="btn btn-small btn-ghost" onClick={onHide} aria-label="Hide the lab guide">
            Hide
          </button>
        )}
      </div>
      <div className="guide-panel" tabIndex={-1}>
        {lab ? (
          <LabGuide lab={lab.lab} client={lab.client} onRun={onRun} onChange={lab.onChange} />
        ) : guide.trim() ? (
          <Markdown source={guide} onRun={onRun} />
        ) : (
          <p className="muted">Your instructor has not written a lab guide.</p>
        )}
      </div>
    </section>
  );
}

export default function Workspace({ session, initial }: { session: JoinSession; initial: JoinResult }) {
  const [info, setInfo] = useState<JoinResult>(initial);
  const [fatal, setFatal] = useState<string | null>(session.fatal);
  useEffect(() => {
    const off = session.onFatal(setFatal);
    return () => {
      off();
    };
  }, [session]);
  useEffect(() => {
    const off = session.onUpdate((r) => setInfo(r));
    return () => {
      off();
    };
  }, [session]);
  const [ending, setEnding] = useState<Ending | null>(session.ending);
  useEffect(() => {
    const off = session.onEnded(setEnding);
    // A stop by the instructor closes the seat; ask now and then so the
    // learner is told why rather than left reconnecting.
    const t = setInterval(() => void session.check(), CHECK_EVERY_MS);
    return () => {
      off();
      clearInterval(t);
    };
  }, [session]);
  const endpoints = initial.endpoints!;
  const client = useMemo(() => new WorkspaceClient(endpoints, (refresh) => session.getToken(refresh)), [endpoints, session]);
  const labClient = useMemo(
    () => new LearnerLabClient(labBase(endpoints.terminal), (refresh) => session.getToken(refresh)),
    [endpoints, session],
  );
  const previewClient = useMemo(() => new PreviewClient(endpoints.terminal, (refresh) => session.getToken(refresh)), [endpoints, session]);
  const dock = usePreviewDock(previewClient);
  const { lab, refresh: refreshLab } = useLearnerLab(labClient);
  const { live, guide: liveGuide } = useLearnerLive(labClient);
  // A new lab version (the instructor edited the lab): fetch its steps now.
  const labVersion = live?.lab_version;
  useEffect(() => {
    if (labVersion !== undefined) void refreshLab();
  }, [labVersion, refreshLab]);
  const term = useRef<TerminalTabsHandle | null>(null);
  const editor = useRef<EditorHandle | null>(null);
  const pendingOpen = useRef<string | null>(null);
  const setTerm = useCallback((h: TerminalTabsHandle | null) => {
    term.current = h;
  }, []);
  const setEditor = useCallback((h: EditorHandle | null) => {
    editor.current = h;
    if (h && pendingOpen.current) {
      void h.open(pendingOpen.current);
      pendingOpen.current = null;
    }
  }, []);
  const openFile = useCallback((p: string) => {
    if (editor.current) void editor.current.open(p);
    else pendingOpen.current = p;
  }, []);
  const [showGuide, setShowGuide] = useStoredState<boolean>('clarateach.layout.guide', true);
  // A command run in the terminal may have changed files: the tree looks again soon.
  const nudge = useMemo(() => new TreeNudge(), []);
  const onEnter = useCallback(() => nudge.nudge(), [nudge]);
  // The lab's setup put files in the home: the tree looks again.
  const setupStatus = live?.setup?.status;
  useEffect(() => {
    if (setupStatus === 'done') nudge.nudge();
  }, [setupStatus, nudge]);
  const [mobilePanel, setMobilePanel] = useState<Panel>('terminal');

  const run = useCallback((cmd: string) => {
    setMobilePanel('terminal');
    term.current?.run(cmd);
  }, []);

  const passKey = useCallback((e: KeyboardEvent) => isPanelKey(e), []);

  // Ctrl/Cmd-S saves the editor's file from anywhere but the terminal (which
  // handles its own keys: nano uses Ctrl-S) and the editor (its own keymap).
  useEffect(() => {
    const onSave = (e: KeyboardEvent) => {
      if (!isSaveKey(e)) return;
      e.preventDefault();
      void editor.current?.save();
    };
    window.addEventListener('keydown', onSave);
    return () => window.removeEventListener('keydown', onSave);
  }, []);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const which = panelForKey(e);
      if (!which) return;
      e.preventDefault();
      if (which === 'guide' && !showGuide) setShowGuide(true);
      setMobilePanel(which);
      requestAnimationFrame(() => focusPanel(which, term.current, editor.current));
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [showGuide, setShowGuide]);

  const guide = liveGuide ?? info.workshop.lab_guide ?? '';
  const storageKey = `${info.workshop.id}.${info.seat ?? 0}`;

  const files = (
    <FileTree
      client={client}
      onOpen={(p) => {
        setMobilePanel('editor');
        openFile(p);
      }}
      onRenamed={(a, b) => editor.current?.renamed(a, b)}
      onRemoved={(p) => editor.current?.removed(p)}
      nudge={nudge}
    />
  );
  const editorPanel = (
    <Suspense
      fallback={
        <section className="editor" aria-label="Editor">
          <Spinner label="Loading the editor…" />
        </section>
      }
    >
      <Editor client={client} handleRef={setEditor} storageKey={storageKey} />
    </Suspense>
  );
  const terminal = fatal ? (
    <section className="terminal-tabs" aria-label="Terminal">
      <p className="muted pad">The terminal is closed: {fatal}</p>
    </section>
  ) : (
    <TerminalTabs
      client={client}
      storageKey={storageKey}
      autoFocus
      passKey={passKey}
      handleRef={setTerm}
      onEnter={onEnter}
    />
  );
  const guidePanel = (
    <GuidePanel
      guide={guide}
      onRun={run}
      onHide={() => setShowGuide(false)}
      lab={lab ? { lab, client: labClient, onChange: () => void refreshLab() } : null}
    />
  );

  const work = (
    <Split
      storageKey="ws.center"
      direction="vertical"
      initial={45}
      min={10}
      max={85}
      label="Resize editor and terminal"
      first={editorPanel}
      second={terminal}
    />
  );
  const main = (
    <Split
      storageKey="ws.left"
      initial={20}
      min={10}
      max={40}
      label="Resize file list"
      first={<PreviewDock.Left dock={dock} files={files} />}
      second={<PreviewDock.Center dock={dock} work={work} />}
    />
  );

  if (ending) {
    return (
      <main className="page narrow">
        <EndedNotice ending={ending} accessCode={session.accessCode} />
      </main>
    );
  }

  return (
    <div className={`workspace mobile-${mobilePanel}`} data-testid="workspace">
      <header className="topbar workspace-bar">
        <Brand />
        <div className="workspace-title">
          <strong>{info.workshop.name}</strong>
          {info.seat !== undefined && <span className="muted small">Seat {info.seat}</span>}
        </div>
        <nav className="mobile-tabs" aria-label="Panels">
          {(['terminal', 'editor', 'files', 'guide'] as const).map((p) => (
            <button key={p} type="button" aria-pressed={mobilePanel === p} onClick={() => setMobilePanel(p)}>
              {p[0].toUpperCase() + p.slice(1)}
            </button>
          ))}
        </nav>
        <div className="btn-row tight">
          {info.workshop.ends_at && <EndCountdown endsAt={info.workshop.ends_at} accessCode={session.accessCode} />}
          {!showGuide && (
            <button type="button" className="btn btn-small" onClick={() => setShowGuide(true)}>
              Show lab guide
            </button>
          )}
          <span className="muted small kbd-hint" title="Alt+1 files · Alt+2 editor · Alt+3 terminal · Alt+4 guide">
            Alt+1–4 to move between panels
          </span>
        </div>
      </header>
      {fatal && (
        <div className="error-box workspace-fatal" role="alert">
          <span>{fatal}</span>
          <a href="/" className="btn btn-small">
            Start page
          </a>
        </div>
      )}
      <MachineRestarted restartedAt={info.restarted_at} seenAtLoad={initial.restarted_at} />
      <RestoredNotice restoredFrom={info.restored_from} />
      <BroadcastBanner lab={lab} />
      <WatchedBanner by={live?.watched_by ?? lab?.watched_by} typing={live ? live.typing : lab?.typing} />
      <PreviewDock.Toasts dock={dock} />
      <SetupBanner setup={live?.setup} />
      <div className="workspace-body">
        {showGuide ? (
          <Split storageKey="ws.guide" initial={72} min={40} max={90} label="Resize lab guide" first={main} second={guidePanel} />
        ) : (
          main
        )}
      </div>
    </div>
  );
}
