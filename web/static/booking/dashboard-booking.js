// The dashboard's booking sections: upcoming appointments (list and week view) with
// confirm/decline/cancel, contact messages with replies, and the booking settings (page address,
// time zone, kinds of appointment, working hours).

import { t, errorText, formatTime } from '../shared/i18n.js';
import './i18n-booking.js';
import { h, clear, notice, linkField, confirmButton } from '../shared/ui.js';
import { get, post, put, api, ApiError, redirectIfUnauthorized } from '../shared/api.js';
import { bookingMailFailures } from './dashboard-mail.js';
import { kindLabel, formatRange, formatClock, formatDay, dayKey, startOfDay, addDays, bookingStatus, showFieldErrors, clearFieldErrors, field } from './booking-ui.js';

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const LIST_WEEKS = 8;

function showError(e, statusEl) {
  if (redirectIfUnauthorized(e)) return;
  clear(statusEl);
  statusEl.appendChild(notice(errorText(e instanceof ApiError ? e.code : 'generic'), 'error'));
}

/** Monday 00:00 (viewer's zone) of the week containing `date`. */
function mondayOf(date) {
  const d = startOfDay(date);
  const back = (d.getDay() + 6) % 7;
  return addDays(d, -back);
}

// ------------------------------------------------------------------ appointments

export function bookingsSection() {
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const body = h('div', { class: 'bookings-body', testid: 'bookings' });
  let view = 'list';
  let weekStart = mondayOf(new Date());
  const listButton = h('button', { type: 'button', class: 'button button-quiet', text: t('dash.view_list'), testid: 'view-list', attrs: { 'aria-pressed': 'true' }, onclick: () => setView('list') });
  const weekButton = h('button', { type: 'button', class: 'button button-quiet', text: t('dash.view_week'), testid: 'view-week', attrs: { 'aria-pressed': 'false' }, onclick: () => setView('week') });
  const refresh = h('button', { type: 'button', class: 'button button-quiet', text: t('dashboard.refresh'), testid: 'bookings-refresh', onclick: () => load() });
  const section = h(
    'section',
    { class: 'panel bookings', attrs: { 'aria-labelledby': 'bookings-heading' } },
    h('div', { class: 'section-head' }, h('h2', { id: 'bookings-heading', text: t('dash.bookings') }), h('div', { class: 'view-switch', attrs: { role: 'group' } }, listButton, weekButton, refresh)),
    status,
    body,
  );

  function setView(v) {
    view = v;
    listButton.setAttribute('aria-pressed', String(v === 'list'));
    weekButton.setAttribute('aria-pressed', String(v === 'week'));
    load();
  }

  async function load() {
    const from = view === 'list' ? new Date(Date.now() - 60 * 60 * 1000) : weekStart;
    const to = view === 'list' ? addDays(new Date(), LIST_WEEKS * 7) : addDays(weekStart, 7);
    let bookings;
    try {
      bookings = await get(`/api/booking/bookings?${new URLSearchParams({ from: from.toISOString(), to: to.toISOString() })}`);
    } catch (e) {
      showError(e, status);
      return;
    }
    const changes = await calendarChangesNotice();
    clear(status);
    clear(body);
    if (changes) body.append(changes);
    if (view === 'list') renderList(bookings);
    else renderWeek(bookings);
  }

  // Bookings whose events were changed in a connected calendar, above the list.
  async function calendarChangesNotice() {
    let accounts = [];
    try {
      accounts = await get('/api/calendar/caldav');
    } catch {
      return null;
    }
    const changes = calendarChanges(accounts, status, load);
    return changes ? h('div', { class: 'notice notice-warning', testid: 'calendar-changes', attrs: { role: 'status' } }, h('strong', { text: t('dash.caldav_changes') }), changes) : null;
  }

  function renderList(bookings) {
    if (!bookings.length) {
      body.appendChild(h('p', { class: 'empty-hint', text: t('dash.bookings_empty'), testid: 'bookings-empty' }));
      return;
    }
    const ul = h('ul', { class: 'booking-list', testid: 'booking-list' });
    for (const b of bookings) ul.appendChild(renderBooking(b));
    body.appendChild(ul);
  }

  function renderWeek(bookings) {
    const nav = h(
      'div',
      { class: 'slot-nav' },
      h('button', { type: 'button', class: 'button button-quiet', text: '← ' + t('dash.prev_week'), testid: 'week-prev', onclick: () => { weekStart = addDays(weekStart, -7); load(); } }),
      h('span', { class: 'slot-range', text: t('dash.week_of', { date: formatDay(weekStart) }) }),
      h('button', { type: 'button', class: 'button button-quiet', text: t('dash.next_week') + ' →', testid: 'week-next', onclick: () => { weekStart = addDays(weekStart, 7); load(); } }),
    );
    const grid = h('div', { class: 'week-grid', testid: 'week-grid' });
    const today = dayKey(new Date());
    for (let i = 0; i < 7; i++) {
      const day = addDays(weekStart, i);
      const key = dayKey(day);
      const items = bookings.filter((b) => dayKey(b.start) === key);
      const col = h('div', { class: 'week-day' + (key === today ? ' week-today' : ''), dataset: { date: key } }, h('h4', { text: formatDay(day) }));
      for (const b of items) {
        col.appendChild(
          h(
            'div',
            { class: `week-item bstatus-${b.status}`, testid: 'week-item', dataset: { bookingId: b.id, status: b.status } },
            h('strong', { text: `${formatClock(b.start)}–${formatClock(b.end)}` }),
            h('span', { text: `${b.first_name} ${b.last_name}` }),
            h('span', { class: 'hint', text: `${b.type_name} · ${kindLabel(b.kind)}` }),
            bookingStatus(b.status),
          ),
        );
      }
      grid.appendChild(col);
    }
    body.append(nav, grid);
  }

  function renderBooking(b) {
    const details = [h('p', { class: 'booking-when', text: `${formatRange(b.start, b.end)} · ${b.type_name} (${kindLabel(b.kind)})` })];
    details.push(h('p', { class: 'booking-client', testid: 'booking-client' }, h('strong', { text: `${b.first_name} ${b.last_name}` }), ' · ', h('a', { href: `mailto:${b.email}`, text: b.email })));
    if (b.phone) details.push(h('p', { text: t('dash.client_phone', { phone: b.phone }) }));
    if (b.address) details.push(h('p', { text: t('dash.client_address', { address: b.address }) }));
    if (b.message) details.push(h('p', { class: 'booking-message', text: t('dash.client_message', { text: b.message }) }));
    if (b.status === 'cancelled' && b.cancelled_by) {
      const who = t('dash.by.' + b.cancelled_by);
      details.push(h('p', { class: 'hint', testid: 'cancelled-by', text: t('dash.cancelled_by', { who: who.startsWith('dash.by.') ? b.cancelled_by : who }) + (b.reason ? `: ${b.reason}` : '') }));
    }
    const mailFailures = bookingMailFailures(b, load, (e) => showError(e, status));
    if (mailFailures) details.push(mailFailures);
    const actions = h('div', { class: 'session-actions' });
    const active = b.status === 'pending' || b.status === 'confirmed';
    if (b.kind === 'video' && b.session_id && active) {
      actions.appendChild(h('a', { class: 'button button-primary', href: `/s/${encodeURIComponent(b.session_id)}`, text: t('dash.open_session'), testid: 'open-booking-session' }));
    }
    if (b.status === 'pending') {
      actions.appendChild(h('button', { type: 'button', class: 'button button-primary', text: t('dash.confirm'), testid: 'confirm-booking', onclick: () => act(b, 'confirm') }));
      actions.appendChild(withReason(b, 'decline', t('dash.decline'), t('dash.confirm_decline')));
    }
    if (active) actions.appendChild(withReason(b, 'cancel', t('dash.cancel_booking'), t('dash.confirm_cancel')));
    return h(
      'li',
      { class: 'session-item booking-item', testid: 'booking-item', dataset: { bookingId: b.id, status: b.status, start: b.start } },
      h('div', { class: 'session-head' }, h('h3', { text: `${formatClock(b.start)} ${b.first_name} ${b.last_name}` }), bookingStatus(b.status)),
      ...details,
      actions,
    );
  }

  /** A danger action that asks for an optional reason first. */
  function withReason(b, verb, label, question) {
    const wrap = h('span', { class: 'confirm-wrap' });
    const open = h('button', { type: 'button', class: 'button button-danger', text: label, testid: `${verb}-booking`, onclick: show });
    wrap.appendChild(open);
    function show() {
      clear(wrap);
      const reason = h('input', { type: 'text', maxLength: 1000, testid: `${verb}-reason`, attrs: { 'aria-label': t('dash.reason') }, placeholder: t('dash.reason') });
      wrap.appendChild(
        h(
          'span',
          { class: 'confirm-box', attrs: { role: 'group' } },
          h('span', { class: 'confirm-question', text: question }),
          reason,
          h('button', { type: 'button', class: 'button button-danger', text: t('dashboard.confirm_yes'), testid: `${verb}-confirm`, onclick: () => act(b, verb, reason.value.trim()) }),
          h('button', { type: 'button', class: 'button button-quiet', text: t('common.cancel'), onclick: () => { clear(wrap); wrap.appendChild(open); } }),
        ),
      );
      reason.focus();
    }
    return wrap;
  }

  async function act(b, verb, reason) {
    try {
      await post(`/api/booking/bookings/${encodeURIComponent(b.id)}/${verb}`, verb === 'confirm' ? undefined : reason ? { reason } : {});
    } catch (e) {
      showError(e, status);
    }
    await load();
  }

  load();
  return { element: section, load };
}

