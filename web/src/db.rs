//! The database of this server: its migrations (run on start). The pool, dialect and helpers
//! are the kit's ([`confidant_kit::db`]), re-exported here.

pub use confidant_kit::db::*;

/// The migrations of each dialect, embedded at build time. Both folders hold the same versions
/// with the same meaning; only the SQL dialect differs.
pub static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
/// See [`SQLITE_MIGRATOR`].
pub static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// This server's migrations, for [`confidant_kit::db::open`].
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE_MIGRATOR,
    postgres: &POSTGRES_MIGRATOR,
};

/// Opens (creating if needed) the database at `url` and applies this server's pending
/// migrations.
pub async fn open(url: &str) -> Result<Database, DbError> {
    confidant_kit::db::open(url, MIGRATIONS).await
}
