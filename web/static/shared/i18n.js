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
  'dashboard.waiting': 'Waiting in the waiting room: {n}',
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
  'host.several_waiting': '{n} people are waiting in the waiting room.',
  'host.to_lobby': 'To the waiting room',
  'knock.sound_on': 'Knock sound: on',
  'knock.sound_off': 'Knock sound: off',
  'knock.notify_ask': 'Notify me of knocks',
  'knock.notify_granted': 'Desktop notifications for knocks are on.',
  'knock.notify_denied': 'Desktop notifications are blocked in this browser; you can allow them in the site settings.',
  'knock.notify_unsupported': 'This browser cannot show desktop notifications.',
  'knock.notify_one': 'Someone is waiting in the waiting room.',
  'knock.notify_many': '{n} people are waiting in the waiting room.',
  'knock.title_waiting': 'Someone is waiting',
  'knock.notify_walkin': 'Someone is waiting for a walk-in session.',

  'join.title': 'Join your session',
  'join.intro': 'Enter the name your counsellor should see. You do not need an account.',
  'join.name': 'Your name',
  'join.preview': 'Camera preview',
  'join.camera': 'Camera',
  'join.microphone': 'Microphone',
  'join.join': 'Join',
  'join.joining': 'Connecting…',
  'join.waiting': 'Please wait here. Your counsellor will let you in shortly. You do not need to do anything; keep this page open.',
  'join.waiting_title': 'Waiting room',
  'join.admitted': 'You have been let in. The conversation begins.',
  'join.leave_lobby': 'Leave the waiting room',
  'join.rejected': 'Your counsellor did not let you in. If you think this was a mistake, please ask for a new appointment.',
  'join.link_invalid': 'This link is not valid any more. It may have expired, or the session has ended. Please ask your counsellor for a new link.',
  'join.name_required': 'Please enter your name.',
  'join.name_invalid': 'Please enter a name of at most 80 characters, using only letters, digits and ordinary punctuation.',
  'join.no_media': '{detail} You can still join: the others will then not see or hear you.',
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
  'call.failed': 'The session could not continue',
  'call.leave_confirm': 'Leave the session?',
  'call.leave_yes': 'Yes, leave',
  'e2ee.code_what': 'What is this?',
  'call.ended': 'The session has ended',
  'call.ended_by_host': 'Your counsellor has ended the session. If you want to talk more, please book a new appointment or write a message.',
  'call.ended_expired': 'The session has expired. Please ask for a new link.',
  'call.ended_revoked': 'The link to this session is no longer valid. Please ask for a new link.',
  'call.removed': 'You were removed from the session',
  'call.removed_text': 'Your counsellor has removed you from this session.',
  'call.remove': 'Remove',
  'call.remove_label': 'Remove {name} from the session',
  'call.remove_confirm': 'Remove {name}?',
  'call.chat': 'Chat',
  'call.chat_label': 'Message',
  'call.chat_placeholder': 'Write a message…',
  'call.chat_send': 'Send',
  'call.chat_empty': 'No messages yet.',
  'call.chat_older': 'Show earlier messages',
  'call.chat_counsellor': 'Counsellor',
  'call.chat_client': 'Client',
  'call.chat_privacy':
    'The chat is not end-to-end encrypted: messages travel encrypted to the server, which stores them encrypted with its own key and can read them. They are deleted after the session. You see the messages from the moment you were admitted.',
  'call.chat_privacy_host':
    'The chat is not end-to-end encrypted: messages travel encrypted to the server, which stores them encrypted with its own key and can read them. They are deleted after the session. Clients see the messages from the moment they were admitted, earlier ones only if you share them.',
  'call.chat_share': 'Share earlier messages with clients',
  'call.chat_shared_host': 'The earlier messages are now shown to the clients, also to those you admit later.',
  'call.chat_shared': 'Your counsellor shared the earlier messages with you.',
  'call.mic_muted': 'Microphone off',
  'call.cam_muted': 'Camera off',
  'call.reconnecting': 'Reconnecting…',
  'call.enable_sound': 'Turn on sound',
  'call.waiting_for_others': 'Nobody else is here yet.',
  'call.devices': 'Camera and microphone',
  'call.connection_lost': 'The connection to the server was lost.',
  'call.videos': 'Video',
  'call.controls': 'Call controls',
  'call.heading': 'Conversation',
  'e2ee.on': 'Sound and picture end-to-end encrypted',
  'e2ee.pending': 'Setting up encryption…',
  'e2ee.off': 'Sound and picture not end-to-end encrypted',
  'e2ee.no_media': 'No media connection: encryption cannot be confirmed',
  'e2ee.connecting': 'Connecting media…',
  'e2ee.unsupported': 'This browser cannot encrypt the session end to end',
  'e2ee.code_label': 'Safety code',
  'e2ee.code_help':
    'Read this code aloud and ask: do you see the same code? If so, only the people in this session can see and hear it – not even the server. When someone joins or leaves, the code changes.',
  'e2ee.unencrypted_allowed':
    'This browser cannot encrypt sound and picture. Your counsellor allows joining anyway. Then the session will not be end-to-end encrypted, and everyone in it will see that. A current Firefox, Chrome, Edge or Safari is safer.',
  'e2ee.lobby_unencrypted': 'not end-to-end encrypted',
  'e2ee.room_plain': 'Not end-to-end encrypted: someone in the session uses a browser that cannot encrypt',
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
    'Sessions are end-to-end encrypted: only the people in the session can see and hear it. For that your browser has to encrypt sound and picture itself, and this browser cannot. Please open the link in a current Firefox, Chrome, Edge or Safari.',

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

  'err.generic': 'Something went wrong. Please try again. If it happens again, reload the page.',
  'err.network': 'The server cannot be reached. Please check your internet connection and try again.',
  'err.unauthorized': 'You have been signed out. Please log in again.',
  'err.invalid_credentials': 'The e-mail address or the password is wrong.',
  'err.forbidden': 'You are not allowed to do this. If you think you should be, please contact your counsellor or the centre.',
  'err.cross_origin': 'This page is out of date. Please reload it and try again.',
  'err.not_found': 'This could not be found. It may have been removed. Please reload the page.',
  'err.method_not_allowed': 'This page is out of date. Please reload it and try again.',
  'err.conflict': 'This is no longer possible, because something has changed in the meantime. Please reload the page.',
  'err.rate_limited': 'Too many attempts. Please wait a minute and try again.',
  'err.internal': 'A fault on the server. Please try again in a few minutes. If it keeps happening, please contact the centre.',
  'err.validation_failed': 'Please check your input.',
  'err.bad_json': 'The connection had a problem. Please reload the page.',
  'err.unknown_type': 'This page is out of date. Please reload it.',
  'err.invalid_message': 'The connection had a problem. Please reload the page.',
  'err.too_large': 'That was too long. Please send a shorter text.',
  'err.binary_not_supported': 'The connection had a problem. Please reload the page.',
  'err.unsupported_version': 'This page is out of date. Please reload it.',
  'err.not_joined': 'You are not in the session yet. Please reload the page.',
  'err.already_joined': 'You are already in the session, maybe in another window. Please close the other window or reload this page.',
  'err.invalid_token': 'Your access is not valid any more. Please reload the page.',
  'err.token_expired': 'Your access has expired. Please reload the page.',
  'err.wrong_room': 'This link belongs to another session. Please open the link you were sent again.',
  'err.link_invalid': 'This link is not valid any more. It may have expired, or the session has ended. Please ask your counsellor for a new link.',
  'err.invalid_name': 'Please enter a name of at most 80 characters, using only letters, digits and ordinary punctuation.',
  'err.sdp_rejected': 'Sound and picture could not be set up. Please reload the page.',
  'err.no_pending_offer': 'Sound and picture got out of step. Please reload the page.',
  'err.resume_failed': 'Reconnecting failed. Please reload the page.',
  'err.idle_timeout': 'The connection was closed because nothing happened for a long time. Please reload the page.',
  'err.replaced': 'You opened this session in another window, so this one was disconnected. Please continue in the other window.',
  'err.room_full': 'The session is full. Please contact your counsellor.',
  'err.chat_full': 'The chat of this session is full; your message was not sent. Please say it out loud instead.',
  'err.too_many_connections': 'Too many connections from your network right now. Please try again in a moment.',
  'err.e2ee_required':
    'This session is end-to-end encrypted, and this browser cannot do that. Please open the link in a current Firefox, Chrome, Edge or Safari.',
  'err.e2ee_unsupported':
    'This browser cannot encrypt sound and picture, so it cannot join the session. Please open the link in a current Firefox, Chrome, Edge or Safari.',

  'media.NotAllowedError': 'You have not allowed this page to use the camera and microphone. Tap the camera symbol in the address bar, choose “Allow”, and reload the page.',
  'media.NotFoundError': 'No camera or microphone was found. Please connect one, or join without.',
  'media.NotReadableError': 'The camera or microphone is being used by another app. Please close that app and reload the page.',
  'media.OverconstrainedError': 'The chosen camera or microphone cannot be used. Please choose another one.',
  'media.SecurityError': 'This browser does not allow the camera and microphone here. Please open the link in a current Firefox, Chrome, Edge or Safari.',
  'media.AbortError': 'The camera or microphone stopped unexpectedly. Please reload the page.',
  'media.unavailable': 'This browser cannot use a camera or microphone. Please open the link in a current Firefox, Chrome, Edge or Safari.',
  'media.generic': 'The camera or microphone is not available.',
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
    'Confidant verbindet Sie per Video, Audio und Chat mit Ihrer Beraterin oder Ihrem Berater. Alles läuft auf diesem Server: keine fremden Dienste, kein Tracking, Sie brauchen kein Konto.',
  'landing.clients': 'Sie möchten beraten werden? Öffnen Sie den Link, den Sie bekommen haben. Sie geben nur Ihren Namen ein.',
  'landing.counsellors': 'Sie sind Berater:in?',
  'landing.login': 'Anmelden',

  'notfound.title': 'Seite nicht gefunden',
  'notfound.text': 'Diese Seite gibt es nicht.',
  'notfound.home': 'Zur Startseite',

  'login.title': 'Anmeldung für Berater:innen',
  'login.email': 'E-Mail-Adresse',
  'login.password': 'Passwort',
  'login.submit': 'Anmelden',
  'login.submitting': 'Anmeldung läuft …',
  'login.invalid': 'E-Mail-Adresse oder Passwort ist falsch.',
  'login.rate_limited': 'Zu viele Versuche. Bitte warten Sie {seconds} Sekunden und versuchen Sie es erneut.',
  'login.rate_limited_plain': 'Zu viele Versuche. Bitte warten Sie einen Moment und versuchen Sie es erneut.',
  'login.required': 'Bitte geben Sie E-Mail-Adresse und Passwort ein.',

  'dashboard.title': 'Ihre Gespräche',
  'dashboard.signed_in_as': 'Angemeldet als {name}',
  'dashboard.logout': 'Abmelden',
  'dashboard.new': 'Sofort-Gespräch starten',
  'dashboard.new_hint': 'Sie erhalten einen Link für Ihre:n Klient:in. Wer den Link öffnet, wartet im Warteraum, bis Sie die Person hereinlassen.',
  'dashboard.title_label': 'Titel (optional, nur für Sie sichtbar)',
  'dashboard.start': 'Gespräch starten',
  'dashboard.starting': 'Wird gestartet …',
  'dashboard.list': 'Gespräche',
  'dashboard.empty': 'Noch keine Gespräche.',
  'dashboard.waiting': 'Im Warteraum: {n}',
  'dashboard.untitled': 'Gespräch ohne Titel',
  'dashboard.created': 'Erstellt {time}',
  'dashboard.expires': 'Läuft ab {time}',
  'dashboard.ended_at': 'Beendet {time}',
  'dashboard.open': 'Gespräch öffnen',
  'dashboard.revoke': 'Link widerrufen',
  'dashboard.end': 'Gespräch beenden',
  'dashboard.confirm_revoke': 'Link widerrufen? Danach kann niemand mehr neu beitreten.',
  'dashboard.confirm_end': 'Gespräch für alle beenden?',
  'dashboard.confirm_yes': 'Ja',
  'dashboard.refresh': 'Aktualisieren',

  'status.active': 'Aktiv',
  'status.revoked': 'Link widerrufen',
  'status.ended': 'Beendet',
  'status.expired': 'Abgelaufen',

  'host.title': 'Gespräch',
  'host.join_link': 'Link für Ihre:n Klient:in',
  'host.join_link_hint': 'Senden Sie diesen Link. Nur Sie können Personen aus dem Warteraum hereinlassen.',
  'host.lobby': 'Warteraum',
  'host.lobby_empty': 'Niemand wartet.',
  'host.waiting_since': 'wartet seit {time}',
  'host.admit': 'Hereinlassen',
  'host.reject': 'Abweisen',
  'host.admit_label': '{name} hereinlassen',
  'host.reject_label': '{name} abweisen',
  'host.end': 'Gespräch beenden',
  'host.confirm_end': 'Gespräch für alle beenden? Der Link funktioniert danach nicht mehr.',
  'host.confirm_end_yes': 'Ja, für alle beenden',
  'host.back': 'Zurück zur Übersicht',
  'host.not_active': 'Dieses Gespräch ist nicht mehr aktiv ({status}).',
  'host.someone_waiting': '{name} wartet im Warteraum.',
  'host.several_waiting': '{n} Personen warten im Warteraum.',
  'host.to_lobby': 'Zum Warteraum',
  'knock.sound_on': 'Ton beim Anklopfen: an',
  'knock.sound_off': 'Ton beim Anklopfen: aus',
  'knock.notify_ask': 'Bei Anklopfen benachrichtigen',
  'knock.notify_granted': 'Desktop-Benachrichtigungen beim Anklopfen sind an.',
  'knock.notify_denied': 'Desktop-Benachrichtigungen sind in diesem Browser blockiert; Sie können sie in den Website-Einstellungen erlauben.',
  'knock.notify_unsupported': 'Dieser Browser kann keine Desktop-Benachrichtigungen zeigen.',
  'knock.notify_one': 'Jemand wartet im Warteraum.',
  'knock.notify_many': '{n} Personen warten im Warteraum.',
  'knock.title_waiting': 'Jemand wartet',
  'knock.notify_walkin': 'Jemand wartet auf ein Spontangespräch.',

  'join.title': 'Zu Ihrem Gespräch',
  'join.intro': 'Geben Sie den Namen ein, den Ihre Beraterin oder Ihr Berater sehen soll. Sie brauchen kein Konto.',
  'join.name': 'Ihr Name',
  'join.preview': 'Kameravorschau',
  'join.camera': 'Kamera',
  'join.microphone': 'Mikrofon',
  'join.join': 'Beitreten',
  'join.joining': 'Verbindung wird aufgebaut …',
  'join.waiting': 'Bitte warten Sie hier. Ihre Beraterin oder Ihr Berater lässt Sie gleich herein. Sie müssen nichts tun; lassen Sie diese Seite offen.',
  'join.waiting_title': 'Warteraum',
  'join.admitted': 'Sie wurden hereingelassen. Das Gespräch beginnt.',
  'join.leave_lobby': 'Warteraum verlassen',
  'join.rejected': 'Ihre Beraterin oder Ihr Berater hat Sie nicht hereingelassen. Wenn Sie glauben, dass das ein Versehen war, fragen Sie bitte nach einem neuen Termin.',
  'join.link_invalid': 'Dieser Link gilt nicht mehr. Vielleicht ist er abgelaufen, oder das Gespräch ist schon zu Ende. Bitte fragen Sie Ihre Beraterin oder Ihren Berater nach einem neuen Link.',
  'join.name_required': 'Bitte geben Sie Ihren Namen ein.',
  'join.name_invalid': 'Bitte geben Sie einen Namen mit höchstens 80 Zeichen ein. Verwenden Sie nur Buchstaben, Zahlen und normale Satzzeichen.',
  'join.no_media': '{detail} Sie können trotzdem beitreten: Die anderen hören und sehen Sie dann nicht.',
  'join.no_devices': 'Kein Gerät gefunden',
  'join.device_default': 'Gerät {n}',
  'join.lobby_lost': 'Die Verbindung wurde unterbrochen. Bitte versuchen Sie es erneut.',
  'join.left_lobby': 'Sie haben den Warteraum verlassen.',

  'call.you': 'Sie',
  'call.participant': 'Person im Gespräch',
  'call.mute_mic': 'Mikrofon stummschalten',
  'call.unmute_mic': 'Mikrofon einschalten',
  'call.camera_off': 'Kamera ausschalten',
  'call.camera_on': 'Kamera einschalten',
  'call.leave': 'Verlassen',
  'call.left': 'Sie haben das Gespräch verlassen.',
  'call.failed': 'Das Gespräch konnte nicht weitergehen',
  'call.leave_confirm': 'Gespräch verlassen?',
  'call.leave_yes': 'Ja, verlassen',
  'e2ee.code_what': 'Was ist das?',
  'call.ended': 'Das Gespräch ist beendet',
  'call.ended_by_host': 'Ihre Beraterin oder Ihr Berater hat das Gespräch beendet. Wenn Sie noch etwas besprechen möchten, buchen Sie bitte einen neuen Termin oder schreiben Sie eine Nachricht.',
  'call.ended_expired': 'Das Gespräch ist abgelaufen. Bitte fragen Sie nach einem neuen Link.',
  'call.ended_revoked': 'Der Link zu diesem Gespräch gilt nicht mehr. Bitte fragen Sie nach einem neuen Link.',
  'call.removed': 'Sie wurden aus dem Gespräch entfernt',
  'call.removed_text': 'Ihre Beraterin oder Ihr Berater hat Sie aus diesem Gespräch entfernt.',
  'call.remove': 'Entfernen',
  'call.remove_label': '{name} aus dem Gespräch entfernen',
  'call.remove_confirm': '{name} entfernen?',
  'call.chat': 'Chat',
  'call.chat_label': 'Nachricht',
  'call.chat_placeholder': 'Nachricht schreiben …',
  'call.chat_send': 'Senden',
  'call.chat_empty': 'Noch keine Nachrichten.',
  'call.chat_older': 'Frühere Nachrichten anzeigen',
  'call.chat_counsellor': 'Beraterin oder Berater',
  'call.chat_client': 'Klient:in',
  'call.chat_privacy':
    'Der Chat ist nicht Ende-zu-Ende-verschlüsselt: Nachrichten gehen verschlüsselt an den Server. Er speichert sie mit seinem eigenen Schlüssel verschlüsselt und kann sie lesen. Nach dem Gespräch werden sie gelöscht. Sie sehen die Nachrichten ab dem Moment, in dem Sie hereingelassen wurden.',
  'call.chat_privacy_host':
    'Der Chat ist nicht Ende-zu-Ende-verschlüsselt: Nachrichten gehen verschlüsselt an den Server. Er speichert sie mit seinem eigenen Schlüssel verschlüsselt und kann sie lesen. Nach dem Gespräch werden sie gelöscht. Klient:innen sehen die Nachrichten ab dem Moment, in dem sie hereingelassen wurden, frühere nur, wenn Sie sie teilen.',
  'call.chat_share': 'Frühere Nachrichten mit Klient:innen teilen',
  'call.chat_shared_host': 'Die früheren Nachrichten sehen jetzt auch die Klient:innen, auch die, die Sie später hereinlassen.',
  'call.chat_shared': 'Ihre Beraterin oder Ihr Berater hat die früheren Nachrichten mit Ihnen geteilt.',
  'call.mic_muted': 'Mikrofon aus',
  'call.cam_muted': 'Kamera aus',
  'call.reconnecting': 'Verbindung wird wiederhergestellt …',
  'call.enable_sound': 'Ton einschalten',
  'call.waiting_for_others': 'Noch ist niemand sonst da.',
  'call.devices': 'Kamera und Mikrofon',
  'call.connection_lost': 'Die Verbindung zum Server wurde unterbrochen.',
  'call.videos': 'Video',
  'call.controls': 'Gesprächssteuerung',
  'call.heading': 'Gespräch',
  'e2ee.on': 'Bild und Ton Ende-zu-Ende-verschlüsselt',
  'e2ee.pending': 'Die Verschlüsselung wird eingerichtet …',
  'e2ee.off': 'Bild und Ton nicht Ende-zu-Ende-verschlüsselt',
  'e2ee.no_media': 'Keine Medienverbindung: Verschlüsselung nicht bestätigt',
  'e2ee.connecting': 'Medienverbindung wird aufgebaut …',
  'e2ee.unsupported': 'Dieser Browser kann das Gespräch nicht Ende-zu-Ende verschlüsseln',
  'e2ee.code_label': 'Sicherheitscode',
  'e2ee.code_help':
    'Lesen Sie diesen Code laut vor, und fragen Sie: Steht bei Ihnen derselbe Code? Wenn ja, können nur die Personen in diesem Gespräch es sehen und hören – auch der Server nicht. Kommt jemand dazu oder geht jemand, ändert sich der Code.',
  'e2ee.unencrypted_allowed':
    'Dieser Browser kann Bild und Ton nicht verschlüsseln. Ihre Beraterin oder Ihr Berater erlaubt die Teilnahme trotzdem. Dann ist das Gespräch nicht Ende-zu-Ende-verschlüsselt, und alle im Gespräch sehen das. Sicherer ist ein aktueller Firefox, Chrome, Edge oder Safari.',
  'e2ee.lobby_unencrypted': 'nicht Ende-zu-Ende-verschlüsselt',
  'e2ee.room_plain': 'Nicht Ende-zu-Ende-verschlüsselt: Jemand im Gespräch nutzt einen Browser, der nicht verschlüsseln kann',
  'dashboard.settings': 'Einstellungen',
  'dashboard.allow_unencrypted': 'Klient:innen, deren Browser nicht Ende-zu-Ende verschlüsseln kann, unverschlüsselt an meinen Gesprächen teilnehmen lassen',
  'dashboard.allow_unencrypted_hint':
    'Standardmäßig aus. Nimmt eine solche Person teil, ist das ganze Gespräch während ihrer Anwesenheit nicht Ende-zu-Ende-verschlüsselt, und alle sehen das.',
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
    'Gespräche sind Ende-zu-Ende-verschlüsselt: Nur die Personen im Gespräch können es sehen und hören. Dafür muss Ihr Browser Bild und Ton selbst verschlüsseln, und dieser Browser kann das nicht. Bitte öffnen Sie den Link in einem aktuellen Firefox, Chrome, Edge oder Safari.',

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

  'err.generic': 'Etwas ist schiefgegangen. Bitte versuchen Sie es noch einmal. Wenn es wieder passiert, laden Sie die Seite neu.',
  'err.network': 'Der Server ist nicht erreichbar. Bitte prüfen Sie Ihre Internetverbindung und versuchen Sie es noch einmal.',
  'err.unauthorized': 'Sie wurden abgemeldet. Bitte melden Sie sich erneut an.',
  'err.invalid_credentials': 'E-Mail-Adresse oder Passwort ist falsch.',
  'err.forbidden': 'Das ist Ihnen nicht erlaubt. Wenn Sie meinen, dass es erlaubt sein sollte, wenden Sie sich bitte an Ihre Beraterin, Ihren Berater oder die Beratungsstelle.',
  'err.cross_origin': 'Diese Seite ist nicht mehr aktuell. Bitte laden Sie sie neu und versuchen Sie es noch einmal.',
  'err.not_found': 'Das wurde nicht gefunden. Vielleicht wurde es entfernt. Bitte laden Sie die Seite neu.',
  'err.method_not_allowed': 'Diese Seite ist nicht mehr aktuell. Bitte laden Sie sie neu und versuchen Sie es noch einmal.',
  'err.conflict': 'Das geht nicht mehr, weil sich inzwischen etwas geändert hat. Bitte laden Sie die Seite neu.',
  'err.rate_limited': 'Zu viele Versuche. Bitte warten Sie eine Minute und versuchen Sie es dann noch einmal.',
  'err.internal': 'Ein Fehler auf dem Server. Bitte versuchen Sie es in ein paar Minuten noch einmal. Wenn es so bleibt, wenden Sie sich bitte an die Beratungsstelle.',
  'err.validation_failed': 'Bitte prüfen Sie Ihre Eingaben.',
  'err.bad_json': 'Bei der Verbindung gab es ein Problem. Bitte laden Sie die Seite neu.',
  'err.unknown_type': 'Diese Seite ist nicht mehr aktuell. Bitte laden Sie sie neu.',
  'err.invalid_message': 'Bei der Verbindung gab es ein Problem. Bitte laden Sie die Seite neu.',
  'err.too_large': 'Das war zu lang. Bitte senden Sie einen kürzeren Text.',
  'err.binary_not_supported': 'Bei der Verbindung gab es ein Problem. Bitte laden Sie die Seite neu.',
  'err.unsupported_version': 'Diese Seite ist nicht mehr aktuell. Bitte laden Sie sie neu.',
  'err.not_joined': 'Sie sind noch nicht im Gespräch. Bitte laden Sie die Seite neu.',
  'err.already_joined': 'Sie sind schon im Gespräch, vielleicht in einem anderen Fenster. Bitte schließen Sie das andere Fenster oder laden Sie diese Seite neu.',
  'err.invalid_token': 'Ihr Zugang gilt nicht mehr. Bitte laden Sie die Seite neu.',
  'err.token_expired': 'Ihr Zugang ist abgelaufen. Bitte laden Sie die Seite neu.',
  'err.wrong_room': 'Dieser Link gehört zu einem anderen Gespräch. Bitte öffnen Sie noch einmal den Link, den Sie bekommen haben.',
  'err.link_invalid': 'Dieser Link gilt nicht mehr. Vielleicht ist er abgelaufen, oder das Gespräch ist schon zu Ende. Bitte fragen Sie Ihre Beraterin oder Ihren Berater nach einem neuen Link.',
  'err.invalid_name': 'Bitte geben Sie einen Namen mit höchstens 80 Zeichen ein. Verwenden Sie nur Buchstaben, Zahlen und normale Satzzeichen.',
  'err.sdp_rejected': 'Bild und Ton konnten nicht eingerichtet werden. Bitte laden Sie die Seite neu.',
  'err.no_pending_offer': 'Bild und Ton sind durcheinandergeraten. Bitte laden Sie die Seite neu.',
  'err.resume_failed': 'Die Verbindung konnte nicht wiederhergestellt werden. Bitte laden Sie die Seite neu.',
  'err.idle_timeout': 'Die Verbindung wurde getrennt, weil lange nichts passiert ist. Bitte laden Sie die Seite neu.',
  'err.replaced': 'Sie haben dieses Gespräch in einem anderen Fenster geöffnet, deshalb wurde dieses Fenster getrennt. Bitte machen Sie im anderen Fenster weiter.',
  'err.room_full': 'Das Gespräch ist voll. Bitte wenden Sie sich an Ihre Beraterin oder Ihren Berater.',
  'err.chat_full': 'Der Chat dieses Gesprächs ist voll; Ihre Nachricht wurde nicht gesendet. Bitte sagen Sie es stattdessen.',
  'err.too_many_connections': 'Gerade gibt es zu viele Verbindungen aus Ihrem Netz. Bitte versuchen Sie es gleich noch einmal.',
  'err.e2ee_required':
    'Dieses Gespräch ist Ende-zu-Ende-verschlüsselt, und dieser Browser kann das nicht. Bitte öffnen Sie den Link in einem aktuellen Firefox, Chrome, Edge oder Safari.',
  'err.e2ee_unsupported':
    'Dieser Browser kann Bild und Ton nicht verschlüsseln und deshalb nicht am Gespräch teilnehmen. Bitte öffnen Sie den Link in einem aktuellen Firefox, Chrome, Edge oder Safari.',

  'media.NotAllowedError': 'Sie haben dieser Seite Kamera und Mikrofon nicht erlaubt. Tippen Sie oben in der Adresszeile auf das Kamera-Zeichen, wählen Sie „Erlauben“ und laden Sie die Seite neu.',
  'media.NotFoundError': 'Es wurde keine Kamera und kein Mikrofon gefunden. Bitte schließen Sie eines an oder nehmen Sie ohne teil.',
  'media.NotReadableError': 'Kamera oder Mikrofon wird gerade von einem anderen Programm benutzt. Bitte schließen Sie dieses Programm und laden Sie die Seite neu.',
  'media.OverconstrainedError': 'Die gewählte Kamera oder das gewählte Mikrofon geht nicht. Bitte wählen Sie ein anderes Gerät.',
  'media.SecurityError': 'Dieser Browser erlaubt Kamera und Mikrofon hier nicht. Bitte öffnen Sie den Link in einem aktuellen Firefox, Chrome, Edge oder Safari.',
  'media.AbortError': 'Kamera oder Mikrofon hat unerwartet aufgehört. Bitte laden Sie die Seite neu.',
  'media.unavailable': 'Dieser Browser kann keine Kamera und kein Mikrofon benutzen. Bitte öffnen Sie den Link in einem aktuellen Firefox, Chrome, Edge oder Safari.',
  'media.generic': 'Kamera oder Mikrofon ist nicht verfügbar.',
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

