//! CalDAV (RFC 4791) and WebDAV sync (RFC 6578) without I/O: the XML request bodies Confidant
//! sends and a reader for the `207 Multi-Status` answers it gets back.
//!
//! `web` does the HTTP; this module only knows the protocol's shapes:
//!
//! - Discovery: `PROPFIND` for `current-user-principal` ([`PROPFIND_PRINCIPAL`]), then for the
//!   principal's `calendar-home-set` ([`PROPFIND_HOME`]), then `Depth: 1` on the home for its
//!   calendars ([`PROPFIND_CALENDARS`]: name, components, privileges, sync support).
//! - Reading: `REPORT sync-collection` with the last `sync-token` ([`sync_collection`]), or,
//!   for servers without it, `PROPFIND Depth: 1` for the etags ([`PROPFIND_ETAGS`]); then
//!   `REPORT calendar-multiget` for the resources that changed ([`multiget`]). Calendars the
//!   user may only see as free/busy are read with `REPORT free-busy-query` ([`free_busy_query`]).
//! - Writing is plain `PUT`/`DELETE` of `text/calendar` resources (see `ics`).
//!
//! Every answer is read leniently (any namespace prefix, missing properties are `None`) but
//! boundedly: at most [`MAX_RESPONSES`] entries; what cannot be parsed is an error, never a
//! panic.

use roxmltree::{Document, Node};

/// The DAV: namespace.
const DAV: &str = "DAV:";
/// The CalDAV namespace.
const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
/// The CalendarServer.org namespace (for `getctag`).
const CS: &str = "http://calendarserver.org/ns/";
/// Apple's iCal namespace (for `calendar-color`).
const ICAL: &str = "http://apple.com/ns/ical/";

/// Most `<response>` entries read from one answer.
pub const MAX_RESPONSES: usize = 10_000;
/// Most resources asked for in one `calendar-multiget`.
pub const MULTIGET_BATCH: usize = 50;

/// Asks where the user's principal is.
pub const PROPFIND_PRINCIPAL: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>"#;

/// Asks the principal for its calendar home.
pub const PROPFIND_HOME: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-home-set/></d:prop></d:propfind>"#;

/// Lists the collections in a calendar home (`Depth: 1`).
pub const PROPFIND_CALENDARS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/" xmlns:i="http://apple.com/ns/ical/"><d:prop>
<d:resourcetype/><d:displayname/><c:supported-calendar-component-set/><d:current-user-privilege-set/>
<d:supported-report-set/><d:sync-token/><cs:getctag/><i:calendar-color/>
</d:prop></d:propfind>"#;

/// The etags of a collection's members (`Depth: 1`), and the collection's own state.
pub const PROPFIND_ETAGS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop>
<d:resourcetype/><d:getetag/><d:sync-token/><cs:getctag/>
</d:prop></d:propfind>"#;

/// Asks a collection for its current `getctag` and `sync-token` only (`Depth: 0`).
pub const PROPFIND_CTAG: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><d:sync-token/><cs:getctag/></d:prop></d:propfind>"#;

/// Escapes text for an XML element or attribute.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `REPORT sync-collection` (RFC 6578) from `token` (`None`: the initial sync, which lists
/// every member).
pub fn sync_collection(token: Option<&str>) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<d:sync-collection xmlns:d="DAV:"><d:sync-token>{}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#,
        xml_escape(token.unwrap_or(""))
    )
}

/// `REPORT calendar-multiget` for `hrefs` (as the server wrote them), asking for their etags
/// and data.
pub fn multiget(hrefs: &[String]) -> String {
    let mut body = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?>
<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>"#,
    );
    for h in hrefs {
        body.push_str("<d:href>");
        body.push_str(&xml_escape(h));
        body.push_str("</d:href>");
    }
    body.push_str("</c:calendar-multiget>");
    body
}

/// `REPORT free-busy-query` for `[from, to)`, both as iCalendar UTC times
/// (`20261201T000000Z`).
pub fn free_busy_query(from: &str, to: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav"><c:time-range start="{}" end="{}"/></c:free-busy-query>"#,
        xml_escape(from),
        xml_escape(to)
    )
}

/// Why an answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DavError {
    /// Not well-formed XML.
    #[error("the server's answer is not XML: {0}")]
    Xml(String),
    /// XML, but not a `multistatus`.
    #[error("the server's answer is not a WebDAV multistatus")]
    NotMultistatus,
    /// More than [`MAX_RESPONSES`] entries.
    #[error("the server's answer lists more than {MAX_RESPONSES} entries")]
    TooMany,
}

/// The privileges on a collection that matter here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Privileges {
    /// `read` (or `all`).
    pub read: bool,
    /// `write`, `write-content`, `bind` (or `all`).
    pub write: bool,
    /// `read-free-busy` (or `read`, which implies it).
    pub read_free_busy: bool,
}

