//! The one audit log of the server: who (person and role, the system, a client), did what (a
//! closed set of [`Action`]s with stable codes), to what ([`Object`]), when, and from where
//! (the anonymised network, never the full address). Every capability records through
//! [`record`] (or [`append`] inside its own transaction); nothing else writes the tables.
//!
//! The log is append-only and hash-chained, like the signature ceremony's audit trail: entry
//! `n` carries the hash of entry `n − 1`, and its own hash is
//!
//! ```text
//! hash = SHA-256( "confidant-audit-log-v1\0"
//!                 || seq u64 BE || at_ms i64 BE
//!                 || str(actor_kind) || opt(actor_id) || opt(actor_role)
//!                 || str(action code) || opt(object_kind) || opt(object_id) || opt(ip_network)
//!                 || prev_hash 32 bytes )
//! str(s) = u32 BE length || UTF-8 bytes;  opt(None) = 0x00;  opt(Some(s)) = 0x01 || str(s)
//! mac  = HMAC-SHA-256( key, "entry\0" || hash )
//! ```
//!
//! The first entry's `prev_hash` is [`genesis_hash`]. `key` is derived from the vault
//! ([`AuditKey::from_vault`]), so someone who can write to the database but has not the data
//! directory's key cannot re-chain forged entries: the chain alone detects an altered, removed
//! or reordered entry, the MAC detects a chain recomputed without the key. The head row (last
//! entry, and the checkpoint the chain starts from after retention removed older entries) is
//! MACed too, so cutting entries off either end is detected. See docs/AUDIT.md.
//!
//! The pure parts ([`entry_hash`], [`verify_chain`]) take everything as arguments; the
//! functions over the database are a thin shell around them.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use crate::db::Db;
use crate::error::AppError;
use crate::ratelimit::Network;
use crate::Vault;

/// Domain separation of entry hashes. Changing it (or the encoding) is a new version.
const ENTRY_DOMAIN: &[u8] = b"confidant-audit-log-v1\0";
/// What the genesis hash is the SHA-256 of (also written into migration 0020).
const GENESIS_INPUT: &[u8] = b"confidant-audit-log-genesis-v1";
/// Vault purpose of the MAC key (a raw secret, see [`Vault::derive_secret`]).
pub const KEY_PURPOSE: &str = "audit-log";
/// Entries read per query while verifying, so a long log is never loaded at once.
const VERIFY_PAGE: i64 = 1_000;
/// Longest id or object id stored, characters (ids are UUIDs or short codes).
const MAX_ID_CHARS: usize = 200;

type HmacSha256 = Hmac<Sha256>;

/// What happened. The codes ([`Action::code`]) are stored and never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// A person logged in.
    Login,
    /// A login was refused (wrong password or unknown address).
    LoginFailed,
    /// A person logged out.
    Logout,
    /// A person changed their password.
    PasswordChanged,
    /// A login session was ended by someone other than its holder (or by a password change).
    SessionRevoked,
    /// The centre's profile was changed.
    CentreProfileChanged,
    /// Staff verified a signature's evidence.
    SignatureVerified,
    /// Staff read a client's data (booking details, messages).
    ClientDataRead,
    /// Data was exported (privacy export).
    Export,
    /// Data was erased (privacy erasure).
    Erasure,
    /// A setting was changed.
    SettingsChanged,
    /// Retention removed old entries of this log.
    AuditPruned,
}

impl Action {
    /// Every action, for parsing and documentation.
    pub const ALL: [Action; 12] = [
        Action::Login,
        Action::LoginFailed,
        Action::Logout,
        Action::PasswordChanged,
        Action::SessionRevoked,
        Action::CentreProfileChanged,
        Action::SignatureVerified,
        Action::ClientDataRead,
        Action::Export,
        Action::Erasure,
        Action::SettingsChanged,
        Action::AuditPruned,
    ];

