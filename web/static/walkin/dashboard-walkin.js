// The dashboard's walk-in section: settings (topics, languages, opening hours), presence, and
// the ring – visible (a panel with the client's name and topic, accept / pass) and audible (a
// Web Audio tone) – while a walk-in waits for this counsellor.
// The status is polled every 2 s; each poll tells the server the dashboard is open. Closing
// the page sends a beacon, so the counsellor turns away after a short grace.

import { t, errorText } from '../shared/i18n.js';
import './i18n-walkin.js';
import { h, clear, notice, announce } from '../shared/ui.js';
import { get, post, put, ApiError, redirectIfUnauthorized } from '../shared/api.js';
import { KnockAlert, audioContext, knockSoundOn, playTone } from '../shared/knock-alert.js';

const POLL_MS = 2000;
/** Tone of the ring: two short beeps every RING_EVERY_MS. */
const RING_EVERY_MS = 2000;
const RING_HZ = [880, 660];

function beep() {
  // The counsellor's "knock sound: off" silences the ring too; it is still seen and notified.
  if (!knockSoundOn()) return;
  playTone(RING_HZ, 0.22);
  window.__walkinRings = (window.__walkinRings || 0) + 1;
}

/** "09:00-12:00, 14:00-17:00" → [{start_min, end_min}], or null when it does not parse. */
export function parseHours(text) {
  const out = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = part.match(/^(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})$/);
    if (!m) return null;
    const start = Number(m[1]) * 60 + Number(m[2]);
    const end = Number(m[3]) * 60 + Number(m[4]);
    if (Number(m[2]) > 59 || Number(m[4]) > 59 || start >= end || end > 1440) return null;
    out.push({ start_min: start, end_min: end });
  }
  return out;
}

function clock(min) {
  return `${String(Math.floor(min / 60)).padStart(2, '0')}:${String(min % 60).padStart(2, '0')}`;
}

