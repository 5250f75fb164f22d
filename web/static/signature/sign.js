// The signer's page behind `/sign/{token}`: the document exactly as it will be signed, the
// fields to fill in, consent, the signature pad, and the submission. Nothing of the signature
// is sent before the signer presses "Sign document"; the page only tells the server (without
// any samples) when consent is given and when drawing starts, for the audit trail.
//
// Where the request's owner allows it, a signer who cannot use the pad (keyboard, screen
// reader) may type their name instead and tick a declaration that this is their signature;
// it is sealed as a typed name, never as a handwritten signature (signature/FORMAT.md §6.4).

import { t, errorText, currentLang } from '../shared/i18n.js';
import './i18n-signature.js';
import { h, clear, appRoot, pageHeader, notice } from '../shared/ui.js';
import { get, post, ApiError } from '../shared/api.js';
import { SignaturePad } from './signature-pad.js';
import { nextSteps } from '../shared/centre.js';

const app = appRoot();
clear(app);
const main = h('main', { class: 'page sign-page', id: 'main' });
app.append(pageHeader(), main);
document.title = `${t('sign.title')} – ${t('app.name')}`;

const token = document.body.dataset.signToken || '';
const api = `/api/sign/${encodeURIComponent(token)}`;

start();

async function start() {
  if (!token || document.body.dataset.linkValid === 'false') {
    main.append(h('h1', { text: t('sign.title') }), notice(t('sign.invalid'), 'error', 'sign-invalid'));
    return;
  }
  let view;
  try {
    view = await get(api);
  } catch (e) {
    const text = e instanceof ApiError && e.status === 404 ? t('sign.invalid') : errorText(e instanceof ApiError ? e.code : 'generic');
    main.append(h('h1', { text: t('sign.title') }), notice(text, 'error', 'sign-invalid'));
    return;
  }
  if (view.status === 'signed') {
    main.append(h('h1', { text: view.title }), notice(t('sign.already_signed'), 'info', 'sign-already-signed'));
    return;
  }
  render(view);
}

// ------------------------------------------------------------------ the document

const BLOCK = new Set(['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p', 'ul', 'ol', 'li', 'blockquote', 'pre', 'hr', 'br', 'table', 'thead', 'tbody', 'tr', 'th', 'td']);
const INLINE = new Set(['em', 'strong', 'del', 'code', 'a']);

/**
 * The document's article as DOM, rebuilt element by element from an inert parse: only the
 * elements the server's Markdown renderer writes, links only to http(s)/mailto, no attributes
 * otherwise. Text goes in as text nodes (never innerHTML on the page).
 */
function documentNode(html) {
  const parsed = new DOMParser().parseFromString(html, 'text/html');
  const article = parsed.querySelector('article.confidant-document');
  const out = h('article', { class: 'signed-document', testid: 'sign-document' });
  if (article) copyChildren(article, out);
  return out;
}

function copyChildren(from, to) {
  for (const node of from.childNodes) {
    if (node.nodeType === Node.TEXT_NODE) {
      to.appendChild(document.createTextNode(node.textContent));
    } else if (node.nodeType === Node.ELEMENT_NODE) {
      const tag = node.tagName.toLowerCase();
      if (!BLOCK.has(tag) && !INLINE.has(tag)) {
        copyChildren(node, to);
        continue;
      }
      const el = document.createElement(tag);
      if (tag === 'a') {
        const href = node.getAttribute('href') || '';
        if (/^(https?:|mailto:)/i.test(href)) {
          el.href = href;
          el.target = '_blank';
          el.rel = 'noopener noreferrer';
        }
      }
      copyChildren(node, el);
      to.appendChild(el);
    }
  }
}

// ------------------------------------------------------------------ the form

