//! Outgoing mail: a queue in the database and a worker that delivers it over SMTP (lettre).
//!
//! Mail is never sent from a request handler. Handlers [`enqueue`] it in the same transaction
//! as the change it reports (a booking, a cancellation), so an SMTP outage, a crash or a restart
//! loses nothing. The worker ([`deliver_due`], called on an interval by [`spawn_worker`]):
//!
//! 1. picks mails that are due and not leased,
//! 2. leases each one with a conditional `UPDATE` (only one worker, on any node, wins),
//! 3. sends it, then marks it sent; on failure it backs off exponentially (30 s … 1 h).
//!
//! A mail is therefore sent at least once and, short of a crash between the SMTP server's
//! acceptance and the `UPDATE` that records it, exactly once. Recipient and content are sealed
//! at rest (vault purpose `mail`, associated data: the mail id); `last_error` keeps only the
//! SMTP status, never an address.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::config::{SmtpSettings, SmtpTls};
use crate::db::{now_ms, Db};
use crate::error::AppError;
use crate::tls::Trust;
use crate::AppState;

/// Vault purpose of queued mail.
pub const MAIL_PURPOSE: &str = "mail";
/// Mails picked per worker round.
const BATCH: i64 = 20;
/// How long a worker owns a mail it picked before another may retry it.
const LEASE: Duration = Duration::from_secs(120);
/// First retry delay; doubles per attempt.
const BACKOFF_START: Duration = Duration::from_secs(30);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(3600);
/// How often the worker looks for due mail.
pub const WORKER_INTERVAL: Duration = Duration::from_secs(5);
/// SMTP command timeout.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Mails accepted by the SMTP server since start (for `/metrics`).
pub static MAIL_SENT: AtomicU64 = AtomicU64::new(0);
/// Failed delivery attempts since start (for `/metrics`).
pub static MAIL_FAILED: AtomicU64 = AtomicU64::new(0);

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
    state: &AppState,
    mail: &OutgoingMail,
) -> Result<String, AppError> {
    let from: Mailbox = state
        .config
        .mail_from
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
    let sealed = state.keys.mail.seal(&plaintext, id.as_bytes());
    sqlx::query(
        "INSERT INTO mail_outbox (id, booking_id, kind, sealed, due_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(mail.booking_id.as_deref())
    .bind(mail.kind)
    .bind(sealed)
    .bind(mail.due_at)
    .bind(now_ms())
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
    sqlx::query("DELETE FROM mail_outbox WHERE booking_id = $1 AND kind = $2 AND sent_at IS NULL")
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
    let mut builder = builder.port(smtp.port).timeout(Some(SMTP_TIMEOUT));
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

/// Retry delay after `attempts` failed attempts.
pub fn backoff(attempts: u32) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(16);
    BACKOFF_START.saturating_mul(factor).min(BACKOFF_MAX)
}

/// Outcome of one worker round.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Mails accepted by the SMTP server.
    pub sent: usize,
    /// Mails that failed and will be retried.
    pub failed: usize,
}

/// Sends every due mail once (one round of the worker). `now` in milliseconds.
pub async fn deliver_due(
    db: &Db,
    state: &AppState,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    now: i64,
) -> Result<Delivery, AppError> {
    let due: Vec<(String, Vec<u8>, i64)> = sqlx::query_as(
        "SELECT id, sealed, attempts FROM mail_outbox
         WHERE sent_at IS NULL AND due_at <= $1 AND (leased_until IS NULL OR leased_until < $2)
         ORDER BY due_at LIMIT $3",
    )
    .bind(now)
    .bind(now)
    .bind(BATCH)
    .fetch_all(db)
    .await?;
    let mut delivery = Delivery::default();
    for (id, sealed, attempts) in due {
        let lease_until = now + LEASE.as_millis() as i64;
        let leased = sqlx::query(
            "UPDATE mail_outbox SET leased_until = $1, attempts = attempts + 1
             WHERE id = $2 AND sent_at IS NULL AND (leased_until IS NULL OR leased_until < $3)",
        )
        .bind(lease_until)
        .bind(&id)
        .bind(now)
        .execute(db)
        .await?
        .rows_affected();
        if leased != 1 {
            continue; // another worker has it
        }
        let plaintext = state.keys.mail.open(&sealed, id.as_bytes())?;
        let mail: SealedMail = serde_json::from_slice(&plaintext)
            .map_err(|e| AppError::Internal(format!("queued mail: {e}")))?;
        let result = send_raw(transport, &mail).await;
        match result {
            Ok(()) => {
                sqlx::query(
                    "UPDATE mail_outbox SET sent_at = $1, leased_until = NULL, last_error = NULL
                     WHERE id = $2",
                )
                .bind(now_ms())
                .bind(&id)
                .execute(db)
                .await?;
                delivery.sent += 1;
                MAIL_SENT.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                let attempts = u32::try_from(attempts + 1).unwrap_or(u32::MAX);
                let retry_at = now + backoff(attempts).as_millis() as i64;
                tracing::warn!(mail_id = %id, attempts, %error, "mail not sent; will retry");
                sqlx::query(
                    "UPDATE mail_outbox SET due_at = $1, leased_until = NULL, last_error = $2
                     WHERE id = $3",
                )
                .bind(retry_at)
                .bind(&error)
                .bind(&id)
                .execute(db)
                .await?;
                delivery.failed += 1;
                MAIL_FAILED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(delivery)
}

/// Sends one sealed mail; the error names only the SMTP failure, never an address.
async fn send_raw(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    mail: &SealedMail,
) -> Result<(), String> {
    let from = mail
        .from
        .parse()
        .map_err(|_| "queued sender is not an address".to_owned())?;
    let to = mail
        .to
        .parse()
        .map_err(|_| "queued recipient is not an address".to_owned())?;
    let envelope = lettre::address::Envelope::new(Some(from), vec![to])
        .map_err(|e| format!("envelope: {e}"))?;
    transport
        .send_raw(&envelope, &mail.raw)
        .await
        .map(|_| ())
        .map_err(|e| {
            let code = e
                .status()
                .map(|c| format!("SMTP {c}"))
                .unwrap_or_else(|| "no SMTP status".into());
            let kind = if e.is_transient() {
                "transient"
            } else if e.is_permanent() {
                "permanent"
            } else if e.is_timeout() {
                "timeout"
            } else {
                "connection"
            };
            format!("{kind} failure ({code})")
        })
}

/// Runs [`deliver_due`] every [`WORKER_INTERVAL`] until the process ends. Without an SMTP
/// server in the configuration, mail stays queued (and a warning says so once).
pub fn spawn_worker(state: AppState) {
    let Some(smtp) = state.config.smtp.clone() else {
        tracing::warn!("no --smtp-host: booking mail is queued in the database, not sent");
        return;
    };
    let transport = match transport(&smtp, &state.config.trust) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "SMTP configuration unusable; mail stays queued");
            return;
        }
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(WORKER_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = deliver_due(&state.db, &state, &transport, now_ms()).await {
                tracing::warn!(error = %e, "mail worker round failed");
            }
        }
    });
}

/// Counts of the outbox, for the dashboard and tests.
pub async fn pending_count(db: &Db) -> Result<i64, AppError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL")
            .fetch_one(db)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_thirty_seconds_and_stops_at_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(2), Duration::from_secs(60));
        assert_eq!(backoff(3), Duration::from_secs(120));
        assert_eq!(backoff(8), Duration::from_secs(3600));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(3600));
    }
}
