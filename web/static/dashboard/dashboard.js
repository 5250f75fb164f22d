// Counsellor dashboard: start an instant session, list own sessions, logout.

import { t, errorText, formatTime } from '../shared/i18n.js';
import { h, clear, appRoot, pageHeader, notice, linkField, confirmButton } from '../shared/ui.js';
import { get, post, api, ApiError, redirectIfUnauthorized } from '../shared/api.js';
import { bookingsSection, messagesSection, bookingSettingsSection } from '../booking/dashboard-booking.js';
import { signaturesSection } from '../signature/dashboard-signature.js';
import { walkinSection } from '../walkin/dashboard-walkin.js';
import { ownMailFailuresSection } from '../booking/dashboard-mail.js';
import { KnockAlert, knockControls } from '../shared/knock-alert.js';

/** How often the sessions are asked for clients waiting in their waiting rooms, in ms. */
const WAITING_POLL_MS = 5000;

const app = appRoot();
clear(app);
document.title = `${t('dashboard.title')} – ${t('app.name')}`;

const who = h('span', { class: 'who', testid: 'who' });
const logout = h('button', {
  type: 'button',
  class: 'button button-quiet',
  text: t('dashboard.logout'),
  testid: 'logout-button',
  onclick: async () => {
    try {
      await post('/api/auth/logout');
    } catch {
      // the cookie may already be gone; go to the login either way
    }
    location.assign('/login');
  },
});

const titleInput = h('input', { id: 'session-title', type: 'text', maxLength: 200, testid: 'session-title-input', autocomplete: 'off' });
const startButton = h('button', { type: 'submit', class: 'button button-primary', text: t('dashboard.start'), testid: 'start-session-button' });
const startStatus = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
const startForm = h(
  'form',
  { class: 'panel start-form', onsubmit: onStart },
  h('h2', { text: t('dashboard.new') }),
  h('p', { class: 'hint', text: t('dashboard.new_hint') }),
  h('div', { class: 'field' }, h('label', { for: 'session-title', text: t('dashboard.title_label') }), titleInput),
  startButton,
  startStatus,
);

const listStatus = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
const list = h('ul', { class: 'session-list', testid: 'session-list' });
const refreshButton = h('button', { type: 'button', class: 'button button-quiet', text: t('dashboard.refresh'), onclick: () => load() });
const listSection = h(
  'section',
  { class: 'panel sessions', attrs: { 'aria-labelledby': 'sessions-heading' } },
  h('div', { class: 'section-head' }, h('h2', { id: 'sessions-heading', text: t('dashboard.list') }), refreshButton),
  knockControls(),
  listStatus,
  list,
);

// Settings: whether browsers that cannot encrypt end to end may join unencrypted.
const allowUnencrypted = h('input', { id: 'allow-unencrypted', type: 'checkbox', testid: 'allow-unencrypted-toggle', disabled: true });
const settingsStatus = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
allowUnencrypted.addEventListener('change', async () => {
  allowUnencrypted.disabled = true;
  clear(settingsStatus);
  try {
    const me = await api('PATCH', '/api/me', { allow_unencrypted_join: allowUnencrypted.checked });
    allowUnencrypted.checked = !!me.allow_unencrypted_join;
    settingsStatus.appendChild(notice(t('dashboard.saved'), 'success', 'settings-saved'));
  } catch (e) {
    allowUnencrypted.checked = !allowUnencrypted.checked;
    handleError(e, settingsStatus);
  }
  allowUnencrypted.disabled = false;
});
const settingsSection = h(
  'section',
  { class: 'panel settings', attrs: { 'aria-labelledby': 'settings-heading' } },
  h('h2', { id: 'settings-heading', text: t('dashboard.settings') }),
  h('div', { class: 'check' }, allowUnencrypted, h('label', { for: 'allow-unencrypted', text: t('dashboard.allow_unencrypted') })),
  h('p', { class: 'hint', text: t('dashboard.allow_unencrypted_hint') }),
  settingsStatus,
);

