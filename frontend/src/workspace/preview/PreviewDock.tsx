// Where previews live in the workspace: the ports panel under the file tree,
// the preview pane beside the editor and terminal, and the toasts of ports
// that started listening. One hook holds their state (usePreviewDock).
import { useState, type ReactNode } from 'react';
import type { PreviewClient } from '../../api';
import { Split } from '../../components/Split';
import { PortToasts, PortsPanel } from './PortsPanel';
import { PreviewPane } from './PreviewPane';
import { usePorts, type PortsState } from './usePorts';
import { openInTab, previewError, usePreview, type PreviewState } from './usePreview';
import './preview.css';

export interface Dock {
  client: PreviewClient;
  ports: PortsState;
  preview: PreviewState;
  /** A failure to open a new tab from the pane. */
  tabError: string | null;
  setTabError: (e: string | null) => void;
}

export function usePreviewDock(client: PreviewClient): Dock {
  const ports = usePorts(client);
  const preview = usePreview(client);
  const [tabError, setTabError] = useState<string | null>(null);
  return { client, ports, preview, tabError, setTabError };
}

/** The file tree above the ports panel. */
function Left({ dock, files }: { dock: Dock; files: ReactNode }) {
  const { preview } = dock;
  return (
    <Split
      storageKey="ws.ports"
      direction="vertical"
      initial={70}
      min={25}
      max={90}
      label="Resize file list and ports"
      first={files}
      second={
        <PortsPanel
          client={dock.client}
          ports={dock.ports.ports}
          shown={preview.preview?.port}
          opening={preview.opening}
          error={preview.preview ? null : preview.error}
          onShow={(p) => void preview.show(p)}
        />
      }
    />
  );
}

/** The editor and terminal, with the preview beside them when one is open. */
function Center({ dock, work }: { dock: Dock; work: ReactNode }) {
  const { preview: p } = dock;
  const current = p.preview;
  return (
    <Split
      storageKey="ws.preview"
      initial={55}
      min={20}
      max={85}
      label="Resize the preview"
      solo={!current}
      first={work}
      second={
        current && (
          <PreviewPane
            preview={current}
            busy={p.opening !== null}
            error={p.error ?? dock.tabError}
            onReload={() => void p.show(current.port)}
            onNewTab={() => {
              dock.setTabError(null);
              openInTab(dock.client, current.port).catch((err) => dock.setTabError(previewError(err)));
            }}
            onClose={p.close}
          />
        )
      }
    />
  );
}

function Toasts({ dock }: { dock: Dock }) {
  return <PortToasts fresh={dock.ports.fresh} onOpen={(port) => void dock.preview.show(port)} onDismiss={dock.ports.dismiss} />;
}

export const PreviewDock = { Left, Center, Toasts };
