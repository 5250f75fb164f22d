// The centre, not a bare tool: the centre's profile (name, logo, address, imprint and privacy
// links, emergency line) set with the admin CLI while the server runs appears on every public
// page in English and German, rendered by the server (no JavaScript needed) and by the page
// modules; an unset profile leaves no empty element; bad values are refused naming the field;
// end screens say what happens next and offer booking, talking now and the emergency line; the
// walk-in queue says honestly when the wait is unknown, and a first name alone is enough.
// Through the real server binary, its admin CLI and headless Chromium.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/centre.test.mjs

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, fillSignature, pageApi, solidPng as png, suite, until } from './harness.mjs';
import { checkA11y } from './axe.mjs';

const EMAIL = 'centre@centre.example';
const PASSWORD = 'correct horse battery staple 42';
const SLUG = 'dr-centre';
const STEP_MS = 60_000;
const NAME = 'Beratung <Nord> & Süd';
const PROFILE = {
  address: 'Hauptstraße 1\n12345 Musterstadt',
  imprint: 'https://centre.example/impressum',
  privacy: 'https://centre.example/datenschutz',
  label: 'TelefonSeelsorge',
  phone: '0800 111 0 111',
  tel: 'tel:08001110111',
  text: 'In an acute crisis, call now: free of charge, day and night.',
  hours: 'Mon–Fri 9–17',
  email: 'hallo@centre.example',
};
const TEXTS = {
  en: { emergency: 'In an emergency', imprint: 'Imprint', privacy: 'Privacy policy', unknown: /do not know yet/ },
  de: { emergency: 'Im Notfall', imprint: 'Impressum', privacy: 'Datenschutz', unknown: /wissen noch nicht/ },
};

