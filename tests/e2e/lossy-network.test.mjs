// Browser test under packet loss: every UDP datagram between the browsers and the SFU passes a
// lossy link made here, a small UDP relay (like a NAT on a bad line) that drops 5 % of the
// datagrams in each direction (seeded, reproducible) and delays the rest by 10–40 ms, so some
// arrive out of order. The SFU advertises the relay's address; the relay forwards each browser
// through its own socket, so the SFU sees one address per browser. A counsellor and a client in
// a call must keep decoding video, end-to-end encrypted, with lost packets asked for again
// (NACKs counted by the receiving browser), and the call screen's connection-quality mark on the
// counsellor's tile of the client shows the loss ("fair" or "poor", in words too).
//
// The kernel here has no `tc netem`; this relay is the equivalent, in user space, on loopback.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/lossy-network.test.mjs

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { callWithClient, mediaPage, suite, until } from './harness.mjs';

const EMAIL = 'lossy@example.test';
const PASSWORD = 'correct horse battery staple 42';
const LOSS = 0.05;
const DELAY_MS = [10, 40];

/** Video frames decoded, NACKs sent, packets lost (inbound video), E2EE state. */
async function snapshot(page) {
  return page.evaluate(async () => {
    const pc = window.confidant && window.confidant.pc;
    if (!pc) return null;
    const stats = await pc.getStats();
    const s = { frames: 0, nacks: 0, lost: 0, e2ee: window.confidant.e2ee.state };
    stats.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') {
        s.frames += r.framesDecoded || 0;
        s.nacks += r.nackCount || 0;
        s.lost += r.packetsLost || 0;
      }
    });
    return s;
  });
}

describe('A call through a lossy link (5 % loss each way, 10–40 ms delay)', { timeout: 6 * 60_000 }, () => {
  const ctx = suite({
    name: 'lossy-network',
    relay: { loss: LOSS, delayMs: DELAY_MS, seed: 20261129 },
    counsellors: [{ email: EMAIL, name: 'Dr. Lossy', password: PASSWORD }],
  });
  const { logs } = ctx;

  const newPage = () => mediaPage(ctx.browser, ctx.base, { logs, width: 1024, height: 700, timeout: 90_000 });

  it('video keeps decoding, encrypted, and lost packets are asked for again', async () => {
    try {
      const { host, client } = await callWithClient({ base: ctx.base, newPage, email: EMAIL, password: PASSWORD });

      for (const [name, page] of [['counsellor', host], ['client', client]]) {
        let first = null;
        let last = null;
        await until(`${name}: 150 more video frames decoded through the lossy link, and NACKs sent`, async () => {
          last = await snapshot(page);
          if (!last || last.e2ee !== 'on') return false;
          if (first === null && last.frames > 0) first = last;
          return first !== null && last.frames > first.frames + 150 && last.nacks > 0;
        }, { timeout: 120_000, interval: 500 }).catch((e) => {
          throw new Error(`${e.message}: ${JSON.stringify(last)}; relay ${JSON.stringify(ctx.relay.counts)}`);
        });
      }
      assert.ok(ctx.relay.counts.dropped > 20, `the link dropped datagrams: ${JSON.stringify(ctx.relay.counts)}`);
      // The call screen says so: the counsellor's tile of the client shows the connection as
      // less than good (5 % each way is over the 2 % of "fair"), in words as well as bars.
      const mark = host.locator('[data-testid="remote-tile"] [data-testid="net-quality"]').first();
      let seen = [];
      await until('the connection-quality mark to show the loss', async () => {
        const q = await mark.getAttribute('data-quality');
        seen.push(`${q} (${await mark.getAttribute('title')})`);
        seen = seen.slice(-5);
        return q === 'fair' || q === 'poor';
      }, { timeout: 60_000, interval: 500 }).catch((e) => {
        throw new Error(`${e.message}: ${seen.join('; ')}`);
      });
      assert.match(await mark.getAttribute('aria-label'), /^Connection (fair|poor)$/);
    } catch (e) {
      console.error(logs.slice(-200).join('\n'));
      throw e;
    }
  });
});