// ------------------------------------------------------------------ contact messages

export function messagesSection() {
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const list = h('ul', { class: 'message-list', testid: 'message-list' });
  const section = h(
    'section',
    { class: 'panel messages', attrs: { 'aria-labelledby': 'messages-heading' } },
    h('div', { class: 'section-head' }, h('h2', { id: 'messages-heading', text: t('dash.messages') }), h('button', { type: 'button', class: 'button button-quiet', text: t('dashboard.refresh'), onclick: () => load() })),
    status,
    list,
  );

  async function load() {
    let messages;
    try {
      messages = await get('/api/booking/messages');
    } catch (e) {
      showError(e, status);
      return;
    }
    clear(status);
    clear(list);
    if (!messages.length) {
      list.appendChild(h('li', { class: 'empty-hint', text: t('dash.messages_empty') }));
      return;
    }
    for (const m of messages) list.appendChild(renderMessage(m));
  }

  function renderMessage(m) {
    const item = h(
      'li',
      { class: 'session-item', testid: 'message-item', dataset: { messageId: m.id } },
      h('div', { class: 'session-head' }, h('h3', { text: `${m.name} · ${m.email}` }), m.answered_at ? h('span', { class: 'status status-active', text: t('dash.replied') }) : null),
      h('p', { class: 'session-times', text: formatTime(m.created_at) }),
      h('p', { class: 'contact-message', text: m.message }),
    );
    const replyStatus = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
    const text = field('text', t('dash.reply_label'), { tag: 'textarea', rows: 4, maxLength: 8000 });
    const form = h('form', { class: 'reply-form', hidden: true, noValidate: true }, text.element, replyStatus, h('button', { type: 'submit', class: 'button button-primary', text: t('dash.reply_send') }));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      try {
        await post(`/api/booking/messages/${encodeURIComponent(m.id)}/reply`, { text: text.input.value });
        form.replaceWith(notice(t('dash.reply_sent'), 'success'));
      } catch (e) {
        if (!redirectIfUnauthorized(e)) showFieldErrors(form, e, replyStatus);
      }
    });
    item.append(h('button', { type: 'button', class: 'button', text: t('dash.reply'), onclick: (ev) => { form.hidden = false; ev.currentTarget.remove(); text.input.focus(); } }), form);
    return item;
  }

  load();
  return { element: section, load };
}

