//! Outgoing mail: a queue in the database and a worker that delivers it over SMTP (lettre).
//!
//! Mail is never sent from a request handler. Handlers [`enqueue`] it in the same transaction
//! as the change it reports (a booking, a cancellation), so an SMTP outage, a crash or a restart
//! loses nothing. The worker ([`deliver_next`], run one mail after the other by
//! [`job`] at `--mail-rate-per-minute` through lettre's pooled connection):
//!
//! 1. claims the next due mail with one atomic statement (`FOR UPDATE SKIP LOCKED` on
//!    PostgreSQL), leasing it from that moment for longer than a send may take (the send is cut
//!    off at its deadline, [`DeliverySettings::send_deadline`]), so no worker on any node can
//!    take a mail another is still sending;
//! 2. sends it, then marks it `sent`;
//! 3. on a permanent failure (SMTP 5xx) marks it `failed` at once, with the reason; on a
//!    temporary one (4xx, no connection, a timeout) backs off (30 s doubling up to 5 min) and
//!    marks it `failed` once `--mail-retry-hours` have passed since its first failure. When a
//!    send succeeds, mails that waited only because the server was unreachable are due at once.
//!
//! A failed mail shows on its booking (client mail) or in the counsellor's workspace
//! (notifications), where it can be resent to a corrected address or marked as dealt with
//! (the booking capability's mail failures).
//!
//! A mail is therefore sent at least once and, short of a crash between the SMTP server's
//! acceptance and the `UPDATE` that records it, exactly once. Recipient and content are sealed
//! at rest (vault purpose `mail`, associated data: the mail id); `last_error` keeps only the
//! SMTP status, never an address.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::scheduler::{Job, Pace};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use std::path::PathBuf;

use crate::db::{now_ms, Db, Dialect};
use crate::error::AppError;
use crate::tls::Trust;
use clap::ValueEnum;
use confidant_vault::PurposeKey;

/// Vault purpose of queued mail.
pub const MAIL_PURPOSE: &str = "mail";

/// The outgoing-mail queue as the server runs it: where mail is queued, how it is sealed, the
/// sender address and, when one is configured, the SMTP server it is delivered to. Cheap to
/// clone.
#[derive(Clone)]
pub struct Mailer {
    /// The database holding the queue (`mail_outbox`).
    pub db: Db,
    /// Its dialect (the claim statement differs).
    pub dialect: Dialect,
    /// Seals recipient and content at rest (vault purpose [`MAIL_PURPOSE`]).
    pub key: std::sync::Arc<PurposeKey>,
    /// The sender address (`--mail-from`).
    pub from: String,
    /// Retry and pacing.
    pub delivery: DeliverySettings,
    /// The SMTP server; without one mail stays queued.
    pub smtp: Option<SmtpSettings>,
    /// Trust anchors of the SMTP server's TLS certificate.
    pub trust: Trust,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required).
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption: only for a relay on the same host or a test server.
    None,
}

/// The SMTP server, resolved.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Host name.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Transport security.
    pub tls: SmtpTls,
    /// User name and the file with the password.
    pub credentials: Option<(String, PathBuf)>,
}
/// Most mails one [`deliver_due`] round tries (bounds a test's round; the worker has none).
const ROUND_LIMIT: usize = 10_000;
/// SMTP commands one send may need at most (connect, greeting, EHLO, STARTTLS, EHLO, AUTH,
/// MAIL, RCPT, DATA, the message): the send's deadline is this many command timeouts.
const SMTP_COMMANDS_PER_SEND: u32 = 10;
/// What a lease holds beyond the send's deadline: the database round trips around the send.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// First retry delay; doubles per attempt.
const BACKOFF_START: Duration = Duration::from_secs(30);
/// Longest retry delay: minutes, so mail goes out soon after the server is back.
const BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);
/// How often an idle worker looks for due mail.
pub const WORKER_INTERVAL: Duration = Duration::from_secs(2);
/// Default SMTP command timeout (`--smtp-timeout-secs`).
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Mails accepted by the SMTP server since start (for `/metrics`).
pub static MAIL_SENT: AtomicU64 = AtomicU64::new(0);
/// Failed delivery attempts since start (for `/metrics`).
pub static MAIL_FAILED: AtomicU64 = AtomicU64::new(0);
/// Attempts that failed temporarily (4xx, no connection, timeout) since start.
pub static MAIL_TEMPORARY_FAILURES: AtomicU64 = AtomicU64::new(0);
/// Attempts that failed permanently (5xx) since start.
pub static MAIL_PERMANENT_FAILURES: AtomicU64 = AtomicU64::new(0);
/// Mails marked failed (given up) since start.
pub static MAIL_GAVE_UP: AtomicU64 = AtomicU64::new(0);