// Account: change the password (the current one is required; other login sessions end).
const currentPassword = h('input', { id: 'current-password', type: 'password', autocomplete: 'current-password', required: true, testid: 'current-password' });
const newPassword = h('input', { id: 'new-password', type: 'password', autocomplete: 'new-password', required: true, minLength: 12, testid: 'new-password' });
const repeatPassword = h('input', { id: 'repeat-password', type: 'password', autocomplete: 'new-password', required: true, testid: 'repeat-password' });
const passwordButton = h('button', { type: 'submit', class: 'button', text: t('account.change'), testid: 'change-password-button' });
const passwordStatus = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
const passwordForm = h(
  'form',
  { class: 'panel account', onsubmit: onChangePassword, attrs: { 'aria-labelledby': 'account-heading' } },
  h('h2', { id: 'account-heading', text: t('account.title') }),
  h('p', { class: 'hint', text: t('account.hint') }),
  h('div', { class: 'field' }, h('label', { for: 'current-password', text: t('account.current') }), currentPassword),
  h('div', { class: 'field' }, h('label', { for: 'new-password', text: t('account.new') }), newPassword),
  h('div', { class: 'field' }, h('label', { for: 'repeat-password', text: t('account.repeat') }), repeatPassword),
  passwordButton,
  passwordStatus,
);

async function onChangePassword(event) {
  event.preventDefault();
  clear(passwordStatus);
  if (newPassword.value !== repeatPassword.value) {
    passwordStatus.appendChild(notice(t('account.mismatch'), 'error', 'password-error'));
    repeatPassword.focus();
    return;
  }
  passwordButton.disabled = true;
  try {
    await post('/api/me/password', { current_password: currentPassword.value, new_password: newPassword.value });
    for (const input of [currentPassword, newPassword, repeatPassword]) input.value = '';
    passwordStatus.appendChild(notice(t('account.changed'), 'success', 'password-changed'));
  } catch (e) {
    if (!redirectIfUnauthorized(e)) {
      const text =
        e instanceof ApiError && e.field === 'current_password'
          ? t('account.wrong_current')
          : e instanceof ApiError && e.field === 'new_password'
            ? t('account.weak')
            : errorText(e instanceof ApiError ? e.code : 'generic');
      passwordStatus.appendChild(notice(text, 'error', 'password-error'));
      (e instanceof ApiError && e.field === 'new_password' ? newPassword : currentPassword).focus();
    }
  }
  passwordButton.disabled = false;
}

app.append(
  pageHeader(who, logout),
  h(
    'main',
    { class: 'page dashboard-page', id: 'main' },
    h('h1', { text: t('dashboard.title') }),
    ownMailFailuresSection().element,
    startForm,
    walkinSection().element,
    bookingsSection().element,
    listSection,
    messagesSection().element,
    signaturesSection().element,
    bookingSettingsSection().element,
    settingsSection,
    passwordForm,
  ),
);

function handleError(e, statusEl) {
  if (redirectIfUnauthorized(e)) return;
  clear(statusEl);
  statusEl.appendChild(notice(errorText(e instanceof ApiError ? e.code : 'generic'), 'error'));
}

async function onStart(event) {
  event.preventDefault();
  startButton.disabled = true;
  startButton.textContent = t('dashboard.starting');
  clear(startStatus);
  const title = titleInput.value.trim();
  try {
    const session = await post('/api/sessions', title ? { title } : {});
    location.assign(`/s/${encodeURIComponent(session.id)}`);
    return;
  } catch (e) {
    handleError(e, startStatus);
  }
  startButton.disabled = false;
  startButton.textContent = t('dashboard.start');
}

async function action(session, verb) {
  try {
    await post(`/api/sessions/${encodeURIComponent(session.id)}/${verb}`);
  } catch (e) {
    handleError(e, listStatus);
  }
  await load();
}

