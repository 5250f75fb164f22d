// Landing page: what this is, and the way to the counsellor login.
// The server also uses this module for its 404 page (any path other than "/").

import { t } from '../shared/i18n.js';
import '../booking/i18n-booking.js';
import '../walkin/i18n-walkin.js';
import { h, clear, appRoot, pageHeader } from '../shared/ui.js';

const app = appRoot();
clear(app);

function landing() {
  document.title = `${t('app.name')} – ${t('app.tagline')}`;
  return h(
    'section',
    { class: 'panel hero' },
    h('h1', { text: t('landing.title') }),
    h('p', { class: 'lead', text: t('landing.intro') }),
    h('p', { text: t('landing.clients') }),
    h('p', {}, t('landing.talk_hint'), ' ', h('a', { class: 'button', href: '/talk', text: t('talk.title'), testid: 'talk-link' })),
    h('p', {}, t('landing.book_hint'), ' ', h('a', { class: 'button', href: '/book', text: t('book.centre_title'), testid: 'book-link' })),
    h(
      'p',
      {},
      t('landing.counsellors'),
      ' ',
      h('a', { class: 'button button-primary', href: '/login', text: t('landing.login'), testid: 'login-link' }),
    ),
  );
}

function notFound() {
  document.title = `${t('notfound.title')} – ${t('app.name')}`;
  return h(
    'section',
    { class: 'panel final-panel', testid: 'not-found' },
    h('h1', { text: t('notfound.title') }),
    h('p', { text: t('notfound.text') }),
    h('a', { class: 'button button-primary', href: '/', text: t('notfound.home') }),
  );
}

app.append(
  pageHeader(),
  h('main', { class: 'page landing-page', id: 'main' }, location.pathname === '/' ? landing() : notFound()),
);
