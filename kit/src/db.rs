//! The database pool shared by every capability: one type for SQLite and PostgreSQL, its
//! dialect, opening it with a given set of migrations, and the small helpers every store uses.
//!
//! The migrations themselves belong to the binary that composes the capabilities (it runs
//! them on start); this module only knows how to apply them.

use std::time::Duration;

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

/// The migrations of each dialect: both hold the same versions with the same meaning; only
/// the SQL dialect differs.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    /// Applied to SQLite databases.
    pub sqlite: &'static sqlx::migrate::Migrator,
    /// Applied to PostgreSQL databases.
    pub postgres: &'static sqlx::migrate::Migrator,
}

/// Opens (creating if needed) the database at `url` and applies pending `migrations`.
pub async fn open(url: &str, migrations: Migrations) -> Result<Database, DbError> {
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
        Dialect::Sqlite => migrations.sqlite.run(&pool).await?,
        Dialect::Postgres => migrations.postgres.run(&pool).await?,
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
