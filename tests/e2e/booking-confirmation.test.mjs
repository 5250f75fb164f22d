// What a client sees before and after booking (issue 18), through the real server, a real SMTP
// server (aiosmtpd) and headless Chromium:
//
// - the counsellor fills in their profile (text, languages, topics, photo; an SVG is refused at
//   the field) and a type's description and preparation text on the dashboard; the booking page
//   shows them;
// - the month calendar marks the days with free times and is operated by keyboard (arrows,
//   Page Up/Down, Enter);
// - a client whose browser runs in America/New_York (Chromium's time zone emulation) sees the
//   times of a counsellor in Europe/Berlin in their own zone, named, and correct on both sides
//   of a daylight-saving change that the two zones make on different dates;
// - the confirmation page offers the server's .ics (its SUMMARY the client-facing title, its
//   times the booking's), Google and Outlook links with the same title and times, the video
//   link, what to prepare, reschedule and cancel; the confirmation mail carries the same.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/booking-confirmation.test.mjs

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ARTIFACTS, inspectMails, openSection, pageApi, suite, until } from './harness.mjs';

const EMAIL = 'profil@example.test';
const PASSWORD = 'correct horse battery staple 42';
const COUNSELLOR = 'Dr. Profil';
const SLUG = 'dr-profil';
const STEP_MS = 60_000;
const TITLE = 'Video appointment with Beratungsstelle';
const PREPARATION = 'Please have your insurance card at hand.';
// A 1×1 PNG.
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082', 'hex');

/** UTC offset in hours of `zone` at `date` (from Node's own time zone data). */
function offsetHours(zone, date) {
  const name = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' }).formatToParts(date).find((p) => p.type === 'timeZoneName').value;
  const m = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) + Number(m[3]) / 60) : 0;
}

/** The nth weekday (0 = Sunday) of a month; n = -1: the last. */
function nthWeekday(year, month, weekday, n) {
  if (n > 0) {
    const first = new Date(Date.UTC(year, month, 1));
    return new Date(Date.UTC(year, month, 1 + ((weekday - first.getUTCDay() + 7) % 7) + 7 * (n - 1)));
  }
  const last = new Date(Date.UTC(year, month + 1, 0));
  return new Date(Date.UTC(year, month, last.getUTCDate() - ((last.getUTCDay() - weekday + 7) % 7)));
}

/**
 * The next stretch where New York and Berlin are out of step: spring (US on the second Sunday
 * of March, the EU on the last) or autumn (EU on the last Sunday of October, the US on the first
 * of November). Returns three calendar days: before, between and after the two changes.
 */
function nextDstGap(now) {
  const plus = (d, n) => new Date(d.getTime() + n * 86_400_000);
  const iso = (d) => d.toISOString().slice(0, 10);
  for (const year of [now.getUTCFullYear(), now.getUTCFullYear() + 1]) {
    for (const [first, second] of [
      [nthWeekday(year, 2, 0, 2), nthWeekday(year, 2, 0, -1)],
      [nthWeekday(year, 9, 0, -1), nthWeekday(year, 10, 0, 1)],
    ]) {
      if (plus(first, -3) > plus(now, 2)) return [iso(plus(first, -3)), iso(plus(first, 2)), iso(plus(second, 2))];
    }
  }
  throw new Error('no DST change ahead');
}

/** A slot at 09:00 Berlin time on `day`: its UTC start and its clock time in New York. */
function expected(day) {
  const noon = new Date(`${day}T12:00:00Z`);
  const utcHour = 9 - offsetHours('Europe/Berlin', noon);
  const start = new Date(`${day}T${String(utcHour).padStart(2, '0')}:00:00Z`);
  const ny = (utcHour + offsetHours('America/New_York', start) + 24) % 24;
  return { start: start.toISOString().replace('.000Z', 'Z'), clock: `${String(ny).padStart(2, '0')}:00` };
}

/** An iCalendar property's value (lines unfolded). */
function prop(ics, name) {
  const line = ics
    .replace(/\r\n[ \t]/g, '')
    .split(/\r?\n/)
    .find((l) => l.startsWith(`${name}:`) || l.startsWith(`${name};`));
  assert.ok(line, `no ${name} in\n${ics}`);
  return line.slice(line.indexOf(':') + 1);
}

