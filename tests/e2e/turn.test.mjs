// Browser test of the TURN path: a real coturn on loopback with the REST-API shared secret,
// the server handing out per-participant credentials, and two browsers forced to relay-only
// ICE. Media must flow, end-to-end encrypted, with a relay candidate on both sides.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/turn.test.mjs
//
// Needs `turnserver` (Debian package coturn; scripts/test.sh installs it).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { collect, freeUdpPort, suite, until } from './harness.mjs';

const TURNSERVER = process.env.TURNSERVER_PATH || '/usr/bin/turnserver';
const EMAIL = 'turn@example.test';
const PASSWORD = 'correct horse battery staple 42';
const SECRET = 'turn-shared-secret-for-the-test-0123456789';

/** Remote frames decoded and the type of the local candidate of the selected pair. */
async function relaySnapshot(page) {
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
    return { frames, localType: local ? local.candidateType : null, e2ee: window.confidant.e2ee.state };
  });
}

describe('TURN relay through coturn with per-participant credentials', { timeout: 5 * 60_000 }, () => {
  const ctx = suite({
    name: 'turn',
    // coturn on loopback with the REST-API shared secret the server also knows.
    services: async (ctx) => {
      assert.ok(fs.existsSync(TURNSERVER), `turnserver not found at ${TURNSERVER} (apt-get install coturn)`);
      ctx.turnPort = await freeUdpPort();
      const turn = ctx.own(
        spawn(
          TURNSERVER,
          [
            '-n',
            '--listening-ip=127.0.0.1',
            '--relay-ip=127.0.0.1',
            `--listening-port=${ctx.turnPort}`,
            '--use-auth-secret',
            `--static-auth-secret=${SECRET}`,
            '--realm=confidant.test',
            '--allow-loopback-peers',
            '--no-cli',
            '--no-tls',
            '--no-dtls',
            '--log-file=stdout',
            '--simple-log',
            `--pidfile=${path.join(ctx.dir, 'turn.pid')}`,
            `--userdb=${path.join(ctx.dir, 'turndb')}`,
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        ),
      );
      collect(turn.stdout, ctx.logs, '[turn] ');
      collect(turn.stderr, ctx.logs, '[turn] ');
      fs.writeFileSync(path.join(ctx.dir, 'turn.secret'), SECRET + '\n', { mode: 0o600 });
    },
    server: (ctx) => ({
      extraArgs: ['--turn-url', `turn:127.0.0.1:${ctx.turnPort}?transport=udp`, '--turn-secret-file', path.join(ctx.dir, 'turn.secret')],
    }),
    counsellors: [{ email: EMAIL, name: 'Dr. Relay', password: PASSWORD }],
  });
  const { logs } = ctx;

  async function relayPage() {
    const context = await ctx.browser.newContext({ viewport: { width: 1024, height: 700 }, locale: 'en-US' });
    await context.grantPermissions(['camera', 'microphone'], { origin: ctx.base });
    await context.addInitScript(() => localStorage.setItem('confidant.forceRelay', '1'));
    const page = await context.newPage();
    page.setDefaultTimeout(60_000);
    page.on('pageerror', (e) => logs.push(`[page] ${e.message}`));
    return page;
  }

  it('a counsellor and a client talk through the TURN relay only, encrypted', async () => {
    try {
      const host = await relayPage();
      await host.goto(`${ctx.base}/login`);
      await host.getByTestId('email-input').fill(EMAIL);
      await host.getByTestId('password-input').fill(PASSWORD);
      await host.getByTestId('login-button').click();
      await host.waitForURL(/\/dashboard$/);
      await host.getByTestId('start-session-button').click();
      await host.waitForURL(/\/s\/[^/?#]+$/);
      const link = host.getByTestId('join-link');
      await link.waitFor({ state: 'visible' });
      const url = await link.inputValue();

      const client = await relayPage();
      await client.goto(url);
      await client.getByTestId('name-input').fill('Robin');
      await client.getByTestId('join-button').click();
      await client.getByTestId('lobby-waiting').waitFor({ state: 'visible' });
      await host.locator('[data-testid="admit-button"][data-lobby-name="Robin"]').click();

      for (const [name, page] of [['counsellor', host], ['client', client]]) {
        let first = null;
        let last = null;
        await until(`${name}: video decoded over a relay candidate`, async () => {
          last = await relaySnapshot(page);
          if (!last || last.localType !== 'relay') return false;
          if (first === null) first = last.frames;
          return last.frames > first + 10 && last.e2ee === 'on';
        }).catch((e) => {
          throw new Error(`${e.message}: ${JSON.stringify(last)}`);
        });
      }
      // A relay candidate only exists if coturn accepted the credential the server minted: a
      // wrong HMAC, username or expiry gets 401 from coturn and no relay candidate at all.
    } catch (e) {
      console.error(logs.slice(-200).join('\n'));
      throw e;
    }
  });
});
