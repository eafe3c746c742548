// The terminal's look, chosen by the person at the keyboard and remembered in
// this browser (localStorage): font size and colour theme. Plain functions
// (no DOM) so they are unit-tested in node (settings.test.ts).
import type { ITheme } from '@xterm/xterm';

export type TerminalThemeName = 'dark' | 'light';

export interface TerminalSettings {
  fontSize: number;
  theme: TerminalThemeName;
}

export const FONT_SIZES = { min: 10, max: 24, default: 14 } as const;
export const DEFAULT_SETTINGS: TerminalSettings = { fontSize: FONT_SIZES.default, theme: 'dark' };
export const SETTINGS_KEY = 'clarateach.terminal.settings';

/**
 * The bundled monospace font first (its underscores sit inside the cell at
 * every pixel density), the system's after it while it loads.
 */
export const TERMINAL_FONT = '"JetBrains Mono", ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace';
/** A little room below the baseline so descenders and underscores are never clipped. */
export const TERMINAL_LINE_HEIGHT = 1.15;

// Both palettes keep every ANSI colour at 4.5:1 or more on their background.
export const TERMINAL_THEMES: Record<TerminalThemeName, ITheme> = {
  dark: {
    background: '#1b1f24',
    foreground: '#e6e6e6',
    cursor: '#f0c674',
    cursorAccent: '#1b1f24',
    selectionBackground: '#3a4a5c',
    black: '#1b1f24',
    red: '#ff7b72',
    green: '#7ee787',
    yellow: '#e3b341',
    blue: '#79c0ff',
    magenta: '#d2a8ff',
    cyan: '#76e3ea',
    white: '#e6e6e6',
    brightBlack: '#8b949e',
    brightRed: '#ffa198',
    brightGreen: '#aff5b4',
    brightYellow: '#f8e3a1',
    brightBlue: '#a5d6ff',
    brightMagenta: '#e2c5ff',
    brightCyan: '#b3f0ff',
    brightWhite: '#ffffff',
  },
  light: {
    background: '#fbfbf9',
    foreground: '#1f2623',
    cursor: '#245749',
    cursorAccent: '#fbfbf9',
    selectionBackground: '#cfe3db',
    black: '#1f2623',
    red: '#b3261e',
    green: '#1e6b26',
    yellow: '#7a5200',
    blue: '#1f5fa8',
    magenta: '#8a3ea8',
    cyan: '#0b6570',
    white: '#5f6a65',
    brightBlack: '#5f6a65',
    brightRed: '#9c1f18',
    brightGreen: '#185a1f',
    brightYellow: '#684600',
    brightBlue: '#184f8c',
    brightMagenta: '#74338d',
    brightCyan: '#09545d',
    brightWhite: '#1f2623',
  },
};

export function clampFontSize(n: unknown): number {
  const v = typeof n === 'number' ? n : Number(n);
  if (!Number.isFinite(v)) return FONT_SIZES.default;
  return Math.min(FONT_SIZES.max, Math.max(FONT_SIZES.min, Math.round(v)));
}

/** Reads stored settings, repairing anything missing or out of range. */
export function parseSettings(raw: string | null): TerminalSettings {
  if (!raw) return { ...DEFAULT_SETTINGS };
  try {
    const v = JSON.parse(raw) as Partial<TerminalSettings> | null;
    return {
      fontSize: clampFontSize(v?.fontSize ?? FONT_SIZES.default),
      theme: v?.theme === 'light' ? 'light' : 'dark',
    };
  } catch {
    return { ...DEFAULT_SETTINGS };
  }
}
