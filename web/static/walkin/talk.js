// Talk-now pages. `/talk`: the centre's walk-in queue; `/talk/{slug}`: one counsellor's.
// First and last name (optional topic and language) → the queue with place and estimate, the
// camera/microphone preview meanwhile → the call once a counsellor accepts (no lobby).
// The page asks for its ticket every 2 s; closing it leaves the queue (beacon), a dropped
// connection keeps the place for 30 s on the server.

import { t, errorText, mediaErrorText } from '../shared/i18n.js';
import './i18n-walkin.js';
import { h, clear, pageData, appRoot, pageHeader, notice, announce } from '../shared/ui.js';
import { get, post, ApiError } from '../shared/api.js';
import { fieldText } from '../booking/booking-ui.js';
import { Signaling } from '../call/signaling.js';
import { acquireMedia, devicePicker, stopStream } from '../call/media.js';
import { Call, confidant } from '../call/call.js';
import { nextSteps } from '../shared/centre.js';

/** How often the page asks for its ticket (the server gives a place up after 30 s without). */
const POLL_MS = 2000;

const { protocolVersion } = pageData();
const slug = document.body.dataset.slug || '';
const app = appRoot();
const main = h('main', { class: 'page talk-page', id: 'main' });
clear(app);
app.append(pageHeader(), main);
document.title = `${t('talk.title')} – ${t('app.name')}`;

let ticket = null;
let pollTimer = null;
let localStream = null;
let offer = null;

function setState(state) {
  confidant.state = state;
  main.dataset.state = state;
}

// ------------------------------------------------------------------ preview

const previewVideo = h('video', { autoplay: true, playsInline: true, muted: true, class: 'mirror', testid: 'preview-video' });
previewVideo.muted = true;
const mediaStatus = h('div', { class: 'media-status' });
function setPreview(stream) {
  if (localStream && localStream !== stream) stopStream(localStream);
  localStream = stream;
  previewVideo.srcObject = stream;
  previewTile.classList.toggle('video-off', !stream || stream.getVideoTracks().length === 0);
  if (stream) previewVideo.play().catch(() => {});
}
const picker = devicePicker({
  getStream: () => localStream,
  onStream: (stream) => setPreview(stream),
  onError: (err) => {
    clear(mediaStatus);
    mediaStatus.appendChild(notice(t('join.no_media', { detail: mediaErrorText(err) }), 'error', 'media-error'));
  },
});
const previewTile = h('div', { class: 'tile preview-tile video-off' }, previewVideo);
const previewSection = h(
  'section',
  { class: 'panel preview', testid: 'talk-preview', attrs: { 'aria-labelledby': 'preview-heading' } },
  h('h2', { id: 'preview-heading', text: t('talk.preview') }),
  previewTile,
  mediaStatus,
  picker.element,
);

// ------------------------------------------------------------------ form

function field(name, label, attrs) {
  const id = 'f-' + name;
  const input = h('input', { id, name, type: 'text', maxLength: 39, required: true, testid: 'talk-' + name.replace('_', '-'), ...attrs });
  const error = h('p', { class: 'field-error', dataset: { errorFor: name }, attrs: { 'aria-live': 'polite' } });
  return { input, error, element: h('div', { class: 'field' }, h('label', { for: id, text: label }), input, error) };
}

function choice(name, label, options) {
  const id = 'f-' + name;
  const select = h('select', { id, name, testid: 'talk-' + name }, h('option', { value: '', text: t('talk.any') }));
  for (const o of options) select.appendChild(h('option', { value: o, text: o }));
  const error = h('p', { class: 'field-error', dataset: { errorFor: name }, attrs: { 'aria-live': 'polite' } });
  return { select, error, element: h('div', { class: 'field' }, h('label', { for: id, text: label }), select, error) };
}

