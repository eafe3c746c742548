// Shared helpers of the browser end-to-end test and the bench: Debian's
// Chromium through playwright-core, and reading what an xterm.js terminal shows.
import { chromium } from 'playwright-core';
import { existsSync } from 'node:fs';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export function chromiumPath() {
  const p = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!existsSync(p)) {
    throw new Error(`Chromium not found at ${p} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
  }
  return p;
}

export async function launch() {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
}

/** The base URL without a trailing slash, or null. */
export function baseUrl() {
  const u = process.env.CLARATEACH_URL;
  return u ? u.replace(/\/+$/, '') : null;
}

/**
 * The text of the visible terminal inside `scope` (xterm's DOM renderer: one
 * element per row), with non-breaking spaces made plain.
 */
export async function terminalText(page, scope = 'body') {
  return page.evaluate((scope) => {
    const hosts = Array.from(document.querySelectorAll(`${scope} .terminal-host`)).filter(
      (h) => h.style.display !== 'none',
    );
    const rows = hosts[0]?.querySelector('.xterm-rows');
    if (!rows) return '';
    return Array.from(rows.children)
      .map((r) => (r.textContent || '').replace(/\u00a0/g, ' ').replace(/\s+$/, ''))
      .join('\n');
  }, scope);
}

/** Waits until the visible terminal in `scope` matches `re`; returns the match. */
export async function waitForTerminal(page, re, { scope = 'body', timeout = 15_000 } = {}) {
  const handle = await page.waitForFunction(
    ({ scope, source, flags }) => {
      const hosts = Array.from(document.querySelectorAll(`${scope} .terminal-host`)).filter(
        (h) => h.style.display !== 'none',
      );
      const rows = hosts[0]?.querySelector('.xterm-rows');
      if (!rows) return null;
      const text = Array.from(rows.children)
        .map((r) => (r.textContent || '').replace(/\u00a0/g, ' ').replace(/\s+$/, ''))
        .join('\n');
      const m = new RegExp(source, flags).exec(text);
      return m ? Array.from(m) : null;
    },
    { scope, source: re.source, flags: re.flags },
    { timeout, polling: 100 },
  );
  return handle.jsonValue();
}

/** A shell prompt on the last non-empty line: "... $ ", "# " or "> ". */
export const PROMPT = /[$#>%] ?$/;

export async function waitForPrompt(page, { scope = 'body', timeout = 15_000 } = {}) {
  await page.waitForFunction(
    (scope) => {
      const hosts = Array.from(document.querySelectorAll(`${scope} .terminal-host`)).filter(
        (h) => h.style.display !== 'none',
      );
      const rows = hosts[0]?.querySelector('.xterm-rows');
      if (!rows) return false;
      const lines = Array.from(rows.children)
        .map((r) => (r.textContent || '').replace(/\u00a0/g, ' ').replace(/\s+$/, ''))
        .filter((l) => l.trim() !== '');
      const last = lines[lines.length - 1] || '';
      return /[$#>%]$/.test(last.trimEnd());
    },
    scope,
    { timeout, polling: 20 },
  );
}
