// Accessibility (WCAG 2.2 AA) of every page, through the real parts: the server binary, a real SMTP
// server (aiosmtpd) and headless Chromium at desktop size, in German and in English.
//
// Every page and its main states pass axe-core (tests/e2e/axe.mjs) with no serious or critical
// violation: landing, login (and its error), the counsellor's dashboard with every section open,
// the session page with a knock, join (and its help when camera and microphone are refused) →
// waiting room → call (grid view, reconnecting, reconnected) → leave dialog → end screen,
// talk now → walk-in queue, booking → confirmation, reschedule, cancel, signing, the dead links
// and 404 — each with a full centre profile (header, footer with the emergency line, next steps on
// the end screens). A client goes through join → waiting room → call → leave with the keyboard alone
// (Tab, Enter, Space, Escape), every focused control visibly marked. The waiting room, the
// admission and the walk-in queue's changing place are told through live regions. A walk-in
// ring on the dashboard takes the focus and gives it back. At 200 % zoom the main pages pass too
// and do not scroll sideways.
// (At phone size, phone.test.mjs runs the same check on every German client screen.)
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/a11y.test.mjs

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { CHROMIUM, CHROMIUM_ARGS, DASHBOARD_SECTIONS, centreProfileArgs, inspectMails, loginCounsellor, openSection, pageApi, sleep, suite, until } from './harness.mjs';
import { checkA11y } from './axe.mjs';

const EMAIL = 'lindqvist@centre.example';
const PASSWORD = 'correct horse battery staple 42';
const COUNSELLOR = 'Dr. Lindqvist';
const SLUG = 'dr-lindqvist';
const STEP_MS = 60_000;
const LANGS = ['de', 'en'];
/** Most Tab presses to reach a control: the pages have far fewer stops than this. */
const MAX_TABS = 40;

/**
 * Records what live regions say: every change inside an element with `aria-live`, role status or
 * alert that was already on the page (a region inserted together with its text is not reliably
 * read out, so that does not count as announced).
 */