/// A calendar part (inline invitation and `.ics` attachment).
#[derive(Debug, Clone)]
pub struct IcsPart {
    /// `REQUEST` or `CANCEL`.
    pub method: &'static str,
    /// The iCalendar text.
    pub body: String,
}

/// A mail to queue.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    /// What it is (`confirmation`, `reminder`, …), for the dashboard and metrics.
    pub kind: &'static str,
    /// The booking it belongs to, if any (deleted with it).
    pub booking_id: Option<String>,
    /// The one recipient. Mails never carry anyone else's address.
    pub to: Mailbox,
    /// Reply-To, where answers should go (a counsellor's contact reply: nobody; unset).
    pub reply_to: Option<Mailbox>,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
    /// Optional calendar: sent inline as an invitation and attached as `.ics`.
    pub ics: Option<IcsPart>,
    /// When to send it (milliseconds since the epoch).
    pub due_at: i64,
    /// The recipient, when it is a counsellor (their workspace shows the mail if it fails).
    pub counsellor_id: Option<String>,
}

/// What is sealed in `mail_outbox.sealed`.
#[derive(Serialize, Deserialize)]
struct SealedMail {
    from: String,
    to: String,
    /// The RFC 5322 message.
    raw: Vec<u8>,
}

/// Builds the RFC 5322 message.
///
/// - `Message-ID: <{id}@{domain of the sender}>` (`id`: the outbox id, so a delivered mail can
///   be traced to its row) and `Date` = when the mail is due (a reminder queued days ahead is
///   dated when it goes out, not when it was written).
/// - Without a calendar part: `multipart/alternative` (plain text, HTML).
/// - With one: `multipart/mixed` of `multipart/alternative` (plain text, HTML and the calendar
///   itself as `text/calendar; method=…`, which Outlook, Apple Mail and Gmail show as an
///   invitation with its buttons) and the same calendar as an `application/ics` attachment
///   `invite.ics`/`cancel.ics` for every other client (the attachment's type differs so that no
///   client processes the invitation twice).
pub fn build_message(from: &Mailbox, mail: &OutgoingMail, id: &str) -> Result<Vec<u8>, AppError> {
    let due = u64::try_from(mail.due_at).unwrap_or(0);
    let date = std::time::UNIX_EPOCH + Duration::from_millis(due);
    let mut builder = Message::builder()
        .message_id(Some(format!("<{id}@{}>", from.email.domain())))
        .from(from.clone())
        .to(mail.to.clone())
        .subject(mail.subject.clone())
        .date(date);
    if let Some(reply_to) = &mail.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    let alternative = MultiPart::alternative()
        .singlepart(SinglePart::plain(mail.text.clone()))
        .singlepart(SinglePart::html(mail.html.clone()));
    let message = match &mail.ics {
        None => builder.multipart(alternative),
        Some(ics) => {
            let inline = ContentType::parse(&format!(
                "text/calendar; charset=utf-8; method={}",
                ics.method
            ))
            .map_err(|e| AppError::Internal(format!("ics content type: {e}")))?;
            let file = if ics.method == "CANCEL" {
                "cancel.ics"
            } else {
                "invite.ics"
            };
            let attached = ContentType::parse(&format!("application/ics; name=\"{file}\""))
                .map_err(|e| AppError::Internal(format!("ics content type: {e}")))?;
            let alternative = alternative.singlepart(
                SinglePart::builder()
                    .header(inline)
                    .header(ContentTransferEncoding::Base64)
                    .body(ics.body.clone()),
            );
            let attachment: SinglePart =
                Attachment::new(file.to_owned()).body(ics.body.clone(), attached);
            builder.multipart(
                MultiPart::mixed()
                    .multipart(alternative)
                    .singlepart(attachment),
            )
        }
    }
    .map_err(|e| AppError::Internal(format!("building mail: {e}")))?;
    Ok(message.formatted())
}

