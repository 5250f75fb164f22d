// End-to-end test: a counsellor and two clients in real headless Chromium pages, talking through
// the server's own SFU.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/
//
// Environment:
//   CONFIDANT_BIN   server binary (default ../../target/debug/confidant relative to this folder)
//   CHROMIUM_PATH   browser binary (default /usr/bin/chromium)
//   E2E_HEADFUL=1   show the browser windows (needs a display)

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ARTIFACTS, callSnapshot, checkCapturedFrames, openSection, sleep, suite, until } from './harness.mjs';

const EMAIL = 'c@example.test';
const PASSWORD = 'correct horse battery staple 42';
const COUNSELLOR = 'Dr. Test';

const STEP_MS = 60_000; // bound for any single wait
const MEDIA_MS = 60_000; // bound for media to start flowing

// ------------------------------------------------------------------ helpers

/** Instrumentation injected into every page before its scripts run. */
function pageInstrumentation() {
  const OrigPC = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = class extends OrigPC {
    constructor(...args) {
      super(...args);
      window.__pcs.push(this);
    }
  };
  const OrigWS = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends OrigWS {
    constructor(...args) {
      super(...args);
      window.__sockets.push(this);
    }
  };
}

/** The page's end-to-end encryption state: badge, safety code and the worker's counters. */
async function e2eeSnapshot(page) {
  return page.evaluate(async () => {
    const badge = document.querySelector('[data-testid="e2ee-status"]');
    const code = document.querySelector('[data-testid="safety-code"]');
    const c = window.confidant;
    const stats = c && c.e2ee ? await c.e2ee.stats() : null;
    let videoCodecs = [];
    if (c && c.pc) {
      const report = await c.pc.getStats();
      const codecs = new Set();
      report.forEach((r) => {
        if ((r.type === 'inbound-rtp' || r.type === 'outbound-rtp') && r.kind === 'video' && r.codecId) {
          const codec = report.get(r.codecId);
          if (codec) codecs.add(codec.mimeType);
        }
      });
      videoCodecs = [...codecs];
    }
    return {
      state: badge ? badge.dataset.e2ee : null,
      participants: badge ? Number(badge.dataset.participants) : 0,
      label: badge ? badge.querySelector('[data-testid="e2ee-label"]').textContent : null,
      code: code && code.offsetParent !== null ? code.textContent : '',
      stats,
      videoCodecs,
    };
  });
}

/** Waits until every page shows E2EE on for `n` participants with one and the same safety code. */
async function sameSafetyCode(pagesByName, n, notEqualTo = null) {
  let last = {};
  try {
    return await until(`the same safety code for ${n} participants on ${Object.keys(pagesByName).join(', ')}`, async () => {
      for (const [name, page] of Object.entries(pagesByName)) last[name] = await e2eeSnapshot(page);
      const codes = Object.values(last).map((s) => (s.state === 'on' && s.participants === n ? s.code : ''));
      const ok = codes.every((c) => /^\d{5}( \d{5}){5}$/.test(c)) && new Set(codes).size === 1 && codes[0] !== notEqualTo;
      return ok ? codes[0] : null;
    });
  } catch (e) {
    const brief = Object.fromEntries(Object.entries(last).map(([k, v]) => [k, { state: v.state, participants: v.participants, code: v.code }]));
    throw new Error(`${e.message}\nlast: ${JSON.stringify(brief)}`);
  }
}

// ------------------------------------------------------------------ the test

