// Small DOM helpers shared by all pages. Text goes in through textContent only: names and chat
// are untrusted, so nothing here ever assigns innerHTML.

import { t, currentLang, setLanguage, LANGUAGES } from './i18n.js';
import './i18n-centre.js';

/**
 * Creates an element. `attrs` keys: `class`, `text`, `testid`, `dataset` (object), `on<event>`
 * (listener), `attrs` (raw attributes object), anything else is set as a property.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'testid') el.setAttribute('data-testid', value);
    // `for` is no property of a label (`htmlFor` is): without this a label names nothing and a
    // tap on it does not reach its checkbox.
    else if (key === 'for') el.htmlFor = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'attrs') for (const [k, v] of Object.entries(value)) el.setAttribute(k, v);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el[key] = value;
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Removes all children of `el`. */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** The page's data attributes from the server-rendered shell. */
export function pageData() {
  const d = document.body.dataset;
  return {
    page: d.page || '',
    sessionId: d.sessionId || '',
    linkToken: d.linkToken || '',
    protocolVersion: Number(d.protocolVersion || 1) || 1,
  };
}

/** The #app root (created if the shell lacks it). */
export function appRoot() {
  let app = document.getElementById('app');
  if (!app) {
    app = h('div', { id: 'app' });
    document.body.appendChild(app);
  }
  return app;
}

/** The language switch: two buttons; the current language is pressed. */
export function languageSwitch() {
  const current = currentLang();
  const group = h('div', { class: 'lang-switch', testid: 'lang-switch', attrs: { role: 'group', 'aria-label': t('lang.label') } });
  for (const l of LANGUAGES) {
    group.appendChild(
      h('button', {
        type: 'button',
        class: 'lang-button',
        text: l.toUpperCase(),
        title: t('lang.' + l),
        lang: l,
        testid: 'lang-' + l,
        // The name starts with the visible code (WCAG 2.5.3, label in name), then the language's name.
        attrs: { 'aria-pressed': String(l === current), 'aria-label': `${l.toUpperCase()} – ${t('lang.' + l)}` },
        onclick: () => {
          if (l !== current) setLanguage(l);
        },
      }),
    );
  }
  return group;
}

/** The page header: the centre's brand (and emergency number), optional extra items, language switch. */
export function pageHeader(...extra) {
  return h('header', { class: 'page-header' }, centreBrand(), centreEmergencyLink(), h('div', { class: 'header-extra' }, ...extra), languageSwitch());
}

// ---- The centre's profile (server-rendered into data-centre-* on <body>, see web/src/pages.rs).

/** The brand: the centre's logo (decorative: the name beside it says it) and name. */
function centreBrand() {
  const d = document.body.dataset;
  return h(
    'a',
    { class: 'brand', href: '/' },
    d.centreLogo ? h('img', { class: 'brand-logo', src: d.centreLogo, alt: '', testid: 'centre-logo' }) : null,
    h('span', { text: d.centreName || t('app.name'), testid: 'centre-name' }),
  );
}

/** The emergency number as a `tel:` link, or nothing when the centre set none. */
function centreEmergencyLink() {
  const d = document.body.dataset;
  if (!d.centreEmergencyTel || !d.centreEmergencyPhone) return null;
  const label = d.centreEmergencyLabel || t('centre.crisis_line');
  return h('a', { class: 'header-emergency', href: d.centreEmergencyTel, text: `${label}: ${d.centreEmergencyPhone}`, testid: 'header-emergency' });
}

/** A status/alert box. `kind`: info | error | success. Returns the element. */
export function notice(text, kind = 'info', testid) {
  return h('div', {
    class: `notice notice-${kind}`,
    text,
    testid,
    attrs: { role: kind === 'error' ? 'alert' : 'status' },
  });
}

/** A live region for short announcements (screen readers). */
let liveRegion;
export function announce(text) {
  if (!liveRegion) {
    liveRegion = h('div', { class: 'visually-hidden', attrs: { 'aria-live': 'polite', role: 'status' } });
    document.body.appendChild(liveRegion);
  }
  liveRegion.textContent = '';
  setTimeout(() => {
    liveRegion.textContent = text;
  }, 50);
}

/** Copies text to the clipboard, falling back to selecting an input and execCommand. */
export async function copyText(text, inputEl) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the selection fallback
  }
  if (inputEl) {
    inputEl.focus();
    inputEl.select();
    try {
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
  return false;
}

/** A link field (readonly input) with a copy button. */
export function linkField(url, { label, testid = 'join-link', hint } = {}) {
  const id = 'link-' + Math.random().toString(36).slice(2);
  const input = h('input', {
    id,
    type: 'text',
    readOnly: true,
    value: url,
    class: 'link-input',
    testid,
    dataset: { url },
    onfocus: (e) => e.target.select(),
  });
  const status = h('span', { class: 'copy-status', attrs: { role: 'status', 'aria-live': 'polite' } });
  const button = h('button', {
    type: 'button',
    class: 'button',
    text: t('common.copy'),
    testid: 'copy-link-button',
    onclick: async () => {
      const ok = await copyText(input.value, input);
      status.textContent = ok ? t('common.copied') : t('common.copy_failed');
      setTimeout(() => {
        status.textContent = '';
      }, 4000);
    },
  });
  return h(
    'div',
    { class: 'link-field' },
    label ? h('label', { for: id, text: label }) : null,
    h('div', { class: 'link-row' }, input, button),
    hint ? h('p', { class: 'hint', text: hint }) : null,
    status,
  );
}

/** Inline two-step confirmation (no window.confirm, which blocks automation and is ugly). */
export function confirmButton({ label, question, yes, testid, confirmTestid, danger = true, onConfirm }) {
  const wrap = h('span', { class: 'confirm-wrap' });
  const button = h('button', {
    type: 'button',
    class: danger ? 'button button-danger' : 'button',
    text: label,
    testid,
    onclick: () => showConfirm(),
  });
  wrap.appendChild(button);
  const questionId = 'confirm-' + Math.random().toString(36).slice(2);
  function showConfirm() {
    clear(wrap);
    const yesButton = h('button', {
      type: 'button',
      class: 'button button-danger',
      text: yes || label,
      testid: confirmTestid,
      onclick: async () => {
        yesButton.disabled = true;
        try {
          await onConfirm();
        } finally {
          restore();
        }
      },
    });
    const box = h(
      'span',
      { class: 'confirm-box', attrs: { role: 'group', 'aria-labelledby': questionId } },
      h('span', { id: questionId, class: 'confirm-question', text: question }),
      yesButton,
      h('button', { type: 'button', class: 'button button-quiet', text: t('common.cancel'), testid: confirmTestid && `${confirmTestid}-cancel`, onclick: () => restore() }),
    );
    // Escape backs out, as from any dialog; focus returns to the button that asked.
    box.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        restore();
      }
    });
    wrap.appendChild(box);
    yesButton.focus();
  }
  function restore() {
    if (!wrap.isConnected) return;
    const hadFocus = wrap.contains(document.activeElement) || document.activeElement === document.body;
    clear(wrap);
    wrap.appendChild(button);
    if (hadFocus) button.focus();
  }
  return wrap;
}