    /// The stable code stored in the log.
    pub fn code(self) -> &'static str {
        match self {
            Action::Login => "login",
            Action::LoginFailed => "login_failed",
            Action::Logout => "logout",
            Action::PasswordChanged => "password_changed",
            Action::SessionRevoked => "session_revoked",
            Action::CentreProfileChanged => "centre_profile_changed",
            Action::SignatureVerified => "signature_verified",
            Action::ClientDataRead => "client_data_read",
            Action::Export => "export",
            Action::Erasure => "erasure",
            Action::SettingsChanged => "settings_changed",
            Action::AuditPruned => "audit_pruned",
        }
    }

    /// The action with this code.
    pub fn from_code(code: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.code() == code)
    }
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A member of staff, by id, with their role at the time (today always `counsellor`).
    Person {
        /// The person's id.
        id: String,
        /// Their role when they acted.
        role: String,
    },
    /// A client (a booking, a walk-in guest), by an opaque id where there is one.
    Client {
        /// The client's opaque id, if known.
        id: Option<String>,
    },
    /// The server itself (jobs) or its operator through the command line.
    System,
    /// Nobody known (a failed login for an unknown address).
    Anonymous,
}

impl Actor {
    /// A counsellor (the one role that exists today).
    pub fn counsellor(id: impl Into<String>) -> Self {
        Actor::Person {
            id: id.into(),
            role: "counsellor".into(),
        }
    }

    fn columns(&self) -> (&'static str, Option<&str>, Option<&str>) {
        match self {
            Actor::Person { id, role } => ("person", Some(id), Some(role)),
            Actor::Client { id } => ("client", id.as_deref(), None),
            Actor::System => ("system", None, None),
            Actor::Anonymous => ("anonymous", None, None),
        }
    }

    fn from_columns(kind: &str, id: Option<String>, role: Option<String>) -> Option<Self> {
        Some(match kind {
            "person" => Actor::Person {
                id: id?,
                role: role?,
            },
            "client" => Actor::Client { id },
            "system" => Actor::System,
            "anonymous" => Actor::Anonymous,
            _ => return None,
        })
    }
}

/// What it was done to: a kind (`counsellor`, `centre_profile`, `booking`, …) and an id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Object {
    /// The kind of object.
    pub kind: String,
    /// Its id (never a name or address).
    pub id: String,
}

impl Object {
    /// An object of `kind` with `id`.
    pub fn new(kind: impl Into<String>, id: impl Into<String>) -> Self {
        Object {
            kind: kind.into(),
            id: id.into(),
        }
    }
}

/// An entry to append: the caller gives the time and the raw address; the log stores only
/// the address's network.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// When, milliseconds since the epoch.
    pub at_ms: i64,
    /// Who.
    pub actor: Actor,
    /// What.
    pub action: Action,
    /// To what, if anything.
    pub object: Option<Object>,
    /// From where (anonymised before it is stored).
    pub ip: Option<IpAddr>,
}

impl NewEntry {
    /// An entry by `actor` at `at_ms`, without object or address.
    pub fn new(at_ms: i64, actor: Actor, action: Action) -> Self {
        NewEntry {
            at_ms,
            actor,
            action,
            object: None,
            ip: None,
        }
    }

    /// With an object.
    pub fn object(mut self, object: Object) -> Self {
        self.object = Some(object);
        self
    }

    /// With the client's address (stored as its /24 or /48 network).
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When, milliseconds since the epoch.
    pub at_ms: i64,
    /// Who.
    pub actor: Actor,
    /// What (its code; an unknown code from a newer version is kept as written).
    pub action: String,
    /// To what.
    pub object: Option<Object>,
    /// From which network (`192.0.2.0/24`, `2001:db8:1::/48`).
    pub ip_network: Option<String>,
    /// Hash of the entry before (hex).
    pub prev_hash: String,
    /// Hash of this entry (hex), see the module docs.
    pub hash: String,
    /// HMAC of `hash` (hex).
    pub mac: String,
}

/// The key that MACs the chain, derived from the vault.
#[derive(Clone)]
pub struct AuditKey([u8; 32]);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

impl AuditKey {
    /// The log's key from the vault (purpose [`KEY_PURPOSE`]).
    pub fn from_vault(vault: &Vault) -> Self {
        AuditKey(vault.derive_secret(KEY_PURPOSE))
    }

