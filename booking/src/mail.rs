//! Mail texts, German and English, as plain text and HTML.
//!
//! - Everything that comes from a user or the database (names, messages, reasons, addresses)
//!   is HTML-escaped in the HTML part; links are written only for `http`/`https` URLs.
//! - Subjects never contain control characters (no header injection through a name).
//! - Times are written in the counsellor's zone, named after them:
//!   "Montag, 7. Dezember 2026, 10:00–10:50 Uhr (Europe/Berlin)".
//! - Mails to clients name only the client and the counsellor; no other client's data is ever
//!   an input here.
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

/// The appointment's time for humans, in `tz`:
/// "Montag, 7. Dezember 2026, 10:00–10:50 Uhr (Europe/Berlin)" /
/// "Monday, 7 December 2026, 10:00–10:50 (Europe/Berlin)". (Outside the representable range,
/// which no real booking reaches, it falls back to UTC instead of failing.)
pub fn when(lang: Lang, start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> String {
    let (s, e, zone) = match (local_time(tz, start), local_time(tz, end)) {
        (Some(s), Some(e)) => (s, e, tz.name()),
        _ => (start.naive_utc(), end.naive_utc(), "UTC"),
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
}

impl Doc {
    fn new() -> Self {
        Self {
            paragraphs: Vec::new(),
            links: Vec::new(),
        }
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
            "Termin: {}\nArt: {} ({})\nMit: {}",
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
        Lang::De => "Zum Dashboard",
        Lang::En => "Open the dashboard",
    };
    doc.link(label, &d.dashboard_url);
}

fn client_links(lang: Lang, d: &MailData, doc: &mut Doc) {
    let (join, cancel, resched) = match lang {
        Lang::De => (
            "Zur Video-Beratung (Link zum Termin öffnen)",
            "Termin absagen",
            "Termin verschieben",
        ),
        Lang::En => (
            "Join the video session (open at the time of the appointment)",
            "Cancel the appointment",
            "Reschedule the appointment",
        ),
    };
    if d.kind == AppointmentKind::Video {
        doc.link(join, &d.join_url);
    }
    doc.link(resched, &d.reschedule_url);
    doc.link(cancel, &d.cancel_url);
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
                (false, true) => format!("Appointment moved: {w}"),
            };
            doc.p(hello(&d.client_name));
            doc.p(match (de, moved) {
                (true, false) => "Ihr Termin ist bestätigt. Die Kalenderdatei im Anhang trägt ihn in Ihren Kalender ein.",
                (true, true) => "Ihr Termin wurde verschoben. Die Kalenderdatei im Anhang aktualisiert den Eintrag in Ihrem Kalender.",
                (false, false) => "Your appointment is confirmed. The attached calendar file adds it to your calendar.",
                (false, true) => "Your appointment has been moved. The attached calendar file updates it in your calendar.",
            });
            appointment_lines(lang, d, &mut doc);
            client_links(lang, d, &mut doc);
        }
        MailKind::Pending => {
            subject = if de {
                format!("Terminanfrage erhalten: {w}")
            } else {
                format!("Appointment request received: {w}")
            };
            doc.p(hello(&d.client_name));
            doc.p(if de {
                "vielen Dank für Ihre Anfrage. Ihre Beraterin oder Ihr Berater bestätigt den Termin; Sie erhalten dann eine weitere E-Mail mit dem Kalendereintrag."
            } else {
                "Thank you for your request. Your counsellor will confirm the appointment; you will then receive another e-mail with the calendar entry."
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
        }
        MailKind::Declined => {
            subject = if de {
                format!("Termin nicht möglich: {w}")
            } else {
                format!("Appointment not possible: {w}")
            };
            doc.p(hello(&d.client_name));
            doc.p(if de {
                "leider kann der angefragte Termin nicht stattfinden."
            } else {
                "Unfortunately the requested appointment cannot take place."
            });
            appointment_lines(lang, d, &mut doc);
            if let Some(reason) = &d.reason {
                doc.p(if de {
                    format!("Begründung: {reason}")
                } else {
                    format!("Reason: {reason}")
                });
            }
            doc.p(if de {
                "Sie können gern einen anderen Termin buchen."
            } else {
                "You are welcome to book another time."
            });
        }
        MailKind::Cancellation => {
            subject = if de {
                format!("Termin abgesagt: {w}")
            } else {
                format!("Appointment cancelled: {w}")
            };
            doc.p(hello(&d.client_name));
            doc.p(if de { "Ihr Termin wurde abgesagt. Die Kalenderdatei im Anhang entfernt ihn aus Ihrem Kalender." } else { "Your appointment has been cancelled. The attached calendar file removes it from your calendar." });
            appointment_lines(lang, d, &mut doc);
            if let Some(reason) = &d.reason {
                doc.p(if de {
                    format!("Begründung: {reason}")
                } else {
                    format!("Reason: {reason}")
                });
            }
        }
        MailKind::Reminder => {
            subject = if de {
                format!("Erinnerung an Ihren Termin: {w}")
            } else {
                format!("Reminder of your appointment: {w}")
            };
            doc.p(hello(&d.client_name));
            doc.p(if de {
                "wir erinnern Sie an Ihren Termin."
            } else {
                "This is a reminder of your appointment."
            });
            appointment_lines(lang, d, &mut doc);
            client_links(lang, d, &mut doc);
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
                (_, false, _) => format!("Appointment moved: {w}"),
            };
            doc.p(hello(&d.counsellor_name));
            doc.p(match (kind, de) {
                (MailKind::CounsellorNew, true) => {
                    "Eine Klientin oder ein Klient hat einen Termin gebucht. Wer gebucht hat und eine etwaige Nachricht sehen Sie im Dashboard."
                }
                (MailKind::CounsellorNew, false) => {
                    "A client booked an appointment. Who booked it, and any message, is shown on your dashboard."
                }
                (MailKind::CounsellorCancelled, true) => {
                    "Ein Termin wurde von der Klientin oder dem Klienten abgesagt. Einzelheiten sehen Sie im Dashboard."
                }
                (MailKind::CounsellorCancelled, false) => {
                    "A client cancelled an appointment. The details are shown on your dashboard."
                }
                (_, true) => "Ein Termin wurde von der Klientin oder dem Klienten verschoben. Einzelheiten sehen Sie im Dashboard.",
                (_, false) => "A client moved an appointment. The details are shown on your dashboard.",
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
            doc.p(if de { "Über Ihr Kontaktformular ist eine neue Nachricht eingegangen. Sie lesen und beantworten sie im Dashboard." } else { "A new message arrived through your contact form. Read and answer it on your dashboard." });
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
                format!("Sie wurden in das Team „{}“ eingeladen. Im Dashboard können Sie die Einladung annehmen oder ablehnen.", d.type_name)
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
            doc.p(if de {
                format!("Mit freundlichen Grüßen\n{}", d.counsellor_name)
            } else {
                format!("Kind regards\n{}", d.counsellor_name)
            });
            doc.p(if de { "Bitte antworten Sie nicht auf diese E-Mail; nutzen Sie für eine weitere Nachricht das Kontaktformular." } else { "Please do not reply to this e-mail; use the contact form for a further message." });
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
        }
    }

    #[test]
    fn dates_are_written_in_the_counsellors_zone_and_language() {
        let d = data();
        assert_eq!(
            when(Lang::De, d.start, d.end, d.tz),
            "Montag, 7. Dezember 2026, 10:00–10:50 Uhr (Europe/Berlin)"
        );
        assert_eq!(
            when(Lang::En, d.start, d.end, d.tz),
            "Monday, 7 December 2026, 10:00–10:50 (Europe/Berlin)"
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
        assert!(m.text.contains("Begründung: krank"));
        assert!(!m.text.contains("https://c.test/j/abc"));
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
        assert!(de.text.contains("Ihr Termin ist bestätigt") && de.text.contains("Termin absagen"));
        assert!(
            en.text.contains("Your appointment is confirmed")
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
            "Sunday, 8 March 2026, 03:00–04:00 (America/New_York)"
        );
        assert_eq!(
            when(
                Lang::De,
                t("2026-03-07T07:00:00Z"),
                t("2026-03-07T08:00:00Z"),
                ny
            ),
            "Samstag, 7. März 2026, 02:00–03:00 Uhr (America/New_York)"
        );
        let _ = when(
            Lang::De,
            DateTime::<Utc>::MAX_UTC,
            DateTime::<Utc>::MAX_UTC,
            chrono_tz::Pacific::Kiritimati,
        );
    }
}
