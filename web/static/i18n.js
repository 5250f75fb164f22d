// German and English strings for every visible text of the browser client.
// The language is the one the server put into <html lang>; the switch sets the `lang` cookie
// and reloads so that the server renders the page in the new language.

const en = {
  'app.name': 'Confidant',
  'app.tagline': 'Private online counselling',
  'lang.label': 'Language',
  'lang.en': 'English',
  'lang.de': 'Deutsch',
  'common.loading': 'Loading…',
  'common.cancel': 'Cancel',
  'common.close': 'Close',
  'common.copy': 'Copy link',
  'common.copied': 'Link copied',
  'common.copy_failed': 'Copying failed. Please select the link and copy it by hand.',
  'common.retry': 'Try again',
  'common.reload': 'Reload page',

  'landing.title': 'Private online counselling',
  'landing.intro':
    'Confidant connects counsellors and clients by video, audio and chat. Everything runs on this server: no third-party services, no tracking, no account needed for clients.',
  'landing.clients': 'Are you a client? Open the link your counsellor sent you. You only need to enter your name.',
  'landing.counsellors': 'Are you a counsellor?',
  'landing.login': 'Log in',

  'notfound.title': 'Page not found',
  'notfound.text': 'This page does not exist.',
  'notfound.home': 'To the start page',

  'login.title': 'Counsellor login',
  'login.email': 'E-mail address',
  'login.password': 'Password',
  'login.submit': 'Log in',
  'login.submitting': 'Logging in…',
  'login.invalid': 'The e-mail address or the password is wrong.',
  'login.rate_limited': 'Too many attempts. Please wait {seconds} seconds and try again.',
  'login.rate_limited_plain': 'Too many attempts. Please wait a moment and try again.',
  'login.required': 'Please enter your e-mail address and password.',

  'dashboard.title': 'Your sessions',
  'dashboard.signed_in_as': 'Signed in as {name}',
  'dashboard.logout': 'Log out',
  'dashboard.new': 'Start an instant session',
  'dashboard.new_hint': 'You get a link to send to your client. The client waits in the waiting room until you admit them.',
  'dashboard.title_label': 'Title (optional, only visible to you)',
  'dashboard.start': 'Start session',
  'dashboard.starting': 'Starting…',
  'dashboard.list': 'Sessions',
  'dashboard.empty': 'No sessions yet.',
  'dashboard.untitled': 'Untitled session',
  'dashboard.created': 'Created {time}',
  'dashboard.expires': 'Expires {time}',
  'dashboard.ended_at': 'Ended {time}',
  'dashboard.open': 'Open call',
  'dashboard.revoke': 'Revoke link',
  'dashboard.end': 'End session',
  'dashboard.confirm_revoke': 'Revoke the link? Nobody new can join with it.',
  'dashboard.confirm_end': 'End the session for everyone?',
  'dashboard.confirm_yes': 'Yes',
  'dashboard.refresh': 'Refresh',

  'status.active': 'Active',
  'status.revoked': 'Link revoked',
  'status.ended': 'Ended',
  'status.expired': 'Expired',

  'host.title': 'Session',
  'host.join_link': 'Link for your client',
  'host.join_link_hint': 'Send this link to your client. Only you can admit people from the waiting room.',
  'host.lobby': 'Waiting room',
  'host.lobby_empty': 'Nobody is waiting.',
  'host.waiting_since': 'waiting since {time}',
  'host.admit': 'Admit',
  'host.reject': 'Reject',
  'host.admit_label': 'Admit {name}',
  'host.reject_label': 'Reject {name}',
  'host.end': 'End session',
  'host.confirm_end': 'End the session for everyone? The link stops working.',
  'host.confirm_end_yes': 'Yes, end for everyone',
  'host.back': 'Back to the dashboard',
  'host.not_active': 'This session is no longer active ({status}).',
  'host.someone_waiting': '{name} is waiting in the waiting room.',

  'join.title': 'Join your session',
  'join.intro': 'Enter the name your counsellor should see. You do not need an account.',
  'join.name': 'Your name',
  'join.preview': 'Camera preview',
  'join.camera': 'Camera',
  'join.microphone': 'Microphone',
  'join.join': 'Join',
  'join.joining': 'Connecting…',
  'join.waiting': 'Please wait, your counsellor will let you in shortly.',
  'join.waiting_title': 'Waiting room',
  'join.leave_lobby': 'Leave the waiting room',
  'join.rejected': 'Your counsellor did not admit you to this session.',
  'join.link_invalid': 'This link is not valid. It may have expired, or the session has ended.',
  'join.name_required': 'Please enter your name.',
  'join.name_invalid': 'Please use a name of 1 to 80 characters without control characters.',
  'join.no_media': 'Camera or microphone are not available ({detail}). You can still join.',
  'join.no_devices': 'No device found',
  'join.device_default': 'Device {n}',
  'join.lobby_lost': 'The connection was lost. Please try again.',
  'join.left_lobby': 'You have left the waiting room.',

  'call.you': 'You',
  'call.participant': 'Participant',
  'call.mute_mic': 'Mute microphone',
  'call.unmute_mic': 'Unmute microphone',
  'call.camera_off': 'Turn camera off',
  'call.camera_on': 'Turn camera on',
  'call.leave': 'Leave',
  'call.left': 'You have left the session.',
  'call.ended': 'The session has ended',
  'call.ended_by_host': 'The counsellor has ended the session.',
  'call.ended_expired': 'The session has expired.',
  'call.ended_revoked': 'The session link was revoked.',
  'call.chat': 'Chat',
  'call.chat_label': 'Message',
  'call.chat_placeholder': 'Write a message…',
  'call.chat_send': 'Send',
  'call.chat_empty': 'No messages yet.',
  'call.mic_muted': 'Microphone off',
  'call.cam_muted': 'Camera off',
  'call.reconnecting': 'Reconnecting…',
  'call.enable_sound': 'Turn on sound',
  'call.waiting_for_others': 'Nobody else is here yet.',
  'call.devices': 'Camera and microphone',
  'call.connection_lost': 'The connection to the server was lost.',
  'call.videos': 'Video',
  'call.controls': 'Call controls',
  'e2ee.on': 'End-to-end encrypted',
  'e2ee.pending': 'Exchanging keys for end-to-end encryption…',
  'e2ee.off': 'Not end-to-end encrypted',
  'e2ee.unsupported': 'This browser cannot encrypt the call end to end',
  'e2ee.code_label': 'Safety code',
  'e2ee.code_help':
    'Compare this code with everyone in the call, for example by reading it aloud. If it is the same on every screen, only the people in this call can see and hear it. It changes whenever someone joins or leaves.',
  'e2ee.unencrypted_allowed':
    'This browser cannot encrypt audio and video end to end. Your counsellor allows joining anyway: the conversation will not be end-to-end encrypted, and everyone in it will see that.',
  'e2ee.lobby_unencrypted': 'not end-to-end encrypted',
  'e2ee.room_plain': 'Not end-to-end encrypted: someone in the call uses a browser that cannot encrypt',
  'dashboard.settings': 'Settings',
  'dashboard.allow_unencrypted': 'Let clients whose browser cannot encrypt end to end join my sessions unencrypted',
  'dashboard.allow_unencrypted_hint':
    'Off by default. When such a client joins, the whole session is not end-to-end encrypted while they are in it, and everyone sees that.',
  'dashboard.saved': 'Saved.',
  'account.title': 'Account',
  'account.hint':
    'Change your password. Use a phrase of several unrelated words; common passwords and your own name are refused. Your other sign-ins end.',
  'account.current': 'Current password',
  'account.new': 'New password (at least 12 characters)',
  'account.repeat': 'New password again',
  'account.change': 'Change password',
  'account.changed': 'Password changed. You were signed out everywhere else.',
  'account.mismatch': 'The two new passwords differ.',
  'account.wrong_current': 'The current password is not correct.',
  'account.weak': 'This password is too short or too easy to guess. Use a longer phrase of unrelated words.',
  'e2ee.unsupported_title': 'This browser cannot join the session',
  'e2ee.unsupported_text':
    'Sessions are end-to-end encrypted: your browser has to encrypt audio and video itself, and this browser cannot do that. Please open the link in a current version of Firefox, Chrome, Edge or Safari.',

  'conn.label': 'Connection',
  'conn.ws.idle': 'Not connected',
  'conn.ws.connecting': 'Connecting…',
  'conn.ws.open': 'Connected',
  'conn.ws.reconnecting': 'Reconnecting…',
  'conn.ws.closed': 'Disconnected',
  'conn.media.none': 'Media: –',
  'conn.media.new': 'Media: starting',
  'conn.media.connecting': 'Media: connecting…',
  'conn.media.connected': 'Media: connected',
  'conn.media.disconnected': 'Media: interrupted',
  'conn.media.failed': 'Media: failed',
  'conn.media.closed': 'Media: closed',

  'err.generic': 'Something went wrong. Please try again.',
  'err.network': 'The server cannot be reached. Please check your connection.',
  'err.unauthorized': 'Please log in again.',
  'err.invalid_credentials': 'The e-mail address or the password is wrong.',
  'err.forbidden': 'You are not allowed to do this.',
  'err.not_found': 'Not found.',
  'err.conflict': 'This is not possible in the current state.',
  'err.rate_limited': 'Too many requests. Please slow down.',
  'err.internal': 'A server error occurred. Please try again later.',
  'err.validation_failed': 'Please check your input.',
  'err.bad_json': 'The server could not read a message from this page.',
  'err.unknown_type': 'The server did not understand a message from this page.',
  'err.invalid_message': 'The server rejected a message from this page.',
  'err.too_large': 'A message was too large.',
  'err.binary_not_supported': 'The server rejected a binary message.',
  'err.unsupported_version': 'This page is out of date. Please reload it.',
  'err.not_joined': 'You are not in the session yet.',
  'err.already_joined': 'You are already in the session.',
  'err.invalid_token': 'The access token is not valid. Please reload the page.',
  'err.token_expired': 'The access token has expired. Please reload the page.',
  'err.wrong_room': 'The access token belongs to another session.',
  'err.link_invalid': 'This link is not valid. It may have expired, or the session has ended.',
  'err.invalid_name': 'Please use a name of 1 to 80 characters without control characters.',
  'err.sdp_rejected': 'The media server could not set up audio and video.',
  'err.no_pending_offer': 'Media negotiation got out of step.',
  'err.resume_failed': 'Reconnecting failed. Please reload the page.',
  'err.idle_timeout': 'The connection was closed after a period without activity.',
  'err.replaced': 'You opened this session in another window; this one was disconnected.',
  'err.room_full': 'The session is full.',
  'err.e2ee_required':
    'This session requires end-to-end encryption, which this browser cannot do. Please use a current version of Firefox, Chrome, Edge or Safari.',
  'err.e2ee_unsupported':
    'This browser cannot encrypt audio and video end to end, so it cannot join the session. Please use a current version of Firefox, Chrome, Edge or Safari.',
};