    /// A key from raw bytes (tests, tools).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        AuditKey(bytes)
    }

    fn mac(&self, label: &[u8], parts: &[&[u8]]) -> String {
        // HMAC takes keys of any length; 32 bytes is never refused.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(label);
        for p in parts {
            mac.update(p);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    fn entry_mac(&self, hash: &str) -> String {
        self.mac(b"entry\0", &[hash.as_bytes()])
    }

    fn head_mac(&self, head: &Head) -> String {
        self.mac(
            b"head\0",
            &[
                &head.last_seq.to_be_bytes(),
                head.last_hash.as_bytes(),
                &head.base_seq.to_be_bytes(),
                head.base_hash.as_bytes(),
            ],
        )
    }
}

/// The chain's head row: the last entry and the checkpoint the kept chain starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Sequence number of the last entry (0: none yet).
    pub last_seq: u64,
    /// Its hash (the genesis hash when there is none).
    pub last_hash: String,
    /// The first entry kept (1 until retention removed some).
    pub base_seq: u64,
    /// The hash before it: genesis, or the last removed entry's hash.
    pub base_hash: String,
    /// HMAC over the four values ('' before the first append).
    pub mac: String,
}

/// The hash before the first entry: hex SHA-256 of `confidant-audit-log-genesis-v1`.
pub fn genesis_hash() -> String {
    hex::encode(Sha256::digest(GENESIS_INPUT))
}

fn put_str(h: &mut Sha256, s: &str) {
    // Ids are bounded on append; saturate for rows written by someone else.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    h.update(len.to_be_bytes());
    h.update(s.as_bytes());
}

fn put_opt(h: &mut Sha256, s: Option<&str>) {
    match s {
        None => h.update([0u8]),
        Some(s) => {
            h.update([1u8]);
            put_str(h, s);
        }
    }
}

/// The hash an entry must carry, from its fields and `prev_hash` (see the module docs). A
/// `prev_hash` that is not 64 hex digits is hashed as given, so it can never match.
pub fn entry_hash(e: &Entry) -> String {
    let mut h = Sha256::new();
    h.update(ENTRY_DOMAIN);
    h.update(e.seq.to_be_bytes());
    h.update(e.at_ms.to_be_bytes());
    let (kind, id, role) = e.actor.columns();
    put_str(&mut h, kind);
    put_opt(&mut h, id);
    put_opt(&mut h, role);
    put_str(&mut h, &e.action);
    put_opt(&mut h, e.object.as_ref().map(|o| o.kind.as_str()));
    put_opt(&mut h, e.object.as_ref().map(|o| o.id.as_str()));
    put_opt(&mut h, e.ip_network.as_deref());
    match hex::decode(&e.prev_hash) {
        Ok(bytes) if bytes.len() == 32 => h.update(&bytes),
        _ => h.update(e.prev_hash.as_bytes()),
    }
    hex::encode(h.finalize())
}

/// Why the chain does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The entry expected at this number is missing (removed, or the rows are out of order).
    Missing,
    /// The entry does not follow its predecessor (`prev_hash` differs): reordered, or an
    /// entry before it was removed and the rest renumbered.
    NotLinked,
    /// A field was changed after the entry was written (its hash no longer matches).
    Altered,
    /// The hash matches but the MAC does not: the chain was recomputed without the key.
    NotSigned,
    /// The head row does not match the last entry or its MAC: entries were cut off the end,
    /// or the checkpoint was moved to hide entries removed from the start.
    HeadMismatch,
}

/// Where and why the chain breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Break {
    /// The first entry number that fails.
    pub seq: u64,
    /// Why.
    pub kind: BreakKind,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self.kind {
            BreakKind::Missing => "is missing",
            BreakKind::NotLinked => "does not follow the entry before it",
            BreakKind::Altered => "was altered (its hash does not match its fields)",
            BreakKind::NotSigned => "was re-chained without the key (its MAC does not match)",
            BreakKind::HeadMismatch => {
                "does not match the log's head (entries cut off the end or the checkpoint moved)"
            }
        };
        write!(f, "audit log broken at entry {}: it {why}", self.seq)
    }
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// The first entry kept (entries before it were removed by retention; the chain verifies
    /// from the checkpoint they left).
    pub first_seq: u64,
    /// The last entry (`first_seq − 1` when the log is empty).
    pub last_seq: u64,
    /// Entries checked.
    pub entries: u64,
}

/// Walks a chain incrementally: feed it the entries in order, then [`ChainWalk::finish`].
/// Pure; [`verify`] drives it from the database page by page.
#[derive(Debug)]
pub struct ChainWalk<'k> {
    key: &'k AuditKey,
    head: Head,
    expected: u64,
    prev: String,
    checked: u64,
}

impl<'k> ChainWalk<'k> {
    /// A walk of the chain `head` describes.
    pub fn new(key: &'k AuditKey, head: Head) -> Self {
        ChainWalk {
            key,
            expected: head.base_seq,
            prev: head.base_hash.clone(),
            head,
            checked: 0,
        }
    }

