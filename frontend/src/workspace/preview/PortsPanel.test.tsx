import { describe, expect, it, vi } from 'vitest';
import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { PortToasts, PortsPanel } from './PortsPanel';
import { newPorts, usePorts } from './usePorts';
import type { ListeningPort, PreviewClient, PreviewShare } from '../../api';

const port = (p: number): ListeningPort => ({ port: p, addresses: ['0.0.0.0'] });

function fakeClient() {
  let shares: PreviewShare[] = [];
  const mock = {
    shares: vi.fn(async () => shares),
    share: vi.fn(async (p: number) => {
      const sh = { id: `s${p}`, port: p, origin: `http://${p}-1-w.localhost:8081`, created_at: '2026-12-05T07:00:00Z' };
      shares = [...shares, sh];
      return { ...sh, url: `${sh.origin}/__clarateach/share/${sh.id}/secret` };
    }),
    revokeShare: vi.fn(async (id: string) => {
      shares = shares.filter((s) => s.id !== id);
    }),
    open: vi.fn(),
  };
  return { client: mock as unknown as PreviewClient, mock };
}

describe('PortsPanel', () => {
  it('says nothing listens yet, then lists the ports with their actions', async () => {
    const { client } = fakeClient();
    const onShow = vi.fn();
    const { rerender } = render(<PortsPanel client={client} ports={[]} opening={null} error={null} onShow={onShow} />);
    await act(async () => {});
    expect(screen.getByText(/Nothing is listening yet/)).toBeTruthy();
    rerender(<PortsPanel client={client} ports={[port(3000), port(8000)]} opening={null} error={null} onShow={onShow} />);
    fireEvent.click(screen.getByRole('button', { name: 'Show port 8000 beside the editor' }));
    expect(onShow).toHaveBeenCalledWith(8000);
    expect(screen.getByRole('button', { name: 'Open port 3000 in a new tab' })).toBeTruthy();
  });

  it('makes a share link, shows it once, and revokes it', async () => {
    const { client, mock } = fakeClient();
    render(<PortsPanel client={client} ports={[port(8000)]} opening={null} error={null} onShow={() => {}} />);
    fireEvent.click(screen.getByRole('button', { name: 'Make a share link for port 8000' }));
    const link = (await screen.findByRole('textbox', { name: 'Share link for port 8000' })) as HTMLInputElement;
    expect(link.value).toBe('http://8000-1-w.localhost:8081/__clarateach/share/s8000/secret');
    fireEvent.click(await screen.findByRole('button', { name: /Revoke the share link of port 8000/ }));
    await waitFor(() => expect(screen.queryByRole('textbox', { name: 'Share link for port 8000' })).toBeNull());
    expect(mock.revokeShare).toHaveBeenCalledWith('s8000');
    expect(screen.queryByRole('button', { name: /Revoke/ })).toBeNull();
  });

  it('shows why a preview did not open', async () => {
    const { client } = fakeClient();
    render(<PortsPanel client={client} ports={[port(8000)]} opening={null} error="Previews are off on this server." onShow={() => {}} />);
    await act(async () => {});
    expect(screen.getByRole('alert').textContent).toContain('Previews are off');
  });
});

describe('port toasts', () => {
  it('names the port; Open opens it and the toast goes', () => {
    const onOpen = vi.fn();
    const onDismiss = vi.fn();
    render(<PortToasts fresh={[3000]} onOpen={onOpen} onDismiss={onDismiss} />);
    expect(screen.getByTestId('port-toast').textContent).toContain('Your app on port 3000 is ready');
    fireEvent.click(screen.getByRole('button', { name: 'Open' }));
    expect(onOpen).toHaveBeenCalledWith(3000);
    expect(onDismiss).toHaveBeenCalledWith(3000);
  });

  it('newPorts leaves out what was already running and what was seen', () => {
    expect(newPorts(null, [port(22), port(8000)])).toEqual([]);
    expect(newPorts(new Set([22]), [port(22), port(8000)])).toEqual([8000]);
  });

  it('usePorts toasts a port that starts listening, and drops the toast when it stops', async () => {
    let push: (p: ListeningPort[]) => void = () => {};
    const client = {
      watchPorts: vi.fn((onPorts: (p: ListeningPort[]) => void, signal: AbortSignal) => {
        push = onPorts;
        return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      }),
    } as unknown as PreviewClient;
    let state: ReturnType<typeof usePorts> | null = null;
    function Probe() {
      state = usePorts(client);
      return null;
    }
    const { unmount } = render(<Probe />);
    await waitFor(() => expect(client.watchPorts).toHaveBeenCalled());
    act(() => push([port(22)]));
    expect(state!.ports?.map((p) => p.port)).toEqual([22]);
    expect(state!.fresh).toEqual([]);
    act(() => push([port(22), port(5173)]));
    expect(state!.fresh).toEqual([5173]);
    act(() => push([port(22)]));
    expect(state!.fresh).toEqual([]);
    unmount();
  });
});
