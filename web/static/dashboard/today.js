// The workspace's "today" view: who is waiting right now (clients in the waiting rooms of the
// counsellor's sessions, and in the walk-in queue), updated live, and the day's next
// appointments with what each needs: the button into the video room, the client's phone number,
// or the address. When nothing is left today, the next appointments of the coming days.

import { t } from '../shared/i18n.js';
import './i18n-dashboard.js';
import { h, clear } from '../shared/ui.js';
import { get, redirectIfUnauthorized } from '../shared/api.js';
import { kindLabel, formatClock, formatDay, dayKey, startOfDay, addDays, bookingStatus } from '../booking/booking-ui.js';

/** How far ahead the view looks when today has no appointment left, in days. */
const AHEAD_DAYS = 7;
/** How many appointments of the coming days it lists at most. */
const AHEAD_MAX = 5;
/** How often the appointments are fetched again (ones that ended drop off), in ms. */
const REFRESH_MS = 60_000;

/** Bookings that still happen: neither cancelled nor declined, not yet over. */
function upcoming(bookings, now) {
  return bookings.filter((b) => (b.status === 'confirmed' || b.status === 'pending') && Date.parse(b.end) > now);
}

/** What the counsellor needs at hand for one appointment: join, call, or go there. */
function reach(b) {
  if (b.kind === 'video' && b.session_id) {
    return h('a', { class: 'button button-primary', href: `/s/${encodeURIComponent(b.session_id)}`, text: t('ws.join'), testid: 'today-join' });
  }
  if (b.kind === 'phone' && b.phone) {
    return h('p', { class: 'today-reach' }, t('ws.phone') + ' ', h('a', { href: `tel:${b.phone.replace(/[^+\d]/g, '')}`, text: b.phone, testid: 'today-phone' }));
  }
  if (b.kind === 'on_site' && b.address) {
    return h('p', { class: 'today-reach', testid: 'today-address', text: `${t('ws.address')} ${b.address}` });
  }
  return null;
}

function item(b, withDay) {
  const when = `${withDay ? formatDay(b.start) + ', ' : ''}${formatClock(b.start)}–${formatClock(b.end)}`;
  return h(
    'li',
    { class: 'session-item today-item', testid: 'today-item', dataset: { bookingId: b.id, kind: b.kind, status: b.status } },
    h('div', { class: 'session-head' }, h('h3', {}, h('span', { class: 'today-time', text: when }), ' ', `${b.first_name} ${b.last_name}`.trim()), bookingStatus(b.status)),
    h('p', { class: 'session-times', text: `${b.type_name} · ${kindLabel(b.kind)}` }),
    h('div', { class: 'session-actions' }, reach(b)),
  );
}

/**
 * The view. Returns `{ element, load, setLobby(sessions), setWalkins(n) }`: `setLobby` takes
 * the counsellor's sessions (with their `waiting` counts), `setWalkins` the walk-in queue's
 * length, or null while walk-ins are off.
 */