    /// Checks the next entry.
    pub fn next(&mut self, e: &Entry) -> Result<(), Break> {
        let at = |kind| Break {
            seq: self.expected,
            kind,
        };
        if e.seq != self.expected {
            return Err(at(BreakKind::Missing));
        }
        if e.prev_hash != self.prev {
            return Err(at(BreakKind::NotLinked));
        }
        let hash = entry_hash(e);
        if hash != e.hash {
            return Err(at(BreakKind::Altered));
        }
        if self.key.entry_mac(&hash) != e.mac {
            return Err(at(BreakKind::NotSigned));
        }
        self.prev = hash;
        self.expected += 1;
        self.checked += 1;
        Ok(())
    }

    /// Checks that the entries seen end where the head says, and the head's MAC.
    pub fn finish(self) -> Result<Verified, Break> {
        let at = Break {
            seq: self.expected,
            kind: BreakKind::HeadMismatch,
        };
        let last = self.expected - 1;
        if last != self.head.last_seq || self.prev != self.head.last_hash {
            return Err(at);
        }
        let fresh = self.head.mac.is_empty()
            && self.head.last_seq == 0
            && self.head.base_seq == 1
            && self.head.base_hash == genesis_hash();
        if !fresh && self.key.head_mac(&self.head) != self.head.mac {
            return Err(at);
        }
        Ok(Verified {
            first_seq: self.head.base_seq,
            last_seq: last,
            entries: self.checked,
        })
    }
}

/// Verifies a whole chain held in memory (see [`ChainWalk`]).
pub fn verify_chain(key: &AuditKey, head: Head, entries: &[Entry]) -> Result<Verified, Break> {
    let mut walk = ChainWalk::new(key, head);
    for e in entries {
        walk.next(e)?;
    }
    walk.finish()
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn checked_id(field: &str, id: &str) -> Result<(), AppError> {
    if id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control) {
        return Err(AppError::Internal(format!(
            "audit {field} is not an id (too long or has control characters)"
        )));
    }
    Ok(())
}