const de = {
  'app.name': 'Confidant',
  'app.tagline': 'Vertrauliche Online-Beratung',
  'lang.label': 'Sprache',
  'lang.en': 'English',
  'lang.de': 'Deutsch',
  'common.loading': 'Wird geladen …',
  'common.cancel': 'Abbrechen',
  'common.close': 'Schließen',
  'common.copy': 'Link kopieren',
  'common.copied': 'Link kopiert',
  'common.copy_failed': 'Kopieren fehlgeschlagen. Bitte markieren Sie den Link und kopieren Sie ihn von Hand.',
  'common.retry': 'Erneut versuchen',
  'common.reload': 'Seite neu laden',

  'landing.title': 'Vertrauliche Online-Beratung',
  'landing.intro':
    'Confidant verbindet Beraterinnen und Berater mit ihren Klientinnen und Klienten per Video, Audio und Chat. Alles läuft auf diesem Server: keine Drittanbieter, kein Tracking, kein Konto für Klientinnen und Klienten.',
  'landing.clients': 'Sie sind Klientin oder Klient? Öffnen Sie den Link, den Sie erhalten haben. Sie geben nur Ihren Namen ein.',
  'landing.counsellors': 'Sie beraten?',
  'landing.login': 'Anmelden',

  'notfound.title': 'Seite nicht gefunden',
  'notfound.text': 'Diese Seite gibt es nicht.',
  'notfound.home': 'Zur Startseite',

  'login.title': 'Anmeldung für Beratende',
  'login.email': 'E-Mail-Adresse',
  'login.password': 'Passwort',
  'login.submit': 'Anmelden',
  'login.submitting': 'Anmeldung läuft …',
  'login.invalid': 'E-Mail-Adresse oder Passwort ist falsch.',
  'login.rate_limited': 'Zu viele Versuche. Bitte warten Sie {seconds} Sekunden und versuchen Sie es erneut.',
  'login.rate_limited_plain': 'Zu viele Versuche. Bitte warten Sie einen Moment und versuchen Sie es erneut.',
  'login.required': 'Bitte geben Sie E-Mail-Adresse und Passwort ein.',

  'dashboard.title': 'Ihre Sitzungen',
  'dashboard.signed_in_as': 'Angemeldet als {name}',
  'dashboard.logout': 'Abmelden',
  'dashboard.new': 'Sofort-Sitzung starten',
  'dashboard.new_hint': 'Sie erhalten einen Link für Ihre Klientin oder Ihren Klienten. Wer den Link öffnet, wartet im Warteraum, bis Sie ihn oder sie hereinlassen.',
  'dashboard.title_label': 'Titel (optional, nur für Sie sichtbar)',
  'dashboard.start': 'Sitzung starten',
  'dashboard.starting': 'Wird gestartet …',
  'dashboard.list': 'Sitzungen',
  'dashboard.empty': 'Noch keine Sitzungen.',
  'dashboard.untitled': 'Sitzung ohne Titel',
  'dashboard.created': 'Erstellt {time}',
  'dashboard.expires': 'Läuft ab {time}',
  'dashboard.ended_at': 'Beendet {time}',
  'dashboard.open': 'Gespräch öffnen',
  'dashboard.revoke': 'Link widerrufen',
  'dashboard.end': 'Sitzung beenden',
  'dashboard.confirm_revoke': 'Link widerrufen? Danach kann niemand mehr neu beitreten.',
  'dashboard.confirm_end': 'Sitzung für alle beenden?',
  'dashboard.confirm_yes': 'Ja',
  'dashboard.refresh': 'Aktualisieren',

  'status.active': 'Aktiv',
  'status.revoked': 'Link widerrufen',
  'status.ended': 'Beendet',
  'status.expired': 'Abgelaufen',

  'host.title': 'Sitzung',
  'host.join_link': 'Link für Ihre Klientin / Ihren Klienten',
  'host.join_link_hint': 'Senden Sie diesen Link. Nur Sie können Personen aus dem Warteraum hereinlassen.',
  'host.lobby': 'Warteraum',
  'host.lobby_empty': 'Niemand wartet.',
  'host.waiting_since': 'wartet seit {time}',
  'host.admit': 'Hereinlassen',
  'host.reject': 'Abweisen',
  'host.admit_label': '{name} hereinlassen',
  'host.reject_label': '{name} abweisen',
  'host.end': 'Sitzung beenden',
  'host.confirm_end': 'Sitzung für alle beenden? Der Link funktioniert danach nicht mehr.',
  'host.confirm_end_yes': 'Ja, für alle beenden',
  'host.back': 'Zurück zur Übersicht',
  'host.not_active': 'Diese Sitzung ist nicht mehr aktiv ({status}).',
  'host.someone_waiting': '{name} wartet im Warteraum.',

  'join.title': 'Ihrer Sitzung beitreten',
  'join.intro': 'Geben Sie den Namen ein, den Ihre Beraterin oder Ihr Berater sehen soll. Sie brauchen kein Konto.',
  'join.name': 'Ihr Name',
  'join.preview': 'Kameravorschau',
  'join.camera': 'Kamera',
  'join.microphone': 'Mikrofon',
  'join.join': 'Beitreten',
  'join.joining': 'Verbindung wird aufgebaut …',
  'join.waiting': 'Bitte warten Sie, Sie werden gleich hereingelassen.',
  'join.waiting_title': 'Warteraum',
  'join.leave_lobby': 'Warteraum verlassen',
  'join.rejected': 'Sie wurden nicht zu dieser Sitzung zugelassen.',
  'join.link_invalid': 'Dieser Link ist ungültig. Er ist vielleicht abgelaufen, oder die Sitzung wurde beendet.',
  'join.name_required': 'Bitte geben Sie Ihren Namen ein.',
  'join.name_invalid': 'Bitte verwenden Sie einen Namen mit 1 bis 80 Zeichen ohne Steuerzeichen.',
  'join.no_media': 'Kamera oder Mikrofon sind nicht verfügbar ({detail}). Sie können trotzdem beitreten.',
  'join.no_devices': 'Kein Gerät gefunden',
  'join.device_default': 'Gerät {n}',
  'join.lobby_lost': 'Die Verbindung wurde unterbrochen. Bitte versuchen Sie es erneut.',
  'join.left_lobby': 'Sie haben den Warteraum verlassen.',

  'call.you': 'Sie',
  'call.participant': 'Teilnehmende Person',
  'call.mute_mic': 'Mikrofon stummschalten',
  'call.unmute_mic': 'Mikrofon einschalten',
  'call.camera_off': 'Kamera ausschalten',
  'call.camera_on': 'Kamera einschalten',
  'call.leave': 'Verlassen',
  'call.left': 'Sie haben die Sitzung verlassen.',
  'call.ended': 'Die Sitzung ist beendet',
  'call.ended_by_host': 'Die Beraterin bzw. der Berater hat die Sitzung beendet.',
  'call.ended_expired': 'Die Sitzung ist abgelaufen.',
  'call.ended_revoked': 'Der Link zur Sitzung wurde widerrufen.',
  'call.chat': 'Chat',
  'call.chat_label': 'Nachricht',
  'call.chat_placeholder': 'Nachricht schreiben …',
  'call.chat_send': 'Senden',
  'call.chat_empty': 'Noch keine Nachrichten.',
  'call.mic_muted': 'Mikrofon aus',
  'call.cam_muted': 'Kamera aus',
  'call.reconnecting': 'Verbindung wird wiederhergestellt …',
  'call.enable_sound': 'Ton einschalten',
  'call.waiting_for_others': 'Noch ist niemand sonst da.',
  'call.devices': 'Kamera und Mikrofon',
  'call.connection_lost': 'Die Verbindung zum Server wurde unterbrochen.',
  'call.videos': 'Video',
  'call.controls': 'Gesprächssteuerung',
  'e2ee.on': 'Ende-zu-Ende-verschlüsselt',
  'e2ee.pending': 'Schlüssel für die Ende-zu-Ende-Verschlüsselung werden ausgetauscht …',
  'e2ee.off': 'Nicht Ende-zu-Ende-verschlüsselt',
  'e2ee.unsupported': 'Dieser Browser kann das Gespräch nicht Ende-zu-Ende verschlüsseln',
  'e2ee.code_label': 'Sicherheitscode',
  'e2ee.code_help':
    'Vergleichen Sie diesen Code mit allen im Gespräch, zum Beispiel durch Vorlesen. Ist er auf allen Bildschirmen gleich, können nur die Personen in diesem Gespräch es sehen und hören. Er ändert sich, sobald jemand hinzukommt oder geht.',
  'e2ee.unencrypted_allowed':
    'Dieser Browser kann Audio und Video nicht Ende-zu-Ende verschlüsseln. Ihre Beratungsperson erlaubt die Teilnahme trotzdem: Das Gespräch ist dann nicht Ende-zu-Ende-verschlüsselt, und alle Beteiligten sehen das.',
  'e2ee.lobby_unencrypted': 'nicht Ende-zu-Ende-verschlüsselt',
  'e2ee.room_plain': 'Nicht Ende-zu-Ende-verschlüsselt: Jemand im Gespräch nutzt einen Browser, der nicht verschlüsseln kann',
  'dashboard.settings': 'Einstellungen',
  'dashboard.allow_unencrypted': 'Personen, deren Browser nicht Ende-zu-Ende verschlüsseln kann, unverschlüsselt an meinen Sitzungen teilnehmen lassen',
  'dashboard.allow_unencrypted_hint':
    'Standardmäßig aus. Nimmt eine solche Person teil, ist die ganze Sitzung während ihrer Anwesenheit nicht Ende-zu-Ende-verschlüsselt, und alle sehen das.',
  'dashboard.saved': 'Gespeichert.',
  'account.title': 'Konto',
  'account.hint':
    'Ändern Sie Ihr Passwort. Nehmen Sie mehrere Wörter, die nichts miteinander zu tun haben; häufige Passwörter und Ihr eigener Name werden abgelehnt. Ihre anderen Anmeldungen enden.',
  'account.current': 'Aktuelles Passwort',
  'account.new': 'Neues Passwort (mindestens 12 Zeichen)',
  'account.repeat': 'Neues Passwort wiederholen',
  'account.change': 'Passwort ändern',
  'account.changed': 'Passwort geändert. Überall sonst wurden Sie abgemeldet.',
  'account.mismatch': 'Die beiden neuen Passwörter sind verschieden.',
  'account.wrong_current': 'Das aktuelle Passwort ist nicht richtig.',
  'account.weak': 'Dieses Passwort ist zu kurz oder zu leicht zu erraten. Nehmen Sie eine längere Folge von Wörtern, die nichts miteinander zu tun haben.',
  'e2ee.unsupported_title': 'Mit diesem Browser können Sie nicht teilnehmen',
  'e2ee.unsupported_text':
    'Sitzungen sind Ende-zu-Ende-verschlüsselt: Ihr Browser muss Audio und Video selbst verschlüsseln, und dieser Browser kann das nicht. Bitte öffnen Sie den Link in einer aktuellen Version von Firefox, Chrome, Edge oder Safari.',

  'conn.label': 'Verbindung',
  'conn.ws.idle': 'Nicht verbunden',
  'conn.ws.connecting': 'Verbinde …',
  'conn.ws.open': 'Verbunden',
  'conn.ws.reconnecting': 'Verbindung wird wiederhergestellt …',
  'conn.ws.closed': 'Getrennt',
  'conn.media.none': 'Medien: –',
  'conn.media.new': 'Medien: startet',
  'conn.media.connecting': 'Medien: verbinde …',
  'conn.media.connected': 'Medien: verbunden',
  'conn.media.disconnected': 'Medien: unterbrochen',
  'conn.media.failed': 'Medien: fehlgeschlagen',
  'conn.media.closed': 'Medien: beendet',

  'err.generic': 'Etwas ist schiefgegangen. Bitte versuchen Sie es erneut.',
  'err.network': 'Der Server ist nicht erreichbar. Bitte prüfen Sie Ihre Verbindung.',
  'err.unauthorized': 'Bitte melden Sie sich erneut an.',
  'err.invalid_credentials': 'E-Mail-Adresse oder Passwort ist falsch.',
  'err.forbidden': 'Das dürfen Sie nicht.',
  'err.not_found': 'Nicht gefunden.',
  'err.conflict': 'Das ist im aktuellen Zustand nicht möglich.',
  'err.rate_limited': 'Zu viele Anfragen. Bitte etwas langsamer.',
  'err.internal': 'Ein Serverfehler ist aufgetreten. Bitte versuchen Sie es später erneut.',
  'err.validation_failed': 'Bitte prüfen Sie Ihre Eingabe.',
  'err.bad_json': 'Der Server konnte eine Nachricht dieser Seite nicht lesen.',
  'err.unknown_type': 'Der Server hat eine Nachricht dieser Seite nicht verstanden.',
  'err.invalid_message': 'Der Server hat eine Nachricht dieser Seite abgelehnt.',
  'err.too_large': 'Eine Nachricht war zu groß.',
  'err.binary_not_supported': 'Der Server hat eine Binärnachricht abgelehnt.',
  'err.unsupported_version': 'Diese Seite ist veraltet. Bitte laden Sie sie neu.',
  'err.not_joined': 'Sie sind der Sitzung noch nicht beigetreten.',
  'err.already_joined': 'Sie sind der Sitzung bereits beigetreten.',
  'err.invalid_token': 'Der Zugangsschlüssel ist ungültig. Bitte laden Sie die Seite neu.',
  'err.token_expired': 'Der Zugangsschlüssel ist abgelaufen. Bitte laden Sie die Seite neu.',
  'err.wrong_room': 'Der Zugangsschlüssel gehört zu einer anderen Sitzung.',
  'err.link_invalid': 'Dieser Link ist ungültig. Er ist vielleicht abgelaufen, oder die Sitzung wurde beendet.',
  'err.invalid_name': 'Bitte verwenden Sie einen Namen mit 1 bis 80 Zeichen ohne Steuerzeichen.',
  'err.sdp_rejected': 'Der Medienserver konnte Audio und Video nicht einrichten.',
  'err.no_pending_offer': 'Die Medienaushandlung ist durcheinandergeraten.',
  'err.resume_failed': 'Die Verbindung konnte nicht wiederhergestellt werden. Bitte laden Sie die Seite neu.',
  'err.idle_timeout': 'Die Verbindung wurde nach längerer Inaktivität getrennt.',
  'err.replaced': 'Sie haben diese Sitzung in einem anderen Fenster geöffnet; dieses wurde getrennt.',
  'err.room_full': 'Die Sitzung ist voll.',
  'err.e2ee_required':
    'Diese Sitzung erfordert Ende-zu-Ende-Verschlüsselung, die dieser Browser nicht beherrscht. Bitte verwenden Sie eine aktuelle Version von Firefox, Chrome, Edge oder Safari.',
  'err.e2ee_unsupported':
    'Dieser Browser kann Audio und Video nicht Ende-zu-Ende verschlüsseln und deshalb nicht an der Sitzung teilnehmen. Bitte verwenden Sie eine aktuelle Version von Firefox, Chrome, Edge oder Safari.',
};