/// One `<response>` of a multistatus: the properties it found (`None` where absent or not
/// found) and, for removed members in a sync report, the response-level status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// The href as the server wrote it (percent-encoded path or absolute URL).
    pub href: String,
    /// Status code of the response itself (`<d:status>` outside any propstat), if given:
    /// `404` marks a removed member in `sync-collection`.
    pub status: Option<u16>,
    /// `resourcetype` contains `collection`.
    pub collection: bool,
    /// `resourcetype` contains `calendar`.
    pub calendar: bool,
    /// `displayname`.
    pub display_name: Option<String>,
    /// `calendar-color` (Apple), as written.
    pub color: Option<String>,
    /// `supported-calendar-component-set`: the component names (empty: not given).
    pub components: Vec<String>,
    /// `current-user-privilege-set`, if given.
    pub privileges: Option<Privileges>,
    /// `supported-report-set` contains `sync-collection`.
    pub sync_supported: bool,
    /// `supported-report-set` contains `free-busy-query`.
    pub free_busy_supported: bool,
    /// `getetag`.
    pub etag: Option<String>,
    /// `getctag`.
    pub ctag: Option<String>,
    /// `sync-token` (a property of a collection).
    pub sync_token: Option<String>,
    /// `calendar-data`.
    pub calendar_data: Option<String>,
    /// `current-user-principal`'s href.
    pub principal: Option<String>,
    /// `calendar-home-set`'s first href.
    pub home: Option<String>,
}

impl Entry {
    /// A calendar that can hold events: a calendar collection whose component set includes
    /// `VEVENT` (or is not given, which means any).
    pub fn holds_events(&self) -> bool {
        self.calendar
            && (self.components.is_empty()
                || self
                    .components
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case("VEVENT")))
    }
}

/// A whole multistatus answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Multistatus {
    /// The entries, in the server's order.
    pub entries: Vec<Entry>,
    /// The top-level `sync-token` of a `sync-collection` answer.
    pub sync_token: Option<String>,
}

fn is(n: &Node<'_, '_>, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(ns)
}

fn child<'a, 'i>(n: Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| is(c, ns, name))
}

fn text(n: Node<'_, '_>) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect::<String>()
        .trim()
        .to_owned()
}

/// `HTTP/1.1 404 Not Found` → 404.
pub fn status_code(line: &str) -> Option<u16> {
    line.split_whitespace().nth(1)?.parse().ok()
}

fn read_prop(e: &mut Entry, p: Node<'_, '_>) {
    for prop in p.children().filter(Node::is_element) {
        let ns = prop.tag_name().namespace().unwrap_or("");
        let value = || Some(text(prop)).filter(|t| !t.is_empty());
        match (ns, prop.tag_name().name()) {
            (DAV, "resourcetype") => {
                e.collection = child(prop, DAV, "collection").is_some();
                e.calendar = child(prop, CALDAV, "calendar").is_some();
            }
            (DAV, "displayname") => e.display_name = value(),
            (ICAL, "calendar-color") => e.color = value(),
            (CALDAV, "supported-calendar-component-set") => {
                e.components = prop
                    .children()
                    .filter(|c| is(c, CALDAV, "comp"))
                    .filter_map(|c| c.attribute("name").map(str::to_owned))
                    .collect();
            }
            (DAV, "current-user-privilege-set") => {
                let mut p = Privileges::default();
                for priv_ in prop.descendants().filter(|d| d.is_element()) {
                    let name = priv_.tag_name().name();
                    let in_dav = priv_.tag_name().namespace() == Some(DAV);
                    match (in_dav, name) {
                        (true, "all") => {
                            p.read = true;
                            p.write = true;
                        }
                        (true, "read") => p.read = true,
                        (true, "write" | "write-content" | "bind") => p.write = true,
                        (false, "read-free-busy") => p.read_free_busy = true,
                        _ => {}
                    }
                }
                p.read_free_busy |= p.read;
                e.privileges = Some(p);
            }
            (DAV, "supported-report-set") => {
                for r in prop.descendants().filter(|d| d.is_element()) {
                    if is(&r, DAV, "sync-collection") {
                        e.sync_supported = true;
                    }
                    if is(&r, CALDAV, "free-busy-query") {
                        e.free_busy_supported = true;
                    }
                }
            }
            (DAV, "getetag") => e.etag = value(),
            (CS, "getctag") => e.ctag = value(),
            (DAV, "sync-token") => e.sync_token = value(),
            (CALDAV, "calendar-data") => {
                // Keep the text as sent (line breaks matter to iCalendar).
                let data: String = prop
                    .descendants()
                    .filter(|d| d.is_text())
                    .filter_map(|d| d.text())
                    .collect();
                e.calendar_data = Some(data).filter(|d| !d.trim().is_empty());
            }
            (DAV, "current-user-principal") => {
                e.principal = child(prop, DAV, "href").map(text).filter(|t| !t.is_empty());
            }
            (CALDAV, "calendar-home-set") => {
                e.home = child(prop, DAV, "href").map(text).filter(|t| !t.is_empty());
            }
            _ => {}
        }
    }
}

