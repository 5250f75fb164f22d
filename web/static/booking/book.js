// Public booking pages. `/book`: the centre's list of counsellors with a booking page.
// `/book/{slug}`: choose a kind of appointment → a free time → the form (no account, no password).

import { t, currentLang, errorText } from '../shared/i18n.js';
import './i18n-booking.js';
import '../walkin/i18n-walkin.js';
import { h, clear, appRoot, pageHeader, notice } from '../shared/ui.js';
import { get, post, ApiError } from '../shared/api.js';
import { kindLabel, formatRangeZoned, slotPicker, showFieldErrors, clearFieldErrors, field, confirmationParts } from './booking-ui.js';

const app = appRoot();
clear(app);
const slug = document.body.dataset.slug || '';
const team = document.body.dataset.team || '';
const main = h('main', { class: 'page book-page', id: 'main' });
// What a client typed elsewhere (the talk-now page) comes in the URL fragment, which never
// reaches the server: `#first_name=…&last_name=…` (and `contact=1` to go to the message form).
const prefill = Object.fromEntries(new URLSearchParams(location.hash.slice(1)));
const prefillName = [prefill.first_name, prefill.last_name].filter(Boolean).join(' ');
app.append(pageHeader(), main);

// A counsellor's page and a team's page work alike; only the API base differs.
if (slug) counsellorPage(`/api/public/counsellors/${encodeURIComponent(slug)}`);
else if (team) counsellorPage(`/api/public/teams/${encodeURIComponent(team)}`);
else centrePage();

function failure(e) {
  clear(main);
  main.appendChild(notice(errorText(e instanceof ApiError ? e.code : 'generic'), 'error', 'page-error'));
}

// ------------------------------------------------------------------ the centre's page

async function centrePage() {
  document.title = `${t('book.centre_title')} – ${t('app.name')}`;
  let list;
  let teams;
  try {
    [list, teams] = await Promise.all([get('/api/public/counsellors'), get('/api/public/teams')]);
  } catch (e) {
    failure(e);
    return;
  }
  clear(main);
  main.append(h('h1', { text: t('book.centre_title') }), h('p', { class: 'lead', text: t('book.centre_intro') }));
  if (!list.length && !teams.length) {
    main.appendChild(h('p', { class: 'empty-hint', text: t('book.centre_empty'), testid: 'no-counsellors' }));
    return;
  }
  if (teams.length) {
    const tl = h('ul', { class: 'counsellor-list', testid: 'team-list' });
    for (const tm of teams) {
      tl.appendChild(
        h('li', { class: 'panel counsellor-item' }, h('a', { class: 'button button-primary', href: `/book/team/${encodeURIComponent(tm.slug)}`, text: t('book.choose_team', { name: tm.name }), testid: 'team-link', dataset: { slug: tm.slug } })),
      );
    }
    main.appendChild(tl);
  }
  const ul = h('ul', { class: 'counsellor-list', testid: 'counsellor-list' });
  for (const c of list) {
    ul.appendChild(
      h('li', { class: 'panel counsellor-item' }, h('a', { class: 'button button-primary', href: `/book/${encodeURIComponent(c.slug)}${location.hash}`, text: t('book.choose', { name: c.name }), testid: 'counsellor-link', dataset: { slug: c.slug } })),
    );
  }
  main.appendChild(ul);
}

// ------------------------------------------------------------------ one counsellor's page

