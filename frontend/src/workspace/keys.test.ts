// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { isPanelKey, isPasteKey, isSaveKey, panelForKey } from './keys';

const key = (k: string, mods: { alt?: boolean; ctrl?: boolean; meta?: boolean } = {}, type = 'keydown') => ({
  key: k,
  altKey: !!mods.alt,
  ctrlKey: !!mods.ctrl,
  metaKey: !!mods.meta,
  type,
});

describe('workspace shortcuts', () => {
  it('Alt+1..4 pick files, editor, terminal, guide; nothing else does', () => {
    expect(['1', '2', '3', '4'].map((k) => panelForKey(key(k, { alt: true })))).toEqual(['files', 'editor', 'terminal', 'guide']);
    expect(panelForKey(key('1'))).toBeNull();
    expect(panelForKey(key('5', { alt: true }))).toBeNull();
    expect(panelForKey(key('1', { alt: true, ctrl: true }))).toBeNull();
    expect(panelForKey(key('1', { alt: true }, 'keyup'))).toBeNull();
    expect(panelForKey(key('toString', { alt: true }))).toBeNull();
  });

  it('the terminal passes panel shortcuts on and types everything else', () => {
    expect(isPanelKey(key('3', { alt: true }))).toBe(true);
    expect(isPanelKey(key('3'))).toBe(false);
    expect(isPanelKey(key('3', { alt: true, meta: true }))).toBe(false);
  });

  it('Ctrl-S and Cmd-S save, unless already handled or with Alt', () => {
    expect(isSaveKey(key('s', { ctrl: true }))).toBe(true);
    expect(isSaveKey(key('S', { meta: true }))).toBe(true);
    expect(isSaveKey(key('s'))).toBe(false);
    expect(isSaveKey(key('s', { ctrl: true, alt: true }))).toBe(false);
    expect(isSaveKey({ ...key('s', { ctrl: true }), defaultPrevented: true })).toBe(false);
  });

  it('Ctrl+V is a paste in the terminal (with or without Shift), not a ^V', () => {
    expect(isPasteKey(key('v', { ctrl: true }))).toBe(true);
    expect(isPasteKey(key('V', { ctrl: true }))).toBe(true);
    expect(isPasteKey(key('v'))).toBe(false);
    expect(isPasteKey(key('v', { ctrl: true, alt: true }))).toBe(false);
    expect(isPasteKey(key('c', { ctrl: true }))).toBe(false);
    expect(isPasteKey(key('v', { ctrl: true }, 'keyup'))).toBe(false);
  });
});
