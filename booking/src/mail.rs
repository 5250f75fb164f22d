//! Mail texts, German and English, as plain text and HTML.
//!
//! - Everything that comes from a user or the database (names, messages, reasons, addresses)
//!   is HTML-escaped in the HTML part; links are written only for `http`/`https` URLs.
//! - Subjects never contain control characters (no header injection through a name).
//! - Times are written in the counsellor's zone, named as a place (docs/GLOSSARY.md):
//!   "Montag, 7. Dezember 2026, 10:00–10:50 Uhr (Berliner Zeit)".
//! - Mails to clients name only the client, the counsellor and the centre, and end with the
//!   centre's greeting; no other client's data is ever an input here.
//! - The words follow docs/GLOSSARY.md: "Gespräch", "Bei:", "Grund", "Übersicht"; staff texts
//!   say "Klient:in".
//!
//! The kinds of the brief map as: `CounsellorNotification` is split into
//! [`MailKind::CounsellorNew`], [`MailKind::CounsellorCancelled`] and
//! [`MailKind::CounsellorRescheduled`]; [`MailKind::Rescheduled`] is the client's mail for a
//! moved appointment.

use chrono::{DateTime, Datelike, Utc};

use crate::availability::local_time;
use chrono_tz::Tz;

use crate::slots::AppointmentKind;

/// Language of a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// German.
    De,
    /// English.
    En,
}

impl Lang {
    /// `de` or `en`; anything else is German (the default of the product).
    pub fn parse(s: &str) -> Self {
        if s.eq_ignore_ascii_case("en") {
            Self::En
        } else {
            Self::De
        }
    }

    /// The code.
    pub fn code(self) -> &'static str {
        match self {
            Self::De => "de",
            Self::En => "en",
        }
    }
}

/// Which mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// To the client: the appointment holds (with `.ics`).
    Confirmation,
    /// To the client: the appointment moved (with `.ics`, same UID, higher SEQUENCE).
    Rescheduled,
    /// To the client: received, the counsellor will confirm.
    Pending,
    /// To the client: the counsellor declined.
    Declined,
    /// To the client: cancelled (with `.ics` METHOD:CANCEL).
    Cancellation,
    /// To the client: reminder before the appointment.
    Reminder,
    /// To the counsellor: a new booking (or one awaiting confirmation).
    CounsellorNew,
    /// To the counsellor: the client cancelled.
    CounsellorCancelled,
    /// To the counsellor: the client moved the appointment.
    CounsellorRescheduled,
    /// To the counsellor: a message through the contact form.
    ContactMessage,
    /// To the client: the counsellor's answer to a contact message.
    ContactReply,
    /// To a counsellor: a colleague invited them into a team (`type_name`: the team's name);
    /// they accept or decline on the dashboard.
    TeamInvitation,
}

/// What the texts are made of. Optional parts that a kind does not use are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailData {
    /// The client's name (as they typed it).
    pub client_name: String,
    /// The counsellor's display name.
    pub counsellor_name: String,
    /// The appointment type's name.
    pub type_name: String,
    /// Video, phone or on-site.
    pub kind: AppointmentKind,
    /// Start and end.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// The counsellor's zone, in which times are written.
    pub tz: Tz,
    /// Video: the join link.
    pub join_url: Option<String>,
    /// The cancel link.
    pub cancel_url: Option<String>,
    /// The reschedule link.
    pub reschedule_url: Option<String>,
    /// The dashboard link (counsellor mails).
    pub dashboard_url: Option<String>,
    /// On-site: where.
    pub location: Option<String>,
    /// Phone: the number the counsellor calls.
    pub phone: Option<String>,
    /// Reason of a cancellation or decline.
    pub reason: Option<String>,
    /// A message (the client's note, a contact message, a reply).
    pub message: Option<String>,
    /// Whether the counsellor still has to confirm (counsellor mails).
    pub needs_confirmation: bool,
    /// The centre's name: client mails name it and end with its greeting.
    pub centre_name: String,
    /// The booking page: cancellation and decline mails offer to book again there, and a
    /// contact reply links its contact form.
    pub booking_url: Option<String>,
    /// What the client should prepare (confirmation, reschedule and reminder mails).
    pub preparation: Option<String>,
    /// "Add to Google Calendar" link (confirmation and reschedule mails).
    pub google_url: Option<String>,
    /// "Add to Outlook" link (confirmation and reschedule mails).
    pub outlook_url: Option<String>,
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    /// Subject.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML.
    pub html: String,
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const WEEKDAYS_DE: [&str; 7] = [
    "Montag",
    "Dienstag",
    "Mittwoch",
    "Donnerstag",
    "Freitag",
    "Samstag",
    "Sonntag",
];
const WEEKDAYS_EN: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS_DE: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];
const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// German names of cities whose zone names are English (`Europe/Vienna` → Wien).
const DE_CITIES: [(&str, &str); 16] = [
    ("Vienna", "Wien"),
    ("Zurich", "Zürich"),
    ("Brussels", "Brüssel"),
    ("Rome", "Rom"),
    ("Prague", "Prag"),
    ("Warsaw", "Warschau"),
    ("Copenhagen", "Kopenhagen"),
    ("Lisbon", "Lissabon"),
    ("Moscow", "Moskau"),
    ("Athens", "Athen"),
    ("Belgrade", "Belgrad"),
    ("Bucharest", "Bukarest"),
    ("Kiev", "Kiew"),
    ("Kyiv", "Kiew"),
    ("Istanbul", "Istanbul"),
    ("Luxembourg", "Luxemburg"),
];