function renderSession(s) {
  const times = [t('dashboard.created', { time: formatTime(s.created_at) })];
  if (s.status === 'ended' && s.ended_at) times.push(t('dashboard.ended_at', { time: formatTime(s.ended_at) }));
  else times.push(t('dashboard.expires', { time: formatTime(s.expires_at) }));
  const actions = h('div', { class: 'session-actions' });
  if (s.status === 'active' || s.status === 'revoked') {
    actions.append(h('a', { class: 'button button-primary', href: `/s/${encodeURIComponent(s.id)}`, text: t('dashboard.open'), testid: 'open-session' }));
  }
  if (s.status === 'active') {
    actions.append(
      confirmButton({
        label: t('dashboard.revoke'),
        question: t('dashboard.confirm_revoke'),
        yes: t('dashboard.confirm_yes'),
        testid: 'revoke-button',
        confirmTestid: 'revoke-confirm',
        onConfirm: () => action(s, 'revoke'),
      }),
    );
  }
  if (s.status === 'active' || s.status === 'revoked') {
    actions.append(
      confirmButton({
        label: t('dashboard.end'),
        question: t('dashboard.confirm_end'),
        yes: t('dashboard.confirm_yes'),
        testid: 'end-button',
        confirmTestid: 'end-confirm',
        onConfirm: () => action(s, 'end'),
      }),
    );
  }
  return h(
    'li',
    { class: 'session-item', testid: 'session-item', dataset: { sessionId: s.id, status: s.status } },
    h(
      'div',
      { class: 'session-head' },
      h('h3', { text: s.title || t('dashboard.untitled') }),
      h('span', { class: `status status-${s.status}`, text: t('status.' + s.status) }),
    ),
    h('p', { class: 'session-times', text: times.join(' · ') }),
    waitingBadge(s),
    s.status === 'active' ? linkField(s.join_url, { label: t('host.join_link'), testid: 'session-link' }) : null,
    actions,
  );
}

/** "2 waiting" beside a session whose waiting room has clients (no names: those are on its
 * call page, behind "Open"). */
function waitingBadge(s) {
  return h('p', {
    class: 'badge badge-warn session-waiting',
    testid: 'session-waiting',
    hidden: !s.waiting,
    text: t('dashboard.waiting', { n: s.waiting || 0 }),
    attrs: { role: 'status' },
  });
}

// Knocks on the counsellor's sessions: counted in the title, heard, and notified.
const sessionKnocks = new KnockAlert({ title: () => `${t('dashboard.title')} – ${t('app.name')}` });
const waitingIn = (sessions) => sessions.reduce((n, s) => n + (s.status === 'active' || s.status === 'revoked' ? s.waiting || 0 : 0), 0);

/** Updates the waiting counts in place (the list is rebuilt only by `load`, so focus stays). */
async function pollWaiting() {
  try {
    const sessions = await get('/api/sessions');
    for (const s of sessions) {
      const item = list.querySelector(`[data-session-id="${CSS.escape(s.id)}"]`);
      const badge = item && item.querySelector('[data-testid="session-waiting"]');
      if (!badge) continue;
      badge.hidden = !s.waiting;
      badge.textContent = t('dashboard.waiting', { n: s.waiting || 0 });
    }
    sessionKnocks.update(waitingIn(sessions));
  } catch (e) {
    if (redirectIfUnauthorized(e)) return;
  }
  setTimeout(pollWaiting, WAITING_POLL_MS);
}

async function load() {
  try {
    const sessions = await get('/api/sessions');
    sessionKnocks.update(waitingIn(sessions));
    clear(list);
    clear(listStatus);
    if (!sessions || sessions.length === 0) {
      list.appendChild(h('li', { class: 'empty-hint', text: t('dashboard.empty') }));
      return;
    }
    for (const s of sessions) list.appendChild(renderSession(s));
  } catch (e) {
    handleError(e, listStatus);
  }
}

get('/api/me').then(
  (me) => {
    who.textContent = t('dashboard.signed_in_as', { name: me.name || me.email });
    allowUnencrypted.checked = !!me.allow_unencrypted_join;
    allowUnencrypted.disabled = false;
  },
  (e) => redirectIfUnauthorized(e),
);
load();
setTimeout(pollWaiting, WAITING_POLL_MS);
