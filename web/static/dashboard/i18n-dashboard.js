// German and English strings of the counsellor's workspace (navigation, the "today" view, the
// password form's messages per field). Merged into the main dictionaries, so `t()` from
// i18n.js finds them.

import { dictionaries } from '../shared/i18n.js';

const en = {
  'ws.nav_label': 'Dashboard',
  'ws.menu': 'Menu: {section}',
  'ws.section.today': 'Today',
  'ws.section.sessions': 'Sessions',
  'ws.section.walkins': 'Walk-ins',
  'ws.section.bookings': 'Bookings',
  'ws.section.calendars': 'Calendars',
  'ws.section.signatures': 'Signatures',
  'ws.section.settings': 'Settings',
  'ws.badge_waiting': '{n} waiting',
  'ws.waiting_title': 'Waiting now',
  'ws.lobby_waiting': 'In the waiting rooms of your sessions: {n}',
  'ws.walkin_waiting': 'In the walk-in queue: {n}',
  'ws.walkin_off': 'Walk-ins are off.',
  'ws.walkin_setup': 'Set up walk-ins',
  'ws.walkin_go': 'Go to walk-ins',
  'ws.appointments_today': 'Your appointments today',
  'ws.appointments_next': 'Your next appointments',
  'ws.appointments_failed': 'The appointments could not be loaded. Please try again later.',
  'ws.none_today': 'No more appointments today.',
  'ws.none_ahead': 'No appointments in the next {n} days.',
  'ws.all_bookings': 'All bookings',
  'ws.join': 'Join video session',
  'ws.phone': 'Phone:',
  'ws.address': 'Address:',
  'ws.calendars_title': 'Calendars',
  'ws.calendars_hint': 'Connect your calendars: your bookings appear there, and busy times there are not offered for booking.',
  'ws.required': 'Please fill this in.',
  'ws.call_settings': 'Video sessions',
  'ws.invitations': 'Team invitations waiting for your answer: {n}.',
  'ws.invitations_go': 'Answer in Bookings',
};

const de = {
  'ws.nav_label': 'Übersicht',
  'ws.menu': 'Menü: {section}',
  'ws.section.today': 'Heute',
  'ws.section.sessions': 'Gespräche',
  'ws.section.walkins': 'Spontangespräche',
  'ws.section.bookings': 'Termine',
  'ws.section.calendars': 'Kalender',
  'ws.section.signatures': 'Unterschriften',
  'ws.section.settings': 'Einstellungen',
  'ws.badge_waiting': '{n} wartend',
  'ws.waiting_title': 'Jetzt wartend',
  'ws.lobby_waiting': 'In den Warteräumen Ihrer Gespräche: {n}',
  'ws.walkin_waiting': 'In der Warteschlange für Spontangespräche: {n}',
  'ws.walkin_off': 'Spontangespräche sind ausgeschaltet.',
  'ws.walkin_setup': 'Spontangespräche einrichten',
  'ws.walkin_go': 'Zu den Spontangesprächen',
  'ws.appointments_today': 'Ihre Termine heute',
  'ws.appointments_next': 'Ihre nächsten Termine',
  'ws.appointments_failed': 'Die Termine konnten nicht geladen werden. Bitte versuchen Sie es später noch einmal.',
  'ws.none_today': 'Heute keine Termine mehr.',
  'ws.none_ahead': 'Keine Termine in den nächsten {n} Tagen.',
  'ws.all_bookings': 'Alle Termine',
  'ws.join': 'Videogespräch beitreten',
  'ws.phone': 'Telefon:',
  'ws.address': 'Adresse:',
  'ws.calendars_title': 'Kalender',
  'ws.calendars_hint': 'Verbinden Sie Ihre Kalender: Ihre Termine erscheinen dort, und dort belegte Zeiten werden nicht zur Buchung angeboten.',
  'ws.required': 'Bitte füllen Sie dieses Feld aus.',
  'ws.call_settings': 'Videogespräche',
  'ws.invitations': 'Team-Einladungen, die auf Ihre Antwort warten: {n}.',
  'ws.invitations_go': 'Unter „Termine“ antworten',
};

Object.assign(dictionaries.en, en);
Object.assign(dictionaries.de, de);

export const DASHBOARD_KEYS = { en: Object.keys(en), de: Object.keys(de) };
