// Walk-ins end to end, through the real parts: the server binary and headless Chromium with a
// fake camera for the counsellor and two clients.
//
// The counsellor turns walk-ins on in the dashboard and sets themself available; a client
// opens the talk-now page, sees the preview, gives a name and a topic and waits; the dashboard
// rings (visible panel, Web Audio tone); the client closes the page and the ring disappears;
// a second client comes, the counsellor accepts, and both are in one call without the lobby;
// the counsellor is busy meanwhile and available again after ending it; with nobody available
// the page offers the booking page and the contact form with the typed name kept.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/walkin.test.mjs

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ARTIFACTS, openSection, suite, until } from './harness.mjs';

const EMAIL = 'walkin@example.test';
const PASSWORD = 'correct horse battery staple 42';
const COUNSELLOR = 'Dr. Walk-in';
const SLUG = 'dr-walkin';
const STEP_MS = 60_000;

describe('Walk-ins end to end: presence, queue, ring, accept into a call, fallback', { timeout: 10 * 60_000 }, () => {
  const ctx = suite({
    name: 'walkin',
    browserArtifact: 'walkin-browser-console.log',
    server: { extraArgs: ['--walkin-ring-seconds', '120'] },
    counsellors: [{ email: EMAIL, name: COUNSELLOR, password: PASSWORD }],
    chromiumArgs: ['--autoplay-policy=no-user-gesture-required'],
    steps: { timeout: 3 * 60_000 },
  });
  const { step, pages } = ctx;

  const newPage = (name) => ctx.newPage(name, { viewport: { width: 1280, height: 900 }, locale: 'en-US', timezoneId: 'Europe/Berlin', timeout: STEP_MS });

  /** The counsellor's walk-in status as the server sees it (from any page with the cookie). */
  const status = (page) => page.evaluate(() => fetch('/api/walkin/status').then((r) => r.json()));
  const publicPresence = async () => (await (await fetch(`${ctx.base}/api/public/walkin/${SLUG}`)).json()).presence;

  step('nobody takes walk-ins yet: the talk-now page says so and offers booking', async () => {
    const page = await newPage('early');
    await page.goto(`${ctx.base}/talk`);
    await page.getByTestId('availability').waitFor();
    assert.equal(await page.getByTestId('availability').getAttribute('data-available'), 'false');
    await page.getByTestId('talk-fallback').waitFor();
    assert.equal((await fetch(`${ctx.base}/talk/${SLUG}`)).status, 404);
    await page.context().close();
  });

  step('the counsellor turns walk-ins on and is available', async () => {
    const page = await newPage('counsellor');
    await page.goto(`${ctx.base}/login`);
    await page.getByTestId('email-input').fill(EMAIL);
    await page.getByTestId('password-input').fill(PASSWORD);
    await page.getByTestId('login-button').click();
    await page.waitForURL(`${ctx.base}/dashboard`);
    // A booking page address, so the counsellor has a talk-now page of their own too.
    const r = await page.evaluate(
      (slug) => fetch('/api/booking/profile', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ slug, time_zone: 'Europe/Berlin', lang: 'en' }) }).then((r) => r.status),
      SLUG,
    );
    assert.equal(r, 200);

    await openSection(page, 'walkins');
    const section = page.getByTestId('walkin-section');
    await section.getByTestId('walkin-enabled').check();
    await section.getByTestId('walkin-topics').fill('Family, Debt');
    await section.getByTestId('walkin-languages').fill('Deutsch, English');
    // A bad opening time is refused on the spot.
    await section.getByTestId('walkin-hours-0').fill('9 to 5');
    await section.getByTestId('walkin-save').click();
    await section.getByTestId('walkin-hours-error').waitFor();
    await section.getByTestId('walkin-hours-0').fill('');
    await section.getByTestId('walkin-save').click();
    await section.getByTestId('walkin-saved').waitFor();
    await section.getByTestId('walkin-live').waitFor();
    await section.getByTestId('presence-available').click();
    await section.locator('[data-testid="walkin-presence"][data-presence="available"]').waitFor();
    assert.equal(await publicPresence(), 'available');
    assert.equal((await fetch(`${ctx.base}/talk/${SLUG}`)).status, 200);
    // The counsellor's booking page points to talking now while they are available.
    const visitor = await newPage('visitor');
    await visitor.goto(`${ctx.base}/book/${SLUG}`);
    assert.equal(await visitor.getByTestId('talk-now-link').getAttribute('href'), `/talk/${SLUG}`);
    await visitor.context().close();
  });

  async function clientEnters(name, first, last, topic) {
    const page = await newPage(name);
    await page.goto(`${ctx.base}/talk`);
    await page.locator('[data-testid="availability"][data-available="true"]').waitFor();
    // The camera preview runs while the client fills in the form and waits.
    await until('the preview to show the fake camera', () => page.evaluate(() => document.querySelector('[data-testid="preview-video"]').videoWidth > 0), { timeout: STEP_MS });
    await page.getByTestId('talk-first-name').fill(first);
    await page.getByTestId('talk-last-name').fill(last);
    await page.getByTestId('talk-topic').selectOption(topic);
    await page.getByTestId('talk-submit').click();
    await page.getByTestId('talk-queue').waitFor();
    return page;
  }

  step('a client waits; the dashboard rings visibly and audibly; closing the page withdraws it', async () => {
    const dash = pages.counsellor;
    // Empty names are refused in the page, naming the field.
    const probe = await newPage('probe');
    await probe.goto(`${ctx.base}/talk`);
    await probe.locator('[data-testid="availability"][data-available="true"]').waitFor();
    await probe.getByTestId('talk-submit').click();
    await probe.locator('[data-error-for="first_name"]', { hasText: /fill/ }).waitFor();
    await probe.context().close();

    const client = await clientEnters('client1', 'Robin', 'Early', 'Family');
    await client.locator('[data-testid="talk-queue"][data-state="ringing"]').waitFor();
    const ring = dash.getByTestId('walkin-ring');
    await ring.waitFor();
    assert.equal(await ring.getByTestId('ring-name').textContent(), 'Walk-in: Robin Early');
    assert.match(await ring.getByTestId('ring-topic').textContent(), /Family/);
    await until('the ring tone to play', () => dash.evaluate(() => (window.__walkinRings || 0) >= 1), { timeout: STEP_MS });
    // The title counts the waiting client, and names nobody (it shows in the tab bar).
    const title = await dash.title();
    assert.match(title, /^\(1\) /);
    assert.ok(!title.includes('Robin'), title);
    await dash.screenshot({ path: path.join(ARTIFACTS, 'walkin-ring.png'), fullPage: true });

    await client.goto('about:blank'); // pagehide → the leave beacon
    await ring.waitFor({ state: 'detached' });
    await until('the count leaves the title', async () => !(await dash.title()).startsWith('('));
    const s = await status(dash);
    assert.equal(s.ring, null);
    assert.equal(s.waiting, 0);
  });

  step('the next client is accepted and joins the call directly, without the lobby', async () => {
    const dash = pages.counsellor;
    const client = await clientEnters('client2', 'Kim', 'Walker', 'Debt');
    const ring = dash.getByTestId('walkin-ring');
    await ring.waitFor();
    assert.equal(await ring.getByTestId('ring-name').textContent(), 'Walk-in: Kim Walker');
    await ring.getByTestId('ring-accept').click();
    await dash.waitForURL(/\/s\/[0-9a-f-]+$/);
    await dash.waitForFunction(() => window.confidant && window.confidant.state === 'in-call', null, { timeout: STEP_MS });
    await client.waitForFunction(() => window.confidant && window.confidant.state === 'in-call', null, { timeout: STEP_MS });
    // Each sees the other's video; nobody ever waited in the lobby.
    for (const [page, other] of [
      [dash, 'Kim Walker'],
      [client, COUNSELLOR],
    ]) {
      await until(`${other}'s video`, () =>
        page.evaluate((n) => Object.values(window.confidant.tiles || {}).some((tile) => tile.name === n && tile.element.querySelector('video') && tile.element.querySelector('video').videoWidth > 0), other),
      );
    }
    assert.equal(await dash.getByTestId('lobby-count').textContent(), '0');

    // Busy while in the session, although the call page replaced the dashboard.
    await until('presence busy', async () => (await publicPresence()) === 'busy');
    const s = await status(dash);
    assert.equal(s.presence, 'busy');
    assert.equal(s.in_session, true);

    await dash.getByTestId('end-session-button').click();
    await dash.getByTestId('end-session-confirm').click();
    await client.waitForFunction(() => window.confidant.state === 'ended', null, { timeout: STEP_MS });
    await dash.goto(`${ctx.base}/dashboard#walkins`);
    await dash.locator('[data-testid="walkin-presence"][data-presence="available"]').waitFor();
    assert.equal(await publicPresence(), 'available');
  });

  step('nobody available: booking and contact are offered with the name kept', async () => {
    const dash = pages.counsellor;
    await dash.getByTestId('presence-away').click();
    await dash.locator('[data-testid="walkin-presence"][data-presence="away"]').waitFor();

    const page = await newPage('client3');
    await page.goto(`${ctx.base}/talk/${SLUG}`);
    await page.locator('[data-testid="availability"][data-available="false"]').waitFor();
    await page.getByTestId('talk-first-name').fill('Sam');
    await page.getByTestId('talk-last-name').fill('Later');
    await page.getByTestId('talk-submit').click();
    await page.getByTestId('talk-refused').waitFor();
    const contact = page.getByTestId('fallback-contact');
    const href = await contact.getAttribute('href');
    assert.ok(href.startsWith(`/book/${SLUG}#`), href);
    assert.ok(!href.includes('?'), 'the name stays out of the query string');
    await contact.click();
    await page.waitForURL(new RegExp(`/book/${SLUG}#`));
    const name = page.getByTestId('contact-section').getByTestId('field-name');
    await until('the name to be prefilled', async () => (await name.inputValue()) === 'Sam Later');
  });
});