describe('The centre: its profile on every public page, end screens with next steps, an honest walk-in queue', { timeout: 15 * 60_000 }, () => {
  const ctx = suite({
    name: 'centre',
    browserArtifact: 'centre-browser-console.log',
    counsellors: [{ email: EMAIL, name: 'Dr. Centre', password: PASSWORD }],
    steps: { timeout: 4 * 60_000 },
  });
  const { step } = ctx;
  let office;
  let joinUrl;
  let templateId;

  /** `confidant admin centre …` on the suite's data directory: `{ status, stdout, stderr }`. */
  function centreCli(...args) {
    const r = spawnSync(BIN, ['admin', 'centre', ...args, '--data-dir', ctx.dataDir], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, RUST_LOG: 'warn' } });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  function file(name, content) {
    const p = path.join(ctx.dir, name);
    fs.writeFileSync(p, content);
    return p;
  }

  async function newPage(lang, name, options = {}) {
    const page = await ctx.newPage(`${lang}-${name}`, { grant: true, locale: lang === 'de' ? 'de-DE' : 'en-GB', viewport: { width: 1280, height: 800 }, timeout: STEP_MS, ...options });
    await page.context().addCookies([{ name: 'lang', value: lang, url: ctx.base }]);
    return page;
  }

  /** What the page shows of the centre once its module ran. */
  function chrome(page) {
    return page.evaluate(() => {
      const q = (id) => document.querySelector(`[data-testid="${id}"]`);
      const img = document.querySelector('header [data-testid="centre-logo"]');
      const footer = q('centre-footer');
      const region = q('centre-emergency');
      return {
        name: document.querySelector('header [data-testid="centre-name"]')?.textContent,
        logo: img ? { loaded: img.complete && img.naturalWidth > 0, alt: img.getAttribute('alt') } : null,
        headerEmergency: q('header-emergency')?.getAttribute('href') ?? null,
        footer: !!footer,
        emergency: region
          ? { heading: region.querySelector('h2')?.textContent, labelledBy: document.getElementById(region.getAttribute('aria-labelledby'))?.textContent, tel: q('centre-emergency-phone')?.getAttribute('href'), text: region.textContent }
          : null,
        imprint: q('centre-imprint') ? { href: q('centre-imprint').getAttribute('href'), text: q('centre-imprint').textContent } : null,
        privacy: q('centre-privacy') ? { href: q('centre-privacy').getAttribute('href'), text: q('centre-privacy').textContent } : null,
        address: q('centre-address')?.innerText ?? null,
        email: q('centre-email')?.getAttribute('href') ?? null,
        // Elements of the footer without any text or image: an unset field must leave none.
        empty: footer ? [...footer.querySelectorAll('*')].filter((el) => el.tagName !== 'BR' && !el.textContent.trim() && !el.querySelector('img')).map((el) => el.outerHTML) : [],
        bodyText: document.body.innerText,
      };
    });
  }

  /** Every public page, with what shows that its module has run. */
  function publicPages() {
    return [
      ['landing', '/'],
      ['booking index', '/book'],
      ['booking page', `/book/${SLUG}`],
      ['booking cancel', '/booking/cancel#not-a-token'],
      ['booking reschedule', '/booking/reschedule#not-a-token'],
      ['talk now', '/talk'],
      ['talk now (counsellor)', `/talk/${SLUG}`],
      ['join', new URL(joinUrl).pathname],
      ['join (invalid link)', '/j/not-a-link-at-all'],
      ['signing (invalid link)', '/sign/not-a-token'],
      ['404', '/nothing/here'],
    ];
  }

  step('the counsellor sets up a booking page, walk-ins, a form to sign and a session', async () => {
    office = await newPage('en', 'office');
    await office.goto(`${ctx.base}/login`);
    await office.getByTestId('email-input').fill(EMAIL);
    await office.getByTestId('password-input').fill(PASSWORD);
    await office.getByTestId('login-button').click();
    await office.waitForURL(`${ctx.base}/dashboard`);
    assert.equal((await pageApi(office, 'PUT', '/api/booking/profile', { slug: SLUG, time_zone: 'Europe/Berlin', lang: 'en' })).status, 200);
    const type = await pageApi(office, 'POST', '/api/booking/types', { name: 'First talk', kind: 'video', duration_min: 50, min_notice_min: 60 });
    assert.equal(type.status, 201, JSON.stringify(type.body));
    const walkin = await pageApi(office, 'PUT', '/api/walkin/profile', { enabled: true, topics: [], languages: [], hours: [] });
    assert.equal(walkin.status, 200, JSON.stringify(walkin.body));
    const tpl = await pageApi(office, 'POST', '/api/signatures/templates', { title: 'Consent', body_markdown: 'I agree to **online counselling**.', fields: [] });
    assert.equal(tpl.status, 201, JSON.stringify(tpl.body));
    templateId = tpl.body.id;
    const session = await pageApi(office, 'POST', '/api/sessions', {});
    assert.equal(session.status, 201, JSON.stringify(session.body));
    joinUrl = session.body.join_url;
  });

  step('an unset profile: every public page shows the name only, with no empty element', async () => {
    const page = await newPage('en', 'unset');
    for (const [label, url] of publicPages()) {
      await page.goto(`${ctx.base}${url}`);
      // The module ran: its header (with the language switch) replaced the server's.
      await page.getByTestId('lang-switch').waitFor();
      await page.waitForLoadState('networkidle');
      const c = await chrome(page);
      assert.equal(c.name, 'Confidant', `${label}: the default name`);
      assert.equal(c.logo, null, `${label}: no logo element`);
      assert.equal(c.headerEmergency, null, `${label}: no emergency link`);
      assert.equal(c.emergency, null, `${label}: no emergency region`);
      assert.equal(c.imprint, null, `${label}: no imprint link`);
      assert.equal(c.address, null, `${label}: no address`);
      assert.deepEqual(c.empty, [], `${label}: empty elements in the footer`);
    }
    await page.context().close();
  });

  step('bad values are refused by the CLI and the flags, naming the field, and nothing is stored', async () => {
    const refusals = [
      [['--logo', file('logo.gif', 'GIF89a\x01\x00\x01\x00')], /invalid logo: must be a PNG, JPEG or SVG/],
      [['--logo', file('big.png', Buffer.concat([png(1, 1, [0, 0, 0]), Buffer.alloc(300 * 1024)]))], /invalid logo: must be at most 256 KiB/],
      [['--imprint-url', 'javascript:alert(1)'], /invalid imprint_url: must be an absolute http:\/\/ or https:\/\/ URL/],
      [['--privacy-url', 'ftp://centre.example/x'], /invalid privacy_url/],
      [['--emergency-phone', 'call us'], /invalid emergency_phone: must be a phone number/],
      [['--emergency-phone', '0800 1"onclick'], /invalid emergency_phone/],
      [['--contact-email', 'not an address'], /invalid contact_email/],
      [['--name', 'Good Name', '--address', 'x\u202Ey'], /invalid address/],
      [['--clear', 'colour'], /invalid clear: no field "colour"/],
    ];
    for (const [args, expected] of refusals) {
      const r = centreCli('set', ...args);
      assert.notEqual(r.status, 0, `${args.join(' ')} was accepted`);
      assert.match(r.stderr, expected, args.join(' '));
    }
    const shown = centreCli('show', '--json');
    assert.equal(shown.status, 0, shown.stderr);
    assert.deepEqual(JSON.parse(shown.stdout), { name: 'Confidant' }, 'a refused set stored nothing');
    // The same check for the flags: the server (or any command) does not start with a bad value.
    const flag = spawnSync(BIN, ['admin', 'centre', 'show', '--data-dir', ctx.dataDir, '--centre-privacy-url', 'data:text/html,x'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(flag.status, 2);
    assert.match(flag.stderr, /invalid --centre-privacy-url: must be an absolute http/);
  });

  step('an SVG logo is served sandboxed, so its script cannot run', async () => {
    const svg = '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><script>alert(1)</script><rect width="40" height="40" fill="#0b5c70"/></svg>';
    const r = centreCli('set', '--logo', file('logo.svg', svg));
    assert.equal(r.status, 0, r.stderr);
    const url = JSON.parse(centreCli('show', '--json').stdout).logo_url;
    assert.match(url, /^\/centre\/logo\/[0-9a-f]{64}$/);
    const res = await fetch(`${ctx.base}${url}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/svg+xml');
    assert.match(res.headers.get('content-security-policy'), /^sandbox; default-src 'none'/);
    assert.match(res.headers.get('cache-control'), /immutable/);
    assert.equal((await fetch(`${ctx.base}/centre/logo/${'0'.repeat(64)}`)).status, 404, 'an unknown digest');
  });

  step('the profile set with the CLI while the server runs is in the server-rendered page, escaped', async () => {
    const r = centreCli(
      'set',
      '--name', NAME,
      '--logo', file('logo.png', png(64, 32, [11, 92, 112])),
      '--address', PROFILE.address.replace('\n', '\\n'),
      '--imprint-url', PROFILE.imprint,
      '--privacy-url', PROFILE.privacy,
      '--emergency-label', PROFILE.label,
      '--emergency-phone', PROFILE.phone,
      '--emergency-text', PROFILE.text,
      '--opening-hours', PROFILE.hours,
      '--contact-email', PROFILE.email,
    );
    assert.equal(r.status, 0, r.stderr);
    const html = await (await fetch(`${ctx.base}/book`, { headers: { cookie: 'lang=de' } })).text();
    assert.ok(html.includes('Beratung &lt;Nord&gt; &amp; Süd'), 'the name, escaped');
    assert.ok(!html.includes('<Nord>'), 'never raw');
    assert.ok(html.includes(`href="${PROFILE.tel}"`), 'the tel: link without JavaScript');
    assert.ok(html.includes('<h2 id="centre-emergency-title">Im Notfall</h2>'));
    assert.ok(html.includes('Hauptstraße 1<br>12345 Musterstadt'));
    const logo = html.match(/src="(\/centre\/logo\/[0-9a-f]{64})"/);
    assert.ok(logo, 'the logo in the header');
    const res = await fetch(`${ctx.base}${logo[1]}`);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.match(res.headers.get('cache-control'), /public, max-age=31536000, immutable/);
  });

  for (const lang of ['en', 'de']) {
    step(`${lang}: every public page shows the centre: name, logo, emergency line, imprint and privacy links`, async () => {
      const page = await newPage(lang, 'pages');
      const request = await pageApi(office, 'POST', '/api/signatures/requests', { template_id: templateId });
      assert.equal(request.status, 201, JSON.stringify(request.body));
      const pages = [...publicPages(), ['signing', new URL(request.body.sign_url).pathname]];
      for (const [label, url] of pages) {
        await page.goto(`${ctx.base}${url}`);
        await page.getByTestId('lang-switch').waitFor();
        await page.waitForLoadState('networkidle');
        await page.locator('header [data-testid="centre-logo"]').waitFor();
        await until(`${label}: the logo to load`, async () => (await chrome(page)).logo.loaded, { timeout: 10_000, interval: 100 });
        const c = await chrome(page);
        const where = `${lang} ${label}`;
        assert.equal(c.name, NAME, `${where}: the name`);
        assert.equal(c.logo.alt, '', `${where}: the logo is decorative beside the name`);
        assert.equal(c.headerEmergency, PROFILE.tel, `${where}: the emergency number in the header`);
        assert.ok(c.footer, `${where}: the footer`);
        assert.equal(c.emergency.heading, TEXTS[lang].emergency, `${where}: the emergency region's heading`);
        assert.equal(c.emergency.labelledBy, TEXTS[lang].emergency, `${where}: the region is named by its heading`);
        assert.equal(c.emergency.tel, PROFILE.tel, `${where}: the emergency tel: link`);
        assert.ok(c.emergency.text.includes(PROFILE.text), `${where}: the emergency text`);
        assert.deepEqual(c.imprint, { href: PROFILE.imprint, text: TEXTS[lang].imprint }, `${where}: imprint`);
        assert.deepEqual(c.privacy, { href: PROFILE.privacy, text: TEXTS[lang].privacy }, `${where}: privacy`);
        assert.equal(c.address, 'Hauptstraße 1\n12345 Musterstadt', `${where}: the address`);
        assert.equal(c.email, `mailto:${PROFILE.email}`, `${where}: the contact address`);
        assert.deepEqual(c.empty, [], `${where}: empty elements`);
      }
      // The emergency line is reachable by keyboard: Tab reaches its tel: link.
      await page.goto(`${ctx.base}/book`);
      await page.getByTestId('lang-switch').waitFor();
      let reached = false;
      for (let i = 0; i < 60 && !reached; i++) {
        await page.keyboard.press('Tab');
        reached = await page.evaluate(() => document.activeElement?.dataset.testid === 'centre-emergency-phone');
      }
      assert.ok(reached, 'Tab reaches the emergency number in the footer');
      await checkA11y(page, `${lang} booking index with the centre's profile`);
      await page.context().close();
    });
  }

  step('a logo changed with the CLI replaces the old one at a new address', async () => {
    const before = JSON.parse(centreCli('show', '--json').stdout).logo_url;
    assert.equal(centreCli('set', '--logo', file('logo2.png', png(32, 32, [200, 30, 30]))).status, 0);
    const after = JSON.parse(centreCli('show', '--json').stdout).logo_url;
    assert.notEqual(after, before);
    assert.equal((await fetch(`${ctx.base}${before}`)).status, 404, 'the old address is gone');
    const html = await (await fetch(`${ctx.base}/`)).text();
    assert.ok(html.includes(after));
  });

  for (const lang of ['en', 'de']) {
    step(`${lang}: end screens say what happens next and offer booking, talking now and the emergency line`, async () => {
      // Leaving the waiting room of a session.
      const join = await newPage(lang, 'lobby-left');
      await join.goto(joinUrl);
      await join.getByTestId('name-input').fill('Robin');
      await join.getByTestId('join-button').click();
      await join.getByTestId('leave-lobby-button').click();
      await join.getByTestId('left-lobby').waitFor();
      const offered = async (page, where) => {
        const steps = page.getByTestId('next-steps');
        await steps.waitFor();
        assert.ok((await steps.getByTestId('next-what').textContent()).length > 20, `${where}: what happens next`);
        assert.equal(await steps.getByTestId('next-book').getAttribute('href'), '/book', `${where}: book again`);
        assert.equal(await steps.getByTestId('next-talk').getAttribute('href'), '/talk', `${where}: talk now`);
        assert.equal(await steps.getByTestId('next-contact').getAttribute('href'), `mailto:${PROFILE.email}`, `${where}: contact`);
        assert.equal(await steps.getByTestId('next-emergency').getAttribute('href'), PROFILE.tel, `${where}: the emergency line`);
        await checkA11y(page, `${lang} ${where}`);
      };
      await offered(join, 'left the waiting room');
      await join.context().close();

      // Leaving the walk-in queue (the counsellor is at work but busy).
      assert.equal((await pageApi(office, 'PUT', '/api/walkin/presence', { presence: 'busy' })).status, 200);
      const talk = await newPage(lang, 'walkin-left');
      await talk.goto(`${ctx.base}/talk/${SLUG}`);
      await talk.getByTestId('talk-first-name').fill('Kim');
      await talk.getByTestId('talk-submit').click();
      await talk.getByTestId('talk-leave').click();
      await talk.getByTestId('talk-left').waitFor();
      await offered(talk, 'left the walk-in queue');
      await talk.context().close();

      // After signing.
      const request = await pageApi(office, 'POST', '/api/signatures/requests', { template_id: templateId });
      const sign = await newPage(lang, 'signed');
      await sign.goto(request.body.sign_url);
      await fillSignature(sign);
      await sign.getByTestId('sign-submit').click();
      await sign.getByTestId('sign-success').waitFor();
      await offered(sign, 'signed');
      await sign.context().close();
    });
  }

  for (const lang of ['en', 'de']) {
    step(`${lang}: walk-in: a first name alone queues; an unknown wait reads "we do not know yet", never "null"`, async () => {
      assert.equal((await pageApi(office, 'PUT', '/api/walkin/presence', { presence: 'busy' })).status, 200);
      const page = await newPage(lang, 'walkin-unknown');
      await page.goto(`${ctx.base}/talk/${SLUG}`);
      await page.getByTestId('talk-first-name').fill('Kim');
      assert.equal(await page.getByTestId('talk-last-name').getAttribute('required'), null, 'the last name is optional');
      const queued = page.waitForResponse((r) => r.url().endsWith('/api/public/walkin/queue'));
      await page.getByTestId('talk-submit').click();
      const res = await queued;
      assert.equal(res.status(), 201, 'queued with a first name only');
      const { ticket } = await res.json();
      await page.getByTestId('queue-position').waitFor();
      // Nobody who could take the client is at work any more: the wait is unknown.
      assert.equal((await pageApi(office, 'PUT', '/api/walkin/presence', { presence: 'away' })).status, 200);
      const view = await until('the ticket to have no estimate', async () => {
        const v = await (await fetch(`${ctx.base}/api/public/walkin/tickets/${ticket}`)).json();
        return v.estimate_seconds === null ? v : null;
      });
      assert.equal(view.state, 'waiting');
      await page.getByTestId('queue-estimate').filter({ hasText: TEXTS[lang].unknown }).waitFor();
      const text = await page.locator('body').innerText();
      assert.doesNotMatch(text, /\bnull\b|\bundefined\b|\bNaN\b/, 'no placeholder text on the page');
      await checkA11y(page, `${lang} walk-in queue with an unknown wait`);
      await page.getByTestId('talk-leave').click();
      await page.context().close();
    });
  }
});
