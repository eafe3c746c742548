// The words a terminal tab shows for its connection's state.
import type { ConnState } from './connection';

export function connLabel(s: ConnState | undefined): string {
  switch (s) {
    case 'open':
      return 'Connected';
    case 'connecting':
      return 'Connecting…';
    case 'reconnecting':
      return 'Reconnecting…';
    case 'exited':
      return 'Session ended';
    case 'closed':
      return 'Closed';
    default:
      return 'Not connected';
  }
}