// ------------------------------------------------------------------ settings

export function bookingSettingsSection() {
  const details = h('details', { class: 'panel booking-settings', testid: 'booking-settings' }, h('summary', {}, h('h2', { class: 'inline-heading', text: t('dash.booking_settings') })));
  const profile = profileForm();
  const about = aboutForm();
  const types = typesEditor();
  const hours = availabilityEditor();
  const teams = teamsBlock();
  details.append(profile.element, about.element, types.element, hours.element, teams.element);
  return { element: details };
}

/** The calendar connections (CalDAV accounts, external calendars, the feed): the workspace's
 * "calendars" section puts them under its own heading. */
export function calendarBlocks() {
  return [caldavBlock().element, busySourcesBlock().element, calendarFeedBlock().element];
}

function timeZones() {
  try {
    if (Intl.supportedValuesOf) return Intl.supportedValuesOf('timeZone');
  } catch {
    // older browsers: a short list
  }
  return ['Europe/Berlin', 'Europe/Vienna', 'Europe/Zurich', 'Europe/London', 'UTC'];
}

function profileForm() {
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const slug = field('slug', t('dash.slug'), { type: 'text', maxLength: 40, autocomplete: 'off', spellcheck: false }, t('dash.slug_hint'));
  const zoneSelect = h('select', { name: 'time_zone', testid: 'field-time_zone', id: 'booking-zone' });
  for (const z of timeZones()) zoneSelect.appendChild(h('option', { value: z, text: z }));
  const langSelect = h('select', { name: 'lang', testid: 'field-lang', id: 'booking-lang' }, h('option', { value: 'de', text: 'Deutsch' }), h('option', { value: 'en', text: 'English' }));
  const link = h('div', { class: 'public-link', testid: 'public-link' });
  const form = h(
    'form',
    { class: 'settings-block', noValidate: true, testid: 'profile-form' },
    h('h3', { text: t('dash.profile') }),
    slug.element,
    h('div', { class: 'field' }, h('label', { for: 'booking-zone', text: t('dash.time_zone') }), zoneSelect, h('p', { class: 'field-error', dataset: { errorFor: 'time_zone' } })),
    h('div', { class: 'field' }, h('label', { for: 'booking-lang', text: t('dash.mail_lang') }), langSelect),
    status,
    h('button', { type: 'submit', class: 'button button-primary', text: t('dash.save'), testid: 'profile-save' }),
    link,
  );

  function show(p) {
    slug.input.value = p.slug || '';
    if (![...zoneSelect.options].some((o) => o.value === p.time_zone)) zoneSelect.appendChild(h('option', { value: p.time_zone, text: p.time_zone }));
    zoneSelect.value = p.time_zone;
    langSelect.value = p.lang;
    clear(link);
    if (p.slug) link.appendChild(linkField(`${location.origin}/book/${p.slug}`, { label: t('dash.public_link'), testid: 'public-booking-link' }));
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    clear(status);
    try {
      const p = await put('/api/booking/profile', { slug: slug.input.value.trim() || null, time_zone: zoneSelect.value, lang: langSelect.value });
      show(p);
      status.appendChild(notice(t('dash.saved'), 'success', 'profile-saved'));
    } catch (e) {
      if (!redirectIfUnauthorized(e)) {
        if (e instanceof ApiError && e.status === 409) {
          showFieldErrors(form, new ApiError(422, 'validation_failed', e.message, 'slug', null, [{ field: 'slug', code: 'taken', message: e.message }]), status);
        } else showFieldErrors(form, e, status);
      }
    }
  });
  get('/api/booking/profile').then(show, (e) => showError(e, status));
  return { element: form };
}

/** Splits a comma-separated list the counsellor typed ("Deutsch, English"). */
function listOf(text) {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * What clients see about the counsellor on the booking page: a short text, languages, topics
 * and a photo (PNG, JPEG or WebP up to 1 MiB; the server checks the content).
 */
function aboutForm() {
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const about = field('about', t('dash.about_text'), { tag: 'textarea', rows: 4, maxLength: 1000 }, t('dash.about_text_hint'));
  const languages = field('languages', t('dash.about_languages'), { type: 'text', maxLength: 400, autocomplete: 'off' }, t('dash.about_list_hint'));
  const topics = field('topics', t('dash.about_topics'), { type: 'text', maxLength: 1200, autocomplete: 'off' }, t('dash.about_list_hint'));
  const photo = field('photo', t('dash.about_photo'), { type: 'file', accept: 'image/png,image/jpeg,image/webp' }, t('dash.about_photo_hint'));
  const preview = h('div', { class: 'profile-photo-preview', testid: 'photo-preview' });
  const photoStatus = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const form = h(
    'form',
    { class: 'settings-block', noValidate: true, testid: 'about-form' },
    h('h3', { text: t('dash.about') }),
    h('p', { class: 'hint', text: t('dash.about_hint') }),
    about.element,
    languages.element,
    topics.element,
    status,
    h('button', { type: 'submit', class: 'button button-primary', text: t('dash.save'), testid: 'about-save' }),
    h('div', { class: 'photo-block' }, preview, photo.element, photoStatus),
  );

  function show(p) {
    about.input.value = p.about || '';
    languages.input.value = (p.languages || []).join(', ');
    topics.input.value = (p.topics || []).join(', ');
    clear(preview);
    if (p.photo_url) {
      preview.append(
        h('img', { src: p.photo_url, alt: t('dash.about_photo_alt'), class: 'profile-photo', width: 96, height: 96 }),
        h('button', { type: 'button', class: 'button button-quiet', text: t('dash.about_photo_remove'), testid: 'photo-remove', onclick: removePhoto }),
      );
    }
  }

  async function removePhoto() {
    clear(photoStatus);
    try {
      show(await api('DELETE', '/api/booking/profile/photo'));
    } catch (e) {
      if (!redirectIfUnauthorized(e)) showError(e, photoStatus);
    }
  }

  photo.input.addEventListener('change', async () => {
    const file = photo.input.files && photo.input.files[0];
    if (!file) return;
    clearFieldErrors(form);
    clear(photoStatus);
    let response;
    try {
      response = await fetch('/api/booking/profile/photo', { method: 'PUT', credentials: 'same-origin', headers: { 'Content-Type': file.type || 'application/octet-stream', Accept: 'application/json' }, body: file });
    } catch {
      showError(new ApiError(0, 'network'), photoStatus);
      return;
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const err = (data && data.error) || {};
      showFieldErrors(form, new ApiError(response.status, err.code || 'generic', err.message, err.field, null, err.fields), photoStatus);
      return;
    }
    photo.input.value = '';
    show(data);
    photoStatus.appendChild(notice(t('dash.saved'), 'success', 'photo-saved'));
  });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    clear(status);
    try {
      show(await put('/api/booking/profile/about', { about: about.input.value, languages: listOf(languages.input.value), topics: listOf(topics.input.value) }));
      status.appendChild(notice(t('dash.saved'), 'success', 'about-saved'));
    } catch (e) {
      if (!redirectIfUnauthorized(e)) showFieldErrors(form, e, status);
    }
  });
  get('/api/booking/profile/about').then(show, (e) => showError(e, status));
  return { element: form };
}