/**
 * A browser's media error (`NotAllowedError`, `NotFoundError`, … or `mediaDevices unavailable`
 * from media.js) as a sentence with a next step; never the raw name.
 */
export function mediaErrorText(name) {
  const n = String(name || '');
  if (/unavailable/i.test(n)) return t('media.unavailable');
  const key = 'media.' + n;
  return key in dictionaries.en ? t(key) : t('media.generic');
}

// Zones named as a place (docs/GLOSSARY.md): "Berliner Zeit", "Ortszeit Madrid", "Berlin time".
const DE_CITY = {
  Vienna: 'Wien', Zurich: 'Zürich', Brussels: 'Brüssel', Rome: 'Rom', Prague: 'Prag', Warsaw: 'Warschau',
  Copenhagen: 'Kopenhagen', Lisbon: 'Lissabon', Moscow: 'Moskau', Athens: 'Athen', Belgrade: 'Belgrad',
  Bucharest: 'Bukarest', Kiev: 'Kiew', Kyiv: 'Kiew', Istanbul: 'Istanbul', Luxembourg: 'Luxemburg',
};
const DE_ADJ = {
  Berlin: 'Berliner Zeit', Wien: 'Wiener Zeit', 'Zürich': 'Zürcher Zeit', London: 'Londoner Zeit', Paris: 'Pariser Zeit',
  Amsterdam: 'Amsterdamer Zeit', Luxemburg: 'Luxemburger Zeit',
};

