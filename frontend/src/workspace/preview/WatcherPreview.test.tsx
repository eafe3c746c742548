import { describe, expect, it } from 'vitest';
import { render, screen, fireEvent, waitFor } from '@testing-library/react';
import { mockFetch } from '../../test/fetchMock';
import { WatcherPreview } from './WatcherPreview';
import type { WorkspaceClient } from '../../api';

describe('WatcherPreview', () => {
  it("lists the learner's ports and shows one beside the terminal with the watcher's seat token", async () => {
    const base = '/api/workspaces/ws1/2';
    const { calls } = mockFetch({
      [`GET ${base}/ports?watch=1`]: () => ({ text: 'event: ports\ndata: {"ports":[{"port":5173,"addresses":["127.0.0.1"]}]}\n\n' }),
      [`POST ${base}/preview`]: () => ({
        body: { url: 'http://5173-2-ws1.localhost:8081/__clarateach/open?t=x', origin: 'http://5173-2-ws1.localhost:8081', expires_at: '' },
      }),
    });
    const client = { token: async () => 'seat-token' } as unknown as WorkspaceClient;
    render(
      <WatcherPreview workshopId="ws1" seat={2} client={client}>
        <div>terminal</div>
      </WatcherPreview>,
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Preview port 5173 beside the terminal' }));
    const frame = (await screen.findByTitle('Your app on port 5173')) as HTMLIFrameElement;
    expect(frame.src).toBe('http://5173-2-ws1.localhost:8081/__clarateach/open?t=x');
    expect(frame.getAttribute('sandbox')).not.toContain('allow-top-navigation');
    expect(screen.getByText('terminal')).toBeTruthy();
    await waitFor(() => expect(calls.find((c) => c.method === 'POST')?.headers.Authorization).toBe('Bearer seat-token'));
    fireEvent.click(screen.getByRole('button', { name: 'Close the preview' }));
    expect(screen.queryByTitle('Your app on port 5173')).toBeNull();
  });
});
