// The browser end-to-end steps of previews (run.mjs calls previewSteps): a
// learner starts a web server in the seat from the terminal, the workspace
// says it is ready, the preview opens beside the editor and in a new tab;
// the preview origin keeps its own cookie, the app's API refuses it (CORS),
// and a preview token is neither a seat token nor good for another seat; a
// share link works for a stranger until the learner revokes it.
import http from 'node:http';

const WS = '[data-testid="workspace"]';

/** GET through the preview listener with the Host of a preview origin (Node does not resolve *.localhost). */
function previewGet(origin, pathAndQuery, headers = {}) {
  const u = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: u.port || 80, path: pathAndQuery, method: 'GET', headers: { Host: u.host, ...headers } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The origin of another seat's or port's preview on the same domain. */
function otherOrigin(origin, { seat, port }) {
  const u = new URL(origin);
  const [p, s, ...ws] = u.hostname.split('.')[0].split('-');
  u.hostname = [`${port ?? p}-${seat ?? s}-${ws.join('-')}`, ...u.hostname.split('.').slice(1)].join('.');
  return u.origin;
}

async function frameText(page, selector) {
  return page.frameLocator(`${WS} [data-testid="preview-pane"] iframe`).locator(selector).textContent({ timeout: 20_000 });
}

export async function previewSteps({ step, lpage, ipage, ictx, browser, state, run, shot, log, BASE }) {
  const marker = `preview-${Math.random().toString(36).slice(2, 8)}`;
  const p = {};

  await step(
    'P1. the learner starts a web server in the terminal; a toast says it is ready and the preview opens beside the editor',
    async () => {
      await lpage.waitForSelector(`${WS} [data-testid="ports-panel"]`);
      await run(lpage, `mkdir -p site && echo '<h1>${marker}</h1><p>served from the seat</p>' > site/index.html`);
      await run(lpage, 'python3 -m http.server 8000 --directory site >http.log 2>&1 &');
      const toast = lpage.locator('[data-testid="port-toast"][data-port="8000"]');
      await toast.waitFor({ timeout: 15_000 });
      const said = (await toast.textContent()).trim();
      if (!said.includes('Your app on port 8000 is ready')) throw new Error(`the toast says "${said}"`);
      await lpage.waitForSelector(`${WS} [data-testid="ports-panel"] li[data-port="8000"]`);
      await toast.locator('button:has-text("Open")').click();
      await lpage.waitForSelector(`${WS} [data-testid="preview-pane"][data-port="8000"]`);
      const h1 = await frameText(lpage, 'h1');
      if (h1 !== marker) throw new Error(`the preview shows "${h1}", want "${marker}"`);
      p.src = await lpage.getAttribute(`${WS} [data-testid="preview-pane"] iframe`, 'src');
      p.origin = new URL(p.src).origin;
      p.token = new URL(p.src).searchParams.get('t');
      const m = /^(\d+)-(\d+)-/.exec(new URL(p.origin).hostname);
      p.seat = Number(m?.[2]);
      log(`  preview at ${p.origin} (seat ${p.seat})`);
      if (new URL(p.origin).host === new URL(BASE).host) throw new Error('the preview is served from the app origin');
      // The terminal is still in view and usable beside the preview.
      await run(lpage, 'echo beside-$((3*5))');
      await lpage.waitForFunction(() => document.querySelector('[data-testid="workspace"] .xterm-rows')?.textContent?.includes('beside-15'));
      await shot(lpage, 'preview-beside-editor');
    },
    { pages: [lpage] },
  );

  await step(
    'P2. the preview opens in a new tab of its own origin; its cookie is not the app\'s, and the app\'s API refuses it (CORS)',
    async () => {
      const [tab] = await Promise.all([
        lpage.context().waitForEvent('page'),
        lpage.click(`${WS} button[aria-label="Open port 8000 in a new tab"]`),
      ]);
      await tab.waitForURL((u) => u.origin === p.origin && u.pathname === '/', { timeout: 20_000 });
      const h1 = await tab.textContent('h1');
      if (h1 !== marker) throw new Error(`the new tab shows "${h1}"`);
      if (await tab.evaluate(() => window.opener !== null)) throw new Error('the preview tab can reach the workspace (window.opener)');
      await tab.close();

      // The instructor (whose session is a cookie of the app's origin) opens
      // the same preview with a seat token, as the class view would.
      const link = await ipage.evaluate(
        async ({ ws, seat }) => {
          const t = await fetch(`/api/workshops/${encodeURIComponent(ws)}/seats/${seat}/token`, {
            method: 'POST',
            credentials: 'include',
            headers: { 'Content-Type': 'application/json' },
            body: '{"mode":"ro"}',
          }).then((r) => r.json());
          const r = await fetch(`/api/workspaces/${encodeURIComponent(ws)}/${seat}/preview`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${t.token}` },
            body: '{"port":8000}',
          });
          return { status: r.status, body: await r.json() };
        },
        { ws: state.workshopId, seat: p.seat },
      );
      if (link.status !== 200) throw new Error(`the instructor's preview link: ${link.status} ${JSON.stringify(link.body)}`);
      const ppage = await ictx.newPage();
      try {
        await ppage.goto(link.body.url);
        if ((await ppage.textContent('h1')) !== marker) throw new Error('the instructor does not see the app');
        const onPreview = (await ictx.cookies(p.origin)).map((c) => c.name);
        const onApp = (await ictx.cookies(BASE)).map((c) => c.name);
        log(`  cookies the browser sends to the preview: ${onPreview.join(', ')}; to the app: ${onApp.join(', ')}`);
        if (onPreview.some((n) => n === 'ct_session')) throw new Error('the app session cookie reaches the preview origin');
        if (!onPreview.every((n) => /ct_preview$/.test(n)) || onPreview.length !== 1) throw new Error(`preview cookies: ${onPreview}`);
        if (!onApp.includes('ct_session')) throw new Error(`the instructor has no session cookie on the app: ${onApp}`);
        if (onApp.some((n) => /ct_preview$/.test(n))) throw new Error('the preview cookie reaches the app origin');
        const seen = await ppage.evaluate(() => document.cookie);
        if (seen !== '') throw new Error(`the app's script reads cookies on the preview origin: "${seen}"`);
        const fromPreview = await ppage.evaluate(async (api) => {
          try {
            const r = await fetch(`${api}/api/auth/me`, { credentials: 'include' });
            return `answered ${r.status}: ${(await r.text()).slice(0, 80)}`;
          } catch (err) {
            return `refused: ${err}`;
          }
        }, BASE);
        log(`  a fetch of ${BASE}/api/auth/me from the preview page: ${fromPreview}`);
        if (!fromPreview.startsWith('refused')) throw new Error(`the API answered the preview origin: ${fromPreview}`);
      } finally {
        await ppage.close();
      }
      // The API names no preview origin as allowed, with or without the session.
      const session = (await ictx.cookies(BASE)).find((c) => c.name === 'ct_session');
      const res = await fetch(`${BASE}/api/auth/me`, { headers: { Origin: p.origin, Cookie: `ct_session=${session.value}` } });
      if (res.headers.get('access-control-allow-origin')) throw new Error(`the API allows ${res.headers.get('access-control-allow-origin')}`);
      const pre = await fetch(`${BASE}/api/auth/me`, { method: 'OPTIONS', headers: { Origin: p.origin, 'Access-Control-Request-Method': 'GET' } });
      if (pre.ok || pre.headers.get('access-control-allow-origin')) throw new Error(`the API's preflight lets the preview in: ${pre.status}`);
    },
    { pages: [lpage, ipage] },
  );

  await step(
    'P3. a preview token is not a seat token, and does not open another seat\'s or port\'s preview',
    async () => {
      const api = `${BASE}/api/workspaces/${encodeURIComponent(state.workshopId)}/${p.seat}/sessions`;
      const asSeat = await fetch(api, { headers: { Authorization: `Bearer ${p.token}` } });
      if (asSeat.status !== 401) throw new Error(`the preview link's token as a seat token: ${asSeat.status}`);
      const cookie = (await lpage.context().cookies(p.origin)).find((c) => /ct_preview$/.test(c.name));
      if (!cookie) throw new Error('the learner has no preview cookie');
      const cookieAsSeat = await fetch(api, { headers: { Authorization: `Bearer ${cookie.value}` } });
      if (cookieAsSeat.status !== 401) throw new Error(`the preview cookie as a seat token: ${cookieAsSeat.status}`);
      const own = await previewGet(p.origin, '/', { Cookie: `${cookie.name}=${cookie.value}` });
      if (own.status !== 200 || !own.body.includes(marker)) throw new Error(`the cookie on its own preview: ${own.status}`);
      const otherSeat = otherOrigin(p.origin, { seat: p.seat === 1 ? 2 : 1 });
      const otherPort = otherOrigin(p.origin, { port: 8001 });
      const checks = [
        ['open link, another seat', await previewGet(otherSeat, `/__clarateach/open?t=${encodeURIComponent(p.token)}`)],
        ['open link, another port', await previewGet(otherPort, `/__clarateach/open?t=${encodeURIComponent(p.token)}`)],
        ['cookie, another seat', await previewGet(otherSeat, '/', { Cookie: `${cookie.name}=${cookie.value}` })],
        ['cookie, another port', await previewGet(otherPort, '/', { Cookie: `${cookie.name}=${cookie.value}` })],
      ];
      for (const [what, r] of checks) {
        log(`  ${what}: ${r.status}`);
        if (r.status !== 403) throw new Error(`${what}: ${r.status}, want 403`);
        if (r.body.includes(marker)) throw new Error(`${what}: the app's page came through`);
      }
    },
    { pages: [lpage] },
  );

  await step(
    'P4. a share link shows the app to someone signed in nowhere, until the learner revokes it',
    async () => {
      await lpage.click(`${WS} button[aria-label="Make a share link for port 8000"]`);
      const url = await lpage.inputValue(`${WS} [data-testid="share-link"] input`);
      if (!url.startsWith(`${p.origin}/__clarateach/share/`)) throw new Error(`the share link is ${url}`);
      const stranger = await browser.newContext();
      try {
        const sp = await stranger.newPage();
        await sp.goto(url);
        if ((await sp.textContent('h1')) !== marker) throw new Error('the share link does not show the app');
        await lpage.click(`${WS} [data-testid="ports-panel"] li[data-port="8000"] button:has-text("Revoke")`);
        await lpage.waitForSelector(`${WS} [data-testid="share-link"]`, { state: 'detached' });
        const res = await sp.reload();
        if (res?.status() !== 410) throw new Error(`after the revoke the stranger gets ${res?.status()}, want 410`);
        log(`  after the revoke: ${res.status()} "${(await sp.textContent('h1'))?.trim()}"`);
      } finally {
        await stranger.close();
      }
      await lpage.click(`${WS} [data-testid="preview-pane"] button[aria-label="Close the preview"]`);
      await lpage.waitForSelector(`${WS} [data-testid="preview-pane"]`, { state: 'detached' });
    },
    { pages: [lpage] },
  );
  return { marker };
}

/** P5, with the class view's seat watcher open on the learner: their port, shown beside their terminal. */
export async function watcherPreviewStep({ step, ipage, shot, log, marker }) {
  await step(
    'P5. the instructor opens the learner\'s app beside the learner\'s terminal in the class view',
    async () => {
      const W = '.watcher [data-testid="watcher-preview"]';
      await ipage.click(`${W} button[aria-label="Preview port 8000 beside the terminal"]`);
      await ipage.waitForSelector(`${W} [data-testid="preview-pane"][data-port="8000"]`);
      const h1 = await ipage.frameLocator(`${W} [data-testid="preview-pane"] iframe`).locator('h1').textContent({ timeout: 20_000 });
      if (h1 !== marker) throw new Error(`the instructor's preview shows "${h1}", want "${marker}"`);
      const src = await ipage.getAttribute(`${W} [data-testid="preview-pane"] iframe`, 'src');
      log(`  the instructor's preview: ${new URL(src).origin}`);
      await ipage.locator(`${W} [data-testid="preview-pane"]`).scrollIntoViewIfNeeded();
      await shot(ipage, 'class-view-preview');
      await ipage.click(`${W} [data-testid="preview-pane"] button[aria-label="Close the preview"]`);
      await ipage.waitForSelector(`${W} [data-testid="preview-pane"]`, { state: 'detached' });
    },
    { pages: [ipage] },
  );
}
