//! The websocket endpoint: adapts axum's `Message` to the hub's `Inbound`/`Outbound` frames,
//! and caps open websockets per client address and in total.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use confidant_signaling::protocol::{ErrorCode, ServerMessage};
use confidant_signaling::{Hub, Inbound, Outbound};
use futures::future::ready;
use futures::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::RoomsState;
use confidant_kit::extract::ClientIp;

/// Largest websocket message or frame axum reads, in bytes: the protocol's one limit. A bigger
/// frame is refused from its header, without reading it, and reaches the hub as
/// [`Inbound::TooLarge`], so the client gets the same `too_large` error and close 1009 at any
/// size.
pub const MAX_WS_MESSAGE_BYTES: usize = confidant_signaling::protocol::MAX_MESSAGE_BYTES;
/// How long the socket stays open after refusing an oversized frame, so the client reads the
/// `too_large` error and close frame before the connection goes (see [`serve`]).
const TOO_LARGE_LINGER: Duration = Duration::from_secs(2);

/// Websocket close code for a connection refused because of the connection caps: "try again
/// later" (RFC 6455 registry), the server is not broken but will not take more now.
pub const CLOSE_TRY_AGAIN_LATER: u16 = 1013;
/// How long a refused connection waits for the client's close frame (the close handshake).
const REFUSED_CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Caps on open signalling websockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Per client address (IPv4 address, IPv6 /64: one host's usual share).
    pub per_address: usize,
    /// In total.
    pub total: usize,
}

/// The key one client address counts under: the IPv4 address, or the IPv6 /64 (IPv4-mapped
/// IPv6 counts as IPv4). Kept in memory only while a connection is open.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
            }
        },
    }
}

/// Open websockets by client address, against [`ConnectionLimits`].
#[derive(Debug)]
pub struct ConnectionCounter {
    limits: ConnectionLimits,
    /// Open connections per address key (no zero entries), and their sum.
    open: Mutex<(HashMap<IpAddr, usize>, usize)>,
}

/// One open connection's place in a [`ConnectionCounter`]; given back when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    counter: Arc<ConnectionCounter>,
    key: IpAddr,
}

impl ConnectionCounter {
    /// A counter with nothing open.
    pub fn new(limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            open: Mutex::new((HashMap::new(), 0)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<IpAddr, usize>, usize)> {
        // Every update is a pair of integer changes: a poisoned lock still holds valid counts.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place for a connection from `ip`, or `None` when its address or the server has
    /// as many open as allowed.
    pub fn try_open(self: &Arc<Self>, ip: IpAddr) -> Option<ConnectionSlot> {
        let key = address_key(ip);
        let mut open = self.lock();
        let (by_address, total) = &mut *open;
        let mine = by_address.get(&key).copied().unwrap_or(0);
        if *total >= self.limits.total || mine >= self.limits.per_address {
            return None;
        }
        by_address.insert(key, mine + 1);
        *total += 1;
        Some(ConnectionSlot {
            counter: self.clone(),
            key,
        })
    }

    /// Open connections in total.
    pub fn total(&self) -> usize {
        self.lock().1
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.counter.lock();
        let (by_address, total) = &mut *open;
        if let Some(n) = by_address.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                by_address.remove(&self.key);
            }
        }
        *total = total.saturating_sub(1);
    }
}

/// Websocket upgrade for signalling (protocol in `signaling/PROTOCOL.md`).
#[utoipa::path(get, path = "/ws", tag = "signalling",
    responses(
        (status = 101, description = "Switching protocols: the signalling websocket"),
        (status = 400, description = "Not a websocket upgrade request"),
    ))]
pub async fn upgrade(
    State(state): State<RoomsState>,
    ClientIp(ip): ClientIp,
    ws: WebSocketUpgrade,
) -> Response {
    let hub = state.hub.clone();
    let slot = state.ws_connections.try_open(ip);
    ws.max_message_size(MAX_WS_MESSAGE_BYTES)
        .max_frame_size(MAX_WS_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            match slot {
                Some(slot) => {
                    serve(hub, socket).await;
                    drop(slot);
                }
                None => refuse(socket).await,
            }
        })
}

/// Over the connection caps: says so (`too_many_connections`), closes with
/// [`CLOSE_TRY_AGAIN_LATER`] and completes the close handshake.
async fn refuse(mut socket: WebSocket) {
    tracing::info!("websocket refused: too many connections");
    let error = ServerMessage::Error {
        code: ErrorCode::TooManyConnections,
        message: "too many connections from this address or to this server; try again later".into(),
    };
    let text = serde_json::to_string(&error).expect("ServerMessage serialises");
    let closed = async {
        socket.send(Message::Text(text.into())).await?;
        socket
            .send(Message::Close(Some(CloseFrame {
                code: CLOSE_TRY_AGAIN_LATER,
                reason: "too many connections".into(),
            })))
            .await?;
        while let Some(Ok(msg)) = socket.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
        Ok::<_, axum::Error>(())
    };
    let _ = tokio::time::timeout(REFUSED_CLOSE_WAIT, closed).await;
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
    fn connections_are_capped_per_address_and_in_total_and_slots_come_back() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let c = ConnectionCounter::new(ConnectionLimits {
            per_address: 2,
            total: 3,
        });
        let a1 = c.try_open(ip("203.0.113.1")).unwrap();
        let _a2 = c.try_open(ip("::ffff:203.0.113.1")).unwrap();
        assert!(c.try_open(ip("203.0.113.1")).is_none(), "per address");
        // One IPv6 host: its /64.
        let _b = c.try_open(ip("2001:db8:1:2::1")).unwrap();
        assert_eq!(c.total(), 3);
        assert!(c.try_open(ip("198.51.100.7")).is_none(), "in total");
        drop(a1);
        assert!(c.try_open(ip("2001:db8:1:2::ffff")).is_some());
        let c = ConnectionCounter::new(ConnectionLimits {
            per_address: 1,
            total: 10,
        });
        let _v6 = c.try_open(ip("2001:db8:1:2::1")).unwrap();
        assert!(c.try_open(ip("2001:db8:1:2:aaaa::1")).is_none());
        assert!(c.try_open(ip("2001:db8:1:3::1")).is_some());
    }

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
