#!/usr/bin/env node
// Web app bench:
//  1. gzipped sizes of the built JS/CSS chunks in dist/ (run `npm run build` first),
//     split into what the first page load needs and what loads lazily;
//  2. the time from page load to a live terminal prompt in headless Chromium,
//     for a warm seat, against CLARATEACH_URL; without it, against a server
//     started here from <repo>/bin/clarateach (`make web build`) on a free
//     loopback port with a throwaway data directory (BENCH_NO_SERVER=1 skips).
//     The seat comes from CLARATEACH_ACCESS_CODE, or from a throwaway workshop
//     this bench creates through the API and deletes afterwards.
//
//   npm run build && CLARATEACH_URL=http://127.0.0.1:8080 npm run bench
//   BENCH_RUNS (default 5) page loads are timed after one warm-up.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { baseUrl, launch, waitForPrompt } from '../e2e/lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, '..', 'dist');
const TARGET_MS = 1500;

function kb(n) {
  return `${(n / 1024).toFixed(1)} KB`;
}

function sizes() {
  if (!existsSync(path.join(dist, 'index.html'))) {
    console.log('bundle: dist/ not built (run `npm run build`): sizes skipped');
    return;
  }
  const html = readFileSync(path.join(dist, 'index.html'), 'utf8');
  const initial = new Set([...html.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => m[1]));
  const assets = readdirSync(path.join(dist, 'assets'))
    .filter((f) => /\.(js|css)$/.test(f))
    .map((f) => {
      const buf = readFileSync(path.join(dist, 'assets', f));
      return { file: `assets/${f}`, raw: statSync(path.join(dist, 'assets', f)).size, gz: gzipSync(buf, { level: 9 }).length };
    })
    .sort((a, b) => b.gz - a.gz);
  console.log('bundle: gzipped sizes of dist/assets (* = loaded by the first page)');
  console.log(`  ${'chunk'.padEnd(44)} ${'raw'.padStart(10)} ${'gzip'.padStart(10)}`);
  for (const a of assets) {
    const mark = initial.has(a.file) ? '*' : ' ';
    console.log(`${mark} ${a.file.padEnd(44)} ${kb(a.raw).padStart(10)} ${kb(a.gz).padStart(10)}`);
  }
  const sum = (xs, k) => xs.reduce((n, x) => n + x[k], 0);
  const first = assets.filter((a) => initial.has(a.file));
  const lazy = assets.filter((a) => !initial.has(a.file));
  const js = (xs) => xs.filter((a) => a.file.endsWith('.js'));
  const css = (xs) => xs.filter((a) => a.file.endsWith('.css'));
  console.log(`bundle: first load  JS ${kb(sum(js(first), 'gz'))} gzip, CSS ${kb(sum(css(first), 'gz'))} gzip`);
  console.log(`bundle: lazy chunks JS ${kb(sum(js(lazy), 'gz'))} gzip, CSS ${kb(sum(css(lazy), 'gz'))} gzip`);
  console.log(`bundle: all         JS ${kb(sum(js(assets), 'gz'))} gzip, CSS ${kb(sum(css(assets), 'gz'))} gzip`);
}

