// The dashboard's signature section: form templates (title, Markdown text, fields), sending a
// template for signing (shows the link), and the signing requests with their verification
// status, the signature image, the dynamics and the downloads for offline verification.
// Pending requests show whom they were sent to and whether the link was opened; signed ones
// how they were signed (handwritten, or a typed name with declaration where allowed).

import { t, errorText, formatTime } from '../shared/i18n.js';
import './i18n-signature.js';
import { h, clear, notice, linkField, confirmButton } from '../shared/ui.js';
import { get, post, ApiError, redirectIfUnauthorized } from '../shared/api.js';

const FIELD_TYPES = ['text', 'date', 'checkbox'];

function showError(e, statusEl) {
  if (redirectIfUnauthorized(e)) return;
  clear(statusEl);
  let text = errorText(e instanceof ApiError ? e.code : 'generic');
  if (e instanceof ApiError && e.fields.length) text += ' ' + e.fields.map((f) => `${f.field}: ${f.message}`).join('; ');
  statusEl.appendChild(notice(text, 'error', 'signature-error'));
}

export function signaturesSection() {
  const templateStatus = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const templateList = h('ul', { class: 'signature-templates', testid: 'signature-templates' });
  const sentBox = h('div', { class: 'signature-sent', testid: 'signature-sent' });
  const requestStatus = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
  const requestList = h('ul', { class: 'signature-requests', testid: 'signature-requests' });

  // ---------------------------------------------------------------- new template
  const title = h('input', { id: 'sig-title', type: 'text', maxLength: 200, testid: 'sig-template-title', autocomplete: 'off' });
  const body = h('textarea', { id: 'sig-body', rows: 8, testid: 'sig-template-body' });
  const fieldRows = h('div', { class: 'signature-field-rows', testid: 'sig-field-rows' });
  let fieldCounter = 0;
  function addFieldRow() {
    fieldCounter += 1;
    const n = fieldCounter;
    const name = h('input', { type: 'text', maxLength: 40, class: 'sig-field-name', testid: 'sig-field-name', attrs: { 'aria-label': t('dsig.field_name') }, placeholder: t('dsig.field_name') });
    const label = h('input', { type: 'text', maxLength: 200, class: 'sig-field-label', testid: 'sig-field-label', attrs: { 'aria-label': t('dsig.field_label') }, placeholder: t('dsig.field_label') });
    const type = h('select', { class: 'sig-field-type', testid: 'sig-field-type', attrs: { 'aria-label': t('dsig.field_type') } });
    for (const ft of FIELD_TYPES) type.appendChild(h('option', { value: ft, text: t('dsig.type.' + ft) }));
    const required = h('input', { type: 'checkbox', id: `sig-req-${n}`, class: 'sig-field-required', testid: 'sig-field-required' });
    const row = h(
      'div',
      { class: 'signature-field-row', testid: 'sig-field-row' },
      name,
      label,
      type,
      h('span', { class: 'check' }, required, h('label', { for: `sig-req-${n}`, text: t('dsig.field_required') })),
      h('button', { type: 'button', class: 'button button-quiet', text: t('dsig.remove_field'), onclick: () => row.remove() }),
    );
    fieldRows.appendChild(row);
  }
  const saveButton = h('button', { type: 'submit', class: 'button button-primary', text: t('dsig.save_template'), testid: 'sig-template-save' });
  const templateForm = h(
    'form',
    { class: 'signature-template-form', testid: 'sig-template-form', onsubmit: onSaveTemplate },
    h('h4', { text: t('dsig.new_template') }),
    h('div', { class: 'field' }, h('label', { for: 'sig-title', text: t('dsig.template_title') }), title),
    h('div', { class: 'field' }, h('label', { for: 'sig-body', text: t('dsig.template_body') }), body),
    h('fieldset', { class: 'signature-fields' }, h('legend', { text: t('dsig.fields') }), fieldRows, h('button', { type: 'button', class: 'button', text: t('dsig.add_field'), testid: 'sig-field-add', onclick: addFieldRow })),
    saveButton,
  );

  async function onSaveTemplate(event) {
    event.preventDefault();
    clear(templateStatus);
    const fields = [...fieldRows.querySelectorAll('.signature-field-row')].map((row) => ({
      name: row.querySelector('.sig-field-name').value.trim(),
      label: row.querySelector('.sig-field-label').value.trim(),
      type: row.querySelector('.sig-field-type').value,
      required: row.querySelector('.sig-field-required').checked,
    }));
    saveButton.disabled = true;
    try {
      await post('/api/signatures/templates', { title: title.value, body_markdown: body.value, fields });
      title.value = '';
      body.value = '';
      clear(fieldRows);
      templateStatus.appendChild(notice(t('dsig.template_saved'), 'success', 'sig-template-saved'));
      await loadTemplates();
    } catch (e) {
      showError(e, templateStatus);
    }
    saveButton.disabled = false;
  }

  // ---------------------------------------------------------------- templates
  async function loadTemplates() {
    let templates;
    try {
      templates = await get('/api/signatures/templates');
    } catch (e) {
      showError(e, templateStatus);
      return;
    }
    clear(templateList);
    if (!templates.length) {
      templateList.appendChild(h('li', { class: 'empty-hint', text: t('dsig.no_templates'), testid: 'sig-templates-empty' }));
      return;
    }
    for (const tpl of templates) {
      templateList.appendChild(
        h(
          'li',
          { class: 'signature-template', testid: 'sig-template', dataset: { templateId: tpl.id } },
          h('strong', { text: tpl.title }),
          h('span', { class: 'hint', text: ` · ${tpl.fields.map((f) => f.label).join(', ')}` }),
          h('button', { type: 'button', class: 'button', text: t('dsig.send'), testid: 'sig-send', onclick: () => send(tpl) }),
        ),
      );
    }
  }

  // ---------------------------------------------------------------- whom to send to
  const recipientName = h('input', { id: 'sig-recipient-name', type: 'text', maxLength: 200, autocomplete: 'off', testid: 'sig-recipient-name' });
  const recipientEmail = h('input', { id: 'sig-recipient-email', type: 'email', maxLength: 254, autocomplete: 'off', testid: 'sig-recipient-email' });
  const allowTyped = h('input', { id: 'sig-allow-typed', type: 'checkbox', testid: 'sig-allow-typed' });
  const sendOptions = h(
    'fieldset',
    { class: 'signature-send-options', testid: 'sig-send-options' },
    h('legend', { text: t('dsig.send_options') }),
    h('div', { class: 'field' }, h('label', { for: 'sig-recipient-name', text: t('dsig.recipient_name') }), recipientName),
    h('div', { class: 'field' }, h('label', { for: 'sig-recipient-email', text: t('dsig.recipient_email') }), recipientEmail),
    h('div', { class: 'check' }, allowTyped, h('label', { for: 'sig-allow-typed', text: t('dsig.allow_typed_name') })),
  );

  async function send(tpl) {
    clear(sentBox);
    try {
      const body = { template_id: tpl.id, allow_typed_name: allowTyped.checked };
      if (recipientName.value.trim()) body.recipient_name = recipientName.value;
      if (recipientEmail.value.trim()) body.recipient_email = recipientEmail.value;
      const req = await post('/api/signatures/requests', body);
      recipientName.value = '';
      recipientEmail.value = '';
      allowTyped.checked = false;
      sentBox.append(h('p', { text: t('dsig.sent') }), linkField(req.sign_url, { label: tpl.title, testid: 'sig-link' }));
      await loadRequests();
    } catch (e) {
      showError(e, templateStatus);
    }
  }

  // ---------------------------------------------------------------- requests
  function renderRequest(r) {
    const times = [t('dsig.created', { time: formatTime(r.created_at) })];
    if (r.signed_at) times.push(t('dsig.signed_at', { time: formatTime(r.signed_at) }));
    else if (r.status === 'pending') times.push(t('dsig.expires', { time: formatTime(r.expires_at) }));
    if (r.archived_at) times.push(t('dsig.archived_at', { time: formatTime(r.archived_at) }));
    // Sent / opened / signed / expired: a pending link is "opened" once the signer saw it.
    const state = r.status === 'pending' ? (r.opened_at ? 'opened' : 'sent') : r.status;
    const item = h(
      'li',
      { class: 'signature-request', testid: 'sig-request', dataset: { requestId: r.id, status: r.status, state } },
      h('div', { class: 'session-head' }, h('h4', { text: r.title }), h('span', { class: `status status-${r.status}`, text: t('dsig.status.' + r.status) })),
      h('p', { class: 'session-times', text: times.join(' · ') }),
    );
    if (r.recipient) {
      const who = [r.recipient.name, r.recipient.email && `<${r.recipient.email}>`].filter(Boolean).join(' ');
      item.append(h('p', { class: 'signature-recipient', testid: 'sig-recipient', text: t('dsig.recipient', { recipient: who }) }));
    }
    if (r.status === 'pending') {
      const text = state === 'opened' ? t('dsig.state.opened', { time: formatTime(r.opened_at) }) : t('dsig.state.sent');
      item.append(h('p', { class: 'hint', testid: 'sig-state', dataset: { state }, text: r.allow_typed_name ? `${text} · ${t('dsig.typed_allowed')}` : text }));
    }
    if (r.status === 'pending' && r.sign_url) {
      item.append(
        linkField(r.sign_url, { label: r.title, testid: 'sig-request-link' }),
        confirmButton({
          label: t('dsig.revoke'),
          question: t('dsig.confirm_revoke'),
          testid: 'sig-revoke',
          confirmTestid: 'sig-revoke-confirm',
          onConfirm: async () => {
            try {
              await post(`/api/signatures/requests/${encodeURIComponent(r.id)}/revoke`);
            } catch (e) {
              showError(e, requestStatus);
            }
            await loadRequests();
          },
        }),
      );
    }
    if (r.verification) {
      const v = r.verification;
      item.append(
        h('p', {
          class: v.valid ? 'verification verification-valid' : 'verification verification-invalid',
          testid: 'sig-verification',
          dataset: { valid: String(v.valid), reason: v.reason || '' },
          text: v.valid ? t('dsig.verified') : t('dsig.not_verified', { reason: t('dsig.reason.' + v.reason) }),
        }),
      );
      if (r.signer_name) item.append(h('p', { text: t('dsig.signer', { name: r.signer_name }) }));
      if (v.method) {
        item.append(
          h('p', {
            class: 'signature-method',
            testid: 'sig-method',
            dataset: { method: v.method },
            text: v.method === 'typed_name' ? t('dsig.method.typed_name') : t('dsig.method.handwritten', { strokes: r.dynamics ? r.dynamics.stroke_count : (v.method_summary.match(/\d+/) || ['?'])[0] }),
          }),
        );
      }
    }
    if (r.timestamp) {
      const ts = r.timestamp;
      item.append(
        h('p', {
          class: ts.state === 'stamped' ? 'hint' : 'notice',
          testid: 'sig-timestamp',
          dataset: { state: ts.state },
          text: t('dsig.timestamp.' + ts.state, { time: ts.gen_time ? new Date(ts.gen_time).toLocaleString() : '', attempts: ts.attempts }),
        }),
      );
    }
    if (r.image_url) {
      item.append(h('img', { class: 'signature-image', src: r.image_url, alt: t('dsig.image_alt', { name: r.signer_name || '' }), testid: 'sig-image' }));
    }
    if (r.form_data) {
      const dl = h('dl', { class: 'signature-form-data', testid: 'sig-form-data' });
      for (const f of r.fields) dl.append(h('dt', { text: f.label }), h('dd', { text: f.type === 'checkbox' ? (r.form_data[f.name] === 'true' ? '✓' : '–') : r.form_data[f.name] || '–' }));
      item.append(dl);
    }
    if (r.dynamics) {
      const d = r.dynamics;
      item.append(
        h('p', {
          class: 'hint',
          testid: 'sig-dynamics',
          text: t('dsig.dynamics', { strokes: d.stroke_count, points: d.point_count, total: (d.total_time_ms / 1000).toFixed(2), pause: (d.pause_time_ms / 1000).toFixed(2) }),
        }),
      );
    }
    if (r.status === 'signed' || r.status === 'archived') {
      const base = `/api/signatures/requests/${encodeURIComponent(r.id)}`;
      item.append(
        h(
          'p',
          { class: 'signature-downloads' },
          h('a', { href: `${base}/document`, download: `document-${r.id}.html`, text: t('dsig.download_document'), testid: 'sig-download-document' }),
          ' · ',
          h('a', { href: `${base}/evidence`, download: `evidence-${r.id}.json`, text: t('dsig.download_evidence'), testid: 'sig-download-evidence' }),
        ),
      );
    }
    return item;
  }

  async function loadRequests() {
    let requests;
    try {
      requests = await get('/api/signatures/requests');
    } catch (e) {
      showError(e, requestStatus);
      return;
    }
    clear(requestList);
    clear(requestStatus);
    if (!requests.length) {
      requestList.appendChild(h('li', { class: 'empty-hint', text: t('dsig.no_requests'), testid: 'sig-requests-empty' }));
      return;
    }
    for (const r of requests) requestList.appendChild(renderRequest(r));
  }

  // The escrow private key belongs off the server: warn while the generated one is still there.
  const keyStatus = h('div', { class: 'form-status', testid: 'sig-key-status' });
  async function loadKeyStatus() {
    try {
      const status = await get('/api/signatures/keys');
      clear(keyStatus);
      if (status.escrow_private_key_on_server) keyStatus.appendChild(notice(t('dsig.escrow_on_server'), 'error', 'sig-escrow-warning'));
    } catch (e) {
      showError(e, keyStatus);
    }
  }

  const refresh = h('button', { type: 'button', class: 'button button-quiet', text: t('dsig.refresh'), testid: 'sig-refresh', onclick: () => loadRequests() });
  const element = h(
    'section',
    { class: 'panel signatures', testid: 'signatures', attrs: { 'aria-labelledby': 'signatures-heading' } },
    h('h2', { id: 'signatures-heading', text: t('dsig.heading') }),
    keyStatus,
    h('h3', { text: t('dsig.templates') }),
    h('p', { class: 'hint', text: t('dsig.templates_hint') }),
    templateStatus,
    sendOptions,
    templateList,
    sentBox,
    h('details', { class: 'signature-new-template' }, h('summary', { text: t('dsig.new_template') }), templateForm),
    h('div', { class: 'section-head' }, h('h3', { text: t('dsig.requests') }), refresh),
    requestStatus,
    requestList,
  );
  loadKeyStatus();
  loadTemplates();
  loadRequests();
  return { element, reload: loadRequests };
}