describe('Confidant end to end: instant session with lobby, SFU media and chat', { timeout: 15 * 60_000 }, () => {
  const ctx = suite({
    name: 'call',
    artifact: 'server.log',
    browserArtifact: 'browser-console.log',
    server: (ctx) => {
      ctx.capturePath = path.join(ctx.dir, 'sfu-capture.jsonl');
      return { env: { CONFIDANT_SFU_CAPTURE: ctx.capturePath } };
    },
    counsellors: [{ email: EMAIL, name: COUNSELLOR, password: PASSWORD }],
    steps: { timeout: 5 * 60_000 },
  });
  const { step, pages } = ctx;
  let joinUrl;
  const ids = {}; // name -> participant id
  let codeOfThree = null; // safety code while counsellor, Alice and Bob are in the call

  const newPage = (name) =>
    ctx.newPage(name, { viewport: { width: 1280, height: 800 }, locale: 'en-US', grant: true, init: pageInstrumentation, timeout: STEP_MS });

  step('counsellor logs in and starts an instant session', async () => {
    const host = await newPage('counsellor');
    await host.goto(`${ctx.base}/login`);
    await host.getByTestId('email-input').fill(EMAIL);
    await host.getByTestId('password-input').fill(PASSWORD);
    await host.getByTestId('login-button').click();
    await host.waitForURL(/\/dashboard$/, { timeout: STEP_MS });
    await host.getByTestId('session-title-input').fill('E2E session');
    await host.getByTestId('start-session-button').click();
    await host.waitForURL(/\/s\/[^/?#]+$/, { timeout: STEP_MS });
    const link = host.getByTestId('join-link');
    await link.waitFor({ state: 'visible' });
    joinUrl = await link.inputValue();
    assert.match(joinUrl, /\/j\/[A-Za-z0-9_-]{20,}$/, `join link looks wrong: ${joinUrl}`);
    assert.ok(joinUrl.startsWith(`${ctx.base}/j/`), `join link ${joinUrl} should start with ${ctx.base}/j/`);
    // the counsellor is in the (still empty) room
    await host.waitForFunction(() => window.confidant && window.confidant.state === 'in-call', null, { timeout: STEP_MS });
  });

  step('two clients open the link, see their preview and knock', async () => {
    for (const name of ['Alice', 'Bob']) {
      const page = await newPage(name);
      if (name === 'Bob') {
        // Bob's browser has only the older createEncodedStreams API: the fallback path
        // encrypts and decrypts his media in the same worker (everything below checks it).
        await page.addInitScript(() => {
          delete window.RTCRtpScriptTransform;
        });
      }
      await page.goto(joinUrl);
      await page.getByTestId('name-input').waitFor({ state: 'visible' });
      // the camera preview plays (fake device)
      await page.waitForFunction(
        () => {
          const v = document.querySelector('[data-testid="preview-video"]');
          return v && v.videoWidth > 0 && v.srcObject && v.srcObject.getAudioTracks().length > 0;
        },
        null,
        { timeout: STEP_MS },
      );
      // only a name field: no e-mail, no password
      assert.equal(await page.locator('input[type="password"], input[type="email"]').count(), 0);
      await page.getByTestId('name-input').fill(name);
      if (name === 'Alice') await page.screenshot({ path: path.join(ARTIFACTS, 'join-page.png'), fullPage: true });
      await page.getByTestId('join-button').click();
      await page.getByTestId('lobby-waiting').waitFor({ state: 'visible' });
    }
    await pages.Alice.screenshot({ path: path.join(ARTIFACTS, 'lobby-waiting.png'), fullPage: true });
  });

  step('a third client is turned away from the waiting room', async () => {
    const eve = await newPage('Eve');
    await eve.goto(joinUrl);
    await eve.getByTestId('name-input').fill('Eve');
    await eve.getByTestId('join-button').click();
    await eve.getByTestId('lobby-waiting').waitFor({ state: 'visible' });
    const host = pages.counsellor;
    await host.locator('[data-testid="reject-button"][data-lobby-name="Eve"]').click();
    await eve.getByTestId('rejected').waitFor({ state: 'visible' });
    await host.locator('[data-testid="lobby-entry"][data-lobby-name="Eve"]').waitFor({ state: 'detached' });
    // the preview's camera is released, and the page is closed to save CPU for the call
    assert.equal(await eve.evaluate(() => window.__pcs.length), 0);
    await eve.context().close();
    delete pages.Eve;
  });

  step('the counsellor sees both in the waiting room and admits them', async () => {
    const host = pages.counsellor;
    for (const name of ['Alice', 'Bob']) {
      await host.locator(`[data-testid="lobby-entry"][data-lobby-name="${name}"]`).waitFor({ state: 'visible' });
    }
    for (const name of ['Alice', 'Bob']) {
      await host.locator(`[data-testid="admit-button"][data-lobby-name="${name}"]`).click();
    }
    for (const name of ['Alice', 'Bob']) {
      const page = pages[name];
      await page.waitForFunction(() => window.confidant && window.confidant.state === 'in-call', null, { timeout: STEP_MS });
      ids[name] = await page.evaluate(() => window.confidant.participantId);
      assert.ok(ids[name], `${name} has a participant id`);
    }
    ids.counsellor = await host.evaluate(() => window.confidant.participantId);
    await until('the waiting room to be empty', async () => (await host.getByTestId('lobby-entry').count()) === 0);
    // everyone has a labelled tile for each of the two others
    const names = { counsellor: COUNSELLOR, Alice: 'Alice', Bob: 'Bob' };
    for (const [me, page] of Object.entries(pages)) {
      for (const other of Object.keys(pages)) {
        if (other === me) continue;
        const tile = page.locator(`[data-testid="remote-tile"][data-participant-id="${ids[other]}"]`);
        await tile.waitFor({ state: 'visible' });
        await until(`${me} to label ${other}'s tile`, async () =>
          (await tile.getByTestId('tile-name').textContent()) === names[other],
        );
      }
    }
  });

  step('every page decodes both remote videos and receives both remote audio streams through the SFU', async (t) => {
    for (const [me, page] of Object.entries(pages)) {
      const others = Object.keys(pages).filter((n) => n !== me).map((n) => ids[n]);
      const first = await until(`${me}: stats with both remote participants' tracks`, async () => {
        const s = await callSnapshot(page);
        if (!s) return null;
        const ok = others.every((pid) => s.participants[pid] && s.participants[pid].videoTracks > 0 && s.participants[pid].audioTracks > 0);
        return ok ? s : null;
      }, { timeout: MEDIA_MS });
      let last = first;
      await until(
        `${me}: framesDecoded and audio packets to grow for both remote participants, over the SFU's UDP port ${ctx.udpPort}`,
        async () => {
          last = await callSnapshot(page);
          if (!last || !last.remote) return false;
          return (
            last.remote.port === ctx.udpPort &&
            others.every((pid) => {
              const a = first.participants[pid];
              const b = last.participants[pid];
              return (
                b &&
                b.framesDecoded > a.framesDecoded + 10 &&
                b.audioPackets > a.audioPackets + 20 &&
                b.audioBytes > a.audioBytes &&
                b.videoWidth > 0
              );
            })
          );
        },
        { timeout: MEDIA_MS, interval: 500 },
      ).catch((e) => {
        throw new Error(`${e.message}\nfirst: ${JSON.stringify(first)}\nlast: ${JSON.stringify(last)}`);
      });
      assert.equal(last.pcCount, 1, `${me} has exactly one RTCPeerConnection`);
      assert.equal(last.transports, 1, `${me} uses one bundled transport`);
      assert.equal(last.remote.address, '127.0.0.1', `${me}'s selected remote candidate is the SFU's advertised address`);
      assert.equal(last.remote.port, ctx.udpPort, `${me}'s selected remote candidate is the SFU's UDP port`);
      assert.equal(last.connectionState, 'connected');
      // tiles exist exactly for the two others
      assert.deepEqual(Object.keys(last.participants).sort(), [...others].sort());
      const summary = Object.entries(last.participants)
        .map(([pid, p]) => {
          const a = first.participants[pid];
          return `${p.name}: +${p.framesDecoded - a.framesDecoded} frames (${p.videoWidth}px wide), +${p.audioPackets - a.audioPackets} audio packets`;
        })
        .join('; ');
      t.diagnostic(`${me}: ${summary}; media via ${last.remote.address}:${last.remote.port}/${last.remote.protocol}`);
    }
    await pages.counsellor.screenshot({ path: path.join(ARTIFACTS, 'call-page-counsellor.png'), fullPage: true });
    await pages.Alice.screenshot({ path: path.join(ARTIFACTS, 'call-page-client.png'), fullPage: true });
  });

  step('the SFU names an active speaker from audio levels, the same on every page, with E2EE on', async (t) => {
    let seen = {};
    await until('every page to be told the same active speaker', async () => {
      seen = {};
      for (const [name, page] of Object.entries(pages)) seen[name] = await page.evaluate(() => window.confidant.activeSpeaker || null);
      const values = Object.values(seen);
      return values.every((v) => v && Object.values(ids).includes(v)) && new Set(values).size === 1;
    }).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(seen)}`);
    });
    const speaker = Object.values(seen)[0];
    for (const [name, page] of Object.entries(pages)) {
      const highlighted = await page.locator('.tile.speaking').count();
      assert.equal(highlighted, 1, `${name} highlights exactly one tile`);
    }
    t.diagnostic(`active speaker: ${Object.keys(ids).find((n) => ids[n] === speaker)}`);
  });

  step('media is end-to-end encrypted: every page encrypts, decrypts both others and shows the same safety code', async (t) => {
    codeOfThree = await sameSafetyCode(pages, 3);
    for (const [me, page] of Object.entries(pages)) {
      const others = Object.keys(pages).filter((n) => n !== me);
      const first = await e2eeSnapshot(page);
      assert.equal(first.label, 'Sound and picture end-to-end encrypted');
      assert.ok(first.stats, `${me}: the encryption worker answers`);
      assert.notEqual(first.stats.sendKid, null, `${me} has a sending key`);
      const mode = await page.evaluate(() => window.confidant.call.e2ee && window.confidant.call.e2ee.mode);
      assert.equal(mode, me === 'Bob' ? 'encoded-streams' : 'script-transform', `${me} encrypts through the expected API`);
      assert.deepEqual(first.videoCodecs.filter((c) => c !== 'video/VP8'), [], `${me}: video is VP8`);
      let last = first;
      await until(`${me}: frames encrypted, and frames of both others decrypted`, async () => {
        last = await e2eeSnapshot(page);
        return (
          last.stats.encrypted > first.stats.encrypted + 20 &&
          others.every((o) => {
            const a = first.stats.byParticipant[ids[o]] || { decrypted: 0 };
            const b = last.stats.byParticipant[ids[o]] || { decrypted: 0 };
            return b.decrypted > a.decrypted + 20;
          })
        );
      }).catch((e) => {
        throw new Error(`${e.message}\nfirst: ${JSON.stringify(first.stats)}\nlast: ${JSON.stringify(last.stats)}`);
      });
      // nothing that had a key failed to authenticate
      assert.equal(last.stats.droppedFailed, 0, `${me}: no frame failed to decrypt (${JSON.stringify(last.stats)})`);
      assert.equal(last.stats.droppedMalformed, 0, `${me}: no malformed frame`);
      t.diagnostic(
        `${me}: code ${last.code}; encrypted ${last.stats.encrypted}, decrypted ${last.stats.decrypted}, ` +
          `dropped under unknown KIDs ${last.stats.droppedUnknownKid}, without a sending key ${last.stats.droppedNoSendKey}`,
      );
    }
  });

  step('the SFU forwards only SFrame ciphertext: valid headers, unique nonces, no plaintext', async (t) => {
    const publishers = {};
    for (const [name, id] of Object.entries(ids)) publishers[id] = { name, stats: (await e2eeSnapshot(pages[name])).stats };
    const { counts, frames, samples } = await checkCapturedFrames(ctx.capturePath, publishers);
    const total = { audio: 0, video: 0 };
    for (const c of Object.values(counts)) {
      total.audio += c.audio;
      total.video += c.video;
    }
    assert.ok(total.audio > 50 && total.video > 50, `the SFU forwarded audio and video frames (${JSON.stringify(counts)})`);
    // none of the plaintext the publishers encoded appears in what the SFU saw
    assert.ok(samples >= 30, `plaintext samples from the publishers (${samples})`);
    t.diagnostic(`${frames} forwarded frames checked (${total.audio} audio, ${total.video} video), ${samples} plaintext samples`);
  });

  step("Alice's websocket drops; she resumes as the same participant on the same peer connection", async () => {
    const alice = pages.Alice;
    const before = await alice.evaluate(() => {
      const n = window.__sockets.length;
      window.__sockets[n - 1].close(); // as if the network dropped: no `leave` was sent
      return { sockets: n, participantId: window.confidant.participantId };
    });
    await until('Alice to reconnect and resume', () =>
      alice.evaluate(
        (n) =>
          window.__sockets.length > n &&
          window.__sockets[window.__sockets.length - 1].readyState === WebSocket.OPEN &&
          window.confidant.signaling.state === 'open' &&
          window.confidant.state === 'in-call',
        before.sockets,
      ),
    );
    assert.equal(await alice.evaluate(() => window.confidant.participantId), before.participantId);
    assert.equal(await alice.evaluate(() => window.__pcs.length), 1, 'resume keeps the one peer connection');
    // media keeps flowing to Alice
    const a = await callSnapshot(alice);
    await until('Alice to keep decoding video after the resume', async () => {
      const b = await callSnapshot(alice);
      return Object.keys(a.participants).every((pid) => b.participants[pid].framesDecoded > a.participants[pid].framesDecoded + 5);
    });
    // the others still have her tile
    for (const name of ['Bob', 'counsellor']) {
      assert.equal(await pages[name].locator(`[data-testid="remote-tile"][data-participant-id="${ids.Alice}"]`).count(), 1);
    }
  });

  step('a chat message from Alice reaches Bob and the counsellor (as text, not markup)', async () => {
    const text = 'Hello from Alice <b>not bold</b> & goodbye';
    await pages.Alice.getByTestId('chat-input').fill(text);
    await pages.Alice.getByTestId('chat-send').click();
    for (const name of ['Alice', 'Bob', 'counsellor']) {
      const page = pages[name];
      const msg = page.getByTestId('chat-message').filter({ hasText: 'Hello from Alice' });
      await msg.first().waitFor({ state: 'visible' });
      assert.equal(await msg.count(), 1, `${name} shows the message once`);
      assert.equal(await msg.getByTestId('chat-text').textContent(), text);
      assert.equal(await msg.locator('b').count(), 0, 'chat text is not rendered as HTML');
      assert.equal(await msg.getAttribute('data-participant-id'), ids.Alice);
    }
  });

  step('a participant with wrong keys decodes nothing: its frames fail authentication and are dropped', async () => {
    const bob = pages.Bob;
    await bob.evaluate(() => window.confidant.e2ee.testOnlyUseWrongKeys());
    const others = [ids.Alice, ids.counsellor];
    const failedBefore = (await e2eeSnapshot(bob)).stats.droppedFailed;
    await until('Bob to start failing to decrypt', async () => (await e2eeSnapshot(bob)).stats.droppedFailed > failedBefore + 20);
    const e1 = await e2eeSnapshot(bob);
    // Frames decrypted before the switch may still sit in the video decoder's queue, on a loaded
    // machine for seconds: wait (bounded) for a 3 s window in which Bob decodes no frame of the
    // others. Under a key that decrypted anything there would never be one.
    let a = await callSnapshot(bob);
    let grew = [];
    await until('a 3 s window in which Bob decodes no frame of the others', async () => {
      await sleep(3000);
      const b = await callSnapshot(bob);
      grew = others.filter((pid) => b.participants[pid].framesDecoded !== a.participants[pid].framesDecoded);
      a = b;
      return grew.length === 0;
    }, { timeout: 60_000 }).catch((e) => {
      throw new Error(`${e.message}: Bob decoded frames of ${grew.join(', ')} with a wrong key`);
    });
    const e2 = await e2eeSnapshot(bob);
    // the worker decrypted nothing at all since the switch
    assert.equal(e2.stats.decrypted, e1.stats.decrypted, 'no frame decrypted under a wrong key');
    assert.ok(e2.stats.droppedFailed > e1.stats.droppedFailed, 'frames keep arriving and fail authentication');
    // the others are unaffected
    const alice0 = await callSnapshot(pages.Alice);
    await until('Alice to keep decoding', async () => {
      const alice1 = await callSnapshot(pages.Alice);
      return alice1.participants[ids.counsellor].framesDecoded > alice0.participants[ids.counsellor].framesDecoded + 10;
    });
  });

  step('Bob mutes his microphone and the others see it; then he leaves and his tile disappears', async () => {
    await pages.Bob.getByTestId('mic-toggle').click();
    assert.equal(await pages.Bob.getByTestId('mic-toggle').getAttribute('aria-pressed'), 'true');
    for (const name of ['Alice', 'counsellor']) {
      await pages[name]
        .locator(`[data-testid="remote-tile"][data-participant-id="${ids.Bob}"] [data-testid="badge-mic-muted"]`)
        .waitFor({ state: 'visible' });
    }
    await pages.Bob.getByTestId('leave-button').click();
    await pages.Bob.getByTestId('leave-confirm').click();
    await pages.Bob.getByTestId('left').waitFor({ state: 'visible' });
    for (const name of ['Alice', 'counsellor']) {
      const page = pages[name];
      await page
        .locator(`[data-testid="remote-tile"][data-participant-id="${ids.Bob}"]`)
        .waitFor({ state: 'detached', timeout: STEP_MS });
      assert.equal(await page.getByTestId('remote-tile').count(), 1, `${name} still sees one other participant`);
    }
    const bobClosed = await pages.Bob.evaluate(() => window.confidant.pc.connectionState);
    assert.equal(bobClosed, 'closed');
  });

  step('after Bob left: new keys, Alice and the counsellor keep decoding each other, and a new equal safety code', async (t) => {
    const remaining = { Alice: pages.Alice, counsellor: pages.counsellor };
    const code = await sameSafetyCode(remaining, 2, codeOfThree);
    assert.notEqual(code, codeOfThree, 'the safety code changed when Bob left');
    const pairs = [['Alice', 'counsellor'], ['counsellor', 'Alice']];
    // both made a new sending key after Bob left, and each decrypts the other's new key
    await until('each to decrypt the other under the key made after Bob left', async () => {
      const snap = {};
      for (const [name, page] of Object.entries(remaining)) snap[name] = await e2eeSnapshot(page);
      return pairs.every(([me, other]) => {
        const p = snap[me].stats.byParticipant[ids[other]];
        return p && p.lastKid === snap[other].stats.sendKid && snap[other].stats.sendKid > 0 && !snap[me].stats.keys[ids.Bob];
      });
    });
    for (const [me, other] of pairs) {
      const page = pages[me];
      const a = await callSnapshot(page);
      const e = await e2eeSnapshot(page);
      await until(`${me} to keep decoding ${other}'s video after the key change`, async () => {
        const b = await callSnapshot(page);
        return b.participants[ids[other]] && b.participants[ids[other]].framesDecoded > a.participants[ids[other]].framesDecoded + 10;
      });
      const e2 = await e2eeSnapshot(page);
      assert.equal(e2.stats.droppedFailed, 0, `${me}: no frame failed to decrypt`);
      t.diagnostic(
        `${me}: code ${e2.code}; sending KID ${e2.stats.sendKid}; decrypted +${e2.stats.decrypted - e.stats.decrypted}; ` +
          `keyframes generated ${e2.stats.keyframesGenerated}, requested ${e2.stats.keyframesRequested} (API ${JSON.stringify(e2.stats.keyFrameApi)})`,
      );
    }
  });

  step('a browser without encoded-frame APIs is told it cannot join the encrypted session', async () => {
    const old = await newPage('OldBrowser');
    await old.addInitScript(() => {
      delete window.RTCRtpScriptTransform;
      if (window.RTCRtpSender) delete window.RTCRtpSender.prototype.createEncodedStreams;
      if (window.RTCRtpReceiver) delete window.RTCRtpReceiver.prototype.createEncodedStreams;
    });
    await old.goto(joinUrl);
    const msg = old.getByTestId('e2ee-unsupported');
    await msg.waitFor({ state: 'visible' });
    assert.match(await msg.textContent(), /cannot join/);
    assert.equal(await old.getByTestId('join-button').count(), 0, 'no way to knock');
    assert.equal(await old.evaluate(() => window.__sockets.length), 0, 'no signalling connection');
    await old.screenshot({ path: path.join(ARTIFACTS, 'e2ee-unsupported.png'), fullPage: true });
    await old.context().close();
    delete pages.OldBrowser;
  });

  step('the counsellor ends the session; Alice is told and disconnected; the link stops working', async () => {
    const host = pages.counsellor;
    await host.getByTestId('end-session-button').click();
    await host.getByTestId('end-session-confirm').click();
    const alice = pages.Alice;
    await alice.getByTestId('session-ended').waitFor({ state: 'visible' });
    assert.match(await alice.getByTestId('session-ended').textContent(), /The session has ended/);
    await until('Alice to close her peer connection and websocket', () =>
      alice.evaluate(
        () =>
          window.confidant.pc.connectionState === 'closed' &&
          window.__sockets.length > 0 &&
          window.__sockets.every((ws) => ws.readyState === WebSocket.CLOSED),
      ),
    );
    await host.getByTestId('session-ended').waitFor({ state: 'visible' });
    await alice.screenshot({ path: path.join(ARTIFACTS, 'session-ended.png'), fullPage: true });

    // a new client opening the link gets the invalid-link state
    const carol = await newPage('Carol');
    await carol.goto(joinUrl);
    const invalid = carol.getByTestId('link-invalid');
    const nameInput = carol.getByTestId('name-input');
    await until('the join page to show a form or the invalid state', async () =>
      (await invalid.isVisible()) || (await nameInput.isVisible()),
    );
    if (!(await invalid.isVisible())) {
      await nameInput.fill('Carol');
      await carol.getByTestId('join-button').click();
    }
    await invalid.waitFor({ state: 'visible' });
    assert.equal(await carol.getByTestId('lobby-waiting').count(), 0);
    await carol.screenshot({ path: path.join(ARTIFACTS, 'link-invalid.png'), fullPage: true });
  });

  step('with the counsellor\'s consent a browser without E2EE joins unencrypted, and both sides see it', async () => {
    // the counsellor turns the setting on in the dashboard and starts a new session
    const host = pages.counsellor;
    await host.goto(`${ctx.base}/dashboard#settings`);
    const toggle = host.getByTestId('allow-unencrypted-toggle');
    await until('the settings to load', () => toggle.isEnabled());
    assert.equal(await toggle.isChecked(), false, 'off by default');
    await toggle.check();
    await host.getByTestId('settings-saved').waitFor({ state: 'visible' });
    await openSection(host, 'sessions');
    await host.getByTestId('start-session-button').click();
    await host.waitForURL(/\/s\/[^/?#]+$/, { timeout: STEP_MS });
    const link = host.getByTestId('join-link');
    await link.waitFor({ state: 'visible' });
    const url = await link.inputValue();
    await host.waitForFunction(() => window.confidant && window.confidant.state === 'in-call', null, { timeout: STEP_MS });

    const old = await newPage('OldBrowser2');
    await old.addInitScript(() => {
      delete window.RTCRtpScriptTransform;
      if (window.RTCRtpSender) delete window.RTCRtpSender.prototype.createEncodedStreams;
      if (window.RTCRtpReceiver) delete window.RTCRtpReceiver.prototype.createEncodedStreams;
    });
    await old.goto(url);
    const warning = old.getByTestId('e2ee-unencrypted-warning');
    await warning.waitFor({ state: 'visible' });
    assert.match(await warning.textContent(), /not be end-to-end encrypted/);
    await old.getByTestId('name-input').fill('Dana');
    await old.getByTestId('join-button').click();
    await old.getByTestId('lobby-waiting').waitFor({ state: 'visible' });

    const entry = host.locator('[data-testid="lobby-entry"][data-lobby-name="Dana"]');
    await entry.waitFor({ state: 'visible' });
    assert.equal(await entry.getByTestId('lobby-unencrypted').count(), 1, 'the counsellor sees Dana is not encrypted');
    await entry.getByTestId('admit-button').click();
    await old.waitForFunction(() => window.confidant && window.confidant.state === 'in-call', null, { timeout: STEP_MS });

    // both show "not end-to-end encrypted", no safety code, and both decode each other
    for (const [name, page] of [['counsellor', host], ['Dana', old]]) {
      await until(`${name}: the badge says not end-to-end encrypted`, async () => (await e2eeSnapshot(page)).state === 'off');
      const snap = await e2eeSnapshot(page);
      assert.equal(snap.label, 'Sound and picture not end-to-end encrypted');
      assert.equal(snap.code, '', `${name} shows no safety code`);
    }
    for (const [name, page] of [['counsellor', host], ['Dana', old]]) {
      let a = null;
      await until(`${name}: decodes the other's video`, async () => {
        const snap = await callSnapshot(page);
        const ps = snap ? Object.values(snap.participants) : [];
        if (ps.length !== 1) return false;
        if (!a) {
          a = ps[0].framesDecoded;
          return false;
        }
        return ps[0].framesDecoded > a + 10;
      });
    }
    await old.screenshot({ path: path.join(ARTIFACTS, 'unencrypted-allowed.png'), fullPage: true });
  });
});
