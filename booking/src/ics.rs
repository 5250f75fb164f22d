//! iCalendar invitations (RFC 5545, iTIP methods of RFC 5546), written by hand.
//!
//! # Why UTC times and no `VTIMEZONE`
//!
//! Times are written in UTC (`DTSTART:20261207T090000Z`). For a single, non-recurring event
//! that is exact in every calendar program, which shows it in the reader's own zone; a
//! `TZID` only matters for recurrence rules, which appointments do not have. A `VTIMEZONE`
//! derived from chrono-tz offsets would add failure modes (transition times in the wrong
//! offset, clients such as Outlook that distrust or rewrite non-Windows zone definitions)
//! without making the event more correct. The counsellor's zone is named in `X-WR-TIMEZONE`
//! and, for humans, in the description.
//!
//! # Why no `icalendar` crate
//!
//! The output is one small, fixed component. Writing it here keeps the escaping (§3.3.11),
//! parameter quoting (§3.2) and folding at 75 octets with CRLF (§3.1) visible and tested, and
//! avoids a dependency for 100 lines.
//!
//! # Parties
//!
//! The organizer is the platform's sender address with the counsellor's name, the one attendee
//! is the client: no other address ever appears.
//!
//! The UID is stable per booking; every change raises `SEQUENCE`, and a cancellation is
//! `METHOD:CANCEL` with the same UID and a higher `SEQUENCE`, so calendars update the event in
//! place.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// One appointment as an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcsEvent {
    /// Stable unique id (`booking-id@host`).
    pub uid: String,
    /// Raised with every change.
    pub sequence: u32,
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// The counsellor's zone (informational).
    pub tz: Tz,
    /// Title.
    pub summary: String,
    /// Text.
    pub description: String,
    /// Where: an address, a phone note, or the video link.
    pub location: Option<String>,
    /// The join or manage link.
    pub url: Option<String>,
    /// Organizer: (name, address) — the platform's sender with the counsellor's name.
    pub organizer: (String, String),
    /// The one attendee: (name, address).
    pub attendee: (String, String),
    /// When this version was made.
    pub stamp: DateTime<Utc>,
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Escapes a TEXT value (RFC 5545 §3.3.11).
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A parameter value: quoted, with characters that cannot be quoted removed.
fn param(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control() && *c != '"').collect();
    format!("\"{clean}\"")
}

/// A URI or address value: control characters and spaces removed (they cannot be escaped in a
/// URI value and would break the line).
fn uri(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .collect()
}

/// Folds a content line at 75 octets (RFC 5545 §3.1), never inside a UTF-8 sequence.
pub fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + line.len() / 70 * 3);
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
    out
}

fn calendar(method: &str, ev: &IcsEvent, cancelled: bool) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Confidant//Booking//EN".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        format!("METHOD:{method}"),
        format!("X-WR-TIMEZONE:{}", ev.tz.name()),
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{}", escape_text(&ev.uid)),
        format!("SEQUENCE:{}", ev.sequence),
        format!("DTSTAMP:{}", utc(ev.stamp)),
        format!("DTSTART:{}", utc(ev.start)),
        format!("DTEND:{}", utc(ev.end)),
        format!("SUMMARY:{}", escape_text(&ev.summary)),
        format!("DESCRIPTION:{}", escape_text(&ev.description)),
    ];
    if let Some(location) = &ev.location {
        lines.push(format!("LOCATION:{}", escape_text(location)));
    }
    if let Some(url) = &ev.url {
        lines.push(format!("URL:{}", uri(url)));
    }
    lines.push(format!(
        "ORGANIZER;CN={}:mailto:{}",
        param(&ev.organizer.0),
        uri(&ev.organizer.1)
    ));
    let partstat = if cancelled { "DECLINED" } else { "ACCEPTED" };
    lines.push(format!(
        "ATTENDEE;CN={};ROLE=REQ-PARTICIPANT;PARTSTAT={partstat}:mailto:{}",
        param(&ev.attendee.0),
        uri(&ev.attendee.1)
    ));
    lines.push(format!(
        "STATUS:{}",
        if cancelled { "CANCELLED" } else { "CONFIRMED" }
    ));
    lines.push("TRANSP:OPAQUE".to_owned());
    lines.push("END:VEVENT".to_owned());
    lines.push("END:VCALENDAR".to_owned());
    lines.iter().map(|l| fold(l)).collect()
}

/// The invitation (`METHOD:REQUEST`, `STATUS:CONFIRMED`), also for a changed time (same UID,
/// higher `SEQUENCE`). CRLF line ends, folded at 75 octets.
pub fn request(ev: &IcsEvent) -> String {
    calendar("REQUEST", ev, false)
}

