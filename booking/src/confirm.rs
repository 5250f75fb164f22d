//! What a client is given after booking: the calendar entry's title as the client sees it,
//! "add to calendar" links for Google Calendar and Outlook, what to prepare, and the checks on
//! a counsellor's profile photo. Pure: no I/O, the caller passes every value.
//!
//! - [`client_title`]: "Videotermin mit {centre}" / "Video appointment with {centre}": the
//!   medium and the centre as the client booked them, never the counsellor's internal name of
//!   the appointment type (their own calendar copy keeps that).
//! - [`google_url`], [`outlook_url`]: the providers' "add event" templates, times in UTC.
//! - [`default_preparation`]: a sensible text per medium when the counsellor wrote none.
//! - [`sniff_photo`]: the type of an uploaded photo from its first bytes (PNG, JPEG, WebP only;
//!   never SVG, which can carry script).

use chrono::{DateTime, Utc};

use crate::mail::Lang;
use crate::slots::AppointmentKind;

/// Largest accepted profile photo, in bytes: a portrait of a few hundred pixels compresses to
/// well under this, and the page loads it for every visitor.
pub const PHOTO_MAX_BYTES: usize = 1024 * 1024;

/// The title of the client's calendar entry in `lang`: the medium and the centre.
pub fn client_title(lang: Lang, kind: AppointmentKind, centre: &str) -> String {
    match (lang, kind) {
        (Lang::De, AppointmentKind::Video) => format!("Videotermin mit {centre}"),
        (Lang::De, AppointmentKind::Phone) => format!("Telefontermin mit {centre}"),
        (Lang::De, AppointmentKind::OnSite) => format!("Termin vor Ort bei {centre}"),
        (Lang::En, AppointmentKind::Video) => format!("Video appointment with {centre}"),
        (Lang::En, AppointmentKind::Phone) => format!("Phone appointment with {centre}"),
        (Lang::En, AppointmentKind::OnSite) => format!("On-site appointment at {centre}"),
    }
}

/// What to prepare, when the counsellor wrote nothing for the appointment type.
pub fn default_preparation(lang: Lang, kind: AppointmentKind) -> &'static str {
    match (lang, kind) {
        (Lang::De, AppointmentKind::Video) => {
            "Suchen Sie sich einen ruhigen Ort, an dem Sie ungestört sprechen können. Kopfhörer \
             helfen, dass niemand mithört. Sie brauchen einen aktuellen Browser (Chrome, Firefox, \
             Edge oder Safari) auf einem Computer, Tablet oder Smartphone mit Kamera und Mikrofon; \
             nach dem Öffnen des Links prüfen Sie Kamera und Mikrofon, bevor Sie eintreten. \
             Öffnen Sie den Link ein paar Minuten vor Beginn."
        }
        (Lang::De, AppointmentKind::Phone) => {
            "Suchen Sie sich einen ruhigen Ort, an dem Sie ungestört sprechen können, und halten \
             Sie Ihr Telefon geladen und erreichbar unter der angegebenen Nummer. Wir rufen Sie \
             an; die Nummer kann als unbekannt angezeigt werden."
        }
        (Lang::De, AppointmentKind::OnSite) => {
            "Planen Sie Ihren Weg und kommen Sie ein paar Minuten vor Beginn. Wenn Sie Unterlagen \
             zu Ihrem Anliegen haben, bringen Sie sie gern mit."
        }
        (Lang::En, AppointmentKind::Video) => {
            "Find a quiet place where you can talk undisturbed. Headphones keep others from \
             listening in. You need a current browser (Chrome, Firefox, Edge or Safari) on a \
             computer, tablet or phone with a camera and microphone; after opening the link you \
             check camera and microphone before you enter. Open the link a few minutes early."
        }
        (Lang::En, AppointmentKind::Phone) => {
            "Find a quiet place where you can talk undisturbed, and keep your phone charged and \
             reachable at the number you gave. We will call you; the number may show as unknown."
        }
        (Lang::En, AppointmentKind::OnSite) => {
            "Plan your journey and arrive a few minutes early. If you have documents about your \
             concern, feel free to bring them."
        }
    }
}

/// What an "add to calendar" link carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEntry<'a> {
    /// Title ([`client_title`]).
    pub title: &'a str,
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// Free text (the time, the join link).
    pub details: &'a str,
    /// Where: the join link, an address or a phone note.
    pub location: Option<&'a str>,
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    q.finish()
}

/// Google Calendar's event template:
/// `https://calendar.google.com/calendar/render?action=TEMPLATE&text=…&dates=START/END&…`, with
/// both times as UTC `YYYYMMDDTHHMMSSZ`.
pub fn google_url(e: &CalendarEntry<'_>) -> String {
    let fmt = "%Y%m%dT%H%M%SZ";
    let dates = format!("{}/{}", e.start.format(fmt), e.end.format(fmt));
    let mut pairs = vec![
        ("action", "TEMPLATE"),
        ("text", e.title),
        ("dates", dates.as_str()),
        ("details", e.details),
    ];
    if let Some(l) = e.location {
        pairs.push(("location", l));
    }
    format!(
        "https://calendar.google.com/calendar/render?{}",
        query(&pairs)
    )
}

/// Which Outlook on the web.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outlook {
    /// Personal accounts: outlook.live.com.
    Live,
    /// Work and school accounts (Microsoft 365): outlook.office.com.
    Office,
}