/// Reads a `207 Multi-Status` body. Properties in a `propstat` whose status is not 2xx are
/// left out (`None`), as WebDAV reports properties it does not have with 404.
pub fn parse_multistatus(xml: &str) -> Result<Multistatus, DavError> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..Default::default()
    };
    let doc = Document::parse_with_options(xml, opts).map_err(|e| DavError::Xml(e.to_string()))?;
    let root = doc.root_element();
    if !is(&root, DAV, "multistatus") {
        return Err(DavError::NotMultistatus);
    }
    let mut out = Multistatus {
        sync_token: child(root, DAV, "sync-token")
            .map(text)
            .filter(|t| !t.is_empty()),
        ..Default::default()
    };
    for r in root.children().filter(|c| is(c, DAV, "response")) {
        if out.entries.len() >= MAX_RESPONSES {
            return Err(DavError::TooMany);
        }
        let mut e = Entry {
            href: child(r, DAV, "href").map(text).unwrap_or_default(),
            status: child(r, DAV, "status")
                .map(text)
                .as_deref()
                .and_then(status_code),
            ..Default::default()
        };
        for ps in r.children().filter(|c| is(c, DAV, "propstat")) {
            let ok = child(ps, DAV, "status")
                .map(text)
                .as_deref()
                .and_then(status_code)
                .is_none_or(|s| (200..300).contains(&s));
            if let (true, Some(p)) = (ok, child(ps, DAV, "prop")) {
                read_prop(&mut e, p);
            }
        }
        out.entries.push(e);
    }
    Ok(out)
}

/// Whether an error body says the sync token is no longer valid (RFC 6578 §3.2:
/// `DAV:valid-sync-token` precondition), so the client must start over.
pub fn is_invalid_sync_token(body: &str) -> bool {
    body.contains("valid-sync-token")
}