async function counsellorPage(apiBase) {
  let page;
  try {
    page = await get(`${apiBase}?lang=${currentLang()}`);
  } catch (e) {
    failure(e);
    return;
  }
  document.title = `${t('book.title', { name: page.name })} – ${t('app.name')}`;
  clear(main);
  // A counsellor without a profile has no card: `append` would write a null as the text "null".
  const card = page.profile ? profileCard(page) : null;
  main.append(
    h('p', {}, h('a', { href: '/book', text: '← ' + t('book.back_to_list') })),
    h('h1', { text: t('book.title', { name: page.name }) }),
    ...(card ? [card] : []),
    h('p', { class: 'lead', text: t('book.intro') }),
  );
  // A counsellor who takes walk-ins and is available now: talking at once is one click away.
  if (slug) {
    const lead = main.querySelector('.lead');
    get(`/api/public/walkin/${encodeURIComponent(slug)}`).then(
      (w) => {
        if (w.presence === 'available') {
          lead.after(h('p', { testid: 'talk-now-hint' }, t('book.talk_now_hint', { name: page.name }), ' ', h('a', { class: 'button button-primary', href: `/talk/${encodeURIComponent(slug)}`, text: t('talk.submit'), testid: 'talk-now-link' })));
        }
      },
      () => {},
    );
  }

  const state = { type: null, slot: null };
  const typeSection = h('section', { class: 'panel', testid: 'step-type' }, h('h2', { text: t('book.step_type') }));
  const slotSection = h('section', { class: 'panel', hidden: true, testid: 'step-slot' }, h('h2', { text: t('book.step_slot') }));
  const formSection = h('section', { class: 'panel', hidden: true, testid: 'step-form' }, h('h2', { text: t('book.step_form') }));
  const done = h('section', { class: 'panel', hidden: true, testid: 'booking-done' });
  main.append(typeSection, slotSection, formSection, done);

  if (!page.types.length) {
    typeSection.appendChild(h('p', { class: 'empty-hint', text: t('book.no_types'), testid: 'no-types' }));
  }
  const typeButtons = h('div', { class: 'type-list', attrs: { role: 'group' } });
  for (const type of page.types) {
    const details = [kindLabel(type.kind), t('book.minutes', { n: type.duration_min })];
    typeButtons.appendChild(
      h(
        'button',
        {
          type: 'button',
          class: 'button type-choice',
          testid: 'type-choice',
          dataset: { typeId: type.id, kind: type.kind },
          attrs: { 'aria-pressed': 'false' },
          onclick: (ev) => chooseType(type, ev.currentTarget),
        },
        h('span', { class: 'type-name', text: type.name }),
        h('span', { class: 'type-meta', text: details.join(' · ') }),
        type.requires_confirmation ? h('span', { class: 'type-meta', text: t('book.requires_confirmation') }) : null,
        type.location ? h('span', { class: 'type-meta', text: t('book.location', { location: type.location }) }) : null,
        type.description ? h('span', { class: 'type-description', text: type.description, testid: 'type-description' }) : null,
      ),
    );
  }
  typeSection.appendChild(typeButtons);

  let picker = null;
  function chooseType(type, button) {
    state.type = type;
    state.slot = null;
    for (const b of typeButtons.children) b.setAttribute('aria-pressed', String(b === button));
    if (picker) picker.element.remove();
    picker = slotPicker({
      counsellorZone: page.time_zone,
      onPick: chooseSlot,
      fetchSlots: (from, to) => get(`${apiBase}/slots?${new URLSearchParams({ type_id: type.id, from: from.toISOString(), to: to.toISOString() })}`),
    });
    slotSection.appendChild(picker.element);
    slotSection.hidden = false;
    formSection.hidden = true;
    picker.reload();
    slotSection.scrollIntoView({ block: 'start', behavior: 'smooth' });
  }

  function chooseSlot(slot) {
    state.slot = slot;
    renderForm();
    formSection.hidden = false;
    formSection.scrollIntoView({ block: 'start' });
    const first = formSection.querySelector('input[name="first_name"]');
    if (first) first.focus({ preventScroll: true });
  }

  function renderForm() {
    clear(formSection);
    formSection.appendChild(h('h2', { text: t('book.step_form') }));
    const type = state.type;
    const chosen = h(
      'div',
      { class: 'chosen' },
      h('p', { class: 'chosen-time', testid: 'chosen-slot', dataset: { start: state.slot.start }, text: t('book.chosen', { time: formatRangeZoned(state.slot.start, state.slot.end) }) }),
      h('button', {
        type: 'button',
        class: 'button button-quiet',
        text: t('book.change'),
        onclick: () => {
          formSection.hidden = true;
          slotSection.scrollIntoView({ block: 'start' });
        },
      }),
    );
    const first = field('first_name', t('book.first_name'), { type: 'text', maxLength: 100, autocomplete: 'given-name', required: true });
    const last = field('last_name', t('book.last_name'), { type: 'text', maxLength: 100, autocomplete: 'family-name', required: true });
    if (!first.input.value) first.input.value = prefill.first_name || '';
    if (!last.input.value) last.input.value = prefill.last_name || '';
    const email = field('email', t('book.email'), { type: 'email', maxLength: 254, autocomplete: 'email', required: true }, t('book.email_hint'));
    const phone = type.kind === 'phone' ? field('phone', t('book.phone'), { type: 'tel', maxLength: 40, autocomplete: 'tel', required: true }, t('book.phone_hint')) : null;
    const address = type.kind === 'on_site' ? field('address', t('book.address'), { tag: 'textarea', rows: 3, maxLength: 500, autocomplete: 'street-address', required: true }) : null;
    const message = field('message', t('book.message'), { tag: 'textarea', rows: 4, maxLength: 4000 });
    // Honeypot: people never see it; form-filling bots do.
    const trap = h('div', { class: 'trap', attrs: { 'aria-hidden': 'true' } }, h('label', { text: t('book.website') }, h('input', { type: 'text', name: 'website', tabIndex: -1, autocomplete: 'off' })));
    const consent = consentBox(page.consent);
    const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
    const submit = h('button', { type: 'submit', class: 'button button-primary', text: t('book.submit'), testid: 'book-submit' });
    const form = h(
      'form',
      { class: 'booking-form', noValidate: true, testid: 'booking-form' },
      chosen,
      h('div', { class: 'field-row' }, first.element, last.element),
      email.element,
      phone ? phone.element : null,
      address ? address.element : null,
      message.element,
      consent.element,
      trap,
      status,
      // The Book button in a bar that stays on the screen while the form is in view.
      h('div', { class: 'action-bar', testid: 'book-bar' }, submit),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      clear(status);
      if (!consent.input.checked) {
        status.appendChild(notice(t('book.consent_required'), 'error', 'form-error'));
        consent.input.focus();
        return;
      }
      const body = {
        type_id: type.id,
        start: state.slot.start,
        first_name: first.input.value.trim(),
        last_name: last.input.value.trim(),
        email: email.input.value.trim(),
        message: message.input.value,
        lang: currentLang(),
        consent_sha256: page.consent.sha256,
        website: form.querySelector('input[name="website"]').value,
      };
      if (phone) body.phone = phone.input.value.trim();
      if (address) body.address = address.input.value.trim();
      submit.disabled = true;
      submit.textContent = t('book.submitting');
      try {
        const booking = await post(`${apiBase}/bookings`, body);
        showDone(booking, body.email);
        return;
      } catch (e) {
        if (e instanceof ApiError && e.code === 'slot_taken') {
          status.appendChild(notice(t('book.slot_taken'), 'error', 'slot-taken'));
          if (picker) picker.reload();
        } else if (e instanceof ApiError && e.status === 429) {
          status.appendChild(notice(t('book.rate_limited', { seconds: e.retryAfter ?? 60 }), 'error', 'rate-limited'));
        } else {
          showFieldErrors(form, e, status);
        }
      }
      submit.disabled = false;
      submit.textContent = t('book.submit');
    });
    formSection.appendChild(form);
  }

  function showDone(booking, email) {
    typeSection.hidden = true;
    slotSection.hidden = true;
    formSection.hidden = true;
    clear(done);
    const pending = booking.status === 'pending';
    done.dataset.bookingId = booking.id;
    done.dataset.status = booking.status;
    const heading = h('h2', { text: pending ? t('book.done_pending_title') : t('book.done_title'), tabIndex: -1, testid: 'done-title' });
    done.append(
      heading,
      h('p', { class: 'chosen-time', testid: 'done-time', text: `${booking.type_name}: ${formatRangeZoned(booking.start, booking.end)}` }),
      h('p', { text: pending ? t('book.done_pending', { email }) : t('book.done_text', { email }) }),
      ...confirmationParts(booking),
    );
    done.hidden = false;
    done.scrollIntoView({ block: 'start' });
    // The page changed under the button that was pressed: the heading takes the focus, so a
    // screen reader reads the confirmation.
    heading.focus();
  }

  // Messages go to one counsellor; a team page has no contact form.
  if (!team) {
    const contact = contactSection(slug, page, !!prefill.contact);
    main.appendChild(contact);
    if (prefill.contact) contact.scrollIntoView({ block: 'start' });
  }
}

