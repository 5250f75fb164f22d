// Browser test of a media path that breaks under a call and comes back: every UDP datagram
// between the browsers and the SFU passes a relay made here, which stops forwarding for a while
// (as when a NAT forgets its mapping, or a firewall or the network changes) while the websockets,
// over TCP, stay up. The SFU gives up on a peer after 15 s without ICE checks; the server then
// sends that participant `media_lost`, and its browser starts media again at once with a new
// peer connection, instead of sitting on a dead one until its own consent checks give up (about
// 30 s). Once the path works again, both sides decode each other's video again, end-to-end
// encrypted. Without `media_lost` the test fails: the browsers are never told.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/media-lost.test.mjs

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { callWithClient, mediaPage, suite, until } from './harness.mjs';

const EMAIL = 'media-lost@example.test';
const PASSWORD = 'correct horse battery staple 42';

/** Video frames the page decoded on its current peer connection, and what it was told. */
async function snapshot(page) {
  return page.evaluate(async () => {
    const c = window.confidant;
    if (!c || !c.pc) return null;
    const badge = document.querySelector('[data-testid="e2ee-status"]');
    const s = {
      frames: 0,
      lost: c.mediaLost,
      e2ee: c.e2ee.state,
      badge: badge ? badge.dataset.e2ee : null,
      label: badge ? badge.textContent : null,
      old: c.pc.markedOld === true,
      state: c.pc.connectionState,
    };
    (await c.pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') s.frames += r.framesDecoded || 0;
    });
    return s;
  });
}

describe('A call whose UDP path breaks and comes back', { timeout: 5 * 60_000 }, () => {
  const ctx = suite({ name: 'media-lost', relay: {}, counsellors: [{ email: EMAIL, name: 'Dr. Path', password: PASSWORD }] });
  const { logs } = ctx;

  const newPage = () => mediaPage(ctx.browser, ctx.base, { logs, width: 1024, height: 700, timeout: 90_000 });

  it('the server says media_lost, both browsers start media again, and video decodes again', async () => {
    const pages = [];
    try {
      const { host, client } = await callWithClient({ base: ctx.base, newPage, email: EMAIL, password: PASSWORD });
      pages.push(['counsellor', host], ['client', client]);

      let last = null;
      for (const [name, page] of pages) {
        await until(`${name}: video decoding, encrypted`, async () => {
          last = await snapshot(page);
          return last && last.frames > 30 && last.e2ee === 'on';
        }, { timeout: 90_000, interval: 500 }).catch((e) => {
          throw new Error(`${e.message}: ${JSON.stringify(last)}`);
        });
        // The connection the path breaks under, to tell it from the one made afterwards.
        await page.evaluate(() => {
          window.confidant.pc.markedOld = true;
        });
      }

      ctx.relay.block(true);
      for (const [name, page] of pages) {
        await until(`${name}: told by the server that its media connection is lost`, async () => {
          last = await snapshot(page);
          return last && last.lost >= 1;
        }, { timeout: 60_000, interval: 500 }).catch((e) => {
          throw new Error(`${e.message}: ${JSON.stringify(last)}; relay ${JSON.stringify(ctx.relay.counts)}`);
        });
        // The badge tells the truth: no media flows, so it does not say "encrypted".
        last = await snapshot(page);
        assert.equal(last.badge, 'no_media', `${name}: badge while media is lost: ${JSON.stringify(last)}`);
        assert.ok(!/end-to-end encrypted/i.test(last.label), `${name}: badge text ${last.label}`);
      }
      ctx.relay.block(false);

      for (const [name, page] of pages) {
        await until(`${name}: video decoding again on a new connection, encrypted`, async () => {
          last = await snapshot(page);
          return last && !last.old && last.frames > 30 && last.e2ee === 'on' && last.badge === 'on';
        }, { timeout: 90_000, interval: 500 }).catch((e) => {
          throw new Error(`${e.message}: ${JSON.stringify(last)}; relay ${JSON.stringify(ctx.relay.counts)}`);
        });
      }
      assert.ok(ctx.relay.counts.blocked > 0, `the path was broken: ${JSON.stringify(ctx.relay.counts)}`);
      assert.ok(logs.some((l) => l.includes('media transport gone')), 'the server logged the lost transport');
    } catch (e) {
      console.error(logs.slice(-200).join('\n'));
      throw e;
    }
  });
});
