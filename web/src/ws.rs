//! The websocket endpoint: adapts axum's `Message` to the hub's `Inbound`/`Outbound` frames.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use confidant_signaling::{Hub, Inbound, Outbound};
use futures::future::ready;
use futures::{SinkExt, StreamExt};

use crate::AppState;

/// Largest websocket message or frame axum reads, in bytes. Above the protocol's 64 KiB on
/// purpose: the hub answers an oversized message with a `too_large` error the client can
/// show, instead of the connection just dropping.
pub const MAX_WS_MESSAGE_BYTES: usize = 1024 * 1024;

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
    let stream = stream
        .take_while(|msg| ready(!matches!(msg, Ok(Message::Close(_)))))
        .filter_map(|msg| ready(msg.map(message_to_inbound).transpose()));
    hub.serve(Box::pin(sink), Box::pin(stream)).await;
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
