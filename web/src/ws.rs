//! The websocket endpoint: adapts axum's `Message` to the hub's `Inbound`/`Outbound` frames.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use confidant_signaling::{Hub, Inbound, Outbound};
use futures::future::ready;
use futures::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::AppState;

/// Largest websocket message or frame axum reads, in bytes: the protocol's one limit. A bigger
/// frame is refused from its header, without reading it, and reaches the hub as
/// [`Inbound::TooLarge`], so the client gets the same `too_large` error and close 1009 at any
/// size.
pub const MAX_WS_MESSAGE_BYTES: usize = confidant_signaling::protocol::MAX_MESSAGE_BYTES;
/// How long the socket stays open after refusing an oversized frame, so the client reads the
/// `too_large` error and close frame before the connection goes (see [`serve`]).
const TOO_LARGE_LINGER: Duration = Duration::from_secs(2);

/// Websocket upgrade for signalling (protocol in `signaling/PROTOCOL.md`).
#[utoipa::path(get, path = "/ws", tag = "signalling",
    responses(
        (status = 101, description = "Switching protocols: the signalling websocket"),
        (status = 400, description = "Not a websocket upgrade request"),
    ))]
pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let hub = state.hub.clone();
    ws.max_message_size(MAX_WS_MESSAGE_BYTES)
        .max_frame_size(MAX_WS_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve(hub, socket))
}

fn outbound_to_message(out: Outbound) -> Message {
    match out {
        Outbound::Text(text) => Message::Text(text.into()),
        Outbound::Close(code, reason) => Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })),
    }
}

/// Whether a read error is the websocket layer refusing a message over the size limit.
fn is_too_large(err: &axum::Error) -> bool {
    matches!(
        std::error::Error::source(err).and_then(|e| e.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Capacity(
            tungstenite::error::CapacityError::MessageTooLong { .. }
        ))
    )
}

/// Maps one received message; `None` for frames the hub does not see (ping, pong).
/// A close frame ends the stream before it gets here.
fn message_to_inbound(msg: Message) -> Option<Inbound> {
    match msg {
        Message::Text(text) => Some(Inbound::Text(text.as_str().to_owned())),
        Message::Binary(bytes) => Some(Inbound::Binary(bytes.len())),
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => None,
    }
}

async fn serve(hub: Hub, socket: WebSocket) {
    let (sink, stream) = socket.split();
    let sink = sink.with(|out: Outbound| ready(Ok::<_, axum::Error>(outbound_to_message(out))));
    let too_large = Arc::new(AtomicBool::new(false));
    let seen = too_large.clone();
    let stream = stream
        .take_while(|msg| ready(!matches!(msg, Ok(Message::Close(_)))))
        .filter_map(|msg| {
            ready(match msg {
                Ok(msg) => message_to_inbound(msg).map(Ok),
                // The layer stops reading after this; the hub answers and closes.
                Err(e) if is_too_large(&e) => {
                    seen.store(true, Ordering::Relaxed);
                    Some(Ok(Inbound::TooLarge))
                }
                Err(e) => Some(Err(e)),
            })
        });
    let (mut sink, mut stream) = (Box::pin(sink), Box::pin(stream));
    hub.serve(&mut sink, &mut stream).await;
    if too_large.load(Ordering::Relaxed) {
        // The rest of the refused frame is still unread: closing the socket now would make
        // the kernel reset the connection and drop the error and close frame just sent, so
        // the client would see 1006. Keep it a moment for the client to read them.
        tokio::time::sleep(TOO_LARGE_LINGER).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_map_both_ways() {
        assert_eq!(
            message_to_inbound(Message::Text("{}".into())),
            Some(Inbound::Text("{}".into()))
        );
        assert_eq!(
            message_to_inbound(Message::Binary(vec![0u8; 7].into())),
            Some(Inbound::Binary(7))
        );
        assert_eq!(message_to_inbound(Message::Ping(Vec::new().into())), None);
        match outbound_to_message(Outbound::Close(4000, "ended_by_host".into())) {
            Message::Close(Some(f)) => {
                assert_eq!((f.code, f.reason.as_str()), (4000, "ended_by_host"))
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(outbound_to_message(Outbound::Text("x".into())), Message::Text(t) if t.as_str() == "x")
        );
    }
}
