// Screenshots of the main screens in English and German for docs/screens/ (not a test: run by
// scripts/screens.sh). Starts the real server binary on a temporary database, seeds what the
// screens need through the real CLI and APIs (a counsellor, a centre profile, a booking page with
// an appointment type, walk-ins, a form to sign), walks through the screens in headless Chromium
// with fake camera and microphone, and writes one PNG per screen and language.
//
//   node tests/e2e/screens.mjs [OUT_DIR]      (default docs/screens; CONFIDANT_BIN as the tests)
//
// Every step names itself; a step that fails says which and with what, and the script exits 1
// after writing what it could. Selectors are data-testids only, waits are generous.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BIN, CHROMIUM, CHROMIUM_ARGS, createCounsellor, fillSignature, pageApi, startServer, stopProcess } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.resolve(process.argv[2] || path.join(here, '../../docs/screens'));
const EMAIL = 'lindqvist@centre.example';
const PASSWORD = 'correct horse battery staple 42';
const SLUG = 'dr-lindqvist';
const WAIT_MS = 60_000;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 360, height: 780 };
const LOGO_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" viewBox="0 0 120 40">
<circle cx="20" cy="20" r="17" fill="#0b5c70"/><path d="M11 21c5-9 13-9 18 0-5 7-13 7-18 0z" fill="#fff"/>
<text x="44" y="26" font-family="sans-serif" font-size="15" font-weight="700" fill="#0b5c70">Nord</text></svg>`;

const log = [];
const written = [];
const failures = [];

/** Runs one named step; a failure is recorded and the script goes on with the next. */
async function step(name, fn) {
  process.stdout.write(`• ${name} … `);
  try {
    await fn();
    console.log('ok');
  } catch (e) {
    console.log('FAILED');
    failures.push(`${name}: ${e.message.split('\n')[0]}`);
  }
}

async function shot(page, name, { fullPage = false } = {}) {
  await page.evaluate(() => document.fonts && document.fonts.ready);
  await page.waitForLoadState('networkidle').catch(() => {});
  // Caret and animations would make every run's pictures differ.
  await page.addStyleTag({ content: '*{caret-color:transparent!important;animation:none!important;transition:none!important}' }).catch(() => {});
  if (!fullPage) await page.evaluate(() => window.scrollTo(0, 0));
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage, animations: 'disabled' });
  written.push(path.basename(file));
}

function cli(dataDir, ...args) {
  const r = spawnSync(BIN, [...args, '--data-dir', dataDir], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, RUST_LOG: 'warn' } });
  if (r.status !== 0) throw new Error(`${args.slice(0, 3).join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function main() {
  if (!fs.existsSync(BIN)) throw new Error(`server binary not found at ${BIN}: run cargo build -p confidant`);
  fs.mkdirSync(OUT, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confidant-screens-'));
  const dataDir = path.join(dir, 'data');
  const server = await startServer({ dataDir, log, extraArgs: ['--form-burst', '100', '--walkin-ring-seconds', '300'] });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
  const base = server.base;
  try {
    await step('seed: a counsellor and the centre profile (admin CLI)', async () => {
      await createCounsellor(dataDir, { email: EMAIL, name: 'Dr. Lindqvist', password: PASSWORD });
      const logo = path.join(dir, 'logo.svg');
      fs.writeFileSync(logo, LOGO_SVG);
      cli(dataDir, 'admin', 'centre', 'set',
        '--name', 'Beratungsstelle Nord',
        '--logo', logo,
        '--address', 'Hauptstraße 1\\n12345 Musterstadt',
        '--imprint-url', 'https://beratung-nord.example/impressum',
        '--privacy-url', 'https://beratung-nord.example/datenschutz',
        '--emergency-label', 'TelefonSeelsorge',
        '--emergency-phone', '0800 111 0 111',
        '--emergency-text', 'In einer akuten Krise rufen Sie bitte sofort an – kostenfrei, Tag und Nacht. / In an acute crisis, please call now – free, day and night.',
        '--opening-hours', 'Mo–Fr 9–17 Uhr',
        '--contact-email', 'hallo@beratung-nord.example');
    });

    const newPage = async (lang, viewport = DESKTOP) => {
      const context = await browser.newContext({ viewport, locale: lang === 'de' ? 'de-DE' : 'en-GB', timezoneId: 'Europe/Berlin', deviceScaleFactor: 1 });
      await context.addCookies([{ name: 'lang', value: lang, url: base }]);
      await context.grantPermissions(['camera', 'microphone'], { origin: base });
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT_MS);
      page.on('pageerror', (e) => log.push(`[${lang}] pageerror: ${e.message}`));
      return page;
    };
    const login = async (page) => {
      await page.goto(`${base}/login`);
      await page.getByTestId('email-input').fill(EMAIL);
      await page.getByTestId('password-input').fill(PASSWORD);
      await page.getByTestId('login-button').click();
      await page.waitForURL(`${base}/dashboard`);
    };

    let office;
    let templateId;
    await step('seed: booking page, appointment type, hours, walk-ins, a form to sign (API)', async () => {
      office = await newPage('de');
      await login(office);
      const ok = (r, what) => {
        if (r.status >= 300) throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
        return r.body;
      };
      ok(await pageApi(office, 'PUT', '/api/booking/profile', { slug: SLUG, time_zone: 'Europe/Berlin', lang: 'de' }), 'booking profile');
      ok(await pageApi(office, 'POST', '/api/booking/types', { name: 'Erstgespräch', kind: 'video', duration_min: 50, min_notice_min: 60 }), 'appointment type');
      const weekly = ['mon', 'tue', 'wed', 'thu', 'fri'].map((weekday) => ({ weekday, start: '09:00', end: '17:00' }));
      ok(await pageApi(office, 'PUT', '/api/booking/availability', { weekly, overrides: [] }), 'availability');
      ok(await pageApi(office, 'PUT', '/api/walkin/profile', { enabled: true, topics: ['Familie', 'Schulden'], languages: ['Deutsch', 'English'], hours: [] }), 'walk-in profile');
      templateId = ok(await pageApi(office, 'POST', '/api/signatures/templates', { title: 'Einwilligung in die Online-Beratung', body_markdown: 'Ich stimme der **Online-Beratung** per Video zu und habe die Datenschutzhinweise gelesen.', fields: [] }), 'signature template').id;
    });

    for (const lang of ['en', 'de']) {
      await step(`${lang}: landing and login`, async () => {
        const page = await newPage(lang);
        await page.goto(`${base}/`);
        await page.getByTestId('lang-switch').waitFor();
        await shot(page, `${lang}-landing`);
        await page.goto(`${base}/login`);
        await page.getByTestId('login-form').waitFor();
        await shot(page, `${lang}-login`);
        await page.context().close();
      });

      await step(`${lang}: dashboard`, async () => {
        const page = await newPage(lang);
        await login(page);
        await page.getByTestId('start-session-button').waitFor();
        await shot(page, `${lang}-dashboard`);
        await page.context().close();
      });

      await step(`${lang}: join (pre-join), lobby, call with two participants, end screen`, async () => {
        const host = await newPage(lang);
        await login(host);
        await host.getByTestId('start-session-button').click();
        await host.waitForURL(/\/s\/[^/?#]+$/);
        const url = await host.getByTestId('join-link').inputValue();
        const phone = await newPage(lang, PHONE);
        await phone.goto(url);
        await phone.getByTestId('join-button').waitFor();
        await shot(phone, `${lang}-join-phone`);
        await phone.context().close();
        const client = await newPage(lang);
        await client.goto(url);
        await client.getByTestId('join-button').waitFor();
        await client.waitForFunction(() => {
          const v = document.querySelector('[data-testid="preview-video"]');
          return v && v.videoWidth > 0;
        });
        await client.getByTestId('name-input').fill('Robin');
        await shot(client, `${lang}-join`);
        await client.getByTestId('join-button').click();
        await client.getByTestId('lobby-waiting').waitFor();
        await shot(client, `${lang}-lobby`);
        await host.locator('[data-testid="admit-button"][data-lobby-name="Robin"]').click();
        await client.waitForFunction(() => window.confidant && window.confidant.state === 'in-call');
        // Both see each other's (fake) video.
        await client.waitForFunction(() => [...document.querySelectorAll('video')].filter((v) => v.videoWidth > 0).length >= 2, null, { timeout: WAIT_MS });
        await shot(client, `${lang}-call`);
        await shot(host, `${lang}-call-counsellor`);
        await client.getByTestId('leave-button').click();
        await client.getByTestId('leave-confirm').click();
        await client.getByTestId('left').waitFor();
        await shot(client, `${lang}-call-end`, { fullPage: true });
        await client.context().close();
        await host.context().close();
      });

      await step(`${lang}: booking page, times, confirmation`, async () => {
        const phone = await newPage(lang, PHONE);
        await phone.goto(`${base}/book/${SLUG}`);
        await phone.getByTestId('type-choice').first().waitFor();
        await shot(phone, `${lang}-booking-phone`);
        await phone.context().close();
        const page = await newPage(lang);
        await page.goto(`${base}/book/${SLUG}`);
        await page.getByTestId('type-choice').first().waitFor();
        await shot(page, `${lang}-booking`);
        await page.getByTestId('type-choice').first().click();
        const slot = page.getByTestId('slot').nth(lang === 'en' ? 2 : 6);
        await slot.waitFor();
        await shot(page, `${lang}-booking-times`);
        await slot.click();
        const form = page.getByTestId('booking-form');
        await form.getByTestId('field-first_name').fill('Alex');
        await form.getByTestId('field-last_name').fill('Muster');
        await form.getByTestId('field-email').fill(`alex-${lang}@client.example`);
        await form.getByTestId('consent-checkbox').check();
        await page.getByTestId('book-submit').click();
        await page.getByTestId('booking-done').waitFor();
        await page.evaluate(() => window.scrollTo(0, 0));
        await shot(page, `${lang}-booking-confirmation`);
        await page.context().close();
      });

      await step(`${lang}: talk now and the walk-in queue`, async () => {
        // At work but busy: the client waits in the queue instead of ringing at once.
        await office.goto(`${base}/dashboard`);
        await office.getByTestId('start-session-button').waitFor();
        const busy = await pageApi(office, 'PUT', '/api/walkin/presence', { presence: 'busy' });
        if (busy.status !== 200) throw new Error(`presence: HTTP ${busy.status}`);
        const page = await newPage(lang);
        await page.goto(`${base}/talk/${SLUG}`);
        await page.getByTestId('talk-form').waitFor();
        await page.getByTestId('talk-first-name').fill('Sam');
        await shot(page, `${lang}-talk-now`);
        await page.getByTestId('talk-submit').click();
        await page.getByTestId('queue-position').waitFor();
        await shot(page, `${lang}-talk-queue`);
        await page.getByTestId('talk-leave').click();
        await page.getByTestId('talk-left').waitFor();
        await page.context().close();
        await pageApi(office, 'PUT', '/api/walkin/presence', { presence: 'available' });
      });

      await step(`${lang}: signing and its end screen`, async () => {
        const req = await pageApi(office, 'POST', '/api/signatures/requests', { template_id: templateId });
        if (req.status !== 201) throw new Error(`signature request: HTTP ${req.status}`);
        const page = await newPage(lang);
        await page.goto(req.body.sign_url);
        await fillSignature(page);
        await page.evaluate(() => window.scrollTo(0, 0));
        await shot(page, `${lang}-signing`);
        await page.getByTestId('sign-submit').click();
        await page.getByTestId('sign-success').waitFor();
        await shot(page, `${lang}-signing-done`, { fullPage: true });
        await page.context().close();
      });
    }
  } finally {
    await browser.close().catch(() => {});
    await stopProcess(server.server);
    if (!failures.length) fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\n${written.length} screenshots in ${OUT}`);
  if (failures.length) {
    console.error(`\n${failures.length} step(s) failed:\n  ${failures.join('\n  ')}`);
    console.error(`\nserver log (last lines):\n${log.slice(-40).join('\n')}`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(`screens: ${e.message}`);
  console.error(log.slice(-40).join('\n'));
  process.exit(1);
});