/// Locks the head row for the rest of the transaction (PostgreSQL: a row lock; SQLite: the
/// database's write lock, taken by the first write) and reads it.
async fn lock_head(conn: &mut AnyConnection) -> Result<Head, AppError> {
    sqlx::query("UPDATE audit_head SET last_seq = last_seq WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    read_head(conn).await
}

async fn read_head(conn: &mut AnyConnection) -> Result<Head, AppError> {
    let (last_seq, last_hash, base_seq, base_hash, mac): (i64, String, i64, String, String) =
        sqlx::query_as(
            "SELECT last_seq, last_hash, base_seq, base_hash, mac FROM audit_head WHERE id = 1",
        )
        .fetch_one(&mut *conn)
        .await?;
    Ok(Head {
        last_seq: to_u64(last_seq),
        last_hash,
        base_seq: to_u64(base_seq),
        base_hash,
        mac,
    })
}

async fn write_head(
    conn: &mut AnyConnection,
    key: &AuditKey,
    mut head: Head,
) -> Result<(), AppError> {
    head.mac = key.head_mac(&head);
    sqlx::query(
        "UPDATE audit_head SET last_seq = $1, last_hash = $2, base_seq = $3, base_hash = $4, \
         mac = $5 WHERE id = 1",
    )
    .bind(to_i64(head.last_seq))
    .bind(&head.last_hash)
    .bind(to_i64(head.base_seq))
    .bind(&head.base_hash)
    .bind(&head.mac)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Appends `entry` inside the caller's transaction (so that the action and its record commit
/// together) and returns its sequence number. Serialised against every other append by the
/// head row's lock, held until the caller commits.
pub async fn append(
    conn: &mut AnyConnection,
    key: &AuditKey,
    entry: NewEntry,
) -> Result<u64, AppError> {
    let (kind, id, role) = entry.actor.columns();
    for (field, value) in [
        ("actor id", id),
        ("actor role", role),
        (
            "object kind",
            entry.object.as_ref().map(|o| o.kind.as_str()),
        ),
        ("object id", entry.object.as_ref().map(|o| o.id.as_str())),
    ] {
        if let Some(v) = value {
            checked_id(field, v)?;
        }
    }
    let head = lock_head(conn).await?;
    let mut stored = Entry {
        seq: head.last_seq + 1,
        at_ms: entry.at_ms,
        actor: entry.actor.clone(),
        action: entry.action.code().to_owned(),
        object: entry.object,
        ip_network: entry.ip.map(|ip| Network::of(ip).to_string()),
        prev_hash: head.last_hash.clone(),
        hash: String::new(),
        mac: String::new(),
    };
    stored.hash = entry_hash(&stored);
    stored.mac = key.entry_mac(&stored.hash);
    sqlx::query(
        "INSERT INTO audit_log (seq, at_ms, actor_kind, actor_id, actor_role, action, \
         object_kind, object_id, ip_network, prev_hash, hash, mac) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(to_i64(stored.seq))
    .bind(stored.at_ms)
    .bind(kind)
    .bind(id)
    .bind(role)
    .bind(&stored.action)
    .bind(stored.object.as_ref().map(|o| o.kind.as_str()))
    .bind(stored.object.as_ref().map(|o| o.id.as_str()))
    .bind(stored.ip_network.as_deref())
    .bind(&stored.prev_hash)
    .bind(&stored.hash)
    .bind(&stored.mac)
    .execute(&mut *conn)
    .await?;
    write_head(
        conn,
        key,
        Head {
            last_seq: stored.seq,
            last_hash: stored.hash,
            ..head
        },
    )
    .await?;
    Ok(stored.seq)
}

/// Appends `entry` in a transaction of its own and returns its sequence number. A failure is
/// returned, never swallowed: callers recording a security-relevant action fail the request
/// with it (see docs/AUDIT.md).
pub async fn record(db: &Db, key: &AuditKey, entry: NewEntry) -> Result<u64, AppError> {
    let mut tx = db.begin().await?;
    let seq = append(&mut tx, key, entry).await?;
    tx.commit().await?;
    Ok(seq)
}

/// The log's handle a capability keeps: the database and the key. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditLog {
    /// The database.
    pub db: Db,
    /// The chain's key.
    pub key: AuditKey,
}

impl AuditLog {
    /// The log of `base`.
    pub fn new(base: &crate::Base) -> Self {
        AuditLog {
            db: base.db.clone(),
            key: AuditKey::from_vault(&base.vault),
        }
    }

    /// [`record`] on this log.
    pub async fn record(&self, entry: NewEntry) -> Result<u64, AppError> {
        record(&self.db, &self.key, entry).await
    }
}

type Row = (
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
);

const COLUMNS: &str = "seq, at_ms, actor_kind, actor_id, actor_role, action, object_kind, \
                       object_id, ip_network, prev_hash, hash, mac";

fn from_row(r: Row) -> Entry {
    let (seq, at_ms, kind, id, role, action, okind, oid, ip, prev_hash, hash, mac) = r;
    // A row whose actor cannot be read back fails verification (its hash is over the columns
    // as written, which `Anonymous` does not reproduce).
    let actor = Actor::from_columns(&kind, id, role).unwrap_or(Actor::Anonymous);
    let object = match (okind, oid) {
        (Some(kind), Some(id)) => Some(Object { kind, id }),
        _ => None,
    };
    Entry {
        seq: to_u64(seq),
        at_ms,
        actor,
        action,
        object,
        ip_network: ip,
        prev_hash,
        hash,
        mac,
    }
}

/// Walks the whole stored chain, page by page, and reports where it first breaks.
/// The outer error is a database failure; the inner one the break.
pub async fn verify(db: &Db, key: &AuditKey) -> Result<Result<Verified, Break>, AppError> {
    // One snapshot for the whole walk, so an append or a retention round meanwhile cannot make
    // an intact chain look broken: a read transaction is a snapshot on SQLite (WAL) from its
    // first read; PostgreSQL needs REPEATABLE READ for that.
    let mut conn = db.begin().await?;
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *conn)
            .await?;
    }
    let head = read_head(&mut conn).await?;
    let mut walk = ChainWalk::new(key, head.clone());
    let mut after: i64 = 0;
    loop {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"
        ))
        .bind(after)
        .bind(to_i64(head.last_seq))
        .bind(VERIFY_PAGE)
        .fetch_all(&mut *conn)
        .await?;
        let Some(last) = rows.last().map(|r| r.0) else {
            break;
        };
        for row in rows {
            if let Err(b) = walk.next(&from_row(row)) {
                return Ok(Err(b));
            }
        }
        after = last;
    }
    Ok(walk.finish())
}

