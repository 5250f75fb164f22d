// Pieces shared by the public booking page, the cancel/reschedule page and the dashboard:
// kind labels, time formatting in the viewer's zone, the slot picker, field errors.

import { t, currentLang, errorText, formatLongRange, formatClock24, zonePlace, dictionaries } from '../shared/i18n.js';
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

/**
 * The slot picker: seven days at a time, free times as buttons, earlier/later navigation.
 * `onPick({start, end})` is called with the chosen slot. Returns `{ element, reload }`.
 */
export function slotPicker({ slug, typeId, counsellorZone, onPick, days = 7, fetchSlots }) {
  // Where the slots come from: the public page's list, or (reschedule) one the caller gives.
  const load =
    fetchSlots ||
    ((from, to) =>
      get(`/api/public/counsellors/${encodeURIComponent(slug)}/slots?${new URLSearchParams({ type_id: typeId, from: from.toISOString(), to: to.toISOString() })}`));
  let from = startOfDay(new Date());
  const today = from;
  const zoneNote = h('p', { class: 'hint', testid: 'zone-note' });
  const zone = viewerZone();
  zoneNote.textContent =
    counsellorZone && counsellorZone !== zone
      ? t('book.times_in_other', { zone: zonePlace(zone), other: zonePlace(counsellorZone) })
      : t('book.times_in', { zone: zonePlace(zone) });
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const grid = h('div', { class: 'slot-days', testid: 'slot-days' });
  const earlier = h('button', { type: 'button', class: 'button button-quiet', text: '← ' + t('book.earlier'), testid: 'slots-earlier', onclick: () => move(-days) });
  const later = h('button', { type: 'button', class: 'button button-quiet', text: t('book.later') + ' →', testid: 'slots-later', onclick: () => move(days) });
  const range = h('span', { class: 'slot-range' });
  const nav = h('div', { class: 'slot-nav' }, earlier, range, later);
  const element = h('div', { class: 'slot-picker', testid: 'slot-picker' }, zoneNote, nav, status, grid);
  let seq = 0;

  function move(delta) {
    const next = addDays(from, delta);
    from = next < today ? today : next;
    reload();
  }

  async function reload() {
    const mine = ++seq;
    const to = addDays(from, days);
    earlier.disabled = from <= today;
    range.textContent = `${formatDay(from)} – ${formatDay(addDays(to, -1))}`;
    clear(status);
    clear(grid);
    status.appendChild(h('p', { class: 'hint', text: t('book.loading_slots') }));
    const now = new Date();
    const start = from < now ? now : from;
    let data;
    try {
      data = await load(start, to);
    } catch (e) {
      if (mine !== seq) return;
      clear(status);
      status.appendChild(notice(errorText(e instanceof ApiError ? e.code : 'generic'), 'error'));
      return;
    }
    if (mine !== seq) return;
    clear(status);
    const byDay = new Map();
    for (const slot of data.slots || []) {
      const key = dayKey(slot.start);
      if (!byDay.has(key)) byDay.set(key, []);
      byDay.get(key).push(slot);
    }
    if (byDay.size === 0) {
      grid.appendChild(h('p', { class: 'empty-hint', text: t('book.no_slots'), testid: 'no-slots' }));
      return;
    }
    for (const slots of byDay.values()) {
      const list = h('div', { class: 'slot-list' });
      for (const slot of slots) {
        list.appendChild(
          h('button', {
            type: 'button',
            class: 'button slot',
            text: formatClock(slot.start),
            testid: 'slot',
            dataset: { start: slot.start, end: slot.end },
            attrs: { 'aria-label': formatRange(slot.start, slot.end), 'aria-pressed': 'false' },
            onclick: (ev) => {
              // The chosen time stays marked, so a finger sees what it picked.
              for (const b of grid.querySelectorAll('[data-testid="slot"]')) b.setAttribute('aria-pressed', String(b === ev.currentTarget));
              onPick(slot);
            },
          }),
        );
      }
      grid.appendChild(h('section', { class: 'slot-day' }, h('h3', { text: formatDay(slots[0].start) }), list));
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
