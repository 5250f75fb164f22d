// Browser test of a counsellor removing a client from the call: the counsellor's view has a
// "Remove" button beside the client's tile (with a confirmation); the client's page then says it
// was removed and does not reconnect, its tile is gone for the counsellor, and the admission it
// joined with no longer opens the room (the server refuses the token; see
// signaling/tests/hub.rs and web/tests/websocket.rs for the token rules).
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/remove.test.mjs

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { callWithClient, mediaPage, suite, until } from './harness.mjs';

const EMAIL = 'remove@example.test';
const PASSWORD = 'correct horse battery staple 42';

describe('A counsellor removes a client from the call', { timeout: 5 * 60_000 }, () => {
  const ctx = suite({ name: 'remove', counsellors: [{ email: EMAIL, name: 'Dr. Remove', password: PASSWORD }] });
  const { logs } = ctx;

  // Every page notes the join token it sends, read off its websocket frames (the app keeps it
  // nowhere a script could read it).
  const newPage = async () => {
    const page = await mediaPage(ctx.browser, ctx.base, { logs });
    page.on('websocket', (ws) =>
      ws.on('framesent', (f) => {
        try {
          const m = JSON.parse(f.payload);
          if (m.type === 'join') page.joinToken = m.token;
        } catch {
          // not JSON: not ours
        }
      }),
    );
    return page;
  };

  it('the remove button takes the client out, the client is told, and its token is dead', async () => {
    try {
      const { host, client } = await callWithClient({ base: ctx.base, newPage, email: EMAIL, password: PASSWORD, name: 'Robin' });
      // Both in the call, media up and encrypted on both sides.
      for (const [name, page] of [['counsellor', host], ['client', client]]) {
        await until(`${name}: in the call with encrypted media`, () =>
          page.evaluate(() => {
            const badge = document.querySelector('[data-testid="e2ee-status"]');
            return window.confidant.state === 'in-call' && badge && badge.dataset.e2ee === 'on';
          }), { timeout: 90_000, interval: 500 });
      }
      // The client sees no remove button (only a counsellor removes).
      assert.equal(await client.getByTestId('remove-participant').count(), 0);
      const clientId = await client.evaluate(() => window.confidant.participantId);
      const token = client.joinToken;
      const tile = host.locator(`[data-testid="remote-tile"][data-participant-id="${clientId}"]`);
      await tile.getByTestId('remove-participant').click();
      await tile.getByTestId('remove-participant-confirm').click();

      await client.getByTestId('removed').waitFor({ state: 'visible' });
      assert.match(await client.getByTestId('removed').textContent(), /removed/i);
      await until('the client tile gone for the counsellor', async () => (await tile.count()) === 0, { timeout: 20_000 });
      // The client does not try to come back on its own.
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(await client.evaluate(() => window.confidant.signaling.state), 'closed');
      assert.ok(logs.some((l) => /participant removed/.test(l) && /reason\W+removed/.test(l)), 'the server logged the removal');

      // The admission the client joined with no longer opens the room.
      assert.ok(token, 'the join token was seen on the websocket');
      const room = await host.evaluate(() => window.confidant.room);
      const answer = await client.evaluate(
        ({ room, token }) =>
          new Promise((resolve) => {
            const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/ws');
            const got = [];
            ws.onopen = () => ws.send(JSON.stringify({ type: 'join', v: 1, room, token }));
            ws.onmessage = (e) => got.push(JSON.parse(e.data));
            ws.onclose = (e) => resolve({ got, code: e.code });
            setTimeout(() => resolve({ got, code: 'timeout' }), 10_000);
          }),
        { room, token },
      );
      assert.equal(answer.got[0] && answer.got[0].code, 'invalid_token', JSON.stringify(answer));
      assert.equal(answer.code, 1008);
    } catch (e) {
      console.error(logs.slice(-200).join('\n'));
      throw e;
    }
  });
});
