#!/usr/bin/env node
// Browser end-to-end test of ClaraTeach against a running server with real
// seats (CLARATEACH_URL), driving Debian's Chromium with playwright-core.
//
//   CLARATEACH_URL=http://127.0.0.1:8080 node e2e/run.mjs
//
// Screenshots go to CLARATEACH_ARTIFACTS (default <repo>/artifacts/e2e).
// Any browser console error fails the run. The last line is "N passed, N failed".
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { baseUrl, charBox, contrastProblems, inkPixels, launch, terminalText, waitForPrompt, waitForTerminal } from './lib.mjs';
import { imageSteps } from './image.mjs';
import { previewSteps, watcherPreviewStep } from './preview.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const BASE = baseUrl();
const ARTIFACTS = path.resolve(process.env.CLARATEACH_ARTIFACTS || path.join(repoRoot, 'artifacts', 'e2e'));
const RUNNING_TIMEOUT = Number(process.env.E2E_RUNNING_TIMEOUT_MS || 180_000);
const T = 20_000; // default wait for UI and shell output

if (!BASE) {
  console.error('e2e: set CLARATEACH_URL to a running ClaraTeach server (scripts/e2e.sh starts one)');
  console.log('0 passed, 1 failed');
  process.exit(2);
}
mkdirSync(ARTIFACTS, { recursive: true });

const results = [];
const consoleErrors = [];
// While set, console errors matching it are expected (e.g. the browser logs
// the refused handshake of a revoked learner) and only reported.
let expectedErrors = null;
let skipRest = false;

function log(...a) {
  console.log('e2e:', ...a);
}

// E2E_STEPS, a regular expression, runs only the steps whose names match
// it (e.g. '^(1|I\d)\.' for the instructor's sign-up and the image steps);
// unset, every step runs.
const onlySteps = process.env.E2E_STEPS ? new RegExp(process.env.E2E_STEPS) : null;

async function step(name, fn, { pages = [] } = {}) {
  if (onlySteps && !onlySteps.test(name)) {
    log(`SKIP ${name} (not in E2E_STEPS; not counted)`);
    return;
  }
  if (skipRest) {
    results.push({ name, status: 'skipped' });
    log(`SKIP ${name} (an earlier step failed)`);
    return;
  }
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, status: 'passed' });
    log(`PASS ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (err) {
    results.push({ name, status: 'failed', err });
    log(`FAIL ${name}: ${err?.stack || err}`);
    skipRest = true;
    for (const [i, p] of pages.entries()) {
      try {
        const file = path.join(ARTIFACTS, `failure-${name.replace(/\W+/g, '-').toLowerCase()}-${i}.png`);
        await p.screenshot({ path: file, fullPage: true });
        log(`  screenshot: ${file}`);
        const text = await terminalText(p).catch(() => '');
        if (text) log(`  terminal:\n${text.split('\n').filter(Boolean).slice(-15).join('\n')}`);
      } catch {
        /* the page may be gone */
      }
    }
  }
}

function watchConsole(page, who) {
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const loc = msg.location();
      const line = `[${who}] ${msg.text()}${loc?.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`;
      if (expectedErrors?.test(msg.text())) log(`  expected console error: ${line.slice(0, 160)}`);
      else consoleErrors.push(line);
    }
  });
  page.on('pageerror', (err) => consoleErrors.push(`[${who}] uncaught: ${err.message}`));
}

async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  log(`  screenshot: ${file}`);
}

/** Types a command into the focused workspace terminal and presses Enter. */
async function run(page, cmd, scope = '[data-testid="workspace"]') {
  await page.click(`${scope} .terminal-host:not([style*="display: none"]) .xterm-screen`);
  await page.keyboard.type(cmd, { delay: 5 });
  await page.keyboard.press('Enter');
}


/**
 * A three-step lab as a .tar.gz (made with tar): make a file, make it say
 * hello (the check fails until it does; a solve script makes it), done.
 * `finish` is step 3's text. Its files/ folder (notes/welcome.txt) goes into
 * every learner's home, and setup.sh runs as the seat's root.
 */
function labArchive(finish) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'e2e-lab-'));
  mkdirSync(path.join(dir, 'steps'));
  mkdirSync(path.join(dir, 'files', 'notes'), { recursive: true });
  const files = {
    'lab.yaml': [
      'title: Say hello',
      'description: Make a file, make it say hello.',
      'order: sequential',
      'steps:',
      '  - id: make',
      '    title: Make a file',
      '    text: steps/1.md',
      '    check: steps/1.check.sh',
      '  - id: hello',
      '    title: Make it say hello',
      '    text: steps/2.md',
      '    check: steps/2.check.sh',
      '    solve: steps/2.solve.sh',
      '  - id: done',
      '    title: Done',
      '    text: steps/3.md',
      '',
    ].join('\n'),
    'steps/1.md': '# Make a file\n\nRun `touch hello.txt`.\n',
    'steps/1.check.sh': '#!/bin/sh\ntest -f ~/hello.txt || { echo "hello.txt is not in your home yet"; exit 1; }\necho "found hello.txt"\n',
    'steps/2.md': '# Make it say hello\n\nPut the word hello in `hello.txt`.\n',
    'steps/2.check.sh': '#!/bin/sh\ngrep -q hello ~/hello.txt || { echo "hello.txt does not say hello yet"; exit 1; }\necho "hello.txt says hello"\n',
    'steps/2.solve.sh': '#!/bin/sh\necho hello > ~/hello.txt\n',
    'steps/3.md': `# Done\n\n${finish}\n`,
    'setup.sh': '#!/bin/sh\necho "set up by uid $(id -u)" > /etc/e2e-lab\n',
    'files/notes/welcome.txt': 'welcome to the lab\n',
  };
  for (const [name, body] of Object.entries(files)) writeFileSync(path.join(dir, name), body, { mode: name.endsWith('.sh') ? 0o755 : 0o644 });
  const out = path.join(dir, 'lab.tar.gz');
  execFileSync('tar', ['-czf', out, '-C', dir, 'lab.yaml', 'steps', 'setup.sh', 'files']);
  return { name: 'lab.tar.gz', mimeType: 'application/gzip', buffer: readFileSync(out) };
}

