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
});
