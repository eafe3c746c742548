// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, TERMINAL_THEMES, clampFontSize, parseSettings } from './settings';
import { contrastRatio } from '../contrast';

describe('terminal settings', () => {
  it('reads what was stored and repairs the rest', () => {
    expect(parseSettings(null)).toEqual(DEFAULT_SETTINGS);
    expect(parseSettings('{"fontSize":18,"theme":"light"}')).toEqual({ fontSize: 18, theme: 'light' });
    expect(parseSettings('{"fontSize":99,"theme":"neon"}')).toEqual({ fontSize: 24, theme: 'dark' });
    expect(parseSettings('not json')).toEqual(DEFAULT_SETTINGS);
    expect(clampFontSize('3')).toBe(10);
    expect(clampFontSize(NaN)).toBe(14);
  });

  it('keeps every colour of both themes at 4.5:1 on its background', () => {
    for (const [name, t] of Object.entries(TERMINAL_THEMES)) {
      const bg = t.background!;
      const colours = ['foreground', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'brightBlack', 'brightRed', 'brightGreen', 'brightYellow', 'brightBlue', 'brightMagenta', 'brightCyan'] as const;
      for (const c of colours) {
        const ratio = contrastRatio(t[c]!, bg);
        expect(ratio, `${name} ${c} ${t[c]} on ${bg}`).toBeGreaterThanOrEqual(4.5);
      }
    }
  });
});
