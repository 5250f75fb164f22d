//! The SQLite database: opening, migrations, and the signalling [`Directory`] on top of it.

use std::str::FromStr;
use std::time::Duration;

use confidant_signaling::{
    BoxFuture, Directory, Error as SignalingError, LinkTarget, RoomPolicy, StoredChat,
};
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::SqlitePool;

/// Connections in the pool. SQLite serialises writers anyway; a few readers are enough.
const MAX_CONNECTIONS: u32 = 8;
/// How long a statement waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The migrations in `web/migrations`, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Errors opening the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// Connecting failed.
    #[error("database: {0}")]
    Connect(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Opens (creating if needed) the database at `url` and applies pending migrations.
pub async fn open(url: &str) -> Result<SqlitePool, DbError> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    let pool = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Lower-case hex SHA-256 of `s`: how tokens (cookies, join links) are stored.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The signalling [`Directory`] on the database.
#[derive(Debug, Clone)]
pub struct SqlDirectory {
    pool: SqlitePool,
}

impl SqlDirectory {
    /// A directory over `pool`.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
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
            let row: Option<(String, bool)> = sqlx::query_as(
                "SELECT s.id, c.allow_unencrypted_join FROM sessions s
                 JOIN counsellors c ON c.id = s.counsellor_id
                 WHERE s.link_hash = ? AND s.revoked_at IS NULL AND s.ended_at IS NULL AND s.expires_at > ?",
            )
            .bind(sha256_hex(link))
            .bind(now_ms())
            .fetch_optional(&self.pool)
            .await
            .map_err(dir_err)?;
            Ok(row.map(|(room, allow_unencrypted)| LinkTarget {
                room,
                policy: RoomPolicy { allow_unencrypted },
            }))
        })
    }

    fn room_policy<'a>(
        &'a self,
        room: &'a str,
    ) -> BoxFuture<'a, Result<Option<RoomPolicy>, SignalingError>> {
        Box::pin(async move {
            let open: Option<bool> = sqlx::query_scalar(
                "SELECT c.allow_unencrypted_join FROM sessions s
                 JOIN counsellors c ON c.id = s.counsellor_id
                 WHERE s.id = ? AND s.ended_at IS NULL AND s.expires_at > ?",
            )
            .bind(room)
            .bind(now_ms())
            .fetch_optional(&self.pool)
            .await
            .map_err(dir_err)?;
            Ok(open.map(|allow_unencrypted| RoomPolicy { allow_unencrypted }))
        })
    }

    fn end_room<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<(), SignalingError>> {
        Box::pin(async move {
            sqlx::query("UPDATE sessions SET ended_at = COALESCE(ended_at, ?) WHERE id = ?")
                .bind(now_ms())
                .bind(room)
                .execute(&self.pool)
                .await
                .map_err(dir_err)?;
            Ok(())
        })
    }

    fn save_chat<'a>(&'a self, chat: StoredChat) -> BoxFuture<'a, Result<(), SignalingError>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO chat_messages (id, room, sealed, sent_at) VALUES (?, ?, ?, ?)",
            )
            .bind(&chat.id)
            .bind(&chat.room)
            .bind(&chat.sealed)
            .bind(&chat.sent_at)
            .execute(&self.pool)
            .await
            .map_err(dir_err)?;
            Ok(())
        })
    }

    fn load_chat<'a>(
        &'a self,
        room: &'a str,
    ) -> BoxFuture<'a, Result<Vec<StoredChat>, SignalingError>> {
        Box::pin(async move {
            let rows: Vec<(String, String, Vec<u8>, String)> = sqlx::query_as(
                "SELECT id, room, sealed, sent_at FROM chat_messages WHERE room = ? ORDER BY rowid",
            )
            .bind(room)
            .fetch_all(&self.pool)
            .await
            .map_err(dir_err)?;
            Ok(rows
                .into_iter()
                .map(|(id, room, sealed, sent_at)| StoredChat {
                    id,
                    room,
                    sealed,
                    sent_at,
                })
                .collect())
        })
    }
}
