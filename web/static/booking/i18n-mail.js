// German and English strings of failed-mail display on the dashboard (issue 28). Merged into
// the main dictionaries, so `t()` from i18n.js finds them.

import { dictionaries } from '../shared/i18n.js';

const en = {
  'mail.failed_title': 'A mail to the client could not be delivered',
  'mail.kind.confirmation': 'The booking confirmation',
  'mail.kind.rescheduled': 'The notice of the new time',
  'mail.kind.pending': 'The notice that the booking awaits your confirmation',
  'mail.kind.reminder': 'The reminder',
  'mail.kind.declined': 'The notice that you declined',
  'mail.kind.cancellation': 'The cancellation',
  'mail.kind.counsellor_new': 'The notice of a new booking',
  'mail.kind.counsellor_cancelled': 'The notice of a cancellation',
  'mail.kind.counsellor_rescheduled': 'The notice of a moved booking',
  'mail.kind.contact_message': 'The notice of a new contact message',
  'mail.kind.team_invitation': 'A team invitation',
  'mail.kind.other': 'A mail',
  'mail.reason.address_rejected': 'The recipient’s mail server does not know this address – it is probably mistyped.',
  'mail.reason.rejected': 'The recipient’s mail server refused the mail.',
  'mail.reason.unreachable': 'The mail could not be delivered for days; the mail server was not reachable.',
  'mail.what_failed': '{what} did not arrive.',
  'mail.code': 'Mail server’s answer: {code}',
  'mail.correct_and_resend': 'Correct address and resend',
  'mail.resend': 'Resend',
  'mail.new_address': 'Client’s e-mail address',
  'mail.reached': 'Reached the client another way',
  'mail.resent': 'Sent again. It will go out shortly.',
  'mail.own_title': 'Notifications to you could not be delivered',
  'mail.own_hint': 'Check the e-mail address of your account. Your bookings and messages are all on this dashboard.',
  'mail.acknowledge': 'Noted',
};

const de = {
  'mail.failed_title': 'Eine Mail an die Klient:in kam nicht an',
  'mail.kind.confirmation': 'Die Terminbestätigung',
  'mail.kind.rescheduled': 'Die Mitteilung über die neue Zeit',
  'mail.kind.pending': 'Die Mitteilung, dass die Buchung auf Ihre Bestätigung wartet,',
  'mail.kind.reminder': 'Die Erinnerung',
  'mail.kind.declined': 'Die Absage Ihrerseits',
  'mail.kind.cancellation': 'Die Absage',
  'mail.kind.counsellor_new': 'Die Benachrichtigung über eine neue Buchung',
  'mail.kind.counsellor_cancelled': 'Die Benachrichtigung über eine Absage',
  'mail.kind.counsellor_rescheduled': 'Die Benachrichtigung über eine Verschiebung',
  'mail.kind.contact_message': 'Die Benachrichtigung über eine neue Kontaktnachricht',
  'mail.kind.team_invitation': 'Eine Team-Einladung',
  'mail.kind.other': 'Eine Mail',
  'mail.reason.address_rejected': 'Der Mailserver der Empfängerin/des Empfängers kennt diese Adresse nicht – vermutlich ist sie vertippt.',
  'mail.reason.rejected': 'Der Mailserver der Empfängerin/des Empfängers hat die Mail abgelehnt.',
  'mail.reason.unreachable': 'Die Mail konnte tagelang nicht zugestellt werden; der Mailserver war nicht erreichbar.',
  'mail.what_failed': '{what} ist nicht angekommen.',
  'mail.code': 'Antwort des Mailservers: {code}',
  'mail.correct_and_resend': 'Adresse korrigieren und erneut senden',
  'mail.resend': 'Erneut senden',
  'mail.new_address': 'E-Mail-Adresse der Klient:in',
  'mail.reached': 'Anders erreicht',
  'mail.resent': 'Erneut gesendet. Die Mail geht in Kürze hinaus.',
  'mail.own_title': 'Benachrichtigungen an Sie kamen nicht an',
  'mail.own_hint': 'Prüfen Sie die E-Mail-Adresse Ihres Kontos. Ihre Buchungen und Nachrichten stehen alle in dieser Übersicht.',
  'mail.acknowledge': 'Zur Kenntnis genommen',
};

Object.assign(dictionaries.en, en);
Object.assign(dictionaries.de, de);

export const MAIL_KEYS = { en: Object.keys(en), de: Object.keys(de) };