async function api(base, p, { method = 'GET', body, token } = {}) {
  const res = await fetch(base + p, {
    method,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${data?.error?.message ?? text}`);
  return data;
}

/** Makes a running one-seat workshop and a seated learner; returns the access code and a cleanup. */
async function makeSeat(base) {
  const id = Math.random().toString(36).slice(2, 8);
  const { token } = await api(base, '/api/auth/register', {
    method: 'POST',
    body: { email: `bench-${id}@example.com`, password: `bench-pw-${id}-x`, name: 'Bench' },
  });
  const ws = await api(base, '/api/workshops', { method: 'POST', token, body: { name: `bench ${id}`, seats: 1 } });
  const cleanup = async () => {
    await api(base, `/api/workshops/${ws.id}`, { method: 'DELETE', token }).catch(() => undefined);
  };
  try {
    await api(base, `/api/workshops/${ws.id}/start`, { method: 'POST', token });
    const deadline = Date.now() + 180_000;
    for (;;) {
      const w = await api(base, `/api/workshops/${ws.id}`, { token });
      if (w.status === 'running') break;
      if (w.status === 'error') throw new Error(`workshop failed: ${w.status_reason}`);
      if (Date.now() > deadline) throw new Error(`workshop still ${w.status} after 180 s`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const reg = await api(base, '/api/register', {
      method: 'POST',
      body: { workshop_code: ws.code, name: 'Bench Learner', email: `bench-learner-${id}@example.com` },
    });
    return { access: reg.access_code, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function promptTime(base, access) {
  const runs = Math.max(1, Number(process.env.BENCH_RUNS || 5));
  const browser = await launch();
  const times = [];
  try {
    for (let i = 0; i <= runs; i++) {
      // A fresh context each time: no HTTP cache, no stored layout.
      const ctx = await browser.newContext({ viewport: { width: 1366, height: 860 } });
      const page = await ctx.newPage();
      await page.goto(`${base}/w/${encodeURIComponent(access)}`, { waitUntil: 'commit' });
      await waitForPrompt(page, { scope: '[data-testid="workspace"]', timeout: 60_000 });
      // performance.now() counts from the start of the navigation.
      const ms = await page.evaluate(() => performance.now());
      if (i > 0) times.push(ms); // the first load warms the seat (creates the shell)
      console.log(`prompt: ${i === 0 ? 'warm-up' : `run ${i}`.padEnd(7)} ${ms.toFixed(0)} ms`);
      await ctx.close();
    }
  } finally {
    await browser.close();
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(
    `prompt: page load to live terminal prompt: median ${median.toFixed(0)} ms, min ${times[0].toFixed(0)} ms, max ${times[times.length - 1].toFixed(0)} ms over ${times.length} runs (target <= ${TARGET_MS} ms: ${median <= TARGET_MS ? 'met' : 'NOT met'})`,
  );
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts bin/clarateach on loopback; returns {url, stop} or null (with the reason printed). */
async function startServer() {
  const bin = path.resolve(here, '..', '..', 'bin', 'clarateach');
  if (process.env.BENCH_NO_SERVER || !existsSync(bin)) {
    console.log(
      `prompt: CLARATEACH_URL not set${existsSync(bin) ? '' : ` and ${bin} missing (make build)`}: time to terminal prompt skipped`,
    );
    return null;
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const data = mkdtempSync(path.join(tmpdir(), 'clarateach-bench-'));
  const internal = randomBytes(16).toString('hex');
  const child = spawn(bin, ['server'], {
    env: { ...process.env, DATA_DIR: data, PORT: String(port), PUBLIC_URL: url, INTERNAL_TOKEN: internal, RECONCILE_INTERVAL: '250ms' },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const stop = async () => {
    // Let the reconciler tear deleted workshops down before the server goes.
    await fetch(`${url}/internal/reconcile`, { method: 'POST', headers: { Authorization: `Bearer ${internal}` } }).catch(() => undefined);
    if (!exited) {
      child.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          r();
        }, 10_000);
        child.on('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
    rmSync(data, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error('bin/clarateach exited at start');
    }
    const ok = await fetch(`${url}/health`).then((r) => r.ok).catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error('bin/clarateach did not become healthy in 30 s');
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  // The binary embeds the web app at build time: make sure it is this build.
  const served = await fetch(`${url}/`).then((r) => r.text());
  const built = existsSync(path.join(dist, 'index.html')) ? readFileSync(path.join(dist, 'index.html'), 'utf8') : '';
  const entry = /\/assets\/index-[^"]+\.js/.exec(built)?.[0];
  if (!entry || !served.includes(entry)) {
    await stop();
    console.log('prompt: bin/clarateach embeds another build of the web app (run `make web build`): skipped');
    return null;
  }
  console.log(`prompt: started bin/clarateach on ${url}`);
  return { url, stop };
}

// The machine line every bench prints first (as backend/bench/internal/machine does).
function machineLine() {
  const c = cpus();
  const model = (c[0]?.model || 'unknown CPU').replace(/\s+/g, ' ').trim();
  const load = loadavg().map((n) => n.toFixed(2)).join(' ');
  const at = new Date().toISOString().slice(0, 16).replace('T', ' ');
  return `machine: ${model}, ${c.length} CPUs, load average ${load} at start, kernel ${release()}, node ${process.version}, ${at} UTC`;
}

console.log(machineLine());
sizes();
let base = baseUrl();
let server = null;
if (!base) {
  try {
    server = await startServer();
  } catch (err) {
    console.error(`prompt: ${err.message}`);
    process.exit(1);
  }
  if (!server) process.exit(0);
  base = server.url;
}
let seat;
try {
  seat = process.env.CLARATEACH_ACCESS_CODE
    ? { access: process.env.CLARATEACH_ACCESS_CODE, cleanup: async () => undefined }
    : await makeSeat(base);
  await promptTime(base, seat.access);
} catch (err) {
  console.error(`prompt: failed: ${err?.message || err}`);
  process.exitCode = 1;
} finally {
  await seat?.cleanup();
  await server?.stop();
}
