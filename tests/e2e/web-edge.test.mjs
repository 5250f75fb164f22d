// The web edge through the real parts: the server binary and headless Chromium, with the headers
// Chromium itself sends (Origin, Sec-Fetch-Site). The server's own pages log in and out (a
// body-less POST) as before; a page on another origin (the same server reached as `localhost`
// instead of `127.0.0.1`: another site to the browser) that submits a body-less form POST to it is
// refused with 403 `cross_origin`, and the counsellor stays logged in. The pages' websocket works
// under the CSP's connect-src (see call.test.mjs); here the header itself is checked.
//
//   CONFIDANT_BIN=target/debug/confidant node --test tests/e2e/web-edge.test.mjs

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { suite } from './harness.mjs';

const EMAIL = 'edge@example.test';
const PASSWORD = 'correct horse battery staple 42';

describe('Web edge in Chromium: same-origin requests pass, another origin cannot change anything', { timeout: 5 * 60_000 }, () => {
  const ctx = suite({ name: 'web-edge', counsellors: [{ email: EMAIL, name: 'Edge', password: PASSWORD }] });

  it('a cross-origin body-less form POST is refused; the own pages log in and out', async () => {
    const context = await ctx.browser.newContext({ locale: 'en-US' });
    const page = await context.newPage();
    page.setDefaultTimeout(60_000);
    const login = await page.goto(`${ctx.base}/login`);
    const csp = login.headers()['content-security-policy'];
    assert.match(csp, new RegExp(`connect-src 'self' ws://127\\.0\\.0\\.1:${ctx.port};`), csp);
    assert.equal(login.headers()['strict-transport-security'], undefined, 'no HSTS on plain http');
    await page.getByTestId('email-input').fill(EMAIL);
    await page.getByTestId('password-input').fill(PASSWORD);
    await page.getByTestId('login-button').click();
    await page.waitForURL(`${ctx.base}/dashboard`);

    // Another origin (and site) submits a form without fields to the logout endpoint.
    const other = await context.newPage();
    await other.goto(`http://localhost:${ctx.port}/`);
    const [response] = await Promise.all([
      other.waitForNavigation(),
      other.evaluate((action) => {
        const f = document.createElement('form');
        f.method = 'POST';
        f.action = action;
        document.body.append(f);
        f.submit();
      }, `${ctx.base}/api/auth/logout`),
    ]);
    const sent = await response.request().allHeaders();
    assert.equal(sent['sec-fetch-site'], 'cross-site', JSON.stringify(sent));
    assert.equal(response.status(), 403);
    assert.equal(JSON.parse(await response.text()).error.code, 'cross_origin');
    assert.equal(response.headers()['cache-control'], 'no-store');

    // Still logged in; the own page's body-less POST logs out.
    const me = await page.evaluate(async () => (await fetch('/api/me')).status);
    assert.equal(me, 200);
    const out = await page.evaluate(async () => {
      const r = await fetch('/api/auth/logout', { method: 'POST' });
      return { status: r.status, after: (await fetch('/api/me')).status };
    });
    assert.deepEqual(out, { status: 204, after: 401 });
    await context.close();
  });
});