/// Queues `mail` (inside the caller's transaction when `conn` is one).
pub async fn enqueue(
    conn: &mut sqlx::AnyConnection,
    mailer: &Mailer,
    mail: &OutgoingMail,
) -> Result<String, AppError> {
    let from: Mailbox = mailer
        .from
        .parse()
        .map_err(|e| AppError::Internal(format!("mail-from: {e}")))?;
    let id = uuid::Uuid::new_v4().to_string();
    let raw = build_message(&from, mail, &id)?;
    let sealed = SealedMail {
        from: from.email.to_string(),
        to: mail.to.email.to_string(),
        raw,
    };
    let plaintext =
        serde_json::to_vec(&sealed).map_err(|e| AppError::Internal(format!("mail: {e}")))?;
    let sealed = mailer.key.seal(&plaintext, id.as_bytes());
    sqlx::query(
        "INSERT INTO mail_outbox (id, booking_id, kind, sealed, due_at, created_at, counsellor_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(mail.booking_id.as_deref())
    .bind(mail.kind)
    .bind(sealed)
    .bind(mail.due_at)
    .bind(now_ms())
    .bind(mail.counsellor_id.as_deref())
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// Drops queued, unsent mail of `kind` for a booking (a reminder after a cancellation).
pub async fn cancel_unsent(
    conn: &mut sqlx::AnyConnection,
    booking_id: &str,
    kind: &str,
) -> Result<(), AppError> {
    sqlx::query("DELETE FROM mail_outbox WHERE booking_id = $1 AND kind = $2 AND state = 'queued'")
        .bind(booking_id)
        .bind(kind)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The SMTP transport of the configuration; its TLS trusts `trust` (see [`crate::tls`]).
pub fn transport(
    smtp: &SmtpSettings,
    trust: &Trust,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    transport_with_timeout(smtp, trust, SMTP_TIMEOUT)
}

/// [`transport`] with an SMTP command timeout. lettre keeps its connections in a pool, so a
/// backlog goes out through one connection rather than one per mail.
pub fn transport_with_timeout(
    smtp: &SmtpSettings,
    trust: &Trust,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    // `builder_dangerous` is lettre's builder without TLS; the two secure modes add it here.
    let plain = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host);
    let builder = match smtp.tls {
        SmtpTls::Starttls => plain.tls(Tls::Required(
            trust.smtp(&smtp.host).map_err(|e| e.to_string())?,
        )),
        SmtpTls::Tls => plain.tls(Tls::Wrapper(
            trust.smtp(&smtp.host).map_err(|e| e.to_string())?,
        )),
        SmtpTls::None => plain,
    };
    let mut builder = builder.port(smtp.port).timeout(Some(timeout));
    if let Some((user, file)) = &smtp.credentials {
        let password = std::fs::read_to_string(file)
            .map_err(|e| format!("reading {}: {e}", file.display()))?;
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.trim_end_matches(['\r', '\n']).to_owned(),
        ));
    }
    Ok(builder.build())
}

/// How the queue retries and paces delivery (`--mail-retry-hours`, `--mail-rate-per-minute`,
/// `--smtp-timeout-secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySettings {
    /// How long temporary failures are retried before a mail is marked failed.
    pub retry_for: Duration,
    /// Mails sent per minute at most.
    pub rate_per_minute: u32,
    /// Timeout of one SMTP command.
    pub smtp_timeout: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            retry_for: Duration::from_secs(72 * 3600),
            rate_per_minute: 240,
            smtp_timeout: SMTP_TIMEOUT,
        }
    }
}

impl DeliverySettings {
    /// The longest one send may take: every SMTP command of a send (connect, greeting, EHLO,
    /// STARTTLS, EHLO, AUTH, MAIL, RCPT, DATA, the message) at its timeout. The send is cut
    /// off there, so it never outlives its lease.
    pub fn send_deadline(&self) -> Duration {
        self.smtp_timeout.saturating_mul(SMTP_COMMANDS_PER_SEND)
    }

    /// How long a claimed mail is owned: the send's deadline plus [`LEASE_MARGIN`] (the
    /// database round trips around it).
    pub fn lease(&self) -> Duration {
        self.send_deadline().saturating_add(LEASE_MARGIN)
    }

    /// The gap between two sends of a backlog.
    pub fn gap(&self) -> Duration {
        Duration::from_secs(60) / self.rate_per_minute.max(1)
    }
}

