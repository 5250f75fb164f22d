// Failed mail on the dashboard (issue 28), through the real parts: the server binary, a real
// SMTP server (aiosmtpd, tests/mail/smtp_server.py) that answers 550 for one recipient, and
// headless Chromium for the counsellor.
//
// A client books with a mistyped address; the confirmation is refused with 550 and fails at
// once (no retries); the booking on the dashboard says so in plain German words; the counsellor
// corrects the address and resends; the confirmation arrives at the corrected address (parsed by
// Python's own e-mail parser) and the booking no longer shows a failure. /metrics counts the
// permanent failure.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/mail-failure.test.mjs

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ARTIFACTS, collect, freeTcpPort, inspectMails, metric, openSection, sleep, suite, until } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SMTP_SERVER = path.resolve(here, '../mail/smtp_server.py');

const EMAIL = 'beraterin@centre.example';
const PASSWORD = 'correct horse battery staple 42';
const SLUG = 'dr-mail';
const TYPO = 'alex@clinet-typo.example';
const FIXED = 'alex@client.example';

const mails = inspectMails;

describe('A refused confirmation shows on its booking and is resent to the corrected address', { timeout: 10 * 60_000 }, () => {
  const ctx = suite({
    name: 'mail-failure',
    browserArtifact: 'mail-failure-browser-console.log',
    // A real SMTP server that refuses the mistyped address, as the client's mail server would.
    services: async (ctx) => {
      ctx.maildir = path.join(ctx.dir, 'maildir');
      ctx.smtpPort = await freeTcpPort();
      const smtp = ctx.own(spawn('python3', [SMTP_SERVER, '--port', String(ctx.smtpPort), '--maildir', ctx.maildir, '--reject', 'typo'], { stdio: ['ignore', 'pipe', 'pipe'] }));
      collect(smtp.stderr, ctx.logs, '[smtp] ');
      const first = await Promise.race([readline.createInterface({ input: smtp.stdout })[Symbol.asyncIterator]().next(), sleep(30_000)]);
      assert.equal(first?.value, 'ready', 'smtp_server.py started');
    },
    server: (ctx) => ({
      extraArgs: ['--smtp-host', '127.0.0.1', '--smtp-port', String(ctx.smtpPort), '--smtp-tls', 'none', '--mail-from', 'Beratungsstelle <termine@centre.example>'],
    }),
    counsellors: [{ email: EMAIL, name: 'Dr. Mail', password: PASSWORD }],
    steps: { timeout: 3 * 60_000 },
  });
  const { step, browserLog, pages } = ctx;
  let page;
  let bookingId;

  step('the counsellor logs in and a client books with a mistyped address', async () => {
    const context = await ctx.browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'de-DE', timezoneId: 'Europe/Berlin' });
    page = await context.newPage();
    pages.dashboard = page;
    page.setDefaultTimeout(60_000);
    page.on('console', (msg) => browserLog.push(`${msg.type()}: ${msg.text()}`));
    page.on('pageerror', (err) => browserLog.push(`pageerror: ${err.message}`));
    await page.goto(`${ctx.base}/login`);
    await page.getByTestId('email-input').fill(EMAIL);
    await page.getByTestId('password-input').fill(PASSWORD);
    await page.getByTestId('login-button').click();
    await page.waitForURL(`${ctx.base}/dashboard`);
    // Set-up and booking through the same HTTP API the pages use (the booking pages have
    // their own browser test): hours every day, one video type, one booking.
    bookingId = await page.evaluate(
      async ({ slug, typo }) => {
        const call = async (method, url, body) => {
          const r = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
          const text = await r.text();
          if (!r.ok) throw new Error(`${method} ${url}: ${r.status} ${text}`);
          return text ? JSON.parse(text) : null;
        };
        await call('PUT', '/api/booking/profile', { slug, time_zone: 'Europe/Berlin', lang: 'de' });
        const weekly = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((weekday) => ({ weekday, start: '00:00', end: '24:00' }));
        await call('PUT', '/api/booking/availability', { weekly });
        const type = await call('POST', '/api/booking/types', { name: 'Erstgespräch', kind: 'video', duration_min: 50, buffer_after_min: 10, slot_step_min: 60 });
        const from = new Date(Date.now() + 2 * 86400_000).toISOString().slice(0, 10) + 'T00:00:00Z';
        const { slots } = await call('GET', `/api/public/counsellors/${slug}/slots?type_id=${type.id}&from=${from}`);
        const page = await call('GET', `/api/public/counsellors/${slug}?lang=de`);
        const booked = await call('POST', `/api/public/counsellors/${slug}/bookings`, {
          type_id: type.id,
          start: slots[0].start,
          first_name: 'Alex',
          last_name: 'Muster',
          email: typo,
          lang: 'de',
          consent_sha256: page.consent.sha256,
        });
        return booked.id;
      },
      { slug: SLUG, typo: TYPO },
    );
    assert.ok(bookingId);
  });

  step('the 550 fails the confirmation at once and the booking says why, in German', async () => {
    // The worker sends the notification to the counsellor and fails the confirmation.
    await until('the confirmation to fail', async () => (await metric(ctx.base, 'confidant_mail_permanent_failures_total')) === 1, { timeout: 60_000 });
    await until('the counsellor notification to arrive', () => mails(ctx.maildir).some((m) => m.to[0] === EMAIL), { timeout: 60_000 });
    await openSection(page, 'bookings');
    await page.getByTestId('bookings-refresh').click();
    const item = page.locator(`[data-testid="booking-item"][data-booking-id="${bookingId}"]`);
    const failure = item.getByTestId('mail-failure');
    await failure.waitFor();
    assert.equal(await failure.getAttribute('data-kind'), 'confirmation');
    assert.equal(await failure.getByTestId('mail-failure-reason').getAttribute('data-reason'), 'address_rejected');
    assert.match(await failure.getByTestId('mail-failure-what').textContent(), /Terminbestätigung ist nicht angekommen/);
    assert.match(await failure.getByTestId('mail-failure-reason').textContent(), /vertippt/);
    assert.match(await failure.textContent(), /550/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'mail-failure-shown.png'), fullPage: true });
    assert.equal(mails(ctx.maildir).filter((m) => m.to[0] === TYPO).length, 0);
  });

  step('a malformed address is refused at the field; the corrected one is resent and arrives', async () => {
    const item = page.locator(`[data-testid="booking-item"][data-booking-id="${bookingId}"]`);
    const form = item.getByTestId('mail-resend-form');
    await form.getByTestId('mail-resend-email').fill('kein adresse');
    await form.getByTestId('mail-resend').click();
    await form.locator('[data-error-for="email"]').filter({ hasText: /\S/ }).waitFor();
    assert.equal(await form.getByTestId('mail-resend-email').getAttribute('aria-invalid'), 'true');

    await form.getByTestId('mail-resend-email').fill(FIXED);
    await form.getByTestId('mail-resend').click();
    await item.getByTestId('mail-failure').waitFor({ state: 'detached' });
    await item.getByTestId('booking-client').filter({ hasText: FIXED }).waitFor();
    const arrived = await until('the resent confirmation to arrive', () => mails(ctx.maildir).find((m) => m.to[0] === FIXED), { timeout: 60_000 });
    assert.match(arrived.subject, /^Terminbestätigung/);
    assert.equal(arrived.ics[0].method, 'REQUEST');
    assert.equal(mails(ctx.maildir).filter((m) => m.to[0] === FIXED).length, 1, 'once');
  });
});
