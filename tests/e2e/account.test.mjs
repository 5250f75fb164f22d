// The counsellor's account in the dashboard, through the real parts (server binary, headless
// Chromium): the password is changed with the current one; a wrong current password and a
// common new password are refused, each with a message at its own field; afterwards the
// counsellor's other login (another browser) has ended, the old password no longer works and the
// new one does.
// Teams: a member invites a colleague and an unknown address alike; the colleague becomes a
// member only by accepting on their dashboard (its "today" view says that an invitation waits);
// an open invitation can be withdrawn.
//
//   cargo build -p confidant && cd tests/e2e && CONFIDANT_BIN=$PWD/../../target/debug/confidant node --test account.test.mjs

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openSection, suite } from './harness.mjs';

const EMAIL = 'konto@example.test';
const PASSWORD = 'correct horse battery staple 42';
const NEW_PASSWORD = 'Lindenblüte Fahrradkette Nebelhorn';
const COLLEAGUE = 'kollegin@example.test';

describe('Account: password change in the dashboard', { timeout: 5 * 60_000 }, () => {
  const ctx = suite({
    name: 'account',
    counsellors: [
      { email: EMAIL, name: 'Kim Konto', password: PASSWORD },
      { email: COLLEAGUE, name: 'Lou Kollegin', password: PASSWORD },
    ],
  });

  async function loggedIn(password = PASSWORD, email = EMAIL) {
    const context = await ctx.browser.newContext({ locale: 'en-US' });
    const page = await context.newPage();
    page.setDefaultTimeout(60_000);
    page.on('pageerror', (e) => ctx.logs.push(`[page] ${e.message}`));
    await page.goto(`${ctx.base}/login`);
    await page.getByTestId('email-input').fill(email);
    await page.getByTestId('password-input').fill(password);
    await page.getByTestId('login-button').click();
    await page.waitForURL(`${ctx.base}/dashboard`);
    return page;
  }

  async function submit(page, current, next, repeat = next) {
    if (!(await page.getByTestId('password-form').isVisible())) await openSection(page, 'settings');
    await page.getByTestId('current-password').fill(current);
    await page.getByTestId('new-password').fill(next);
    await page.getByTestId('repeat-password').fill(repeat);
    await page.getByTestId('change-password-button').click();
  }

  it('changes the password with the current one and ends the other login', async () => {
    const office = await loggedIn();
    const laptop = await loggedIn();

    // Each error is told at its own field, which is marked invalid and described by it.
    await submit(office, 'not my password', NEW_PASSWORD);
    const error = office.getByTestId('current-password-error').filter({ hasText: 'current password is not correct' });
    await error.waitFor();
    const current = office.getByTestId('current-password');
    assert.equal(await current.getAttribute('aria-invalid'), 'true');
    assert.equal(await current.getAttribute('aria-describedby'), await error.getAttribute('id'));
    assert.equal(await office.evaluate(() => document.activeElement.dataset.testid), 'current-password');

    await submit(office, PASSWORD, 'password1234567');
    await office.getByTestId('new-password-error').filter({ hasText: 'too easy to guess' }).waitFor();
    assert.equal(await office.getByTestId('current-password-error').textContent(), '', 'the earlier error is gone');
    assert.equal(await current.getAttribute('aria-invalid'), null);

    await submit(office, PASSWORD, NEW_PASSWORD, NEW_PASSWORD + 'x');
    await office.getByTestId('repeat-password-error').filter({ hasText: 'differ' }).waitFor();

    await submit(office, '', NEW_PASSWORD);
    await office.getByTestId('current-password-error').filter({ hasText: 'fill this in' }).waitFor();

    await submit(office, PASSWORD, NEW_PASSWORD);
    // Announced: the success appears in the form's live region.
    await office.locator('[aria-live="polite"] [data-testid="password-changed"]').waitFor();
    assert.equal(await office.getByTestId('current-password').inputValue(), '', 'the form is cleared');

    // This browser stays logged in; the other one is sent to the login page.
    await office.reload();
    await office.getByTestId('who').filter({ hasText: 'Kim Konto' }).waitFor();
    await laptop.reload();
    await laptop.waitForURL(`${ctx.base}/login`);

    // The old password is refused, the new one works.
    const old = await fetch(`${ctx.base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
    });
    assert.equal(old.status, 401);
    await loggedIn(NEW_PASSWORD);
  });

  it('makes a colleague a team member only when they accept the invitation', async () => {
    const anna = await loggedIn(NEW_PASSWORD);
    await openSection(anna, 'bookings');
    await anna.getByTestId('booking-settings').locator('summary').click();
    const teamForm = anna.getByTestId('team-form');
    await teamForm.getByTestId('field-name').fill('Familienberatung');
    await teamForm.getByTestId('field-slug').fill('familie');
    await teamForm.getByTestId('team-create').click();
    const block = anna.locator('[data-testid="team-block"][data-slug="familie"]');
    await block.waitFor();
    for (const email of [COLLEAGUE, 'niemand@example.test']) {
      await block.getByTestId('member-form').getByTestId('field-email').fill(email);
      await block.getByTestId('member-add').click();
      await block.locator(`[data-testid="team-invitation-sent"][data-email="${email}"]`).waitFor();
    }
    assert.equal(await block.getByTestId('team-members').textContent(), 'Members: Kim Konto', 'nobody was added');

    // The colleague sees the invitation without opening the settings, and accepts it.
    const lou = await loggedIn(PASSWORD, COLLEAGUE);
    // "Today" says that an invitation waits, and its link leads to it.
    const note = lou.getByTestId('today-invitations');
    await note.filter({ hasText: 'Team invitations waiting for your answer: 1.' }).waitFor();
    await note.getByRole('link').click();
    await lou.getByTestId('section-bookings').waitFor();
    const invitation = lou.locator('[data-testid="team-invitation"][data-team="familie"]');
    await invitation.waitFor();
    assert.match(await invitation.textContent(), /Kim Konto invites you to the team “Familienberatung”/);
    await invitation.getByTestId('team-invitation-accept').click();
    await lou.locator('[data-testid="team-block"][data-slug="familie"]').waitFor();
    assert.equal(await lou.getByTestId('team-invitation').count(), 0);

    // The inviter sees the new member; the unknown address's invitation is withdrawn.
    await anna.reload();
    await anna.getByTestId('booking-settings').locator('summary').click();
    await block.getByTestId('team-members').filter({ hasText: 'Members: Kim Konto, Lou Kollegin' }).waitFor();
    const open = block.locator('[data-testid="team-invitation-sent"][data-email="niemand@example.test"]');
    await open.getByTestId('team-invitation-withdraw').click();
    await open.waitFor({ state: 'detached' });
    assert.equal(await block.getByTestId('team-invitation-sent').count(), 0);
  });
});
