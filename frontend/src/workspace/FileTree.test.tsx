import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { FileTree, TreeNudge } from './FileTree';
import type { FileEntry, WorkspaceClient } from '../api';

function fakeFs() {
  const files = new Map<string, string>([['README.md', '# hi'], ['src/main.py', 'print(1)']]);
  const dirs = new Set(['src']);
  const entries = (dir: string): FileEntry[] => {
    const prefix = dir === '.' || dir === '' ? '' : `${dir}/`;
    const names = new Set<string>();
    const out: FileEntry[] = [];
    for (const p of [...files.keys(), ...dirs]) {
      if (!p.startsWith(prefix)) continue;
      const name = p.slice(prefix.length).split('/')[0];
      if (!name || names.has(name)) continue;
      names.add(name);
      const path = prefix + name;
      out.push({ name, path, type: dirs.has(path) ? 'dir' : 'file', size: files.get(path)?.length ?? 0, mtime: '' });
    }
    return out;
  };
  const client = {
    list: vi.fn(async (dir: string) => ({ path: dir, entries: entries(dir) })),
    write: vi.fn(async (p: string, c: string) => void files.set(p, c)),
    mkdir: vi.fn(async (p: string) => void dirs.add(p)),
    rename: vi.fn(async (a: string, b: string) => {
      files.set(b, files.get(a) ?? '');
      files.delete(a);
    }),
    remove: vi.fn(async (p: string) => {
      if (p === 'README.md') throw new Error('permission denied');
      files.delete(p);
    }),
  };
  return { client: client as unknown as WorkspaceClient, mock: client, files };
}

describe('FileTree', () => {
  it('lists, expands folders, and creates a file that opens in the editor', async () => {
    const user = userEvent.setup();
    const { client, mock, files } = fakeFs();
    const onOpen = vi.fn();
    render(<FileTree client={client} onOpen={onOpen} />);
    const tree = await screen.findByRole('tree', { name: 'Files' });
    expect(within(tree).getAllByRole('treeitem').map((i) => i.querySelector('button')?.textContent)).toEqual(['▸src', '·README.md']);
    await user.click(within(tree).getByRole('button', { name: /src/ }));
    expect(await within(tree).findByRole('button', { name: /main\.py/ })).toBeInTheDocument();
    // With the folder selected, a new file goes into it.
    await user.click(screen.getByRole('button', { name: 'New file' }));
    await user.type(screen.getByLabelText('File name'), 'util.py{Enter}');
    await waitFor(() => expect(onOpen).toHaveBeenCalledWith('src/util.py'));
    expect(mock.write).toHaveBeenCalledWith('src/util.py', '');
    expect(files.has('src/util.py')).toBe(true);
  });

  it('renames with F2 and reports a failed delete', async () => {
    const user = userEvent.setup();
    const { client, mock } = fakeFs();
    const onRenamed = vi.fn();
    render(<FileTree client={client} onOpen={() => undefined} onRenamed={onRenamed} />);
    const readme = await screen.findByRole('button', { name: /README\.md/ });
    readme.focus();
    await user.keyboard('{F2}');
    const input = screen.getByLabelText('New name');
    await user.clear(input);
    await user.type(input, 'NOTES.md{Enter}');
    await waitFor(() => expect(onRenamed).toHaveBeenCalledWith('README.md', 'NOTES.md'));
    expect(mock.rename).toHaveBeenCalledWith('README.md', 'NOTES.md');

    const src = screen.getByRole('button', { name: /src/ });
    src.focus();
    await user.keyboard('{Delete}');
    const dialog = screen.getByRole('dialog');
    expect(dialog).toHaveTextContent('The folder and everything in it will be deleted.');
    await user.click(within(dialog).getByRole('button', { name: 'Delete' }));
    await waitFor(() => expect(mock.remove).toHaveBeenCalledWith('src'));
  });

  it("shows the server's message when an action fails", async () => {
    const user = userEvent.setup();
    const { client } = fakeFs();
    render(<FileTree client={client} onOpen={() => undefined} />);
    const readme = await screen.findByRole('button', { name: /README\.md/ });
    readme.focus();
    await user.keyboard('{Delete}');
    await user.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Delete' }));
    expect(await within(screen.getByRole('dialog')).findByRole('alert')).toHaveTextContent('Permission denied.');
  });

  it('shows a file made in the terminal without a click', async () => {
    const { client, files } = fakeFs();
    render(<FileTree client={client} onOpen={() => undefined} poll={{ min: 20, max: 40 }} />);
    await screen.findByRole('button', { name: /README\.md/ });
    files.set('made_in_terminal.txt', 'x');
    expect(await screen.findByRole('button', { name: /made_in_terminal\.txt/ })).toBeInTheDocument();
  });

  it('looks again soon after a command runs, even when it had slowed down', async () => {
    const { client, files, mock } = fakeFs();
    const nudge = new TreeNudge();
    // The tree polls every 60 s, past the 10 s the find below waits: only
    // the nudge can show the file in time.
    render(<FileTree client={client} onOpen={() => undefined} nudge={nudge} poll={{ min: 60_000, max: 60_000 }} />);
    await screen.findByRole('button', { name: /README\.md/ });
    const before = mock.list.mock.calls.length;
    files.set('after_enter.txt', 'x');
    nudge.nudge();
    expect(await screen.findByRole('button', { name: /after_enter\.txt/ })).toBeInTheDocument();
    expect(mock.list.mock.calls.length).toBeGreaterThan(before);
  });

  it('uploads files dropped on it, into the folder they are dropped on', async () => {
    const { client, mock } = fakeFs();
    render(<FileTree client={client} onOpen={() => undefined} />);
    const tree = await screen.findByRole('tree', { name: 'Files' });
    const file = new File(['dropped'], 'dropped.txt', { type: 'text/plain' });
    const dataTransfer = { files: [file], types: ['Files'], dropEffect: 'none' };
    fireEvent.dragOver(tree, { dataTransfer });
    expect(tree.closest('.file-tree')).toHaveClass('drop-target');
    fireEvent.drop(tree, { dataTransfer });
    await waitFor(() => expect(mock.write).toHaveBeenCalledWith('dropped.txt', file));
    fireEvent.drop(within(tree).getByRole('button', { name: /src/ }), { dataTransfer });
    await waitFor(() => expect(mock.write).toHaveBeenCalledWith('src/dropped.txt', file));
    expect(tree.closest('.file-tree')).not.toHaveClass('drop-target');
  });
});
