// Browser test of loudest-voice audio routing: a server that forwards only the loudest voice of
// a room (`--sfu-loudest-audio 1`) and three real browsers. Whoever has the (fake, beeping)
// microphone open is heard by the others and hears nobody; when the speaker mutes and another
// unmutes, the slot moves, and back. The browsers' audio levels decide (the RFC 6464 header
// extension, sent with end-to-end encryption on), and no browser counts a lost packet. (That a
// stream resumes without a sequence gap is shown by the SFU's core test with a str0m receiver:
// Chrome treats a jump of more than 50 audio packets as a restart, not as loss.)
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/loudest-audio.test.mjs

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { callWithClient, mediaPage, metric, setMic, sleep, suite, until } from './harness.mjs';

const EMAIL = 'loudest@example.test';
const PASSWORD = 'correct horse battery staple 42';

/** The page's incoming audio streams: ssrc → { received, lost }. */
async function audioIn(page) {
  return page.evaluate(async () => {
    const pc = window.confidant && window.confidant.pc;
    const out = {};
    if (!pc) return out;
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') {
        out[r.ssrc] = { received: r.packetsReceived || 0, lost: r.packetsLost || 0 };
      }
    });
    return out;
  });
}

/** The incoming audio streams of each page whose packets are arriving (over about 1.5 s). */
async function flowing(pages) {
  const first = await Promise.all(pages.map(audioIn));
  await sleep(1500);
  const second = await Promise.all(pages.map(audioIn));
  return second.map((now, i) =>
    Object.keys(now).filter((ssrc) => now[ssrc].received > ((first[i][ssrc] || {}).received || 0) + 10),
  );
}

describe('Loudest-voice audio: only the speaker is forwarded, and the slot follows who speaks', { timeout: 6 * 60_000 }, () => {
  const ctx = suite({
    name: 'loudest-audio',
    server: { extraArgs: ['--sfu-loudest-audio', '1'] },
    counsellors: [{ email: EMAIL, name: 'Dr. Quiet', password: PASSWORD }],
  });
  const { logs } = ctx;

  const newPage = () => mediaPage(ctx.browser, ctx.base, { logs, timeout: 90_000 });

  it('the one unmuted participant is heard by the others, then the next one, without lost packets', async (t) => {
    try {
      const { host, client: robin } = await callWithClient({ base: ctx.base, newPage, email: EMAIL, password: PASSWORD });
      const url = await host.getByTestId('join-link').inputValue();
      const sam = await newPage();
      await sam.goto(url);
      await sam.getByTestId('name-input').fill('Sam');
      await sam.getByTestId('join-button').click();
      await sam.getByTestId('lobby-waiting').waitFor({ state: 'visible' });
      await host.locator('[data-testid="admit-button"][data-lobby-name="Sam"]').click();
      const pages = [host, robin, sam];
      for (const p of pages) {
        await until('everyone to be in the call with a peer connection', async () =>
          p.evaluate(() => !!(window.confidant && window.confidant.pc && window.confidant.call)));
      }

      // Robin speaks; the counsellor and Sam keep their microphones muted.
      await setMic(host, false);
      await setMic(sam, false);
      await setMic(robin, true);
      let seen = [];
      await until('the counsellor and Sam to hear one voice, and Robin none', async () => {
        seen = await flowing(pages);
        return seen[0].length === 1 && seen[1].length === 0 && seen[2].length === 1;
      }, { timeout: 60_000, interval: 500 }).catch((e) => {
        throw new Error(`${e.message}: ${JSON.stringify(seen)}`);
      });
      const robinAtHost = seen[0][0];

      // Robin mutes, Sam speaks: the slot moves to Sam.
      await setMic(robin, false);
      await setMic(sam, true);
      await until('the counsellor and Robin to hear one voice, and Sam none', async () => {
        seen = await flowing(pages);
        return seen[0].length === 1 && seen[1].length === 1 && seen[2].length === 0;
      }, { timeout: 60_000, interval: 500 }).catch((e) => {
        throw new Error(`${e.message}: ${JSON.stringify(seen)}`);
      });
      const samAtHost = seen[0][0];
      assert.notEqual(samAtHost, robinAtHost, 'the counsellor hears another stream: Sam’s');

      // Robin speaks again: Robin's stream resumes after its pause.
      await setMic(sam, false);
      await setMic(robin, true);
      await until('the counsellor to hear Robin again', async () => {
        seen = await flowing(pages);
        return seen[0].length === 1 && seen[0][0] === robinAtHost && seen[1].length === 0;
      }, { timeout: 60_000, interval: 500 }).catch((e) => {
        throw new Error(`${e.message}: ${JSON.stringify(seen)}`);
      });

      // No browser counted a lost audio packet.
      for (const [i, p] of pages.entries()) {
        const stats = await audioIn(p);
        for (const [ssrc, s] of Object.entries(stats)) {
          assert.equal(s.lost, 0, `page ${i} stream ${ssrc}: ${JSON.stringify(stats)}`);
        }
      }
      const held = await metric(ctx.base, 'confidant_sfu_audio_not_forwarded_packets_total');
      assert.ok(held > 100, `the SFU held back the silent voices (${held} packets)`);
      t.diagnostic(`counsellor heard ${robinAtHost}, then ${samAtHost}, then ${robinAtHost}; ${held} packets held back`);
    } catch (e) {
      console.error(logs.slice(-200).join('\n'));
      throw e;
    }
  });
});