const TYPE_NUMBERS = [
  ['duration_min', 'dash.type_duration', 5, 480, 50],
  ['buffer_before_min', 'dash.type_buffer_before', 0, 240, 0],
  ['buffer_after_min', 'dash.type_buffer_after', 0, 240, 10],
  ['min_notice_min', 'dash.type_notice', 0, 525600, 720],
  ['window_days', 'dash.type_window', 1, 366, 60],
  ['slot_step_min', 'dash.type_step', 0, 480, 0],
];

/**
 * The list of appointment types with "new" and "edit" forms: the counsellor's own (default) or a
 * team's (`fetchTypes` and `createPath` given, rendered inside the team's block).
 */
function typesEditor({ heading = t('dash.types'), fetchTypes = () => get('/api/booking/types'), createPath = '/api/booking/types', testPrefix = 'type' } = {}) {
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const list = h('ul', { class: 'type-admin-list', testid: `${testPrefix}-list` });
  const element = h('div', { class: 'settings-block' }, h('h3', { text: heading }), status, list);
  const newButton = h('button', { type: 'button', class: 'button', text: t('dash.type_new'), testid: `${testPrefix}-new`, onclick: () => openForm(null, newButton) });
  element.appendChild(newButton);

  async function load() {
    let types;
    try {
      types = await fetchTypes();
    } catch (e) {
      showError(e, status);
      return;
    }
    clear(list);
    if (!types.length) list.appendChild(h('li', { class: 'empty-hint', text: t('dash.types_empty') }));
    for (const ty of types) {
      const li = h(
        'li',
        { class: 'type-admin-item', testid: 'type-item', dataset: { typeId: ty.id } },
        h('span', { text: `${ty.name} · ${kindLabel(ty.kind)} · ${t('book.minutes', { n: ty.duration_min })}${ty.active ? '' : ' · ' + t('dash.type_inactive')}` }),
      );
      li.appendChild(h('button', { type: 'button', class: 'button button-quiet', text: t('dash.type_edit'), onclick: (ev) => openForm(ty, ev.currentTarget) }));
      list.appendChild(li);
    }
  }

  function openForm(ty, anchor) {
    const existing = element.querySelector('form.type-form');
    if (existing) existing.remove();
    const formStatus = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
    const name = field('name', t('dash.type_name'), { type: 'text', maxLength: 100, value: ty ? ty.name : '' });
    const kind = h('select', { name: 'kind', id: 'type-kind', testid: 'field-kind' });
    for (const k of ['video', 'phone', 'on_site']) kind.appendChild(h('option', { value: k, text: kindLabel(k) }));
    kind.value = ty ? ty.kind : 'video';
    const numbers = TYPE_NUMBERS.map(([key, label, min, max, def]) => [key, field(key, t(label), { type: 'number', min, max, step: 1, value: String(ty ? ty[key] : def) })]);
    const location = field('location', t('dash.type_location'), { type: 'text', maxLength: 500, value: ty && ty.location ? ty.location : '' });
    const description = field('description', t('dash.type_description'), { tag: 'textarea', rows: 3, maxLength: 1000, value: ty && ty.description ? ty.description : '' }, t('dash.type_description_hint'));
    const preparation = field('preparation', t('dash.type_preparation'), { tag: 'textarea', rows: 3, maxLength: 1000, value: ty && ty.preparation ? ty.preparation : '' }, t('dash.type_preparation_hint'));
    const confirm = h('input', { type: 'checkbox', id: 'type-confirm', testid: 'field-requires_confirmation', checked: ty ? ty.requires_confirmation : false });
    const active = h('input', { type: 'checkbox', id: 'type-active', testid: 'field-active', checked: ty ? ty.active : true });
    const form = h(
      'form',
      { class: 'type-form', noValidate: true, testid: 'type-form' },
      name.element,
      h('div', { class: 'field' }, h('label', { for: 'type-kind', text: t('dash.type_kind') }), kind, h('p', { class: 'field-error', dataset: { errorFor: 'kind' } })),
      h('div', { class: 'field-grid' }, ...numbers.map(([, f]) => f.element)),
      location.element,
      description.element,
      preparation.element,
      h('div', { class: 'check' }, confirm, h('label', { for: 'type-confirm', text: t('dash.type_confirm') })),
      h('div', { class: 'check' }, active, h('label', { for: 'type-active', text: t('dash.type_active') })),
      formStatus,
      h('button', { type: 'submit', class: 'button button-primary', text: ty ? t('dash.save') : t('dash.type_create'), testid: 'type-save' }),
      h('button', { type: 'button', class: 'button button-quiet', text: t('common.cancel'), onclick: () => form.remove() }),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      clear(formStatus);
      const body = { name: name.input.value.trim(), kind: kind.value, requires_confirmation: confirm.checked, active: active.checked, location: location.input.value.trim() || null, description: description.input.value.trim() || null, preparation: preparation.input.value.trim() || null };
      for (const [key, f] of numbers) body[key] = Number.parseInt(f.input.value, 10) || 0;
      try {
        if (ty) await put(`/api/booking/types/${encodeURIComponent(ty.id)}`, { ...body, id: ty.id });
        else await post(createPath, body);
        form.remove();
        await load();
        status.appendChild(notice(t('dash.saved'), 'success', 'type-saved'));
        setTimeout(() => clear(status), 4000);
      } catch (e) {
        if (!redirectIfUnauthorized(e)) showFieldErrors(form, e, formStatus);
      }
    });
    anchor.after(form);
    name.input.focus();
  }

  load();
  return { element, load };
}

