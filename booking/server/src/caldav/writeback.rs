//! Writing back: every active booking is a resource `{booking id}.ics` in the chosen calendar,
//! created with `If-None-Match: *`, changed with `If-Match` on the etag we wrote, deleted with
//! `If-Match` when the booking is cancelled. Nothing else in the calendar is ever written or
//! deleted.

use std::collections::HashMap;

use confidant_booking::ics;
use reqwest::Url;

use super::super::store as booking_store;
use super::client::Dav;
use super::store::{self, url_key, AccountRow, BookingWithVersion, EventRow, Written};
use super::{ms, SyncError, PAST_MS};
use crate::BookingState;
use confidant_kit::error::AppError;

// Writing

/// Makes the chosen calendar hold exactly the account's active bookings (those not yet over),
/// as far as they are not waiting for the counsellor's decision. A write the server refuses
/// (a status, not a lost connection) does not stop the others: the refusals are returned.
pub(super) async fn reconcile(
    state: &BookingState,
    d: &mut Dav,
    acc: &AccountRow,
    now: i64,
) -> Result<Vec<SyncError>, SyncError> {
    let mut refused = Vec::new();
    let write_cal = match &acc.write_calendar_id {
        Some(id) => store::calendars_of(state, &acc.id)
            .await?
            .into_iter()
            .find(|c| &c.id == id)
            .map(|c| c.url),
        None => None,
    };
    let write_key = write_cal.as_deref().map(|u| url_key(state, u));
    let events = store::events_of(state, &acc.id).await?;
    let bookings =
        store::bookings_to_write(&state.db, &acc.counsellor_id, now - PAST_MS, &acc.id).await?;
    let by_booking: HashMap<&str, &EventRow> =
        events.iter().map(|e| (e.booking_id.as_str(), e)).collect();
    let mut host_types = None;
    for b in &bookings {
        let ev = by_booking.get(b.row.id.as_str()).copied();
        let want = b.active != 0;
        // An event in a calendar that is no longer the chosen one moves to the new one.
        if let Some(e) = ev {
            if write_key.as_deref() != Some(e.calendar_key.as_str()) || !want {
                if e.external.as_deref() != Some("deleted") {
                    if let Err(err) = delete_event(d, e).await {
                        refused.push(refusal(err)?);
                        continue;
                    }
                }
                store::delete_event(&state.db, &e.id).await?;
                if want {
                    if let Some(cal) = &write_cal {
                        if let Err(err) = put_new(state, d, acc, &mut host_types, b, cal, now).await
                        {
                            refused.push(refusal(err)?);
                        }
                    }
                }
                continue;
            }
            // Written as it is now (an event changed in the calendar stays as it is there
            // until the counsellor decides, which sets the version to -1, or the booking
            // itself changes).
            if e.written_version == b.updated_at {
                continue;
            }
            if let Err(err) = put_existing(state, d, acc, &mut host_types, b, e, now).await {
                refused.push(refusal(err)?);
            }
        } else if want {
            if let Some(cal) = &write_cal {
                if let Err(err) = put_new(state, d, acc, &mut host_types, b, cal, now).await {
                    refused.push(refusal(err)?);
                }
            }
        }
    }
    Ok(refused)
}

/// A refused write is collected; anything else (connection, login, database) ends the round.
fn refusal(e: SyncError) -> Result<SyncError, SyncError> {
    match e {
        SyncError::Status(..) | SyncError::Answer(_) => Ok(e),
        other => Err(other),
    }
}

type HostTypes = Option<(booking_store::Host, Vec<booking_store::TypeRow>)>;

async fn body_of(
    state: &BookingState,
    acc: &AccountRow,
    cache: &mut HostTypes,
    b: &BookingWithVersion,
    now: i64,
) -> Result<String, AppError> {
    if cache.is_none() {
        let host = booking_store::host_by_id(&state.db, &acc.counsellor_id).await?;
        let types = booking_store::types_visible_to(&state.db, &acc.counsellor_id).await?;
        *cache = Some((host, types));
    }
    // Filled just above.
    let (host, types) = cache.as_ref().expect("host and types loaded");
    let mut ev = super::super::feed::event_of(state, &b.row, types, host, acc.client_details != 0)?;
    ev.modified = Some(ms(b.updated_at));
    Ok(ics::resource(&ev, ms(now)))
}