function render(view) {
  main.append(
    h('p', { class: 'lead', text: t('sign.from', { name: view.counsellor_name }) }),
    h('section', { class: 'panel sign-document', attrs: { 'aria-label': t('sign.document') } }, documentNode(view.document_html)),
  );

  const form = h('form', { class: 'panel sign-form', testid: 'sign-form', noValidate: true });
  const status = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const inputs = {};

  if (view.fields.length) form.appendChild(h('h2', { text: t('sign.fields') }));
  for (const f of view.fields) {
    const id = `field-${f.name}`;
    let input;
    if (f.type === 'checkbox') {
      input = h('input', { id, type: 'checkbox', testid: `sign-field-${f.name}` });
      form.appendChild(
        h('div', { class: 'check' }, input, h('label', { for: id, text: f.label + (f.required ? ` (${t('sign.required')})` : '') }), errorSlot(`fields.${f.name}`)),
      );
    } else {
      input = h('input', { id, type: f.type === 'date' ? 'date' : 'text', maxLength: 1000, testid: `sign-field-${f.name}`, autocomplete: 'off', required: f.required });
      form.appendChild(
        h('div', { class: 'field' }, h('label', { for: id, text: f.label + (f.required ? ` (${t('sign.required')})` : '') }), input, errorSlot(`fields.${f.name}`)),
      );
    }
    inputs[`fields.${f.name}`] = input;
  }

  const name = h('input', { id: 'signer-name', type: 'text', maxLength: 200, autocomplete: 'name', testid: 'signer-name', required: true });
  inputs.signer_name = name;
  form.appendChild(h('div', { class: 'field' }, h('label', { for: 'signer-name', text: t('sign.signer_name') }), name, errorSlot('signer_name')));

  const consent = h('input', { id: 'sign-consent', type: 'checkbox', testid: 'sign-consent' });
  inputs.consent = consent;
  const consentLabel = h('label', { for: 'sign-consent', text: t('sign.consent') });
  form.appendChild(h('div', { class: 'check consent' }, consent, consentLabel, errorSlot('consent')));

  // ---------------------------------------------------------------- how to sign
  const typedAllowed = Boolean(view.typed_name_allowed && view.typed_name_declarations);
  let method = 'handwritten';
  const typed = typedAllowed ? typedNameField(view, inputs, errorSlot, () => post(`${api}/events`, { kind: 'typing_started' }).catch(() => {})) : null;
  if (typed) {
    const choice = (value, label, testid) => {
      const id = `sign-method-${value}`;
      const radio = h('input', { id, type: 'radio', name: 'sign-method', value, testid, checked: value === 'handwritten' });
      radio.addEventListener('change', () => {
        if (!radio.checked) return;
        method = value;
        padField.hidden = value !== 'handwritten';
        typed.element.hidden = value !== 'typed_name';
        consentLabel.textContent = t(value === 'typed_name' ? 'sign.consent_typed' : 'sign.consent');
        clearError('method');
      });
      return h('div', { class: 'check' }, radio, h('label', { for: id, text: label }));
    };
    form.appendChild(
      h(
        'fieldset',
        { class: 'sign-method', testid: 'sign-method' },
        h('legend', { text: t('sign.method_legend') }),
        choice('handwritten', t('sign.method_pad'), 'sign-method-pad'),
        choice('typed_name', t('sign.method_typed'), 'sign-method-typed'),
        errorSlot('method'),
      ),
    );
  }

  const padHint = h('p', { class: 'hint', id: 'pad-hint', text: t('sign.pad_locked') });
  const padHelp = h('p', { class: 'hint', id: 'pad-help', text: t(typed ? 'sign.pad_help_typed' : 'sign.pad_help') });
  const pad = new SignaturePad({
    width: 600,
    height: 200,
    label: t('sign.pad_label'),
    describedBy: 'pad-hint pad-help',
    // For the audit trail only: no samples are sent.
    onCaptureStart: () => post(`${api}/events`, { kind: 'capture_started' }).catch(() => {}),
    onChange: () => clearError('signature'),
  });
  pad.setEnabled(false);
  consent.addEventListener('change', () => {
    pad.setEnabled(consent.checked);
    typed?.setEnabled(consent.checked);
    padHint.textContent = consent.checked ? t('sign.pad_hint') : t('sign.pad_locked');
    clearError('consent');
    if (consent.checked) post(`${api}/events`, { kind: 'consent_given' }).catch(() => {});
  });
  const clearButton = h('button', { type: 'button', class: 'button', text: t('sign.clear'), testid: 'sign-clear', onclick: () => pad.clear() });
  const padBox = h('div', { class: 'signature-box' }, pad.element);
  // Once laid out: the surface takes the room there is instead of being squeezed by CSS.
  requestAnimationFrame(() => pad.fitTo(padBox));
  const padField = h(
    'div',
    { class: 'field signature-field', testid: 'sign-pad-field' },
    h('span', { class: 'label', text: t('sign.pad_label') }),
    padBox,
    padHint,
    padHelp,
    h('div', { class: 'signature-actions' }, clearButton),
    errorSlot('signature'),
  );
  form.appendChild(padField);
  if (typed) form.appendChild(typed.element);

  // An entry clears its own error mark as soon as it changes.
  for (const [field, el] of Object.entries(inputs)) {
    el.addEventListener('input', () => clearError(field));
    el.addEventListener('change', () => clearError(field));
  }

  const submit = h('button', { type: 'submit', class: 'button button-primary', text: t('sign.submit'), testid: 'sign-submit' });
  form.append(submit, status);
  main.appendChild(form);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors();
    clear(status);
    const missing = [];
    if (!name.value.trim()) missing.push(['signer_name', t('sign.need_name')]);
    if (!consent.checked) missing.push(['consent', t('sign.need_consent')]);
    for (const f of view.fields) {
      const el = inputs[`fields.${f.name}`];
      if (f.required && (f.type === 'checkbox' ? !el.checked : !el.value.trim())) missing.push([`fields.${f.name}`, t('sign.need_field')]);
    }
    if (method === 'handwritten' && pad.isEmpty()) missing.push(['signature', t('sign.need_signature')]);
    if (method === 'typed_name') missing.push(...typed.missing());
    if (missing.length) {
      for (const [field, text] of missing) showError(field, text);
      focusFirstError();
      return;
    }
    const fields = {};
    for (const f of view.fields) {
      const el = inputs[`fields.${f.name}`];
      fields[f.name] = f.type === 'checkbox' ? el.checked : el.value;
    }
    submit.disabled = true;
    submit.textContent = t('sign.submitting');
    try {
      // Only now does the signature leave the device.
      const body = { signer_name: name.value, consent: true, fields };
      if (method === 'typed_name') Object.assign(body, { method: 'typed_name', typed_name: typed.submission() });
      else body.signature = pad.submission();
      const receipt = await post(api, body);
      done(receipt);
      return;
    } catch (e) {
      if (e instanceof ApiError && e.fields.length) {
        for (const p of e.fields) {
          if (p.field.startsWith('signature')) showError('signature', t('sign.signature_problem'));
          else if (p.field === 'method') showError('method', t('sign.typed_not_allowed'));
          else showError(p.field, p.code === 'required' ? t('sign.need_field') : t('sign.invalid_field'));
        }
        focusFirstError();
      } else {
        status.appendChild(notice(e instanceof ApiError && e.status === 404 ? t('sign.invalid') : errorText(e instanceof ApiError ? e.code : 'generic'), 'error', 'sign-error'));
      }
    }
    submit.disabled = false;
    submit.textContent = t('sign.submit');
  });

  function errorSlot(field) {
    return h('p', { class: 'field-error', dataset: { errorFor: field }, attrs: { 'aria-live': 'polite' } });
  }
  function showError(field, text) {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
    if (slot) slot.textContent = text;
    else status.appendChild(notice(text, 'error'));
    const input = inputs[field] || (field === 'signature' ? pad.canvas : null);
    if (input) input.setAttribute('aria-invalid', 'true');
  }
  function clearError(field) {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
    if (slot) slot.textContent = '';
    const input = inputs[field] || (field === 'signature' ? pad.canvas : null);
    if (input) input.removeAttribute('aria-invalid');
  }
  function clearErrors() {
    for (const slot of form.querySelectorAll('[data-error-for]')) slot.textContent = '';
    for (const el of form.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
  }
  function focusFirstError() {
    const first = form.querySelector('[aria-invalid="true"]');
    if (first && first.focus) first.focus();
  }
}

