// The counsellor's workspace (the dashboard): today's view, instant sessions, walk-ins, bookings,
// calendars, signatures and settings, one section at a time (workspace.js), with the counts of
// waiting clients kept live.

import { t, errorText, formatTime } from '../shared/i18n.js';
import './i18n-dashboard.js';
import { h, clear, appRoot, pageHeader, notice, linkField, confirmButton } from '../shared/ui.js';
import { get, post, api, ApiError, redirectIfUnauthorized } from '../shared/api.js';
import { bookingsSection, messagesSection, bookingSettingsSection, calendarBlocks } from '../booking/dashboard-booking.js';
import { signaturesSection } from '../signature/dashboard-signature.js';
import { walkinSection } from '../walkin/dashboard-walkin.js';
import { ownMailFailuresSection } from '../booking/dashboard-mail.js';
import { KnockAlert, knockControls } from '../shared/knock-alert.js';
import { workspace, sectionOf, moveInto } from './workspace.js';
import { todayView } from './today.js';

/** How often the sessions are asked for clients waiting in their waiting rooms, in ms. */
const WAITING_POLL_MS = 5000;

const app = appRoot();
clear(app);
/** The page's title: the open section's name and the product's (the knock count goes in front). */
let pageTitle = `${t('ws.section.' + sectionOf(location.hash))} – ${t('app.name')}`;
document.title = pageTitle;
// Knocks on the counsellor's sessions: counted in the title, heard, and notified. Made before
// the walk-in section's, so that the title is this page's own.
const sessionKnocks = new KnockAlert({ title: () => pageTitle });

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
  h('h2', { id: 'settings-heading', text: t('ws.call_settings') }),
  h('div', { class: 'check' }, allowUnencrypted, h('label', { for: 'allow-unencrypted', text: t('dashboard.allow_unencrypted') })),
  h('p', { class: 'hint', text: t('dashboard.allow_unencrypted_hint') }),
  settingsStatus,
);

// Account: change the password (the current one is required; other login sessions end). Each
// field says what is wrong with it; the success is announced in the form's live region.
function passwordField(id, label, autocomplete) {
  const error = h('p', { class: 'field-error', id: `${id}-error`, testid: `${id}-error`, attrs: { 'aria-live': 'polite' } });
  const input = h('input', { id, type: 'password', autocomplete, testid: id, attrs: { 'aria-describedby': error.id } });
  return { input, error, element: h('div', { class: 'field' }, h('label', { for: id, text: label }), input, error) };
}
const currentPassword = passwordField('current-password', t('account.current'), 'current-password');
const newPassword = passwordField('new-password', t('account.new'), 'new-password');
const repeatPassword = passwordField('repeat-password', t('account.repeat'), 'new-password');
const passwordFields = [currentPassword, newPassword, repeatPassword];
const passwordButton = h('button', { type: 'submit', class: 'button', text: t('account.change'), testid: 'change-password-button' });
const passwordStatus = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
const passwordForm = h(
  'form',
  { class: 'panel account', noValidate: true, testid: 'password-form', onsubmit: onChangePassword, attrs: { 'aria-labelledby': 'account-heading' } },
  h('h2', { id: 'account-heading', text: t('account.title') }),
  h('p', { class: 'hint', text: t('account.hint') }),
  ...passwordFields.map((f) => f.element),
  passwordButton,
  passwordStatus,
);

/** Marks the fields in `errors` (field → text), the first one focused; clears the others. */
function passwordErrors(errors) {
  let first = null;
  for (const f of passwordFields) {
    const text = errors.get(f) || '';
    f.error.textContent = text;
    if (text) f.input.setAttribute('aria-invalid', 'true');
    else f.input.removeAttribute('aria-invalid');
    if (text && !first) first = f;
  }
  if (first) first.input.focus();
}

