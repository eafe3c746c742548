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

/**
 * WCAG AA contrast of the text on the page (or under `scope`): each visible
 * element with text of its own, its computed colour over the first opaque
 * background behind it (translucent ones blended on the way). Disabled
 * controls, screen-reader-only text and the terminal's rows (its theme has
 * a test of its own) are left out. Returns the elements under 4.5:1 (3:1 for
 * large text) as readable lines.
 */
export async function contrastProblems(page, scope = 'body') {
  return page.evaluate((scope) => {
    const parse = (c) => {
      const m = /rgba?\(([^)]+)\)/.exec(c);
      if (!m) return null;
      const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return { rgb: p.slice(0, 3), a: p.length > 3 ? p[3] : 1 };
    };
    const over = (top, under) => top.rgb.map((v, i) => v * top.a + under[i] * (1 - top.a));
    const lum = (rgb) => {
      const l = rgb.map((v) => {
        const x = v / 255;
        return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
    };
    const background = (el) => {
      const layers = [];
      for (let e = el; e; e = e.parentElement) {
        const bg = parse(getComputedStyle(e).backgroundColor);
        if (bg && bg.a > 0) {
          layers.push(bg);
          if (bg.a >= 1) break;
        }
      }
      let rgb = [255, 255, 255];
      for (const l of layers.reverse()) rgb = over(l, rgb);
      return rgb;
    };
    const out = [];
    const root = document.querySelector(scope);
    if (!root) return [`no ${scope} on the page`];
    for (const el of root.querySelectorAll('*')) {
      const own = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
      if (!own) continue;
      if (el.closest('.xterm, .sr-only, [aria-hidden="true"], :disabled, .cm-editor, option, select')) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      const cs = getComputedStyle(el);
      if (cs.visibility === 'hidden' || Number(cs.opacity) === 0) continue;
      const fg = parse(cs.color);
      if (!fg) continue;
      const bg = background(el);
      const [hi, lo] = [lum(over(fg, bg)), lum(bg)].sort((a, b) => b - a);
      const ratio = (hi + 0.05) / (lo + 0.05);
      const size = parseFloat(cs.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) {
        const name = `${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : ''}`;
        out.push(`${name} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}:1 (${cs.color} on rgb(${bg.map(Math.round).join(', ')}), ${size}px)`);
      }
    }
    return out;
  }, scope);
}

/** The box of the first `ch` on the visible terminal row matching `re`, the row's full height. */
export async function charBox(page, re, ch, scope = 'body') {
  return page.evaluate(
    ({ scope, source, ch }) => {
      const hosts = Array.from(document.querySelectorAll(`${scope} .terminal-host`)).filter((h) => h.style.display !== 'none');
      const rows = hosts[0]?.querySelector('.xterm-rows');
      const row = Array.from(rows?.children ?? []).find((r) => new RegExp(source).test((r.textContent || '').replace(/\u00a0/g, ' ').trim()));
      if (!row) return null;
      const walker = document.createTreeWalker(row, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const i = n.textContent.indexOf(ch);
        if (i < 0) continue;
        const range = document.createRange();
        range.setStart(n, i);
        range.setEnd(n, i + 1);
        const c = range.getBoundingClientRect();
        const r = row.getBoundingClientRect();
        return { x: c.left, y: r.top, width: c.width, height: r.height };
      }
      return null;
    },
    { scope, source: re.source, ch },
  );
}

/**
 * How many pixels of a PNG differ clearly from its top-left pixel (the
 * background): decoded by the browser in a blank page of its own.
 */
export async function inkPixels(browser, png) {
  const page = await browser.newPage();
  try {
    return await page.evaluate(async (b64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width;
      c.height = img.height;
      const ctx = c.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      const bg = [d[0], d[1], d[2]];
      let ink = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (Math.abs(d[i] - bg[0]) + Math.abs(d[i + 1] - bg[1]) + Math.abs(d[i + 2] - bg[2]) > 150) ink++;
      }
      return ink;
    }, png.toString('base64'));
  } finally {
    await page.close();
  }
}
