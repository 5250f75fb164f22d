//! Reading one calendar: which members changed (`sync-collection` from the last token, else
//! etags compared with the last read's), fetching them (`calendar-multiget`), their busy times
//! expanded in the counsellor's zone by the booking core (`confidant_booking::busy`), and our
//! own events there checked for changes made in the calendar. Calendars that may only be seen
//! as free/busy are read with `free-busy-query`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use confidant_booking::busy::{busy_from_freebusy, busy_from_ics, event_span};
use confidant_booking::caldav as dav;
use reqwest::Url;

use super::super::sources::HORIZON_DAYS;
use super::super::store as booking_store;
use super::client::Dav;
use super::store::{self, url_key, AccountRow, CalendarRow, EventRow};
use super::{ms, SyncError};
use crate::BookingState;

/// Everything is read again after this long (recurring events move with the window).
const FULL_EVERY_MS: i64 = 24 * 3_600_000;

fn ical_utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// What a calendar read gives for one member.
enum Member {
    Changed {
        href: String,
        etag: Option<String>,
    },
    Removed {
        href: String,
    },
    /// Known from an earlier read (by its [`url_key`]) and no longer listed.
    Gone {
        key: String,
    },
}

/// Reads one calendar: busy times where it blocks, and changes to the bookings we wrote there.
pub(super) async fn sync_calendar(
    state: &BookingState,
    d: &mut Dav,
    acc: &AccountRow,
    cal: &CalendarRow,
    now: i64,
    notes: &mut Vec<String>,
) -> Result<(), SyncError> {
    let host = booking_store::host_by_id(&state.db, &acc.counsellor_id).await?;
    let url = Url::parse(&cal.url).map_err(|_| SyncError::Answer("bad calendar URL".into()))?;
    let from = ms(now) - Duration::days(1);
    let to = from + Duration::days(HORIZON_DAYS);
    let blocks = cal.blocks != 0;

    if cal.can_read == 0 {
        // Free/busy only: one query gives every busy period.
        if !blocks {
            return Ok(());
        }
        if cal.free_busy == 0 {
            notes.push(format!(
                "{}: neither events nor free/busy can be read",
                cal.name
            ));
            return Ok(());
        }
        let r = d
            .report(
                &url,
                "1",
                dav::free_busy_query(&ical_utc(from), &ical_utc(to)),
            )
            .await?;
        if r.status != 200 {
            return Err(SyncError::Status(r.status, "free-busy-query"));
        }
        let busy =
            busy_from_freebusy(&r.body, from, to).map_err(|e| SyncError::Answer(e.to_string()))?;
        let mut tx = state.db.begin().await?;
        store::clear_busy_in(&mut tx, &cal.id).await?;
        for iv in &busy.intervals {
            store::insert_busy(
                &mut tx,
                cal,
                &acc.counsellor_id,
                "",
                iv.start.timestamp_millis(),
                iv.end.timestamp_millis(),
            )
            .await?;
        }
        tx.commit().await?;
        return Ok(());
    }

    if !blocks {
        // Read only for our own events: it blocks nothing.
        store::clear_busy(&state.db, &cal.id).await?;
        store::clear_items(&state.db, &cal.id).await?;
    }
    let full = cal.last_full_at.is_none_or(|t| now - t >= FULL_EVERY_MS);
    // Members by the keyed digest of their href.
    let known: HashMap<String, Option<String>> = store::items_of(&state.db, &cal.id).await?;
    let ours = store::events_in(state, &acc.id, &url_key(state, &cal.url)).await?;
    let ours_by_href: HashMap<&str, &EventRow> =
        ours.iter().map(|e| (e.href.as_str(), e)).collect();

    // 1. Which members changed.
    let mut members = Vec::new();
    let mut new_token = None;
    let mut new_ctag = None;
    let listed_all;
    if cal.sync_supported != 0 {
        let mut token = if full { None } else { cal.sync_token.clone() };
        let mut r = d
            .report(&url, "0", dav::sync_collection(token.as_deref()))
            .await?;
        if token.is_some()
            && matches!(r.status, 403 | 409 | 400)
            && dav::is_invalid_sync_token(&r.body)
        {
            token = None;
            r = d.report(&url, "0", dav::sync_collection(None)).await?;
        }
        if r.status != 207 {
            return Err(SyncError::Status(r.status, "sync-collection"));
        }
        let ms = dav::parse_multistatus(&r.body).map_err(|e| SyncError::Answer(e.to_string()))?;
        new_token = ms.sync_token;
        listed_all = token.is_none();
        for e in ms.entries {
            if e.href.is_empty() || url.join(&e.href).is_ok_and(|u| u == url) {
                continue;
            }
            if e.status.is_some_and(|s| s == 404 || s == 410) {
                members.push(Member::Removed { href: e.href });
            } else {
                members.push(Member::Changed {
                    href: e.href,
                    etag: e.etag,
                });
            }
        }
    } else {
        if !full {
            let (ms, _) = d.propfind(&url, "0", dav::PROPFIND_CTAG).await?;
            let ctag = ms
                .entries
                .first()
                .and_then(|e| e.ctag.clone().or(e.sync_token.clone()));
            if ctag.is_some() && ctag == cal.ctag {
                return Ok(());
            }
        }
        let (ms, _) = d.propfind(&url, "1", dav::PROPFIND_ETAGS).await?;
        listed_all = true;
        for e in ms.entries {
            if e.collection || e.href.is_empty() {
                new_ctag = e.ctag.or(e.sync_token).or(new_ctag);
                continue;
            }
            members.push(Member::Changed {
                href: e.href,
                etag: e.etag,
            });
        }
    }
    if listed_all {
        let seen: HashSet<String> = members
            .iter()
            .filter_map(|m| match m {
                Member::Changed { href, .. } | Member::Removed { href } => {
                    Some(url_key(state, href))
                }
                Member::Gone { .. } => None,
            })
            .collect();
        let gone: Vec<String> = known
            .keys()
            .filter(|k| !seen.contains(k.as_str()))
            .cloned()
            .collect();
        let ours_gone: Vec<String> = ours
            .iter()
            .filter(|e| {
                !members.iter().any(|m| matches!(m, Member::Changed { href, .. } if url.join(href).is_ok_and(|u| u.as_str() == e.href)))
            })
            .map(|e| e.href.clone())
            .collect();
        members.extend(gone.into_iter().map(|key| Member::Gone { key }));
        members.extend(ours_gone.into_iter().map(|href| Member::Removed { href }));
    }

    // 2. Fetch what changed (all of it on a full read).
    let mut wanted = Vec::new();
    for m in &members {
        if let Member::Changed { href, etag } = m {
            let abs = url.join(href).map(|u| u.to_string()).unwrap_or_default();
            let stale = match ours_by_href.get(abs.as_str()) {
                Some(ev) => ev.etag.is_none() || ev.etag != *etag,
                None => full || known.get(&url_key(state, href)) != Some(etag) || etag.is_none(),
            };
            if stale && (blocks || ours_by_href.contains_key(abs.as_str())) {
                wanted.push(href.clone());
            }
        }
    }
    let mut data: HashMap<String, (Option<String>, String)> = HashMap::new();
    for batch in wanted.chunks(dav::MULTIGET_BATCH) {
        let r = d.report(&url, "1", dav::multiget(batch)).await?;
        if r.status != 207 {
            return Err(SyncError::Status(r.status, "calendar-multiget"));
        }
        let ms = dav::parse_multistatus(&r.body).map_err(|e| SyncError::Answer(e.to_string()))?;
        for e in ms.entries {
            if let Some(text) = e.calendar_data {
                let abs = url.join(&e.href).map(|u| u.to_string()).unwrap_or_default();
                data.insert(abs, (e.etag, text));
            }
        }
    }

    // 3. Apply.
    let mut tx = state.db.begin().await?;
    for m in &members {
        match m {
            Member::Removed { href } => {
                let abs = url
                    .join(href)
                    .map(|u| u.to_string())
                    .unwrap_or_else(|_| href.clone());
                if let Some(ev) = ours_by_href.get(abs.as_str()) {
                    if ev.external.as_deref() != Some("deleted") {
                        store::mark_external(&mut tx, ev, "deleted", None, now).await?;
                        notes.push("a booked appointment was deleted in the calendar".into());
                    }
                    continue;
                }
                store::forget_member(&mut tx, cal, &url_key(state, href)).await?;
            }
            Member::Gone { key } => store::forget_member(&mut tx, cal, key).await?,
            Member::Changed { href, etag } => {
                let abs = url.join(href).map(|u| u.to_string()).unwrap_or_default();
                if let Some(ev) = ours_by_href.get(abs.as_str()) {
                    let Some((got_etag, text)) = data.get(&abs) else {
                        continue;
                    };
                    let etag = got_etag.clone().or(etag.clone());
                    let span = event_span(text, host.tz);
                    let moved = match &span {
                        Some(s) if s.blocks => {
                            (
                                s.span.start.timestamp_millis(),
                                s.span.end.timestamp_millis(),
                            ) != (ev.written_start, ev.written_end)
                        }
                        _ => true,
                    };
                    if !moved {
                        store::set_event_etag(&mut tx, &ev.id, &etag).await?;
                        continue;
                    }
                    store::set_event_etag(&mut tx, &ev.id, &etag).await?;
                    match span.filter(|s| s.blocks) {
                        Some(s) => {
                            store::mark_external(
                                &mut tx,
                                ev,
                                "moved",
                                Some((
                                    s.span.start.timestamp_millis(),
                                    s.span.end.timestamp_millis(),
                                )),
                                now,
                            )
                            .await?;
                            notes.push("a booked appointment was moved in the calendar".into());
                        }
                        None => {
                            store::mark_external(&mut tx, ev, "deleted", None, now).await?;
                            notes.push(
                                "a booked appointment was freed or cancelled in the calendar"
                                    .into(),
                            );
                        }
                    }
                    continue;
                }
                if !blocks {
                    continue;
                }
                let Some((got_etag, text)) = data.get(&abs) else {
                    // Unchanged (same etag): keep what we have.
                    continue;
                };
                let etag = got_etag.clone().or(etag.clone());
                let key = url_key(state, href);
                store::forget_member(&mut tx, cal, &key).await?;
                store::insert_item(&mut tx, &cal.id, &key, &etag).await?;
                // A booking of ours that we lost track of (written, but not recorded) blocks
                // nothing: its booking already does.
                if is_our_uid(state, text, host.tz) {
                    continue;
                }
                match busy_from_ics(text, host.tz, from, to) {
                    Ok(busy) => {
                        for iv in &busy.intervals {
                            store::insert_busy(
                                &mut tx,
                                cal,
                                &acc.counsellor_id,
                                &key,
                                iv.start.timestamp_millis(),
                                iv.end.timestamp_millis(),
                            )
                            .await?;
                        }
                        notes.extend(busy.skipped.into_iter().take(5));
                    }
                    Err(e) => notes.push(format!("{}: {e}", dav::last_segment(href))),
                }
            }
        }
    }
    store::record_read(&mut tx, &cal.id, &new_token, &new_ctag, full, now).await?;
    tx.commit().await?;
    Ok(())
}

fn is_our_uid(state: &BookingState, text: &str, tz: chrono_tz::Tz) -> bool {
    let suffix = format!("@{}", super::super::feed::uid_host(state));
    event_span(text, tz).is_some_and(|s| {
        s.uid.ends_with(&suffix) && uuid::Uuid::parse_str(s.uid.trim_end_matches(&suffix)).is_ok()
    })
}