/** The counsellor's photo, languages, topics and short text (what they set on the dashboard). */
function profileCard(page) {
  const p = page.profile;
  if (!p.about && !p.languages.length && !p.topics.length && !p.photo_url) return null;
  const facts = h('dl', { class: 'profile-facts' });
  if (p.languages.length) facts.append(h('dt', { text: t('book.profile_languages') }), h('dd', { text: p.languages.join(', '), testid: 'profile-languages' }));
  if (p.topics.length) facts.append(h('dt', { text: t('book.profile_topics') }), h('dd', { text: p.topics.join(', '), testid: 'profile-topics' }));
  return h(
    'section',
    { class: 'panel profile-card', testid: 'counsellor-profile', attrs: { 'aria-label': t('book.profile_label', { name: page.name }) } },
    p.photo_url ? h('img', { class: 'profile-photo', src: p.photo_url, alt: t('book.profile_photo_alt', { name: page.name }), width: 112, height: 112, testid: 'profile-photo' }) : null,
    h('div', { class: 'profile-body' }, p.about ? h('p', { class: 'preline', text: p.about, testid: 'profile-about' }) : null, facts.children.length ? facts : null),
  );
}

/** The consent text in a scrollable box and the checkbox that agrees to it. */
function consentBox(consent) {
  const id = 'consent-' + Math.random().toString(36).slice(2, 7);
  const input = h('input', { type: 'checkbox', id, testid: 'consent-checkbox', required: true });
  const element = h(
    'div',
    { class: 'consent' },
    h('div', { class: 'consent-text', tabIndex: 0, text: consent.text, testid: 'consent-text', dataset: { version: consent.version } }),
    h('div', { class: 'check' }, input, h('label', { for: id, text: t('book.consent_label') })),
  );
  return { element, input };
}

