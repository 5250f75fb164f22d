// Pieces shared by the public booking page, the cancel/reschedule page and the dashboard:
// kind labels, time formatting in the viewer's zone, the slot picker, field errors.

import { t, currentLang, errorText, formatLongRange, formatLongDay, formatClock24, zonePlace, dictionaries } from '../shared/i18n.js';
import './i18n-booking.js';
import { h, clear, notice } from '../shared/ui.js';
import { get, ApiError } from '../shared/api.js';

/** The viewer's IANA time zone (what `Intl` formats in). */
export function viewerZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/** `video` → "Video", …. */
export function kindLabel(kind) {
  return t('book.kind.' + kind);
}

function fmt(date, opts) {
  try {
    return new Intl.DateTimeFormat(currentLang(), opts).format(date);
  } catch {
    return date.toISOString();
  }
}

/** "Mittwoch, 9. Dezember 2026, 09:00–09:50 Uhr" in the viewer's zone (docs/GLOSSARY.md). */
export function formatRange(start, end) {
  return formatLongRange(start, end);
}

/**
 * "09:00" in the viewer's zone, 24-hour in both languages like every other time on the page
 * (docs/GLOSSARY.md): a slot reading "06:20 PM" whose accessible name says "18:20" fails WCAG
 * 2.5.3 (label in name) for speech-input users.
 */
export function formatClock(date) {
  return formatClock24(date);
}

/** "Monday, 7 December" in the viewer's zone. */
export function formatDay(date) {
  return fmt(new Date(date), { weekday: 'long', day: 'numeric', month: 'long' });
}

/** Local calendar date key `YYYY-MM-DD` of a Date in the viewer's zone. */
export function dayKey(date) {
  const d = new Date(date);
  const m = String(d.getMonth() + 1).padStart(2, '0');
  const day = String(d.getDate()).padStart(2, '0');
  return `${d.getFullYear()}-${m}-${day}`;
}

/** Local midnight of `date` (viewer's zone). */
export function startOfDay(date) {
  const d = new Date(date);
  d.setHours(0, 0, 0, 0);
  return d;
}

/** `date` plus `n` calendar days, at local midnight (DST-safe: uses the calendar, not 24 h). */
export function addDays(date, n) {
  const d = startOfDay(date);
  d.setDate(d.getDate() + n);
  return d;
}

/** A status pill for a booking status. */
export function bookingStatus(status) {
  return h('span', { class: `status bstatus-${status}`, text: t('bstatus.' + status), testid: 'booking-status', dataset: { status } });
}

/** The viewer's zone as a place: "New York time", "Berliner Zeit". */
export function viewerZonePlace() {
  return zonePlace(viewerZone());
}

/** `formatRange` with the viewer's zone named: "…, 09:00–09:50 (New York time)". */
export function formatRangeZoned(start, end) {
  return `${formatRange(start, end)} (${viewerZonePlace()})`;
}

/** Local midnight of the first day of `date`'s month (viewer's zone). */
function monthStart(date) {
  const d = startOfDay(date);
  d.setDate(1);
  return d;
}

/** `date`'s month plus `n` months, at its first day. */
function addMonths(date, n) {
  const d = monthStart(date);
  d.setMonth(d.getMonth() + n);
  return d;
}

/** "December 2026" / "Dezember 2026". */
function formatMonth(date) {
  return fmt(date, { month: 'long', year: 'numeric' });
}

/** Monday-first weekday index (0 = Monday) of a local date. */
function weekdayOf(date) {
  return (date.getDay() + 6) % 7;
}

/** How many months ahead the picker looks for the first free day when the current month has none. */
const MONTHS_TO_SEARCH = 3;

/**
 * The slot picker: a month calendar (a WAI-ARIA date-picker grid: arrow keys move by day and
 * week, Home/End to the week's ends, Page Up/Down by month, Enter or Space chooses) with the
 * days that have free times marked, and the free times of the chosen day below it, all in the
 * viewer's own time zone, which is named. `onPick({start, end})` is called with the chosen
 * slot. Returns `{ element, reload }`.
 */