/// Retry delay after `attempts` failed attempts: 30 s doubling up to [`BACKOFF_MAX`]
/// (minutes, so a backlog goes out soon after an outage even without the reset a successful
/// send triggers).
pub fn backoff(attempts: u32) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(16);
    BACKOFF_START.saturating_mul(factor).min(BACKOFF_MAX)
}

/// Why an attempt failed, as far as the queue cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No connection, TLS failed, or the server went away: the server, not this mail.
    Connection,
    /// An SMTP command timed out.
    Timeout,
    /// A 4xx reply (greylisting, a full queue): retried with backoff.
    Transient,
    /// A 5xx reply about this mail (unknown mailbox, refused): not retried.
    Permanent,
}

impl Failure {
    /// The name stored in `mail_outbox.last_failure`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connection => "connection",
            Self::Timeout => "timeout",
            Self::Transient => "transient",
            Self::Permanent => "permanent",
        }
    }
}

/// SMTP replies in the 5xx range that concern the server's configuration (authentication),
/// not the mail: retried like a temporary failure, so a wrong password fails no mail for good.
const SMTP_CONFIG_CODES: [u16; 4] = [530, 534, 535, 538];

/// Classifies an SMTP reply code (`None`: no reply at all).
pub fn classify(code: Option<u16>, timed_out: bool) -> Failure {
    match code {
        Some(c) if (500..600).contains(&c) && !SMTP_CONFIG_CODES.contains(&c) => Failure::Permanent,
        Some(c) if (400..600).contains(&c) => Failure::Transient,
        _ if timed_out => Failure::Timeout,
        _ => Failure::Connection,
    }
}

/// A failed attempt: its class and a text without addresses (`SMTP 550`, `connection`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// The class.
    pub failure: Failure,
    /// The SMTP code, if the server answered.
    pub code: Option<u16>,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "{} failure (SMTP {code})", self.failure.as_str()),
            None => write!(f, "{} failure (no SMTP status)", self.failure.as_str()),
        }
    }
}

/// What the queue does after a failed attempt (pure: time is an argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again at this time (ms).
    RetryAt(i64),
    /// Give up: the mail is `failed`.
    Fail,
}

/// Decides what follows a failure: permanent ones fail at once; temporary ones retry with
/// [`backoff`] until `retry_for` has passed since the first failure.
pub fn after_failure(
    failure: Failure,
    attempts: u32,
    first_failed_at: i64,
    now: i64,
    retry_for: Duration,
) -> AfterFailure {
    if failure == Failure::Permanent {
        return AfterFailure::Fail;
    }
    let give_up_at = first_failed_at.saturating_add(ms(retry_for));
    if now >= give_up_at {
        return AfterFailure::Fail;
    }
    AfterFailure::RetryAt(now.saturating_add(ms(backoff(attempts))))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Outcome of one worker round.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Mails accepted by the SMTP server.
    pub sent: usize,
    /// Mails that failed temporarily and will be retried.
    pub failed: usize,
    /// Mails that failed for good (a permanent rejection, or retried too long).
    pub gave_up: usize,
}

/// What [`deliver_next`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Nothing was due (or every due mail is claimed by another worker).
    Idle,
    /// The mail was accepted.
    Sent,
    /// It failed and will be retried.
    Retry,
    /// It failed for good.
    Failed,
}

/// A claimed mail.
#[derive(sqlx::FromRow)]
struct Claimed {
    id: String,
    sealed: Vec<u8>,
    attempts: i64,
    first_failed_at: Option<i64>,
}