/// The last path segment of an href, percent-decoding left alone (for matching a resource we
/// wrote as `{name}.ics`).
pub fn last_segment(href: &str) -> &str {
    href.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(href)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As Radicale 3 answers a calendar-home PROPFIND.
    const HOME: &str = r#"<?xml version='1.0' encoding='utf-8'?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/" xmlns:ICAL="http://apple.com/ns/ical/">
<response><href>/alice/</href><propstat><prop><resourcetype><principal/><collection/></resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat>
<propstat><prop><displayname/><C:supported-calendar-component-set/></prop><status>HTTP/1.1 404 Not Found</status></propstat></response>
<response><href>/alice/work/</href><propstat><prop><resourcetype><C:calendar/><collection/></resourcetype><displayname>Work &amp; more</displayname>
<C:supported-calendar-component-set><C:comp name="VEVENT"/><C:comp name="VTODO"/></C:supported-calendar-component-set>
<current-user-privilege-set><privilege><read/></privilege><privilege><write/></privilege></current-user-privilege-set>
<supported-report-set><supported-report><report><sync-collection/></report></supported-report><supported-report><report><C:free-busy-query/></report></supported-report></supported-report-set>
<sync-token>http://radicale.org/ns/sync/abc</sync-token><CS:getctag>"ctag1"</CS:getctag><ICAL:calendar-color>#ff0000ff</ICAL:calendar-color></prop><status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>/alice/tasks/</href><propstat><prop><resourcetype><C:calendar/><collection/></resourcetype>
<C:supported-calendar-component-set><C:comp name="VTODO"/></C:supported-calendar-component-set>
<current-user-privilege-set><privilege><C:read-free-busy/></privilege></current-user-privilege-set></prop><status>HTTP/1.1 200 OK</status></propstat></response>
</multistatus>"#;

    #[test]
    fn a_calendar_home_lists_its_calendars_with_privileges_and_sync_support() {
        let m = parse_multistatus(HOME).unwrap();
        assert_eq!(m.entries.len(), 3);
        let home = &m.entries[0];
        assert!(home.collection && !home.calendar && home.display_name.is_none());
        let work = &m.entries[1];
        assert_eq!(work.href, "/alice/work/");
        assert!(work.holds_events());
        assert_eq!(work.display_name.as_deref(), Some("Work & more"));
        assert_eq!(work.components, vec!["VEVENT", "VTODO"]);
        assert_eq!(
            work.privileges,
            Some(Privileges {
                read: true,
                write: true,
                read_free_busy: true
            })
        );
        assert!(work.sync_supported && work.free_busy_supported);
        assert_eq!(
            work.sync_token.as_deref(),
            Some("http://radicale.org/ns/sync/abc")
        );
        assert_eq!(work.ctag.as_deref(), Some("\"ctag1\""));
        assert_eq!(work.color.as_deref(), Some("#ff0000ff"));
        let tasks = &m.entries[2];
        assert!(!tasks.holds_events());
        assert_eq!(
            tasks.privileges,
            Some(Privileges {
                read: false,
                write: false,
                read_free_busy: true
            })
        );
    }

    #[test]
    fn a_sync_report_gives_changed_and_removed_members_and_the_new_token() {
        let xml = r#"<?xml version="1.0"?>
<D:multistatus xmlns:D="DAV:">
 <D:response><D:href>/cal/a.ics</D:href><D:propstat><D:prop><D:getetag>"e1"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
 <D:response><D:href>/cal/gone%20x.ics</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>
 <D:sync-token>tok-2</D:sync-token>
</D:multistatus>"#;
        let m = parse_multistatus(xml).unwrap();
        assert_eq!(m.sync_token.as_deref(), Some("tok-2"));
        assert_eq!(m.entries[0].etag.as_deref(), Some("\"e1\""));
        assert_eq!(m.entries[0].status, None);
        assert_eq!(m.entries[1].status, Some(404));
        assert_eq!(last_segment(&m.entries[1].href), "gone%20x.ics");
    }

    #[test]
    fn calendar_data_keeps_its_lines_and_cdata() {
        let xml = "<multistatus xmlns='DAV:' xmlns:c='urn:ietf:params:xml:ns:caldav'><response><href>/c/e.ics</href><propstat><prop>\
<getetag>\"x\"</getetag><c:calendar-data><![CDATA[BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n]]></c:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>";
        let m = parse_multistatus(xml).unwrap();
        // XML parsers turn CRLF into LF (XML 1.0 §2.11); the iCalendar reader takes both.
        assert_eq!(
            m.entries[0].calendar_data.as_deref(),
            Some("BEGIN:VCALENDAR\nEND:VCALENDAR\n")
        );
    }

    #[test]
    fn principal_and_home_hrefs_are_read() {
        let xml = r#"<d:multistatus xmlns:d="DAV:" xmlns:cal="urn:ietf:params:xml:ns:caldav"><d:response><d:href>/</d:href><d:propstat><d:prop>
<d:current-user-principal><d:href>/principals/alice/</d:href></d:current-user-principal>
<cal:calendar-home-set><d:href>https://cal.example/home/alice/</d:href></cal:calendar-home-set></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#;
        let e = &parse_multistatus(xml).unwrap().entries[0];
        assert_eq!(e.principal.as_deref(), Some("/principals/alice/"));
        assert_eq!(e.home.as_deref(), Some("https://cal.example/home/alice/"));
    }

    #[test]
    fn bad_answers_are_errors_not_panics() {
        assert!(matches!(
            parse_multistatus("not xml"),
            Err(DavError::Xml(_))
        ));
        assert_eq!(parse_multistatus("<html/>"), Err(DavError::NotMultistatus));
        // Entity expansion is refused (no DTDs at all).
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><multistatus xmlns="DAV:">&a;</multistatus>"#;
        assert!(parse_multistatus(bomb).is_err());
        let many = format!(
            "<multistatus xmlns='DAV:'>{}</multistatus>",
            "<response><href>/x</href></response>".repeat(MAX_RESPONSES + 1)
        );
        assert_eq!(parse_multistatus(&many), Err(DavError::TooMany));
    }

    #[test]
    fn request_bodies_escape_what_they_carry() {
        let b = sync_collection(Some("a<b&\"c\""));
        assert!(b.contains("<d:sync-token>a&lt;b&amp;&quot;c&quot;</d:sync-token>"));
        assert!(sync_collection(None).contains("<d:sync-token></d:sync-token>"));
        let m = multiget(&["/c/a&b.ics".into(), "/c/x.ics".into()]);
        assert!(m.contains("<d:href>/c/a&amp;b.ics</d:href><d:href>/c/x.ics</d:href>"));
        for body in [
            PROPFIND_PRINCIPAL,
            PROPFIND_HOME,
            PROPFIND_CALENDARS,
            PROPFIND_ETAGS,
            PROPFIND_CTAG,
        ] {
            Document::parse(body).expect("well-formed");
        }
        Document::parse(&m).unwrap();
        Document::parse(&free_busy_query("20261201T000000Z", "20270101T000000Z")).unwrap();
        assert!(is_invalid_sync_token(
            "<error xmlns='DAV:'><valid-sync-token/></error>"
        ));
    }
}