/** A message to the counsellor without an appointment. */
function contactSection(slug, page, open) {
  // Folded: it is the other way, not the next step after booking (opened when asked for).
  const section = h(
    'details',
    { class: 'panel contact', testid: 'contact-section', open },
    h('summary', { testid: 'contact-open' }, h('h2', { text: t('book.contact_title') })),
    h('p', { class: 'hint', text: t('book.contact_intro', { name: page.name }) }),
  );
  const name = field('name', t('book.contact_name'), { type: 'text', maxLength: 100, autocomplete: 'name', required: true });
  name.input.value = prefillName;
  const email = field('email', t('book.email'), { type: 'email', maxLength: 254, autocomplete: 'email', required: true });
  const message = field('message', t('book.message').replace(/\s*\(.*\)$/, ''), { tag: 'textarea', rows: 5, maxLength: 4000, required: true });
  const trap = h('div', { class: 'trap', attrs: { 'aria-hidden': 'true' } }, h('label', { text: t('book.website') }, h('input', { type: 'text', name: 'website', tabIndex: -1, autocomplete: 'off' })));
  // The contact form's own text: a message has no appointment, reminders or cancelling.
  const consent = consentBox(page.contact_consent || page.consent);
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const submit = h('button', { type: 'submit', class: 'button', text: t('book.contact_submit'), testid: 'contact-submit' });
  const form = h('form', { noValidate: true, testid: 'contact-form' }, name.element, email.element, message.element, consent.element, trap, status, submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    clear(status);
    if (!consent.input.checked) {
      status.appendChild(notice(t('book.consent_required'), 'error', 'form-error'));
      return;
    }
    submit.disabled = true;
    try {
      await post(`/api/public/counsellors/${encodeURIComponent(slug)}/contact`, {
        name: name.input.value.trim(),
        email: email.input.value.trim(),
        message: message.input.value,
        lang: currentLang(),
        consent_sha256: (page.contact_consent || page.consent).sha256,
        website: form.querySelector('input[name="website"]').value,
      });
      clear(form);
      form.appendChild(notice(t('book.contact_sent'), 'success', 'contact-sent'));
      return;
    } catch (e) {
      if (e instanceof ApiError && e.status === 429) {
        status.appendChild(notice(t('book.rate_limited', { seconds: e.retryAfter ?? 60 }), 'error', 'rate-limited'));
      } else {
        showFieldErrors(form, e, status);
      }
    }
    submit.disabled = false;
  });
  section.appendChild(form);
  return section;
}