function done(receipt) {
  clear(main);
  main.append(
    h(
      'section',
      { class: 'panel sign-done', testid: 'sign-success', dataset: { bundleSha256: receipt.bundle_sha256, documentSha256: receipt.document_sha256 } },
      h('h1', { text: t('sign.done_title') }),
      h('p', { text: t('sign.done_text') }),
      h('p', { testid: 'sign-done-method', dataset: { method: receipt.method }, text: t(receipt.method === 'typed_name' ? 'sign.done_method_typed' : 'sign.done_method_pad') }),
      h('p', { class: 'hint hash', text: t('sign.document_hash', { hash: receipt.document_sha256 }) }),
      h('p', { class: 'hint hash', text: t('sign.bundle_hash', { hash: receipt.bundle_sha256 }) }),
      // The signer's own copy: the document and the evidence file any verifier accepts.
      receipt.copy &&
        h(
          'p',
          { class: 'sign-copy', testid: 'sign-copy' },
          t('sign.copy_text', { date: new Date(receipt.copy.expires_at).toLocaleDateString(currentLang()) }),
          ' ',
          h('a', { href: receipt.copy.document_url, download: 'document.html', text: t('sign.copy_document'), testid: 'sign-copy-document' }),
          ' · ',
          h('a', { href: receipt.copy.evidence_url, download: 'evidence.json', text: t('sign.copy_evidence'), testid: 'sign-copy-evidence' }),
        ),
      h('p', { class: 'hint' },
        t('sign.keys_text'), ' ',
        h('a', { href: '/.well-known/confidant-signature-keys.json', text: t('sign.keys_link'), testid: 'sign-keys-link' })),
    ),
    nextSteps(t('next.after_sign')),
  );
  main.querySelector('h1').focus?.();
}

