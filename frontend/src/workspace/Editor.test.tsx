import { createRef } from 'react';
import { describe, expect, it, vi } from 'vitest';
import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { EditorView } from '@codemirror/view';
import { Editor, type EditorHandle } from './Editor';
import type { WorkspaceClient } from '../api';

function fakeClient(files: Record<string, string>) {
  const disk = { ...files };
  const client = {
    read: vi.fn(async (p: string) => {
      if (!(p in disk)) throw new Error(`no such file: ${p}`);
      return disk[p];
    }),
    write: vi.fn(async (p: string, c: string) => {
      disk[p] = c;
    }),
  };
  return { client: client as unknown as WorkspaceClient, disk, mock: client };
}

function editorView(container: HTMLElement): EditorView {
  const el = container.querySelector('.cm-editor') as HTMLElement;
  const v = EditorView.findFromDOM(el);
  if (!v) throw new Error('no editor view');
  return v;
}

function tab(container: HTMLElement, path: string) {
  return container.querySelector(`.tab[data-path="${path}"]`) as HTMLElement;
}

describe('Editor', () => {
  it('marks unsaved changes and saves with Ctrl-S', async () => {
    const { client, disk, mock } = fakeClient({ 'main.py': 'print(1)\n' });
    const ref = createRef<EditorHandle>();
    const { container } = render(<Editor client={client} handleRef={ref} />);
    await act(() => ref.current!.open('main.py'));
    expect(tab(container, 'main.py')).toHaveAttribute('data-dirty', 'false');
    const view = editorView(container);
    expect(view.state.doc.toString()).toBe('print(1)\n');

    act(() => view.dispatch({ changes: { from: 0, insert: '# hi\n' } }));
    expect(tab(container, 'main.py')).toHaveAttribute('data-dirty', 'true');
    expect(screen.getByLabelText('unsaved changes')).toBeInTheDocument();

    // Typing it back to the saved text clears the marker.
    act(() => view.dispatch({ changes: { from: 0, to: 5 } }));
    expect(tab(container, 'main.py')).toHaveAttribute('data-dirty', 'false');

    act(() => view.dispatch({ changes: { from: 0, insert: 'x = 2\n' } }));
    fireEvent.keyDown(view.contentDOM, { key: 's', code: 'KeyS', ctrlKey: true });
    await waitFor(() => expect(mock.write).toHaveBeenCalledWith('main.py', 'x = 2\nprint(1)\n'));
    await waitFor(() => expect(tab(container, 'main.py')).toHaveAttribute('data-dirty', 'false'));
    expect(disk['main.py']).toBe('x = 2\nprint(1)\n');
  });

  it('keeps several files open and reloads a clean file from disk when reopened', async () => {
    const { client, disk } = fakeClient({ 'a.txt': 'A', 'b.txt': 'B' });
    const ref = createRef<EditorHandle>();
    const { container } = render(<Editor client={client} handleRef={ref} />);
    await act(() => ref.current!.open('a.txt'));
    await act(() => ref.current!.open('b.txt'));
    expect(container.querySelectorAll('.tab')).toHaveLength(2);
    expect(editorView(container).state.doc.toString()).toBe('B');

    disk['a.txt'] = 'A changed in the terminal';
    await act(() => ref.current!.open('a.txt'));
    expect(editorView(container).state.doc.toString()).toBe('A changed in the terminal');
  });

  it('does not overwrite unsaved edits when reopened', async () => {
    const { client, disk } = fakeClient({ 'a.txt': 'A' });
    const ref = createRef<EditorHandle>();
    const { container } = render(<Editor client={client} handleRef={ref} />);
    await act(() => ref.current!.open('a.txt'));
    act(() => editorView(container).dispatch({ changes: { from: 1, insert: '!' } }));
    disk['a.txt'] = 'other';
    await act(() => ref.current!.open('a.txt'));
    expect(editorView(container).state.doc.toString()).toBe('A!');
    expect(tab(container, 'a.txt')).toHaveAttribute('data-dirty', 'true');
  });

  it("shows the server's message when a save fails", async () => {
    const { client, mock } = fakeClient({ 'a.txt': 'A' });
    mock.write.mockRejectedValueOnce(new Error('disk quota exceeded'));
    const ref = createRef<EditorHandle>();
    const { container } = render(<Editor client={client} handleRef={ref} />);
    await act(() => ref.current!.open('a.txt'));
    act(() => editorView(container).dispatch({ changes: { from: 1, insert: '!' } }));
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Could not save a.txt: Disk quota exceeded.');
    expect(tab(container, 'a.txt')).toHaveAttribute('data-dirty', 'true');
  });

  it('brings the open tabs back after a reload, without a file deleted since', async () => {
    const { client, disk } = fakeClient({ 'a.txt': 'A', 'b.txt': 'B', 'c.txt': 'C' });
    const ref = createRef<EditorHandle>();
    const first = render(<Editor client={client} handleRef={ref} storageKey="w1.3" />);
    await act(() => ref.current!.open('a.txt'));
    await act(() => ref.current!.open('c.txt'));
    await act(() => ref.current!.open('b.txt'));
    await act(() => ref.current!.open('c.txt'));
    first.unmount();

    delete disk['b.txt'];
    const { container } = render(<Editor client={client} storageKey="w1.3" />);
    await waitFor(() => expect(Array.from(container.querySelectorAll('.tab')).map((t) => t.getAttribute('data-path'))).toEqual(['a.txt', 'c.txt']));
    await waitFor(() => expect(container.querySelector('.tab.active')).toHaveAttribute('data-path', 'c.txt'));
    expect(editorView(container).state.doc.toString()).toBe('C');

    // Another seat has its own tabs.
    const other = render(<Editor client={client} storageKey="w1.4" />);
    expect(other.container.querySelectorAll('.tab')).toHaveLength(0);
  });
});