function availabilityEditor() {
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const days = h('div', { class: 'weekly-hours', testid: 'weekly-hours' });
  const overrides = h('div', { class: 'override-list', testid: 'override-list' });
  const rows = {}; // weekday -> container of ranges

  function range(start = '09:00', end = '17:00', testid = 'hours-range') {
    const s = h('input', { type: 'time', value: start, class: 'time-start', attrs: { 'aria-label': t('dash.from') } });
    const e = h('input', { type: 'time', value: end === '24:00' ? '23:59' : end, class: 'time-end', attrs: { 'aria-label': t('dash.to') } });
    const wrap = h('span', { class: 'hours-range', testid }, s, ' – ', e);
    wrap.appendChild(h('button', { type: 'button', class: 'button button-quiet', text: t('dash.remove'), onclick: () => wrap.remove() }));
    return wrap;
  }

  for (const wd of WEEKDAYS) {
    const ranges = h('span', { class: 'hours-ranges' });
    rows[wd] = ranges;
    days.appendChild(
      h(
        'div',
        { class: 'weekday-row', testid: 'weekday-row', dataset: { weekday: wd } },
        h('span', { class: 'weekday-name', text: t('dash.weekday.' + wd) }),
        ranges,
        h('button', { type: 'button', class: 'button button-quiet', text: t('dash.add_range'), testid: 'add-range', onclick: () => ranges.appendChild(range()) }),
      ),
    );
  }

  function overrideRow(date = '', hours = []) {
    const d = h('input', { type: 'date', value: date, class: 'override-date', attrs: { 'aria-label': t('dash.override_date') } });
    const ranges = h('span', { class: 'hours-ranges' });
    for (const r of hours) ranges.appendChild(range(r.start, r.end));
    const row = h(
      'div',
      { class: 'override-row', testid: 'override-row' },
      d,
      ranges,
      h('button', { type: 'button', class: 'button button-quiet', text: t('dash.add_range'), onclick: () => ranges.appendChild(range()) }),
      h('button', { type: 'button', class: 'button button-quiet', text: t('dash.remove'), onclick: () => row.remove() }),
    );
    return row;
  }

  /** `23:59` from a time input means "until midnight": stored as 24:00. */
  const endOf = (v) => (v === '23:59' ? '24:00' : v);
  const rangesOf = (container) =>
    [...container.querySelectorAll('.hours-range')].map((r) => ({ start: r.querySelector('.time-start').value, end: endOf(r.querySelector('.time-end').value) }));

  const form = h(
    'form',
    { class: 'settings-block', noValidate: true, testid: 'availability-form' },
    h('h3', { text: t('dash.availability') }),
    h('p', { class: 'hint', text: t('dash.availability_hint') }),
    days,
    h('h4', { text: t('dash.overrides') }),
    h('p', { class: 'hint', text: t('dash.overrides_hint') }),
    overrides,
    h('button', { type: 'button', class: 'button', text: t('dash.add_override'), testid: 'add-override', onclick: () => overrides.appendChild(overrideRow()) }),
    h('p', { class: 'field-error', dataset: { errorFor: 'weekly' } }),
    h('p', { class: 'field-error', dataset: { errorFor: 'overrides' } }),
    status,
    h('button', { type: 'submit', class: 'button button-primary', text: t('dash.save_availability'), testid: 'availability-save' }),
  );

  function show(av) {
    for (const wd of WEEKDAYS) clear(rows[wd]);
    for (const w of av.weekly) if (rows[w.weekday]) rows[w.weekday].appendChild(range(w.start, w.end));
    clear(overrides);
    for (const o of av.overrides) overrides.appendChild(overrideRow(o.date, o.hours));
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    clear(status);
    const weekly = [];
    for (const wd of WEEKDAYS) for (const r of rangesOf(rows[wd])) weekly.push({ weekday: wd, ...r });
    const ovs = [...overrides.querySelectorAll('.override-row')]
      .map((row) => ({ date: row.querySelector('.override-date').value, hours: rangesOf(row) }))
      .filter((o) => o.date);
    try {
      show(await put('/api/booking/availability', { weekly, overrides: ovs }));
      status.appendChild(notice(t('dash.saved'), 'success', 'availability-saved'));
    } catch (e) {
      if (!redirectIfUnauthorized(e)) showFieldErrors(form, e, status);
    }
  });

  get('/api/booking/availability').then(show, (e) => showError(e, status));
  return { element: form };
}

// ------------------------------------------------------------------ calendar feed

