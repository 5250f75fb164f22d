// Failed mail on the dashboard (issue 28): on a booking, mail to the client that could not be
// delivered, with the reason in plain words, a form to correct the address and resend, and a
// button to record that the client was reached another way; in the workspace, notifications to
// the counsellor that could not be delivered.

import { t } from '../shared/i18n.js';
import './i18n-mail.js';
import { h, clear, notice } from '../shared/ui.js';
import { get, post } from '../shared/api.js';
import { showFieldErrors, clearFieldErrors, field } from './booking-ui.js';

function kindText(kind) {
  const text = t('mail.kind.' + kind);
  return text.startsWith('mail.kind.') ? t('mail.kind.other') : text;
}

function reasonLines(f) {
  const lines = [h('p', { testid: 'mail-failure-what', text: t('mail.what_failed', { what: kindText(f.kind) }) })];
  const reason = t('mail.reason.' + f.reason);
  lines.push(h('p', { testid: 'mail-failure-reason', dataset: { reason: f.reason }, text: reason.startsWith('mail.reason.') ? t('mail.reason.rejected') : reason }));
  if (f.smtp_code) lines.push(h('p', { class: 'hint', text: t('mail.code', { code: String(f.smtp_code) }) }));
  return lines;
}

/**
 * The failed client mails of booking `b` (`b.mail_failures`), or null when there are none.
 * `onChange` reloads the list after an action; `showError(e)` reports a failed request.
 */
export function bookingMailFailures(b, onChange, showError) {
  const failures = b.mail_failures || [];
  if (!failures.length) return null;
  const box = h('div', { class: 'notice notice-warning mail-failures', testid: 'mail-failures', attrs: { role: 'status' } }, h('strong', { text: t('mail.failed_title') }));
  for (const f of failures) box.appendChild(failureItem(b, f, onChange, showError));
  return box;
}

function failureItem(b, f, onChange, showError) {
  const base = `/api/booking/bookings/${encodeURIComponent(b.id)}/mail/${encodeURIComponent(f.id)}`;
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const email = field('email', t('mail.new_address'), { type: 'email', value: b.email, autocomplete: 'off', testid: 'mail-resend-email' });
  const form = h(
    'form',
    { class: 'mail-resend', noValidate: true, testid: 'mail-resend-form', onsubmit: resend },
    email.element,
    h('button', { type: 'submit', class: 'button button-primary', text: t('mail.correct_and_resend'), testid: 'mail-resend' }),
  );
  const reached = h('button', { type: 'button', class: 'button button-quiet', text: t('mail.reached'), testid: 'mail-reached', onclick: markReached });
  async function resend(ev) {
    ev.preventDefault();
    clearFieldErrors(form);
    try {
      await post(`${base}/resend`, { email: email.input.value.trim() });
    } catch (e) {
      showFieldErrors(form, e, status);
      return;
    }
    clear(status);
    status.appendChild(notice(t('mail.resent'), 'success', 'mail-resent'));
    await onChange();
  }
  async function markReached() {
    try {
      await post(`${base}/reached`);
    } catch (e) {
      showError(e);
      return;
    }
    await onChange();
  }
  return h('div', { class: 'mail-failure', testid: 'mail-failure', dataset: { mailId: f.id, kind: f.kind } }, ...reasonLines(f), form, h('div', { class: 'session-actions' }, reached), status);
}

/** The workspace's notice of notifications to the counsellor that could not be delivered. */
export function ownMailFailuresSection() {
  const section = h('div', { testid: 'own-mail-failures' });
  async function load() {
    let failures = [];
    try {
      failures = await get('/api/mail/failures');
    } catch {
      return;
    }
    clear(section);
    if (!failures.length) return;
    const box = h('div', { class: 'notice notice-warning', attrs: { role: 'status' } }, h('strong', { text: t('mail.own_title') }), h('p', { text: t('mail.own_hint') }));
    for (const f of failures) {
      box.appendChild(
        h(
          'div',
          { class: 'mail-failure', testid: 'own-mail-failure', dataset: { mailId: f.id, kind: f.kind } },
          ...reasonLines(f),
          h('button', { type: 'button', class: 'button button-quiet', text: t('mail.acknowledge'), testid: 'own-mail-acknowledge', onclick: async () => { await post(`/api/mail/failures/${encodeURIComponent(f.id)}/acknowledge`).catch(() => {}); load(); } }),
        ),
      );
    }
    section.appendChild(box);
  }
  load();
  return { element: section, load };
}
