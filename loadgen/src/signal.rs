//! One signalling websocket (`/ws`, protocol in `signaling/PROTOCOL.md`), paced below the
//! server's per-connection rate limit.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::Error;

/// Messages per second we send on one connection at most. The server allows 20/s sustained
/// with bursts of 60; staying below leaves room for pings.
pub const SEND_RATE: f64 = 15.0;
/// Burst we allow ourselves (the server allows 60).
pub const SEND_BURST: f64 = 30.0;
/// A `ping` is sent when nothing was sent for this long (the server wants one every 10–20 s
/// and closes after 45 s of silence).
pub const PING_EVERY: Duration = Duration::from_secs(15);

/// What [`Signal::recv`] gives.
#[derive(Debug)]
pub enum Incoming {
    /// A server message (a JSON object with a string `type`).
    Message(Value),
    /// The connection closed, with the close code if the server sent one.
    Closed(Option<u16>),
}

/// A signalling connection.
pub struct Signal {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    tokens: f64,
    refilled: Instant,
    last_sent: Instant,
}

impl Signal {
    /// Opens `ws://AUTHORITY/ws`.
    pub async fn connect(authority: &str) -> Result<Signal, Error> {
        let url = format!("ws://{authority}/ws");
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(30),
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await
        .map_err(|_| Error::Signal("websocket connect timed out".into()))?
        .map_err(|e| Error::Signal(format!("websocket connect: {e}")))?;
        let now = Instant::now();
        Ok(Signal {
            ws,
            tokens: SEND_BURST,
            refilled: now,
            last_sent: now,
        })
    }

    /// Sends one message, first waiting for the local rate limit.
    pub async fn send(&mut self, msg: &Value) -> Result<(), Error> {
        loop {
            let now = Instant::now();
            let dt = now.saturating_duration_since(self.refilled).as_secs_f64();
            self.refilled = now;
            self.tokens = (self.tokens + dt * SEND_RATE).min(SEND_BURST);
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                break;
            }
            let wait = (1.0 - self.tokens) / SEND_RATE;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
        self.last_sent = Instant::now();
        self.ws
            .send(Message::text(msg.to_string()))
            .await
            .map_err(|e| Error::Signal(format!("websocket send: {e}")))
    }

    /// When the next keep-alive `ping` is due.
    pub fn ping_due(&self) -> Instant {
        self.last_sent + PING_EVERY
    }

    /// Sends a `ping` if one is due.
    pub async fn keep_alive(&mut self) -> Result<(), Error> {
        if Instant::now() >= self.ping_due() {
            self.send(&serde_json::json!({"type": "ping"})).await?;
        }
        Ok(())
    }

    /// The next server message. Cancel-safe (no state is kept across the await).
    pub async fn recv(&mut self) -> Incoming {
        loop {
            match self.ws.next().await {
                None | Some(Err(_)) => return Incoming::Closed(None),
                Some(Ok(Message::Text(t))) => match serde_json::from_str::<Value>(t.as_str()) {
                    Ok(v) if v.get("type").and_then(Value::as_str).is_some() => {
                        return Incoming::Message(v)
                    }
                    _ => continue,
                },
                Some(Ok(Message::Close(frame))) => {
                    return Incoming::Closed(frame.map(|f| u16::from(f.code)))
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Sends `leave` and waits (bounded) for the server to close; returns the close code.
    pub async fn leave(&mut self) -> Option<u16> {
        if self
            .send(&serde_json::json!({"type": "leave"}))
            .await
            .is_err()
        {
            return None;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, self.recv()).await {
                Ok(Incoming::Closed(code)) => return code,
                Ok(Incoming::Message(_)) => continue,
                Err(_) => return None,
            }
        }
    }
}

/// The `type` of a server message.
pub fn msg_type(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or("")
}

/// A string field of a server message.
pub fn field<'a>(v: &'a Value, name: &str) -> &'a str {
    v.get(name).and_then(Value::as_str).unwrap_or("")
}
