//! Outgoing mail: the kit's queue ([`confidant_kit::mail`]), re-exported, and the calls that
//! take this server's state.

pub use confidant_kit::mail::*;

use crate::error::AppError;
use crate::AppState;

/// Queues `mail` with this server's [`Mailer`] (inside the caller's transaction when `conn`
/// is one).
pub async fn enqueue(
    conn: &mut sqlx::AnyConnection,
    state: &AppState,
    mail: &OutgoingMail,
) -> Result<String, AppError> {
    confidant_kit::mail::enqueue(conn, &state.mailer, mail).await
}
