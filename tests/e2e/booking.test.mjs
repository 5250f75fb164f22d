// Booking end to end, through the real parts: the server binary, a real SMTP server (Python's
// aiosmtpd) and headless Chromium for both the counsellor and the client.
//
// The counsellor sets up the booking page in the dashboard (address, a video appointment type,
// working hours); the client books through the public page; the counsellor sees the booking on
// the dashboard (list and week view); the client cancels through the link in the confirmation
// mail (parsed by Python's own e-mail parser); the slot is offered again.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/booking.test.mjs

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ARTIFACTS, inspectMails, openSection, suite, until } from './harness.mjs';

const EMAIL = 'berater@example.test';
const PASSWORD = 'correct horse battery staple 42';
const COUNSELLOR = 'Dr. Booking';
const SLUG = 'dr-booking';
const CLIENT = { first: 'Alex', last: 'Client', email: 'alex@client.example' };
const STEP_MS = 60_000;

const mails = inspectMails;

describe('Booking end to end: dashboard set-up, public booking, mail link cancel', { timeout: 10 * 60_000 }, () => {
  const ctx = suite({
    name: 'booking',
    browserArtifact: 'booking-browser-console.log',
    smtp: true,
    counsellors: [{ email: EMAIL, name: COUNSELLOR, password: PASSWORD }],
    steps: { timeout: 3 * 60_000 },
  });
  const { step, pages } = ctx;
  let booked; // { id, start }
  let cancelUrl;
  let feedUrl;
  let rescheduleUrl;

  const newPage = (name, locale = 'en-US') =>
    ctx.newPage(name, { viewport: { width: 1280, height: 900 }, locale, timezoneId: 'Europe/Berlin', timeout: STEP_MS });

  step('an unknown booking page is a 404 page; the centre page lists nobody yet', async () => {
    const res = await fetch(`${ctx.base}/book/nobody-here`);
    assert.equal(res.status, 404);
    const page = await newPage('client');
    await page.goto(`${ctx.base}/book`);
    await page.getByTestId('no-counsellors').waitFor();
  });

  step('the counsellor sets up the booking page in the dashboard', async () => {
    const page = await newPage('counsellor');
    await page.goto(`${ctx.base}/login`);
    await page.getByTestId('email-input').fill(EMAIL);
    await page.getByTestId('password-input').fill(PASSWORD);
    await page.getByTestId('login-button').click();
    await page.waitForURL(`${ctx.base}/dashboard`);
    await openSection(page, 'bookings');
    await page.getByTestId('bookings-empty').waitFor();

    await page.locator('[data-testid="booking-settings"] summary').click();
    const profile = page.getByTestId('profile-form');
    // A bad address first: the field itself says what is wrong.
    await profile.getByTestId('field-slug').fill('X!');
    await page.getByTestId('profile-save').click();
    await profile.locator('[data-error-for="slug"]', { hasText: /a-z/ }).waitFor();
    assert.equal(await profile.getByTestId('field-slug').getAttribute('aria-invalid'), 'true');

    await profile.getByTestId('field-slug').fill(SLUG);
    await profile.getByTestId('field-time_zone').selectOption('Europe/Berlin');
    await page.getByTestId('profile-save').click();
    await page.getByTestId('profile-saved').waitFor();
    assert.equal(await page.getByTestId('public-booking-link').inputValue(), `${ctx.base}/book/${SLUG}`);

    await page.getByTestId('type-new').click();
    const form = page.getByTestId('type-form');
    await form.getByTestId('field-name').fill('Video consultation');
    await form.getByTestId('field-kind').selectOption('video');
    await form.getByTestId('field-duration_min').fill('30');
    await form.getByTestId('field-buffer_after_min').fill('0');
    // An hour's notice: the booked slot is still ahead when the client cancels.
    await form.getByTestId('field-min_notice_min').fill('60');
    await form.getByTestId('type-save').click();
    await page.getByTestId('type-saved').waitFor();
    await page.getByTestId('type-item').filter({ hasText: 'Video consultation' }).waitFor();

    // Every day, all day, so the test finds free slots whenever it runs.
    const rows = page.getByTestId('weekday-row');
    assert.equal(await rows.count(), 7);
    for (let i = 0; i < 7; i++) {
      const row = rows.nth(i);
      await row.getByTestId('add-range').click();
      await row.locator('.time-start').fill('00:00');
      await row.locator('.time-end').fill('23:59');
    }
    await page.getByTestId('availability-save').click();
    await page.getByTestId('availability-saved').waitFor();
    const saved = await page.evaluate(() => fetch('/api/booking/availability').then((r) => r.json()));
    assert.equal(saved.weekly.length, 7);
    assert.ok(saved.weekly.every((w) => w.start === '00:00' && w.end === '24:00'), JSON.stringify(saved.weekly));
  });

  step('the client books a video appointment through the public page', async () => {
    const page = pages.client;
    await page.goto(`${ctx.base}/book`);
    await page.getByTestId('counsellor-link').filter({ hasText: COUNSELLOR }).click();
    await page.waitForURL(`${ctx.base}/book/${SLUG}`);
    await page.getByTestId('type-choice').filter({ hasText: 'Video consultation' }).click();
    const slot = page.getByTestId('slot').first();
    await slot.waitFor();
    const start = await slot.getAttribute('data-start');
    await page.screenshot({ path: path.join(ARTIFACTS, 'booking-slots.png'), fullPage: true });
    await slot.click();
    assert.equal(await page.getByTestId('chosen-slot').getAttribute('data-start'), start);

    // Submitting empty names every missing field at once.
    const form = page.getByTestId('booking-form');
    await form.getByTestId('consent-checkbox').check();
    await form.getByTestId('book-submit').click();
    await form.locator('[data-error-for="first_name"]').filter({ hasText: /\S/ }).waitFor();
    for (const f of ['last_name', 'email']) {
      assert.notEqual((await form.locator(`[data-error-for="${f}"]`).textContent()).trim(), '', `${f} has its own error`);
    }

    await form.getByTestId('field-first_name').fill(CLIENT.first);
    await form.getByTestId('field-last_name').fill(CLIENT.last);
    await form.getByTestId('field-email').fill(CLIENT.email);
    await form.getByTestId('field-message').fill('I would like to talk about work.');
    await form.getByTestId('book-submit').click();
    const done = page.getByTestId('booking-done');
    await done.waitFor();
    assert.equal(await done.getAttribute('data-status'), 'confirmed');
    booked = { id: await done.getAttribute('data-booking-id'), start };
    assert.match(booked.id, /^[0-9a-f-]{36}$/);
  });

  step('the counsellor sees the booking on the dashboard, in the list and the week view', async () => {
    const page = pages.counsellor;
    await page.getByTestId('bookings-refresh').click();
    const item = page.locator(`[data-testid="booking-item"][data-booking-id="${booked.id}"]`);
    await item.waitFor();
    assert.equal(await item.getAttribute('data-status'), 'confirmed');
    assert.equal(await item.getAttribute('data-start'), booked.start);
    const text = await item.textContent();
    assert.ok(text.includes(`${CLIENT.first} ${CLIENT.last}`) && text.includes(CLIENT.email), text);
    assert.ok(text.includes('I would like to talk about work.'), text);
    await item.getByTestId('open-booking-session').waitFor(); // video: its own session room

    await page.getByTestId('view-week').click();
    await page.getByTestId('week-grid').waitFor();
    const weekItem = page.locator(`[data-testid="week-item"][data-booking-id="${booked.id}"]`);
    // Next Monday 00:00 in the browser's zone (the week view's zone).
    const nextMonday = await page.evaluate(() => {
      const d = new Date();
      d.setHours(0, 0, 0, 0);
      d.setDate(d.getDate() - ((d.getDay() + 6) % 7) + 7);
      return d.getTime();
    });
    // The first free slot may fall into next week (an hour's notice late on a Sunday).
    if (new Date(booked.start).getTime() >= nextMonday) await page.getByTestId('week-next').click();
    await weekItem.waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'booking-dashboard-week.png'), fullPage: true });
    await page.getByTestId('view-list').click();
  });

  step('the counsellor subscribes to the calendar feed, which lists the booking', async () => {
    const page = pages.counsellor;
    await openSection(page, 'calendars');
    await page.getByTestId('feed-create').click();
    const url = await page.getByTestId('feed-url').inputValue();
    assert.ok(url.startsWith(`${ctx.base}/calendar/feed/`) && url.endsWith('.ics'), url);
    assert.equal(await page.getByTestId('feed-webcal').getAttribute('href'), url.replace(/^http/, 'webcal'));
    const res = await fetch(url);
    assert.equal(res.status, 200);
    const ics = await res.text();
    assert.ok(ics.includes(`UID:${booked.id}@`), ics);
    assert.ok(!ics.includes(CLIENT.email) && !ics.includes(CLIENT.last), 'no client details by default');
    feedUrl = url;
  });

  step('an external calendar that cannot be read shows why on the dashboard', async () => {
    const page = pages.counsellor;
    const form = page.getByTestId('source-form');
    await form.getByTestId('field-url').fill('ftp://calendar.example/x.ics');
    await form.getByTestId('source-add').click();
    await form.locator('[data-error-for="url"]').filter({ hasText: /https/ }).waitFor();
    // This server fetches only public hosts (no --calendar-fetch-private): loopback is refused.
    await form.getByTestId('field-url').fill(`${ctx.base}/nothing.ics`);
    await form.getByTestId('field-label').fill('Praxis');
    await form.getByTestId('source-add').click();
    const item = page.getByTestId('source-item').filter({ hasText: 'Praxis' });
    await item.getByTestId('source-error').filter({ hasText: /not public/ }).waitFor();
    await item.getByTestId('source-remove').click();
    await item.getByTestId('source-remove-confirm').click();
    await page.getByTestId('source-list').getByText(/No other calendars/).waitFor();
  });

  /** The newest client mail with an invitation at `sequence`, and its links. */
  async function invitation(sequence) {
    const mail = await until(
      `the client invitation with SEQUENCE ${sequence}`,
      () => mails(ctx.maildir).find((m) => m.to.includes(CLIENT.email) && m.ics.some((i) => i.method === 'REQUEST' && i.sequence === sequence)),
      { timeout: 90_000, interval: 1000 },
    );
    const link = (kind) => {
      const match = (mail.text || '').match(new RegExp(`https?://\\S+/booking/${kind}#[A-Za-z0-9_-]+`));
      assert.ok(match, `no ${kind} link in: ${mail.text}`);
      assert.ok(match[0].startsWith(ctx.base), match[0]);
      return match[0];
    };
    return { ics: mail.ics[0], cancel: link('cancel'), reschedule: link('reschedule') };
  }

  step('the confirmation mail arrives over SMTP with cancel and reschedule links', async () => {
    const first = await invitation(0);
    assert.equal(new Date(first.ics.dtstart).toISOString(), new Date(booked.start).toISOString());
    rescheduleUrl = first.reschedule;
  });

  step('the client moves the appointment through the reschedule link', async () => {
    const page = pages.client;
    await page.goto(rescheduleUrl);
    await page.getByTestId('booking-summary').waitFor();
    // Its own time is offered too (it may move by less than its length); take another one.
    const other = page.locator(`[data-testid="slot"]:not([data-start="${booked.start}"])`).first();
    await other.waitFor();
    const start = await other.getAttribute('data-start');
    await other.click();
    await page.getByTestId('reschedule-submit').click();
    await page.getByTestId('booking-rescheduled').waitFor();
    assert.equal(await page.getByTestId('booking-when').getAttribute('data-start'), start);
    booked.start = start;
    const moved = await invitation(1);
    assert.equal(new Date(moved.ics.dtstart).toISOString(), new Date(start).toISOString());
    cancelUrl = moved.cancel;
    // The first mail's links are spent (same URL: reload, a goto would only move the fragment).
    await page.reload();
    await page.getByTestId('link-invalid').waitFor();
  });

  step('the client cancels through the link from the mail', async () => {
    const page = pages.client;
    await page.goto(cancelUrl);
    const summary = page.getByTestId('booking-summary');
    await summary.waitFor();
    assert.equal(await summary.getAttribute('data-booking-id'), booked.id);
    assert.equal(await page.getByTestId('booking-when').getAttribute('data-start'), booked.start);
    await page.getByTestId('field-reason').fill('Something came up.');
    await page.getByTestId('cancel-booking').click();
    await page.getByTestId('booking-cancelled').waitFor();
    assert.equal(await page.getByTestId('booking-status').getAttribute('data-status'), 'cancelled');

    // The same link again: a link names the booking's version, so it is spent once it acted.
    await page.reload();
    await page.getByTestId('link-invalid').waitFor();
  });

  step('the slot is free again and the dashboard shows the cancellation', async () => {
    const page = pages.client;
    await page.goto(`${ctx.base}/book/${SLUG}`);
    await page.getByTestId('type-choice').filter({ hasText: 'Video consultation' }).click();
    await page.locator(`[data-testid="slot"][data-start="${booked.start}"]`).waitFor();
    // A counsellor without a profile has no profile card — and no literal "null" in its place.
    assert.equal(await page.getByTestId('counsellor-profile').count(), 0);
    assert.doesNotMatch(await page.locator('main').innerText(), /\bnull\b/);

    const dash = pages.counsellor;
    await openSection(dash, 'bookings');
    await dash.getByTestId('bookings-refresh').click();
    const item = dash.locator(`[data-testid="booking-item"][data-booking-id="${booked.id}"]`);
    await until('the dashboard to show the cancellation', async () => (await item.getAttribute('data-status')) === 'cancelled', { timeout: 20_000 });
    assert.match(await item.getByTestId('cancelled-by').textContent(), /client.*Something came up\./);

    const cancellation = await until(
      'the cancellation mail',
      () => mails(ctx.maildir).find((m) => m.to.includes(CLIENT.email) && m.ics.some((i) => i.method === 'CANCEL')),
      { timeout: 90_000, interval: 1000 },
    );
    assert.ok(cancellation.ics[0].sequence > 0);
    const feed = await (await fetch(feedUrl)).text();
    assert.ok(feed.startsWith('BEGIN:VCALENDAR') && !feed.includes(booked.id), 'a cancelled booking leaves the feed');
  });

  step('a tampered link is refused with a clear message', async () => {
    const page = pages.client;
    const bad = cancelUrl.slice(0, -3) + (cancelUrl.endsWith('AAA') ? 'BBB' : 'AAA');
    await page.goto(bad);
    await page.getByTestId('link-invalid').waitFor();
    await page.goto(`${ctx.base}/booking/cancel`);
    await page.getByTestId('link-invalid').waitFor();
  });

  step('a team page books the team type with a free member', async () => {
    const dash = pages.counsellor;
    const teamForm = dash.getByTestId('team-form');
    await teamForm.getByTestId('field-name').fill('Familienberatung');
    await teamForm.getByTestId('field-slug').fill('familie');
    await teamForm.getByTestId('team-create').click();
    const block = dash.locator('[data-testid="team-block"][data-slug="familie"]');
    await block.waitFor();
    await block.getByTestId('team-type-new').click();
    const form = block.getByTestId('type-form');
    await form.getByTestId('field-name').fill('Team video');
    await form.getByTestId('field-duration_min').fill('30');
    await form.getByTestId('field-min_notice_min').fill('60');
    await form.getByTestId('type-save').click();
    await block.getByTestId('type-item').filter({ hasText: 'Team video' }).waitFor();

    const page = pages.client;
    await page.goto(`${ctx.base}/book`);
    await page.getByTestId('team-link').filter({ hasText: 'Familienberatung' }).click();
    await page.waitForURL(`${ctx.base}/book/team/familie`);
    await page.getByTestId('type-choice').filter({ hasText: 'Team video' }).click();
    const slot = page.getByTestId('slot').first();
    await slot.waitFor();
    await slot.click();
    const booking = page.getByTestId('booking-form');
    await booking.getByTestId('field-first_name').fill('Robin');
    await booking.getByTestId('field-last_name').fill('Team');
    await booking.getByTestId('field-email').fill('robin@client.example');
    await booking.getByTestId('consent-checkbox').check();
    await booking.getByTestId('book-submit').click();
    const done = page.getByTestId('booking-done');
    await done.waitFor();
    assert.equal(await done.getAttribute('data-status'), 'confirmed');
    // The only member has it on the dashboard.
    await dash.getByTestId('bookings-refresh').click();
    await dash.locator(`[data-testid="booking-item"][data-booking-id="${await done.getAttribute('data-booking-id')}"]`).waitFor();
  });
});