function calendarFeedBlock() {
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const body = h('div', { testid: 'feed' });
  const details = h('input', { type: 'checkbox', id: 'feed-details', testid: 'feed-details' });
  const element = h(
    'div',
    { class: 'settings-block', testid: 'calendar-feed' },
    h('h3', { text: t('dash.feed') }),
    h('p', { class: 'hint', text: t('dash.feed_hint') }),
    body,
    h('div', { class: 'check' }, details, h('label', { for: 'feed-details', text: t('dash.feed_details') })),
    h('p', { class: 'hint', text: t('dash.feed_details_hint') }),
    status,
  );

  function show(feed) {
    clear(body);
    if (!feed) {
      body.appendChild(h('p', { class: 'empty-hint', text: t('dash.feed_none') }));
      body.appendChild(h('button', { type: 'button', class: 'button button-primary', text: t('dash.feed_create'), testid: 'feed-create', onclick: create }));
      return;
    }
    details.checked = !!feed.client_details;
    body.append(
      linkField(feed.url, { label: t('dash.feed_url'), testid: 'feed-url' }),
      h('p', {}, h('a', { href: feed.webcal_url, text: t('dash.feed_subscribe'), testid: 'feed-webcal' })),
      h('p', { class: 'hint', text: feed.last_fetched_at ? t('dash.feed_fetched', { time: formatTime(feed.last_fetched_at) }) : t('dash.feed_never') }),
      h('button', { type: 'button', class: 'button', text: t('dash.feed_rotate'), testid: 'feed-rotate', onclick: create }),
      ' ',
      confirmButton({ label: t('dash.feed_revoke'), question: t('dash.feed_revoke_q'), yes: t('dashboard.confirm_yes'), testid: 'feed-revoke', confirmTestid: 'feed-revoke-confirm', onConfirm: revoke }),
    );
  }

  async function create() {
    clear(status);
    try {
      show(await post('/api/calendar/feed', { client_details: details.checked }));
    } catch (e) {
      showError(e, status);
    }
  }

  async function revoke() {
    clear(status);
    try {
      await api('DELETE', '/api/calendar/feed');
      show(null);
    } catch (e) {
      showError(e, status);
    }
  }

  // `{"feed": null}` until there is one.
  get('/api/calendar/feed').then((r) => show(r.feed), (e) => showError(e, status));
  return { element };
}

// ------------------------------------------------------------------ external calendars

function busySourcesBlock() {
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const list = h('ul', { class: 'type-admin-list', testid: 'source-list' });
  const url = field('url', t('dash.sources_url'), { type: 'url', maxLength: 2000, autocomplete: 'off', spellcheck: false, placeholder: 'https://…/calendar.ics' });
  const label = field('label', t('dash.sources_label'), { type: 'text', maxLength: 100 });
  const form = h('form', { noValidate: true, testid: 'source-form' }, url.element, label.element, h('button', { type: 'submit', class: 'button', text: t('dash.sources_add'), testid: 'source-add' }));
  const element = h('div', { class: 'settings-block', testid: 'busy-sources' }, h('h3', { text: t('dash.sources') }), h('p', { class: 'hint', text: t('dash.sources_hint') }), list, form, status);

  function render(sources) {
    clear(list);
    if (!sources.length) list.appendChild(h('li', { class: 'empty-hint', text: t('dash.sources_none') }));
    for (const s of sources) {
      const state = s.last_error
        ? h('span', { class: 'field-error', testid: 'source-error', text: t('dash.sources_error', { error: s.last_error }) })
        : h('span', { class: 'hint', text: s.last_ok_at ? t('dash.sources_ok', { time: formatTime(s.last_ok_at), n: s.busy_count }) : t('dash.sources_pending') });
      list.appendChild(
        h(
          'li',
          { class: 'type-admin-item', testid: 'source-item', dataset: { sourceId: s.id, busy: String(s.busy_count) } },
          h('span', {}, h('strong', { text: s.label }), ` (${s.host}) `, state),
          h(
            'span',
            {},
            h('button', { type: 'button', class: 'button button-quiet', text: t('dash.sources_sync'), testid: 'source-sync', onclick: () => act(() => post(`/api/calendar/sources/${encodeURIComponent(s.id)}/sync`)) }),
            confirmButton({ label: t('dash.remove'), question: t('dash.sources_remove_q'), yes: t('dashboard.confirm_yes'), testid: 'source-remove', confirmTestid: 'source-remove-confirm', onConfirm: () => act(() => api('DELETE', `/api/calendar/sources/${encodeURIComponent(s.id)}`)) }),
          ),
        ),
      );
    }
  }

  async function load() {
    try {
      render(await get('/api/calendar/sources'));
    } catch (e) {
      showError(e, status);
    }
  }

  async function act(fn) {
    clear(status);
    try {
      await fn();
    } catch (e) {
      showError(e, status);
    }
    await load();
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    clear(status);
    try {
      await post('/api/calendar/sources', { url: url.input.value.trim(), label: label.input.value.trim() || null });
      url.input.value = '';
      label.input.value = '';
      await load();
    } catch (e) {
      if (!redirectIfUnauthorized(e)) showFieldErrors(form, e, status);
    }
  });

  load();
  return { element };
}

// ------------------------------------------------------------------ CalDAV accounts

/** The bookings whose events were moved or deleted in a connected calendar, with the choice
 * to put them back or keep the calendar's version. `done` runs after a decision. */