/** The learner's matrix row in the class view: the cells' text, step by step. */
async function matrixRow(page, name) {
  return page.evaluate((name) => {
    const row = Array.from(document.querySelectorAll('[data-testid="progress-matrix"] tbody tr')).find((r) =>
      r.querySelector('th')?.textContent?.includes(name),
    );
    return row ? Array.from(row.querySelectorAll('td')).map((td) => td.textContent.trim()) : null;
  }, name);
}

async function waitForMatrix(page, name, want, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  let got = null;
  while (Date.now() < deadline) {
    got = await matrixRow(page, name);
    if (got && want(got)) return got;
    await page.waitForTimeout(200);
  }
  throw new Error(`the matrix row of ${name} is ${JSON.stringify(got)}`);
}

const rand = () => Math.random().toString(36).slice(2, 8);
const stamp = rand();
const instructor = { name: 'E2E Instructor', email: `e2e-${stamp}@example.com`, password: `pw-${stamp}-${rand()}` };
const learner = { name: 'Lee Learner', email: `lee-${stamp}@example.com` };
const state = {};

// Sign-up is closed by default: with the first admin's login
// (E2E_ADMIN_EMAIL, E2E_ADMIN_PASSWORD; scripts/e2e.sh reads them from the
// server's first-login.txt) the instructor signs up through an invite made
// out to their email. Without them the server must run with SIGNUP=open.
async function signupPath() {
  const email = process.env.E2E_ADMIN_EMAIL;
  const password = process.env.E2E_ADMIN_PASSWORD;
  if (!email || !password) return '/signup';
  const post = async (p, body, token) => {
    const res = await fetch(new URL(p, BASE), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${p}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const { token } = await post('/api/auth/login', { email, password });
  const invite = await post('/api/invites', { email: instructor.email }, token);
  return `/signup?invite=${encodeURIComponent(invite.token)}`;
}

const browser = await launch();
// deviceScaleFactor 1: the density at which Debian's Chromium lost underscores.
const ictx = await browser.newContext({ baseURL: BASE, viewport: { width: 1366, height: 860 }, deviceScaleFactor: 1 });
const lctx = await browser.newContext({ baseURL: BASE, viewport: { width: 1366, height: 860 }, deviceScaleFactor: 1 });
await lctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
// Test-side network control for the learner: window.__e2eNet.drop(ms) closes
// every open WebSocket and refuses new ones for `ms` (as a Wi-Fi drop would),
// without touching the app's code.
await lctx.addInitScript(() => {
  const Native = window.WebSocket;
  const open = new Set();
  let blockedUntil = 0;
  class Blocked {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.binaryType = 'blob';
      setTimeout(() => {
        this.readyState = 3;
        this.onclose?.({ code: 1006, reason: 'e2e network drop', wasClean: false });
      }, 200);
    }
    send() {}
    close() {}
  }
  class Tracked extends Native {
    constructor(url, protocols) {
      if (Date.now() < blockedUntil) return new Blocked(url);
      super(url, protocols);
      open.add(this);
      this.addEventListener('close', () => open.delete(this));
    }
  }
  window.WebSocket = Tracked;
  window.__e2eNet = {
    drop(ms) {
      blockedUntil = Date.now() + ms;
      for (const ws of open) ws.close(4000, 'e2e network drop');
    },
  };
});
const ipage = await ictx.newPage();
const lpage = await lctx.newPage();
watchConsole(ipage, 'instructor');
watchConsole(lpage, 'learner');
ipage.setDefaultTimeout(T);
lpage.setDefaultTimeout(T);

try {
  await step(
    '1. instructor signs up, creates and starts a workshop, waits for running',
    async () => {
      await ipage.goto(await signupPath());
      await ipage.fill('input[name="name"]', instructor.name);
      await ipage.fill('input[name="email"]', instructor.email);
      await ipage.fill('input[name="password"]', instructor.password);
      await ipage.click('button[type="submit"]');
      await ipage.waitForURL('**/dashboard');
      await ipage.click('text=New workshop');
      await ipage.waitForURL('**/workshops/new');
      await ipage.fill('input[name="name"]', `E2E ${stamp}`);
      await ipage.fill('input[name="seats"]', '2');
      await ipage.fill('textarea[name="lab_guide"]', '# E2E lab\n\nRun this:\n\n```bash\necho "hello from $(hostname)"\n```\n');
      await ipage.click('button:has-text("Create workshop")');
      await ipage.waitForURL(/\/workshops\/(?!new)[^/]+$/);
      state.workshopId = decodeURIComponent(new URL(ipage.url()).pathname.split('/').pop());
      await ipage.click('.workshop-actions button:has-text("Start")');
      await ipage.waitForSelector('main.class-view[data-status="running"]', { timeout: RUNNING_TIMEOUT });
      state.code = (await ipage.textContent('main.class-view .page-head .mono'))?.trim();
      if (!state.code) throw new Error('no workshop code on the class view');
      await ipage.goto('/dashboard');
      await ipage.waitForSelector(`[data-workshop-id="${state.workshopId}"] [data-status="running"]`);
      await shot(ipage, 'dashboard');
      const problems = [];
      for (const scheme of ['light', 'dark']) {
        await ipage.emulateMedia({ colorScheme: scheme });
        for (const p of await contrastProblems(ipage)) problems.push(`[${scheme} dashboard] ${p}`);
      }
      await ipage.emulateMedia({ colorScheme: 'light' });
      if (problems.length) throw new Error(`text under 4.5:1:\n  ${problems.join('\n  ')}`);
    },
    { pages: [ipage] },
  );

  await step(
    '2. learner registers, joins, and runs echo hello-$RANDOM',
    async () => {
      await lpage.goto(`/join/${encodeURIComponent(state.code)}`);
      const prefilled = await lpage.inputValue('input[name="workshop_code"]');
      if (prefilled !== state.code) throw new Error(`workshop code not pre-filled: "${prefilled}"`);
      await lpage.fill('input[name="name"]', learner.name);
      await lpage.fill('input[name="email"]', learner.email);
      await lpage.click('button:has-text("Get my access code")');
      // Shown in groups of 4 (ACDE-FGHJ-...); the link carries it without dashes.
      state.access = (await lpage.textContent('[data-testid="access-code"]'))?.trim().replace(/-/g, '');
      if (!state.access) throw new Error('no access code shown');
      await lpage.click('a:has-text("Open my workspace")');
      await lpage.waitForURL(`**/w/${encodeURIComponent(state.access)}`);
      await lpage.waitForSelector('[data-testid="workspace"]', { timeout: RUNNING_TIMEOUT });
      await lpage.waitForSelector('.terminal-tabs .conn-status[data-state="open"]');
      await waitForPrompt(lpage, { scope: '[data-testid="workspace"]' });
      await run(lpage, 'echo hello-$RANDOM');
      const m = await waitForTerminal(lpage, /^hello-(\d+)$/m, { scope: '[data-testid="workspace"]' });
      state.hello = m[0];
      log(`  terminal printed ${state.hello}`);
    },
    { pages: [lpage] },
  );

  await step(
    '2b. the lab guide runs its code block in the terminal',
    async () => {
      await lpage.click('.guide-panel button:has-text("Run in terminal")');
      await waitForTerminal(lpage, /^hello from \S+$/m, { scope: '[data-testid="workspace"]' });
      const focused = await lpage.evaluate(() => !!document.activeElement?.closest('.terminal-host'));
      if (!focused) throw new Error('the terminal did not get the focus back after "Run in terminal"');
    },
    { pages: [lpage] },
  );

  await step(
    '3. learner saves a file in the editor and cats it in the terminal',
    async () => {
      const file = `e2e-${stamp}.txt`;
      const content = `saved-from-editor-${rand()}`;
      await lpage.click('button[aria-label="New file"]');
      await lpage.fill('#tree-name', file);
      await lpage.press('#tree-name', 'Enter');
      await lpage.waitForSelector(`.editor .tab[data-path="${file}"]`);
      await lpage.waitForSelector('.editor .cm-content');
      await lpage.click('.editor .cm-content');
      await lpage.keyboard.type(content);
      await lpage.waitForSelector(`.editor .tab[data-path="${file}"][data-dirty="true"]`);
      await lpage.keyboard.press('Control+s');
      await lpage.waitForSelector(`.editor .tab[data-path="${file}"][data-dirty="false"]`);
      await run(lpage, `cat ${file}; echo`);
      await waitForTerminal(lpage, new RegExp(`^${content}$`, 'm'), { scope: '[data-testid="workspace"]' });
      await shot(lpage, 'workspace');
    },
    { pages: [lpage] },
  );

  await step(
    '3b. learner uploads a file, downloads it and the whole workspace',
    async () => {
      const name = `upload-${stamp}.txt`;
      const body = `uploaded-${rand()}`;
      await lpage.setInputFiles('.file-tree input[type="file"]', { name, mimeType: 'text/plain', buffer: Buffer.from(body) });
      await lpage.waitForSelector(`.file-tree [data-path="${name}"]`);
      await run(lpage, `cat ${name}; echo`);
      await waitForTerminal(lpage, new RegExp(`^${body}$`, 'm'), { scope: '[data-testid="workspace"]' });
      await lpage.click(`.file-tree [data-path="${name}"]`);
      const [one] = await Promise.all([lpage.waitForEvent('download'), lpage.click('.tree-footer button:text-is("Download")')]);
      if (one.suggestedFilename() !== name) throw new Error(`downloaded ${one.suggestedFilename()}, want ${name}`);
      const [all] = await Promise.all([lpage.waitForEvent('download'), lpage.click('.tree-footer button:text-is("Download all")')]);
      if (all.suggestedFilename() !== 'workspace.tar.gz') throw new Error(`downloaded ${all.suggestedFilename()}, want workspace.tar.gz`);
      const file = await all.path();
      const { statSync } = await import('node:fs');
      if (!file || statSync(file).size < 20) throw new Error('the workspace archive is empty');
    },
    { pages: [lpage] },
  );

  await step(
    '3c. underscores show in the terminal at 1x pixel density',
    async () => {
      await run(lpage, 'echo snake_case_$((40+2))');
      await waitForTerminal(lpage, /^snake_case_42$/m, { scope: '[data-testid="workspace"]' });
      // xterm measures the cell again once the bundled font is in.
      await lpage.evaluate(() => document.fonts.ready);
      const box = await charBox(lpage, /^snake_case_42$/, '_', '[data-testid="workspace"]');
      if (!box) throw new Error('no terminal row shows snake_case_42');
      const png = await lpage.screenshot({ clip: box });
      const ink = await inkPixels(browser, png);
      log(`  the underscore's cell (${box.width.toFixed(1)}x${box.height.toFixed(1)} px) has ${ink} pixels of ink`);
      if (ink < 3) throw new Error(`the underscore does not show: ${ink} pixels of ink in its cell`);
    },
    { pages: [lpage] },
  );

  await step(
    '3d. Ctrl+V pastes into the terminal',
    async () => {
      await lpage.evaluate((t) => navigator.clipboard.writeText(t), 'echo pasted_$((6*7))');
      await lpage.click('[data-testid="workspace"] .terminal-host:not([style*="display: none"]) .xterm-screen');
      await lpage.keyboard.press('Control+V');
      await lpage.keyboard.press('Enter');
      await waitForTerminal(lpage, /^pasted_42$/m, { scope: '[data-testid="workspace"]' });
    },
    { pages: [lpage] },
  );

  await step(
    '3e. the file tree shows a file made in the terminal, and uploads a dropped file',
    async () => {
      const made = `made_in_terminal_${stamp}.txt`;
      await run(lpage, `touch ${made}`);
      await lpage.waitForSelector(`.file-tree [data-path="${made}"]`, { timeout: 10_000 });
      const dropped = `dropped-${stamp}.txt`;
      const body = `dropped-body-${rand()}`;
      const dt = await lpage.evaluateHandle(
        ({ name, body }) => {
          const d = new DataTransfer();
          d.items.add(new File([body], name, { type: 'text/plain' }));
          return d;
        },
        { name: dropped, body },
      );
      await lpage.dispatchEvent('.file-tree .tree-scroll', 'dragover', { dataTransfer: dt });
      await lpage.waitForSelector('.file-tree.drop-target');
      await lpage.dispatchEvent('.file-tree .tree-scroll', 'drop', { dataTransfer: dt });
      await lpage.waitForSelector(`.file-tree [data-path="${dropped}"]`);
      await run(lpage, `cat ${dropped}; echo`);
      await waitForTerminal(lpage, new RegExp(`^${body}$`, 'm'), { scope: '[data-testid="workspace"]' });
    },
    { pages: [lpage] },
  );

  await step(
    '3f. the terminal text size and theme change',
    async () => {
      await lpage.click('[data-testid="workspace"] button[aria-label="Terminal settings"]');
      await lpage.click('button[aria-label="Larger text"]');
      await lpage.click('button[aria-label="Larger text"]');
      await lpage.selectOption('#term-settings select', 'light');
      await lpage.waitForFunction(() => getComputedStyle(document.querySelector('[data-testid="workspace"] .xterm-rows') ?? document.body).fontSize === '16px');
    },
    { pages: [lpage] },
  );

  await step(
    '4. after a reload the output is still there and the shell is the same process',
    async () => {
      await run(lpage, 'echo before-pid-$$');
      const before = (await waitForTerminal(lpage, /^before-pid-(\d+)$/m, { scope: '[data-testid="workspace"]' }))[1];
      await lpage.reload();
      await lpage.waitForSelector('[data-testid="workspace"]');
      await lpage.waitForSelector('.terminal-tabs .conn-status[data-state="open"]');
      await waitForTerminal(lpage, new RegExp(`^${state.hello}$`, 'm'), { scope: '[data-testid="workspace"]' });
      const replayed = (await terminalText(lpage, '[data-testid="workspace"]')).split('\n').filter((l) => l === state.hello);
      if (replayed.length !== 1) throw new Error(`"${state.hello}" shows ${replayed.length} times after the reload, want once`);
      // The editor's tabs and the terminal's settings came back too.
      await lpage.waitForSelector(`.editor .tab[data-path="e2e-${stamp}.txt"]`);
      await lpage.waitForFunction(() => getComputedStyle(document.querySelector('[data-testid="workspace"] .xterm-rows') ?? document.body).fontSize === '16px');
      const theme = await lpage.getAttribute('[data-testid="workspace"] .terminal-tabs', 'data-theme');
      if (theme !== 'light') throw new Error(`the terminal theme after a reload is ${theme}, want light`);
      await run(lpage, 'echo after-pid-$$');
      const after = (await waitForTerminal(lpage, /^after-pid-(\d+)$/m, { scope: '[data-testid="workspace"]' }))[1];
      log(`  shell pid before ${before}, after ${after}`);
      if (before !== after) throw new Error(`the shell changed across the reload: pid ${before} then ${after}`);
    },
    { pages: [lpage] },
  );

  await step(
    '4b. a dropped connection reconnects and resumes without lost or repeated output',
    async () => {
      const tag = rand();
      await run(lpage, `for i in 1 2 3 4 5 6 7 8; do echo ${tag}-$i; sleep 0.4; done`);
      await waitForTerminal(lpage, new RegExp(`^${tag}-2$`, 'm'), { scope: '[data-testid="workspace"]' });
      await lpage.evaluate(() => window.__e2eNet.drop(1500));
      await lpage.waitForSelector('.terminal-tabs .conn-status[data-state="reconnecting"]');
      await lpage.waitForSelector('.terminal-tabs .conn-status[data-state="open"]', { timeout: 30_000 });
      await waitForTerminal(lpage, new RegExp(`^${tag}-8$`, 'm'), { scope: '[data-testid="workspace"]' });
      const lines = (await terminalText(lpage, '[data-testid="workspace"]')).split('\n').filter((l) => l.startsWith(`${tag}-`));
      const want = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => `${tag}-${i}`);
      if (lines.join(',') !== want.join(',')) throw new Error(`after the drop the terminal shows ${lines.join(',')}, want ${want.join(',')}`);
    },
    { pages: [lpage] },
  );

  // Previews (P1-P4): before the class view's steps, with the learner's workspace as it is now.
  const { marker: previewMarker } = await previewSteps({ step, lpage, ipage, ictx, browser, state, run, shot, log, BASE });

  await step(
    '5. instructor watches the learner terminal and sees new output',
    async () => {
      await ipage.goto(`/workshops/${encodeURIComponent(state.workshopId)}`);
      // Keyboard: the first Tab is the skip link, and it lands on a seat.
      await ipage.waitForSelector('.seat-grid button.seat:not(:disabled)');
      await ipage.keyboard.press('Tab');
      const first = await ipage.evaluate(() => document.activeElement?.textContent?.trim());
      if (first !== 'Skip to the seats') throw new Error(`the first Tab reaches "${first}", want the skip link`);
      await ipage.keyboard.press('Enter');
      const onSeat = await ipage.evaluate(() => !!document.activeElement?.matches('.seat-grid button.seat'));
      if (!onSeat) throw new Error('the skip link did not put the focus on a seat');
      const seat = ipage.locator('.seat-grid button.seat', { hasText: learner.name });
      await seat.click();
      await ipage.waitForSelector('.watcher .conn-status[data-state="open"]');
      // Opening a learner's terminal puts it in view.
      await ipage.waitForFunction(() => {
        const r = document.querySelector('.watcher-term')?.getBoundingClientRect();
        return !!r && r.top >= 0 && r.top < window.innerHeight - 100;
      }, null, { timeout: 5000 }).catch(async () => {
        const top = await ipage.evaluate(() => document.querySelector('.watcher-term')?.getBoundingClientRect().top);
        throw new Error(`the learner's terminal is out of view (top at ${top} px in a ${860} px window)`);
      });
      const marker = `watched-${rand()}`;
      await run(lpage, `echo ${marker}`);
      await waitForTerminal(ipage, new RegExp(`^${marker}$`, 'm'), { scope: '.watcher' });
      await shot(ipage, 'class-view');
    },
    { pages: [ipage, lpage] },
  );

  await step(
    '6. instructor takes over and types into the learner terminal',
    async () => {
      await ipage.click('.watcher button:has-text("Take over")');
      await ipage.waitForSelector('.watcher .conn-status[data-state="open"]');
      await ipage.waitForSelector('.watcher [data-readonly]', { state: 'detached' });
      const marker = `takeover-${rand()}`;
      await run(ipage, `echo ${marker}`, '.watcher');
      await waitForTerminal(lpage, new RegExp(`^${marker}$`, 'm'), { scope: '[data-testid="workspace"]' });
    },
    { pages: [ipage, lpage] },
  );

  await step(
    '6b. every text meets WCAG AA contrast, light and dark (class view, dashboard, workspace)',
    async () => {
      const problems = [];
      for (const scheme of ['light', 'dark']) {
        await ipage.emulateMedia({ colorScheme: scheme });
        await lpage.emulateMedia({ colorScheme: scheme });
        for (const p of await contrastProblems(ipage)) problems.push(`[${scheme} class view] ${p}`);
        for (const p of await contrastProblems(lpage)) problems.push(`[${scheme} workspace] ${p}`);
      }
      await ipage.emulateMedia({ colorScheme: 'light' });
      await lpage.emulateMedia({ colorScheme: 'light' });
      if (problems.length) throw new Error(`text under 4.5:1:\n  ${problems.join('\n  ')}`);
    },
    { pages: [ipage, lpage] },
  );

  await watcherPreviewStep({ step, ipage, shot, log, marker: previewMarker });

  await step(
    '7. a flood of output (yes) stays responsive, and the learner still types',
    async () => {
      await run(lpage, 'yes flood | head -n 100000; echo flood-$((6*7))');
      await waitForTerminal(lpage, /^flood-42$/m, { scope: '[data-testid="workspace"]', timeout: 60_000 });
      await run(lpage, 'echo still-alive');
      await waitForTerminal(lpage, /^still-alive$/m, { scope: '[data-testid="workspace"]' });
    },
    { pages: [lpage] },
  );

  await step(
    'L1. the instructor gives the workshop a three-step lab; the learner sees its steps',
    async () => {
      await ipage.click('.watcher button:has-text("Close")');
      await ipage.setInputFiles('[data-testid="lab-upload"]', labArchive('Well done.'));
      await ipage.waitForSelector('#lab-h:has-text("Say hello (version 1)")');
      await lpage.waitForSelector('.lab-guide .lab-steps', { timeout: 15_000 });
      const steps = await lpage.$$eval('.lab-guide .lab-steps li', (els) => els.map((e) => e.textContent.trim()));
      if (steps.length !== 3) throw new Error(`the learner sees ${steps.length} steps: ${steps.join(' | ')}`);
      // The lab's files/ reach the home and its setup.sh ran as the seat's root.
      await run(lpage, 'until [ -f ~/notes/welcome.txt ] && [ -f /etc/e2e-lab ]; do sleep 0.2; done; cat ~/notes/welcome.txt /etc/e2e-lab');
      await waitForTerminal(lpage, /^set up by uid 0$/m, { scope: '[data-testid="workspace"]', timeout: 30_000 });
      await waitForTerminal(lpage, /^welcome to the lab$/m, { scope: '[data-testid="workspace"]' });
      await lpage.waitForSelector('[data-testid="lab-setup"]', { state: 'detached' });
      // The matrix shows the learner's setup done (the class stream, live).
      const row = await waitForMatrix(ipage, learner.name, (r) => r.at(-1) === '✓ done');
      log(`  matrix with the setup: ${row.join(' | ')}`);
    },
    { pages: [ipage, lpage] },
  );

  await step(
    'L2. step 1 passes; the check of step 2 fails with its message, live in the matrix',
    async () => {
      await run(lpage, 'rm -f hello.txt; touch hello.txt');
      await lpage.click('.lab-actions button:has-text("Check")');
      await lpage.waitForSelector('[data-testid="check-result"].lab-pass:has-text("found hello.txt")');
      await lpage.click('.lab-actions button:has-text("Next step")');
      await lpage.waitForSelector('.lab-step-text h3:has-text("Step 2: Make it say hello")');
      await lpage.click('.lab-actions button:has-text("Check")');
      await lpage.waitForSelector('[data-testid="check-result"].lab-fail:has-text("hello.txt does not say hello yet")');
      const row = await waitForMatrix(ipage, learner.name, (r) => r[0] === '✓' && r[1] === '✗1');
      log(`  matrix: ${row.join(' | ')}`);
    },
    { pages: [ipage, lpage] },
  );

  await step(
    'L3. the learner raises a hand; the instructor picks it up and watches; the learner sees it',
    async () => {
      await lpage.fill('#hand-question', 'my check fails');
      await lpage.click('.lab-hand button:has-text("Raise hand")');
      await lpage.waitForSelector('.lab-hand:has-text("Your hand is raised")');
      const hand = ipage.locator('[data-testid="hands"] li', { hasText: learner.name });
      await hand.waitFor();
      if (!(await hand.textContent()).includes('my check fails')) throw new Error('the hand does not show the question');
      await hand.locator('button:has-text("Help")').click();
      await ipage.waitForSelector('[data-testid="help-desk"] .watcher .conn-status[data-state="open"]');
      await ipage.waitForFunction(() => {
        const r = document.querySelector('[data-testid="help-desk"] .watcher-term')?.getBoundingClientRect();
        return !!r && r.top >= 0 && r.top < window.innerHeight - 100;
      });
      await lpage.waitForSelector(`[data-testid="watched"]:has-text("${instructor.name} is watching your terminal")`, { timeout: 15_000 });
      await lpage.waitForSelector('.lab-hand:has-text("An instructor is on their way")');
      await shot(ipage, 'help-desk');
      // Taking over: the learner is told the instructor can type.
      await ipage.click('[data-testid="help-desk"] .watcher button:has-text("Take over")');
      await lpage.waitForSelector('[data-testid="watched"][data-typing="true"]', { timeout: 15_000 });
      await ipage.click('[data-testid="help-desk"] .watcher button:has-text("Stop typing")');
    },
    { pages: [ipage, lpage] },
  );

  await step(
    'L4. the learner fixes it and passes; the matrix shows it live',
    async () => {
      await run(lpage, 'echo hello > hello.txt');
      await lpage.click('.lab-actions button:has-text("Check")');
      await lpage.waitForSelector('[data-testid="check-result"].lab-pass:has-text("hello.txt says hello")');
      const row = await waitForMatrix(ipage, learner.name, (r) => r[0] === '✓' && r[1] === '✓');
      log(`  matrix: ${row.join(' | ')}`);
      await lpage.click('.lab-actions button:has-text("Next step")');
      await lpage.waitForSelector('.lab-step-text:has-text("Well done.")');
    },
    { pages: [ipage, lpage] },
  );

  await step(
    'L5. the instructor edits the guide; the learner sees the change where they are',
    async () => {
      await ipage.setInputFiles('[data-testid="lab-upload"]', labArchive('Well done, and see you next week.'));
      await ipage.waitForSelector('#lab-h:has-text("Say hello (version 2)")');
      await lpage.waitForSelector('.lab-step-text:has-text("see you next week")', { timeout: 20_000 });
      const open = await lpage.textContent('.lab-step-text h3');
      if (!open?.includes('Step 3')) throw new Error(`after the edit the learner is on "${open}", want step 3`);
      await lpage.waitForSelector('.lab-step-done:has-text("Make it say hello")');
      await shot(lpage, 'workspace-guide');
      const problems = [];
      for (const scheme of ['light', 'dark']) {
        await ipage.emulateMedia({ colorScheme: scheme });
        await lpage.emulateMedia({ colorScheme: scheme });
        for (const p of await contrastProblems(ipage)) problems.push(`[${scheme} class view with a lab] ${p}`);
        for (const p of await contrastProblems(lpage)) problems.push(`[${scheme} workspace with a lab] ${p}`);
      }
      await ipage.emulateMedia({ colorScheme: 'light' });
      await lpage.emulateMedia({ colorScheme: 'light' });
      if (problems.length) throw new Error(`text under 4.5:1:\n  ${problems.join('\n  ')}`);
    },
    { pages: [ipage, lpage] },
  );

  await step(
    'L6. the instructor pushes a file to every seat, resets the learner\'s step 2 and solves it for them',
    async () => {
      const push = ipage.locator('[data-testid="push-file"]');
      await push.locator('#push-path').fill('notes/from-instructor.txt');
      await push.locator('#push-text').fill('a hint from your instructor');
      await push.locator('button:has-text("Push the file")').click();
      await push.locator('[role="status"]:has-text("notes/from-instructor.txt was written to 1 seat.")').waitFor();
      await run(lpage, 'clear; cat ~/notes/from-instructor.txt; echo');
      await waitForTerminal(lpage, /^a hint from your instructor$/m, { scope: '[data-testid="workspace"]' });

      const acts = ipage.locator('[data-testid="learner-actions"]');
      const rid = await acts.locator('#act-learner option', { hasText: learner.name }).getAttribute('value');
      await acts.locator('#act-learner').selectOption(rid);
      await acts.locator('#act-step').selectOption('hello');
      // The learner opens step 2 again: its last check's ✓ and message.
      const step2 = lpage.locator('.lab-guide .lab-steps li:nth-child(2) button');
      await step2.click();
      await lpage.locator('[data-testid="check-result"].lab-pass').waitFor();
      await acts.locator('button:has-text("Reset the step")').click();
      await acts.locator('[role="status"]:has-text("Make it say hello was reset for")').waitFor();
      let row = await waitForMatrix(ipage, learner.name, (r) => r[0] === '✓' && r[1] !== '✓');
      log(`  matrix after the reset: ${row.join(' | ')}`);
      // The learner's open guide shows the reset without a reload (its poll).
      await lpage.locator('.lab-guide .lab-steps li:nth-child(2) .lab-step:not(.lab-step-done)').waitFor({ timeout: 15_000 });
      await lpage.locator('[data-testid="check-result"]').waitFor({ state: 'detached', timeout: 15_000 });
      await run(lpage, 'rm -f ~/hello.txt');
      await acts.locator('button:has-text("Solve for them")').click();
      await acts.locator('[role="status"]:has-text("the check passes: hello.txt says hello")').waitFor({ timeout: 30_000 });
      row = await waitForMatrix(ipage, learner.name, (r) => r[0] === '✓' && r[1] === '✓');
      log(`  matrix after the solve: ${row.join(' | ')}`);
      // …and the solve: step 2 done, with the check's message.
      await lpage.locator('.lab-guide .lab-steps li:nth-child(2) .lab-step-done').waitFor({ timeout: 15_000 });
      await lpage.locator('[data-testid="check-result"].lab-pass:has-text("hello.txt says hello")').waitFor({ timeout: 15_000 });
      const card = ipage.locator('.lab-card');
      await acts.scrollIntoViewIfNeeded();
      const file = path.join(ARTIFACTS, 'lab-actions.png');
      await card.screenshot({ path: file });
      log(`  screenshot: ${file}`);
    },
    { pages: [ipage, lpage] },
  );

  await step(
    'L7. the matrix at 30 learners (the edit form raises the seats to 30)',
    async () => {
      await ipage.click('.edit-card summary');
      await ipage.fill('input[name="edit_seats"]', '30');
      await ipage.click('.edit-card button:has-text("Save changes")');
      await ipage.waitForSelector('.edit-card [role="status"]:has-text("Saved.")');
      const names = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Ken', 'Dennis', 'Frances', 'John', 'Radia', 'Leslie', 'Tim',
        'Sophie', 'Guido', 'Bjarne', 'Anders', 'Niklaus', 'Hedy', 'Katherine', 'Linus', 'Ward', 'Brian', 'Rob', 'Joan', 'Jean', 'Mary', 'Lynn'];
      for (const [i, n] of names.entries()) {
        const res = await fetch(new URL('/api/register', BASE), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ workshop_code: state.code, name: `${n} Learner`, email: `l${i}-${stamp}@example.com` }),
        });
        if (!res.ok) throw new Error(`register ${n}: ${res.status} ${await res.text()}`);
      }
      await ipage.waitForFunction(() => document.querySelectorAll('[data-testid="progress-matrix"] tbody tr').length >= 30, null, { timeout: 30_000 });
      const card = ipage.locator('.lab-card');
      await card.scrollIntoViewIfNeeded();
      const file = path.join(ARTIFACTS, 'matrix-30.png');
      await card.screenshot({ path: file });
      log(`  screenshot: ${file}`);
    },
    { pages: [ipage] },
  );

  await step(
    '8. a revoked learner is told so in the workspace',
    async () => {
      // Refused workspace handshakes (401/403) are what revocation looks like to the browser.
      // The instructor's open terminal of that seat is refused too (404: its shell is gone),
      // and the revoke cuts the workspace's open ports stream mid-answer.
      expectedErrors = /status of 40[134]|Authentication failed|Unexpected response code: 40[134]|ERR_INCOMPLETE_CHUNKED_ENCODING/;
      await ipage.click('.watcher button:has-text("Revoke")');
      await ipage.click('[role="dialog"] button:has-text("Revoke access")');
      await ipage.waitForSelector('.watcher', { state: 'detached' });
      await lpage.waitForSelector('.workspace-fatal', { timeout: 60_000 });
      const msg = (await lpage.textContent('.workspace-fatal span'))?.trim();
      log(`  learner sees: ${msg}`);
    },
    { pages: [ipage, lpage] },
  );

  await imageSteps({ step, browser, ipage, state, run, shot, log, watchConsole, BASE, RUNNING_TIMEOUT });
} finally {
  // Leave nothing running: delete the workshops (the server tears their seats down).
  for (const id of [state.workshopId, state.imageWorkshopId].filter(Boolean)) {
    try {
      const status = await ipage.evaluate(
        async (id) => (await fetch(`/api/workshops/${encodeURIComponent(id)}`, { method: 'DELETE', credentials: 'include' })).status,
        id,
      );
      log(`cleanup: DELETE workshop ${id} → ${status}`);
    } catch (err) {
      log(`cleanup failed: ${err}`);
    }
  }
  skipRest = false;
  await step('no browser console errors', async () => {
    if (consoleErrors.length) throw new Error(`console errors:\n  ${consoleErrors.join('\n  ')}`);
  });
  await browser.close();
}

const passed = results.filter((r) => r.status === 'passed').length;
const failed = results.filter((r) => r.status === 'failed').length;
const skipped = results.filter((r) => r.status === 'skipped').length;
log(`screenshots in ${ARTIFACTS}`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed || skipped ? 1 : 0);