/** An IANA zone as a place for the page language: "Berliner Zeit" / "Berlin time". */
export function zonePlace(zone) {
  const z = String(zone || 'UTC');
  if (z === 'UTC' || z === 'Etc/UTC' || !z.includes('/')) return 'UTC';
  const city = z.split('/').pop().replace(/_/g, ' ');
  if (currentLang() === 'de') {
    const de = DE_CITY[city] || city;
    return DE_ADJ[de] || `Ortszeit ${de}`;
  }
  return `${city} time`;
}

function parts(date, opts) {
  const out = {};
  for (const p of new Intl.DateTimeFormat(currentLang() === 'de' ? 'de-DE' : 'en-GB', opts).formatToParts(date)) out[p.type] = p.value;
  return out;
}

/** "Mittwoch, 9. Dezember 2026" / "Wednesday, 9 December 2026" (the glossary's one long form). */
export function formatLongDay(date, timeZone) {
  const d = new Date(date);
  if (Number.isNaN(d.getTime())) return '';
  const p = parts(d, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', ...(timeZone ? { timeZone } : {}) });
  return currentLang() === 'de' ? `${p.weekday}, ${p.day}. ${p.month} ${p.year}` : `${p.weekday}, ${p.day} ${p.month} ${p.year}`;
}

/** "09:00" in 24-hour form. */
export function formatClock24(date, timeZone) {
  const d = new Date(date);
  const p = parts(d, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', ...(timeZone ? { timeZone } : {}) });
  return `${p.hour}:${p.minute}`;
}

/** "Mittwoch, 9. Dezember 2026, 09:00–09:50 Uhr" / "Wednesday, 9 December 2026, 09:00–09:50". */
export function formatLongRange(start, end, timeZone) {
  const s = new Date(start);
  if (Number.isNaN(s.getTime())) return '';
  const times = `${formatClock24(s, timeZone)}–${formatClock24(end, timeZone)}`;
  return `${formatLongDay(s, timeZone)}, ${times}${currentLang() === 'de' ? ' Uhr' : ''}`;
}

/** Formats an RFC 3339 timestamp in the glossary's long form ("Mittwoch, 9. Dezember 2026, 09:00 Uhr"). */
export function formatTime(rfc3339, withDate = true) {
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return '';
  const clock = formatClock24(d) + (currentLang() === 'de' ? ' Uhr' : '');
  return withDate ? `${formatLongDay(d)}, ${clock}` : clock;
}