/// German cities with a customary adjective for their time ("Berliner Zeit").
const DE_ZONE_ADJECTIVES: [(&str, &str); 7] = [
    ("Berlin", "Berliner Zeit"),
    ("Wien", "Wiener Zeit"),
    ("Zürich", "Zürcher Zeit"),
    ("London", "Londoner Zeit"),
    ("Paris", "Pariser Zeit"),
    ("Amsterdam", "Amsterdamer Zeit"),
    ("Luxemburg", "Luxemburger Zeit"),
];

/// A time zone as a place, not an IANA name: "Berliner Zeit", "Ortszeit Madrid" /
/// "Berlin time". (The same rule as `zonePlace` in web/static/shared/i18n.js.)
pub fn zone_place(lang: Lang, zone: &str) -> String {
    let Some((_, city)) = zone.rsplit_once('/') else {
        return "UTC".to_owned();
    };
    let city = city.replace('_', " ");
    match lang {
        Lang::De => {
            let de = DE_CITIES
                .iter()
                .find(|(en, _)| *en == city)
                .map_or(city.as_str(), |(_, de)| de);
            DE_ZONE_ADJECTIVES
                .iter()
                .find(|(c, _)| *c == de)
                .map_or_else(|| format!("Ortszeit {de}"), |(_, adj)| (*adj).to_owned())
        }
        Lang::En => format!("{city} time"),
    }
}

/// The appointment's time for humans, in `tz`:
/// "Montag, 7. Dezember 2026, 10:00–10:50 Uhr (Berliner Zeit)" /
/// "Monday, 7 December 2026, 10:00–10:50 (Berlin time)". (Outside the representable range,
/// which no real booking reaches, it falls back to UTC instead of failing.)
pub fn when(lang: Lang, start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> String {
    let (s, e, zone) = match (local_time(tz, start), local_time(tz, end)) {
        (Some(s), Some(e)) => (s, e, zone_place(lang, tz.name())),
        _ => (start.naive_utc(), end.naive_utc(), "UTC".to_owned()),
    };
    // Both indices are in range: weekdays 0..7, months 0..12.
    let wd = s.weekday().num_days_from_monday() as usize % 7;
    let m = s.month0() as usize % 12;
    let times = format!("{}–{}", s.format("%H:%M"), e.format("%H:%M"));
    match lang {
        Lang::De => format!(
            "{}, {}. {} {}, {} Uhr ({})",
            WEEKDAYS_DE[wd],
            s.day(),
            MONTHS_DE[m],
            s.year(),
            times,
            zone
        ),
        Lang::En => format!(
            "{}, {} {} {}, {} ({})",
            WEEKDAYS_EN[wd],
            s.day(),
            MONTHS_EN[m],
            s.year(),
            times,
            zone
        ),
    }
}

/// Whether `url` may become a link: `https://` or `http://` and nothing that breaks a line.
fn is_web_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// A subject line: control characters become spaces, runs of spaces one, at most 200 chars.
fn clean_subject(s: &str) -> String {
    let spaced: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let joined = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
    joined.chars().take(200).collect()
}

fn kind_name(lang: Lang, kind: AppointmentKind) -> &'static str {
    match (lang, kind) {
        (Lang::De, AppointmentKind::Video) => "Video-Beratung",
        (Lang::De, AppointmentKind::Phone) => "Telefon-Beratung",
        (Lang::De, AppointmentKind::OnSite) => "Beratung vor Ort",
        (Lang::En, AppointmentKind::Video) => "video appointment",
        (Lang::En, AppointmentKind::Phone) => "phone appointment",
        (Lang::En, AppointmentKind::OnSite) => "on-site appointment",
    }
}

/// A text made of paragraphs and labelled links, rendered both ways.
struct Doc {
    paragraphs: Vec<String>,
    links: Vec<(String, String)>,
    /// The greeting at the very end, after the links.
    closing: Option<String>,
}

