// The counsellor's workspace: one section of the dashboard at a time, chosen in a navigation
// landmark. Each section has its own address (`/dashboard#bookings`), so a reload keeps it and
// the browser's back and forward buttons move between sections. The links are plain links (Tab,
// Enter); the current one carries `aria-current="page"`. On a narrow screen (a phone, or 200 %
// zoom) the list folds behind a menu button with `aria-expanded`. Counts of waiting clients
// appear as badges beside the sections they belong to, spoken as part of the link's name.

import { t } from '../shared/i18n.js';
import './i18n-dashboard.js';
import { h, clear } from '../shared/ui.js';

/** The sections, in the order of the navigation; the first is shown when the address names none. */
export const SECTIONS = ['today', 'sessions', 'walkins', 'bookings', 'calendars', 'signatures', 'settings'];

/** The section an address's fragment names (`#bookings`), or the first one. */
export function sectionOf(hash) {
  const id = String(hash || '').replace(/^#/, '');
  return SECTIONS.includes(id) ? id : SECTIONS[0];
}

/**
 * Builds the workspace. `content` maps a section id to its elements (an array); `onShow(id)` is
 * called whenever a section becomes visible. Returns `{ nav, main, show, setBadge, current }`:
 * `nav` and `main` go into the page; `setBadge(id, n)` shows `n` waiting beside section `id`.
 */
export function workspace({ content, onShow = () => {} }) {
  const heading = h('h1', { id: 'ws-heading', tabIndex: -1, testid: 'ws-heading' });
  const panes = {};
  const links = {};
  const badges = {};
  const listId = 'ws-nav-list';
  const menuBadge = h('span', { class: 'nav-badge', hidden: true, attrs: { 'aria-hidden': 'true' }, testid: 'nav-menu-badge' });
  const menuBadgeText = h('span', { class: 'visually-hidden' });
  const menuButton = h(
    'button',
    { type: 'button', class: 'button ws-menu-button', testid: 'nav-menu', attrs: { 'aria-expanded': 'false', 'aria-controls': listId } },
    h('span', { class: 'ws-menu-icon', attrs: { 'aria-hidden': 'true' } }),
    h('span', { class: 'ws-menu-label', testid: 'nav-menu-label' }),
    menuBadge,
    menuBadgeText,
  );
  const list = h('ul', { class: 'ws-nav-list', id: listId });
  const nav = h('nav', { class: 'ws-nav', testid: 'ws-nav', attrs: { 'aria-label': t('ws.nav_label') } }, menuButton, list);

  for (const id of SECTIONS) {
    const count = h('span', { class: 'nav-badge', hidden: true, attrs: { 'aria-hidden': 'true' }, testid: `nav-badge-${id}` });
    const spoken = h('span', { class: 'visually-hidden' });
    badges[id] = { count, spoken, n: 0 };
    links[id] = h(
      'a',
      { href: `#${id}`, class: 'ws-nav-link', testid: `nav-${id}`, dataset: { section: id }, onclick: (e) => onLinkClick(e, id) },
      h('span', { class: 'ws-nav-text', text: t('ws.section.' + id) }),
      count,
      spoken,
    );
    list.appendChild(h('li', {}, links[id]));
    panes[id] = h('div', { class: `ws-section ws-section-${id}`, id: `section-${id}`, testid: `section-${id}`, dataset: { section: id }, hidden: true }, ...(content[id] || []));
  }
  const main = h('main', { class: 'page dashboard-page ws-main', id: 'main' }, heading, ...SECTIONS.map((id) => panes[id]));

  let current = null;

  /** Shows section `id`; `focus`: move the focus to its heading (after a choice in the menu). */
  function show(id, { focus = false } = {}) {
    if (!SECTIONS.includes(id)) id = SECTIONS[0];
    current = id;
    for (const s of SECTIONS) {
      panes[s].hidden = s !== id;
      if (s === id) links[s].setAttribute('aria-current', 'page');
      else links[s].removeAttribute('aria-current');
    }
    heading.textContent = t('ws.section.' + id);
    menuButton.querySelector('.ws-menu-label').textContent = t('ws.menu', { section: t('ws.section.' + id) });
    setMenuOpen(false);
    onShow(id);
    if (focus) heading.focus();
  }

  function onLinkClick(event, id) {
    // The same section again: no hashchange follows, so the menu closes and the focus moves here.
    if (sectionOf(location.hash) === id && location.hash) {
      event.preventDefault();
      show(id, { focus: true });
    }
  }

  function setMenuOpen(open) {
    nav.classList.toggle('open', open);
    menuButton.setAttribute('aria-expanded', String(open));
  }

  menuButton.addEventListener('click', () => {
    const open = menuButton.getAttribute('aria-expanded') !== 'true';
    setMenuOpen(open);
    if (open) (links[current] || list.querySelector('a')).focus();
  });
  nav.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && menuButton.getAttribute('aria-expanded') === 'true') {
      e.preventDefault();
      setMenuOpen(false);
      menuButton.focus();
    }
  });

  window.addEventListener('hashchange', () => show(sectionOf(location.hash), { focus: true }));

  /** `n` clients wait for something in section `id` (0: the badge goes). */
  function setBadge(id, n) {
    const b = badges[id];
    if (!b || b.n === n) return;
    b.n = n;
    b.count.hidden = !n;
    b.count.textContent = String(n);
    b.spoken.textContent = n ? ` (${t('ws.badge_waiting', { n })})` : '';
    const total = Object.values(badges).reduce((sum, x) => sum + (x === badges.today ? 0 : x.n), 0);
    menuBadge.hidden = !total;
    menuBadge.textContent = String(total);
    menuBadgeText.textContent = total ? ` (${t('ws.badge_waiting', { n: total })})` : '';
  }

  return { nav, main, show, setBadge, current: () => current, pane: (id) => panes[id] };
}

/** Moves `element` into section `id`'s slot `slot` (an element shared by two sections). */
export function moveInto(slot, element) {
  if (element.parentElement !== slot) {
    clear(slot);
    slot.appendChild(element);
  }
}