/// Outlook on the web's compose deep link:
/// `https://outlook.live.com/calendar/0/action/compose?rru=addevent&subject=…&startdt=…&enddt=…`,
/// with both times in RFC 3339 UTC.
pub fn outlook_url(which: Outlook, e: &CalendarEntry<'_>) -> String {
    let host = match which {
        Outlook::Live => "outlook.live.com",
        Outlook::Office => "outlook.office.com",
    };
    let fmt = "%Y-%m-%dT%H:%M:%SZ";
    let start = e.start.format(fmt).to_string();
    let end = e.end.format(fmt).to_string();
    let mut pairs = vec![
        ("path", "/calendar/action/compose"),
        ("rru", "addevent"),
        ("subject", e.title),
        ("startdt", start.as_str()),
        ("enddt", end.as_str()),
        ("body", e.details),
    ];
    if let Some(l) = e.location {
        pairs.push(("location", l));
    }
    format!("https://{host}/calendar/0/action/compose?{}", query(&pairs))
}

/// An accepted photo type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoType {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// WebP.
    Webp,
}

impl PhotoType {
    /// The media type it is served with.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }

    /// The type of a stored media type.
    pub fn of_mime(s: &str) -> Option<Self> {
        match s {
            "image/png" => Some(Self::Png),
            "image/jpeg" => Some(Self::Jpeg),
            "image/webp" => Some(Self::Webp),
            _ => None,
        }
    }
}

/// Why a photo was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    /// No bytes.
    #[error("is empty")]
    Empty,
    /// Over [`PHOTO_MAX_BYTES`].
    #[error("must be at most 1 MiB")]
    TooLarge,
    /// Not PNG, JPEG or WebP by its content (whatever its name or declared type says).
    #[error("must be a PNG, JPEG or WebP image")]
    NotAnImage,
}

/// The type of `bytes` by their signature, whatever the uploader declared; SVG, HTML and
/// anything else are refused.
pub fn sniff_photo(bytes: &[u8]) -> Result<PhotoType, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    if bytes.len() > PHOTO_MAX_BYTES {
        return Err(PhotoError::TooLarge);
    }
    if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        return Ok(PhotoType::Png);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(PhotoType::Jpeg);
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Ok(PhotoType::Webp);
    }
    Err(PhotoError::NotAnImage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn entry() -> (DateTime<Utc>, DateTime<Utc>) {
        (
            Utc.with_ymd_and_hms(2026, 3, 29, 8, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 29, 8, 50, 0).unwrap(),
        )
    }

    #[test]
    fn client_title_names_medium_and_centre_never_a_type() {
        assert_eq!(
            client_title(Lang::De, AppointmentKind::Video, "Beratung Süd"),
            "Videotermin mit Beratung Süd"
        );
        assert_eq!(
            client_title(Lang::En, AppointmentKind::Phone, "South"),
            "Phone appointment with South"
        );
    }

    #[test]
    fn google_link_carries_utc_times_and_encoded_title() {
        let (start, end) = entry();
        let url = google_url(&CalendarEntry {
            title: "Videotermin mit A & B",
            start,
            end,
            details: "x",
            location: Some("https://c.example/j/t#k"),
        });
        assert!(url.starts_with("https://calendar.google.com/calendar/render?action=TEMPLATE&"));
        assert!(
            url.contains("dates=20260329T080000Z%2F20260329T085000Z"),
            "{url}"
        );
        assert!(url.contains("text=Videotermin+mit+A+%26+B"), "{url}");
        assert!(
            url.contains("location=https%3A%2F%2Fc.example%2Fj%2Ft%23k"),
            "{url}"
        );
    }

    #[test]
    fn outlook_links_carry_rfc3339_times_for_both_hosts() {
        let (start, end) = entry();
        let e = CalendarEntry {
            title: "T",
            start,
            end,
            details: "",
            location: None,
        };
        let live = outlook_url(Outlook::Live, &e);
        assert!(live.starts_with("https://outlook.live.com/calendar/0/action/compose?"));
        assert!(live.contains("startdt=2026-03-29T08%3A00%3A00Z"), "{live}");
        assert!(live.contains("enddt=2026-03-29T08%3A50%3A00Z"), "{live}");
        assert!(live.contains("rru=addevent") && live.contains("subject=T"));
        assert!(outlook_url(Outlook::Office, &e).starts_with("https://outlook.office.com/"));
    }

    #[test]
    fn photo_sniffing_accepts_images_by_content_and_refuses_svg_and_oversize() {
        assert_eq!(
            sniff_photo(b"\x89PNG\r\n\x1a\n....").unwrap(),
            PhotoType::Png
        );
        assert_eq!(sniff_photo(b"\xff\xd8\xff\xe0..").unwrap(), PhotoType::Jpeg);
        assert_eq!(
            sniff_photo(b"RIFF\0\0\0\0WEBPVP8 ").unwrap(),
            PhotoType::Webp
        );
        assert_eq!(
            sniff_photo(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"),
            Err(PhotoError::NotAnImage)
        );
        assert_eq!(sniff_photo(b""), Err(PhotoError::Empty));
        let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
        big.resize(PHOTO_MAX_BYTES + 1, 0);
        assert_eq!(sniff_photo(&big), Err(PhotoError::TooLarge));
    }
}