const first = field('first_name', t('talk.first_name'), { autocomplete: 'given-name' });
const last = field('last_name', t('talk.last_name'), { autocomplete: 'family-name', required: false });
const availability = h('p', { class: 'availability', testid: 'availability', attrs: { role: 'status' } });
const formStatus = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
const submit = h('button', { type: 'submit', class: 'button button-primary', text: t('talk.submit'), testid: 'talk-submit' });
const trap = h('div', { class: 'trap', attrs: { 'aria-hidden': 'true' } }, h('label', { text: t('talk.website') }, h('input', { type: 'text', name: 'website', tabIndex: -1, autocomplete: 'off' })));
let topic = null;
let language = null;
const form = h('form', { class: 'talk-form', noValidate: true, testid: 'talk-form', onsubmit: (e) => onSubmit(e) });
const side = h('div', { class: 'talk-side' });
const fallbackArea = h('div', { class: 'talk-fallback' });

// The fallback links carry what was typed; keep them current.
for (const f of [first, last]) {
  f.input.addEventListener('input', () => {
    const shown = fallbackArea.firstChild;
    if (shown) fallbackLinks(shown.dataset.reason);
  });
}

function typed() {
  return { first_name: first.input.value.trim(), last_name: last.input.value.trim() };
}

/** The booking page (or the counsellor's, with its contact form) with the name in the fragment. */
function fallbackLinks(reason) {
  clear(fallbackArea);
  if (!reason) return;
  const base = slug ? `/book/${encodeURIComponent(slug)}` : '/book';
  const fragment = new URLSearchParams(typed());
  const text = reason === 'wait_too_long' ? t('talk.fallback_wait') : t('talk.fallback_nobody');
  fallbackArea.appendChild(
    h(
      'section',
      { class: 'panel fallback', testid: 'talk-fallback', dataset: { reason }, attrs: { role: 'status' } },
      h('h2', { text: t('talk.fallback_title') }),
      h('p', { text }),
      h(
        'div',
        { class: 'session-actions' },
        h('a', { class: 'button button-primary', href: `${base}#${fragment}`, text: t('talk.book'), testid: 'fallback-book' }),
        h('a', { class: 'button', href: `${base}#${fragment}&contact=1`, text: t('talk.contact'), testid: 'fallback-contact' }),
      ),
    ),
  );
}

function showAvailability() {
  if (slug) {
    availability.textContent = t('talk.presence.' + offer.presence, { name: offer.name });
    availability.dataset.available = String(offer.presence === 'available');
  } else {
    availability.textContent = offer.available
      ? offer.available_count !== undefined
        ? t('talk.available_count', { n: offer.available_count })
        : t('talk.available')
      : t('talk.unavailable');
    availability.dataset.available = String(!!offer.available);
  }
}

async function loadOffer() {
  try {
    offer = await get(slug ? `/api/public/walkin/${encodeURIComponent(slug)}` : '/api/public/walkin');
  } catch (e) {
    clear(main);
    main.appendChild(notice(errorText(e instanceof ApiError ? e.code : 'generic'), 'error', 'page-error'));
    return;
  }
  const title = slug ? t('talk.title_with', { name: offer.name }) : t('talk.title');
  document.title = `${title} – ${t('app.name')}`;
  showAvailability();
  clear(form);
  form.append(h('div', { class: 'field-row' }, first.element, last.element));
  if (offer.topics.length) {
    topic = choice('topic', t('talk.topic'), offer.topics);
    form.appendChild(topic.element);
  }
  if (offer.languages.length) {
    language = choice('language', t('talk.language'), offer.languages);
    form.appendChild(language.element);
  }
  // The Talk-now button in a bar that stays on the screen while the form is in view.
  form.append(trap, formStatus, h('div', { class: 'action-bar', testid: 'talk-bar' }, submit));
  clear(side);
  side.append(availability, form, fallbackArea);
  main.append(h('h1', { text: title }), h('p', { class: 'lead', text: t('talk.intro') }), h('div', { class: 'join-layout' }, previewSection, side));
  const nobody = slug ? offer.presence === 'away' : !offer.available;
  if (nobody) fallbackLinks('nobody_available');
  setState('form');
  first.input.focus();
  acquireMedia().then(({ stream, error }) => {
    if (!['form', 'queue'].includes(confidant.state)) {
      stopStream(stream);
      return;
    }
    if (stream) setPreview(stream);
    if (error) mediaStatus.appendChild(notice(t('join.no_media', { detail: mediaErrorText(error) }), 'error', 'media-error'));
    picker.refresh();
  });
}

