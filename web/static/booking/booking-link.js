// The page behind the cancel and reschedule links of booking mails: `/booking/cancel#TOKEN`,
// `/booking/reschedule#TOKEN`. The token stays in the fragment (never sent to the server in the
// request line, never in a Referer); the page posts it to the API.

import { t, errorText } from '../shared/i18n.js';
import './i18n-booking.js';
import { h, clear, appRoot, pageHeader, notice } from '../shared/ui.js';
import { post, ApiError } from '../shared/api.js';
import { nextSteps } from '../shared/centre.js';
import { kindLabel, formatRange, formatRangeZoned, slotPicker, bookingStatus, field, confirmationParts } from './booking-ui.js';

const app = appRoot();
clear(app);
const main = h('main', { class: 'page booking-link-page', id: 'main' });
app.append(pageHeader(), main);

const token = decodeURIComponent((location.hash || '').replace(/^#/, '')).trim();
const asked = document.body.dataset.purpose === 'reschedule' ? 'reschedule' : 'cancel';
document.title = `${t(asked === 'reschedule' ? 'link.title_reschedule' : 'link.title_cancel')} – ${t('app.name')}`;

start();

async function start() {
  main.appendChild(h('h1', { text: t(asked === 'reschedule' ? 'link.title_reschedule' : 'link.title_cancel') }));
  if (!token) {
    main.appendChild(notice(t('link.missing'), 'error', 'link-invalid'));
    return;
  }
  let linked;
  try {
    linked = await post('/api/public/bookings/lookup', { token });
  } catch (e) {
    main.appendChild(notice(linkError(e), 'error', 'link-invalid'));
    return;
  }
  // The token decides what it allows, whichever of the two pages opened it.
  const purpose = linked.purpose;
  const heading = main.querySelector('h1');
  heading.textContent = t(purpose === 'reschedule' ? 'link.title_reschedule' : 'link.title_cancel');
  const summary = h('dl', { class: 'booking-summary panel', testid: 'booking-summary', dataset: { bookingId: linked.booking.id } });
  main.appendChild(summary);
  renderSummary(summary, linked.booking);
  const active = linked.booking.status === 'confirmed' || linked.booking.status === 'pending';
  if (!active) {
    main.appendChild(notice(t('link.already_cancelled'), 'info', 'already-cancelled'));
    main.appendChild(h('p', {}, h('a', { href: `/book/${encodeURIComponent(linked.booking.slug)}`, text: t('link.book_again') })));
    return;
  }
  if (purpose === 'cancel') cancelForm(linked.booking, summary);
  else if (purpose === 'reschedule') rescheduleForm(linked.booking, summary);
}

function linkError(e) {
  if (e instanceof ApiError && (e.code === 'validation_failed' || e.status === 404)) return t('link.invalid');
  return errorText(e instanceof ApiError ? e.code : 'generic');
}

function renderSummary(dl, b) {
  clear(dl);
  const row = (label, value) => [h('dt', { text: label }), h('dd', {}, value)];
  dl.append(
    ...row(t('link.appointment'), `${b.type_name} (${kindLabel(b.kind)})`),
    ...row(t('link.with'), b.counsellor_name),
    ...row(t('link.when'), h('span', { text: formatRange(b.start, b.end), testid: 'booking-when', dataset: { start: b.start } })),
    ...row(t('link.status'), bookingStatus(b.status)),
  );
}

function cancelForm(booking, summary) {
  const reason = field('reason', t('link.reason'), { tag: 'textarea', rows: 3, maxLength: 1000 });
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const button = h('button', { type: 'submit', class: 'button button-danger', text: t('link.cancel'), testid: 'cancel-booking' });
  const form = h('form', { class: 'panel', noValidate: true }, reason.element, status, button);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    button.textContent = t('link.cancelling');
    clear(status);
    try {
      const text = reason.input.value.trim();
      const b = await post('/api/public/bookings/cancel', text ? { token, reason: text } : { token });
      renderSummary(summary, b);
      form.replaceWith(notice(t('link.cancelled'), 'success', 'booking-cancelled'), nextSteps(t('next.after_cancel')));
      return;
    } catch (e) {
      status.appendChild(notice(linkError(e), 'error', 'form-error'));
    }
    button.disabled = false;
    button.textContent = t('link.cancel');
  });
  main.appendChild(form);
}

function rescheduleForm(booking, summary) {
  const section = h('section', { class: 'panel', testid: 'reschedule' }, h('h2', { text: t('link.choose_new') }));
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  // The confirm action appears in a bar that stays at the bottom of the screen (phones: the
  // week of times is long, and the button must not sit a screen below the chosen time).
  const confirm = h('div', { class: 'chosen action-bar', hidden: true, testid: 'reschedule-bar' });
  let chosen = null;
  const picker = slotPicker({
    counsellorZone: booking.time_zone,
    fetchSlots: (from, to) => post('/api/public/bookings/slots', { token, from: from.toISOString(), to: to.toISOString() }),
    onPick: (slot) => {
      chosen = slot;
      clear(confirm);
      clear(status);
      confirm.append(
        h('p', { class: 'chosen-time', testid: 'chosen-slot', text: t('book.chosen', { time: formatRange(slot.start, slot.end) }) }),
        h('button', { type: 'button', class: 'button button-primary', text: t('link.reschedule'), testid: 'reschedule-submit', onclick: submit }),
      );
      confirm.hidden = false;
    },
  });
  async function submit(ev) {
    const button = ev.currentTarget;
    button.disabled = true;
    try {
      const b = await post('/api/public/bookings/reschedule', { token, start: chosen.start });
      renderSummary(summary, b);
      const done = h('section', { class: 'panel', testid: 'reschedule-done' }, notice(t('link.rescheduled', { time: formatRangeZoned(b.start, b.end) }), 'success', 'booking-rescheduled'), ...confirmationParts(b, { level: 'h2' }));
      section.replaceWith(done);
      return;
    } catch (e) {
      if (e instanceof ApiError && e.code === 'slot_taken') {
        status.appendChild(notice(t('book.slot_taken'), 'error', 'slot-taken'));
        confirm.hidden = true;
        picker.reload();
      } else {
        status.appendChild(notice(linkError(e), 'error', 'form-error'));
      }
    }
    button.disabled = false;
  }
  section.append(picker.element, confirm, status);
  main.appendChild(section);
  picker.reload();
}
