// Browser test of simulcast: the client's browser sends its (fake, 1280×720) camera in several
// layers; the counsellor's browser gets the layer that fits the size it shows the video at. The
// test makes the counsellor's tile small, then large, and watches the resolution the
// counsellor's browser decodes follow (inbound-rtp frameHeight), with video decoding on and
// end-to-end encryption on throughout, and the SFU counting the layer switches in /metrics.
// Twice: as Chromium negotiates it, and with the client's SDP stripped of the
// video-layers-allocation extension (as Firefox sends it), where the SFU learns the layers'
// heights from the VP8 key frames' clear headers.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/simulcast.test.mjs

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { callWithClient, mediaPage, metric, suite, until } from './harness.mjs';

const EMAIL = 'simulcast@example.test';
const PASSWORD = 'correct horse battery staple 42';

/** The publisher's layers as its browser reports them: rid → { height, bytes }. */
async function outbound(page) {
  return page.evaluate(async () => {
    const pc = window.confidant && window.confidant.pc;
    if (!pc) return {};
    const out = {};
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'outbound-rtp' && r.kind === 'video' && r.rid) {
        out[r.rid] = { height: r.frameHeight || 0, bytes: r.bytesSent || 0 };
      }
    });
    return out;
  });
}

/** What the subscriber decodes of the remote video: height, frames decoded, E2EE state. */
async function inbound(page) {
  return page.evaluate(async () => {
    const pc = window.confidant && window.confidant.pc;
    if (!pc) return null;
    const s = { height: 0, frames: 0, e2ee: window.confidant.e2ee.state };
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video' && (r.framesDecoded || 0) > s.frames) {
        s.height = r.frameHeight || 0;
        s.frames = r.framesDecoded || 0;
      }
    });
    return s;
  });
}

/** Shows the remote video at `width` × `height` CSS pixels (the tile's own layout is kept). */
async function showRemoteVideoAt(page, width, height) {
  await page.evaluate(
    ([w, h]) => {
      for (const v of document.querySelectorAll('[data-testid="remote-video"]')) {
        v.style.width = `${w}px`;
        v.style.height = `${h}px`;
        v.style.maxWidth = 'none';
        v.style.maxHeight = 'none';
        v.style.flex = 'none';
      }
    },
    [width, height],
  );
}

describe('Simulcast: the viewer gets the layer that fits its tile', { timeout: 6 * 60_000 }, () => {
  const ctx = suite({ name: 'simulcast', counsellors: [{ email: EMAIL, name: 'Dr. Layers', password: PASSWORD }] });
  const { logs } = ctx;

  const newPage = () => mediaPage(ctx.browser, ctx.base, { logs, width: 1400, height: 900, timeout: 90_000 });

  /**
   * A call; the counsellor shows the client's video small, large, small again. `withoutVla`:
   * the client's browser leaves the video-layers-allocation header extension out of its SDP
   * (as Firefox, which does not have it), so the SFU learns the layers' heights only from
   * their key frames.
   */
  async function smallLargeSmall(t, { withoutVla = false } = {}) {
    let pages = 0;
    const page = async () => {
      const p = await newPage();
      pages += 1;
      if (withoutVla && pages === 2) {
        await p.addInitScript(() => {
          const strip = (d) => ({
            type: d.type,
            sdp: d.sdp.split('\r\n').filter((l) => !l.includes('video-layers-allocation')).join('\r\n'),
          });
          for (const name of ['createOffer', 'createAnswer']) {
            const original = RTCPeerConnection.prototype[name];
            RTCPeerConnection.prototype[name] = async function (...args) {
              return strip(await original.apply(this, args));
            };
          }
        });
      }
      return p;
    };
    const switchesBefore = (await metric(ctx.base, 'confidant_sfu_layer_switches_total')) || 0;
    const { host, client } = await callWithClient({ base: ctx.base, newPage: page, email: EMAIL, password: PASSWORD });

    // The client's browser sends at least two layers of different heights.
    let layers = {};
    await until('the client to send two or more simulcast layers', async () => {
      layers = await outbound(client);
      const live = Object.values(layers).filter((l) => l.bytes > 0 && l.height > 0);
      return live.length >= 2 && new Set(live.map((l) => l.height)).size >= 2;
    }, { timeout: 90_000, interval: 1000 }).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(layers)}`);
    });
    const heights = Object.values(layers).filter((l) => l.bytes > 0 && l.height > 0).map((l) => l.height);
    const lowest = Math.min(...heights);

    // A thumbnail: the counsellor decodes the lowest layer.
    await showRemoteVideoAt(host, 160, 90);
    let last = null;
    await until(`the counsellor to decode the lowest layer (${lowest} px high) in a thumbnail`, async () => {
      last = await inbound(host);
      return last && last.height > 0 && last.height <= lowest;
    }, { timeout: 90_000, interval: 1000 }).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(last)}; sending ${JSON.stringify(layers)}`);
    });
    const small = last;

    // A large tile: a higher layer, once the bandwidth estimate allows it.
    await showRemoteVideoAt(host, 1280, 720);
    await until('the counsellor to decode a higher layer in a large tile', async () => {
      last = await inbound(host);
      layers = await outbound(client);
      return last && last.height > lowest;
    }, { timeout: 120_000, interval: 1000 }).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(last)}; sending ${JSON.stringify(layers)}`);
    });
    const large = last;

    // Back to small: down again, and video kept decoding across both switches.
    await showRemoteVideoAt(host, 160, 90);
    await until('the counsellor to go back to the lowest layer', async () => {
      last = await inbound(host);
      layers = await outbound(client);
      return last && last.height > 0 && last.height <= lowest;
    }, { timeout: 60_000, interval: 1000 }).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(last)}; sending ${JSON.stringify(layers)}; lowest was ${lowest}`);
    });
    assert.ok(last.frames > large.frames && large.frames > small.frames, `frames kept decoding: ${JSON.stringify({ small, large, last })}`);
    assert.equal(last.e2ee, 'on', 'end-to-end encryption stayed on');
    const switches = (await metric(ctx.base, 'confidant_sfu_layer_switches_total')) - switchesBefore;
    assert.ok(switches >= 2, `the SFU counted its layer switches (${switches})`);
    t.diagnostic(`sent ${JSON.stringify(layers)}; decoded ${small.height} px small, ${large.height} px large, ${last.height} px small again; ${switches} switches`);
    if (withoutVla) {
      const sdp = await client.evaluate(() => window.confidant.pc.localDescription.sdp);
      assert.ok(!sdp.includes('video-layers-allocation'), 'the client did not negotiate the allocation extension');
    }
    await Promise.all([host.context().close(), client.context().close()]);
  }

  it('small tile → low layer, large tile → high layer, decoding and encrypted throughout', async (t) => {
    try {
      await smallLargeSmall(t);
    } catch (e) {
      console.error(logs.slice(-200).join('\n'));
      throw e;
    }
  });

  it('without the allocation extension (as Firefox) the key frames tell the layer sizes', async (t) => {
    try {
      await smallLargeSmall(t, { withoutVla: true });
    } catch (e) {
      console.error(logs.slice(-200).join('\n'));
      throw e;
    }
  });
});
