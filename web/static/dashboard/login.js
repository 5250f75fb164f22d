// Counsellor login: e-mail + password → POST /api/auth/login → /dashboard.

import { t, errorText } from '../shared/i18n.js';
import { h, clear, appRoot, pageHeader, notice } from '../shared/ui.js';
import { post, ApiError } from '../shared/api.js';

const app = appRoot();
clear(app);
document.title = `${t('login.title')} – ${t('app.name')}`;

const email = h('input', {
  id: 'email',
  name: 'email',
  type: 'email',
  required: true,
  autocomplete: 'username',
  testid: 'email-input',
  attrs: { 'aria-describedby': 'login-status' },
});
const password = h('input', {
  id: 'password',
  name: 'password',
  type: 'password',
  required: true,
  autocomplete: 'current-password',
  testid: 'password-input',
  attrs: { 'aria-describedby': 'login-status' },
});
const submit = h('button', { type: 'submit', class: 'button button-primary', text: t('login.submit'), testid: 'login-button' });
const status = h('div', { id: 'login-status', class: 'form-status', attrs: { 'aria-live': 'polite' } });

const form = h(
  'form',
  { class: 'panel login-form', testid: 'login-form', noValidate: true, onsubmit: onSubmit },
  h('h1', { text: t('login.title') }),
  h('div', { class: 'field' }, h('label', { for: 'email', text: t('login.email') }), email),
  h('div', { class: 'field' }, h('label', { for: 'password', text: t('login.password') }), password),
  submit,
  status,
);
app.append(pageHeader(), h('main', { class: 'page login-page', id: 'main' }, form));
email.focus();

function showError(text) {
  clear(status);
  status.appendChild(notice(text, 'error', 'login-error'));
}

async function onSubmit(event) {
  event.preventDefault();
  const body = { email: email.value.trim(), password: password.value };
  if (!body.email || !body.password) {
    showError(t('login.required'));
    return;
  }
  submit.disabled = true;
  submit.textContent = t('login.submitting');
  clear(status);
  try {
    await post('/api/auth/login', body);
    location.assign('/dashboard');
    return;
  } catch (e) {
    const code = e instanceof ApiError ? e.code : 'generic';
    if (code === 'invalid_credentials' || code === 'unauthorized') showError(t('login.invalid'));
    else if (code === 'rate_limited')
      showError(e.retryAfter ? t('login.rate_limited', { seconds: e.retryAfter }) : t('login.rate_limited_plain'));
    else showError(errorText(code));
    password.value = '';
    password.focus();
  }
  submit.disabled = false;
  submit.textContent = t('login.submit');
}
