// The counsellor's workspace (the dashboard, issue 18), through the real parts: the server binary,
// a real SMTP server (aiosmtpd) and headless Chromium.
//
// A fresh account's dashboard loads without a single failed request (no 404 for the calendar feed
// it does not have yet). The navigation switches sections and the address; a reload and the back
// button restore them; it works with the keyboard alone. The "today" view lists today's video
// and phone appointments with a join button that opens the video room and the client's number,
// and counts the clients waiting in the sessions' waiting rooms and in the walk-in queue as they
// come and go, with badges in the navigation. At 360 px the navigation is a menu button.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/workspace.test.mjs

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { DASHBOARD_SECTIONS, loginCounsellor, pageApi, suite, until } from './harness.mjs';

const EMAIL = 'werkbank@centre.example';
const PASSWORD = 'correct horse battery staple 42';
const SLUG = 'werkbank';
const STEP_MS = 60_000;
/** Most Tab presses to reach a control. */
const MAX_TABS = 40;

/**
 * A fixed-offset zone in which it is about 10:00 now, so that today still has free slots when
 * the test runs (whatever the hour), for the browser and the counsellor's booking page alike.
 */
function morningZone() {
  const utcHour = new Date().getUTCHours();
  let offset = (((10 - utcHour) % 24) + 24) % 24;
  if (offset > 12) offset -= 24;
  // IANA's Etc zones have the sign the other way round: Etc/GMT-2 is UTC+2.
  return offset === 0 ? 'Etc/UTC' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
}