async fn put_new(
    state: &BookingState,
    d: &mut Dav,
    acc: &AccountRow,
    cache: &mut HostTypes,
    b: &BookingWithVersion,
    cal_url: &str,
    now: i64,
) -> Result<(), SyncError> {
    let cal = Url::parse(cal_url).map_err(|_| SyncError::Answer("bad calendar URL".into()))?;
    let href = cal
        .join(&format!("{}.ics", b.row.id))
        .map_err(|_| SyncError::Answer("bad calendar URL".into()))?;
    let body = body_of(state, acc, cache, b, now).await?;
    let mut r = d
        .send(
            "PUT",
            &href,
            None,
            Some(body.clone()),
            &[("If-None-Match", "*")],
        )
        .await?;
    if r.status == 412 {
        // Already there (written before, but not recorded): ours by name; replace it.
        let g = d.send("GET", &href, None, None, &[]).await?;
        let etag = g.etag.unwrap_or_default();
        r = d
            .send(
                "PUT",
                &href,
                None,
                Some(body),
                &[("If-Match", etag.as_str())],
            )
            .await?;
    }
    if !(200..300).contains(&r.status) {
        return Err(SyncError::Status(r.status, "PUT"));
    }
    store::insert_event(
        state,
        &acc.id,
        cal_url,
        href.as_str(),
        Written {
            booking: b,
            etag: &r.etag,
        },
    )
    .await?;
    tracing::info!(account_id = %acc.id, booking_id = %b.row.id, "booking written to CalDAV");
    Ok(())
}

async fn put_existing(
    state: &BookingState,
    d: &mut Dav,
    acc: &AccountRow,
    cache: &mut HostTypes,
    b: &BookingWithVersion,
    e: &EventRow,
    now: i64,
) -> Result<(), SyncError> {
    let href = Url::parse(&e.href).map_err(|_| SyncError::Answer("bad event URL".into()))?;
    let body = body_of(state, acc, cache, b, now).await?;
    let cond = match (&e.external, &e.etag) {
        (Some(x), _) if x == "deleted" => ("If-None-Match", "*".to_owned()),
        (_, Some(etag)) => ("If-Match", etag.clone()),
        (_, None) => ("If-Match", "*".to_owned()),
    };
    let mut r = d
        .send(
            "PUT",
            &href,
            None,
            Some(body.clone()),
            &[(cond.0, cond.1.as_str())],
        )
        .await?;
    if r.status == 412 {
        // Changed in the calendar since we last looked: this change of the booking wins
        // (the counsellor was shown the calendar's change, or it happened just now).
        let g = d.send("GET", &href, None, None, &[]).await?;
        r = match g.etag {
            Some(etag) if g.status == 200 => {
                d.send(
                    "PUT",
                    &href,
                    None,
                    Some(body),
                    &[("If-Match", etag.as_str())],
                )
                .await?
            }
            _ => {
                d.send("PUT", &href, None, Some(body), &[("If-None-Match", "*")])
                    .await?
            }
        };
    }
    if !(200..300).contains(&r.status) {
        return Err(SyncError::Status(r.status, "PUT"));
    }
    store::update_event(
        &state.db,
        &e.id,
        Written {
            booking: b,
            etag: &r.etag,
        },
    )
    .await?;
    tracing::info!(account_id = %acc.id, booking_id = %b.row.id, "booking rewritten in CalDAV");
    Ok(())
}

/// Deletes an event we wrote. Already gone is fine; changed since is still ours to delete.
async fn delete_event(d: &mut Dav, e: &EventRow) -> Result<(), SyncError> {
    let href = Url::parse(&e.href).map_err(|_| SyncError::Answer("bad event URL".into()))?;
    let etag = e.etag.clone().unwrap_or_else(|| "*".into());
    let mut r = d
        .send("DELETE", &href, None, None, &[("If-Match", etag.as_str())])
        .await?;
    if r.status == 412 {
        let g = d.send("GET", &href, None, None, &[]).await?;
        if g.status == 404 || g.status == 410 {
            return Ok(());
        }
        let etag = g.etag.unwrap_or_else(|| "*".into());
        r = d
            .send("DELETE", &href, None, None, &[("If-Match", etag.as_str())])
            .await?;
    }
    if (200..300).contains(&r.status) || r.status == 404 || r.status == 410 {
        Ok(())
    } else {
        Err(SyncError::Status(r.status, "DELETE"))
    }
}
