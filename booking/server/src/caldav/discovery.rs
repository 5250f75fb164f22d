//! Discovery: from the address the counsellor entered (a server root, a principal, a calendar
//! home or one calendar) to the calendar home and the calendars in it.

use confidant_booking::caldav::{self as dav, Entry};
use reqwest::Url;

use super::client::Dav;
use super::SyncError;

/// A calendar as discovered.
#[derive(Debug, Clone)]
pub(super) struct Found {
    pub(super) url: Url,
    pub(super) name: String,
    pub(super) color: Option<String>,
    pub(super) can_read: bool,
    pub(super) can_write: bool,
    pub(super) sync_supported: bool,
    pub(super) free_busy: bool,
}

fn found_of(home: &Url, e: &Entry) -> Option<Found> {
    if !e.holds_events() {
        return None;
    }
    let url = home.join(&e.href).ok()?;
    // Servers that do not report privileges let their users read and write their own calendars.
    let p = e.privileges.unwrap_or(dav::Privileges {
        read: true,
        write: true,
        read_free_busy: true,
    });
    if !p.read && !p.read_free_busy {
        return None;
    }
    let name = e
        .display_name
        .clone()
        .unwrap_or_else(|| percent_decoded(dav::last_segment(&e.href)));
    Some(Found {
        url,
        name: name.chars().filter(|c| !c.is_control()).take(100).collect(),
        color: e
            .color
            .clone()
            .filter(|c| c.len() <= 20 && c.starts_with('#')),
        can_read: p.read,
        can_write: p.write,
        sync_supported: e.sync_supported,
        free_busy: e.free_busy_supported || (!p.read && p.read_free_busy),
    })
}

fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The calendars at `home`: the collection itself when it is a calendar (an account given by
/// one calendar's URL, perhaps one it may only see as free/busy, where listing its members is
/// not allowed), else its member calendars.
pub(super) async fn list_calendars(
    d: &mut Dav,
    home: &Url,
) -> Result<(Url, Vec<Found>), SyncError> {
    let (ms, at) = d.propfind(home, "0", dav::PROPFIND_CALENDARS).await?;
    if let Some(one) = ms.entries.first().and_then(|e| found_of(&at, e)) {
        return Ok((at, vec![one]));
    }
    let (ms, at) = d.propfind(&at, "1", dav::PROPFIND_CALENDARS).await?;
    let found = ms.entries.iter().filter_map(|e| found_of(&at, e)).collect();
    Ok((at, found))
}

/// Finds the calendar home from the URL the counsellor gave (a server root, a principal, a
/// home or a calendar) and lists its calendars.
pub(super) async fn discover(d: &mut Dav, start: &Url) -> Result<(Url, Vec<Found>), SyncError> {
    // 0. One calendar's own URL.
    match d.propfind(start, "0", dav::PROPFIND_CALENDARS).await {
        Ok((ms, at)) => {
            if let Some(one) = ms.entries.first().and_then(|e| found_of(&at, e)) {
                return Ok((at, vec![one]));
            }
        }
        Err(SyncError::Status(..) | SyncError::Answer(_)) => {}
        Err(e) => return Err(e),
    }
    // 1. The principal, from the URL given or the well-known address.
    let principal = match d.propfind(start, "0", dav::PROPFIND_PRINCIPAL).await {
        Ok((ms, at)) => ms
            .entries
            .iter()
            .find_map(|e| e.principal.clone())
            .and_then(|p| at.join(&p).ok()),
        Err(SyncError::Status(..)) => None,
        Err(e) => return Err(e),
    };
    let principal = match principal {
        Some(p) => Some(p),
        None => {
            let wk = start
                .join("/.well-known/caldav")
                .map_err(|_| SyncError::NoCalendars)?;
            match d.propfind(&wk, "0", dav::PROPFIND_PRINCIPAL).await {
                Ok((ms, at)) => ms
                    .entries
                    .iter()
                    .find_map(|e| e.principal.clone())
                    .and_then(|p| at.join(&p).ok()),
                Err(SyncError::Status(..)) => None,
                Err(e) => return Err(e),
            }
        }
    };
    // 2. Its calendar home; without a principal, the URL given is taken as the home.
    let home = match &principal {
        Some(p) => {
            let (ms, at) = d.propfind(p, "0", dav::PROPFIND_HOME).await?;
            ms.entries
                .iter()
                .find_map(|e| e.home.clone())
                .and_then(|h| at.join(&h).ok())
        }
        None => None,
    }
    .unwrap_or_else(|| start.clone());
    // 3. Its calendars.
    let (at, found) = list_calendars(d, &home).await?;
    if found.is_empty() {
        return Err(SyncError::NoCalendars);
    }
    Ok((at, found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_names_fall_back_to_the_decoded_path() {
        assert_eq!(percent_decoded("Work%20Cal"), "Work Cal");
        assert_eq!(percent_decoded("50%"), "50%");
        assert_eq!(percent_decoded("%zz"), "%zz");
        assert_eq!(percent_decoded("%C3%A4"), "ä");
    }

    #[test]
    fn only_event_calendars_that_can_be_read_are_offered() {
        let home = Url::parse("https://cal.example/alice/").unwrap();
        let mut e = Entry {
            href: "/alice/work/".into(),
            calendar: true,
            collection: true,
            ..Default::default()
        };
        let f = found_of(&home, &e).unwrap();
        assert_eq!(f.url.as_str(), "https://cal.example/alice/work/");
        assert_eq!(f.name, "work");
        assert!(f.can_read && f.can_write);
        e.components = vec!["VTODO".into()];
        assert!(found_of(&home, &e).is_none());
        e.components = vec!["VEVENT".into()];
        e.privileges = Some(dav::Privileges {
            read: false,
            write: false,
            read_free_busy: true,
        });
        let f = found_of(&home, &e).unwrap();
        assert!(!f.can_read && f.free_busy);
        e.privileges = Some(dav::Privileges::default());
        assert!(found_of(&home, &e).is_none());
    }
}
