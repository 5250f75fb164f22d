// Browser test of chat history in the call: a join shows the latest 50 messages with a button
// that pages back through the rest (`chat_history` with `before`), and names come from the
// server's memory only: once everyone left the room and the counsellor comes back, the earlier
// messages are shown with the sender's role, since no name was ever stored with them. A client
// admitted later sees only what was written from then on, until the counsellor shares the
// earlier messages; the chat says plainly that it is not end-to-end encrypted.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/chat-history.test.mjs

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { callWithClient, mediaPage, sleep, suite, until } from './harness.mjs';

const EMAIL = 'chat-history@example.test';
const PASSWORD = 'correct horse battery staple 42';
const SENT = 70;
const LATE_EMAIL = 'chat-late@example.test';

/** The texts of the chat messages a page shows, top to bottom. */
const shown = (page) => page.getByTestId('chat-text').allTextContents();

describe('Chat history in the call: the latest page, paging back, names from memory only', { timeout: 5 * 60_000 }, () => {
  const ctx = suite({ name: 'chat-history', counsellors: [
      { email: EMAIL, name: 'Dr. Page', password: PASSWORD },
      { email: LATE_EMAIL, name: 'Dr. Late', password: PASSWORD },
    ],
  });
  const { logs } = ctx;

  const newPage = () => mediaPage(ctx.browser, ctx.base, { logs, width: 1024, height: 700, timeout: 60_000 });

  it('a rejoin shows the latest 50, the button loads the older ones, and unnamed senders show their role', async () => {
    const { host, client } = await callWithClient({ base: ctx.base, newPage, email: EMAIL, password: PASSWORD, name: 'Robin' });
    await client.getByTestId('chat-input').waitFor({ state: 'visible' });
    await host.getByTestId('chat-input').waitFor({ state: 'visible' });
    const hostUrl = host.url();

    // The client writes 70 messages, at the server's sustained rate (20/s) or below.
    await until('the client is in the call', () => client.evaluate(() => window.confidant.call && window.confidant.call.state === 'in-call'));
    for (let i = 0; i < SENT; i += 1) {
      await client.evaluate((text) => window.confidant.signaling.send({ type: 'chat', text }), `message ${i}`);
      await sleep(60);
    }
    await until(`the counsellor sees all ${SENT}`, async () => (await host.getByTestId('chat-message').count()) === SENT);

    // The counsellor opens the call page again (a second tab, logged in): the latest 50,
    // named, and the button.
    const again = await host.context().newPage();
    await again.goto(hostUrl);
    await until('the history arrived', async () => (await again.getByTestId('chat-message').count()) === 50);
    assert.deepEqual(await shown(again), Array.from({ length: 50 }, (_, i) => `message ${i + 20}`));
    assert.equal(await again.getByTestId('chat-name').first().textContent(), 'Robin');
    const older = again.getByTestId('chat-older');
    await older.waitFor({ state: 'visible' });
    await older.click();
    await until('the older page arrived', async () => (await again.getByTestId('chat-message').count()) === SENT);
    assert.deepEqual(await shown(again), Array.from({ length: SENT }, (_, i) => `message ${i}`));
    await older.waitFor({ state: 'hidden' });

    // Everyone leaves: the room, and the names it kept in memory, are gone.
    for (const page of [client, host, again]) {
      await page.getByTestId('leave-button').click();
      await page.getByTestId('leave-confirm').click();
    }
    await until('the room is empty', async () => {
      const res = await fetch(`${ctx.base}/metrics`);
      return /^confidant_rooms 0$/m.test(await res.text());
    });
    const back = await host.context().newPage();
    await back.goto(hostUrl);
    await until('the history arrived once more', async () => (await back.getByTestId('chat-message').count()) === 50);
    const names = new Set(await back.getByTestId('chat-name').allTextContents());
    assert.deepEqual([...names], ['Client'], 'shown by role, the name was never stored');
  });

  it('a client admitted later sees the chat from their admission on, and the earlier one once the counsellor shares it', async () => {
    const { host, client } = await callWithClient({ base: ctx.base, newPage, email: LATE_EMAIL, password: PASSWORD, name: 'Robin' });
    await client.getByTestId('chat-input').waitFor({ state: 'visible' });
    await host.getByTestId('chat-input').waitFor({ state: 'visible' });
    const say = async (page, text) => {
      await page.getByTestId('chat-input').fill(text);
      await page.getByTestId('chat-send').click();
    };
    await say(host, 'said before Kim came');
    await until('Robin sees it', async () => (await shown(client)).includes('said before Kim came'));

    // What the chat is protected by is said in the chat, and the badge speaks of media only.
    assert.match(await client.getByTestId('chat-privacy').textContent(), /not end-to-end encrypted.*server.*can read/);
    assert.match(await host.getByTestId('chat-privacy').textContent(), /earlier ones only if you share them/);
    await until('the media badge', async () => /Sound and picture/.test(await client.getByTestId('e2ee-label').textContent()));
    assert.equal(await client.getByTestId('chat-panel').getByTestId('e2ee-status').count(), 0, 'no encryption badge in the chat');

    // Kim is admitted later: the history Kim gets (it comes before any live message) is empty.
    const url = await host.getByTestId('join-link').inputValue();
    /** A client who knocks now and is admitted, in the call. */
    const admitted = async (name) => {
      const page = await newPage();
      await page.goto(url);
      await page.getByTestId('name-input').fill(name);
      await page.getByTestId('join-button').click();
      await page.getByTestId('lobby-waiting').waitFor({ state: 'visible' });
      await host.locator(`[data-testid="admit-button"][data-lobby-name="${name}"]`).click();
      await page.getByTestId('chat-input').waitFor({ state: 'visible' });
      return page;
    };
    const kim = await admitted('Kim');
    await say(host, 'welcome, Kim');
    await until('Kim sees the welcome', async () => (await shown(kim)).includes('welcome, Kim'));
    assert.deepEqual(await shown(kim), ['welcome, Kim']);
    await kim.getByTestId('chat-older').waitFor({ state: 'hidden' });

    // The counsellor shares the earlier messages: Kim now sees them, in order, and is told.
    await host.getByTestId('chat-share').click();
    await until('Kim sees the shared history', async () => (await shown(kim)).length === 2);
    assert.deepEqual(await shown(kim), ['said before Kim came', 'welcome, Kim']);
    await kim.getByTestId('chat-note').waitFor({ state: 'visible' });
    assert.match(await kim.getByTestId('chat-note').textContent(), /shared the earlier messages/);
    await host.getByTestId('chat-note').waitFor({ state: 'visible' });
    assert.deepEqual(await shown(client), ['said before Kim came', 'welcome, Kim']);

    // A client admitted after the share sees what was shared, not what came after it.
    await say(host, 'between the share and Lee');
    await until('Kim sees it', async () => (await shown(kim)).includes('between the share and Lee'));
    const lee = await admitted('Lee');
    await say(host, 'welcome, Lee');
    await until('Lee sees the welcome', async () => (await shown(lee)).includes('welcome, Lee'));
    assert.deepEqual(await shown(lee), ['said before Kim came', 'welcome, Kim', 'welcome, Lee']);
    assert.equal(await lee.getByTestId('chat-share').count(), 0, 'only the counsellor can share');
  });
});