impl Doc {
    fn new() -> Self {
        Self {
            paragraphs: Vec::new(),
            links: Vec::new(),
            closing: None,
        }
    }
    fn close(&mut self, s: impl Into<String>) {
        self.closing = Some(s.into());
    }
    fn p(&mut self, s: impl Into<String>) {
        self.paragraphs.push(s.into());
    }
    fn link(&mut self, label: &str, url: &Option<String>) {
        if let Some(url) = url.as_ref().filter(|u| is_web_url(u)) {
            self.links.push((label.to_owned(), url.clone()));
        }
    }
    fn render(self, subject: String, lang: Lang) -> RenderedMail {
        let mut text = self.paragraphs.join("\n\n");
        for (label, url) in &self.links {
            text.push_str(&format!("\n\n{label}:\n{url}"));
        }
        if let Some(closing) = &self.closing {
            text.push_str("\n\n");
            text.push_str(closing);
        }
        text.push('\n');
        let mut html = format!(
            "<!DOCTYPE html><html lang=\"{}\"><head><meta charset=\"utf-8\"></head><body style=\"font-family:sans-serif;line-height:1.5\">",
            lang.code()
        );
        for p in &self.paragraphs {
            html.push_str("<p>");
            html.push_str(&html_escape(p).replace('\n', "<br>"));
            html.push_str("</p>");
        }
        for (label, url) in &self.links {
            let u = html_escape(url);
            html.push_str(&format!(
                "<p><a href=\"{u}\">{}</a><br><small>{u}</small></p>",
                html_escape(label)
            ));
        }
        if let Some(closing) = &self.closing {
            html.push_str("<p>");
            html.push_str(&html_escape(closing).replace('\n', "<br>"));
            html.push_str("</p>");
        }
        html.push_str("</body></html>");
        RenderedMail {
            subject: clean_subject(&subject),
            text,
            html,
        }
    }
}

fn appointment_lines(lang: Lang, d: &MailData, doc: &mut Doc) {
    let w = when(lang, d.start, d.end, d.tz);
    let mut facts = match lang {
        Lang::De => format!(
            "Termin: {}\nArt: {} ({})\nBei: {}",
            w,
            d.type_name,
            kind_name(lang, d.kind),
            d.counsellor_name
        ),
        Lang::En => format!(
            "When: {}\nWhat: {} ({})\nWith: {}",
            w,
            d.type_name,
            kind_name(lang, d.kind),
            d.counsellor_name
        ),
    };
    if let Some(location) = &d.location {
        facts.push_str(&match lang {
            Lang::De => format!("\nOrt: {location}"),
            Lang::En => format!("\nWhere: {location}"),
        });
    }
    if d.kind == AppointmentKind::Phone {
        if let Some(phone) = &d.phone {
            facts.push_str(&match lang {
                Lang::De => format!("\nWir rufen Sie an unter: {phone}"),
                Lang::En => format!("\nWe will call you at: {phone}"),
            });
        }
    }
    doc.p(facts);
}

/// The link to the dashboard, where counsellors read what their notifications leave out.
fn dashboard_link(lang: Lang, d: &MailData, doc: &mut Doc) {
    let label = match lang {
        Lang::De => "Zur Übersicht",
        Lang::En => "Open the dashboard",
    };
    doc.link(label, &d.dashboard_url);
}

/// The centre's greeting that ends every client mail.
fn centre_greeting(lang: Lang, d: &MailData, doc: &mut Doc) {
    doc.close(match lang {
        Lang::De => format!("Mit freundlichen Grüßen\n{}", d.centre_name),
        Lang::En => format!("Kind regards\n{}", d.centre_name),
    });
}

/// "Book again" after a cancellation or decline: no dead end.
fn book_again(lang: Lang, d: &MailData, doc: &mut Doc) {
    doc.p(match lang {
        Lang::De => "Sie können gern einen neuen Termin buchen.",
        Lang::En => "You are welcome to book a new appointment.",
    });
    doc.link(
        match lang {
            Lang::De => "Neuen Termin buchen",
            Lang::En => "Book a new appointment",
        },
        &d.booking_url,
    );
}

fn client_links(lang: Lang, d: &MailData, doc: &mut Doc) {
    let (join, cancel, resched) = match lang {
        Lang::De => (
            "Zum Gespräch (öffnen Sie den Link zur Uhrzeit des Termins)",
            "Termin absagen",
            "Termin verschieben",
        ),
        Lang::En => (
            "Join the session (open the link at the time of the appointment)",
            "Cancel the appointment",
            "Reschedule the appointment",
        ),
    };
    if d.kind == AppointmentKind::Video {
        doc.link(join, &d.join_url);
    }
    let (google, outlook) = match lang {
        Lang::De => ("In Google Kalender eintragen", "In Outlook eintragen"),
        Lang::En => ("Add to Google Calendar", "Add to Outlook"),
    };
    doc.link(google, &d.google_url);
    doc.link(outlook, &d.outlook_url);
    doc.link(resched, &d.reschedule_url);
    doc.link(cancel, &d.cancel_url);
}