export function slotPicker({ slug, typeId, counsellorZone, onPick, fetchSlots }) {
  // Where the slots come from: the public page's list, or (reschedule) one the caller gives.
  const load =
    fetchSlots ||
    ((from, to) =>
      get(`/api/public/counsellors/${encodeURIComponent(slug)}/slots?${new URLSearchParams({ type_id: typeId, from: from.toISOString(), to: to.toISOString() })}`));
  const thisMonth = monthStart(new Date());
  let month = thisMonth;
  let focusDay = null; // local Date of the focusable day
  let chosenDay = null; // dayKey of the chosen day
  let byDay = new Map();
  let searchLeft = MONTHS_TO_SEARCH;
  const zone = viewerZone();
  const zoneNote = h('p', { class: 'hint', testid: 'zone-note', dataset: { zone } });
  zoneNote.textContent =
    counsellorZone && counsellorZone !== zone
      ? t('book.times_in_other', { zone: zonePlace(zone), other: zonePlace(counsellorZone) })
      : t('book.times_in', { zone: zonePlace(zone) });
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const headingId = 'cal-' + Math.random().toString(36).slice(2, 7);
  const heading = h('h3', { class: 'cal-month', id: headingId, testid: 'cal-month', attrs: { 'aria-live': 'polite' } });
  const earlier = h('button', { type: 'button', class: 'button button-quiet', text: '← ' + t('book.prev_month'), testid: 'cal-prev', onclick: () => show(addMonths(month, -1)) });
  const later = h('button', { type: 'button', class: 'button button-quiet', text: t('book.next_month') + ' →', testid: 'cal-next', onclick: () => show(addMonths(month, 1)) });
  const nav = h('div', { class: 'slot-nav cal-nav' }, earlier, heading, later);
  const grid = h('table', { class: 'cal-grid', testid: 'cal-grid', attrs: { role: 'grid', 'aria-labelledby': headingId } });
  const legend = h('p', { class: 'hint cal-legend', text: t('book.cal_legend') });
  const times = h('div', { class: 'slot-days', testid: 'slot-days' });
  const element = h('div', { class: 'slot-picker', testid: 'slot-picker' }, zoneNote, nav, grid, legend, status, times);
  let seq = 0;

  function show(m) {
    month = m < thisMonth ? thisMonth : m;
    focusDay = null;
    searchLeft = 0;
    reload();
  }

  function cellOf(key) {
    return grid.querySelector(`[data-date="${key}"]`);
  }

  /** Moves the focus to `date` (a local Date), changing the month when it lies outside. */
  function moveFocus(date) {
    if (date < startOfDay(new Date())) return;
    if (monthStart(date).getTime() !== month.getTime()) {
      month = monthStart(date);
      focusDay = startOfDay(date);
      reload(true);
      return;
    }
    focusDay = startOfDay(date);
    for (const c of grid.querySelectorAll('[data-date]')) c.tabIndex = -1;
    const cell = cellOf(dayKey(focusDay));
    if (cell) {
      cell.tabIndex = 0;
      cell.focus();
    }
  }

  function onKey(ev) {
    if (!focusDay) return;
    const d = new Date(focusDay);
    switch (ev.key) {
      case 'ArrowLeft': d.setDate(d.getDate() - 1); break;
      case 'ArrowRight': d.setDate(d.getDate() + 1); break;
      case 'ArrowUp': d.setDate(d.getDate() - 7); break;
      case 'ArrowDown': d.setDate(d.getDate() + 7); break;
      case 'Home': d.setDate(d.getDate() - weekdayOf(d)); break;
      case 'End': d.setDate(d.getDate() + 6 - weekdayOf(d)); break;
      case 'PageUp': d.setMonth(d.getMonth() - 1); break;
      case 'PageDown': d.setMonth(d.getMonth() + 1); break;
      case 'Enter':
      case ' ':
        ev.preventDefault();
        chooseDay(dayKey(focusDay), 'keyboard');
        return;
      default:
        return;
    }
    ev.preventDefault();
    moveFocus(d);
  }
  grid.addEventListener('keydown', onKey);

  function chooseDay(key, how) {
    const slots = byDay.get(key);
    if (!slots) return;
    chosenDay = key;
    for (const c of grid.querySelectorAll('[data-date]')) c.setAttribute('aria-selected', String(c.dataset.date === key));
    renderTimes(slots);
    if (how === 'keyboard') {
      const first = times.querySelector('[data-testid="slot"]');
      if (first) first.focus();
    } else if (how === 'pointer') {
      // On a phone the times lie below the month: bring them into view.
      times.scrollIntoView({ block: 'nearest' });
    }
  }

  function renderTimes(slots) {
    clear(times);
    const list = h('div', { class: 'slot-list', attrs: { role: 'group', 'aria-label': formatDay(slots[0].start) } });
    for (const slot of slots) {
      list.appendChild(
        h('button', {
          type: 'button',
          class: 'button slot',
          text: formatClock(slot.start),
          testid: 'slot',
          dataset: { start: slot.start, end: slot.end },
          attrs: { 'aria-label': formatRangeZoned(slot.start, slot.end), 'aria-pressed': 'false' },
          onclick: (ev) => {
            // The chosen time stays marked, so a finger sees what it picked.
            for (const b of times.querySelectorAll('[data-testid="slot"]')) b.setAttribute('aria-pressed', String(b === ev.currentTarget));
            onPick(slot);
          },
        }),
      );
    }
    times.appendChild(
      h('section', { class: 'slot-day', testid: 'slot-day' }, h('h3', { text: formatDay(slots[0].start) }), h('p', { class: 'hint', testid: 'times-zone', text: t('book.times_zone', { zone: viewerZonePlace() }) }), list),
    );
  }

  function renderGrid() {
    clear(grid);
    const names = [];
    // 2024-01-01 was a Monday: seven days from it give the weekday names in order.
    for (let i = 0; i < 7; i++) {
      const d = new Date(2024, 0, 1 + i);
      names.push([fmt(d, { weekday: 'short' }), fmt(d, { weekday: 'long' })]);
    }
    grid.appendChild(h('thead', {}, h('tr', {}, ...names.map(([short, long]) => h('th', { attrs: { scope: 'col', abbr: long }, text: short })))));
    const body = h('tbody');
    const today = startOfDay(new Date());
    const first = new Date(month);
    const cursor = new Date(first);
    cursor.setDate(1 - weekdayOf(first));
    if (!focusDay || monthStart(focusDay).getTime() !== month.getTime()) {
      const firstFree = [...byDay.keys()].sort()[0];
      focusDay = chosenDay && chosenDay.startsWith(dayKey(month).slice(0, 7)) ? new Date(`${chosenDay}T00:00`) : firstFree ? new Date(`${firstFree}T00:00`) : today > first ? today : first;
    }
    const focusKey = dayKey(focusDay);
    for (let week = 0; week < 6; week++) {
      const row = h('tr');
      for (let i = 0; i < 7; i++) {
        const d = new Date(cursor);
        const key = dayKey(d);
        if (d.getMonth() !== month.getMonth()) {
          row.appendChild(h('td', { class: 'cal-out' }));
        } else {
          const free = byDay.has(key);
          const past = d < today;
          const label = `${formatLongDay(d)}, ${t(free ? 'book.day_free' : 'book.day_none')}`;
          row.appendChild(
            h('td', {
              class: `cal-day${free ? ' cal-free' : ''}${past ? ' cal-past' : ''}`,
              text: String(d.getDate()),
              tabIndex: key === focusKey ? 0 : -1,
              testid: 'cal-day',
              dataset: { date: key, free: String(free) },
              attrs: { role: 'gridcell', 'aria-label': label, 'aria-selected': String(key === chosenDay), ...(free ? {} : { 'aria-disabled': 'true' }) },
              onclick: () => {
                focusDay = d;
                for (const c of grid.querySelectorAll('[data-date]')) c.tabIndex = c.dataset.date === key ? 0 : -1;
                chooseDay(key, 'pointer');
              },
            }),
          );
        }
        cursor.setDate(cursor.getDate() + 1);
      }
      body.appendChild(row);
      if (cursor.getMonth() !== month.getMonth() && week >= 3) break;
    }
    grid.appendChild(body);
    grid.dataset.month = dayKey(month).slice(0, 7);
  }

  async function reload(keepFocus = false) {
    const mine = ++seq;
    const to = addMonths(month, 1);
    earlier.disabled = month <= thisMonth;
    heading.textContent = formatMonth(month);
    grid.setAttribute('aria-busy', 'true');
    clear(status);
    status.appendChild(h('p', { class: 'hint', text: t('book.loading_slots') }));
    const now = new Date();
    const start = month < now ? now : month;
    let data;
    try {
      data = await load(start, to);
    } catch (e) {
      if (mine !== seq) return;
      grid.setAttribute('aria-busy', 'false');
      clear(status);
      status.appendChild(notice(errorText(e instanceof ApiError ? e.code : 'generic'), 'error'));
      return;
    }
    if (mine !== seq) return;
    grid.setAttribute('aria-busy', 'false');
    clear(status);
    byDay = new Map();
    for (const slot of data.slots || []) {
      const key = dayKey(slot.start);
      if (!byDay.has(key)) byDay.set(key, []);
      byDay.get(key).push(slot);
    }
    // The first look: a month without free days moves on to the next (up to a few months).
    if (byDay.size === 0 && searchLeft > 0) {
      searchLeft--;
      month = addMonths(month, 1);
      reload();
      return;
    }
    searchLeft = 0;
    renderGrid();
    clear(times);
    if (byDay.size === 0) {
      status.appendChild(h('p', { class: 'empty-hint', text: t('book.no_slots_month'), testid: 'no-slots' }));
    } else if (chosenDay && byDay.has(chosenDay)) {
      chooseDay(chosenDay, false);
    } else if (!keepFocus) {
      chooseDay([...byDay.keys()].sort()[0], false);
    }
    if (keepFocus) {
      const cell = cellOf(dayKey(focusDay));
      if (cell) cell.focus();
    }
  }

  return { element, reload };
}

