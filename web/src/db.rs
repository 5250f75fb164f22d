//! The SQLite database: opening, migrations, and the signalling [`Directory`] on top of it.

use std::time::Duration;

use confidant_signaling::{
    BoxFuture, ChatCap, Directory, Error as SignalingError, LinkTarget, RoomPolicy, StoredChat,
};
use sha2::{Digest, Sha256};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

/// Connections in the pool. SQLite serialises writers anyway; a few readers are enough, and a
/// PostgreSQL server shared by several nodes should not be flooded either.
const MAX_CONNECTIONS: u32 = 8;
/// How long a SQLite statement waits for a lock held by another connection, in milliseconds.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;
/// How long to wait for a free pool connection before a request fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The migrations of each dialect, embedded at build time. Both folders hold the same versions
/// with the same meaning; only the SQL dialect differs.
pub static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
/// See [`SQLITE_MIGRATOR`].
pub static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The database pool. One type for both backends: every query is written once, in the subset
/// of SQL both dialects share, with `$1, $2, …` placeholders numbered in order of first use
/// (SQLite numbers `$N` parameters by first appearance). Flags are stored and bound as integer
/// 0/1 and times as integer milliseconds, because the `Any` driver maps no boolean or date type
/// on SQLite.
pub type Db = AnyPool;

/// Which SQL dialect a [`Db`] speaks, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The embedded default.
    Sqlite,
    /// `DATABASE_URL=postgres://…`, for several nodes.
    Postgres,
}

impl Dialect {
    /// The dialect of a database URL, if it is one we support.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }

    /// The column that orders rows by insertion (`rowid` on SQLite, a `BIGSERIAL` on
    /// PostgreSQL).
    pub fn insertion_order(self) -> &'static str {
        match self {
            Self::Sqlite => "rowid",
            Self::Postgres => "seq",
        }
    }
}

/// Errors opening the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The URL names no supported database.
    #[error("database URL must start with sqlite: or postgres://")]
    UnsupportedUrl,
    /// Connecting failed.
    #[error("database: {0}")]
    Connect(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// An open, migrated database.
#[derive(Debug, Clone)]
pub struct Database {
    /// The pool.
    pub pool: Db,
    /// Its dialect.
    pub dialect: Dialect,
}

/// Opens (creating if needed) the database at `url` and applies pending migrations.
pub async fn open(url: &str) -> Result<Database, DbError> {
    sqlx::any::install_default_drivers();
    let dialect = Dialect::of_url(url).ok_or(DbError::UnsupportedUrl)?;
    let mut options = AnyPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT);
    if dialect == Dialect::Sqlite {
        // The Any driver only takes a URL, so the per-connection settings are pragmas.
        options = options.after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute(
                    format!(
                        "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
                         PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                    )
                    .as_str(),
                )
                .await?;
                Ok(())
            })
        });
    }
    let pool = options.connect(url).await?;
    match dialect {
        Dialect::Sqlite => SQLITE_MIGRATOR.run(&pool).await?,
        Dialect::Postgres => POSTGRES_MIGRATOR.run(&pool).await?,
    }
    Ok(Database { pool, dialect })
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
            let mut rows: Vec<(String, String, Vec<u8>, String)> = sqlx::query_as(&format!(
                "SELECT id, room, sealed, sent_at FROM chat_messages
                 WHERE room = $1 AND {order} < $2 ORDER BY {order} DESC LIMIT $3"
            ))
            .bind(room)
            .bind(below)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
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
}
