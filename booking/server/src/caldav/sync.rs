//! Driving: one account's sync (pending writes, then the list of calendars, then each calendar
//! that blocks or holds our bookings), its outcome recorded with backoff on failure, one sync
//! of an account at a time; and the scheduled job over the accounts that are due.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use confidant_kit::scheduler::{Job, Pace};
use reqwest::Url;

use super::super::sources::{backoff_ms, SYNC_EVERY_MS, WORKER_INTERVAL};
use super::client::{Dav, Reach};
use super::discovery::list_calendars;
use super::fetch::sync_calendar;
use super::store;
use super::writeback::reconcile;
use super::SyncError;
use crate::BookingState;
use confidant_kit::db::now_ms;
use confidant_kit::error::AppError;

// Driving

/// One sync of an account at a time (the worker and "sync now" may meet).
static RUNNING: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

pub(super) fn lock_of(id: &str) -> Arc<tokio::sync::Mutex<()>> {
    let mut map = RUNNING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.entry(id.to_owned()).or_default().clone()
}

/// Syncs an account: writes pending bookings, then (unless `writes_only`) refreshes the list
/// of calendars and reads those that block or hold our bookings. Records the outcome.
async fn sync_account(
    state: &BookingState,
    acc_id: &str,
    now: i64,
    writes_only: bool,
) -> Result<(), AppError> {
    let lock = lock_of(acc_id);
    let _guard = lock.lock().await;
    let Some(acc) = store::account(&state.db, acc_id).await? else {
        return Ok(());
    };
    let secret = acc.secret(state)?;
    let mut notes = Vec::new();
    let result: Result<(), SyncError> = async {
        let mut d = Dav::new(&secret, Reach::of(state), &state.config.trust)?;
        let d = &mut d;
        let refused = reconcile(state, d, &acc, now).await?;
        let refused = || match refused.first() {
            Some(first) => Err(SyncError::Answer(format!(
                "{} booking(s) could not be written to the calendar: {first}",
                refused.len()
            ))),
            None => Ok(()),
        };
        if writes_only {
            return refused();
        }
        let home =
            Url::parse(&acc.home(state)?).map_err(|_| SyncError::Answer("bad home URL".into()))?;
        let (_, found) = list_calendars(d, &home).await?;
        store::store_calendars(state, &acc.id, &found).await?;
        let acc = store::account(&state.db, &acc.id)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?;
        for cal in store::calendars_of(state, &acc.id).await? {
            let is_write = acc.write_calendar_id.as_deref() == Some(cal.id.as_str());
            if cal.blocks != 0 || is_write {
                sync_calendar(state, d, &acc, &cal, now, &mut notes).await?;
            } else {
                // Not chosen (any more): it blocks nothing.
                store::clear_busy(&state.db, &cal.id).await?;
            }
        }
        refused()
    }
    .await;
    match result {
        Ok(()) => {
            if writes_only {
                if acc.last_error.is_some() {
                    store::clear_error(&state.db, &acc.id).await?;
                }
                return Ok(());
            }
            store::record_success(&state.db, &acc.id, now, now + SYNC_EVERY_MS).await?;
            tracing::info!(account_id = %acc.id, notes = notes.len(), "CalDAV account synced");
        }
        Err(SyncError::Internal(e)) => return Err(e),
        Err(e) => {
            let failures = acc.failures + 1;
            // Stored text names no server (the other server's address is shown only at once).
            let e = match e {
                SyncError::CrossOrigin { .. } => SyncError::CrossOrigin { target: None },
                e => e,
            };
            store::record_failure(
                &state.db,
                &acc.id,
                now,
                &e.to_string(),
                failures,
                now + backoff_ms(failures),
            )
            .await?;
            tracing::warn!(account_id = %acc.id, failures, "CalDAV sync failed");
        }
    }
    Ok(())
}

/// [`sync_account`] on its own task, so a client that goes away (a reload) does not cancel a
/// sync halfway; the caller still waits for it.
pub(super) async fn sync_detached(
    state: &BookingState,
    acc_id: &str,
    now: i64,
    writes_only: bool,
) -> Result<(), AppError> {
    let (state, acc_id) = (state.clone(), acc_id.to_owned());
    tokio::spawn(async move { sync_account(&state, &acc_id, now, writes_only).await })
        .await
        .map_err(|e| AppError::Internal(format!("calendar sync task: {e}")))?
}

/// Syncs every account that is due at `now`, and writes pending bookings of the healthy ones.
pub async fn sync_due(state: &BookingState, now: i64) -> Result<usize, AppError> {
    let due = store::due_accounts(&state.db, now).await?;
    for id in &due {
        sync_account(state, id, now, false).await?;
    }
    let writers = store::healthy_writers(&state.db, now).await?;
    for id in writers.iter().filter(|w| !due.contains(w)) {
        sync_account(state, id, now, true).await?;
    }
    Ok(due.len())
}

/// The background job that runs [`sync_due`] every [`WORKER_INTERVAL`].
pub fn job(state: BookingState) -> Job {
    Job::new("caldav-sync", WORKER_INTERVAL, move || {
        let state = state.clone();
        async move {
            if let Err(e) = sync_due(&state, now_ms()).await {
                tracing::warn!(error = %e, "CalDAV sync round failed");
            }
            Pace::OnSchedule
        }
    })
}