export function calendarChanges(accounts, status, done) {
  const items = [];
  for (const a of accounts) {
    for (const c of a.changed_events || []) {
      const what = c.change === 'moved'
        ? t('dash.caldav_moved', { booking: formatRange(c.starts_at, c.ends_at), calendar: formatRange(c.calendar_starts_at, c.calendar_ends_at), account: a.label })
        : t('dash.caldav_deleted', { booking: formatRange(c.starts_at, c.ends_at), account: a.label });
      const decide = (action) => async () => {
        clear(status);
        try {
          await post(`/api/calendar/caldav/${encodeURIComponent(a.id)}/changes/${encodeURIComponent(c.id)}`, { action });
        } catch (e) {
          showError(e, status);
        }
        await done();
      };
      items.push(
        h(
          'li',
          { class: 'type-admin-item', testid: 'caldav-change', dataset: { change: c.change, bookingId: c.booking_id } },
          h('span', { text: what }),
          h(
            'span',
            {},
            h('button', { type: 'button', class: 'button', text: t('dash.caldav_restore'), testid: 'caldav-restore', onclick: decide('restore') }),
            h('button', { type: 'button', class: 'button button-quiet', text: t('dash.caldav_keep'), testid: 'caldav-keep', onclick: decide('keep') }),
          ),
        ),
      );
    }
  }
  return items.length ? h('ul', { class: 'type-admin-list caldav-changes', testid: 'caldav-changes' }, items) : null;
}

function caldavBlock() {
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const list = h('div', { testid: 'caldav-accounts' });
  const url = field('url', t('dash.caldav_url'), { type: 'url', maxLength: 2000, autocomplete: 'off', spellcheck: false, placeholder: 'https://cloud.example.org/remote.php/dav' });
  const username = field('username', t('dash.caldav_username'), { type: 'text', maxLength: 500, autocomplete: 'off', spellcheck: false });
  const password = field('password', t('dash.caldav_password'), { type: 'password', maxLength: 500, autocomplete: 'new-password' }, t('dash.caldav_password_hint'));
  const label = field('label', t('dash.sources_label'), { type: 'text', maxLength: 100 });
  const submit = h('button', { type: 'submit', class: 'button', text: t('dash.caldav_connect'), testid: 'caldav-connect' });
  const form = h('form', { noValidate: true, testid: 'caldav-form' }, url.element, h('div', { class: 'field-row' }, username.element, password.element), label.element, submit);
  const element = h('div', { class: 'settings-block', testid: 'caldav' }, h('h3', { text: t('dash.caldav') }), h('p', { class: 'hint', text: t('dash.caldav_hint') }), list, form, status);

  function renderAccount(a) {
    const change = (body) => act(() => api('PATCH', `/api/calendar/caldav/${encodeURIComponent(a.id)}`, body));
    const state = a.last_error
      ? h('p', { class: 'field-error', testid: 'caldav-error', text: t('dash.caldav_error', { error: a.last_error }) })
      : h('p', { class: 'hint', testid: 'caldav-ok', text: a.last_ok_at ? t('dash.caldav_ok', { time: formatTime(a.last_ok_at) }) : t('dash.sources_pending') });
    const pending = a.pending_writes ? h('p', { class: 'hint', testid: 'caldav-pending', text: t('dash.caldav_pending', { n: a.pending_writes }) }) : null;
    const calendars = h(
      'fieldset',
      { class: 'caldav-calendars' },
      h('legend', { text: t('dash.caldav_blocks') }),
      a.calendars.map((c) => {
        const id = `cal-${c.id}`;
        const box = h('input', { type: 'checkbox', id, checked: c.blocks, testid: 'caldav-blocks', dataset: { calendar: c.name }, onchange: (ev) => change({ calendars: [{ id: c.id, blocks: ev.target.checked }] }) });
        const info = c.free_busy_only ? ` ${t('dash.caldav_free_busy_only')}` : '';
        return h('div', { class: 'check' }, box, h('label', { for: id, text: `${c.name}${info} – ${t('dash.caldav_busy_count', { n: c.busy_count })}` }));
      }),
    );
    const writeId = `write-${a.id}`;
    const select = h(
      'select',
      { id: writeId, testid: 'caldav-write', onchange: (ev) => change({ write_calendar_id: ev.target.value || null }) },
      h('option', { value: '', text: t('dash.caldav_write_none') }),
      a.calendars.filter((c) => c.writable).map((c) => h('option', { value: c.id, text: c.name, selected: c.id === a.write_calendar_id })),
    );
    const detailsId = `details-${a.id}`;
    const details = h(
      'div',
      { class: 'check' },
      h('input', { type: 'checkbox', id: detailsId, checked: a.client_details, disabled: !a.write_calendar_id, testid: 'caldav-details', onchange: (ev) => change({ client_details: ev.target.checked }) }),
      h('label', { for: detailsId, text: t('dash.caldav_details') }),
    );
    return h(
      'div',
      { class: 'caldav-account', testid: 'caldav-account', dataset: { accountId: a.id } },
      h('h4', {}, h('strong', { text: a.label }), ` (${a.host})`),
      state,
      pending,
      calendarChanges([a], status, load),
      calendars,
      h('div', { class: 'field' }, h('label', { for: writeId, text: t('dash.caldav_write') }), select),
      details,
      h(
        'p',
        {},
        h('button', { type: 'button', class: 'button button-quiet', text: t('dash.caldav_sync'), testid: 'caldav-sync', onclick: () => act(() => post(`/api/calendar/caldav/${encodeURIComponent(a.id)}/sync`)) }),
        confirmButton({ label: t('dash.caldav_remove'), question: t('dash.caldav_remove_q'), yes: t('dashboard.confirm_yes'), testid: 'caldav-remove', confirmTestid: 'caldav-remove-confirm', onConfirm: () => act(() => api('DELETE', `/api/calendar/caldav/${encodeURIComponent(a.id)}`)) }),
      ),
    );
  }

  async function load() {
    try {
      const accounts = await get('/api/calendar/caldav');
      clear(list);
      if (!accounts.length) list.appendChild(h('p', { class: 'empty-hint', text: t('dash.caldav_none') }));
      for (const a of accounts) list.appendChild(renderAccount(a));
    } catch (e) {
      showError(e, status);
    }
  }

  async function act(fn) {
    clear(status);
    try {
      await fn();
    } catch (e) {
      showError(e, status);
    }
    await load();
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    clear(status);
    submit.disabled = true;
    status.appendChild(notice(t('dash.caldav_connecting'), 'info'));
    try {
      await post('/api/calendar/caldav', { url: url.input.value.trim(), username: username.input.value, password: password.input.value, label: label.input.value.trim() || null });
      url.input.value = '';
      username.input.value = '';
      password.input.value = '';
      label.input.value = '';
      clear(status);
      await load();
    } catch (e) {
      clear(status);
      if (!redirectIfUnauthorized(e)) showFieldErrors(form, e, status);
    } finally {
      submit.disabled = false;
    }
  });

  load();
  return { element };
}