export function todayView() {
  const lobbyCount = h('p', { class: 'today-count', testid: 'today-lobby-waiting', dataset: { count: '0' } });
  const lobbyList = h('ul', { class: 'plain-list today-lobby-list', testid: 'today-lobby-list' });
  const walkinCount = h('p', { class: 'today-count', testid: 'today-walkin-waiting', dataset: { count: '' } });
  const walkinLink = h('a', { href: '#walkins', testid: 'today-walkin-link' });
  const waiting = h(
    'section',
    { class: 'panel today-waiting', testid: 'today-waiting', attrs: { 'aria-labelledby': 'today-waiting-heading' } },
    h('h2', { id: 'today-waiting-heading', text: t('ws.waiting_title') }),
    // Polite: a change of a count is read out once, between other speech.
    h('div', { attrs: { 'aria-live': 'polite' } }, lobbyCount, walkinCount),
    lobbyList,
    h('p', {}, walkinLink),
  );

  // Team invitations wait in the booking settings: said here, so that they are not missed.
  const invitations = h('p', { class: 'notice notice-info', hidden: true, testid: 'today-invitations', attrs: { role: 'status' } });
  const listHeading = h('h2', { id: 'today-list-heading', text: t('ws.appointments_today') });
  const listStatus = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const list = h('ul', { class: 'session-list', testid: 'today-list' });
  const appointments = h(
    'section',
    { class: 'panel today-appointments', testid: 'today-appointments', attrs: { 'aria-labelledby': 'today-list-heading' } },
    h('div', { class: 'section-head' }, listHeading, h('a', { href: '#bookings', text: t('ws.all_bookings'), testid: 'today-all-bookings' })),
    invitations,
    listStatus,
    list,
  );

  let lobbyText = null;
  function setLobby(sessions) {
    const open = sessions.filter((s) => (s.status === 'active' || s.status === 'revoked') && s.waiting > 0);
    const n = open.reduce((sum, s) => sum + s.waiting, 0);
    const text = t('ws.lobby_waiting', { n });
    // Only a change touches the live region.
    if (text !== lobbyText) {
      lobbyText = text;
      lobbyCount.textContent = text;
      lobbyCount.dataset.count = String(n);
    }
    const key = open.map((s) => `${s.id}:${s.waiting}`).join(',');
    if (lobbyList.dataset.key === key) return;
    lobbyList.dataset.key = key;
    clear(lobbyList);
    for (const s of open) {
      lobbyList.appendChild(
        h(
          'li',
          { testid: 'today-lobby-session', dataset: { sessionId: s.id } },
          h('span', { text: `${s.title || t('dashboard.untitled')}: ${t('dashboard.waiting', { n: s.waiting })}` }),
          ' ',
          h('a', { class: 'button button-primary', href: `/s/${encodeURIComponent(s.id)}`, text: t('dashboard.open'), testid: 'today-lobby-open' }),
        ),
      );
    }
  }

  function setWalkins(n) {
    const text = n === null ? t('ws.walkin_off') : t('ws.walkin_waiting', { n });
    if (walkinCount.textContent !== text) walkinCount.textContent = text;
    walkinCount.dataset.count = n === null ? '' : String(n);
    walkinLink.textContent = n === null ? t('ws.walkin_setup') : t('ws.walkin_go');
  }
  setWalkins(null);
  setLobby([]);

  let timer = null;
  async function load() {
    clearTimeout(timer);
    timer = setTimeout(load, REFRESH_MS);
    const now = Date.now();
    const today = startOfDay(new Date(now));
    get('/api/booking/invitations').then(
      (open) => {
        clear(invitations);
        invitations.hidden = !open.length;
        if (open.length) invitations.append(t('ws.invitations', { n: open.length }) + ' ', h('a', { href: '#bookings', text: t('ws.invitations_go') }));
      },
      () => {},
    );
    let bookings;
    try {
      const q = new URLSearchParams({ from: today.toISOString(), to: addDays(today, AHEAD_DAYS + 1).toISOString() });
      bookings = upcoming(await get(`/api/booking/bookings?${q}`), now);
    } catch (e) {
      if (redirectIfUnauthorized(e)) return;
      clear(listStatus);
      listStatus.appendChild(h('p', { class: 'hint', text: t('ws.appointments_failed') }));
      return;
    }
    clear(listStatus);
    const todays = bookings.filter((b) => dayKey(b.start) === dayKey(now));
    const shown = todays.length ? todays : bookings.slice(0, AHEAD_MAX);
    listHeading.textContent = todays.length || !shown.length ? t('ws.appointments_today') : t('ws.appointments_next');
    appointments.dataset.showing = todays.length ? 'today' : 'ahead';
    clear(list);
    if (!todays.length) list.appendChild(h('li', { class: 'empty-hint', testid: 'today-none', text: shown.length ? t('ws.none_today') : t('ws.none_ahead', { n: AHEAD_DAYS }) }));
    for (const b of shown) list.appendChild(item(b, !todays.length));
  }

  return { element: [waiting, appointments], load, setLobby, setWalkins };
}
