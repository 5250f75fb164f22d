// The call screen and the pre-join check through the real server and its SFU, in headless
// Chromium with the fake camera and microphone (a beeping tone; a muted microphone sends
// silence):
//
// - pre-join: the level meter moves with the microphone, the preview shows video, the devices
//   are listed, "join with my microphone off" reaches the counsellor as a muted microphone (badge
//   and silent audio), a refused permission shows this browser's steps, and the join button is
//   on the first screen of a 360 × 640 phone in German and English;
// - in the call: the main tile follows who speaks, the grid view is a toggle that is remembered,
//   full screen by button and "F", the elapsed time counts, every tile shows the microphone
//   state of its participant and a connection-quality level with words, "Reconnecting…" while
//   the websocket is away and "Reconnected." after, and leaving asks in a dialog that Escape
//   closes, giving the focus back.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/call-screen.test.mjs

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { CHROMIUM, CHROMIUM_ARGS, setMic, suite, until } from './harness.mjs';

const EMAIL = 'screen@example.test';
const PASSWORD = 'correct horse battery staple 42';
const STEP_MS = 60_000;

/** The tile of participant `name` on `page`. */
const tileOf = (page, name) => page.locator(`[data-testid="remote-tile"][data-name="${name}"]`);

describe('Call screen and pre-join', { timeout: 15 * 60_000 }, () => {
  const ctx = suite({
    name: 'call-screen',
    browserArtifact: 'call-screen-browser.log',
    counsellors: [{ email: EMAIL, name: 'Dr. Screen', password: PASSWORD }],
    steps: { timeout: 4 * 60_000 },
  });
  const { step, pages } = ctx;
  let joinUrl;
  const ids = {};

  const newPage = (name, options = {}) =>
    ctx.newPage(name, { viewport: { width: 1280, height: 800 }, locale: 'en-US', grant: true, timeout: STEP_MS, ...options });

  /** Opens the join page as `name` and knocks; the counsellor lets them in. */
  async function joinAs(name, { muted = false } = {}) {
    const page = pages[name] || (await newPage(name));
    if (page.url() !== joinUrl) await page.goto(joinUrl);
    await page.getByTestId('name-input').fill(name);
    if (muted) await page.getByTestId('join-muted').check();
    await page.getByTestId('join-button').click();
    await page.getByTestId('lobby-waiting').waitFor();
    await pages.counsellor.locator(`[data-testid="admit-button"][data-lobby-name="${name}"]`).click();
    await page.waitForFunction(() => window.confidant && window.confidant.state === 'in-call' && window.confidant.participantId);
    ids[name] = await page.evaluate(() => window.confidant.participantId);
    return page;
  }

  step('the counsellor starts a session and waits in the call', async () => {
    const host = await newPage('counsellor');
    await host.goto(`${ctx.base}/login`);
    await host.getByTestId('email-input').fill(EMAIL);
    await host.getByTestId('password-input').fill(PASSWORD);
    await host.getByTestId('login-button').click();
    await host.waitForURL(/\/dashboard$/);
    await host.getByTestId('start-session-button').click();
    await host.waitForURL(/\/s\/[^/?#]+$/);
    joinUrl = await host.getByTestId('join-link').inputValue();
    await host.waitForFunction(() => window.confidant && window.confidant.state === 'in-call');
    // The counsellor does not talk in this test: only the clients' microphones decide.
    await setMic(host, false);
  });

  step('pre-join: the level meter moves with the microphone, the preview shows video, the devices are listed', async () => {
    const page = await newPage('Robin');
    await page.goto(joinUrl);
    // A touch of the page lets its audio context run (autoplay rules), as a user's first tap does.
    await page.getByTestId('name-input').click();
    await page.waitForFunction(() => {
      const v = document.querySelector('[data-testid="preview-video"]');
      return v && v.videoWidth > 0;
    });
    assert.equal(await page.getByTestId('preview-tile').getAttribute('data-video'), 'true');
    await until('the level meter to move with the beeping microphone', async () => Number(await page.getByTestId('mic-level').getAttribute('data-peak')) > 0.05, { timeout: 20_000 });
    assert.equal(await page.getByTestId('mic-level').getAttribute('aria-label'), 'Microphone level');
    const cams = await page.getByTestId('camera-select').locator('option').evaluateAll((os) => os.map((o) => o.value));
    const mics = await page.getByTestId('microphone-select').locator('option').evaluateAll((os) => os.map((o) => o.value));
    assert.ok(cams.length >= 1 && cams.every(Boolean), `cameras listed: ${cams}`);
    assert.ok(mics.length >= 1 && mics.every(Boolean), `microphones listed: ${mics}`);
    // Chromium can route sound (setSinkId): the speaker choice is there, the default first.
    assert.equal(await page.getByTestId('speaker-select').locator('option').first().getAttribute('value'), '');
    // "Join with my camera off" takes the picture away in the preview already.
    await page.getByTestId('join-camera-off').check();
    assert.equal(await page.getByTestId('preview-tile').getAttribute('data-video'), 'false');
    await page.getByTestId('join-camera-off').uncheck();
    assert.equal(await page.getByTestId('preview-tile').getAttribute('data-video'), 'true');
  });

  step('join muted: the counsellor sees the microphone off on the client\'s tile and hears silence; unmuting and muting travel too', async () => {
    const host = pages.counsellor;
    await joinAs('Robin', { muted: true });
    const robin = pages.Robin;
    assert.equal(await robin.getByTestId('mic-toggle').getAttribute('aria-pressed'), 'true', 'the call starts muted');
    const tile = tileOf(host, 'Robin');
    await tile.getByTestId('badge-mic-muted').waitFor();
    // Audio arrives (packets), but it is silence.
    await until('Robin\'s audio to arrive at the counsellor', async () => (await tile.getAttribute('data-level')) !== null, { timeout: STEP_MS });
    await new Promise((r) => setTimeout(r, 2500));
    assert.ok(Number(await tile.getAttribute('data-level')) < 0.005, `silence from a muted microphone: ${await tile.getAttribute('data-level')}`);
    await setMic(robin, true);
    await tile.getByTestId('badge-mic-muted').waitFor({ state: 'detached' });
    await until('Robin\'s tone to be heard', async () => Number(await tile.getAttribute('data-level')) > 0.01, { timeout: STEP_MS });
    await setMic(robin, false);
    await tile.getByTestId('badge-mic-muted').waitFor();
    await robin.getByTestId('camera-toggle').click();
    await tile.getByTestId('badge-cam-muted').waitFor();
    await robin.getByTestId('camera-toggle').click();
    await tile.getByTestId('badge-cam-muted').waitFor({ state: 'detached' });
  });

  step('the elapsed time counts, and every tile shows a connection-quality level in words', async () => {
    const robin = pages.Robin;
    const first = await robin.getByTestId('call-elapsed').textContent();
    assert.match(first, /^\d+:\d\d$/);
    await until('the call time to go on', async () => (await robin.getByTestId('call-elapsed').textContent()) !== first, { timeout: 10_000 });
    for (const [page, tile] of [
      [pages.counsellor, tileOf(pages.counsellor, 'Robin')],
      [robin, robin.getByTestId('local-tile')],
    ]) {
      const mark = tile.getByTestId('net-quality');
      await until('a measured quality level', async () => ['good', 'fair', 'poor'].includes(await mark.getAttribute('data-quality')), { timeout: 30_000 });
      const level = await mark.getAttribute('data-quality');
      assert.equal(await mark.getAttribute('role'), 'img');
      assert.equal(await mark.getAttribute('aria-label'), `Connection ${level}`);
      assert.equal(await tile.getByTestId('net-quality-text').textContent(), `Connection ${level}`);
      // Measured, not made up: the tooltip gives the numbers it came from. (Which level it is
      // depends on how busy this machine is: the levels themselves are checked in
      // call-screen-logic.test.mjs.)
      assert.match(await mark.getAttribute('title'), new RegExp(`^Connection ${level} \\(Loss (\\d+\\.\\d|–) %, delay \\d+ ms, jitter (\\d+|–) ms\\)$`), page === robin ? 'own tile' : 'tile of Robin');
    }
  });

  step('the main tile moves to whoever speaks (a tone against silence)', async () => {
    const host = pages.counsellor;
    const sam = await joinAs('Sam', { muted: true });
    // Sam came after Robin last spoke (and everyone is silent now): the server names the
    // current speaker to a late joiner at once, not only when it changes.
    await until('Sam to be told who spoke last', async () => (await sam.evaluate(() => window.confidant.activeSpeaker)) === ids.Robin, { timeout: 15_000 });
    const grid = host.getByTestId('video-grid');
    assert.equal(await grid.getAttribute('data-layout'), 'speaker');
    // Robin came first, so Robin is on the main tile until someone speaks.
    assert.equal(await grid.getAttribute('data-main'), ids.Robin);
    await setMic(pages.Robin, false);
    await setMic(sam, true);
    await until('Sam on the counsellor\'s main tile', async () => (await grid.getAttribute('data-main')) === ids.Sam, { timeout: STEP_MS });
    assert.equal(await tileOf(host, 'Sam').getAttribute('data-main'), 'true');
    await setMic(sam, false);
    await setMic(pages.Robin, true);
    await until('Robin on the counsellor\'s main tile', async () => (await grid.getAttribute('data-main')) === ids.Robin, { timeout: STEP_MS });
    const [big, small] = await Promise.all([tileOf(host, 'Robin').boundingBox(), tileOf(host, 'Sam').boundingBox()]);
    assert.ok(big.width > small.width * 1.5, `the main tile is large (${big.width} px against ${small.width} px)`);
  });

  step('grid view: a toggle that shows everyone the same size, remembered after a reload', async () => {
    const host = pages.counsellor;
    const toggle = host.getByTestId('layout-toggle');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
    assert.equal(await host.getByTestId('video-grid').getAttribute('data-layout'), 'grid');
    const [a, b] = await Promise.all([tileOf(host, 'Sam').boundingBox(), tileOf(host, 'Robin').boundingBox()]);
    assert.ok(Math.abs(a.width - b.width) < 2, `same size: ${a.width} and ${b.width}`);
    await host.reload();
    await host.waitForFunction(() => window.confidant && window.confidant.state === 'in-call');
    assert.equal(await host.getByTestId('video-grid').getAttribute('data-layout'), 'grid');
    assert.equal(await host.getByTestId('layout-toggle').getAttribute('aria-pressed'), 'true');
    await setMic(host, false);
  });

  step('full screen by button and by the F key', async () => {
    const robin = pages.Robin;
    const button = robin.getByTestId('fullscreen-toggle');
    await button.click();
    await robin.waitForFunction(() => document.fullscreenElement && document.fullscreenElement.dataset.testid === 'call-main');
    // The button follows with the `fullscreenchange` event, which comes a frame later.
    await until('the button to say full screen is on', async () => (await button.getAttribute('aria-pressed')) === 'true', { timeout: 10_000 });
    assert.equal(await button.textContent(), 'Exit full screen');
    await button.focus();
    await robin.keyboard.press('f');
    await robin.waitForFunction(() => !document.fullscreenElement);
    await until('the button to say full screen is off', async () => (await button.getAttribute('aria-pressed')) === 'false', { timeout: 10_000 });
    // Typing an "f" in the chat is a letter, not a shortcut.
    await robin.getByTestId('chat-input').focus();
    await robin.keyboard.press('f');
    assert.equal(await robin.evaluate(() => !!document.fullscreenElement), false);
    await robin.getByTestId('chat-input').fill('');
  });

  step('the device check in the call (the counsellor\'s too): level meter, devices and speaker', async () => {
    const robin = pages.Robin;
    await setMic(robin, true);
    const devices = robin.getByTestId('call-devices');
    await devices.locator('summary').click();
    await until('the meter in the call to move', async () => Number(await devices.getByTestId('mic-level').getAttribute('data-peak')) > 0.05, { timeout: 20_000 });
    assert.ok((await devices.getByTestId('camera-select').locator('option').count()) >= 1);
    assert.equal(await devices.getByTestId('speaker-select').locator('option').first().getAttribute('value'), '');
    await devices.locator('summary').click();
    await setMic(robin, false);
  });

  step('"Reconnecting…" while the websocket is away, "Reconnected." once it is back, then gone', async () => {
    const robin = pages.Robin;
    const status = robin.getByTestId('reconnect-status');
    assert.equal(await status.getAttribute('role'), 'status', 'a live region');
    // The network drops: the connection closes without `leave`, and reconnecting fails until
    // the way to the server is back (an address nothing listens on stands for it).
    await robin.evaluate(() => {
      const s = window.confidant.signaling;
      s.realUrl = s.url;
      s.url = 'ws://127.0.0.1:9/';
      s.ws.close();
    });
    await until('the reconnecting state', async () => (await status.getAttribute('data-state')) === 'reconnecting', { timeout: 10_000 });
    assert.match(await status.textContent(), /Reconnecting…/);
    await robin.evaluate(() => {
      const s = window.confidant.signaling;
      s.url = s.realUrl;
    });
    await until('the reconnected announcement', async () => (await status.getAttribute('data-state')) === 'reconnected', { timeout: 30_000 });
    assert.match(await status.textContent(), /Reconnected\./);
    assert.equal(await robin.evaluate(() => window.confidant.participantId), ids.Robin, 'resumed as the same participant');
    await until('the notice to go', async () => (await status.getAttribute('data-state')) === '', { timeout: 15_000 });
  });

  step('leaving asks in a dialog; Escape keeps the call and gives the focus back to Leave', async () => {
    const robin = pages.Robin;
    const leave = robin.getByTestId('leave-button');
    await leave.focus();
    await robin.keyboard.press('Enter');
    const dialog = robin.getByTestId('leave-dialog');
    await dialog.waitFor();
    assert.equal(await dialog.evaluate((d) => d.open && d.matches(':modal')), true, 'a modal dialog');
    assert.equal(await robin.evaluate(() => document.activeElement.dataset.testid), 'leave-confirm');
    // The focus stays in the dialog, both ways round.
    for (const key of ['Tab', 'Tab', 'Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab']) {
      await robin.keyboard.press(key);
      assert.ok(await robin.evaluate(() => !!document.activeElement.closest('[data-testid="leave-dialog"]')), 'Tab stays in the dialog');
    }
    await robin.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(await robin.evaluate(() => document.activeElement.dataset.testid), 'leave-button');
    assert.equal(await robin.evaluate(() => window.confidant.state), 'in-call');
    // "Stay" does the same; "Yes, leave" leaves.
    await leave.click();
    await robin.getByTestId('leave-confirm-cancel').click();
    assert.equal(await robin.evaluate(() => window.confidant.state), 'in-call');
    await leave.click();
    await robin.getByTestId('leave-confirm').click();
    await robin.getByTestId('left').waitFor();
  });

  step('a refused camera and microphone show the steps for this browser, and "Try again"', async () => {
    // A browser that asks (no --use-fake-ui-for-media-stream, which would say yes to everything),
    // with camera and microphone refused for the page's origin, as a user's "Block" does.
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS.filter((a) => a !== '--use-fake-ui-for-media-stream') });
    try {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
      const page = await context.newPage();
      page.setDefaultTimeout(STEP_MS);
      pages.denied = page;
      const cdp = await context.newCDPSession(page);
      // Permissions are per browser context: this page's, not the browser's default one.
      const { targetInfo: { browserContextId } } = await cdp.send('Target.getTargetInfo');
      for (const name of ['camera', 'microphone']) {
        await cdp.send('Browser.setPermission', { permission: { name }, setting: 'denied', origin: ctx.base, browserContextId });
      }
      await page.goto(joinUrl);
      const help = page.getByTestId('permission-help');
      await help.waitFor();
      assert.equal(await help.getAttribute('data-browser'), 'chromium');
      assert.match(await help.textContent(), /Chrome, Edge/);
      assert.equal(await help.locator('ol li').count(), 3);
      // Allowed now: "Try again" brings the preview.
      await context.grantPermissions(['camera', 'microphone'], { origin: ctx.base });
      await page.getByTestId('permission-retry').click();
      await help.waitFor({ state: 'detached' });
      await page.waitForFunction(() => document.querySelector('[data-testid="preview-video"]').videoWidth > 0);
    } finally {
      delete pages.denied;
      await browser.close();
    }
  });

  for (const lang of ['de', 'en']) {
    step(`${lang}: the join button is on the first screen of a 360 × 640 phone`, async () => {
      const page = await newPage(`phone-${lang}`, { viewport: { width: 360, height: 640 }, isMobile: true, hasTouch: true, locale: lang === 'de' ? 'de-DE' : 'en-GB' });
      await page.context().addCookies([{ name: 'lang', value: lang, url: ctx.base }]);
      await page.goto(joinUrl);
      const join = page.getByTestId('join-button');
      await join.waitFor();
      await page.waitForFunction(() => document.querySelector('[data-testid="preview-video"]').videoWidth > 0);
      const box = await join.boundingBox();
      const scroll = await page.evaluate(() => window.scrollY);
      assert.equal(scroll, 0);
      assert.ok(box.y >= 0 && box.y + box.height <= 640, `the join button at ${box.y}–${box.y + box.height} px of 640`);
      assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 360), 'nothing sideways');
      await page.context().close();
    });
  }
});
