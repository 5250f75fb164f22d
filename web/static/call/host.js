// The counsellor's call page (/s/{session_id}): join link, waiting room, call, end session.

import { t, errorText, formatTime } from '../shared/i18n.js';
import { h, clear, pageData, appRoot, pageHeader, notice, linkField, confirmButton, announce } from '../shared/ui.js';
import { api, post, ApiError, redirectIfUnauthorized } from '../shared/api.js';
import { Signaling } from './signaling.js';
import { acquireMedia } from './media.js';
import { Call, confidant } from './call.js';
import { KnockAlert, knockControls } from '../shared/knock-alert.js';

const { sessionId: dataId, protocolVersion } = pageData();
const sessionId = dataId || decodeURIComponent((location.pathname.match(/^\/s\/([^/?#]+)/) || [])[1] || '');

const app = appRoot();
const backLink = h('a', { class: 'button button-quiet', href: '/dashboard', text: t('host.back'), testid: 'back-to-dashboard' });
const header = pageHeader(backLink);
const main = h('main', { class: 'page host-page', id: 'main' });
const topBar = h('div', { class: 'host-top' });
const callArea = h('div', { class: 'call-area' });
// A knock is seen on the first screen, wherever the waiting room sits (on a phone: below the
// videos): a bar at the top that names who waits and leads to the waiting room.
const knockText = h('span', { class: 'knock-text', testid: 'knock-text' });
const knockBar = h(
  'div',
  { class: 'knock-bar', testid: 'knock-bar', hidden: true, attrs: { role: 'status' } },
  knockText,
  h('button', {
    type: 'button',
    class: 'button button-primary',
    text: t('host.to_lobby'),
    testid: 'knock-show',
    onclick: () => {
      lobbyPanel.scrollIntoView({ block: 'center' });
      const first = lobbyPanel.querySelector('[data-testid="admit-button"]');
      if (first) first.focus({ preventScroll: true });
    },
  }),
);
// A knock is also heard, counted in the title and (if allowed) shown as a desktop notification.
const knockAlert = new KnockAlert({ title: () => `${t('host.title')} – ${t('app.name')}` });
clear(app);
app.append(header, main);
main.append(knockBar, topBar, callArea);
document.title = `${t('host.title')} – ${t('app.name')}`;
confidant.state = 'loading';
callArea.appendChild(h('p', { class: 'empty-hint', text: t('common.loading') }));

let call = null;
let signaling = null;
const lobbyList = h('ul', { class: 'lobby-list', testid: 'lobby-list' });
const lobbyEmpty = h('p', { class: 'empty-hint', testid: 'lobby-empty', text: t('host.lobby_empty') });
const lobbyPanel = h(
  'section',
  { class: 'panel lobby-panel', testid: 'lobby-panel', attrs: { 'aria-labelledby': 'lobby-heading' } },
  h('h2', { id: 'lobby-heading' }, t('host.lobby'), ' ', h('span', { class: 'count', testid: 'lobby-count', text: '0' })),
  knockControls(),
  lobbyEmpty,
  lobbyList,
);
let knownLobby = new Set();

function fail(text) {
  clear(callArea);
  callArea.appendChild(notice(text, 'error', 'host-error'));
}

function renderLobby(waiting) {
  clear(lobbyList);
  lobbyEmpty.hidden = waiting.length > 0;
  lobbyPanel.querySelector('.count').textContent = String(waiting.length);
  knockBar.hidden = waiting.length === 0;
  knockAlert.update(waiting.length);
  knockText.textContent =
    waiting.length === 1 ? t('host.someone_waiting', { name: waiting[0].name }) : waiting.length > 1 ? t('host.several_waiting', { n: waiting.length }) : '';
  const now = new Set();
  for (const entry of waiting) {
    now.add(entry.lobby_id);
    if (!knownLobby.has(entry.lobby_id)) announce(t('host.someone_waiting', { name: entry.name }));
    const admit = h('button', {
      type: 'button',
      class: 'button button-primary',
      text: t('host.admit'),
      testid: 'admit-button',
      dataset: { lobbyName: entry.name, lobbyId: entry.lobby_id },
      attrs: { 'aria-label': t('host.admit_label', { name: entry.name }) },
      onclick: () => {
        admit.disabled = true;
        reject.disabled = true;
        signaling.send({ type: 'admit', lobby_id: entry.lobby_id });
      },
    });
    const reject = h('button', {
      type: 'button',
      class: 'button button-quiet',
      text: t('host.reject'),
      testid: 'reject-button',
      dataset: { lobbyName: entry.name, lobbyId: entry.lobby_id },
      attrs: { 'aria-label': t('host.reject_label', { name: entry.name }) },
      onclick: () => {
        admit.disabled = true;
        reject.disabled = true;
        signaling.send({ type: 'reject', lobby_id: entry.lobby_id });
      },
    });
    lobbyList.appendChild(
      h(
        'li',
        { class: 'lobby-entry', testid: 'lobby-entry', dataset: { lobbyName: entry.name, lobbyId: entry.lobby_id } },
        h(
          'div',
          { class: 'lobby-who' },
          h('span', { class: 'lobby-name', testid: 'lobby-name', text: entry.name }),
          entry.e2ee === false
            ? h('span', { class: 'badge badge-warn', testid: 'lobby-unencrypted', text: t('e2ee.lobby_unencrypted') })
            : null,
          h('span', { class: 'lobby-since', text: t('host.waiting_since', { time: formatTime(entry.since, false) }) }),
        ),
        h('div', { class: 'lobby-actions' }, admit, reject),
      ),
    );
  }
  knownLobby = now;
}

async function endSession() {
  try {
    await post(`/api/sessions/${encodeURIComponent(sessionId)}/end`);
  } catch (e) {
    if (redirectIfUnauthorized(e)) return;
    // fall back to the websocket
    if (!(signaling && signaling.send({ type: 'end_session' }))) {
      if (call) call.showBanner(errorText(e.code || 'generic'), 'error');
      return;
    }
  }
  // the server sends session_ended; if it does not arrive soon, end locally
  setTimeout(() => {
    if (call && call.state !== 'ended') call.finish('ended', 'ended_by_host');
  }, 3000);
}

function renderTop(session) {
  clear(topBar);
  topBar.append(
    h(
      'div',
      { class: 'host-title' },
      h('h1', { text: session.title || t('dashboard.untitled') }),
      h('span', { class: `status status-${session.status}`, testid: 'session-status', text: t('status.' + session.status) }),
    ),
  );
  if (session.status === 'active') {
    topBar.append(
      linkField(session.join_url, { label: t('host.join_link'), hint: t('host.join_link_hint'), testid: 'join-link' }),
    );
  }
}

async function main_() {
  let session;
  try {
    session = await api('GET', `/api/sessions/${encodeURIComponent(sessionId)}`);
  } catch (e) {
    if (redirectIfUnauthorized(e)) return;
    fail(errorText(e instanceof ApiError ? e.code : 'generic'));
    return;
  }
  renderTop(session);
  if (session.status !== 'active') {
    confidant.state = 'inactive';
    fail(t('host.not_active', { status: t('status.' + session.status) }));
    return;
  }

  const [{ stream, error: mediaError }, tokenResult] = await Promise.all([
    acquireMedia(),
    post(`/api/sessions/${encodeURIComponent(sessionId)}/host-token`).then(
      (v) => ({ ok: v }),
      (e) => ({ err: e }),
    ),
  ]);
  if (tokenResult.err) {
    if (redirectIfUnauthorized(tokenResult.err)) return;
    fail(errorText(tokenResult.err.code || 'generic'));
    return;
  }
  const { room, token } = tokenResult.ok;

  signaling = new Signaling({ version: protocolVersion });
  signaling.on('lobby', (m) => renderLobby(m.waiting || []));
  const endButton = confirmButton({
    label: t('host.end'),
    question: t('host.confirm_end'),
    yes: t('host.confirm_end_yes'),
    testid: 'end-session-button',
    confirmTestid: 'end-session-confirm',
    onConfirm: endSession,
  });
  call = new Call({
    signaling,
    localStream: stream,
    role: 'host',
    finishedExtras: () => [h('p', {}, h('a', { class: 'button', href: '/dashboard', text: t('host.back') }))],
    onFinished: (kind) => {
      if (kind === 'ended') {
        clear(topBar);
      }
    },
  });
  clear(callArea);
  main.classList.add('call-page');
  call.mount(callArea, { sidePanels: [lobbyPanel], extraControls: [endButton] });
  if (mediaError) call.showBanner(t('join.no_media', { detail: mediaError }), 'error');
  try {
    await signaling.connect();
  } catch {
    call.finish('lost');
    return;
  }
  call.join({ room, token, version: protocolVersion });
}

main_();
