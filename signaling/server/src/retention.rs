//! Retention of call data: a session's chat is deleted once the session is over.
//!
//! [`purge_chat`] is one idempotent, batched round that takes the time as an argument, so the
//! server's scheduler (`confidant_kit::scheduler`) runs it as the job
//! [`chat_retention_job`] every [`CHAT_RETENTION_INTERVAL`] (tests move the clock forward
//! instead of waiting). A session is over when it ended (`ended_at`) or expired
//! (`expires_at`: nobody can join it any more); a revoked link alone does not end it. Rows are
//! deleted, not marked: the sealed text and the participant ids go with them.

use std::time::Duration;

use crate::RoomsState;
use confidant_kit::db::{now_ms, Db};
use confidant_kit::scheduler::{Job, Pace};

/// How often the chat retention round runs.
pub const CHAT_RETENTION_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// Sessions whose chat one batch deletes; a round goes on batch after batch until none is due.
const CHAT_PURGE_BATCH: i64 = 200;

/// What one chat retention round removed: counts only, never content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatPurged {
    /// Sessions whose chat was deleted.
    pub sessions: u64,
    /// Chat messages deleted.
    pub messages: u64,
}

/// Deletes the chat of every session that ended or expired at least `keep` before `now_ms`,
/// except rooms in `live` (someone is still in the call, as can happen after the link's
/// expiry: their chat goes once the room is empty). Idempotent; a round cut short (a crash)
/// is finished by the next.
pub async fn purge_chat(
    db: &Db,
    now_ms: i64,
    keep: Duration,
    live: &[String],
) -> Result<ChatPurged, sqlx::Error> {
    let cutoff = now_ms.saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX));
    let mut purged = ChatPurged::default();
    // Sessions are walked in id order from a cursor, so live rooms skipped in one batch are
    // not fetched again and the round ends.
    let mut after = String::new();
    loop {
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT s.id FROM sessions s
             WHERE s.id > $1
               AND ((s.ended_at IS NOT NULL AND s.ended_at <= $2) OR s.expires_at <= $2)
               AND EXISTS (SELECT 1 FROM chat_messages c WHERE c.room = s.id)
             ORDER BY s.id LIMIT $3",
        )
        .bind(&after)
        .bind(cutoff)
        .bind(CHAT_PURGE_BATCH)
        .fetch_all(db)
        .await?;
        let Some(last) = due.last() else {
            return Ok(purged);
        };
        after = last.clone();
        for room in due.iter().filter(|r| !live.contains(r)) {
            let deleted = sqlx::query("DELETE FROM chat_messages WHERE room = $1")
                .bind(room)
                .execute(db)
                .await?
                .rows_affected();
            purged.sessions += 1;
            purged.messages += deleted;
        }
        if due.len() < CHAT_PURGE_BATCH as usize {
            return Ok(purged);
        }
    }
}

/// Runs [`purge_chat`] with the configured `--chat-retention-days` now and then every
/// [`CHAT_RETENTION_INTERVAL`].
pub fn chat_retention_job(state: RoomsState) -> Job {
    Job::new("chat-retention", CHAT_RETENTION_INTERVAL, move || {
        let state = state.clone();
        async move {
            let live = state.hub.live_rooms();
            match purge_chat(&state.db, now_ms(), state.config.chat_retention, &live).await {
                Ok(p) if p.sessions == 0 => {}
                Ok(p) => tracing::info!(
                    sessions = p.sessions,
                    messages = p.messages,
                    "chat retention round"
                ),
                Err(e) => tracing::error!(error = %e, "chat retention round failed"),
            }
            Pace::OnSchedule
        }
    })
}