/// Claims the next due mail atomically (one statement: on PostgreSQL the candidate row is
/// locked with `FOR UPDATE SKIP LOCKED`, so concurrent workers on any node take different
/// mails without waiting; SQLite serialises writers, so its `UPDATE … RETURNING` is atomic
/// as it stands). The lease runs from `now`, the moment of the claim.
async fn claim(
    db: &Db,
    dialect: Dialect,
    now: i64,
    lease: Duration,
) -> Result<Option<Claimed>, AppError> {
    let lock = match dialect {
        Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let sql = format!(
        "UPDATE mail_outbox SET leased_until = $1, attempts = attempts + 1
         WHERE id = (SELECT id FROM mail_outbox
                     WHERE state = 'queued' AND due_at <= $2
                       AND (leased_until IS NULL OR leased_until < $2)
                     ORDER BY due_at, id LIMIT 1 {lock})
           AND state = 'queued' AND (leased_until IS NULL OR leased_until < $2)
         RETURNING id, sealed, attempts, first_failed_at"
    );
    Ok(sqlx::query_as::<_, Claimed>(&sql)
        .bind(now.saturating_add(ms(lease)))
        .bind(now)
        .fetch_optional(db)
        .await?)
}

/// Claims and sends the next due mail, records the outcome. `now` in milliseconds.
///
/// After a success, mails that wait only because the server was unreachable (a connection
/// failure or a timeout) are due again at once, so a backlog drains as soon as the server
/// answers rather than when each mail's backoff ends.
pub async fn deliver_next(
    mailer: &Mailer,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    now: i64,
) -> Result<Attempt, AppError> {
    let (db, settings) = (&mailer.db, mailer.delivery);
    let Some(mail) = claim(db, mailer.dialect, now, settings.lease()).await? else {
        return Ok(Attempt::Idle);
    };
    // A mail that cannot be opened (a key replaced, a damaged row) can never be sent: it fails
    // at once rather than being retried, and the operator sees it in the queue's errors.
    let opened = mailer
        .key
        .open(&mail.sealed, mail.id.as_bytes())
        .ok()
        .and_then(|plain| serde_json::from_slice::<SealedMail>(&plain).ok());
    let result = match &opened {
        None => {
            tracing::error!(mail_id = %mail.id, "queued mail cannot be opened; marked failed");
            Err(SendError {
                failure: Failure::Permanent,
                code: None,
            })
        }
        Some(sealed) => {
            match tokio::time::timeout(settings.send_deadline(), send_raw(transport, sealed)).await
            {
                Ok(r) => r,
                Err(_) => Err(SendError {
                    failure: Failure::Timeout,
                    code: None,
                }),
            }
        }
    };
    // The outcome is recorded with the time it is known (the send took a while).
    let done = now.max(now_ms().min(now.saturating_add(ms(settings.lease()))));
    match result {
        Ok(()) => {
            sqlx::query(
                "UPDATE mail_outbox SET state = 'sent', sent_at = $1, leased_until = NULL,
                     last_error = NULL, last_failure = NULL
                 WHERE id = $2",
            )
            .bind(done)
            .bind(&mail.id)
            .execute(db)
            .await?;
            MAIL_SENT.fetch_add(1, Ordering::Relaxed);
            sqlx::query(
                "UPDATE mail_outbox SET due_at = $1
                 WHERE state = 'queued' AND due_at > $1 AND last_failure IN ('connection', 'timeout')
                   AND (leased_until IS NULL OR leased_until < $1)",
            )
            .bind(done)
            .execute(db)
            .await?;
            Ok(Attempt::Sent)
        }
        Err(error) => {
            let attempts = u32::try_from(mail.attempts).unwrap_or(u32::MAX);
            let first_failed_at = mail.first_failed_at.unwrap_or(done);
            let text = error.to_string();
            match after_failure(
                error.failure,
                attempts,
                first_failed_at,
                done,
                settings.retry_for,
            ) {
                AfterFailure::RetryAt(at) => {
                    tracing::warn!(mail_id = %mail.id, attempts, error = %text, "mail not sent; will retry");
                    sqlx::query(
                        "UPDATE mail_outbox SET due_at = $1, leased_until = NULL, last_error = $2,
                             last_failure = $3, first_failed_at = $4
                         WHERE id = $5",
                    )
                    .bind(at)
                    .bind(&text)
                    .bind(error.failure.as_str())
                    .bind(first_failed_at)
                    .bind(&mail.id)
                    .execute(db)
                    .await?;
                    MAIL_FAILED.fetch_add(1, Ordering::Relaxed);
                    MAIL_TEMPORARY_FAILURES.fetch_add(1, Ordering::Relaxed);
                    Ok(Attempt::Retry)
                }
                AfterFailure::Fail => {
                    tracing::warn!(mail_id = %mail.id, attempts, error = %text, "mail failed for good");
                    let failure = if error.failure == Failure::Permanent {
                        "permanent"
                    } else {
                        "expired"
                    };
                    sqlx::query(
                        "UPDATE mail_outbox SET state = 'failed', failed_at = $1, leased_until = NULL,
                             last_error = $2, last_failure = $3, first_failed_at = $4
                         WHERE id = $5",
                    )
                    .bind(done)
                    .bind(&text)
                    .bind(failure)
                    .bind(first_failed_at)
                    .bind(&mail.id)
                    .execute(db)
                    .await?;
                    MAIL_FAILED.fetch_add(1, Ordering::Relaxed);
                    if error.failure == Failure::Permanent {
                        MAIL_PERMANENT_FAILURES.fetch_add(1, Ordering::Relaxed);
                    } else {
                        MAIL_TEMPORARY_FAILURES.fetch_add(1, Ordering::Relaxed);
                    }
                    MAIL_GAVE_UP.fetch_add(1, Ordering::Relaxed);
                    Ok(Attempt::Failed)
                }
            }
        }
    }
}

/// Sends due mail until none is left or `limit` mails were tried (a test's round; the
/// worker paces [`deliver_next`] itself). `now` in milliseconds.
pub async fn deliver_due(
    mailer: &Mailer,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    now: i64,
) -> Result<Delivery, AppError> {
    let mut delivery = Delivery::default();
    for _ in 0..ROUND_LIMIT {
        match deliver_next(mailer, transport, now).await? {
            Attempt::Idle => break,
            Attempt::Sent => delivery.sent += 1,
            Attempt::Retry => delivery.failed += 1,
            Attempt::Failed => delivery.gave_up += 1,
        }
    }
    Ok(delivery)
}

/// Sends one sealed mail; the error names only the SMTP failure, never an address.
async fn send_raw(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    mail: &SealedMail,
) -> Result<(), SendError> {
    let refused = SendError {
        failure: Failure::Permanent,
        code: None,
    };
    let from = mail.from.parse().map_err(|_| refused.clone())?;
    let to = mail.to.parse().map_err(|_| refused.clone())?;
    let envelope = lettre::address::Envelope::new(Some(from), vec![to]).map_err(|_| refused)?;
    transport
        .send_raw(&envelope, &mail.raw)
        .await
        .map(|_| ())
        .map_err(|e| {
            let code = e.status().map(|c| {
                let text = c.to_string();
                text.parse::<u16>().unwrap_or(0)
            });
            SendError {
                failure: classify(code, e.is_timeout()),
                code,
            }
        })
}

/// The background job that runs [`deliver_next`] until shutdown: one mail after the other, at most
/// `--mail-rate-per-minute`, through one pooled SMTP connection; when nothing is due it looks
/// again every [`WORKER_INTERVAL`]. Without an SMTP server in the configuration, mail stays
/// queued (and a warning says so once).
pub fn job(mailer: Mailer) -> Option<Job> {
    let Some(smtp) = mailer.smtp.clone() else {
        tracing::warn!("no --smtp-host: booking mail is queued in the database, not sent");
        return None;
    };
    let settings = mailer.delivery;
    let transport = match transport_with_timeout(&smtp, &mailer.trust, settings.smtp_timeout) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "SMTP configuration unusable; mail stays queued");
            return None;
        }
    };
    // One pooled connection shared by every round.
    let transport = std::sync::Arc::new(transport);
    Some(Job::new("mail-delivery", WORKER_INTERVAL, move || {
        let (mailer, transport) = (mailer.clone(), transport.clone());
        async move {
            let pause = match deliver_next(&mailer, &transport, now_ms()).await {
                Ok(Attempt::Idle) => WORKER_INTERVAL,
                Ok(_) => settings.gap(),
                Err(e) => {
                    tracing::warn!(error = %e, "mail worker round failed");
                    WORKER_INTERVAL
                }
            };
            Pace::After(pause)
        }
    }))
}