/**
 * Shows an API error on a form: each field named in `err.fields` gets its message next to the
 * input (`[data-error-for=field]`) and `aria-invalid`; anything else goes into `statusEl`.
 * Returns true when at least one field was marked.
 */
export function showFieldErrors(form, err, statusEl) {
  clearFieldErrors(form);
  let marked = false;
  const unplaced = [];
  if (err instanceof ApiError && err.fields.length) {
    for (const f of err.fields) {
      // `weekly[2].end` → the `weekly` slot, when there is no slot for the exact name.
      const base = f.field.replace(/[[.].*$/, '');
      const slot =
        form.querySelector(`[data-error-for="${CSS.escape(f.field)}"]`) || form.querySelector(`[data-error-for="${CSS.escape(base)}"]`);
      const input = form.querySelector(`[name="${CSS.escape(f.field)}"]`);
      if (!slot) {
        unplaced.push(fieldText(f, base));
        continue;
      }
      slot.textContent = fieldText(f, base);
      if (input) input.setAttribute('aria-invalid', 'true');
      if (!marked && input) input.focus();
      marked = true;
    }
  }
  if (statusEl && (!marked || unplaced.length)) {
    clear(statusEl);
    const text = unplaced.length ? unplaced.join(' · ') : errorText(err instanceof ApiError ? err.code : 'generic');
    statusEl.appendChild(notice(text, 'error', 'form-error'));
  }
  return marked;
}

/**
 * Our own words for a field problem, never the server's English message in German: a text for
 * the field itself (`err.field.consent_sha256`), else one for its code, else a generic one. In
 * English the server's message is kept where we have no text of our own (it names the detail).
 */
export function fieldText(f, base = f.field) {
  const has = (k) => k in dictionaries.en;
  // `required`, `too_long`, `control_characters` say it all; `invalid` is told per field.
  if (f.code !== 'invalid' && has('err.field.' + f.code)) return t('err.field.' + f.code);
  if (has('err.field.' + f.field)) return t('err.field.' + f.field);
  if (has('err.field.' + base)) return t('err.field.' + base);
  if (currentLang() === 'en' && f.message) return f.message;
  return has('err.field.' + f.code) ? t('err.field.' + f.code) : t('err.field.invalid');
}

/** Removes the marks of `showFieldErrors`. */
export function clearFieldErrors(form) {
  for (const el of form.querySelectorAll('[data-error-for]')) el.textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
}

/** A labelled input with its error slot. `attrs` go to the input. */
export function field(name, label, attrs = {}, hint) {
  const id = 'f-' + name + '-' + Math.random().toString(36).slice(2, 7);
  const tag = attrs.tag || 'input';
  const inputAttrs = { ...attrs, id, name, testid: attrs.testid || 'field-' + name };
  delete inputAttrs.tag;
  const input = h(tag, inputAttrs);
  return {
    input,
    element: h(
      'div',
      { class: 'field' },
      h('label', { for: id, text: label }),
      input,
      hint ? h('p', { class: 'hint', text: hint }) : null,
      h('p', { class: 'field-error', dataset: { errorFor: name }, attrs: { 'aria-live': 'polite' } }),
    ),
  };
}

/**
 * What a client gets right after booking or moving an appointment (`booking.confirmation` of
 * the API's answer): add to calendar (the server's .ics, Google, Outlook), how to take part
 * (video link, the number we call, the address), what to prepare, and the links to reschedule
 * or cancel. `level`: the headings' tag, one below the heading they stand under. Returns an
 * array of elements.
 */
export function confirmationParts(booking, { level = 'h3' } = {}) {
  const c = booking.confirmation;
  if (!c) return [];
  const out = [];
  const external = (href, text, testid) => h('a', { class: 'button', href, text, testid, target: '_blank', rel: 'noopener noreferrer' });
  if (c.ics_url) {
    out.push(
      h(
        'section',
        { class: 'confirm-block', testid: 'add-to-calendar', attrs: { 'aria-labelledby': 'confirm-cal' } },
        h(level, { id: 'confirm-cal', text: t('book.add_to_calendar') }),
        h('p', { class: 'hint', text: t('book.calendar_title_hint', { title: c.calendar_title }) }),
        h(
          'div',
          { class: 'button-row' },
          h('a', { class: 'button button-primary', href: c.ics_url, download: '', text: t('book.ics_download'), testid: 'ics-download' }),
          external(c.google_url, t('book.google_calendar'), 'google-calendar'),
          external(c.outlook_url, t('book.outlook_live'), 'outlook-live'),
          external(c.office_url, t('book.outlook_office'), 'outlook-office'),
        ),
      ),
    );
  }
  const how = [];
  if (c.join_url) {
    how.push(h('p', {}, t('book.join_intro'), ' ', h('a', { href: c.join_url, text: t('book.join_link'), testid: 'join-link' })));
    how.push(h('p', { class: 'hint', text: t('book.join_hint') }));
  } else if (booking.kind === 'video') {
    how.push(h('p', { text: t('book.join_after_confirmation') }));
  }
  if (c.phone) how.push(h('p', { testid: 'confirm-phone', text: t('book.we_call', { phone: c.phone }) }));
  if (c.location) how.push(h('p', { testid: 'confirm-location', class: 'preline', text: t('book.location', { location: c.location }) }));
  if (how.length) {
    out.push(h('section', { class: 'confirm-block', testid: 'how-to-join', attrs: { 'aria-labelledby': 'confirm-how' } }, h(level, { id: 'confirm-how', text: t('book.how_to_join') }), ...how));
  }
  out.push(
    h(
      'section',
      { class: 'confirm-block', testid: 'preparation', attrs: { 'aria-labelledby': 'confirm-prep' } },
      h(level, { id: 'confirm-prep', text: t('book.preparation') }),
      h('p', { class: 'preline', text: c.preparation }),
    ),
  );
  out.push(
    h(
      'section',
      { class: 'confirm-block', testid: 'manage-links', attrs: { 'aria-labelledby': 'confirm-manage' } },
      h(level, { id: 'confirm-manage', text: t('book.manage') }),
      h(
        'div',
        { class: 'button-row' },
        h('a', { class: 'button', href: c.reschedule_url, text: t('book.reschedule_link'), testid: 'reschedule-link' }),
        h('a', { class: 'button button-quiet', href: c.cancel_url, text: booking.status === 'pending' ? t('book.withdraw_link') : t('book.cancel_link'), testid: 'cancel-link' }),
      ),
    ),
  );
  return out;
}