// ------------------------------------------------------------------ teams

function teamsBlock() {
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const list = h('div', { testid: 'team-blocks' });
  const slug = field('slug', t('dash.team_slug'), { type: 'text', maxLength: 40, autocomplete: 'off', spellcheck: false });
  const name = field('name', t('dash.team_name'), { type: 'text', maxLength: 100 });
  const form = h('form', { noValidate: true, testid: 'team-form' }, h('h4', { text: t('dash.team_new') }), h('div', { class: 'field-row' }, name.element, slug.element), h('button', { type: 'submit', class: 'button', text: t('dash.team_create'), testid: 'team-create' }));
  // Invitations into other teams, for my login e-mail: accept or decline.
  const received = h('div', { testid: 'team-invitations-received' });
  const element = h('div', { class: 'settings-block', testid: 'teams' }, h('h3', { text: t('dash.teams') }), h('p', { class: 'hint', text: t('dash.teams_hint') }), received, list, form, status);

  function renderReceived(inv) {
    const answer = async (what) => {
      try {
        await post(`/api/booking/invitations/${encodeURIComponent(inv.id)}/${what}`);
        await load();
      } catch (e) {
        showError(e, status);
      }
    };
    return h(
      'div',
      { class: 'notice notice-info', testid: 'team-invitation', dataset: { team: inv.team_slug } },
      h('p', { text: t('dash.team_invited', { team: inv.team_name, by: inv.invited_by || '–' }) }),
      h('button', { type: 'button', class: 'button button-primary', text: t('dash.team_accept'), testid: 'team-invitation-accept', onclick: () => answer('accept') }),
      ' ',
      h('button', { type: 'button', class: 'button button-quiet', text: t('dash.team_decline'), testid: 'team-invitation-decline', onclick: () => answer('decline') }),
    );
  }

  function renderTeam(team) {
    const memberStatus = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
    const email = field('email', t('dash.team_member_email'), { type: 'email', maxLength: 254, autocomplete: 'off' });
    const memberForm = h('form', { noValidate: true, testid: 'member-form' }, email.element, h('button', { type: 'submit', class: 'button', text: t('dash.team_add_member'), testid: 'member-add' }), memberStatus);
    memberForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFieldErrors(memberForm);
      try {
        await post(`/api/booking/teams/${encodeURIComponent(team.slug)}/invitations`, { email: email.input.value.trim() });
        await load();
      } catch (e) {
        if (!redirectIfUnauthorized(e)) showFieldErrors(memberForm, e, memberStatus);
      }
    });
    const pending = h(
      'ul',
      { class: 'plain-list', testid: 'team-invitations-sent' },
      ...(team.invitations || []).map((inv) =>
        h(
          'li',
          { testid: 'team-invitation-sent', dataset: { email: inv.email } },
          h('span', { text: t('dash.team_invitation_open', { email: inv.email, until: formatTime(inv.expires_at) }) }),
          ' ',
          h('button', {
            type: 'button',
            class: 'button button-quiet',
            text: t('dash.team_withdraw'),
            testid: 'team-invitation-withdraw',
            onclick: async () => {
              try {
                await api('DELETE', `/api/booking/teams/${encodeURIComponent(team.slug)}/invitations/${encodeURIComponent(inv.id)}`);
                await load();
              } catch (e) {
                showError(e, memberStatus);
              }
            },
          }),
        ),
      ),
    );
    const types = typesEditor({
      heading: t('dash.team_types'),
      fetchTypes: async () => ((await get('/api/booking/teams')).find((x) => x.id === team.id) || { types: [] }).types,
      createPath: `/api/booking/teams/${encodeURIComponent(team.slug)}/types`,
      testPrefix: 'team-type',
    });
    return h(
      'section',
      { class: 'team-block', testid: 'team-block', dataset: { slug: team.slug } },
      h('h4', { text: team.name }),
      linkField(`${location.origin}/book/team/${team.slug}`, { label: t('dash.team_page'), testid: 'team-page-link' }),
      h('p', { class: 'hint', testid: 'team-members', text: t('dash.team_members', { names: team.members.join(', ') }) }),
      pending,
      memberForm,
      types.element,
    );
  }

  async function load() {
    try {
      const [teams, invitations] = await Promise.all([get('/api/booking/teams'), get('/api/booking/invitations')]);
      clear(received);
      for (const inv of invitations) received.appendChild(renderReceived(inv));
      // An invitation waits for an answer: show it without a click on the settings.
      const settings = element.closest('details');
      if (invitations.length && settings) settings.open = true;
      clear(list);
      if (!teams.length) list.appendChild(h('p', { class: 'empty-hint', text: t('dash.teams_none') }));
      for (const team of teams) list.appendChild(renderTeam(team));
    } catch (e) {
      showError(e, status);
    }
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    clear(status);
    try {
      await post('/api/booking/teams', { slug: slug.input.value.trim(), name: name.input.value.trim() });
      slug.input.value = '';
      name.input.value = '';
      await load();
    } catch (e) {
      if (redirectIfUnauthorized(e)) return;
      if (e instanceof ApiError && e.status === 409) status.appendChild(notice(t('dash.team_taken'), 'error', 'form-error'));
      else showFieldErrors(form, e, status);
    }
  });

  load();
  return { element };
}
