// Browser test of a knock being noticed in the counsellor's call page and on the dashboard: the
// waiting count in the
// title (blinking while the tab is in the background), a short Web Audio tone that the
// counsellor can turn off (remembered), and a desktop notification that names nobody — shown
// only once the counsellor allowed notifications, and never asked for on load.
//
// The browser's own Notification and AudioContext run; an init script only records what the page
// does with them (each Notification constructed, each oscillator started, each permission
// request). The tab's visibility is the one thing set by the test: headless Chromium never hides
// a tab, so `document.hidden` reads a flag the test flips.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/knock.test.mjs

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { openSection, pageApi, sleep, startInstantSession, suite, until } from './harness.mjs';

const EMAIL = 'knock@example.test';
const PASSWORD = 'correct horse battery staple 42';

/** Runs first in every document of the counsellor's page: records, does not replace. */
function record() {
  window.__knock = { notes: [], tones: 0, contexts: 0, asked: 0 };
  const Real = window.Notification;
  if (Real) {
    const Recorded = function (title, options) {
      window.__knock.notes.push({ title, body: options && options.body });
      return new Real(title, options);
    };
    Object.defineProperty(Recorded, 'permission', { get: () => Real.permission, configurable: true });
    Recorded.requestPermission = (...args) => {
      window.__knock.asked += 1;
      return Real.requestPermission(...args);
    };
    Recorded.prototype = Real.prototype;
    window.Notification = Recorded;
  }
  const RealCtx = window.AudioContext;
  window.AudioContext = class extends RealCtx {
    constructor(...args) {
      super(...args);
      window.__knock.contexts += 1;
    }
  };
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    window.__knock.tones += 1;
    return start.apply(this, args);
  };
  window.__hidden = false;
  Object.defineProperty(Document.prototype, 'hidden', { get: () => window.__hidden, configurable: true });
}