function validName(v) {
  // eslint-disable-next-line no-control-regex
  return [...v].length <= 39 && !/[\u0000-\u001f\u007f-\u009f]/.test(v);
}

async function onSubmit(event) {
  event.preventDefault();
  if (confidant.state !== 'form') return;
  for (const f of [first, last]) {
    f.error.textContent = '';
    f.input.removeAttribute('aria-invalid');
  }
  clear(formStatus);
  let bad = null;
  for (const f of [first, last]) {
    const v = f.input.value.trim();
    // A first name or nickname is enough; the last name is optional.
    const msg = !v ? (f === first ? t('talk.required') : '') : !validName(v) ? t('talk.invalid') : '';
    if (msg) {
      f.error.textContent = msg;
      f.input.setAttribute('aria-invalid', 'true');
      bad = bad || f.input;
    }
  }
  if (bad) {
    bad.focus();
    return;
  }
  const body = {
    ...typed(),
    website: form.querySelector('input[name="website"]').value,
  };
  if (topic && topic.select.value) body.topic = topic.select.value;
  if (language && language.select.value) body.language = language.select.value;
  if (slug) body.counsellor = slug;
  submit.disabled = true;
  submit.textContent = t('talk.submitting');
  try {
    const r = await post('/api/public/walkin/queue', body);
    ticket = r.ticket;
    showQueue(r);
    pollTimer = setTimeout(poll, POLL_MS);
    return;
  } catch (e) {
    if (e instanceof ApiError && e.status === 409) {
      formStatus.appendChild(notice(t('talk.queue_full'), 'error', 'talk-refused'));
      fallbackLinks('nobody_available');
    } else if (e instanceof ApiError && e.status === 429) {
      formStatus.appendChild(notice(t('talk.rate_limited', { seconds: e.retryAfter ?? 60 }), 'error', 'rate-limited'));
    } else if (e instanceof ApiError && e.fields.length) {
      for (const p of e.fields) {
        const slot = form.querySelector(`[data-error-for="${p.field}"]`);
        if (slot) slot.textContent = p.field === 'first_name' || p.field === 'last_name' ? t('talk.invalid') : fieldText(p);
      }
      formStatus.appendChild(notice(errorText(e.code), 'error', 'form-error'));
    } else {
      formStatus.appendChild(notice(errorText(e instanceof ApiError ? e.code : 'generic'), 'error', 'form-error'));
    }
  }
  submit.disabled = false;
  submit.textContent = t('talk.submit');
}

// ------------------------------------------------------------------ the queue

// The queue panel is built once and only its texts change: a panel rebuilt on every poll would
// take the keyboard focus off "Leave the queue" every 2 s and make a screen reader repeat itself.
// What changed (the place, the estimate, ringing) is told through the page's live region.
const queueTitle = h('h2', { id: 'queue-title', text: '' });
const queuePosition = h('p', { class: 'queue-position', testid: 'queue-position' });
const queueEstimate = h('p', { testid: 'queue-estimate' });
const queueWaited = h('p', { class: 'hint', testid: 'queue-waited', hidden: true });
const queueLeave = h('button', { type: 'button', class: 'button button-quiet', testid: 'talk-leave', onclick: () => leaveQueue(t('talk.left'), 'left') });
const queuePanel = h(
  'section',
  { class: 'panel waiting', testid: 'talk-queue', attrs: { 'aria-labelledby': 'queue-title' } },
  queueTitle,
  h('div', { class: 'spinner', attrs: { 'aria-hidden': 'true' } }),
  queuePosition,
  queueEstimate,
  queueWaited,
  queueLeave,
);
let lastAnnounced = '';