/// The cancellation (`METHOD:CANCEL`, `STATUS:CANCELLED`); give it a higher `SEQUENCE` than the
/// last request.
pub fn cancel(ev: &IcsEvent) -> String {
    calendar("CANCEL", ev, true)
}

/// One appointment in a counsellor's calendar feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    /// Stable per booking (the invitation's UID).
    pub uid: String,
    /// Raised with every change, as in the invitations.
    pub sequence: u32,
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// Title.
    pub summary: String,
    /// Details.
    pub description: String,
    /// On-site: the address.
    pub location: Option<String>,
    /// Where to act on it (the dashboard).
    pub url: Option<String>,
    /// `false`: still waiting for the counsellor's confirmation (`STATUS:TENTATIVE`).
    pub confirmed: bool,
    /// When the booking last changed (`LAST-MODIFIED`), if known.
    pub modified: Option<DateTime<Utc>>,
}

/// One booking as a CalDAV resource (RFC 4791 §4.1: one `VCALENDAR`, one `VEVENT`, no
/// `METHOD`), written into the counsellor's own calendar. Same fields and privacy rules as
/// [`feed`].
pub fn resource(ev: &FeedEvent, stamp: DateTime<Utc>) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Confidant//Booking//EN".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
    ];
    lines.extend(vevent(ev, stamp));
    lines.push("END:VCALENDAR".to_owned());
    lines.iter().map(|l| fold(l)).collect()
}

fn vevent(ev: &FeedEvent, stamp: DateTime<Utc>) -> Vec<String> {
    let mut lines = vec![
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{}", escape_text(&ev.uid)),
        format!("SEQUENCE:{}", ev.sequence),
        format!("DTSTAMP:{}", utc(stamp)),
        format!("DTSTART:{}", utc(ev.start)),
        format!("DTEND:{}", utc(ev.end)),
        format!("SUMMARY:{}", escape_text(&ev.summary)),
        format!("DESCRIPTION:{}", escape_text(&ev.description)),
    ];
    if let Some(modified) = ev.modified {
        lines.push(format!("LAST-MODIFIED:{}", utc(modified)));
    }
    if let Some(location) = &ev.location {
        lines.push(format!("LOCATION:{}", escape_text(location)));
    }
    if let Some(url) = &ev.url {
        lines.push(format!("URL:{}", uri(url)));
    }
    lines.push(format!(
        "STATUS:{}",
        if ev.confirmed {
            "CONFIRMED"
        } else {
            "TENTATIVE"
        }
    ));
    lines.push("TRANSP:OPAQUE".to_owned());
    lines.push("CLASS:PRIVATE".to_owned());
    lines.push("END:VEVENT".to_owned());
    lines
}