/// "What to prepare", when there is a text for it.
fn preparation(lang: Lang, d: &MailData, doc: &mut Doc) {
    if let Some(text) = d.preparation.as_deref().filter(|t| !t.trim().is_empty()) {
        doc.p(match lang {
            Lang::De => format!("Zur Vorbereitung:\n{text}"),
            Lang::En => format!("How to prepare:\n{text}"),
        });
    }
}

/// Renders one mail: subject, plain text and HTML carry the same content.
pub fn render(kind: MailKind, lang: Lang, d: &MailData) -> RenderedMail {
    let mut doc = Doc::new();
    let de = lang == Lang::De;
    let w = when(lang, d.start, d.end, d.tz);
    let hello = |name: &str| {
        if de {
            format!("Guten Tag {name},")
        } else {
            format!("Dear {name},")
        }
    };
    let subject;
    match kind {
        MailKind::Confirmation | MailKind::Rescheduled => {
            let moved = kind == MailKind::Rescheduled;
            subject = match (de, moved) {
                (true, false) => format!("Terminbestätigung: {w}"),
                (true, true) => format!("Termin verschoben: {w}"),
                (false, false) => format!("Appointment confirmed: {w}"),
                (false, true) => format!("Appointment rescheduled: {w}"),
            };
            doc.p(hello(&d.client_name));
            let c = &d.centre_name;
            doc.p(match (de, moved) {
                (true, false) => format!("Ihr Termin bei {c} ist bestätigt. Die Kalenderdatei im Anhang trägt ihn in Ihren Kalender ein."),
                (true, true) => format!("Ihr Termin bei {c} wurde verschoben. Die Kalenderdatei im Anhang ändert den Eintrag in Ihrem Kalender."),
                (false, false) => format!("Your appointment with {c} is confirmed. The attached calendar file adds it to your calendar."),
                (false, true) => format!("Your appointment with {c} has been rescheduled. The attached calendar file updates it in your calendar."),
            });
            appointment_lines(lang, d, &mut doc);
            preparation(lang, d, &mut doc);
            client_links(lang, d, &mut doc);
            centre_greeting(lang, d, &mut doc);
        }
        MailKind::Pending => {
            subject = if de {
                format!("Terminanfrage erhalten: {w}")
            } else {
                format!("Appointment request received: {w}")
            };
            doc.p(hello(&d.client_name));
            doc.p(if de {
                format!("vielen Dank für Ihre Anfrage bei {}. Ihre Beraterin oder Ihr Berater muss den Termin noch bestätigen. Dann bekommen Sie eine weitere E-Mail mit dem Kalendereintrag.", d.centre_name)
            } else {
                format!("Thank you for your request to {}. Your counsellor still has to confirm the appointment. You will then receive another e-mail with the calendar entry.", d.centre_name)
            });
            appointment_lines(lang, d, &mut doc);
            doc.link(
                if de {
                    "Anfrage zurückziehen"
                } else {
                    "Withdraw the request"
                },
                &d.cancel_url,
            );
            centre_greeting(lang, d, &mut doc);
        }
        MailKind::Declined => {
            subject = if de {
                format!("Termin nicht möglich: {w}")
            } else {
                format!("Appointment not possible: {w}")
            };
            doc.p(hello(&d.client_name));
            doc.p(if de {
                format!(
                    "leider kann der angefragte Termin bei {} nicht stattfinden.",
                    d.centre_name
                )
            } else {
                format!(
                    "Unfortunately the appointment you requested with {} cannot take place.",
                    d.centre_name
                )
            });
            appointment_lines(lang, d, &mut doc);
            if let Some(reason) = &d.reason {
                doc.p(if de {
                    format!("Grund: {reason}")
                } else {
                    format!("Reason: {reason}")
                });
            }
            book_again(lang, d, &mut doc);
            centre_greeting(lang, d, &mut doc);
        }
        MailKind::Cancellation => {
            subject = if de {
                format!("Termin abgesagt: {w}")
            } else {
                format!("Appointment cancelled: {w}")
            };
            doc.p(hello(&d.client_name));
            doc.p(if de {
                format!("Ihr Termin bei {} wurde abgesagt. Die Kalenderdatei im Anhang entfernt ihn aus Ihrem Kalender.", d.centre_name)
            } else {
                format!("Your appointment with {} has been cancelled. The attached calendar file removes it from your calendar.", d.centre_name)
            });
            appointment_lines(lang, d, &mut doc);
            if let Some(reason) = &d.reason {
                doc.p(if de {
                    format!("Grund: {reason}")
                } else {
                    format!("Reason: {reason}")
                });
            }
            book_again(lang, d, &mut doc);
            centre_greeting(lang, d, &mut doc);
        }
        MailKind::Reminder => {
            subject = if de {
                format!("Erinnerung an Ihren Termin: {w}")
            } else {
                format!("Reminder of your appointment: {w}")
            };
            doc.p(hello(&d.client_name));
            doc.p(if de {
                format!("wir erinnern Sie an Ihren Termin bei {}.", d.centre_name)
            } else {
                format!(
                    "This is a reminder of your appointment with {}.",
                    d.centre_name
                )
            });
            appointment_lines(lang, d, &mut doc);
            preparation(lang, d, &mut doc);
            client_links(lang, d, &mut doc);
            centre_greeting(lang, d, &mut doc);
        }
        MailKind::CounsellorNew
        | MailKind::CounsellorCancelled
        | MailKind::CounsellorRescheduled => {
            // Notifications without content: the counsellor's mailbox is an ordinary one, so
            // nothing the client typed (name, phone, message, reason) goes into it; the
            // dashboard shows the booking.
            subject = match (kind, de, d.needs_confirmation) {
                (MailKind::CounsellorNew, true, true) => {
                    format!("Neue Terminanfrage (bitte bestätigen): {w}")
                }
                (MailKind::CounsellorNew, true, false) => format!("Neuer Termin: {w}"),
                (MailKind::CounsellorNew, false, true) => {
                    format!("New appointment request (please confirm): {w}")
                }
                (MailKind::CounsellorNew, false, false) => format!("New appointment: {w}"),
                (MailKind::CounsellorCancelled, true, _) => format!("Termin abgesagt: {w}"),
                (MailKind::CounsellorCancelled, false, _) => format!("Appointment cancelled: {w}"),
                (_, true, _) => format!("Termin verschoben: {w}"),
                (_, false, _) => format!("Appointment rescheduled: {w}"),
            };
            doc.p(hello(&d.counsellor_name));
            doc.p(match (kind, de) {
                (MailKind::CounsellorNew, true) => {
                    "Ein:e Klient:in hat einen Termin gebucht. Wer gebucht hat und eine etwaige Nachricht sehen Sie in der Übersicht."
                }
                (MailKind::CounsellorNew, false) => {
                    "A client booked an appointment. Who booked it, and any message, is shown on your dashboard."
                }
                (MailKind::CounsellorCancelled, true) => {
                    "Ein:e Klient:in hat einen Termin abgesagt. Einzelheiten sehen Sie in der Übersicht."
                }
                (MailKind::CounsellorCancelled, false) => {
                    "A client cancelled an appointment. The details are shown on your dashboard."
                }
                (_, true) => "Ein:e Klient:in hat einen Termin verschoben. Einzelheiten sehen Sie in der Übersicht.",
                (_, false) => "A client rescheduled an appointment. The details are shown on your dashboard.",
            });
            let without_client = MailData {
                phone: None,
                ..d.clone()
            };
            appointment_lines(lang, &without_client, &mut doc);
            dashboard_link(lang, d, &mut doc);
        }
        MailKind::ContactMessage => {
            // Without content, like the booking notifications: neither the writer's name nor
            // the message leaves the server by mail.
            subject = if de {
                "Neue Nachricht über das Kontaktformular".to_owned()
            } else {
                "New message through the contact form".to_owned()
            };
            doc.p(hello(&d.counsellor_name));
            doc.p(if de { "Über Ihr Kontaktformular ist eine neue Nachricht eingegangen. Sie lesen und beantworten sie in der Übersicht." } else { "A new message arrived through your contact form. Read and answer it on your dashboard." });
            dashboard_link(lang, d, &mut doc);
        }
        MailKind::TeamInvitation => {
            subject = if de {
                format!("Einladung in das Team {}", d.type_name)
            } else {
                format!("Invitation to the team {}", d.type_name)
            };
            doc.p(hello(&d.counsellor_name));
            doc.p(if de {
                format!("Sie wurden in das Team „{}“ eingeladen. In der Übersicht können Sie die Einladung annehmen oder ablehnen.", d.type_name)
            } else {
                format!("You have been invited to the team “{}”. Accept or decline the invitation on your dashboard.", d.type_name)
            });
            dashboard_link(lang, d, &mut doc);
        }
        MailKind::ContactReply => {
            subject = if de {
                format!("Antwort von {}", d.counsellor_name)
            } else {
                format!("Reply from {}", d.counsellor_name)
            };
            doc.p(hello(&d.client_name));
            if let Some(message) = &d.message {
                doc.p(message.clone());
            }
            doc.p(if de { "Bitte antworten Sie nicht auf diese E-Mail. Für eine weitere Nachricht nutzen Sie bitte das Kontaktformular." } else { "Please do not reply to this e-mail. For a further message, please use the contact form." });
            let contact_url = d.booking_url.as_ref().map(|u| format!("{u}#contact=1"));
            doc.link(
                if de {
                    "Zum Kontaktformular"
                } else {
                    "Open the contact form"
                },
                &contact_url,
            );
            doc.close(if de {
                format!(
                    "Mit freundlichen Grüßen\n{}\n{}",
                    d.counsellor_name, d.centre_name
                )
            } else {
                format!("Kind regards\n{}\n{}", d.counsellor_name, d.centre_name)
            });
        }
    }
    doc.render(subject, lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> MailData {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        MailData {
            client_name: "Alex <b>Muster</b>".into(),
            counsellor_name: "Dr. Weiß".into(),
            type_name: "Erstgespräch".into(),
            kind: AppointmentKind::Video,
            start: t("2026-12-07T09:00:00Z"),
            end: t("2026-12-07T09:50:00Z"),
            tz: chrono_tz::Europe::Berlin,
            join_url: Some("https://c.test/j/abc".into()),
            cancel_url: Some("https://c.test/booking/cancel#tok".into()),
            reschedule_url: Some("https://c.test/booking/reschedule#tok2".into()),
            dashboard_url: None,
            location: None,
            phone: None,
            reason: None,
            message: None,
            needs_confirmation: false,
            centre_name: "Beratungsstelle Nord".into(),
            booking_url: Some("https://c.test/book/weiss".into()),
            preparation: None,
            google_url: None,
            outlook_url: None,
        }
    }

    #[test]
    fn dates_are_written_in_the_counsellors_zone_and_language() {
        let d = data();
        assert_eq!(
            when(Lang::De, d.start, d.end, d.tz),
            "Montag, 7. Dezember 2026, 10:00–10:50 Uhr (Berliner Zeit)"
        );
        assert_eq!(
            when(Lang::En, d.start, d.end, d.tz),
            "Monday, 7 December 2026, 10:00–10:50 (Berlin time)"
        );
    }

    #[test]
    fn confirmation_carries_time_links_and_escapes_html() {
        for lang in [Lang::De, Lang::En] {
            let m = render(MailKind::Confirmation, lang, &data());
            assert!(m.subject.contains("10:00–10:50"), "{}", m.subject);
            for part in [&m.text, &m.html] {
                assert!(part.contains("https://c.test/j/abc"));
                assert!(part.contains("https://c.test/booking/cancel#tok"));
                assert!(part.contains("Dr. Weiß"));
            }
            assert!(m.text.contains("Alex <b>Muster</b>"));
            assert!(m.html.contains("Alex &lt;b&gt;Muster&lt;/b&gt;"));
            assert!(!m.html.contains("<b>Muster"));
        }
    }

    #[test]
    fn cancellation_names_the_reason_and_offers_no_links() {
        let mut d = data();
        d.reason = Some("krank".into());
        let m = render(MailKind::Cancellation, Lang::De, &d);
        assert!(m.text.contains("Grund: krank"));
        assert!(!m.text.contains("https://c.test/j/abc"));
    }

    #[test]
    fn client_mails_name_the_centre_and_end_with_its_greeting() {
        let d = data();
        for lang in [Lang::De, Lang::En] {
            for kind in [
                MailKind::Confirmation,
                MailKind::Rescheduled,
                MailKind::Pending,
                MailKind::Declined,
                MailKind::Cancellation,
                MailKind::Reminder,
                MailKind::ContactReply,
            ] {
                let m = render(kind, lang, &d);
                let greeting = match lang {
                    Lang::De => "Mit freundlichen Grüßen\n",
                    Lang::En => "Kind regards\n",
                };
                let end = m.text.trim_end();
                assert!(
                    end.ends_with("Beratungsstelle Nord"),
                    "{kind:?} {lang:?} ends with the centre: {end}"
                );
                assert!(
                    m.text.contains(greeting),
                    "{kind:?} {lang:?} has a greeting"
                );
                assert!(
                    m.html.contains("Beratungsstelle Nord</p></body>"),
                    "{kind:?} {lang:?}: HTML ends with the greeting"
                );
            }
        }
    }

    #[test]
    fn cancellation_and_decline_offer_to_book_again() {
        for lang in [Lang::De, Lang::En] {
            for kind in [MailKind::Cancellation, MailKind::Declined] {
                let m = render(kind, lang, &data());
                assert!(
                    m.html.contains("href=\"https://c.test/book/weiss\""),
                    "{kind:?} {lang:?} links the booking page"
                );
                let label = match lang {
                    Lang::De => "Neuen Termin buchen",
                    Lang::En => "Book a new appointment",
                };
                assert!(m.text.contains(label), "{kind:?} {lang:?}");
            }
        }
    }

    #[test]
    fn contact_reply_links_the_contact_form_it_mentions() {
        let mut d = data();
        d.message = Some("Gern, rufen Sie an.".into());
        let m = render(MailKind::ContactReply, Lang::De, &d);
        assert!(m.text.contains("Kontaktformular"));
        assert!(m.text.contains("https://c.test/book/weiss#contact=1"));
    }

    #[test]
    fn mails_use_the_glossary_terms() {
        let mut d = data();
        d.reason = Some("krank".into());
        d.dashboard_url = Some("https://c.test/dashboard".into());
        for kind in ALL {
            let m = render(kind, Lang::De, &d);
            for banned in [
                "Begründung",
                "Dashboard",
                "Mit: ",
                "Sitzung",
                "Klientin oder",
                "bzw.",
                "Europe/",
            ] {
                assert!(
                    !m.text.contains(banned) && !m.subject.contains(banned),
                    "{kind:?} uses {banned:?}: {}",
                    m.text
                );
            }
        }
        // No English reaches a German reader (links aside: their paths are not words).
        const ENGLISH: [&str; 14] = [
            "the",
            "your",
            "you",
            "please",
            "appointment",
            "cancel",
            "reschedule",
            "with",
            "and",
            "dear",
            "regards",
            "reason",
            "when",
            "session",
        ];
        for kind in ALL {
            let m = render(kind, Lang::De, &d);
            for word in format!("{}\n{}", m.subject, m.text)
                .split_whitespace()
                .filter(|w| !w.starts_with("http"))
            {
                let w = word
                    .trim_matches(|c: char| !c.is_alphanumeric())
                    .to_lowercase();
                assert!(
                    !ENGLISH.contains(&w.as_str()),
                    "{kind:?}: English {w:?} in {}",
                    m.text
                );
            }
        }
        let en = render(MailKind::Rescheduled, Lang::En, &d);
        assert!(en.subject.starts_with("Appointment rescheduled"));
        assert!(!en.text.contains("moved"));
    }

    #[test]
    fn zones_are_named_as_places() {
        assert_eq!(zone_place(Lang::De, "Europe/Berlin"), "Berliner Zeit");
        assert_eq!(zone_place(Lang::De, "Europe/Vienna"), "Wiener Zeit");
        assert_eq!(zone_place(Lang::De, "Europe/Madrid"), "Ortszeit Madrid");
        assert_eq!(zone_place(Lang::De, "Europe/Rome"), "Ortszeit Rom");
        assert_eq!(zone_place(Lang::En, "America/New_York"), "New York time");
        assert_eq!(zone_place(Lang::En, "UTC"), "UTC");
    }

    #[test]
    fn phone_appointments_say_which_number_is_called() {
        let mut d = data();
        d.kind = AppointmentKind::Phone;
        d.phone = Some("+49 30 1234567".into());
        let m = render(MailKind::Reminder, Lang::En, &d);
        assert!(m.text.contains("We will call you at: +49 30 1234567"));
        assert!(!m.text.contains("https://c.test/j/abc"));
    }

    const ALL: [MailKind; 12] = [
        MailKind::Confirmation,
        MailKind::Rescheduled,
        MailKind::Pending,
        MailKind::Declined,
        MailKind::Cancellation,
        MailKind::Reminder,
        MailKind::CounsellorNew,
        MailKind::CounsellorCancelled,
        MailKind::CounsellorRescheduled,
        MailKind::ContactMessage,
        MailKind::ContactReply,
        MailKind::TeamInvitation,
    ];

    #[test]
    fn every_mail_in_both_languages_carries_its_key_facts() {
        let mut d = data();
        d.client_name = "Alex Muster".into();
        d.message = Some("Bitte um Rückruf".into());
        d.reason = Some("Krankheit".into());
        for lang in [Lang::De, Lang::En] {
            let w = when(lang, d.start, d.end, d.tz);
            for kind in ALL {
                let m = render(kind, lang, &d);
                assert!(!m.subject.is_empty() && !m.text.is_empty(), "{kind:?}");
                assert!(m.html.starts_with("<!DOCTYPE html>") && m.html.ends_with("</html>"));
                let about_appointment = !matches!(
                    kind,
                    MailKind::ContactMessage | MailKind::ContactReply | MailKind::TeamInvitation
                );
                for part in [&m.text, &m.html] {
                    if about_appointment {
                        assert!(part.contains(&w), "{kind:?} {lang:?} lacks the time");
                        assert!(
                            part.contains("Dr. Weiß"),
                            "{kind:?} {lang:?} lacks the counsellor"
                        );
                    }
                    if kind == MailKind::ContactReply {
                        assert!(
                            part.contains("Bitte um Rückruf"),
                            "{kind:?} lacks the message"
                        );
                    }
                    if matches!(kind, MailKind::Declined | MailKind::Cancellation) {
                        assert!(part.contains("Krankheit"), "{kind:?} lacks the reason");
                    }
                }
                let html_lang = format!("<html lang=\"{}\">", lang.code());
                assert!(
                    m.html.contains(&html_lang),
                    "{kind:?} {lang:?}: HTML declares its language"
                );
                let to_client = !matches!(
                    kind,
                    MailKind::CounsellorNew
                        | MailKind::CounsellorCancelled
                        | MailKind::CounsellorRescheduled
                        | MailKind::ContactMessage
                        | MailKind::TeamInvitation
                );
                let addressee = if to_client {
                    "Alex Muster"
                } else {
                    "Dr. Weiß"
                };
                assert!(
                    m.text.contains(addressee),
                    "{kind:?} {lang:?} greets the wrong person"
                );
            }
        }
        let de = render(MailKind::Confirmation, Lang::De, &d);
        let en = render(MailKind::Confirmation, Lang::En, &d);
        assert!(
            de.text
                .contains("Ihr Termin bei Beratungsstelle Nord ist bestätigt")
                && de.text.contains("Termin absagen")
        );
        assert!(
            en.text
                .contains("Your appointment with Beratungsstelle Nord is confirmed")
                && en.text.contains("Cancel the appointment")
        );
    }

    #[test]
    fn counsellor_notifications_carry_no_client_content() {
        let d = MailData {
            client_name: "Alex Muster".into(),
            kind: AppointmentKind::Phone,
            phone: Some("+49 30 1234567".into()),
            message: Some("Bitte um Rückruf".into()),
            reason: Some("Krankheit".into()),
            dashboard_url: Some("https://c.test/dashboard".into()),
            needs_confirmation: true,
            ..data()
        };
        for lang in [Lang::De, Lang::En] {
            for kind in [
                MailKind::CounsellorNew,
                MailKind::CounsellorCancelled,
                MailKind::CounsellorRescheduled,
                MailKind::ContactMessage,
            ] {
                let m = render(kind, lang, &d);
                for part in [&m.subject, &m.text, &m.html] {
                    for secret in ["Alex", "Muster", "+49 30", "Rückruf", "Krankheit"] {
                        assert!(
                            !part.contains(secret),
                            "{kind:?} {lang:?} carries {secret:?}: {part}"
                        );
                    }
                }
                assert!(
                    m.text.contains("https://c.test/dashboard"),
                    "{kind:?} {lang:?} links the dashboard"
                );
                assert!(
                    m.html.contains("href=\"https://c.test/dashboard\""),
                    "{kind:?} {lang:?}"
                );
            }
        }
    }

    #[test]
    fn user_text_is_escaped_everywhere_in_html_and_subjects_stay_one_line() {
        let evil = "<script>alert('x')</script>&\"";
        let d = MailData {
            client_name: format!("{evil}\r\nBcc: a@b.de"),
            counsellor_name: evil.into(),
            type_name: evil.into(),
            kind: AppointmentKind::Phone,
            location: Some(evil.into()),
            phone: Some(evil.into()),
            reason: Some(evil.into()),
            message: Some(evil.into()),
            ..data()
        };
        for lang in [Lang::De, Lang::En] {
            for kind in ALL {
                let m = render(kind, lang, &d);
                assert!(!m.html.contains("<script"), "{kind:?} {lang:?}");
                assert!(!m.html.contains("'x'"), "{kind:?} {lang:?}");
                assert!(
                    m.html
                        .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"),
                    "{kind:?}"
                );
                assert!(!m.subject.contains(['\r', '\n']), "{kind:?}: {}", m.subject);
            }
        }
    }

    #[test]
    fn only_web_links_become_links() {
        let mut d = data();
        d.cancel_url = Some("javascript:alert(1)".into());
        d.reschedule_url = Some("https://c.test/x\r\nBcc: y".into());
        let m = render(MailKind::Confirmation, Lang::En, &d);
        assert!(!m.html.contains("javascript:") && !m.text.contains("javascript:"));
        assert!(!m.text.contains("Bcc"));
        assert!(m.html.contains("href=\"https://c.test/j/abc\""));
    }

    #[test]
    fn times_follow_the_zone_across_dst_and_never_panic() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let ny = chrono_tz::America::New_York;
        assert_eq!(
            when(
                Lang::En,
                t("2026-03-08T07:00:00Z"),
                t("2026-03-08T08:00:00Z"),
                ny
            ),
            "Sunday, 8 March 2026, 03:00–04:00 (New York time)"
        );
        assert_eq!(
            when(
                Lang::De,
                t("2026-03-07T07:00:00Z"),
                t("2026-03-07T08:00:00Z"),
                ny
            ),
            "Samstag, 7. März 2026, 02:00–03:00 Uhr (Ortszeit New York)"
        );
        let _ = when(
            Lang::De,
            DateTime::<Utc>::MAX_UTC,
            DateTime::<Utc>::MAX_UTC,
            chrono_tz::Pacific::Kiritimati,
        );
    }
}