/// The queue at a moment, for `/metrics` and the admin view: counts only, never contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// Mails due and not yet sent, including those waiting for a retry (the backlog).
    pub due: i64,
    /// Mails queued for later and never tried (reminders).
    pub scheduled: i64,
    /// Mails sent.
    pub sent: i64,
    /// Failed mails nobody has dealt with yet.
    pub failed_open: i64,
    /// Failed mails a counsellor resolved (resent, or reached the client another way).
    pub failed_resolved: i64,
    /// Age of the oldest mail of the backlog in seconds (0 when there is none).
    pub oldest_due_age_secs: i64,
}

/// Counts the queue at `now` (ms).
pub async fn queue_stats(db: &Db, now: i64) -> Result<QueueStats, AppError> {
    let (due, scheduled, sent, failed_open, failed_resolved): (i64, i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT
               COALESCE(SUM(CASE WHEN state = 'queued' AND (due_at <= $1 OR first_failed_at IS NOT NULL) THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN state = 'queued' AND due_at > $1 AND first_failed_at IS NULL THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN state = 'sent' THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN state = 'failed' AND resolved_at IS NULL THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN state = 'failed' AND resolved_at IS NOT NULL THEN 1 ELSE 0 END), 0)
             FROM mail_outbox",
        )
        .bind(now)
        .fetch_one(db)
        .await?;
    // The oldest due mail, by when it first became due: its first failure, or (never tried
    // yet) its due time.
    let oldest: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(COALESCE(first_failed_at, due_at))
         FROM mail_outbox
         WHERE state = 'queued' AND (due_at <= $1 OR first_failed_at IS NOT NULL)",
    )
    .bind(now)
    .fetch_one(db)
    .await?;
    let oldest = oldest.unwrap_or(now);
    Ok(QueueStats {
        due,
        scheduled,
        sent,
        failed_open,
        failed_resolved,
        oldest_due_age_secs: (now - oldest).max(0) / 1000,
    })
}