describe('A knock is noticed in the call: title count, tone, notification', { timeout: 5 * 60_000 }, () => {
  const ctx = suite({ name: 'knock', counsellors: [{ email: EMAIL, name: 'Dr. Knock', password: PASSWORD }] });

  const knock = async (url, name) => {
    const page = await ctx.newPage(`client-${name}`, { grant: true, viewport: { width: 800, height: 600 }, locale: 'en-US' });
    await page.goto(url);
    await page.getByTestId('name-input').fill(name);
    await page.getByTestId('join-button').click();
    await page.getByTestId('lobby-waiting').waitFor({ state: 'visible' });
    return page;
  };

  it('nothing is asked on load; the button asks, and only on a click', async () => {
    // Headless Chromium answers "denied" without a prompt and cannot show one: here the page
    // sees a browser that has not been asked yet, and a prompt the person answers with "allow".
    const undecided = () => {
      window.__permission = 'default';
      Object.defineProperty(window.Notification, 'permission', { get: () => window.__permission });
      const count = window.Notification.requestPermission;
      window.Notification.requestPermission = async () => {
        count().catch(() => {});
        window.__permission = 'granted';
        return 'granted';
      };
    };
    const host = await ctx.newPage('host-ask', {
      grant: true,
      init: `(${record})(); (${undecided})();`,
      viewport: { width: 1024, height: 700 },
      locale: 'en-US',
    });
    await startInstantSession(host, ctx.base, { email: EMAIL, password: PASSWORD });
    const ask = host.getByTestId('knock-notify');
    await ask.waitFor({ state: 'visible' });
    assert.equal(await host.evaluate(() => window.__knock.asked), 0, 'no permission prompt on load');
    await ask.click();
    await until('the permission was asked for', () => host.evaluate(() => window.__knock.asked === 1));
    await ask.waitFor({ state: 'hidden' });
    assert.match(await host.getByTestId('knock-notify-state').textContent(), /notifications for knocks are on/);
    await host.context().close();
  });

  it('a browser that blocks notifications is told so, and nothing is asked', async () => {
    const host = await ctx.newPage('host-blocked', { grant: true, init: record, viewport: { width: 1024, height: 700 }, locale: 'en-US' });
    await startInstantSession(host, ctx.base, { email: EMAIL, password: PASSWORD });
    await until('the state is said', async () => /blocked/.test(await host.getByTestId('knock-notify-state').textContent()));
    assert.equal(await host.getByTestId('knock-notify').isVisible(), false);
    assert.equal(await host.evaluate(() => window.__knock.asked), 0);
    await host.context().close();
  });

  it('the title counts the waiting, the tone plays (unless turned off), the notification names nobody', async () => {
    const host = await ctx.newPage('host', { grant: true, init: record, viewport: { width: 1024, height: 700 }, locale: 'en-US' });
    await host.context().grantPermissions(['camera', 'microphone', 'notifications'], { origin: ctx.base });
    const url = await startInstantSession(host, ctx.base, { email: EMAIL, password: PASSWORD });
    const base = await host.title();
    assert.ok(!base.startsWith('('), `no count while nobody waits: ${base}`);
    // Allowed already: the button is not offered, the state is said.
    await host.getByTestId('knock-notify').waitFor({ state: 'hidden' });
    assert.match(await host.getByTestId('knock-notify-state').textContent(), /notifications for knocks are on/);

    const robin = await knock(url, 'Robin');
    await until('the title counts one', async () => (await host.title()) === `(1) ${base}`);
    const first = await host.evaluate(() => window.__knock);
    assert.deepEqual(first.notes, [{ title: 'Confidant', body: 'Someone is waiting in the waiting room.' }]);
    assert.ok(first.contexts >= 1 && first.tones >= 1, `a tone was started: ${JSON.stringify(first)}`);

    const kim = await knock(url, 'Kim');
    await until('the title counts two', async () => (await host.title()) === `(2) ${base}`);
    const second = await host.evaluate(() => window.__knock);
    assert.deepEqual(second.notes[1], { title: 'Confidant', body: '2 people are waiting in the waiting room.' });
    for (const n of second.notes) assert.ok(!/Robin|Kim/.test(JSON.stringify(n)), 'no name in a notification');
    assert.ok(second.tones > first.tones, 'the second knock sounded too');

    // In the background the title blinks between the count and "Someone is waiting".
    await host.evaluate(() => {
      window.__hidden = true;
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await until('the title blinks', async () => (await host.title()) === '(2) Someone is waiting', { timeout: 10_000, interval: 100 });
    await host.evaluate(() => {
      window.__hidden = false;
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await until('the title settles back', async () => (await host.title()) === `(2) ${base}`);
    await sleep(1500);
    assert.equal(await host.title(), `(2) ${base}`, 'no blinking in the foreground');

    // The tone turned off is remembered, and the next knock is silent but still notified.
    const sound = host.getByTestId('knock-sound');
    assert.equal(await sound.getAttribute('aria-pressed'), 'true');
    await sound.click();
    assert.equal(await sound.getAttribute('aria-pressed'), 'false');
    assert.equal(await host.evaluate(() => localStorage.getItem('confidant.knock-sound')), 'off');
    await host.locator('[data-testid="admit-button"][data-lobby-name="Robin"]').click();
    await until('the title counts one again', async () => (await host.title()) === `(1) ${base}`);
    const muted = await host.evaluate(() => window.__knock.tones);
    const lee = await knock(url, 'Lee');
    await until('the title counts two again', async () => (await host.title()) === `(2) ${base}`);
    const after = await host.evaluate(() => window.__knock);
    assert.equal(after.tones, muted, 'no tone while turned off');
    assert.equal(after.notes.length, 3, 'still notified');

    for (const name of ['Kim', 'Lee']) await host.locator(`[data-testid="reject-button"][data-lobby-name="${name}"]`).click();
    await until('no count once nobody waits', async () => (await host.title()) === base);
    await host.reload();
    await host.getByTestId('knock-sound').waitFor({ state: 'visible' });
    assert.equal(await host.getByTestId('knock-sound').getAttribute('aria-pressed'), 'false', 'the choice outlives a reload');
    for (const p of [robin, kim, lee]) await p.context().close();
  });

  it('the dashboard counts the clients waiting in a session and notifies without a name', async () => {
    const dash = await ctx.newPage('dashboard', { init: record, viewport: { width: 1024, height: 700 }, locale: 'en-US' });
    await dash.context().grantPermissions(['notifications'], { origin: ctx.base });
    await dash.goto(`${ctx.base}/login`);
    await dash.getByTestId('email-input').fill(EMAIL);
    await dash.getByTestId('password-input').fill(PASSWORD);
    await dash.getByTestId('login-button').click();
    await dash.waitForURL(/\/dashboard$/);
    const created = await pageApi(dash, 'POST', '/api/sessions', { title: 'Knock on the dashboard' });
    assert.equal(created.status, 201, JSON.stringify(created));
    await openSection(dash, 'sessions');
    await dash.reload();
    const item = dash.locator(`[data-testid="session-item"][data-session-id="${created.body.id}"]`);
    await item.waitFor({ state: 'visible' });
    const base = await dash.title();
    assert.ok(!base.startsWith('('), base);
    assert.equal(await dash.getByTestId('knock-notify').isVisible(), false, 'allowed already: no button');
    await item.getByTestId('session-waiting').waitFor({ state: 'hidden' });

    const client = await knock(created.body.join_url, 'Robin');
    await until('the dashboard counts one', async () => (await dash.title()) === `(1) ${base}`, { timeout: 20_000 });
    assert.equal(await item.getByTestId('session-waiting').textContent(), 'Waiting in the waiting room: 1');
    const seen = await dash.evaluate(() => window.__knock);
    assert.deepEqual(seen.notes, [{ title: 'Confidant', body: 'Someone is waiting in the waiting room.' }]);
    assert.ok(seen.tones >= 1, 'a tone was started');
    assert.ok(!(await dash.locator('body').textContent()).includes('Robin'), 'the dashboard names nobody');

    await client.context().close();
    await until('the count goes when the client leaves', async () => (await dash.title()) === base, { timeout: 20_000 });
    await item.getByTestId('session-waiting').waitFor({ state: 'hidden' });
  });
});