/// Which entries [`list`] returns.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only entries at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only this action.
    pub action: Option<Action>,
    /// Only entries by this person or client id.
    pub actor_id: Option<String>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// Entries matching `filter`, newest first.
pub async fn list(db: &Db, filter: &Filter) -> Result<Vec<Entry>, AppError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_log WHERE at_ms >= $1 AND ($2 = '' OR action = $2) \
         AND ($3 = '' OR actor_id = $3) ORDER BY seq DESC LIMIT $4"
    ))
    .bind(filter.since_ms.unwrap_or(i64::MIN))
    .bind(filter.action.map(Action::code).unwrap_or(""))
    .bind(filter.actor_id.as_deref().unwrap_or(""))
    .bind(i64::from(filter.limit))
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// Removes the entries older than `cutoff_ms` from the start of the chain (up to the first
/// entry at or after it, so the kept chain stays contiguous), moves the checkpoint to the last
/// removed entry's hash, and records an `audit_pruned` entry by the system. Returns how many
/// were removed. The kept chain verifies from the checkpoint.
pub async fn prune(db: &Db, key: &AuditKey, cutoff_ms: i64, now_ms: i64) -> Result<u64, AppError> {
    let mut tx = db.begin().await?;
    let head = lock_head(&mut tx).await?;
    let first_kept: Option<i64> =
        sqlx::query_scalar("SELECT MIN(seq) FROM audit_log WHERE at_ms >= $1")
            .bind(cutoff_ms)
            .fetch_one(&mut *tx)
            .await?;
    let first_kept = first_kept.map_or(head.last_seq + 1, to_u64);
    if first_kept <= head.base_seq {
        return Ok(0);
    }
    let base_hash = if first_kept > head.last_seq {
        head.last_hash.clone()
    } else {
        sqlx::query_scalar("SELECT prev_hash FROM audit_log WHERE seq = $1")
            .bind(to_i64(first_kept))
            .fetch_one(&mut *tx)
            .await?
    };
    let removed = sqlx::query("DELETE FROM audit_log WHERE seq < $1")
        .bind(to_i64(first_kept))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    write_head(
        &mut tx,
        key,
        Head {
            base_seq: first_kept,
            base_hash,
            ..head
        },
    )
    .await?;
    append(
        &mut tx,
        key,
        NewEntry::new(now_ms, Actor::System, Action::AuditPruned)
            .object(Object::new("audit_log", format!("before-{first_kept}"))),
    )
    .await?;
    tx.commit().await?;
    Ok(removed)
}