/// The last failures, newest first, for the admin view: kind, state, error, times; never a
/// recipient or content.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RecentError {
    /// Outbox id.
    pub id: String,
    /// Mail kind.
    pub kind: String,
    /// `queued` (being retried) or `failed`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The error (SMTP code, no address).
    pub last_error: Option<String>,
    /// When it was queued (ms).
    pub created_at: i64,
}

/// The `limit` most recent mails with an error.
pub async fn recent_errors(db: &Db, limit: i64) -> Result<Vec<RecentError>, AppError> {
    Ok(sqlx::query_as(
        "SELECT id, kind, state, attempts, last_error, created_at FROM mail_outbox
         WHERE last_error IS NOT NULL ORDER BY COALESCE(failed_at, due_at) DESC, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Counts of the outbox, for the dashboard and tests.
pub async fn pending_count(db: &Db) -> Result<i64, AppError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE state = 'queued'")
            .fetch_one(db)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_thirty_seconds_and_stops_at_five_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(2), Duration::from_secs(60));
        assert_eq!(backoff(3), Duration::from_secs(120));
        assert_eq!(backoff(4), Duration::from_secs(240));
        assert_eq!(backoff(5), Duration::from_secs(300));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn smtp_5xx_is_permanent_4xx_and_silence_are_temporary_and_auth_errors_are_retried() {
        assert_eq!(classify(Some(550), false), Failure::Permanent);
        assert_eq!(classify(Some(553), false), Failure::Permanent);
        assert_eq!(classify(Some(554), false), Failure::Permanent);
        assert_eq!(classify(Some(451), false), Failure::Transient);
        assert_eq!(classify(Some(421), false), Failure::Transient);
        assert_eq!(classify(Some(535), false), Failure::Transient);
        assert_eq!(classify(None, true), Failure::Timeout);
        assert_eq!(classify(None, false), Failure::Connection);
    }

    #[test]
    fn permanent_failures_end_at_once_temporary_ones_after_the_retry_limit() {
        let day = Duration::from_secs(86_400);
        let three_days = 3 * 86_400_000;
        assert_eq!(
            after_failure(Failure::Permanent, 1, 0, 0, 3 * day),
            AfterFailure::Fail
        );
        assert_eq!(
            after_failure(Failure::Transient, 1, 0, 0, 3 * day),
            AfterFailure::RetryAt(30_000)
        );
        assert_eq!(
            after_failure(Failure::Connection, 40, 0, three_days - 1, 3 * day),
            AfterFailure::RetryAt(three_days - 1 + 300_000)
        );
        assert_eq!(
            after_failure(Failure::Timeout, 40, 0, three_days, 3 * day),
            AfterFailure::Fail
        );
    }

    #[test]
    fn a_lease_outlasts_the_longest_send() {
        let s = DeliverySettings::default();
        assert!(s.lease() > s.send_deadline());
        assert_eq!(s.send_deadline(), Duration::from_secs(200));
        assert_eq!(s.gap(), Duration::from_millis(250));
    }
}
