// The terminal's settings menu: text size and colour theme.
import { useCallback, useState } from 'react';
import { FONT_SIZES, SETTINGS_KEY, clampFontSize, parseSettings, type TerminalSettings } from './settings';

function read(): TerminalSettings {
  try {
    return parseSettings(localStorage.getItem(SETTINGS_KEY));
  } catch {
    return parseSettings(null);
  }
}

/** The terminal settings of this browser, remembered across reloads and seats. */
export function useTerminalSettings(): [TerminalSettings, (s: TerminalSettings) => void] {
  const [settings, setSettings] = useState<TerminalSettings>(read);
  const set = useCallback((s: TerminalSettings) => {
    setSettings(s);
    try {
      localStorage.setItem(SETTINGS_KEY, JSON.stringify(s));
    } catch {
      /* storage full or disabled */
    }
  }, []);
  return [settings, set];
}

/** The settings row under the terminal's tab bar (shown by its "Aa" button). */
export function TerminalSettingsPanel({ settings, onChange }: { settings: TerminalSettings; onChange: (s: TerminalSettings) => void }) {
  const size = (d: number) => onChange({ ...settings, fontSize: clampFontSize(settings.fontSize + d) });
  return (
    <div className="term-settings" role="group" aria-label="Terminal settings" id="term-settings">
      <span>Text size</span>
      <button type="button" className="btn btn-small" aria-label="Smaller text" disabled={settings.fontSize <= FONT_SIZES.min} onClick={() => size(-1)}>
        A−
      </button>
      <output aria-label="Text size in pixels" data-testid="term-font-size">
        {settings.fontSize}
      </output>
      <button type="button" className="btn btn-small" aria-label="Larger text" disabled={settings.fontSize >= FONT_SIZES.max} onClick={() => size(1)}>
        A+
      </button>
      <label>
        Theme{' '}
        <select value={settings.theme} onChange={(e) => onChange({ ...settings, theme: e.target.value === 'light' ? 'light' : 'dark' })}>
          <option value="dark">Dark</option>
          <option value="light">Light</option>
        </select>
      </label>
    </div>
  );
}