export const dictionaries = { en, de };
export const LANGUAGES = ['en', 'de'];

/** The page language: `<html lang>` if it is one we have, else English. */
export function currentLang() {
  const l = (document.documentElement.lang || 'en').toLowerCase().slice(0, 2);
  return LANGUAGES.includes(l) ? l : 'en';
}

/** Translates `key`, filling `{name}` placeholders from `params`. */
export function t(key, params) {
  const dict = dictionaries[currentLang()];
  let s = dict[key];
  if (s === undefined) s = en[key];
  if (s === undefined) return key;
  if (params) {
    s = s.replace(/\{(\w+)\}/g, (m, name) => (params[name] === undefined ? m : String(params[name])));
  }
  return s;
}

/** The readable text for an error code (HTTP API or websocket), falling back to a generic one. */
export function errorText(code) {
  const key = 'err.' + code;
  const dict = dictionaries[currentLang()];
  return dict[key] || en[key] || t('err.generic');
}

/** Stores the language in the cookie the server reads, then reloads. */
export function setLanguage(lang) {
  if (!LANGUAGES.includes(lang)) return;
  document.cookie = `lang=${lang}; path=/; max-age=31536000; samesite=lax`;
  location.reload();
}

/** Formats an RFC 3339 timestamp for the page language. */
export function formatTime(rfc3339, withDate = true) {
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return '';
  const opts = withDate ? { dateStyle: 'medium', timeStyle: 'short' } : { timeStyle: 'short' };
  try {
    return new Intl.DateTimeFormat(currentLang(), opts).format(d);
  } catch {
    return d.toLocaleString();
  }
}
