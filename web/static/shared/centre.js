// What an end screen offers next (after a call, a walk-in, a cancelled booking, a signature):
// book again, talk now (where the centre offers them), the contact address and the emergency
// line — so no screen is a dead end. The values come from the page's data-centre-* attributes
// (web/src/pages.rs renders them from the centre's profile).

import { t } from './i18n.js';
import './i18n-centre.js';
import { h } from './ui.js';

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
    const label = d.centreEmergencyLabel || t('centre.crisis_line');
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