describe('Booking confirmation, counsellor profile, month calendar and client time zone', { timeout: 10 * 60_000 }, () => {
  const ctx = suite({
    name: 'booking-confirmation',
    browserArtifact: 'booking-confirmation-browser-console.log',
    smtp: true,
    counsellors: [{ email: EMAIL, name: COUNSELLOR, password: PASSWORD }],
    steps: { timeout: 3 * 60_000 },
  });
  const { step } = ctx;
  const [before, between, after] = nextDstGap(new Date());
  let office;
  let client;
  let booked;

  /** Pages the client's calendar to month `ym` (`YYYY-MM`), waiting for each month's days. */
  async function showMonth(ym) {
    const grid = client.locator('[data-testid="cal-grid"][aria-busy="false"]');
    for (let i = 0; i < 15; i++) {
      const shown = await grid.getAttribute('data-month');
      if (shown === ym) return;
      await client.getByTestId(shown < ym ? 'cal-next' : 'cal-prev').click();
      await client.locator(`[data-testid="cal-grid"][aria-busy="false"]:not([data-month="${shown}"])`).waitFor();
    }
    throw new Error(`month ${ym} not reached`);
  }

  const newPage = (name, timezoneId) => ctx.newPage(name, { viewport: { width: 1280, height: 900 }, locale: 'en-US', timezoneId, timeout: STEP_MS, acceptDownloads: true });

  step('the counsellor sets profile, photo and a type with description and preparation on the dashboard', async () => {
    office = await newPage('office', 'Europe/Berlin');
    await office.goto(`${ctx.base}/login`);
    await office.getByTestId('email-input').fill(EMAIL);
    await office.getByTestId('password-input').fill(PASSWORD);
    await office.getByTestId('login-button').click();
    await office.waitForURL(`${ctx.base}/dashboard`);
    assert.equal((await pageApi(office, 'PUT', '/api/booking/profile', { slug: SLUG, time_zone: 'Europe/Berlin', lang: 'en' })).status, 200);
    const weekly = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((weekday) => ({ weekday, start: '09:00', end: '10:00' }));
    assert.equal((await pageApi(office, 'PUT', '/api/booking/availability', { weekly, overrides: [] })).status, 200);
    await office.reload();

    await openSection(office, 'bookings');
    await office.locator('[data-testid="booking-settings"] summary').click();
    const about = office.getByTestId('about-form');
    await about.getByTestId('field-about').fill('I have counselled families since 2010.');
    await about.getByTestId('field-languages').fill('German, English, Turkish');
    await about.getByTestId('field-topics').fill('Separation, Family');
    await office.getByTestId('about-save').click();
    await office.getByTestId('about-saved').waitFor();

    // A script disguised as a picture is refused at the field; a PNG is taken.
    const svgPath = path.join(ctx.dir, 'photo.png');
    fs.writeFileSync(svgPath, '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    await about.getByTestId('field-photo').setInputFiles(svgPath);
    await about.locator('[data-error-for="photo"]').filter({ hasText: /PNG, JPEG or WebP/ }).waitFor();
    assert.equal(await about.getByTestId('field-photo').getAttribute('aria-invalid'), 'true');
    const pngPath = path.join(ctx.dir, 'me.png');
    fs.writeFileSync(pngPath, PNG);
    await about.getByTestId('field-photo').setInputFiles(pngPath);
    await office.getByTestId('photo-saved').waitFor();
    await office.getByTestId('photo-preview').locator('img').waitFor();

    await office.getByTestId('type-new').click();
    const form = office.getByTestId('type-form');
    await form.getByTestId('field-name').fill('Internal: crisis intake');
    await form.getByTestId('field-kind').selectOption('video');
    await form.getByTestId('field-duration_min').fill('50');
    await form.getByTestId('field-buffer_after_min').fill('0');
    await form.getByTestId('field-min_notice_min').fill('0');
    await form.getByTestId('field-window_days').fill('366');
    await form.getByTestId('field-description').fill('A first conversation to get to know each other.');
    await form.getByTestId('field-preparation').fill(PREPARATION);
    await form.getByTestId('type-save').click();
    await office.getByTestId('type-saved').waitFor();
  });

  step('the booking page shows the profile and the type description', async () => {
    client = await newPage('client', 'America/New_York');
    await client.goto(`${ctx.base}/book/${SLUG}`);
    const profile = client.getByTestId('counsellor-profile');
    await profile.waitFor();
    assert.equal(await client.getByTestId('profile-about').textContent(), 'I have counselled families since 2010.');
    assert.equal(await client.getByTestId('profile-languages').textContent(), 'German, English, Turkish');
    assert.equal(await client.getByTestId('profile-topics').textContent(), 'Separation, Family');
    const photo = client.getByTestId('profile-photo');
    assert.equal(await photo.getAttribute('alt'), `Photo of ${COUNSELLOR}`);
    assert.ok(await photo.evaluate((img) => img.complete && img.naturalWidth === 1), 'the photo loads');
    assert.equal(await client.getByTestId('type-description').textContent(), 'A first conversation to get to know each other.');
  });

  step('the month calendar marks free days and is operated by keyboard', async () => {
    await client.getByTestId('type-choice').first().click();
    const grid = client.getByTestId('cal-grid');
    await grid.waitFor();
    assert.equal(await grid.getAttribute('role'), 'grid');
    await client.locator('[data-testid="cal-day"][data-free="true"]').first().waitFor();
    // Every day of the window is free (09:00–10:00 daily): the first free day is chosen and its
    // time is shown.
    const focused = client.locator('[data-testid="cal-day"][tabindex="0"]');
    assert.equal(await focused.count(), 1, 'one day in the tab order (roving tabindex)');
    const startKey = await focused.getAttribute('data-date');
    await focused.focus();
    await client.keyboard.press('ArrowRight');
    const next = await client.evaluate(() => document.activeElement.dataset.date);
    const plusOne = new Date(`${startKey}T12:00:00Z`);
    plusOne.setUTCDate(plusOne.getUTCDate() + 1);
    assert.equal(next, plusOne.toISOString().slice(0, 10));
    const month = await client.getByTestId('cal-month').textContent();
    await client.keyboard.press('PageDown');
    await until('the next month', async () => (await client.getByTestId('cal-month').textContent()) !== month);
    await client.locator('[data-testid="cal-grid"][aria-busy="false"]').waitFor();
    await until('the focus in the next month', async () => (await client.evaluate(() => document.activeElement.dataset.testid)) === 'cal-day');
    await client.keyboard.press('PageUp');
    await until('the month back', async () => (await client.getByTestId('cal-month').textContent()) === month);
    await until('the focus back on the day', async () => (await client.evaluate(() => document.activeElement.dataset.date)) === next);
    await client.keyboard.press('Enter');
    await until('the first time of the chosen day has the focus', async () => (await client.evaluate(() => document.activeElement.dataset.testid)) === 'slot');
    assert.equal(await client.locator(`[data-testid="cal-day"][data-date="${next}"]`).getAttribute('aria-selected'), 'true');
  });

  step('times are shown in the client zone, named, and right across a DST change', async () => {
    assert.match(await client.getByTestId('zone-note').textContent(), /New York time.*Berlin time/);
    for (const day of [before, between, after]) {
      await showMonth(day.slice(0, 7));
      const cell = client.locator(`[data-testid="cal-day"][data-date="${day}"]`);
      assert.equal(await cell.getAttribute('data-free'), 'true', `${day} is marked free`);
      await cell.click();
      const want = expected(day);
      const slot = client.locator(`[data-testid="slot"][data-start="${want.start}"]`);
      await slot.waitFor();
      assert.equal((await slot.textContent()).trim(), want.clock, `${day}: 09:00 Berlin is ${want.clock} in New York`);
      assert.match(await slot.getAttribute('aria-label'), /\(New York time\)$/);
      assert.equal(await client.locator('[data-testid="slot"]').count(), 1, 'one free hour a day');
      assert.match(await client.getByTestId('times-zone').textContent(), /New York time/);
    }
    await client.screenshot({ path: path.join(ARTIFACTS, 'booking-month-calendar.png'), fullPage: true });
    // The two sides differ: the clock moves by an hour across the gap although Berlin's does not.
    assert.notEqual(expected(before).clock, expected(between).clock);
  });

  step('the confirmation page offers the .ics, Google and Outlook links, the video link and what to prepare', async () => {
    const want = expected(between);
    // Back to the day between the two changes, and book it.
    await showMonth(between.slice(0, 7));
    await client.locator(`[data-testid="cal-day"][data-date="${between}"]`).click();
    await client.locator(`[data-testid="slot"][data-start="${want.start}"]`).click();
    assert.match(await client.getByTestId('chosen-slot').textContent(), new RegExp(`${want.clock}.*\\(New York time\\)`));
    const form = client.getByTestId('booking-form');
    await form.getByTestId('field-first_name').fill('Alex');
    await form.getByTestId('field-last_name').fill('Client');
    await form.getByTestId('field-email').fill('alex@client.example');
    await form.getByTestId('consent-checkbox').check();
    await client.getByTestId('book-submit').click();
    const done = client.getByTestId('booking-done');
    await done.waitFor();
    assert.equal(await done.getAttribute('data-status'), 'confirmed');
    assert.match(await client.getByTestId('done-time').textContent(), /\(New York time\)/);
    assert.equal(await client.evaluate(() => document.activeElement.dataset.testid), 'done-title', 'the confirmation takes the focus');

    const [download] = await Promise.all([client.waitForEvent('download'), client.getByTestId('ics-download').click()]);
    const ics = fs.readFileSync(await download.path(), 'utf8');
    assert.equal(prop(ics, 'SUMMARY'), TITLE);
    assert.ok(!ics.includes('crisis'), 'never the counsellor’s name of the type');
    const startUtc = want.start.replace(/[-:]/g, '');
    const end = new Date(new Date(want.start).getTime() + 50 * 60_000).toISOString().replace('.000Z', 'Z');
    assert.equal(prop(ics, 'DTSTART'), startUtc);
    assert.equal(prop(ics, 'DTEND'), end.replace(/[-:]/g, ''));

    const google = new URL(await client.getByTestId('google-calendar').getAttribute('href'));
    assert.equal(google.host, 'calendar.google.com');
    assert.equal(google.searchParams.get('text'), TITLE);
    assert.equal(google.searchParams.get('dates'), `${startUtc}/${end.replace(/[-:]/g, '')}`);
    for (const [testid, host] of [
      ['outlook-live', 'outlook.live.com'],
      ['outlook-office', 'outlook.office.com'],
    ]) {
      const url = new URL(await client.getByTestId(testid).getAttribute('href'));
      assert.equal(url.host, host);
      assert.equal(url.searchParams.get('subject'), TITLE);
      assert.equal(new Date(url.searchParams.get('startdt')).toISOString(), new Date(want.start).toISOString());
      assert.equal(new Date(url.searchParams.get('enddt')).toISOString(), new Date(end).toISOString());
    }
    assert.match(await client.getByTestId('join-link').getAttribute('href'), /\/j\//);
    assert.equal((await client.getByTestId('preparation').locator('p').textContent()).trim(), PREPARATION);
    assert.match(await client.getByTestId('reschedule-link').getAttribute('href'), /\/booking\/reschedule#/);
    assert.match(await client.getByTestId('cancel-link').getAttribute('href'), /\/booking\/cancel#/);
    await client.screenshot({ path: path.join(ARTIFACTS, 'booking-confirmation.png'), fullPage: true });
    await office.screenshot({ path: path.join(ARTIFACTS, 'booking-profile-settings.png'), fullPage: true });
    booked = { start: want.start };
  });

  step('the confirmation mail carries the links, what to prepare and the client-titled .ics', async () => {
    const mail = await until('the confirmation mail', () => inspectMails(ctx.maildir).find((m) => m.to.includes('alex@client.example')), { timeout: 90_000, interval: 1000 });
    for (const part of [mail.text, mail.html]) {
      assert.ok(part.includes(PREPARATION), part);
      assert.ok(part.includes('https://calendar.google.com/calendar/render?'), part);
      assert.ok(part.includes('https://outlook.live.com/calendar/0/action/compose?'), part);
      assert.ok(part.includes('/booking/cancel#') && part.includes('/booking/reschedule#'), part);
      assert.ok(part.includes('/j/'), part);
    }
    assert.ok(mail.ics.length > 0);
    for (const ics of mail.ics) {
      assert.equal(ics.summary, TITLE);
      assert.equal(new Date(ics.dtstart).toISOString(), new Date(booked.start).toISOString());
    }
  });
});
