// Signatures end to end, through the real parts: the server binary and headless Chromium for
// the counsellor and the signer.
//
// The counsellor writes a form template in the dashboard and sends it; the signer opens the
// link, fills in the fields, agrees, draws a two-stroke signature with real pointer events
// (Chromium's input pipeline, with real pauses between samples) and submits. Then: the
// dashboard shows the signature verified; the server's dynamics match the timing the page's
// own pointer events carried (and, more loosely, the test's clock); the evidence verifies over
// HTTP and with `confidant signature verify`; a one-byte change to the document fails with
// `document_changed`; the escrow tool decrypts the same time series.
//
// Issue 18: a request sent to a named recipient with a typed name allowed shows whom and
// "sent", then "opened"; a keyboard-only signer chooses the typed name, ticks the declaration
// and signs; the dashboard, the CLI and tools/verify_evidence.py report "typed name with
// declaration" (also on the signer's own copy, downloaded from the receipt); where the owner did
// not allow it the page does not offer it and the API refuses it.
//
//   cargo build -p confidant && cd tests/e2e && CONFIDANT_BIN=/work/main/target/debug/confidant node --test signature.test.mjs

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARTIFACTS, BIN, collect, openSection, sleep, suite, until } from './harness.mjs';

const EMAIL = 'unterschrift@example.test';
const PASSWORD = 'correct horse battery staple 42';
const STEP_MS = 60_000;
const TEMPLATE_TITLE = 'Consent to online counselling';
// Milliseconds between samples the test moves the mouse by, and the pen-up pause it makes.
const SAMPLE_MS = 16;
const PAUSE_MS = 450;