function recordAnnouncements() {
  window.__announced = [];
  const LIVE = '[aria-live]:not([aria-live="off"]), [role="status"], [role="alert"]';
  new MutationObserver((records) => {
    for (const r of records) {
      const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      const region = el && el.closest(LIVE);
      if (!region) continue;
      const text = region.textContent.trim();
      if (text && window.__announced[window.__announced.length - 1] !== text) window.__announced.push(text);
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
}

describe('Accessibility: every page passes axe-core (WCAG 2.2 AA) in German and English; keyboard and live regions', { timeout: 20 * 60_000 }, () => {
  const ctx = suite({
    name: 'a11y',
    browserArtifact: 'a11y-browser-console.log',
    smtp: true,
    mailFrom: 'Centre <termine@centre.example>',
    // A full centre profile: every page is checked with the centre's header, footer (emergency
    // line, address, links) and, on end screens, the next steps.
    server: (s) => ({ extraArgs: ['--form-burst', '50', ...centreProfileArgs(s.dir)] }),
    counsellors: [{ email: EMAIL, name: COUNSELLOR, password: PASSWORD }],
    steps: { timeout: 4 * 60_000 },
  });
  const { step, browserLog } = ctx;
  let office; // the counsellor's page (German)
  let templateId;

  async function newPage(lang, name, { viewport = { width: 1280, height: 800 } } = {}) {
    const context = await ctx.browser.newContext({ viewport, locale: lang === 'de' ? 'de-DE' : 'en-GB', timezoneId: 'Europe/Berlin' });
    await context.addCookies([{ name: 'lang', value: lang, url: ctx.base }]);
    await context.grantPermissions(['camera', 'microphone'], { origin: ctx.base });
    await context.addInitScript(recordAnnouncements);
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_MS);
    page.on('console', (msg) => browserLog.push(`[${lang} ${name}] ${msg.type()}: ${msg.text()}`));
    page.on('pageerror', (err) => browserLog.push(`[${lang} ${name}] pageerror: ${err.message}`));
    return page;
  }

  const api = pageApi;

  const login = (page) => loginCounsellor(page, ctx.base, { email: EMAIL, password: PASSWORD });

  /** Asks to talk now on the walk-in page under a first and last name. */
  async function enterQueue(page, first, last) {
    await page.goto(`${ctx.base}/talk/${SLUG}`);
    await page.getByTestId('talk-first-name').fill(first);
    await page.getByTestId('talk-last-name').fill(last);
    await page.getByTestId('talk-submit').click();
  }

  /** The axe check, with the page settled first (fonts, pending requests). */
  async function check(page, where) {
    await page.evaluate(() => document.fonts && document.fonts.ready);
    await page.waitForLoadState('networkidle').catch(() => {});
    await checkA11y(page, where);
  }

  /**
 * Presses Tab until the control with `testid` has the focus; each stop must show its focus: an
 * outline of at least 2 px with 3:1 contrast against the background behind the control.
 */
  async function tabTo(page, testid) {
    for (let i = 0; i < MAX_TABS; i++) {
      await page.keyboard.press('Tab');
      const focus = await page.evaluate(() => {
        const el = document.activeElement;
        if (!el || el === document.body) return null;
        const s = getComputedStyle(el);
        // The outline's contrast with the page behind it (WCAG 1.4.11: at least 3:1).
        const rgb = (c) => (c.match(/[\d.]+/g) || []).slice(0, 3).map(Number);
        const lum = ([r, g, b]) => {
          const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
          return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
        };
        let bg = 'rgb(255, 255, 255)';
        for (let p = el.parentElement; p; p = p.parentElement) {
          const c = getComputedStyle(p).backgroundColor;
          if (c && c !== 'transparent' && !/rgba\(.*, 0\)$/.test(c)) {
            bg = c;
            break;
          }
        }
        const [l1, l2] = [lum(rgb(s.outlineColor)), lum(rgb(bg))].sort((a, b) => b - a);
        const contrast = (l1 + 0.05) / (l2 + 0.05);
        const marked = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 && contrast >= 3;
        return { testid: el.dataset.testid || '', marked, what: `${el.tagName.toLowerCase()}[${el.dataset.testid || el.className}] "${(el.textContent || '').trim().slice(0, 30)}" (outline ${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor} on ${bg}, ${contrast.toFixed(2)}:1)` };
      });
      if (!focus) continue;
      assert.ok(focus.marked, `the focused ${focus.what} shows no focus indicator of 2 px or more with 3:1 contrast`);
      if (focus.testid === testid) return;
    }
    throw new Error(`${testid} not reached with ${MAX_TABS} presses of Tab`);
  }

  step('the counsellor sets up a booking page, walk-ins and a form to sign', async () => {
    office = await newPage('de', 'office');
    await login(office);
    assert.equal((await api(office, 'PUT', '/api/booking/profile', { slug: SLUG, time_zone: 'Europe/Berlin', lang: 'de' })).status, 200);
    const type = await api(office, 'POST', '/api/booking/types', { name: 'Erstgespräch', kind: 'video', duration_min: 50, min_notice_min: 60, description: 'Ein erstes Kennenlernen.' });
    assert.equal(type.status, 201, JSON.stringify(type.body));
    const weekly = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((weekday) => ({ weekday, start: '00:00', end: '24:00' }));
    assert.equal((await api(office, 'PUT', '/api/booking/availability', { weekly, overrides: [] })).status, 200);
    // The booking page shows a profile (its card is checked with the page), and the types a
    // description.
    const about = await api(office, 'PUT', '/api/booking/profile/about', { about: 'Ich berate seit 2010 Familien.', languages: ['Deutsch', 'English'], topics: ['Familie', 'Trennung'] });
    assert.equal(about.status, 200, JSON.stringify(about.body));
    const walkin = await api(office, 'PUT', '/api/walkin/profile', { enabled: true, topics: [], languages: [], hours: [] });
    assert.equal(walkin.status, 200, JSON.stringify(walkin.body));
    const tpl = await api(office, 'POST', '/api/signatures/templates', { title: 'Einwilligung', body_markdown: 'Ich stimme der **Online-Beratung** zu.', fields: [] });
    assert.equal(tpl.status, 201, JSON.stringify(tpl.body));
    templateId = tpl.body.id;
  });

  for (const lang of LANGS) {
    step(`${lang}: the pages without a flow, the dead links and 404`, async () => {
      const page = await newPage(lang, 'misc');
      for (const [label, url, testid] of [
        ['landing', '/', null],
        ['login', '/login', 'login-form'],
        ['centre', '/book', null],
        ['talk-centre', '/talk', null],
        ['join-invalid', '/j/not-a-link-at-all', 'link-invalid'],
        ['cancel-invalid', '/booking/cancel#not-a-token', 'link-invalid'],
        ['sign-invalid', '/sign/not-a-token', null],
        ['not-found', '/nothing/here', null],
      ]) {
        await page.goto(`${ctx.base}${url}`);
        await page.locator('main').waitFor();
        if (testid) await page.getByTestId(testid).waitFor();
        await check(page, `${lang} ${label}`);
      }
      // The login's error state.
      await page.goto(`${ctx.base}/login`);
      await page.getByTestId('email-input').fill(EMAIL);
      await page.getByTestId('password-input').fill('not the password');
      await page.getByTestId('login-button').click();
      await page.getByTestId('login-error').waitFor();
      await check(page, `${lang} login-error`);
      await page.context().close();
    });

    step(`${lang}: every section of the counsellor's workspace with everything unfolded, and the session page with a knock`, async () => {
      const host = await newPage(lang, 'dashboard');
      await login(host);
      await host.getByTestId('start-session-button').waitFor();
      for (const id of DASHBOARD_SECTIONS) {
        await openSection(host, id);
        // Every folded part open, also those that open inside others.
        for (let round = 0; round < 3; round++) {
          await host.evaluate(() => {
            for (const d of document.querySelectorAll('details')) d.open = true;
          });
          await host.waitForLoadState('networkidle');
        }
        await check(host, `${lang} dashboard ${id}`);
      }
      await openSection(host, 'today');
      await host.getByTestId('start-session-button').click();
      await host.waitForURL(/\/s\/[^/?#]+$/);
      await host.waitForFunction(() => window.confidant && window.confidant.state === 'in-call');
      await check(host, `${lang} session`);
      const url = await host.getByTestId('join-link').inputValue();
      const client = await newPage(lang, 'client');
      await client.goto(url);
      await client.getByTestId('join-button').waitFor();
      await check(client, `${lang} join`);
      // Camera and microphone refused: the help with this browser's steps (in a browser that
      // asks, without --use-fake-ui-for-media-stream, which would say yes to everything).
      const asking = await (await import('playwright-core')).chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS.filter((a) => a !== '--use-fake-ui-for-media-stream'),
      });
      try {
        const context = await asking.newContext({ viewport: { width: 1280, height: 800 }, locale: lang === 'de' ? 'de-DE' : 'en-GB' });
        await context.addCookies([{ name: 'lang', value: lang, url: ctx.base }]);
        const denied = await context.newPage();
        denied.setDefaultTimeout(STEP_MS);
        const cdp = await context.newCDPSession(denied);
        const { targetInfo: { browserContextId } } = await cdp.send('Target.getTargetInfo');
        for (const name of ['camera', 'microphone']) await cdp.send('Browser.setPermission', { permission: { name }, setting: 'denied', origin: ctx.base, browserContextId });
        await denied.goto(url);
        await denied.getByTestId('permission-help').waitFor();
        await check(denied, `${lang} join-permission-denied`);
      } finally {
        await asking.close();
      }
      // The form's error state: joining without a name.
      await client.getByTestId('join-button').click();
      await client.getByTestId('name-error').filter({ hasText: /\S/ }).waitFor();
      await check(client, `${lang} join-error`);
      await client.getByTestId('name-input').fill('Robin');
      await client.getByTestId('join-button').click();
      await client.getByTestId('lobby-waiting').waitFor();
      await check(client, `${lang} lobby`);
      await host.getByTestId('knock-bar').waitFor();
      await check(host, `${lang} session-knock`);
      await host.locator('[data-testid="admit-button"][data-lobby-name="Robin"]').click();
      await client.waitForFunction(() => window.confidant && window.confidant.state === 'in-call');
      await check(client, `${lang} call`);
      await client.evaluate(() => {
        for (const d of document.querySelectorAll('details')) d.open = true;
      });
      await check(client, `${lang} call-details-open`);
      // The grid view, and the reconnecting notice (the websocket drops and cannot come back
      // until its address is given back), then "Reconnected."
      await client.getByTestId('layout-toggle').click();
      await check(client, `${lang} call-grid`);
      await client.getByTestId('layout-toggle').click();
      await client.evaluate(() => {
        const s = window.confidant.signaling;
        s.realUrl = s.url;
        s.url = 'ws://127.0.0.1:9/';
        s.ws.close();
      });
      await client.locator('[data-testid="reconnect-status"][data-state="reconnecting"]').waitFor();
      await check(client, `${lang} call-reconnecting`);
      await client.evaluate(() => {
        const s = window.confidant.signaling;
        s.url = s.realUrl;
        // Try again now rather than after the back-off that grew during the check: the resume
        // window (30 s) must not run out while axe was busy on a loaded machine.
        clearTimeout(s.reconnectTimer);
        if (s.resuming) s.openSocket(null, null);
      });
      await client.locator('[data-testid="reconnect-status"][data-state="reconnected"]').waitFor({ timeout: 30_000 });
      await check(client, `${lang} call-reconnected`);
      await client.getByTestId('leave-button').click();
      await client.getByTestId('leave-confirm').waitFor();
      await check(client, `${lang} call-leave-confirm`);
      await client.getByTestId('leave-confirm').click();
      await client.getByTestId('left').waitFor();
      await client.getByTestId('next-steps').waitFor();
      await check(client, `${lang} call-left`);
      await client.context().close();
      await host.context().close();
    });

    step(`${lang}: booking to the confirmation, reschedule and cancel`, async () => {
      const page = await newPage(lang, 'book');
      await page.goto(`${ctx.base}/book/${SLUG}`);
      await page.getByTestId('type-choice').first().waitFor();
      await check(page, `${lang} book-start`);
      await page.getByTestId('type-choice').first().click();
      // The second day with free times: a whole day (the first may be today's last hours).
      await page.locator('[data-testid="cal-day"][data-free="true"]').nth(1).click();
      const slot = page.getByTestId('slot').nth(LANGS.indexOf(lang) * 3);
      await slot.waitFor();
      await check(page, `${lang} book-times`);
      await slot.click();
      const form = page.getByTestId('booking-form');
      await form.getByTestId('consent-checkbox').check();
      await page.getByTestId('book-submit').click();
      await form.locator('[data-error-for="first_name"]').filter({ hasText: /\S/ }).waitFor();
      await check(page, `${lang} book-form-errors`);
      const email = `alex-${lang}@client.example`;
      await form.getByTestId('field-first_name').fill('Alex');
      await form.getByTestId('field-last_name').fill('Muster');
      await form.getByTestId('field-email').fill(email);
      await page.getByTestId('book-submit').click();
      await page.getByTestId('booking-done').waitFor();
      await check(page, `${lang} book-done`);
      await page.context().close();

      const mail = await until('the confirmation mail', () => inspectMails(ctx.maildir).find((m) => m.to.includes(email)), { timeout: 90_000, interval: 1000 });
      const link = (text, part) => text.split('\n').find((l) => l.includes(part)).trim();
      const moving = await newPage(lang, 'reschedule');
      await moving.goto(link(mail.text, '/booking/reschedule#'));
      await moving.getByTestId('booking-summary').waitFor();
      await moving.locator('[data-testid="cal-day"][data-free="true"]').nth(1).click();
      const other = moving.getByTestId('slot').nth(5);
      await other.waitFor();
      await check(moving, `${lang} reschedule-start`);
      await other.click();
      await check(moving, `${lang} reschedule-chosen`);
      await moving.getByTestId('reschedule-submit').click();
      await moving.getByTestId('booking-rescheduled').waitFor();
      await check(moving, `${lang} reschedule-done`);
      await moving.context().close();

      const moved = await until('the rescheduled mail', () => inspectMails(ctx.maildir).filter((m) => m.to.includes(email))[1], { timeout: 90_000, interval: 1000 });
      const cancel = await newPage(lang, 'cancel');
      await cancel.goto(link(moved.text, '/booking/cancel#'));
      await cancel.getByTestId('cancel-booking').waitFor();
      await check(cancel, `${lang} cancel-start`);
      await cancel.getByTestId('cancel-booking').click();
      await cancel.getByTestId('booking-cancelled').waitFor();
      await cancel.getByTestId('next-steps').getByTestId('next-book').waitFor();
      await check(cancel, `${lang} cancel-done`);
      await cancel.context().close();
    });

    step(`${lang}: talk now and the walk-in queue`, async () => {
      // Walk-ins need a counsellor on the dashboard: a dashboard closed in an earlier step said
      // "closed" for this counsellor, the office's page says "open" again.
      await office.goto(`${ctx.base}/dashboard`);
      await office.getByTestId('start-session-button').waitFor();
      const page = await newPage(lang, 'talk');
      await page.goto(`${ctx.base}/talk/${SLUG}`);
      await page.getByTestId('talk-form').waitFor();
      await check(page, `${lang} talk`);
      await page.getByTestId('talk-first-name').fill('Sam');
      await page.getByTestId('talk-last-name').fill('Muster');
      await page.getByTestId('talk-submit').click();
      await page.getByTestId('queue-position').waitFor();
      await check(page, `${lang} talk-queue`);
      await page.getByTestId('talk-leave').click();
      await page.getByTestId('talk-left').waitFor();
      await page.getByTestId('next-steps').waitFor();
      await check(page, `${lang} talk-left`);
      await page.context().close();
    });

    step(`${lang}: signing a form to the receipt`, async () => {
      const req = await api(office, 'POST', '/api/signatures/requests', { template_id: templateId });
      assert.equal(req.status, 201, JSON.stringify(req.body));
      const page = await newPage(lang, 'sign');
      await page.goto(req.body.sign_url);
      const pad = page.getByTestId('signature-pad');
      await pad.waitFor();
      await check(page, `${lang} sign`);
      // Submitting without anything: the errors.
      await page.getByTestId('sign-submit').click();
      await sleep(300);
      await check(page, `${lang} sign-errors`);
      await page.getByTestId('signer-name').fill('Alex Muster');
      await page.getByTestId('sign-consent').check();
      await pad.scrollIntoViewIfNeeded();
      const box = await pad.boundingBox();
      await page.mouse.move(box.x + 20, box.y + 30);
      await page.mouse.down();
      for (let i = 1; i <= 10; i++) await page.mouse.move(box.x + 20 + i * 20, box.y + 30 + (i % 2) * 40);
      await page.mouse.up();
      await page.getByTestId('sign-submit').click();
      await page.getByTestId('sign-success').waitFor();
      await page.getByTestId('next-steps').waitFor();
      await check(page, `${lang} sign-done`);
      await page.context().close();
    });

    step(`${lang}: signing with a typed name instead of the pad, by keyboard`, async () => {
      const req = await api(office, 'POST', '/api/signatures/requests', { template_id: templateId, allow_typed_name: true });
      assert.equal(req.status, 201, JSON.stringify(req.body));
      const page = await newPage(lang, 'sign-typed');
      await page.goto(req.body.sign_url);
      await page.getByTestId('sign-method').waitFor();
      await check(page, `${lang} sign-method-choice`);
      await page.getByTestId('signer-name').fill('Alex Muster');
      await page.getByTestId('sign-consent').focus();
      await page.keyboard.press('Space');
      // The radio group: focus the (checked) pad choice, arrow to the typed name.
      await page.getByTestId('sign-method-pad').focus();
      await page.keyboard.press('ArrowDown');
      await page.getByTestId('typed-name-field').waitFor();
      await page.getByTestId('sign-submit').click();
      await page.locator('[data-error-for="typed_name.declaration_accepted"]').filter({ hasText: /\S/ }).waitFor();
      await check(page, `${lang} sign-typed-errors`);
      await page.getByTestId('typed-name').focus();
      await page.keyboard.type('Alex Muster');
      await page.getByTestId('typed-declaration').focus();
      await page.keyboard.press('Space');
      await page.getByTestId('sign-submit').focus();
      await page.keyboard.press('Enter');
      await page.getByTestId('sign-success').waitFor();
      await check(page, `${lang} sign-typed-done`);
      await page.context().close();
    });
  }

  step('keyboard only: a client joins, waits, is let in, and leaves (Tab, Enter, Space, Escape), focus always visible at 3:1', async () => {
    const host = await newPage('en', 'kbd-host');
    await login(host);
    await host.getByTestId('start-session-button').click();
    await host.waitForURL(/\/s\/[^/?#]+$/);
    const url = await host.getByTestId('join-link').inputValue();
    const client = await newPage('en', 'kbd-client');
    await client.goto(url);
    await client.getByTestId('join-button').waitFor();
    await tabTo(client, 'name-input');
    await client.keyboard.type('Kim');
    await tabTo(client, 'join-button');
    await client.keyboard.press('Enter');
    await client.getByTestId('lobby-waiting').waitFor();
    // The way out of the waiting room is reachable too.
    await tabTo(client, 'leave-lobby-button');
    await host.locator('[data-testid="admit-button"][data-lobby-name="Kim"]').click();
    await client.waitForFunction(() => window.confidant && window.confidant.state === 'in-call');
    // Admitted: the focus is in the call (not lost with the waiting room's button).
    assert.equal(await client.evaluate(() => document.activeElement && document.activeElement.dataset.testid), 'call-heading');
    await tabTo(client, 'mic-toggle');
    const muted = await client.getByTestId('mic-toggle').getAttribute('aria-pressed');
    await client.keyboard.press('Space');
    await until('the microphone to toggle', async () => (await client.getByTestId('mic-toggle').getAttribute('aria-pressed')) !== muted, { timeout: 10_000 });
    await tabTo(client, 'leave-button');
    await client.keyboard.press('Enter');
    // The confirmation takes the focus; Escape backs out and gives it back to Leave.
    await until('the confirmation to take the focus', () => client.evaluate(() => document.activeElement.dataset.testid === 'leave-confirm'), { timeout: 10_000 });
    await client.keyboard.press('Escape');
    assert.equal(await client.evaluate(() => document.activeElement.dataset.testid), 'leave-button', 'focus returns to Leave');
    assert.equal(await client.evaluate(() => window.confidant.state), 'in-call', 'Escape does not hang up');
    await client.keyboard.press('Space');
    await until('the confirmation to take the focus again', () => client.evaluate(() => document.activeElement.dataset.testid === 'leave-confirm'), { timeout: 10_000 });
    await client.keyboard.press('Enter');
    await client.getByTestId('left').waitFor();
    await client.context().close();
    await host.context().close();
  });

  step('live regions announce the waiting room, the admission, and the walk-in queue place as it changes', async () => {
    const host = await newPage('en', 'live-host');
    await login(host);
    await host.getByTestId('start-session-button').click();
    await host.waitForURL(/\/s\/[^/?#]+$/);
    const url = await host.getByTestId('join-link').inputValue();
    const client = await newPage('en', 'live-client');
    await client.goto(url);
    await client.getByTestId('name-input').fill('Jo');
    await client.getByTestId('join-button').click();
    await until('the waiting room announced', async () => (await client.evaluate(() => window.__announced)).some((a) => a.includes('Waiting room')), { timeout: 10_000 });
    await host.locator('[data-testid="admit-button"][data-lobby-name="Jo"]').click();
    await until('the admission announced', async () => (await client.evaluate(() => window.__announced)).some((a) => a.includes('You have been let in')), { timeout: 20_000 });
    await client.context().close();
    await host.context().close();

    // Two in the queue; when the first leaves, the second hears their new place.
    await office.goto(`${ctx.base}/dashboard`);
    await office.getByTestId('start-session-button').waitFor();
    const first = await newPage('en', 'queue-1');
    await enterQueue(first, 'Ana', 'Ahn');
    await first.getByTestId('queue-position').filter({ hasText: ': 1' }).waitFor();
    const second = await newPage('en', 'queue-2');
    await enterQueue(second, 'Ben', 'Bo');
    await second.getByTestId('queue-position').filter({ hasText: ': 2' }).waitFor();
    await until('place 2 announced', async () => (await second.evaluate(() => window.__announced)).some((a) => a.includes('Your place in the queue: 2')), { timeout: 10_000 });
    // Keyboard focus on "Leave the queue" survives the polls.
    await second.getByTestId('talk-leave').focus();
    await first.getByTestId('talk-leave').click();
    await until('place 1 announced', async () => (await second.evaluate(() => window.__announced)).some((a) => a.includes('Your place in the queue: 1')), { timeout: 20_000 });
    assert.equal(await second.evaluate(() => document.activeElement.dataset.testid), 'talk-leave', 'the focus stays on Leave through the updates');
    const said = await second.evaluate(() => window.__announced.filter((a) => a.includes('place in the queue')));
    assert.equal(new Set(said).size, said.length, `each place is told once, not on every poll: ${JSON.stringify(said)}`);
    await first.context().close();
    await second.context().close();
  });

  step('a walk-in ring on the dashboard passes the check, takes the focus, and gives it back after Pass', async () => {
    await office.goto(`${ctx.base}/dashboard#walkins`);
    const available = office.getByTestId('presence-available');
    await available.click();
    await office.locator('[data-testid="walkin-presence"][data-presence="available"]').waitFor();
    await available.focus();
    const client = await newPage('de', 'ring-client');
    await enterQueue(client, 'Cem', 'Ak');
    await office.getByTestId('walkin-ring').waitFor({ timeout: 30_000 });
    await until('the ring to take the focus', () => office.evaluate(() => document.activeElement.dataset.testid === 'ring-accept'), { timeout: 10_000 });
    await check(office, 'de dashboard-ring');
    await office.keyboard.press('Tab');
    assert.equal(await office.evaluate(() => document.activeElement.dataset.testid), 'ring-pass');
    await office.keyboard.press('Enter');
    await until('the ring to go', async () => (await office.getByTestId('walkin-ring').count()) === 0, { timeout: 20_000 });
    assert.equal(await office.evaluate(() => document.activeElement.dataset.testid), 'presence-available', 'focus returns where it was');
    await client.getByTestId('talk-leave').click().catch(() => {});
    await client.context().close();
  });

  step('200 % zoom (1280×800 seen at 640×400 CSS px): no sideways scrolling, the check still passes', async () => {
    const req = await api(office, 'POST', '/api/signatures/requests', { template_id: templateId });
    assert.equal(req.status, 201, JSON.stringify(req.body));
    const page = await newPage('de', 'zoom', { viewport: { width: 640, height: 400 } });
    await login(page);
    // Every section of the workspace, reached through the folded navigation's menu.
    for (const id of DASHBOARD_SECTIONS) {
      await openSection(page, id);
      await page.waitForLoadState('networkidle').catch(() => {});
      await check(page, `zoom dashboard ${id}`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `zoom dashboard ${id}: scrolls sideways by ${overflow} px`);
    }
    await page.getByTestId('nav-menu').click();
    await check(page, 'zoom dashboard menu-open');
    for (const [label, url, testid] of [
      ['dashboard', '/dashboard', 'start-session-button'],
      ['landing', '/', null],
      ['book', `/book/${SLUG}`, 'type-choice'],
      ['talk', `/talk/${SLUG}`, 'talk-form'],
      ['sign', new URL(req.body.sign_url).pathname, 'signature-pad'],
    ]) {
      await page.goto(`${ctx.base}${url}`);
      await page.locator('main').waitFor();
      if (testid) await page.getByTestId(testid).first().waitFor();
      await check(page, `zoom ${label}`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `zoom ${label}: scrolls sideways by ${overflow} px`);
    }
    await page.context().close();
  });
});