/// How often the retention job runs. Retention is counted in days; hourly is plenty.
pub const RETENTION_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60 * 60);
/// Milliseconds in a day.
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The background job that removes entries older than `retention_days` every
/// [`RETENTION_INTERVAL`] (see [`prune`]). A failed round is logged and retried next round.
pub fn retention_job(log: AuditLog, retention_days: u32) -> crate::scheduler::Job {
    crate::scheduler::Job::new("audit-retention", RETENTION_INTERVAL, move || {
        let log = log.clone();
        async move {
            let now = crate::db::now_ms();
            let cutoff = now - i64::from(retention_days) * DAY_MS;
            match prune(&log.db, &log.key, cutoff, now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "audit log retention round"),
                Err(e) => tracing::error!(error = %e, "audit log retention round failed"),
            }
            crate::scheduler::Pace::OnSchedule
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuditKey {
        AuditKey::from_bytes([7; 32])
    }

    fn chain(n: u64, key: &AuditKey) -> (Head, Vec<Entry>) {
        let mut prev = genesis_hash();
        let mut out = Vec::new();
        for seq in 1..=n {
            let mut e = Entry {
                seq,
                at_ms: 1_000 * seq as i64,
                actor: Actor::counsellor(format!("c{seq}")),
                action: Action::Login.code().into(),
                object: Some(Object::new("counsellor", format!("c{seq}"))),
                ip_network: Some("192.0.2.0/24".into()),
                prev_hash: prev.clone(),
                hash: String::new(),
                mac: String::new(),
            };
            e.hash = entry_hash(&e);
            e.mac = key.entry_mac(&e.hash);
            prev = e.hash.clone();
            out.push(e);
        }
        let mut head = Head {
            last_seq: n,
            last_hash: prev,
            base_seq: 1,
            base_hash: genesis_hash(),
            mac: String::new(),
        };
        head.mac = key.head_mac(&head);
        (head, out)
    }

    #[test]
    fn the_encoding_separates_fields_and_absent_from_empty() {
        let (_, entries) = chain(1, &key());
        let e = entries[0].clone();
        // Moving a character from one field to the next changes the hash.
        let mut moved = e.clone();
        moved.object = Some(Object::new("counsellorc", "1"));
        assert_ne!(entry_hash(&moved), entry_hash(&e));
        let mut none = e.clone();
        none.ip_network = None;
        let mut empty = e.clone();
        empty.ip_network = Some(String::new());
        assert_ne!(entry_hash(&none), entry_hash(&empty));
        // Stable: the same fields give the same hash.
        assert_eq!(entry_hash(&e.clone()), e.hash);
    }

    /// Where a five-entry chain breaks after `edit`.
    fn broken_by(edit: impl FnOnce(&mut Head, &mut Vec<Entry>)) -> Break {
        let (mut head, mut entries) = chain(5, &key());
        edit(&mut head, &mut entries);
        verify_chain(&key(), head, &entries).unwrap_err()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let (head, entries) = chain(5, &key());
        let v = verify_chain(&key(), head, &entries).unwrap();
        assert_eq!((v.first_seq, v.last_seq, v.entries), (1, 5, 5));
    }

    #[test]
    fn an_altered_field_is_found_at_its_entry() {
        let b = broken_by(|_, entries| entries[2].at_ms += 1);
        assert_eq!((b.seq, b.kind), (3, BreakKind::Altered));
    }

    #[test]
    fn a_removed_entry_is_found_at_its_number() {
        let b = broken_by(|_, entries| {
            entries.remove(1);
        });
        assert_eq!((b.seq, b.kind), (2, BreakKind::Missing));
    }

    #[test]
    fn reordered_entries_are_found() {
        let b = broken_by(|_, entries| entries.swap(1, 2));
        assert_eq!(b.seq, 2);
    }

    #[test]
    fn a_chain_recomputed_without_the_key_is_found() {
        let (_, mut entries) = chain(5, &key());
        let (head, forged) = {
            // The forger edits entry 2 and re-chains with a key of their own.
            entries[1].actor = Actor::counsellor("someone-else");
            let other = AuditKey::from_bytes([9; 32]);
            let mut prev = entries[0].hash.clone();
            for e in entries.iter_mut().skip(1) {
                e.prev_hash = prev.clone();
                e.hash = entry_hash(e);
                e.mac = other.entry_mac(&e.hash);
                prev = e.hash.clone();
            }
            let mut head = Head {
                last_seq: 5,
                last_hash: prev,
                base_seq: 1,
                base_hash: genesis_hash(),
                mac: String::new(),
            };
            head.mac = other.head_mac(&head);
            (head, entries)
        };
        let b = verify_chain(&key(), head, &forged).unwrap_err();
        assert_eq!((b.seq, b.kind), (2, BreakKind::NotSigned));
    }

    #[test]
    fn entries_cut_off_the_end_are_found() {
        let b = broken_by(|_, entries| entries.truncate(3));
        assert_eq!((b.seq, b.kind), (4, BreakKind::HeadMismatch));
    }

    #[test]
    fn a_moved_checkpoint_without_the_key_is_found() {
        let (mut head, entries) = chain(5, &key());
        head.base_seq = 3;
        head.base_hash = entries[1].hash.clone();
        let b = verify_chain(&key(), head, &entries[2..]).unwrap_err();
        assert_eq!(b.kind, BreakKind::HeadMismatch);
    }

    #[test]
    fn a_chain_verifies_from_its_checkpoint() {
        let k = key();
        let (mut head, entries) = chain(5, &k);
        head.base_seq = 3;
        head.base_hash = entries[1].hash.clone();
        head.mac = k.head_mac(&head);
        let v = verify_chain(&k, head, &entries[2..]).unwrap();
        assert_eq!((v.first_seq, v.last_seq, v.entries), (3, 5, 3));
    }

    #[test]
    fn action_codes_round_trip() {
        for a in Action::ALL {
            assert_eq!(Action::from_code(a.code()), Some(a));
        }
        assert_eq!(Action::from_code("nope"), None);
    }
}
