// German and English strings of the centre's parts of the pages: the emergency line in the header
// (shared/ui.js) and the next steps of end screens (shared/centre.js). Merged into the main
// dictionaries, so `t()` from i18n.js finds them.

import { dictionaries } from './i18n.js';

Object.assign(dictionaries.en, {
  'next.title': 'What you can do now',
  'next.book': 'Book an appointment',
  'next.talk': 'Talk to someone now',
  'next.contact': 'Write to us: {email}',
  'next.emergency': 'In an acute crisis: {label} {phone}',
  'centre.crisis_line': 'Crisis line',
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
  'centre.crisis_line': 'Krisentelefon',
  'next.after_call': 'Das Gespräch ist beendet. Wenn Sie wieder sprechen möchten, können Sie einen Termin buchen oder, wenn jemand frei ist, sofort sprechen.',
  'next.after_lobby': 'Sie warten nicht mehr. Wenn Sie sprechen möchten, können Sie Ihren Link wieder öffnen, einen Termin buchen oder sofort mit jemandem sprechen.',
  'next.after_walkin': 'Sie sind nicht mehr in der Warteschlange. Sie können es noch einmal versuchen, stattdessen einen Termin buchen oder uns schreiben.',
  'next.after_cancel': 'Die Zeit ist wieder für andere frei. Wenn Sie einen anderen Termin möchten, können Sie ihn hier buchen.',
  'next.after_sign': 'Ihre Beraterin oder Ihr Berater sieht das unterschriebene Dokument jetzt. Sie müssen nichts weiter tun.',
});
