// The workspace's keyboard shortcuts, as plain functions of a key event (no
// DOM: unit-tested in the node environment, keys.test.ts).

export type Panel = 'files' | 'editor' | 'terminal' | 'guide';

/** The modifier and key fields of a KeyboardEvent that the shortcuts read. */
export type KeyLike = Pick<KeyboardEvent, 'key' | 'altKey' | 'ctrlKey' | 'metaKey'> & { type?: string; defaultPrevented?: boolean };

// Alt+1..4 move focus between panels, even from inside the terminal.
const PANEL_KEYS: Record<string, Panel> = { '1': 'files', '2': 'editor', '3': 'terminal', '4': 'guide' };

/** The panel an Alt+digit keydown moves to, or null for any other key. */
export function panelForKey(e: KeyLike): Panel | null {
  if ((e.type ?? 'keydown') !== 'keydown' || !e.altKey || e.ctrlKey || e.metaKey) return null;
  return Object.hasOwn(PANEL_KEYS, e.key) ? PANEL_KEYS[e.key] : null;
}

/** Whether the terminal must pass the key on (a panel shortcut) instead of typing it. */
export function isPanelKey(e: KeyLike): boolean {
  return e.altKey && !e.ctrlKey && !e.metaKey && Object.hasOwn(PANEL_KEYS, e.key);
}

/** Ctrl/Cmd-S (not yet handled elsewhere): save the editor's file. */
export function isSaveKey(e: KeyLike): boolean {
  return !e.defaultPrevented && (e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === 's';
}

/**
 * Ctrl+V (and Ctrl+Shift+V) in the terminal: the browser's paste, not a
 * literal ^V. Cmd+V on a Mac is a paste already.
 */
export function isPasteKey(e: KeyLike): boolean {
  return (e.type ?? 'keydown') === 'keydown' && e.ctrlKey && !e.altKey && !e.metaKey && e.key.toLowerCase() === 'v';
}