describe('Counsellor workspace: navigation, today view, waiting counts', { timeout: 10 * 60_000 }, () => {
  const ctx = suite({
    name: 'workspace',
    browserArtifact: 'workspace-browser-console.log',
    smtp: true,
    counsellors: [{ email: EMAIL, name: 'Dr. Werkbank', password: PASSWORD }],
    steps: { timeout: 3 * 60_000 },
  });
  const { step } = ctx;
  const zone = morningZone();
  let dash;

  const newPage = (name, options = {}) =>
    ctx.newPage(name, { viewport: { width: 1280, height: 900 }, locale: 'en-GB', timezoneId: zone, timeout: STEP_MS, ...options });

  const login = (page) => loginCounsellor(page, ctx.base, { email: EMAIL, password: PASSWORD });

  /** The section shown, the one marked current in the navigation, and the address's fragment. */
  const where = (page) =>
    page.evaluate(() => ({
      shown: [...document.querySelectorAll('[data-testid^="section-"]')].filter((s) => !s.hidden).map((s) => s.dataset.section),
      current: [...document.querySelectorAll('[data-testid="ws-nav"] a[aria-current="page"]')].map((a) => a.dataset.section),
      hash: location.hash,
      heading: document.querySelector('h1').textContent,
    }));

  step('a fresh account loads every section without a failed request (no 404 for the calendar feed)', async () => {
    dash = await newPage('dashboard', { grant: true });
    const failed = [];
    const feed = [];
    dash.on('response', (res) => {
      if (res.status() >= 400) failed.push(`${res.status()} ${res.request().method()} ${res.url()}`);
      if (new URL(res.url()).pathname === '/api/calendar/feed') feed.push(res.status());
    });
    await login(dash);
    await dash.waitForLoadState('networkidle');
    for (const id of DASHBOARD_SECTIONS) {
      await dash.getByTestId(`nav-${id}`).click();
      await dash.getByTestId(`section-${id}`).waitFor();
    }
    await dash.getByTestId('nav-calendars').click();
    await dash.getByTestId('feed-create').waitFor();
    await dash.waitForLoadState('networkidle');
    assert.deepEqual(feed, [200], 'the feed was asked for once, and answered');
    assert.deepEqual(failed, [], 'no request of the dashboard failed');
  });

  step('the navigation switches the section and the address; reload and back restore them', async () => {
    await dash.goto(`${ctx.base}/dashboard`);
    assert.deepEqual(await where(dash), { shown: ['today'], current: ['today'], hash: '', heading: 'Today' });
    await dash.getByTestId('nav-bookings').click();
    await dash.waitForURL(`${ctx.base}/dashboard#bookings`);
    assert.deepEqual(await where(dash), { shown: ['bookings'], current: ['bookings'], hash: '#bookings', heading: 'Bookings' });
    assert.match(await dash.title(), /^Bookings – /);
    await dash.getByTestId('nav-calendars').click();
    await dash.getByTestId('caldav-form').waitFor();
    await dash.reload();
    await dash.getByTestId('caldav-form').waitFor();
    assert.deepEqual(await where(dash), { shown: ['calendars'], current: ['calendars'], hash: '#calendars', heading: 'Calendars' });
    await dash.goBack();
    await dash.getByTestId('section-bookings').waitFor();
    assert.deepEqual(await where(dash), { shown: ['bookings'], current: ['bookings'], hash: '#bookings', heading: 'Bookings' });
    await dash.goBack();
    await dash.getByTestId('section-today').waitFor();
    assert.equal((await where(dash)).current[0], 'today');
    await dash.goForward();
    await dash.getByTestId('section-bookings').waitFor();
  });

  step('keyboard only: Tab to a section in the navigation, Enter opens it and the focus moves to its heading', async () => {
    await dash.goto(`${ctx.base}/dashboard`);
    await dash.getByTestId('nav-signatures').waitFor();
    let reached = false;
    for (let i = 0; i < MAX_TABS && !reached; i++) {
      await dash.keyboard.press('Tab');
      reached = await dash.evaluate(() => document.activeElement.dataset.testid === 'nav-signatures');
    }
    assert.ok(reached, `nav-signatures not reached with ${MAX_TABS} presses of Tab`);
    await dash.keyboard.press('Enter');
    await dash.getByTestId('section-signatures').waitFor();
    await until('the focus on the heading', () => dash.evaluate(() => document.activeElement.dataset.testid === 'ws-heading'), { timeout: 10_000 });
    assert.deepEqual(await where(dash), { shown: ['signatures'], current: ['signatures'], hash: '#signatures', heading: 'Signatures' });
    // The next Tab goes into the section, not back into the navigation.
    await dash.keyboard.press('Tab');
    assert.ok(await dash.evaluate(() => document.querySelector('[data-testid="section-signatures"]').contains(document.activeElement)), 'Tab continues in the section');
  });

  step("today lists today's video and phone appointments; Join opens the video room", async () => {
    assert.equal((await pageApi(dash, 'PUT', '/api/booking/profile', { slug: SLUG, time_zone: zone, lang: 'en' })).status, 200);
    const weekly = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((weekday) => ({ weekday, start: '00:00', end: '24:00' }));
    assert.equal((await pageApi(dash, 'PUT', '/api/booking/availability', { weekly, overrides: [] })).status, 200);
    const types = {};
    for (const kind of ['video', 'phone']) {
      const r = await pageApi(dash, 'POST', '/api/booking/types', { name: `${kind} talk`, kind, duration_min: 30, min_notice_min: 0, buffer_after_min: 0 });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      types[kind] = r.body.id;
    }
    // The client books both through the public API, on the public page's origin.
    const client = await newPage('client');
    await client.goto(`${ctx.base}/book/${SLUG}`);
    const page = await pageApi(client, 'GET', `/api/public/counsellors/${SLUG}?lang=en`);
    const booked = {};
    for (const [kind, extra] of [['video', {}], ['phone', { phone: '+49 30 1234567' }]]) {
      const now = new Date();
      const q = new URLSearchParams({ type_id: types[kind], from: now.toISOString(), to: new Date(now.getTime() + 24 * 3600_000).toISOString() });
      const slots = await pageApi(client, 'GET', `/api/public/counsellors/${SLUG}/slots?${q}`);
      const today = await client.evaluate((s) => s.filter((x) => new Date(x.start).toDateString() === new Date().toDateString()), slots.body.slots);
      assert.ok(today.length > 0, `free ${kind} slots today in ${zone}`);
      const r = await pageApi(client, 'POST', `/api/public/counsellors/${SLUG}/bookings`, {
        type_id: types[kind],
        start: today[0].start,
        first_name: kind === 'video' ? 'Vera' : 'Paul',
        last_name: 'Client',
        email: `${kind}@client.example`,
        lang: 'en',
        consent_sha256: page.body.consent.sha256,
        ...extra,
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      booked[kind] = r.body.id;
    }
    await client.context().close();

    await dash.goto(`${ctx.base}/dashboard`);
    const video = dash.locator(`[data-testid="today-item"][data-booking-id="${booked.video}"]`);
    const phone = dash.locator(`[data-testid="today-item"][data-booking-id="${booked.phone}"]`);
    await video.waitFor();
    await phone.waitFor();
    assert.equal(await dash.getByTestId('today-appointments').getAttribute('data-showing'), 'today');
    assert.match(await dash.locator('#today-list-heading').textContent(), /today/);
    assert.match(await video.textContent(), /Vera Client/);
    assert.equal(await phone.getByTestId('today-phone').textContent(), '+49 30 1234567');
    assert.equal(await phone.getByTestId('today-phone').getAttribute('href'), 'tel:+49301234567');
    assert.equal(await phone.getByTestId('today-join').count(), 0, 'a phone appointment has no video room');
    const all = await pageApi(dash, 'GET', '/api/booking/bookings');
    const sessionId = all.body.find((b) => b.id === booked.video).session_id;
    assert.equal(await video.getByTestId('today-join').getAttribute('href'), `/s/${sessionId}`);
    await video.getByTestId('today-join').click();
    await dash.waitForURL(`${ctx.base}/s/${sessionId}`);
    await dash.waitForFunction(() => window.confidant && window.confidant.state === 'in-call');
    await dash.getByTestId('end-session-button').waitFor();
  });

  step('the waiting counts follow a knock in a waiting room and a walk-in in the queue, with badges in the navigation', async () => {
    await dash.goto(`${ctx.base}/dashboard`);
    const lobby = dash.getByTestId('today-lobby-waiting');
    await lobby.filter({ hasText: ': 0' }).waitFor();
    assert.equal(await dash.getByTestId('nav-badge-sessions').isVisible(), false);
    const created = await pageApi(dash, 'POST', '/api/sessions', { title: 'Erstgespräch' });
    assert.equal(created.status, 201, JSON.stringify(created.body));

    const knocker = await newPage('knocker', { grant: true });
    await knocker.goto(created.body.join_url);
    await knocker.getByTestId('name-input').fill('Robin');
    await knocker.getByTestId('join-button').click();
    await knocker.getByTestId('lobby-waiting').waitFor();
    await until('the lobby count to reach 1', async () => (await lobby.getAttribute('data-count')) === '1', { timeout: 30_000 });
    assert.equal(await lobby.textContent(), 'In the waiting rooms of your sessions: 1');
    assert.equal(await dash.getByTestId('nav-badge-sessions').textContent(), '1');
    assert.match(await dash.getByTestId('nav-sessions').textContent(), /Sessions.*1 waiting/);
    const open = dash.locator(`[data-testid="today-lobby-session"][data-session-id="${created.body.id}"]`);
    assert.equal(await open.getByTestId('today-lobby-open').getAttribute('href'), `/s/${created.body.id}`);
    assert.ok(!(await dash.locator('body').textContent()).includes('Robin'), 'the dashboard names nobody in a waiting room');
    await knocker.context().close();
    await until('the lobby count back to 0', async () => (await lobby.getAttribute('data-count')) === '0', { timeout: 30_000 });
    await dash.getByTestId('nav-badge-sessions').waitFor({ state: 'hidden' });

    // Walk-ins on, available: a client in the queue rings, seen on "today" too.
    const walkin = dash.getByTestId('today-walkin-waiting');
    assert.equal(await walkin.textContent(), 'Walk-ins are off.');
    assert.equal((await pageApi(dash, 'PUT', '/api/walkin/profile', { enabled: true, topics: [], languages: [], hours: [] })).status, 200);
    assert.equal((await pageApi(dash, 'PUT', '/api/walkin/presence', { presence: 'available' })).status, 200);
    await dash.reload();
    await until('the walk-in count at 0', async () => (await walkin.getAttribute('data-count')) === '0', { timeout: 30_000 });
    const talker = await newPage('talker', { grant: true });
    await talker.goto(`${ctx.base}/talk/${SLUG}`);
    await talker.getByTestId('talk-first-name').fill('Sam');
    await talker.getByTestId('talk-last-name').fill('Walker');
    await talker.getByTestId('talk-submit').click();
    await talker.getByTestId('talk-queue').waitFor();
    await until('the walk-in count to reach 1', async () => (await walkin.getAttribute('data-count')) === '1', { timeout: 30_000 });
    assert.equal(await walkin.textContent(), 'In the walk-in queue: 1');
    assert.equal(await dash.getByTestId('nav-badge-walkins').textContent(), '1');
    assert.equal(await dash.getByTestId('nav-badge-today').textContent(), '1');
    // The ring shows above the open section, whichever it is.
    await dash.getByTestId('walkin-ring').waitFor();
    assert.equal((await where(dash)).shown[0], 'today');
    await talker.getByTestId('talk-leave').click();
    await until('the walk-in count back to 0', async () => (await walkin.getAttribute('data-count')) === '0', { timeout: 30_000 });
    await dash.getByTestId('nav-badge-walkins').waitFor({ state: 'hidden' });
    await talker.context().close();
    assert.equal((await pageApi(dash, 'PUT', '/api/walkin/presence', { presence: 'away' })).status, 200);
  });

  step('on a 360 px phone the navigation is a menu button that opens and closes, and nothing scrolls sideways', async () => {
    const phone = await newPage('phone', { viewport: { width: 360, height: 740 }, hasTouch: true, isMobile: true });
    await login(phone);
    const menu = phone.getByTestId('nav-menu');
    await menu.waitFor();
    assert.equal(await menu.getAttribute('aria-expanded'), 'false');
    assert.equal(await phone.getByTestId('nav-bookings').isVisible(), false, 'the list is folded');
    assert.match(await menu.textContent(), /Today/, 'the button names the open section');
    await menu.click();
    assert.equal(await menu.getAttribute('aria-expanded'), 'true');
    await phone.getByTestId('nav-bookings').click();
    await phone.getByTestId('section-bookings').waitFor();
    assert.equal(await menu.getAttribute('aria-expanded'), 'false', 'choosing closes the menu');
    assert.equal(await phone.getByTestId('nav-bookings').isVisible(), false);
    assert.equal(new URL(phone.url()).hash, '#bookings');
    // Escape closes an open menu and gives the focus back to the button.
    await menu.click();
    await phone.keyboard.press('Escape');
    assert.equal(await menu.getAttribute('aria-expanded'), 'false');
    assert.equal(await phone.evaluate(() => document.activeElement.dataset.testid), 'nav-menu');
    for (const id of DASHBOARD_SECTIONS) {
      await phone.goto(`${ctx.base}/dashboard#${id}`);
      await phone.getByTestId(`section-${id}`).waitFor();
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${id}: scrolls sideways by ${overflow} px at 360 px`);
    }
    await phone.context().close();
  });
});