function showQueue(view) {
  if (confidant.state !== 'queue') {
    setState('queue');
    clear(side);
    side.append(queuePanel, fallbackArea);
    queueTitle.textContent = t('talk.waiting_title');
    queueLeave.textContent = t('talk.leave');
    lastAnnounced = '';
  }
  queuePanel.dataset.state = view.state;
  queuePanel.dataset.position = String(view.position);
  let line;
  if (view.state === 'ringing') line = t('talk.ringing');
  else if (view.state === 'connecting') line = t('talk.connecting');
  else if (view.estimate_seconds === null || view.estimate_seconds === undefined) line = t('talk.estimate_unknown');
  else if (view.estimate_seconds <= 60) line = t('talk.estimate_soon');
  else line = t('talk.estimate_minutes', { n: Math.ceil(view.estimate_seconds / 60) });
  const position = t('talk.position', { n: view.position });
  if (queuePosition.textContent !== position) queuePosition.textContent = position;
  if (queueEstimate.textContent !== line) queueEstimate.textContent = line;
  const waited = view.waited_seconds >= 60 ? t('talk.waited', { n: Math.floor(view.waited_seconds / 60) }) : '';
  queueWaited.hidden = !waited;
  if (queueWaited.textContent !== waited) queueWaited.textContent = waited;
  // The waited minutes tick on their own; only the place and the state are news.
  const news = view.state === 'ringing' || view.state === 'connecting' ? line : `${position}. ${line}`;
  if (news !== lastAnnounced) {
    lastAnnounced = news;
    announce(news);
  }
  fallbackLinks(view.fallback);
}

async function poll() {
  pollTimer = null;
  if (!ticket) return;
  try {
    const view = await get(`/api/public/walkin/tickets/${encodeURIComponent(ticket)}`);
    if (view.state === 'connected') {
      startCall(view);
      return;
    }
    showQueue(view);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      ticket = null;
      finish(t('talk.gone'), 'gone');
      return;
    }
    // A network hiccup: keep asking; the place is kept for 30 s.
  }
  pollTimer = setTimeout(poll, POLL_MS);
}

function leaveQueue(text, state) {
  if (ticket) post(`/api/public/walkin/tickets/${encodeURIComponent(ticket)}/leave`).catch(() => {});
  ticket = null;
  finish(text, state);
}

function finish(text, state) {
  if (pollTimer) clearTimeout(pollTimer);
  pollTimer = null;
  setState(state);
  clear(side);
  side.append(
    h(
      'section',
      { class: 'panel final-panel', testid: 'talk-' + state, attrs: { role: 'status' } },
      h('h2', { text }),
      h('button', {
        type: 'button',
        class: 'button button-primary',
        text: t('talk.again'),
        testid: 'talk-again',
        onclick: () => {
          submit.disabled = false;
          submit.textContent = t('talk.submit');
          clear(side);
          side.append(availability, form, fallbackArea);
          setState('form');
        },
      }),
    ),
    fallbackArea,
    nextSteps(t('next.after_walkin')),
  );
}

// Closing or leaving the page leaves the queue at once.
window.addEventListener('pagehide', () => {
  if (ticket && confidant.state === 'queue') {
    navigator.sendBeacon(`/api/public/walkin/tickets/${encodeURIComponent(ticket)}/leave`);
  }
});

// ------------------------------------------------------------------ the call

async function startCall({ room, token }) {
  ticket = null;
  setState('connecting');
  const s = new Signaling({ version: protocolVersion });
  confidant.signaling = s;
  try {
    await s.connect();
  } catch {
    finish(errorText('network'), 'error');
    return;
  }
  const call = new Call({ signaling: s, localStream, role: 'guest', finishedExtras: () => [nextSteps(t('next.after_call'))] });
  localStream = null; // owned by the call now
  clear(main);
  main.classList.add('call-page');
  call.mount(main);
  // The call starts at the top, wherever the form was scrolled: own video and controls in view.
  window.scrollTo(0, 0);
  call.join({ room, token, version: protocolVersion });
}

loadOffer();
