// Calls across browsers: Debian's Firefox ESR (driven over WebDriver BiDi) and Chromium (over
// CDP), both through puppeteer-core, talking through the server's own SFU. Once with a Chromium
// counsellor and a Firefox client, once the other way round: lobby and admission, video decoded
// both ways, SFrame end-to-end encryption with the same safety code on both screens (and the SFU
// sees only ciphertext), chat both ways, and the end of the session.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/firefox-call.test.mjs
//
// Environment: CONFIDANT_BIN, CHROMIUM_PATH, FIREFOX_PATH (default /usr/bin/firefox-esr),
// E2E_HEADFUL=1. The server must be built with `--features test-capture`.

import { describe, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import {
  ARTIFACTS,
  browserPage,
  callSnapshot,
  checkCapturedFrames,
  sleep,
  startInstantSession,
  suite,
  tid,
  until,
} from './harness.mjs';

const EMAIL = 'fox@example.test';
const PASSWORD = 'correct horse battery staple 42';
const COUNSELLOR = 'Dr. Fox';
const CLIENT = 'Robin';

/** How each browser names itself, so a mix-up of the two cannot pass unnoticed. */
const USER_AGENT = { chromium: /Chrome\/\d+/, firefox: /Firefox\/\d+/ };

/** Bound for media to start flowing or a counter to grow (a loaded 2-core machine). */
const MEDIA_MS = 120_000;

/** Frames of each kind and browser the SFU's capture must hold before it says anything. */
const CAPTURED_MIN = 50;

describe('Calls between Firefox and Chromium through the SFU, end-to-end encrypted', { timeout: 20 * 60_000 }, () => {
  const outer = suite({ name: 'firefox-call', artifact: 'firefox-call-test.log', server: false, browser: ['chromium', 'firefox'] });
  const { logs, browsers } = outer;
  before(async () => logs.push(`browsers: ${await browsers.chromium.version()}, ${await browsers.firefox.version()}`));

  for (const [hostKind, clientKind] of [
    ['chromium', 'firefox'],
    ['firefox', 'chromium'],
  ]) {
    describe(`a ${hostKind} counsellor with a ${clientKind} client`, () => {
      const label = `${hostKind}-host`;
      let joinUrl;
      const ids = {}; // 'host' | 'client' -> participant id
      const ctx = suite({
        name: label,
        logs,
        artifact: null,
        server: (ctx) => {
          ctx.capturePath = path.join(ctx.dir, 'sfu-capture.jsonl');
          return { env: { CONFIDANT_SFU_CAPTURE: ctx.capturePath } };
        },
        counsellors: [{ email: EMAIL, name: COUNSELLOR, password: PASSWORD }],
        browser: null,
        steps: true,
        // the browsers serve both scenarios: only this one's pages are closed
        teardown: async (ctx) => {
          for (const page of Object.values(ctx.pages)) await Promise.race([page.browserContext().close().catch(() => {}), sleep(10_000)]);
        },
      });
      const { step, pages } = ctx; // 'host' | 'client' -> page

      step(`the ${hostKind} counsellor logs in and starts an instant session`, async () => {
        pages.host = await browserPage(browsers[hostKind], ctx.base, { logs, name: `${label}/host`, timeout: MEDIA_MS });
        assert.match(await pages.host.evaluate(() => navigator.userAgent), USER_AGENT[hostKind]);
        joinUrl = await startInstantSession(pages.host, ctx.base, { email: EMAIL, password: PASSWORD });
        assert.ok(joinUrl.startsWith(`${ctx.base}/j/`), `join link ${joinUrl} should start with ${ctx.base}/j/`);
      });

      step(`the ${clientKind} client opens the link, sees its camera preview and knocks`, async () => {
        const client = await browserPage(browsers[clientKind], ctx.base, { logs, name: `${label}/client`, timeout: MEDIA_MS });
        pages.client = client;
        assert.match(await client.evaluate(() => navigator.userAgent), USER_AGENT[clientKind]);
        await client.goto(joinUrl);
        await client.waitForSelector(tid('name-input'), { visible: true });
        // the fake camera plays in the preview, with a microphone track beside it
        await client.waitForFunction(() => {
          const v = document.querySelector('[data-testid="preview-video"]');
          return v && v.videoWidth > 0 && v.srcObject && v.srcObject.getAudioTracks().length > 0;
        });
        await client.locator(tid('name-input')).fill(CLIENT);
        await client.locator(tid('join-button')).click();
        await client.waitForSelector(tid('lobby-waiting'), { visible: true });
      });

      step('the counsellor sees the client in the waiting room and admits them; each labels the other', async () => {
        const { host, client } = pages;
        await host.waitForSelector(tid('lobby-entry', `[data-lobby-name="${CLIENT}"]`), { visible: true });
        await host.locator(tid('admit-button', `[data-lobby-name="${CLIENT}"]`)).click();
        await client.waitForFunction(() => window.confidant && window.confidant.state === 'in-call');
        ids.client = await client.evaluate(() => window.confidant.participantId);
        ids.host = await host.evaluate(() => window.confidant.participantId);
        assert.ok(ids.client && ids.host && ids.client !== ids.host, `participant ids ${JSON.stringify(ids)}`);
        await host.waitForSelector(tid('lobby-entry'), { hidden: true });
        const names = { host: COUNSELLOR, client: CLIENT };
        for (const [me, other] of [['host', 'client'], ['client', 'host']]) {
          const tile = tid('remote-tile', `[data-participant-id="${ids[other]}"]`);
          await pages[me].waitForSelector(tile, { visible: true });
          await until(`the ${me} to label the ${other}'s tile`, () =>
            pages[me].$eval(`${tile} ${tid('tile-name')}`, (el) => el.textContent).then((n) => n === names[other]),
          );
        }
      });

      step('each decodes the other\'s video and receives its audio, through the SFU', async (t) => {
        for (const [me, other] of [['host', 'client'], ['client', 'host']]) {
          const page = pages[me];
          const first = await until(`the ${me}: stats with the ${other}'s tracks`, async () => {
            const s = await callSnapshot(page);
            return s && s.participants[ids[other]] ? s : null;
          }, { timeout: MEDIA_MS });
          let last = first;
          await until(`the ${me}: decoded video and audio packets of the ${other} to grow, over the SFU's UDP port ${ctx.udpPort}`, async () => {
            last = await callSnapshot(page);
            const a = first.participants[ids[other]];
            const b = last.participants[ids[other]];
            return (
              last.remote &&
              last.remote.port === ctx.udpPort &&
              b.framesDecoded > a.framesDecoded + 10 &&
              b.audioPackets > a.audioPackets + 20 &&
              b.videoWidth > 0
            );
          }, { timeout: MEDIA_MS, interval: 500 }).catch((e) => {
            throw new Error(`${e.message}\nfirst: ${JSON.stringify(first)}\nlast: ${JSON.stringify(last)}`);
          });
          assert.equal(last.connectionState, 'connected');
          assert.equal(last.remote.address, '127.0.0.1', `the ${me}'s media goes to the SFU's advertised address`);
          assert.deepEqual(Object.keys(last.participants), [ids[other]], `the ${me} has a tile for the ${other} only`);
          const p = last.participants[ids[other]];
          t.diagnostic(`${me} (${me === 'host' ? hostKind : clientKind}): ${p.framesDecoded} frames of ${p.name} decoded, ${p.videoWidth}px wide, ${p.audioPackets} audio packets, via ${last.remote.address}:${last.remote.port}/${last.remote.protocol}`);
        }
        await pages.host.screenshot({ path: path.join(ARTIFACTS, `${label}-call-host.png`) });
        await pages.client.screenshot({ path: path.join(ARTIFACTS, `${label}-call-client.png`) });
      });

      step('media is end-to-end encrypted: both encrypt, decrypt the other, and show the same safety code', async (t) => {
        let snaps = {};
        await until('the same safety code for two participants on both screens', async () => {
          for (const who of ['host', 'client']) snaps[who] = await callSnapshot(pages[who]);
          const codes = Object.values(snaps).map((s) => (s.e2ee.state === 'on' && s.e2ee.participants === 2 ? s.e2ee.code : ''));
          return codes.every((c) => /^\d{5}( \d{5}){5}$/.test(c)) && codes[0] === codes[1];
        }, { timeout: MEDIA_MS }).catch((e) => {
          const brief = Object.fromEntries(Object.entries(snaps).map(([k, v]) => [k, v && { ...v.e2ee, stats: undefined }]));
          throw new Error(`${e.message}\nlast: ${JSON.stringify(brief)}`);
        });
        for (const [me, other] of [['host', 'client'], ['client', 'host']]) {
          const first = snaps[me];
          assert.equal(first.e2ee.mode, 'script-transform', `the ${me} encrypts in an RTCRtpScriptTransform worker`);
          assert.deepEqual(first.videoCodecs.filter((c) => c !== 'video/VP8'), [], `the ${me}'s video is VP8 only`);
          let last = first;
          await until(`the ${me}: frames encrypted, and frames of the ${other} decrypted`, async () => {
            last = await callSnapshot(pages[me]);
            const a = first.e2ee.stats.byParticipant[ids[other]] || { decrypted: 0 };
            const b = last.e2ee.stats.byParticipant[ids[other]] || { decrypted: 0 };
            return last.e2ee.stats.encrypted > first.e2ee.stats.encrypted + 20 && b.decrypted > a.decrypted + 20;
          }, { timeout: MEDIA_MS }).catch((e) => {
            throw new Error(`${e.message}\nfirst: ${JSON.stringify(first.e2ee.stats)}\nlast: ${JSON.stringify(last.e2ee.stats)}`);
          });
          assert.equal(last.e2ee.stats.droppedFailed, 0, `the ${me}: no frame failed to decrypt`);
          assert.equal(last.e2ee.stats.droppedMalformed, 0, `the ${me}: no malformed frame`);
          t.diagnostic(`${me}: code ${last.e2ee.code}; encrypted ${last.e2ee.stats.encrypted}, decrypted ${last.e2ee.stats.decrypted}`);
        }
      });

      step('the SFU forwards only SFrame ciphertext from both browsers', async (t) => {
        // Every capture read is checked in full; it is read again (bounded) only while a browser
        // has not yet sent enough frames to judge, which under load can take a while.
        const enough = (c) => c && c.audio > CAPTURED_MIN && c.video > CAPTURED_MIN;
        let checked;
        let violation = null;
        await until(`more than ${CAPTURED_MIN} audio and video frames of each browser in the SFU's capture`, async () => {
          const publishers = {};
          for (const who of ['host', 'client']) {
            const snap = await callSnapshot(pages[who]);
            publishers[ids[who]] = { name: `${who} (${who === 'host' ? hostKind : clientKind})`, stats: snap.e2ee.stats };
          }
          try {
            checked = await checkCapturedFrames(ctx.capturePath, publishers);
          } catch (e) {
            violation = e;
            return true;
          }
          return Object.values(publishers).every(({ name }) => enough(checked.counts[name])) && checked.samples >= 20;
        }, { timeout: MEDIA_MS, interval: 1000 }).catch((e) => {
          throw new Error(`${e.message}\nlast: ${JSON.stringify(checked)}`);
        });
        if (violation) throw violation;
        const { counts, frames, samples } = checked;
        t.diagnostic(`${frames} frames checked: ${JSON.stringify(counts)}; ${samples} plaintext samples absent`);
      });

      step('chat crosses the browsers both ways, as text', async () => {
        const messages = [
          ['client', `Hello from ${clientKind} <b>not bold</b> & more`],
          ['host', `Hello back from ${hostKind} <i>plain</i>`],
        ];
        for (const [from, text] of messages) {
          await pages[from].locator(tid('chat-input')).fill(text);
          await pages[from].locator(tid('chat-send')).click();
          for (const who of ['host', 'client']) {
            const shown = await until(`the ${who} to show the ${from}'s message`, () =>
              pages[who].$$eval(
                tid('chat-message'),
                (els, want) =>
                  els
                    .map((el) => ({ pid: el.dataset.participantId, text: el.querySelector('[data-testid="chat-text"]').textContent, markup: el.querySelectorAll('b, i').length }))
                    .filter((m) => m.text === want),
                text,
              ).then((found) => (found.length ? found : null)),
            );
            assert.equal(shown.length, 1, `the ${who} shows the message once`);
            assert.equal(shown[0].pid, ids[from], 'the message is labelled with its sender');
            assert.equal(shown[0].markup, 0, 'chat text is not rendered as HTML');
          }
        }
      });

      step('the counsellor ends the session; the client is told and disconnected', async () => {
        const { host, client } = pages;
        await host.locator(tid('end-session-button')).click();
        await host.locator(tid('end-session-confirm')).click();
        await client.waitForSelector(tid('session-ended'), { visible: true });
        assert.match(await client.$eval(tid('session-ended'), (el) => el.textContent), /The session has ended/);
        await until('the client to close its peer connection', () => client.evaluate(() => window.confidant.pc.connectionState === 'closed'));
        await host.waitForSelector(tid('session-ended'), { visible: true });
      });
    });
  }
});