/// A subscribable calendar (RFC 5545 with the de-facto `X-WR-*` and RFC 7986 `NAME`,
/// `REFRESH-INTERVAL`): no `METHOD`, so calendar programs treat it as a published calendar and
/// never as an invitation to answer; no organizer or attendee, so no program mails anybody and
/// no address leaves the server. `stamp` is the generation time (`DTSTAMP`).
pub fn feed(name: &str, tz: Tz, events: &[FeedEvent], stamp: DateTime<Utc>) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Confidant//Booking feed//EN".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        format!("NAME:{}", escape_text(name)),
        format!("X-WR-CALNAME:{}", escape_text(name)),
        format!("X-WR-TIMEZONE:{}", tz.name()),
        "REFRESH-INTERVAL;VALUE=DURATION:PT15M".to_owned(),
        "X-PUBLISHED-TTL:PT15M".to_owned(),
    ];
    for ev in events {
        lines.extend(vevent(ev, stamp));
    }
    lines.push("END:VCALENDAR".to_owned());
    lines.iter().map(|l| fold(l)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> IcsEvent {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        IcsEvent {
            uid: "b1@confidant.test".into(),
            sequence: 2,
            start: t("2026-12-07T09:00:00Z"),
            end: t("2026-12-07T09:50:00Z"),
            tz: chrono_tz::Europe::Berlin,
            summary: "Beratung, Video; mit Dr. Weiß".into(),
            description: "Zeile 1\nZeile 2 \\ Ende ".repeat(5),
            location: None,
            url: Some("https://c.test/j/abc".into()),
            organizer: ("Dr. \"Weiß\"".into(), "termine@c.test".into()),
            attendee: ("Alex Muster".into(), "alex@example.org".into()),
            stamp: t("2026-11-22T10:00:00Z"),
        }
    }

    /// Unfolds and splits into (name-with-params, value).
    fn parse(ics: &str) -> Vec<(String, String)> {
        assert!(ics.ends_with("\r\n"));
        let unfolded = ics.replace("\r\n ", "");
        unfolded
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| {
                // The name ends at the first colon outside a quoted parameter value.
                let mut quoted = false;
                let at = l
                    .char_indices()
                    .find(|&(_, c)| {
                        if c == '"' {
                            quoted = !quoted;
                        }
                        c == ':' && !quoted
                    })
                    .unwrap()
                    .0;
                (l[..at].to_owned(), l[at + 1..].to_owned())
            })
            .collect()
    }

    fn get<'a>(p: &'a [(String, String)], key: &str) -> &'a str {
        &p.iter()
            .find(|(k, _)| k == key || k.starts_with(&format!("{key};")))
            .unwrap()
            .1
    }

    #[test]
    fn request_has_method_uid_sequence_and_utc_times() {
        let ics = request(&event());
        let p = parse(&ics);
        assert_eq!(get(&p, "METHOD"), "REQUEST");
        assert_eq!(get(&p, "UID"), "b1@confidant.test");
        assert_eq!(get(&p, "SEQUENCE"), "2");
        assert_eq!(get(&p, "DTSTART"), "20261207T090000Z");
        assert_eq!(get(&p, "DTEND"), "20261207T095000Z");
        assert_eq!(get(&p, "STATUS"), "CONFIRMED");
        assert_eq!(get(&p, "SUMMARY"), "Beratung\\, Video\\; mit Dr. Weiß");
        assert!(get(&p, "DESCRIPTION").starts_with("Zeile 1\\nZeile 2 \\\\ Ende"));
        let org = p.iter().find(|(k, _)| k.starts_with("ORGANIZER")).unwrap();
        assert_eq!(org.0, "ORGANIZER;CN=\"Dr. Weiß\"");
    }

    #[test]
    fn cancel_keeps_the_uid() {
        let mut ev = event();
        ev.sequence = 3;
        let p = parse(&cancel(&ev));
        assert_eq!(get(&p, "METHOD"), "CANCEL");
        assert_eq!(get(&p, "STATUS"), "CANCELLED");
        assert_eq!(get(&p, "UID"), "b1@confidant.test");
        assert_eq!(get(&p, "SEQUENCE"), "3");
    }

    #[test]
    fn lines_are_folded_at_75_octets_without_splitting_characters() {
        let ics = request(&event());
        for line in ics.split("\r\n") {
            assert!(line.len() <= 75, "{line:?}");
        }
        let long = fold(&"ä".repeat(100));
        for piece in long.trim_end().split("\r\n ") {
            assert!(piece.len() <= 75);
        }
    }

    /// Values of `key` after unfolding and unescaping.
    fn unescape(v: &str) -> String {
        let mut out = String::new();
        let mut chars = v.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') | Some('N') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => panic!("dangling backslash"),
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn the_calendar_is_well_formed_and_text_round_trips() {
        let mut ev = event();
        ev.description = "Zeit: 10:00–10:50; Ort, Raum 3\\4\nBitte pünktlich.\r\nDanke".into();
        ev.location = Some("Musterstr. 1, 12345 Berlin".into());
        let ics = request(&ev);
        assert!(!ics.replace("\r\n", "").contains('\n'), "bare LF");
        assert!(!ics.replace("\r\n", "").contains('\r'), "bare CR");
        let p = parse(&ics);
        let names: Vec<&str> = p
            .iter()
            .map(|(k, _)| k.split(';').next().unwrap())
            .collect();
        assert_eq!(names[..4], ["BEGIN", "VERSION", "PRODID", "CALSCALE"]);
        assert_eq!(p[0].1, "VCALENDAR");
        assert_eq!(get(&p, "VERSION"), "2.0");
        assert_eq!(get(&p, "CALSCALE"), "GREGORIAN");
        assert_eq!(get(&p, "DTSTAMP"), "20261122T100000Z");
        assert_eq!(get(&p, "X-WR-TIMEZONE"), "Europe/Berlin");
        assert_eq!(
            p.last().unwrap(),
            &("END".to_owned(), "VCALENDAR".to_owned())
        );
        assert_eq!(names.iter().filter(|n| **n == "BEGIN").count(), 2);
        assert_eq!(names.iter().filter(|n| **n == "END").count(), 2);
        assert_eq!(
            unescape(get(&p, "DESCRIPTION")),
            "Zeit: 10:00–10:50; Ort, Raum 3\\4\nBitte pünktlich.\nDanke"
        );
        assert_eq!(unescape(get(&p, "LOCATION")), "Musterstr. 1, 12345 Berlin");
        assert_eq!(
            unescape(get(&p, "SUMMARY")),
            "Beratung, Video; mit Dr. Weiß"
        );
        assert_eq!(get(&p, "URL"), "https://c.test/j/abc");
        assert!(!ics.contains("TZID"), "times are UTC");
    }

    #[test]
    fn only_the_organizer_and_the_one_attendee_appear_even_under_injection() {
        let mut ev = event();
        ev.summary = "x\r\nATTENDEE:mailto:evil@x.test".into();
        ev.description = "y\nORGANIZER:mailto:evil@x.test".into();
        ev.attendee = (
            "Alex\r\nATTENDEE:mailto:evil@x.test\"".into(),
            "alex@example.org\r\nATTENDEE:mailto:e@x.test".into(),
        );
        for ics in [request(&ev), cancel(&ev)] {
            let p = parse(&ics);
            let parties: Vec<&(String, String)> = p
                .iter()
                .filter(|(k, _)| k.starts_with("ATTENDEE") || k.starts_with("ORGANIZER"))
                .collect();
            assert_eq!(parties.len(), 2, "{ics}");
            assert_eq!(parties[0].1, "mailto:termine@c.test");
            assert!(
                parties[1]
                    .0
                    .starts_with("ATTENDEE;CN=\"AlexATTENDEE:mailto:evil@x.test\";"),
                "{}",
                parties[1].0
            );
            assert_eq!(
                parties[1].1,
                "mailto:alex@example.orgATTENDEE:mailto:e@x.test"
            );
        }
    }

    #[test]
    fn cancel_declines_for_the_attendee() {
        let p = parse(&cancel(&event()));
        let att = p.iter().find(|(k, _)| k.starts_with("ATTENDEE")).unwrap();
        assert!(att.0.contains("PARTSTAT=DECLINED"));
        let p = parse(&request(&event()));
        let att = p.iter().find(|(k, _)| k.starts_with("ATTENDEE")).unwrap();
        assert!(att.0.contains("PARTSTAT=ACCEPTED"));
    }

    fn feed_event(uid: &str, confirmed: bool) -> FeedEvent {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        FeedEvent {
            uid: uid.into(),
            sequence: 1,
            start: t("2026-12-07T09:00:00Z"),
            end: t("2026-12-07T09:50:00Z"),
            summary: "Beratung; Video, Alex".into(),
            description: "Zeile 1\nZeile 2".into(),
            location: None,
            url: Some("https://c.test/dashboard".into()),
            confirmed,
            modified: Some(t("2026-11-20T08:00:00Z")),
        }
    }

    #[test]
    fn a_feed_is_a_published_calendar_without_parties() {
        let t = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let ics = feed(
            "Termine, Dr. Weiß",
            chrono_tz::Europe::Berlin,
            &[feed_event("a@c.test", true), feed_event("b@c.test", false)],
            t,
        );
        let props = parse(&ics);
        let names: Vec<&str> = props.iter().map(|(n, _)| n.as_str()).collect();
        assert!(!names.contains(&"METHOD"), "a feed is not an iTIP message");
        assert!(!names
            .iter()
            .any(|n| n.starts_with("ORGANIZER") || n.starts_with("ATTENDEE")));
        assert_eq!(names.iter().filter(|n| **n == "BEGIN").count(), 3);
        let get = |name: &str| -> Vec<&str> {
            props
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert_eq!(get("X-WR-CALNAME"), vec!["Termine\\, Dr. Weiß"]);
        assert_eq!(get("UID"), vec!["a@c.test", "b@c.test"]);
        assert_eq!(get("STATUS"), vec!["CONFIRMED", "TENTATIVE"]);
        assert_eq!(get("DTSTART"), vec!["20261207T090000Z", "20261207T090000Z"]);
        assert_eq!(get("SUMMARY")[0], "Beratung\\; Video\\, Alex");
        assert_eq!(get("DESCRIPTION")[0], "Zeile 1\\nZeile 2");
        assert!(ics.lines().all(|l| l.len() <= 76));
    }

    #[test]
    fn an_empty_feed_is_still_a_calendar() {
        let t = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let ics = feed("x", chrono_tz::UTC, &[], t);
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.ends_with("END:VCALENDAR\r\n"));
        assert!(!ics.contains("VEVENT"));
    }
}
