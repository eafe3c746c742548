// The browser end-to-end steps of workshop environments (run.mjs calls
// imageSteps): a workshop whose environment is E2E_IMAGE (the test image,
// Debian's static busybox with an /etc/os-release of its own, which
// scripts/e2e.sh serves from an in-process registry on a loopback port) and
// whose learners are root. The host pulls the image when the workshop
// starts; its learner opens the workspace in the browser, and the terminal
// shows the image's /etc/os-release (not the host's), the tool only the
// image has, and uid 0.
import { readFileSync } from 'node:fs';
import { waitForPrompt, waitForTerminal } from './lib.mjs';

const WS = '[data-testid="workspace"]';

/** The host's PRETTY_NAME, which the seat on the image must not show. */
function hostPrettyName() {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

export async function imageSteps({ step, browser, ipage, state, run, shot, log, watchConsole, BASE, RUNNING_TIMEOUT }) {
  const image = process.env.E2E_IMAGE;
  if (!image) {
    log('no image steps: E2E_IMAGE is not set (scripts/e2e.sh sets it when it runs as root with busybox-static installed)');
    return;
  }
  const stamp = Math.random().toString(36).slice(2, 8);
  const img = {};

  await step(
    'I1. a workshop on an image, learners root, starts: the class view shows the pull with its progress',
    async () => {
      // The create form's "Environment" and "Root for learners" sections.
      await ipage.goto('/workshops/new');
      await ipage.fill('input[name="name"]', `E2E image ${stamp}`);
      await ipage.fill('input[name="seats"]', '1');
      await ipage.click('summary:has-text("Environment")');
      await ipage.fill('input[name="environment"]', image);
      await ipage.click('summary:has-text("Root for learners")');
      await ipage.check('input[name="learner_root"]');
      await ipage.click('button:has-text("Create workshop")');
      await ipage.waitForURL(/\/workshops\/(?!new)[^/]+$/);
      const id = decodeURIComponent(new URL(ipage.url()).pathname.split('/').pop());
      const made = await ipage.evaluate(async (wid) => {
        const r = await fetch(`/api/workshops/${encodeURIComponent(wid)}`, { credentials: 'include' });
        return { status: r.status, body: await r.json() };
      }, id);
      if (made.status !== 200) throw new Error(`get: ${made.status} ${JSON.stringify(made.body)}`);
      if (made.body.environment !== image || made.body.learner_root !== true) throw new Error(`created ${JSON.stringify(made.body)}`);
      state.imageWorkshopId = made.body.id;
      await ipage.click('.workshop-actions button:has-text("Start")');
      // The pull is a provisioning step with its progress, shown before any
      // seat is ready (scripts/e2e.sh slows the registry's blobs down so
      // that the pull lasts a few seconds).
      const seen = await ipage.waitForFunction(
        () => {
          const p = document.querySelector('main.class-view li.step[data-step="pull_image"] .step-progress');
          if (!p?.textContent) return null;
          const seats = document.querySelector('main.class-view li.step[data-step="create_seats"]');
          const fontPx = parseFloat(getComputedStyle(p).fontSize);
          return {
            progress: p.textContent.trim(),
            lines: Math.round(p.getBoundingClientRect().height / (fontPx * 1.2)),
            status: document.querySelector('main.class-view')?.getAttribute('data-status'),
            seats: seats ? [...seats.classList].find((c) => c.startsWith('step-')) : 'none',
          };
        },
        null,
        { timeout: RUNNING_TIMEOUT, polling: 100 },
      );
      const pull = await seen.jsonValue();
      if (!/^\d+\.\d of \d+\.\d MB$/.test(pull.progress)) throw new Error(`pull progress reads ${JSON.stringify(pull.progress)}`);
      if (pull.lines > 1) throw new Error(`the pull's progress wraps over ${pull.lines} lines`);
      if (pull.status === 'running' || pull.seats !== 'none') {
        throw new Error(`the pull's progress came after the seats: ${JSON.stringify(pull)}`);
      }
      log(`  the class view shows pull_image at ${pull.progress} (workshop ${pull.status}, create_seats ${pull.seats})`);
      await shot(ipage, 'class-view-pulling');
      await ipage.waitForSelector('main.class-view[data-status="running"]', { timeout: RUNNING_TIMEOUT });
      img.code = (await ipage.textContent('main.class-view .page-head .mono'))?.trim();
      if (!img.code) throw new Error('no workshop code on the class view');
      log(`  ${image} is running as workshop ${img.code}`);
    },
    { pages: [ipage] },
  );

  const ctx = await browser.newContext({ baseURL: BASE, viewport: { width: 1366, height: 860 }, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  watchConsole(page, 'image learner');
  try {
    await step(
      "I2. its learner's terminal shows the image's os-release and tool, and uid 0",
      async () => {
        await page.goto(`/join/${encodeURIComponent(img.code)}`);
        await page.fill('input[name="name"]', 'Ivy Image');
        await page.fill('input[name="email"]', `ivy-${stamp}@example.com`);
        await page.click('button:has-text("Get my access code")');
        const access = (await page.textContent('[data-testid="access-code"]'))?.trim().replace(/-/g, '');
        if (!access) throw new Error('no access code shown');
        await page.click('a:has-text("Open my workspace")');
        await page.waitForSelector(WS, { timeout: RUNNING_TIMEOUT });
        await page.waitForSelector('.terminal-tabs .conn-status[data-state="open"]');
        await waitForPrompt(page, { scope: WS });
        await run(page, 'cat /etc/os-release; clara-tool; echo "uid=$(id -u)"', WS);
        const [, uid] = await waitForTerminal(page, /^uid=(\d+)$/m, { scope: WS });
        await waitForTerminal(page, /^PRETTY_NAME="ClaraTeach test image"$/m, { scope: WS });
        await waitForTerminal(page, /^clara-tool from the image$/m, { scope: WS });
        const host = hostPrettyName();
        const text = await page.evaluate(() => document.querySelector('[data-testid="workspace"] .xterm-rows')?.textContent ?? '');
        if (host && host !== 'ClaraTeach test image' && text.includes(host)) throw new Error(`the terminal shows the host's os-release (${host})`);
        if (uid !== '0') throw new Error(`id -u is ${uid} in a learner_root workshop, want 0`);
        log(`  the terminal shows the image's os-release, its clara-tool and uid ${uid} (host: ${host})`);
        await shot(page, 'workspace-on-image');
      },
      { pages: [page] },
    );
  } finally {
    await ctx.close();
  }
}