// ------------------------------------------------------------------ the typed alternative

/**
 * The typed-name alternative: a text field for the name and the declaration to tick, in the
 * language shown (the server seals the text of that language). Hidden until chosen; disabled
 * until consent is given, like the pad. `missing()` lists what is not filled in yet.
 */
function typedNameField(view, inputs, errorSlot, onTypingStart) {
  const lang = view.typed_name_declarations[currentLang()] ? currentLang() : 'en';
  const declarationText = view.typed_name_declarations[lang];
  let startedAt = null;
  let endedAt = null;
  const text = h('input', { id: 'typed-name', type: 'text', maxLength: 200, autocomplete: 'name', testid: 'typed-name', attrs: { 'aria-describedby': 'typed-name-hint' } });
  const declaration = h('input', { id: 'typed-declaration', type: 'checkbox', testid: 'typed-declaration' });
  inputs['typed_name.text'] = text;
  inputs['typed_name.declaration_accepted'] = declaration;
  text.addEventListener('input', () => {
    if (startedAt === null) {
      startedAt = Date.now();
      onTypingStart();
    }
    endedAt = Date.now();
  });
  // Like the pad: nothing to type before consent, and the field says so.
  const locked = h('p', { class: 'hint', testid: 'typed-locked', text: t('sign.pad_locked') });
  const element = h(
    'fieldset',
    { class: 'typed-name-field', testid: 'typed-name-field', hidden: true },
    h('legend', { text: t('sign.typed_legend') }),
    h('p', { class: 'hint', id: 'typed-name-hint', text: t('sign.typed_hint') }),
    locked,
    h('div', { class: 'field' }, h('label', { for: 'typed-name', text: t('sign.typed_label') }), text, errorSlot('typed_name.text')),
    h('div', { class: 'check' }, declaration, h('label', { for: 'typed-declaration', lang, text: declarationText, testid: 'typed-declaration-text' }), errorSlot('typed_name.declaration_accepted')),
  );
  function setEnabled(on) {
    text.disabled = !on;
    declaration.disabled = !on;
    locked.hidden = on;
  }
  setEnabled(false);
  return {
    element,
    setEnabled,
    missing() {
      const out = [];
      if (!text.value.trim()) out.push(['typed_name.text', t('sign.need_typed_name')]);
      if (!declaration.checked) out.push(['typed_name.declaration_accepted', t('sign.need_declaration')]);
      return out;
    },
    submission() {
      return {
        text: text.value,
        declaration_accepted: declaration.checked,
        declaration_language: lang,
        typing_started_at_ms: startedAt,
        typing_ended_at_ms: endedAt,
        user_agent: navigator.userAgent.slice(0, 512),
      };
    },
  };
}