async function onChangePassword(event) {
  event.preventDefault();
  clear(passwordStatus);
  const errors = new Map();
  for (const f of passwordFields) if (!f.input.value) errors.set(f, t('ws.required'));
  if (!errors.size && newPassword.input.value !== repeatPassword.input.value) errors.set(repeatPassword, t('account.mismatch'));
  passwordErrors(errors);
  if (errors.size) return;
  passwordButton.disabled = true;
  try {
    await post('/api/me/password', { current_password: currentPassword.input.value, new_password: newPassword.input.value });
    for (const f of passwordFields) f.input.value = '';
    passwordStatus.appendChild(notice(t('account.changed'), 'success', 'password-changed'));
  } catch (e) {
    if (!redirectIfUnauthorized(e)) {
      const field = e instanceof ApiError ? e.field : null;
      if (field === 'current_password') passwordErrors(new Map([[currentPassword, t('account.wrong_current')]]));
      else if (field === 'new_password') passwordErrors(new Map([[newPassword, t('account.weak')]]));
      else passwordStatus.appendChild(notice(errorText(e instanceof ApiError ? e.code : 'generic'), 'error', 'password-error'));
    }
  }
  passwordButton.disabled = false;
}

// The sections. The instant-session form belongs to "today" and "sessions" alike: it moves into
// whichever of them is open.
const today = todayView();
const walkins = walkinSection({ onWaiting: (n) => setWalkinWaiting(n) });
const bookings = bookingsSection();
const startSlots = { today: h('div', { class: 'ws-slot' }), sessions: h('div', { class: 'ws-slot' }) };
const calendarsPanel = h(
  'section',
  { class: 'panel calendars', testid: 'calendars', attrs: { 'aria-labelledby': 'calendars-heading' } },
  h('h2', { id: 'calendars-heading', text: t('ws.calendars_title') }),
  h('p', { class: 'hint', text: t('ws.calendars_hint') }),
  ...calendarBlocks(),
);
const ws = workspace({
  content: {
    today: [ownMailFailuresSection().element, ...today.element, startSlots.today],
    sessions: [startSlots.sessions, listSection],
    walkins: [walkins.element],
    bookings: [bookings.element, messagesSection().element, bookingSettingsSection().element],
    calendars: [calendarsPanel],
    signatures: [signaturesSection().element],
    settings: [settingsSection, passwordForm],
  },
  onShow: (id) => {
    pageTitle = `${t('ws.section.' + id)} – ${t('app.name')}`;
    sessionKnocks.update(sessionKnocks.count);
    if (startSlots[id]) moveInto(startSlots[id], startForm);
    if (id === 'today') today.load();
    if (id === 'bookings') bookings.load();
  },
});
// A walk-in ring shows above whichever section is open.
ws.main.insertBefore(walkins.ring, ws.main.children[1]);

let lobbyWaiting = 0;
let walkinWaiting = 0;
function setWalkinWaiting(n) {
  today.setWalkins(n);
  walkinWaiting = n || 0;
  showCounts();
}
function setLobby(sessions) {
  today.setLobby(sessions);
  lobbyWaiting = waitingIn(sessions);
  showCounts();
}
/** The nav's badges: waiting rooms at "sessions", the queue at "walk-ins", both at "today". */
function showCounts() {
  ws.setBadge('sessions', lobbyWaiting);
  ws.setBadge('walkins', walkinWaiting);
  ws.setBadge('today', lobbyWaiting + walkinWaiting);
}

app.append(pageHeader(who, logout), h('div', { class: 'workspace' }, ws.nav, ws.main));
ws.show(sectionOf(location.hash));

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
    setLobby(sessions);
  } catch (e) {
    if (redirectIfUnauthorized(e)) return;
  }
  setTimeout(pollWaiting, WAITING_POLL_MS);
}

async function load() {
  try {
    const sessions = await get('/api/sessions');
    sessionKnocks.update(waitingIn(sessions));
    setLobby(sessions);
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