describe('Signatures end to end: template, signing page with a drawn signature, verification', { timeout: 10 * 60_000 }, () => {
  const ctx = suite({
    name: 'signature',
    browserArtifact: 'signature-browser-console.log',
    // Seals are time-stamped by a local time-stamping authority (FORMAT.md §10).
    services: async (ctx) => {
      const tsaDir = path.join(ctx.dir, 'tsa');
      fs.mkdirSync(tsaDir);
      const tsa = ctx.own(spawn('python3', [fileURLToPath(new URL('../../tools/local_tsa.py', import.meta.url)), '--dir', tsaDir, '--lifetime-s', '600'], { stdio: ['ignore', 'pipe', 'pipe'] }));
      collect(tsa.stderr, ctx.logs, '[tsa] ');
      ctx.tsaUrl = await new Promise((resolve, reject) => {
        let out = '';
        tsa.stdout.on('data', (d) => {
          out += d;
          const m = out.match(/listening (\S+)/);
          if (m) resolve(m[1]);
        });
        tsa.on('exit', (code) => reject(new Error(`local TSA exited: ${code}`)));
      });
      ctx.tsaCa = path.join(tsaDir, 'ca.pem');
    },
    server: (ctx) => ({
      extraArgs: ['--signature-tsa-url', ctx.tsaUrl, '--signature-tsa-ca-file', ctx.tsaCa],
      // the server makes its own escrow key pair, on SQLite
      env: { CONFIDANT_SIGNATURE_ESCROW_PUBLIC_KEY_FILE: undefined, DATABASE_URL: undefined },
    }),
    counsellors: [{ email: EMAIL, name: 'Dr. Signature', password: PASSWORD }],
    steps: { timeout: 3 * 60_000 },
  });
  const { step, logs: serverLog, pages } = ctx;
  let signUrl;
  let requestId;
  let truth; // timing of the page's own pointer events
  let documentBytes;
  let evidence;

  const newPage = (name, locale = 'en-US') => ctx.newPage(name, { viewport: { width: 1100, height: 1000 }, locale, timeout: STEP_MS });

  function cli(args) {
    return spawnSync(BIN, [...args, '--data-dir', ctx.dataDir], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, RUST_LOG: 'warn' } });
  }

  step('the server made its keys and warns about the escrow private key, without key material', async () => {
    const priv = path.join(ctx.dataDir, 'escrow-private-key.MOVE-OFF-THIS-SERVER');
    assert.ok(fs.existsSync(priv));
    assert.equal(fs.statSync(priv).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.join(ctx.dataDir, 'signature-sealing.pk8')).mode & 0o777, 0o600);
    const log = serverLog.join('\n');
    assert.match(log, /escrow private key for signature biometrics is still on this server/);
    const secret = fs.readFileSync(priv, 'utf8').trim();
    assert.ok(!log.includes(secret), 'the private key is never logged');
  });

  step('the counsellor writes a template in the dashboard and sends it', async () => {
    const page = await newPage('counsellor');
    await page.goto(`${ctx.base}/login`);
    await page.getByTestId('email-input').fill(EMAIL);
    await page.getByTestId('password-input').fill(PASSWORD);
    await page.getByTestId('login-button').click();
    await page.waitForURL(`${ctx.base}/dashboard`);
    await openSection(page, 'signatures');
    await page.getByTestId('sig-templates-empty').waitFor();
    await page.getByTestId('sig-requests-empty').waitFor();
    // The server generated the escrow pair itself: the dashboard warns that the private half
    // is still on the server.
    await page.getByTestId('sig-escrow-warning').waitFor();

    await page.locator('.signature-new-template summary').click();
    await page.getByTestId('sig-template-title').fill(TEMPLATE_TITLE);
    await page.getByTestId('sig-template-body').fill('I agree to **online counselling** with this centre.\n\n- Sessions are end-to-end encrypted.\n- I can withdraw at any time.\n');
    await page.getByTestId('sig-field-add').click();
    await page.getByTestId('sig-field-add').click();
    const rows = page.getByTestId('sig-field-row');
    await rows.nth(0).getByTestId('sig-field-name').fill('client_name');
    await rows.nth(0).getByTestId('sig-field-label').fill('Full name of the client');
    await rows.nth(0).getByTestId('sig-field-required').check();
    await rows.nth(1).getByTestId('sig-field-name').fill('recording_ok');
    await rows.nth(1).getByTestId('sig-field-label').fill('Notes may be kept');
    await rows.nth(1).getByTestId('sig-field-type').selectOption('checkbox');
    await page.getByTestId('sig-template-save').click();
    await page.getByTestId('sig-template-saved').waitFor();
    await page.getByTestId('sig-template').filter({ hasText: TEMPLATE_TITLE }).getByTestId('sig-send').click();
    signUrl = await page.getByTestId('sig-link').inputValue();
    assert.match(signUrl, new RegExp(`^${ctx.base}/sign/[A-Za-z0-9_-]{43}$`));
    const item = page.getByTestId('sig-request').first();
    await item.waitFor();
    assert.equal(await item.getAttribute('data-status'), 'pending');
    requestId = await item.getAttribute('data-request-id');
  });

  step('the signer reads the document, fills it in, agrees and draws a signature', async () => {
    const page = await newPage('signer', 'de-DE');
    await page.goto(signUrl);
    const doc = page.getByTestId('sign-document');
    await doc.waitFor();
    assert.equal(await doc.locator('h1').textContent(), TEMPLATE_TITLE);
    assert.equal(await doc.locator('strong').textContent(), 'online counselling');
    assert.equal(await doc.locator('li').count(), 2);

    // Submitting without anything names every missing part; nothing is sent.
    await page.getByTestId('sign-submit').click();
    await page.locator('[data-error-for="signer_name"]').filter({ hasText: /\S/ }).waitFor();
    await page.locator('[data-error-for="signature"]').filter({ hasText: /\S/ }).waitFor();

    await page.getByTestId('sign-field-client_name').fill('Ana Beispiel');
    await page.getByTestId('sign-field-recording_ok').check();
    await page.getByTestId('signer-name').fill('Ana Beispiel');
    assert.equal(await page.locator('[data-error-for="signer_name"]').textContent(), '', 'typing clears the error');
    assert.equal(await page.getByTestId('signer-name').getAttribute('aria-invalid'), null);
    // The pad takes nothing before consent.
    const pad = page.getByTestId('signature-pad');
    await pad.scrollIntoViewIfNeeded();
    const box = await pad.boundingBox();
    await page.mouse.move(box.x + 30, box.y + 100);
    await page.mouse.down();
    await page.mouse.move(box.x + 80, box.y + 120);
    await page.mouse.up();
    assert.equal(await page.evaluate(() => document.querySelector('[data-testid=signature-pad]').classList.contains('signature-canvas-locked')), true);
    await page.getByTestId('sign-consent').check();

    // The page's own record of what the pointer events carried (the ground truth for timing).
    await page.evaluate(() => {
      const rec = { downs: [], ups: [], moves: [] };
      window.__pointerTruth = rec;
      const pad = document.querySelector('[data-testid=signature-pad]');
      pad.addEventListener('pointerdown', (e) => rec.downs.push(e.timeStamp));
      pad.addEventListener('pointermove', (e) => {
        if (e.buttons) for (const c of e.getCoalescedEvents ? e.getCoalescedEvents() : [e]) rec.moves.push(c.timeStamp);
      });
      pad.addEventListener('pointerup', (e) => rec.ups.push(e.timeStamp));
    });

    // Stroke 1: a wave, 25 samples SAMPLE_MS apart. Pen up for PAUSE_MS. Stroke 2: a line.
    await page.mouse.move(box.x + 40, box.y + 110);
    await page.mouse.down();
    for (let i = 1; i <= 25; i++) {
      await sleep(SAMPLE_MS);
      await page.mouse.move(box.x + 40 + i * 12, box.y + 110 - 30 * Math.sin(i / 3));
    }
    await page.mouse.up();
    await sleep(PAUSE_MS);
    await page.mouse.move(box.x + 120, box.y + 150);
    await page.mouse.down();
    for (let i = 1; i <= 15; i++) {
      await sleep(SAMPLE_MS);
      await page.mouse.move(box.x + 120 + i * 15, box.y + 150 - i * 2);
    }
    await page.mouse.up();

    truth = await page.evaluate(() => window.__pointerTruth);
    await page.screenshot({ path: path.join(ARTIFACTS, 'signature-signer.png'), fullPage: true });
    assert.equal(truth.downs.length, 2, JSON.stringify(truth));
    assert.equal(truth.ups.length, 2);
    await page.getByTestId('sign-submit').click();
    const done = page.getByTestId('sign-success');
    await done.waitFor();
    assert.match(await done.getAttribute('data-bundle-sha256'), /^[0-9a-f]{64}$/);
    // The signer is pointed at the centre's published sealing keys, which the page can fetch.
    const href = await page.getByTestId('sign-keys-link').getAttribute('href');
    assert.equal(href, '/.well-known/confidant-signature-keys.json');
    const keys = await (await page.request.get(`${ctx.base}${href}`)).json();
    assert.equal(keys.format, 'confidant-signature-keys/1');
    assert.equal(keys.keys.length, 1);
    assert.equal(keys.keys[0].algorithm, 'Ed25519');
  });

  step('the dashboard shows the signature, verified, with dynamics matching the drawn timing', async () => {
    const page = pages.counsellor;
    await page.getByTestId('sig-refresh').click();
    const item = page.locator(`[data-testid=sig-request][data-request-id="${requestId}"][data-status=signed]`);
    await item.waitFor();
    const verification = item.getByTestId('sig-verification');
    assert.equal(await verification.getAttribute('data-valid'), 'true');
    // The seal was time-stamped in the background; the dashboard says so once it is.
    await until('the seal to be time-stamped', async () => {
      await page.getByTestId('sig-refresh').click();
      const ts = page.locator(`[data-testid=sig-request][data-request-id="${requestId}"] [data-testid=sig-timestamp]`);
      return (await ts.count()) > 0 && (await ts.getAttribute('data-state')) === 'stamped';
    });
    await item.getByTestId('sig-image').waitFor();
    assert.ok(await item.getByTestId('sig-image').evaluate((img) => img.complete && img.naturalWidth > 0), 'the SVG loads');
    await item.screenshot({ path: path.join(ARTIFACTS, 'signature-dashboard.png') });

    const res = await page.request.get(`${ctx.base}/api/signatures/requests/${requestId}`);
    assert.equal(res.status(), 200);
    const r = await res.json();
    assert.equal(r.signer_name, 'Ana Beispiel');
    assert.deepEqual(r.form_data, { client_name: 'Ana Beispiel', recording_ok: 'true' });
    const d = r.dynamics;
    assert.equal(d.stroke_count, 2);
    // The page recorded first/last samples of each stroke from the same events the pad saw.
    const moves = truth.moves;
    const firstT = truth.downs[0];
    const stroke1 = moves.filter((t) => t < truth.ups[0]);
    const stroke2 = moves.filter((t) => t > truth.downs[1]);
    const lastT = stroke2[stroke2.length - 1];
    const pause = truth.downs[1] - stroke1[stroke1.length - 1];
    const near = (a, b, tol, what) => assert.ok(Math.abs(a - b) <= tol, `${what}: server ${a} vs expected ${b} (±${tol})`);
    near(d.total_time_ms, lastT - firstT, 1, 'total time vs the pointer events');
    near(d.pause_time_ms, pause, 1, 'pen-up pause vs the pointer events');
    near(d.pauses[0].duration_ms, pause, 1, 'the one pause');
    // And against what the test did: the pen was up for at least PAUSE_MS and the drawing took
    // at least its samples' sleeps. Only lower bounds: a loaded machine delays events, so an
    // upper bound would test the machine, not the code.
    assert.ok(d.pause_time_ms >= PAUSE_MS - 5, `pause ${d.pause_time_ms} ms shorter than the ${PAUSE_MS} ms the pen was up`);
    assert.ok(d.total_time_ms >= PAUSE_MS + 40 * SAMPLE_MS - 5, `total ${d.total_time_ms} ms shorter than the drawing took`);
    assert.ok(d.pause_time_ms >= PAUSE_MS - 5, `pause ${d.pause_time_ms} covers the ${PAUSE_MS} ms sleep`);
    assert.equal(d.point_count, stroke1.length + stroke2.length + 2, 'every coalesced sample, plus the pen-down samples');
  });

  step('the evidence verifies over HTTP; a one-byte change to the document does not', async () => {
    const page = pages.counsellor;
    const docRes = await page.request.get(`${ctx.base}/api/signatures/requests/${requestId}/document`);
    documentBytes = Buffer.from(await docRes.body());
    // The file's exact text: parsing and re-serialising it in JavaScript would re-spell its
    // floats (400.0 as 400), which a strict verifier refuses (signature/FORMAT.md §6.1).
    evidence = await (await page.request.get(`${ctx.base}/api/signatures/requests/${requestId}/evidence`)).text();
    const verify = async (bytes, ev) => {
      const res = await page.request.post(`${ctx.base}/api/signatures/verify`, { data: { document_base64: bytes.toString('base64'), evidence: ev } });
      assert.equal(res.status(), 200);
      return res.json();
    };
    const ok = await verify(documentBytes, evidence);
    assert.equal(ok.valid, true, JSON.stringify(ok));
    assert.equal(ok.signer_name, 'Ana Beispiel');
    const changed = Buffer.from(documentBytes);
    const at = changed.indexOf('online counselling');
    changed[at] = 'O'.charCodeAt(0);
    const bad = await verify(changed, evidence);
    assert.equal(bad.valid, false);
    assert.equal(bad.reason, 'document_changed');
    const recording = /"recording_ok":\s*"true"/;
    assert.match(evidence, recording, 'the form value as written in the file');
    const tampered = evidence.replace(recording, '"recording_ok": "false"');
    assert.equal((await verify(documentBytes, tampered)).reason, 'form_data_changed');
  });

  step('the command line verifies the files, and the escrow tool opens the same time series', async () => {
    const docPath = path.join(ctx.dataDir, 'document.html');
    const evPath = path.join(ctx.dataDir, 'evidence.json');
    const changedPath = path.join(ctx.dataDir, 'changed.html');
    fs.writeFileSync(docPath, documentBytes);
    fs.writeFileSync(evPath, evidence);
    const changed = Buffer.from(documentBytes);
    changed[changed.length - 3] ^= 0x01;
    fs.writeFileSync(changedPath, changed);

    let out = cli(['signature', 'verify', docPath, evPath]);
    assert.equal(out.status, 0, out.stderr + out.stdout);
    assert.equal(JSON.parse(out.stdout).valid, true);
    out = cli(['signature', 'verify', changedPath, evPath]);
    assert.equal(out.status, 1, out.stderr + out.stdout);
    assert.equal(JSON.parse(out.stdout).reason, 'document_changed');

    out = cli(['signature', 'escrow-open', '--key', path.join(ctx.dataDir, 'escrow-private-key.MOVE-OFF-THIS-SERVER'), evPath]);
    assert.equal(out.status, 0, out.stderr);
    const opened = JSON.parse(out.stdout);
    const strokes = opened.time_series.strokes;
    assert.equal(strokes.length, 2);
    assert.ok(strokes.every((s) => s.pointer_type === 'mouse'));
    const last = strokes[1].points[strokes[1].points.length - 1].t;
    const firstT = truth.downs[0];
    const stroke2 = truth.moves.filter((t) => t > truth.downs[1]);
    assert.ok(Math.abs(last - (stroke2[stroke2.length - 1] - firstT)) <= 0.01, `time series ends at ${last}`);
    assert.ok(Math.abs(opened.dynamics.pause_time_ms - (truth.downs[1] - truth.moves.filter((t) => t < truth.ups[0]).pop())) <= 0.01);
  });

  // ---------------------------------------------------------------- typed name (issue 18)
  let typedUrl;
  let typedId;

  step('the counsellor sends a form allowing a typed name, to a named recipient; the list shows whom and "sent"', async () => {
    const page = pages.counsellor;
    await page.getByTestId('sig-recipient-name').fill('Bo Tastatur');
    await page.getByTestId('sig-recipient-email').fill('bo@example.test');
    await page.getByTestId('sig-allow-typed').check();
    await page.getByTestId('sig-template').filter({ hasText: TEMPLATE_TITLE }).getByTestId('sig-send').click();
    await until('the new link', async () => (await page.getByTestId('sig-link').inputValue()) !== signUrl);
    typedUrl = await page.getByTestId('sig-link').inputValue();
    const item = page.locator('[data-testid=sig-request][data-status=pending]').first();
    await item.waitFor();
    typedId = await item.getAttribute('data-request-id');
    assert.equal(await item.getAttribute('data-state'), 'sent');
    assert.equal(await item.getByTestId('sig-recipient').textContent(), 'To: Bo Tastatur <bo@example.test>');
    assert.equal(await item.getByTestId('sig-state').getAttribute('data-state'), 'sent');
    // The options are reset for the next one: a typed name is never allowed by accident.
    assert.equal(await page.getByTestId('sig-allow-typed').isChecked(), false);
    // Names and addresses are personal data: never in the server's log.
    assert.ok(!serverLog.join('\n').includes('bo@example.test'), 'the recipient address is not logged');
    assert.ok(!serverLog.join('\n').includes('Bo Tastatur'), 'the recipient name is not logged');
  });

  step('a keyboard-only signer chooses the typed name, ticks the declaration and signs', async () => {
    const page = await newPage('typed-signer');
    await page.goto(typedUrl);
    await page.getByTestId('sign-method').waitFor();
    // The counsellor sees the link opened.
    const office = pages.counsellor;
    await office.getByTestId('sig-refresh').click();
    await office.locator(`[data-testid=sig-request][data-request-id="${typedId}"][data-state=opened]`).waitFor();
    // The pad has an accessible name and instructions that point to the alternative.
    const pad = page.getByTestId('signature-pad');
    assert.equal(await pad.getAttribute('aria-label'), 'Sign here');
    const described = await pad.evaluate((el) => el.getAttribute('aria-describedby').split(' ').map((id) => document.getElementById(id).textContent).join(' '));
    assert.match(described, /Type my name instead/);
    // Keyboard only, from the top of the form: Tab to each control, Space/arrows/Enter.
    await page.getByTestId('sign-field-client_name').focus();
    await page.keyboard.type('Bo Tastatur');
    const tabTo = async (testid) => {
      for (let i = 0; i < 12; i++) {
        if ((await page.evaluate(() => document.activeElement?.dataset.testid)) === testid) return;
        await page.keyboard.press('Tab');
      }
      assert.fail(`Tab never reached ${testid}`);
    };
    await tabTo('sign-field-recording_ok');
    await page.keyboard.press('Space');
    await tabTo('signer-name');
    await page.keyboard.type('Bo Tastatur');
    await tabTo('sign-consent');
    await page.keyboard.press('Space');
    await tabTo('sign-method-pad');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.getByTestId('sign-method-typed').isChecked(), true);
    assert.equal(await page.getByTestId('sign-pad-field').isHidden(), true, 'the pad is put away');
    await tabTo('typed-name');
    await page.keyboard.type('Bo Tastatur');
    // Submitting without the declaration names it.
    await page.keyboard.press('Enter');
    await page.locator('[data-error-for="typed_name.declaration_accepted"]').filter({ hasText: /\S/ }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'typed-declaration', 'focus goes to what is missing');
    assert.equal(await page.getByTestId('typed-declaration-text').textContent(), 'I declare that typing my name here is my signature on this document.');
    await page.keyboard.press('Space');
    await tabTo('sign-submit');
    await page.keyboard.press('Enter');
    const done = page.getByTestId('sign-success');
    await done.waitFor();
    assert.equal(await page.getByTestId('sign-done-method').getAttribute('data-method'), 'typed_name');
    await page.screenshot({ path: path.join(ARTIFACTS, 'signature-typed-done.png'), fullPage: true });

    // The signer's own copy, from the links on the receipt (no account), verifies with the CLI.
    const docHref = await page.getByTestId('sign-copy-document').getAttribute('href');
    const evHref = await page.getByTestId('sign-copy-evidence').getAttribute('href');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('sign-copy-evidence').click()]);
    const copyEv = path.join(ctx.dataDir, 'signer-copy-evidence.json');
    await download.saveAs(copyEv);
    const copyDoc = path.join(ctx.dataDir, 'signer-copy-document.html');
    const res = await page.request.get(`${ctx.base}${docHref}`);
    assert.equal(res.status(), 200);
    fs.writeFileSync(copyDoc, await res.body());
    const out = cli(['signature', 'verify', copyDoc, copyEv]);
    assert.equal(out.status, 0, out.stderr + out.stdout);
    assert.equal(JSON.parse(out.stdout).method, 'typed_name');
    // And with the independent verifier (tools/verify_evidence.py, written from FORMAT.md).
    const py = spawnSync('python3', [fileURLToPath(new URL('../../tools/verify_evidence.py', import.meta.url)), copyDoc, copyEv, '--public-key', path.join(ctx.dataDir, 'signature-sealing-public.key')], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(py.status, 0, py.stderr + py.stdout);
    assert.equal(JSON.parse(py.stdout).method_summary, 'typed name with declaration');
    assert.match(evHref, /^\/api\/sign\/copy\/[A-Za-z0-9_-]+\/evidence$/);
  });

  step('the dashboard shows the typed name as such, and the CLI verifies it as "typed name with declaration"', async () => {
    const page = pages.counsellor;
    await page.getByTestId('sig-refresh').click();
    const item = page.locator(`[data-testid=sig-request][data-request-id="${typedId}"][data-status=signed]`);
    await item.waitFor();
    assert.equal(await item.getByTestId('sig-verification').getAttribute('data-valid'), 'true');
    assert.equal(await item.getByTestId('sig-method').getAttribute('data-method'), 'typed_name');
    assert.equal(await item.getByTestId('sig-image').count(), 0, 'no drawing is shown for a typed name');
    const ev = await (await page.request.get(`${ctx.base}/api/signatures/requests/${typedId}/evidence`)).text();
    const doc = Buffer.from(await (await page.request.get(`${ctx.base}/api/signatures/requests/${typedId}/document`)).body());
    const evPath = path.join(ctx.dataDir, 'typed-evidence.json');
    const docPath = path.join(ctx.dataDir, 'typed-document.html');
    fs.writeFileSync(evPath, ev);
    fs.writeFileSync(docPath, doc);
    const out = cli(['signature', 'verify', docPath, evPath]);
    assert.equal(out.status, 0, out.stderr + out.stdout);
    const verdict = JSON.parse(out.stdout);
    assert.equal(verdict.method, 'typed_name');
    assert.equal(verdict.method_summary, 'typed name with declaration');
    const bundle = JSON.parse(ev).sealed.bundle;
    assert.equal(bundle.typed_name.text, 'Bo Tastatur');
    assert.equal(bundle.typed_name.declaration_language, 'en');
    assert.equal(bundle.biometric_envelope, undefined);
    // And the handwritten one still says what it is.
    const hw = JSON.parse(cli(['signature', 'verify', path.join(ctx.dataDir, 'document.html'), path.join(ctx.dataDir, 'evidence.json')]).stdout);
    assert.equal(hw.method_summary, 'handwritten with 2 strokes');
  });

  step('where the owner did not allow it, the alternative is not offered and the API refuses it', async () => {
    const page = pages.counsellor;
    const res = await page.request.post(`${ctx.base}/api/signatures/requests`, { data: { template_id: (await (await page.request.get(`${ctx.base}/api/signatures/templates`)).json())[0].id } });
    assert.equal(res.status(), 201);
    const url = (await res.json()).sign_url;
    const signer = await newPage('strict-signer');
    await signer.goto(url);
    await signer.getByTestId('signature-pad').waitFor();
    assert.equal(await signer.getByTestId('sign-method').count(), 0);
    assert.equal(await signer.getByTestId('typed-name').count(), 0);
    const api = url.replace('/sign/', '/api/sign/');
    const refused = await signer.request.post(api, {
      data: { signer_name: 'Eve', consent: true, fields: { client_name: 'Eve', recording_ok: true }, method: 'typed_name', typed_name: { text: 'Eve', declaration_accepted: true, declaration_language: 'en' } },
    });
    assert.equal(refused.status(), 422);
    const body = await refused.json();
    assert.deepEqual(body.error.fields.map((f) => [f.field, f.code]), [['method', 'typed_name_not_allowed']]);
  });
});
