// Two-way CalDAV sync end to end, through the real parts: the server binary, a real Radicale
// CalDAV server and headless Chromium for the counsellor's dashboard.
//
// The counsellor connects their Radicale account in the dashboard (a wrong app password is
// named at the field), chooses where bookings go; an appointment in Radicale removes its slot
// from the public page; a booking appears in Radicale; moving it there shows a notice above
// the appointments, and "put it back" restores it in Radicale.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/caldav.test.mjs

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { ARTIFACTS, collect, freeTcpPort, openSection, suite, until } from './harness.mjs';

const EMAIL = 'kalender@example.test';
const PASSWORD = 'correct horse battery staple 42';
const SLUG = 'dr-kalender';
const DAV_USER = 'alice';
const DAV_PASSWORD = 'app-pass-e2e';
const STEP_MS = 60_000;

/** `YYYYMMDDTHHMMSSZ`. */
const z = (d) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

/** A Berlin wall-clock time on `day` (a Date at local midnight in Berlin is not needed: the
 * offset is read from Intl for that instant). */
function berlin(dayOffset, hour) {
  const base = new Date(Date.now() + dayOffset * 86_400_000);
  const ymd = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Berlin', year: 'numeric', month: '2-digit', day: '2-digit' }).format(base);
  // Try both possible offsets (+1/+2) and keep the one that shows `hour` in Berlin.
  for (const off of ['+01:00', '+02:00']) {
    const d = new Date(`${ymd}T${String(hour).padStart(2, '0')}:00:00${off}`);
    const h = Number(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', hourCycle: 'h23' }).format(d));
    if (h === hour) return d;
  }
  throw new Error('no such Berlin time');
}

describe('CalDAV sync end to end: dashboard, Radicale, public page', { timeout: 10 * 60_000 }, () => {
  const ctx = suite({
    name: 'caldav',
    browserArtifact: 'caldav-browser-console.log',
    // Radicale with two calendars, one of them holding a busy event.
    services: async (ctx) => {
      const davPort = await freeTcpPort();
      ctx.davBase = `http://127.0.0.1:${davPort}`;
      fs.writeFileSync(path.join(ctx.dir, 'users'), `${DAV_USER}:${DAV_PASSWORD}\n`);
      fs.writeFileSync(
        path.join(ctx.dir, 'radicale.conf'),
        `[server]\nhosts = 127.0.0.1:${davPort}\n[auth]\ntype = htpasswd\nhtpasswd_filename = ${path.join(ctx.dir, 'users')}\nhtpasswd_encryption = plain\n` +
          `[storage]\nfilesystem_folder = ${path.join(ctx.dir, 'collections')}\n[rights]\ntype = owner_only\n`,
      );
      const radicale = ctx.own(spawn('python3', ['-m', 'radicale', '--config', path.join(ctx.dir, 'radicale.conf')], { stdio: ['ignore', 'ignore', 'pipe'] }));
      collect(radicale.stderr, ctx.logs, '[radicale] ');
      await until('radicale to listen', () => new Promise((r) => {
        const c = net.connect(davPort, '127.0.0.1', () => { c.end(); r(true); });
        c.on('error', () => r(false));
      }), { timeout: 30_000, interval: 100 });
      for (const cal of ['work', 'appointments']) assert.equal((await dav('MKCALENDAR', `/${DAV_USER}/${cal}/`)).status, 201);
      const ev = `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//e2e//EN\r\nBEGIN:VEVENT\r\nUID:dentist@e2e\r\nDTSTART:${z(busyAt)}\r\nDTEND:${z(new Date(busyAt.getTime() + 3_600_000))}\r\nSUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
      assert.equal((await dav('PUT', `/${DAV_USER}/work/dentist.ics`, ev)).status, 201);
    },
    server: { extraArgs: ['--calendar-fetch-private', '--caldav-allow-http'] },
    counsellors: [{ email: EMAIL, name: 'Dr. Kalender', password: PASSWORD }],
    steps: { timeout: 3 * 60_000 },
  });
  const { step, browserLog, pages } = ctx;
  let page;
  let bookingId;
  const busyAt = berlin(3, 11);
  const bookAt = berlin(4, 10);

  async function dav(method, p, body, headers = {}) {
    const res = await fetch(`${ctx.davBase}${p}`, {
      method,
      headers: { authorization: 'Basic ' + Buffer.from(`${DAV_USER}:${DAV_PASSWORD}`).toString('base64'), ...(body ? { 'content-type': 'text/calendar' } : {}), ...headers },
      body,
    });
    return { status: res.status, etag: res.headers.get('etag'), text: await res.text() };
  }

  /** Free slot starts (ms) of the public page around the busy day. */
  async function freeStarts(typeId) {
    const from = new Date(busyAt.getTime() - 12 * 3_600_000).toISOString();
    const to = new Date(bookAt.getTime() + 24 * 3_600_000).toISOString();
    const res = await fetch(`${ctx.base}/api/public/counsellors/${SLUG}/slots?${new URLSearchParams({ type_id: typeId, from, to })}`);
    assert.equal(res.status, 200);
    return (await res.json()).slots.map((s) => Date.parse(s.start));
  }

  let typeId;

  step('the counsellor logs in and has a booking page (set up through the API)', async () => {
    const context = await ctx.browser.newContext({ viewport: { width: 1280, height: 1000 }, locale: 'en-US', timezoneId: 'Europe/Berlin' });
    page = await context.newPage();
    pages.dashboard = page;
    page.setDefaultTimeout(STEP_MS);
    page.on('console', (msg) => browserLog.push(`${msg.type()}: ${msg.text()}`));
    page.on('pageerror', (err) => browserLog.push(`pageerror: ${err.message}`));
    await page.goto(`${ctx.base}/login`);
    await page.getByTestId('email-input').fill(EMAIL);
    await page.getByTestId('password-input').fill(PASSWORD);
    await page.getByTestId('login-button').click();
    await page.waitForURL(`${ctx.base}/dashboard`);
    typeId = await page.evaluate(async (slug) => {
      const send = async (method, url, body) => {
        const r = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        if (!r.ok) throw new Error(`${method} ${url}: ${r.status} ${await r.text()}`);
        return r.json();
      };
      await send('PUT', '/api/booking/profile', { slug, time_zone: 'Europe/Berlin', lang: 'en' });
      const weekly = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((weekday) => ({ weekday, start: '08:00', end: '20:00' }));
      await send('PUT', '/api/booking/availability', { weekly });
      const type = await send('POST', '/api/booking/types', { name: 'Video consultation', kind: 'video', duration_min: 50, buffer_after_min: 10, slot_step_min: 60 });
      return type.id;
    }, SLUG);
    const free = await freeStarts(typeId);
    assert.ok(free.includes(busyAt.getTime()), 'the busy time is offered before the account is connected');
  });

  step('connecting: a wrong app password is named at its field; the right one lists the calendars', async () => {
    await page.reload();
    await openSection(page, 'calendars');
    const form = page.getByTestId('caldav-form');
    await form.getByTestId('field-url').fill(`${ctx.davBase}/`);
    await form.getByTestId('field-username').fill(DAV_USER);
    await form.getByTestId('field-password').fill('wrong');
    await page.getByTestId('caldav-connect').click();
    await form.locator('[data-error-for="password"]', { hasText: /refused/ }).waitFor();

    await form.getByTestId('field-password').fill(DAV_PASSWORD);
    await form.getByTestId('field-label').fill('My Radicale');
    await page.getByTestId('caldav-connect').click();
    const account = page.getByTestId('caldav-account');
    await account.waitFor();
    await account.getByTestId('caldav-ok').waitFor();
    assert.equal(await account.getByTestId('caldav-blocks').count(), 2);
    await account.locator('label', { hasText: 'alice/work – 1 busy times' }).waitFor();
    // The password is not in the page any more.
    assert.equal(await form.getByTestId('field-password').inputValue(), '');

    const free = await freeStarts(typeId);
    assert.ok(!free.includes(busyAt.getTime()), 'the appointment in Radicale removes its slot');
    assert.ok(free.includes(busyAt.getTime() - 3_600_000), 'the hour before stays free');

    await account.getByTestId('caldav-write').selectOption({ label: 'alice/appointments' });
    await until('the write calendar to be saved', async () => {
      const accounts = await page.evaluate(() => fetch('/api/calendar/caldav').then((r) => r.json()));
      return accounts[0].write_calendar_id !== null;
    }, { timeout: 30_000 });
  });

  step('a booking appears in Radicale; moved there, the dashboard shows it and puts it back', async () => {
    const consent = (await (await fetch(`${ctx.base}/api/public/counsellors/${SLUG}?lang=en`)).json()).consent.sha256;
    const res = await fetch(`${ctx.base}/api/public/counsellors/${SLUG}/bookings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type_id: typeId, start: bookAt.toISOString(), first_name: 'Alex', last_name: 'Client', email: 'alex@client.example', message: '', lang: 'en', consent_sha256: consent }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    bookingId = (await res.json()).id;
    const account = page.getByTestId('caldav-account');
    await account.getByTestId('caldav-sync').click();
    const resource = `/${DAV_USER}/appointments/${bookingId}.ics`;
    let got;
    await until('the booking in Radicale', async () => {
      got = await dav('GET', resource);
      return got.status === 200;
    }, { timeout: 30_000 });
    assert.ok(got.text.includes(`DTSTART:${z(bookAt)}`), got.text);
    assert.ok(!got.text.includes('Alex'), 'no client details unless chosen');

    // The counsellor moves it by an hour in their calendar program.
    const later = new Date(bookAt.getTime() + 3_600_000);
    const moved = got.text.replace(`DTSTART:${z(bookAt)}`, `DTSTART:${z(later)}`).replace(`DTEND:${z(new Date(bookAt.getTime() + 50 * 60_000))}`, `DTEND:${z(new Date(later.getTime() + 50 * 60_000))}`);
    const put = await dav('PUT', resource, moved, { 'if-match': got.etag });
    assert.ok(put.status === 201 || put.status === 204, String(put.status));
    // Wait for the sync's answer before reloading (a reload would leave the page before it).
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/sync') && r.request().method() === 'POST'),
      account.getByTestId('caldav-sync').click(),
    ]);
    await page.reload();
    // Told where the bookings are.
    await openSection(page, 'bookings');
    const notice = page.getByTestId('calendar-changes');
    await notice.waitFor();
    await notice.getByTestId('caldav-change').filter({ hasText: 'was moved' }).waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'caldav-dashboard.png'), fullPage: true });
    await notice.getByTestId('caldav-restore').click();
    await until('the booking to be back at its time in Radicale', async () => (await dav('GET', resource)).text.includes(`DTSTART:${z(bookAt)}`), { timeout: 30_000 });
    await page.getByTestId('calendar-changes').waitFor({ state: 'detached' });
  });
});