function list(text) {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * The section. `onWaiting(n)` hears the number of clients waiting for a walk-in (null while
 * walk-ins are off). Returns `{ element, ring }`: `ring` is where a ring appears, for the page to
 * put where it is seen whichever part of the workspace is open.
 */
export function walkinSection({ onWaiting = () => {} } = {}) {
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const enabled = h('input', { id: 'walkin-enabled', type: 'checkbox', testid: 'walkin-enabled' });
  const topics = h('input', { id: 'walkin-topics', type: 'text', testid: 'walkin-topics', autocomplete: 'off' });
  const languages = h('input', { id: 'walkin-languages', type: 'text', testid: 'walkin-languages', autocomplete: 'off' });
  const dayInputs = [0, 1, 2, 3, 4, 5, 6].map((d) =>
    h('input', { id: `walkin-day-${d}`, type: 'text', testid: `walkin-hours-${d}`, autocomplete: 'off', placeholder: '09:00-17:00' }),
  );
  const save = h('button', { type: 'submit', class: 'button', text: t('walkin.save'), testid: 'walkin-save' });
  const pageLink = h('p', { class: 'hint', testid: 'walkin-page' });
  const settingsForm = h(
    'form',
    { class: 'walkin-settings', noValidate: true, onsubmit: (e) => onSave(e) },
    h('div', { class: 'check' }, enabled, h('label', { for: 'walkin-enabled', text: t('walkin.enabled') })),
    h('div', { class: 'field' }, h('label', { for: 'walkin-topics', text: t('walkin.topics') }), topics),
    h('div', { class: 'field' }, h('label', { for: 'walkin-languages', text: t('walkin.languages') }), languages),
    h('fieldset', { class: 'walkin-hours' }, h('legend', { text: t('walkin.hours') }), dayInputs.map((input, d) => h('div', { class: 'field' }, h('label', { for: input.id, text: t('weekday.' + d) }), input))),
    save,
  );
  // Folded away once walk-ins are on; open while they are off, so the switch is in sight.
  const settings = h('details', { class: 'walkin-settings-box', testid: 'walkin-settings' }, h('summary', { text: t('walkin.settings') }), settingsForm);

  const presenceButtons = ['available', 'busy', 'away'].map((p) =>
    h('button', {
      type: 'button',
      class: 'button',
      text: t('walkin.set.' + p),
      testid: `presence-${p}`,
      dataset: { presence: p },
      attrs: { 'aria-pressed': 'false' },
      onclick: () => setPresence(p),
    }),
  );
  const presenceText = h('p', { class: 'walkin-presence', testid: 'walkin-presence', attrs: { 'aria-live': 'polite' } });
  const presenceNotes = h('div', {});
  const ringArea = h('div', { class: 'walkin-ring-area', testid: 'walkin-ring-area' });
  // The count of waiting clients in the title, a desktop notification; the ring beeps itself.
  // (The tone and notification controls are the dashboard's, above its sessions.)
  const pageTitle = document.title;
  const knockAlert = new KnockAlert({ title: () => pageTitle, notifyText: 'knock.notify_walkin', tone: false });
  const live = h(
    'div',
    { class: 'walkin-live', hidden: true, testid: 'walkin-live' },
    h('h3', { text: t('walkin.presence') }),
    h('div', { class: 'session-actions', attrs: { role: 'group', 'aria-label': t('walkin.presence') } }, presenceButtons),
    presenceText,
    presenceNotes,
  );
  const element = h(
    'section',
    { class: 'panel walkin', testid: 'walkin-section', attrs: { 'aria-labelledby': 'walkin-heading' } },
    h('h2', { id: 'walkin-heading', text: t('walkin.title') }),
    pageLink,
    live,
    settings,
    status,
  );

  let timer = null;
  let ringTimer = null;
  let ringShown = null;

  function fail(e, where = status) {
    if (redirectIfUnauthorized(e)) return;
    clear(where);
    where.appendChild(notice(errorText(e instanceof ApiError ? e.code : 'generic'), 'error'));
  }

  function fillProfile(p) {
    enabled.checked = !!p.enabled;
    topics.value = p.topics.join(', ');
    languages.value = p.languages.join(', ');
    dayInputs.forEach((input, d) => {
      input.value = p.hours
        .filter((w) => w.weekday === d)
        .map((w) => `${clock(w.start_min)}-${clock(w.end_min)}`)
        .join(', ');
    });
    live.hidden = !p.enabled;
    settings.open = !p.enabled;
    if (!p.enabled) onWaiting(null);
    if (p.enabled) startPolling();
    else stopPolling();
  }

  async function onSave(event) {
    event.preventDefault();
    clear(status);
    const hours = [];
    for (const [d, input] of dayInputs.entries()) {
      const windows = parseHours(input.value);
      if (!windows) {
        input.setAttribute('aria-invalid', 'true');
        status.appendChild(notice(t('walkin.hours_invalid'), 'error', 'walkin-hours-error'));
        input.focus();
        return;
      }
      input.removeAttribute('aria-invalid');
      for (const w of windows) hours.push({ weekday: d, ...w });
    }
    save.disabled = true;
    try {
      const p = await put('/api/walkin/profile', {
        enabled: enabled.checked,
        topics: list(topics.value),
        languages: list(languages.value),
        hours,
      });
      fillProfile(p);
      status.appendChild(notice(t('walkin.saved'), 'success', 'walkin-saved'));
    } catch (e) {
      fail(e);
    }
    save.disabled = false;
  }

  async function setPresence(p) {
    audioContext();
    try {
      render(await put('/api/walkin/presence', { presence: p }));
    } catch (e) {
      fail(e, presenceNotes);
    }
  }

  let focusBefore = null;
  function stopRinging() {
    if (ringTimer) clearInterval(ringTimer);
    ringTimer = null;
    ringShown = null;
    // The ring took the focus; when it goes, the focus goes back where the counsellor was. (A
    // pressed Accept/Pass is disabled at once, which drops the focus to the body.)
    const active = document.activeElement;
    const hadFocus = !active || active === document.body || ringArea.contains(active);
    clear(ringArea);
    if (hadFocus && focusBefore && focusBefore.isConnected) focusBefore.focus();
    focusBefore = null;
  }

  function showRing(ring) {
    if (ringShown === ring.ring_id) {
      const left = ringArea.querySelector('[data-testid="ring-left"]');
      if (left) left.textContent = t('walkin.ring_left', { n: Math.max(0, Math.round((Date.parse(ring.expires_at) - Date.now()) / 1000)) });
      return;
    }
    stopRinging();
    ringShown = ring.ring_id;
    focusBefore = document.activeElement && document.activeElement !== document.body ? document.activeElement : null;
    const name = [ring.first_name, ring.last_name].filter(Boolean).join(' ');
    announce(t('walkin.ring_title', { name }));
    const accept = h('button', { type: 'button', class: 'button button-primary', text: t('walkin.accept'), testid: 'ring-accept' });
    const pass = h('button', { type: 'button', class: 'button', text: t('walkin.pass'), testid: 'ring-pass' });
    const ringStatus = h('div', { class: 'form-status' });
    accept.addEventListener('click', async () => {
      accept.disabled = true;
      pass.disabled = true;
      try {
        const s = await post(`/api/walkin/rings/${encodeURIComponent(ring.ring_id)}/accept`);
        stopRinging();
        location.assign(s.host_url);
      } catch (e) {
        stopRinging();
        if (e instanceof ApiError && e.status === 404) presenceNotes.appendChild(notice(t('walkin.gone'), 'info', 'ring-gone'));
        else fail(e, presenceNotes);
      }
    });
    pass.addEventListener('click', async () => {
      accept.disabled = true;
      pass.disabled = true;
      try {
        await post(`/api/walkin/rings/${encodeURIComponent(ring.ring_id)}/pass`);
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 404)) fail(e, presenceNotes);
      }
      stopRinging();
      poll();
    });
    ringArea.appendChild(
      h(
        'div',
        { class: 'walkin-ring', testid: 'walkin-ring', dataset: { ringId: ring.ring_id }, attrs: { role: 'alertdialog', 'aria-labelledby': 'ring-title' } },
        // A heading of the page's first level below its title: the ring shows above any section.
        h('h2', { id: 'ring-title', testid: 'ring-name', text: t('walkin.ring_title', { name }) }),
        ring.topic ? h('p', { testid: 'ring-topic', text: t('walkin.ring_topic', { topic: ring.topic }) }) : null,
        ring.language ? h('p', { testid: 'ring-language', text: t('walkin.ring_language', { language: ring.language }) }) : null,
        h('p', { class: 'hint', testid: 'ring-left', text: t('walkin.ring_left', { n: Math.max(0, Math.round((Date.parse(ring.expires_at) - Date.now()) / 1000)) }) }),
        h('div', { class: 'session-actions' }, accept, pass),
        ringStatus,
      ),
    );
    beep();
    ringTimer = setInterval(beep, RING_EVERY_MS);
    accept.focus();
  }

  function render(s) {
    for (const b of presenceButtons) b.setAttribute('aria-pressed', String(b.dataset.presence === s.chosen));
    presenceText.textContent = t('walkin.now.' + s.presence);
    presenceText.dataset.presence = s.presence;
    presenceText.dataset.inSession = String(s.in_session);
    clear(presenceNotes);
    if (s.in_session) presenceNotes.appendChild(h('p', { class: 'hint', text: t('walkin.in_session') }));
    if (!s.open_now) presenceNotes.appendChild(h('p', { class: 'hint', text: t('walkin.closed_now') }));
    if (s.missed_ring) presenceNotes.appendChild(notice(t('walkin.missed'), 'warning', 'walkin-missed'));
    presenceNotes.appendChild(h('p', { class: 'hint', testid: 'walkin-waiting', text: t('walkin.waiting', { n: s.waiting }) }));
    const waiting = s.ring ? Math.max(1, s.waiting || 0) : s.waiting || 0;
    knockAlert.update(waiting);
    onWaiting(waiting);
    if (s.ring) showRing(s.ring);
    else stopRinging();
  }

  async function poll() {
    if (timer) clearTimeout(timer);
    timer = null;
    try {
      render(await get('/api/walkin/status'));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        stopRinging();
        knockAlert.update(0);
        onWaiting(null);
        live.hidden = true;
        return;
      }
      if (redirectIfUnauthorized(e)) return;
    }
    timer = setTimeout(poll, POLL_MS);
  }

  function startPolling() {
    if (!timer) poll();
  }

  function stopPolling() {
    if (timer) clearTimeout(timer);
    timer = null;
    stopRinging();
  }

  window.addEventListener('pagehide', () => {
    if (!live.hidden) navigator.sendBeacon('/api/walkin/closed');
  });

  Promise.all([get('/api/walkin/profile'), get('/api/booking/profile').catch(() => null)]).then(
    ([p, booking]) => {
      const url = booking && booking.slug ? `${location.origin}/talk/${booking.slug}` : `${location.origin}/talk`;
      pageLink.textContent = t('walkin.hint', { url });
      fillProfile(p);
    },
    (e) => fail(e),
  );

  return { element, ring: ringArea };
}
