// What an end screen offers next (after a call, a walk-in, a cancelled booking, a signature):
// book again, talk now (where the centre offers them), the contact address and the emergency
// line — so no screen is a dead end. The values come from the page's data-centre-* attributes
// (web/src/pages.rs renders them from the centre's profile).

import { dictionaries, t } from './i18n.js';
import { h } from './ui.js';

Object.assign(dictionaries.en, {
  'next.title': 'What you can do now',
  'next.book': 'Book an appointment',
  'next.talk': 'Talk to someone now',
  'next.contact': 'Write to us: {email}',
  'next.emergency': 'In an acute crisis: {label} {phone}',
  'next.emergency_default': 'Crisis line',
  'next.after_call': 'The conversation is over. If you would like to talk again, you can book an appointment or, when someone is free, talk right away.',
  'next.after_lobby': 'You are no longer waiting. If you would like to talk, you can open your link again, book an appointment or talk to someone right away.',
  'next.after_walkin': 'You are no longer in the queue. You can try again, book an appointment instead, or write to us.',
  'next.after_cancel': 'The time is free again for others. If you would like another appointment, you can book one here.',
  'next.after_sign': 'Your counsellor can now see the signed document. There is nothing else you need to do.',
});
Object.assign(dictionaries.de, {
  'next.title': 'Wie es weitergehen kann',
  'next.book': 'Einen Termin buchen',
  'next.talk': 'Jetzt mit jemandem sprechen',
  'next.contact': 'Schreiben Sie uns: {email}',
  'next.emergency': 'In einer akuten Krise: {label} {phone}',
  'next.emergency_default': 'Krisentelefon',
  'next.after_call': 'Das Gespräch ist beendet. Wenn Sie wieder sprechen möchten, können Sie einen Termin buchen oder, wenn jemand frei ist, sofort sprechen.',
  'next.after_lobby': 'Sie warten nicht mehr. Wenn Sie sprechen möchten, können Sie Ihren Link wieder öffnen, einen Termin buchen oder sofort mit jemandem sprechen.',
  'next.after_walkin': 'Sie sind nicht mehr in der Warteschlange. Sie können es noch einmal versuchen, stattdessen einen Termin buchen oder uns schreiben.',
  'next.after_cancel': 'Die Zeit ist wieder für andere frei. Wenn Sie einen anderen Termin möchten, können Sie ihn hier buchen.',
  'next.after_sign': 'Ihre Beraterin oder Ihr Berater sieht das unterschriebene Dokument jetzt. Sie müssen nichts weiter tun.',
});

/**
 * A "what next" section: `what` is a sentence saying what happens next (or nothing). The links
 * appear only for what the centre offers; the emergency line is a `tel:` link.
 */
export function nextSteps(what) {
  const d = document.body.dataset;
  const actions = [];
  if (d.centreBook) actions.push(h('a', { class: 'button button-primary', href: d.centreBook, text: t('next.book'), testid: 'next-book' }));
  if (d.centreTalk) actions.push(h('a', { class: 'button', href: d.centreTalk, text: t('next.talk'), testid: 'next-talk' }));
  const lines = [];
  if (d.centreEmail) {
    const [before, after] = t('next.contact', { email: '\u0000' }).split('\u0000');
    lines.push(h('p', {}, before, h('a', { href: `mailto:${d.centreEmail}`, text: d.centreEmail, testid: 'next-contact' }), after));
  }
  if (d.centreEmergencyTel && d.centreEmergencyPhone) {
    const label = d.centreEmergencyLabel || t('next.emergency_default');
    const [before, after] = t('next.emergency', { label, phone: '\u0000' }).split('\u0000');
    lines.push(h('p', { class: 'next-emergency' }, before, h('a', { href: d.centreEmergencyTel, text: d.centreEmergencyPhone, testid: 'next-emergency' }), after));
  }
  return h(
    'section',
    { class: 'panel next-steps', testid: 'next-steps', attrs: { 'aria-labelledby': 'next-steps-title' } },
    h('h2', { id: 'next-steps-title', text: t('next.title') }),
    what ? h('p', { text: what, testid: 'next-what' }) : null,
    actions.length ? h('div', { class: 'session-actions' }, ...actions) : null,
    ...lines,
  );
}
