//! The signalling hub's [`Directory`] on the database: join links, room policies, whether a
//! counsellor's login is still valid, ending rooms, and the sealed chat history.

use confidant_kit::db::{now_ms, sha256_hex, Db, Dialect};
use confidant_signaling::{
    BoxFuture, ChatCap, ChatGap, Directory, Error as SignalingError, LinkTarget, RoomPolicy,
    StoredChat,
};

/// The signalling [`Directory`] on the database.
#[derive(Debug, Clone)]
pub struct SqlDirectory {
    pool: Db,
    dialect: Dialect,
}

impl SqlDirectory {
    /// A directory over `pool`.
    pub fn new(pool: Db, dialect: Dialect) -> Self {
        Self { pool, dialect }
    }
}

fn dir_err(e: sqlx::Error) -> SignalingError {
    SignalingError::Directory(e.to_string())
}

impl Directory for SqlDirectory {
    fn resolve_link<'a>(
        &'a self,
        link: &'a str,
    ) -> BoxFuture<'a, Result<Option<LinkTarget>, SignalingError>> {
        Box::pin(async move {
            let row: Option<(String, i64)> = sqlx::query_as(
                "SELECT s.id, c.allow_unencrypted_join FROM sessions s
                 JOIN counsellors c ON c.id = s.counsellor_id
                 WHERE s.link_hash = $1 AND s.revoked_at IS NULL AND s.ended_at IS NULL AND s.expires_at > $2",
            )
            .bind(sha256_hex(link))
            .bind(now_ms())
            .fetch_optional(&self.pool)
            .await
            .map_err(dir_err)?;
            Ok(row.map(|(room, allow_unencrypted)| LinkTarget {
                room,
                policy: RoomPolicy {
                    allow_unencrypted: allow_unencrypted != 0,
                },
            }))
        })
    }

    fn room_policy<'a>(
        &'a self,
        room: &'a str,
    ) -> BoxFuture<'a, Result<Option<RoomPolicy>, SignalingError>> {
        Box::pin(async move {
            let open: Option<i64> = sqlx::query_scalar(
                "SELECT c.allow_unencrypted_join FROM sessions s
                 JOIN counsellors c ON c.id = s.counsellor_id
                 WHERE s.id = $1 AND s.ended_at IS NULL AND s.expires_at > $2",
            )
            .bind(room)
            .bind(now_ms())
            .fetch_optional(&self.pool)
            .await
            .map_err(dir_err)?;
            Ok(open.map(|allow| RoomPolicy {
                allow_unencrypted: allow != 0,
            }))
        })
    }

    fn login_active<'a>(&'a self, login: &'a str) -> BoxFuture<'a, Result<bool, SignalingError>> {
        Box::pin(async move {
            let live: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM auth_sessions WHERE login_id = $1 AND expires_at > $2",
            )
            .bind(login)
            .bind(now_ms())
            .fetch_one(&self.pool)
            .await
            .map_err(dir_err)?;
            Ok(live > 0)
        })
    }

    fn end_room<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<(), SignalingError>> {
        Box::pin(async move {
            sqlx::query("UPDATE sessions SET ended_at = COALESCE(ended_at, $1) WHERE id = $2")
                .bind(now_ms())
                .bind(room)
                .execute(&self.pool)
                .await
                .map_err(dir_err)?;
            Ok(())
        })
    }

    fn save_chat<'a>(
        &'a self,
        chat: StoredChat,
        cap: ChatCap,
    ) -> BoxFuture<'a, Result<bool, SignalingError>> {
        Box::pin(async move {
            // One statement checks the cap and inserts, so the check cannot go stale between
            // the two (one hub owns a room, so its chat is written by one task at a time).
            let stored = sqlx::query(
                "INSERT INTO chat_messages (id, room, sealed, sent_at)
                 SELECT $1, $2, $3, $4
                 WHERE (SELECT COUNT(*) FROM chat_messages WHERE room = $2) < $5
                   AND (SELECT COALESCE(SUM(LENGTH(sealed)), 0) FROM chat_messages WHERE room = $2) + $6 <= $7",
            )
            .bind(&chat.id)
            .bind(&chat.room)
            .bind(&chat.sealed)
            .bind(&chat.sent_at)
            .bind(i64::from(cap.max_messages))
            .bind(i64::try_from(chat.sealed.len()).unwrap_or(i64::MAX))
            .bind(i64::try_from(cap.max_bytes).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await
            .map_err(dir_err)?
            .rows_affected();
            Ok(stored == 1)
        })
    }

    fn load_chat<'a>(
        &'a self,
        room: &'a str,
        before: Option<&'a str>,
        gap: Option<&'a ChatGap>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Option<Vec<StoredChat>>, SignalingError>> {
        Box::pin(async move {
            let order = self.dialect.insertion_order();
            // Messages are paged by insertion order, below the position of `before`.
            let below = match before {
                None => i64::MAX,
                Some(id) => {
                    let at: Option<i64> = sqlx::query_scalar(&format!(
                        "SELECT {order} FROM chat_messages WHERE id = $1 AND room = $2"
                    ))
                    .bind(id)
                    .bind(room)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(dir_err)?;
                    match at {
                        Some(at) => at,
                        None => return Ok(None),
                    }
                }
            };
            // The gap is the open interval (shared_until, admitted_at) of `sent_at`, which is
            // RFC 3339 UTC with milliseconds and compares as text; without a gap it is empty.
            let (gap_after, gap_before) = match gap {
                Some(g) => (
                    g.shared_until.as_deref().unwrap_or(""),
                    g.admitted_at.as_str(),
                ),
                None => ("", ""),
            };
            let mut rows: Vec<(String, String, Vec<u8>, String)> = sqlx::query_as(&format!(
                "SELECT id, room, sealed, sent_at FROM chat_messages
                 WHERE room = $1 AND {order} < $2 AND NOT (sent_at > $4 AND sent_at < $5)
                 ORDER BY {order} DESC LIMIT $3"
            ))
            .bind(room)
            .bind(below)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(gap_after)
            .bind(gap_before)
            .fetch_all(&self.pool)
            .await
            .map_err(dir_err)?;
            rows.reverse();
            Ok(Some(
                rows.into_iter()
                    .map(|(id, room, sealed, sent_at)| StoredChat {
                        id,
                        room,
                        sealed,
                        sent_at,
                    })
                    .collect(),
            ))
        })
    }

    fn share_chat<'a>(
        &'a self,
        room: &'a str,
        until: &'a str,
    ) -> BoxFuture<'a, Result<(), SignalingError>> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE sessions SET chat_shared_until = $1
                 WHERE id = $2 AND (chat_shared_until IS NULL OR chat_shared_until < $1)",
            )
            .bind(until)
            .bind(room)
            .execute(&self.pool)
            .await
            .map_err(dir_err)?;
            Ok(())
        })
    }

    fn chat_shared_until<'a>(
        &'a self,
        room: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, SignalingError>> {
        Box::pin(async move {
            let until: Option<Option<String>> =
                sqlx::query_scalar("SELECT chat_shared_until FROM sessions WHERE id = $1")
                    .bind(room)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(dir_err)?;
            Ok(until.flatten())
        })
    }
}
