// Browser test of the ICE-TCP fallback: the SFU's UDP candidate leads nowhere (it advertises a
// UDP port nothing listens on, as if a firewall dropped UDP), so the only way media can flow
// is the passive ICE-TCP candidate (RFC 6544, RFC 4571 framing). A counsellor and a client
// must see each other, end-to-end encrypted, over a TCP candidate pair.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/ice-tcp.test.mjs

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { callWithClient, freeUdpPort, mediaPage, suite, until } from './harness.mjs';

const EMAIL = 'tcp@example.test';
const PASSWORD = 'correct horse battery staple 42';

/** Remote video frames decoded, and the protocol and type of the selected pair's local candidate. */
async function snapshot(page) {
  return page.evaluate(async () => {
    const pc = window.confidant && window.confidant.pc;
    if (!pc) return null;
    const stats = await pc.getStats();
    let frames = 0;
    let pairId = null;
    stats.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') frames += r.framesDecoded || 0;
      if (r.type === 'transport' && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
    });
    const pair = pairId ? stats.get(pairId) : null;
    const local = pair ? stats.get(pair.localCandidateId) : null;
    const remote = pair ? stats.get(pair.remoteCandidateId) : null;
    return { frames, local: local ? local.protocol : null, remote: remote ? `${remote.protocol} ${remote.tcpType || ''}`.trim() : null, e2ee: window.confidant.e2ee.state };
  });
}

describe('ICE-TCP when UDP does not get through', { timeout: 5 * 60_000 }, () => {
  const ctx = suite({
    name: 'ice-tcp',
    // A UDP port nobody listens on: every UDP check fails; TCP listens on the bound port.
    server: async () => ({ extraArgs: ['--sfu-advertise', `127.0.0.1:${await freeUdpPort()}`, '--sfu-tcp', 'on'] }),
    counsellors: [{ email: EMAIL, name: 'Dr. TCP', password: PASSWORD }],
  });
  const { logs } = ctx;

  const newPage = () => mediaPage(ctx.browser, ctx.base, { logs, width: 1024, height: 700, timeout: 60_000 });

  it('a counsellor and a client talk over ICE-TCP, encrypted', async () => {
    try {
      const { host, client } = await callWithClient({ base: ctx.base, newPage, email: EMAIL, password: PASSWORD });

      for (const [name, page] of [['counsellor', host], ['client', client]]) {
        let first = null;
        let last = null;
        await until(`${name}: video decoded over a TCP candidate pair`, async () => {
          last = await snapshot(page);
          if (!last || last.local !== 'tcp') return false;
          if (first === null) first = last.frames;
          return last.frames > first + 10 && last.e2ee === 'on';
        }).catch((e) => {
          throw new Error(`${e.message}: ${JSON.stringify(last)}`);
        });
        assert.equal(last.remote, 'tcp passive', JSON.stringify(last));
      }
    } catch (e) {
      console.error(logs.slice(-200).join('\n'));
      throw e;
    }
  });
});
