//! Janus's HTTP API (`/janus`, JSON over plain HTTP): the messages the load generator sends,
//! the answers it reads, and a minimal client.
//!
//! Builders and parsers are pure functions (tested below); [`Client`] only moves their JSON.
//! Every request carries a `transaction`; asynchronous answers (plugin events, `webrtcup`,
//! `hangup`) arrive by long-poll (`GET /janus/SESSION?maxev=N`), which also keeps the session
//! alive, and may arrive before the request's `ack`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use crate::Error;

/// The plugin every handle attaches to.
pub const VIDEOROOM: &str = "janus.plugin.videoroom";
/// Events one long-poll may return at most.
pub const POLL_MAX_EVENTS: u32 = 16;
/// Janus answers a long-poll with a `keepalive` after 30 s without events; we wait a little
/// longer before calling the poll failed.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(40);
/// Longest any other request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Publishers a benchmark room admits (Janus's default is 3).
pub const ROOM_MAX_PUBLISHERS: u32 = 256;

/// Where Janus's HTTP API is: `http://HOST:PORT/PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Janus's HTTP address (`HOST:PORT`).
    pub addr: SocketAddr,
    /// The API's base path, `/janus` by default; no trailing slash.
    pub base_path: String,
}

impl Target {
    /// Parses `http://IP:PORT/janus`. The address must be loopback or private (RFC 1918,
    /// or an IPv6 unique-local address): the benchmark runs Janus in a network namespace of
    /// its own on such an address, and the generator never sends test traffic anywhere else.
    pub fn parse(url: &str) -> Result<Target, Error> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| Error::Config("--janus-url must start with http://".into()))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/janus"),
        };
        let addr: SocketAddr = authority
            .parse()
            .map_err(|_| Error::Config("--janus-url must be http://IP:PORT/PATH".into()))?;
        if !is_test_address(addr.ip()) {
            return Err(Error::Config(
                "--janus-url must be a loopback or private address (the benchmark's namespace)"
                    .into(),
            ));
        }
        let base_path = path.trim_end_matches('/');
        Ok(Target {
            addr,
            base_path: if base_path.is_empty() {
                "/janus".into()
            } else {
                base_path.to_owned()
            },
        })
    }

    /// `BASE` (the root: create sessions), `BASE/S` or `BASE/S/H`.
    pub fn path(&self, session: Option<u64>, handle: Option<u64>) -> String {
        match (session, handle) {
            (Some(s), Some(h)) => format!("{}/{s}/{h}", self.base_path),
            (Some(s), None) => format!("{}/{s}", self.base_path),
            _ => self.base_path.clone(),
        }
    }
}

/// Loopback, RFC 1918 private IPv4 or IPv6 unique-local (fc00::/7).
pub fn is_test_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

// ----- Requests ------------------------------------------------------------------------------

/// `create`: a new session.
pub fn create_session(transaction: &str) -> Value {
    json!({"janus": "create", "transaction": transaction})
}

/// `attach` the videoroom plugin: a new handle.
pub fn attach(transaction: &str) -> Value {
    json!({"janus": "attach", "plugin": VIDEOROOM, "transaction": transaction})
}

/// A plugin `message` with an optional JSEP (`{"type": "offer"|"answer", "sdp": …}`).
pub fn message(transaction: &str, body: Value, jsep: Option<Value>) -> Value {
    let mut m = json!({"janus": "message", "transaction": transaction, "body": body});
    if let Some(j) = jsep {
        m["jsep"] = j;
    }
    m
}

/// `trickle` with `completed`: every candidate of ours is already in the SDP.
pub fn trickle_completed(transaction: &str) -> Value {
    json!({"janus": "trickle", "transaction": transaction, "candidate": {"completed": true}})
}

/// `destroy` the session (and its handles, with their PeerConnections).
pub fn destroy_session(transaction: &str) -> Value {
    json!({"janus": "destroy", "transaction": transaction})
}

/// A JSEP object.
pub fn jsep(kind: &str, sdp: &str) -> Value {
    json!({"type": kind, "sdp": sdp})
}

/// Videoroom `create`: a temporary room with Opus and VP8 only, room for
/// [`ROOM_MAX_PUBLISHERS`], no bitrate cap (REMB 0), no audio-level events, no recording.
pub fn create_room(room: u64) -> Value {
    json!({
        "request": "create",
        "room": room,
        "description": format!("loadgen {room}"),
        "publishers": ROOM_MAX_PUBLISHERS,
        "audiocodec": "opus",
        "videocodec": "vp8",
        "bitrate": 0,
        "fir_freq": 0,
        "audiolevel_event": false,
        "notify_joining": false,
        "record": false,
        "permanent": false,
    })
}

/// Videoroom `destroy` of a room.
pub fn destroy_room(room: u64) -> Value {
    json!({"request": "destroy", "room": room, "permanent": false})
}

/// Join `room` as a publisher.
pub fn join_publisher(room: u64, display: &str) -> Value {
    json!({"request": "join", "ptype": "publisher", "room": room, "display": display})
}

/// Publish (sent with the JSEP offer).
pub fn publish() -> Value {
    json!({"request": "publish"})
}

/// Join `room` as a subscriber of every stream of `feeds` (one multistream PeerConnection).
pub fn join_subscriber(room: u64, feeds: &[u64]) -> Value {
    let streams: Vec<Value> = feeds.iter().map(|f| json!({"feed": f})).collect();
    json!({"request": "join", "ptype": "subscriber", "room": room, "streams": streams})
}

/// Start receiving (sent with the JSEP answer to Janus's offer).
pub fn start() -> Value {
    json!({"request": "start"})
}

/// List a room's participants (a synchronous request).
pub fn list_participants(room: u64) -> Value {
    json!({"request": "listparticipants", "room": room})
}

// ----- Answers -------------------------------------------------------------------------------

/// The `data.id` of a `success` answer (`create` → session, `attach` → handle).
pub fn success_id(v: &Value) -> Result<u64, Error> {
    check_success(v)?;
    v.pointer("/data/id")
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::Server("janus success without data.id".into()))
}

/// Errors for a Janus-level `error`, or a plugin answer with `error_code`.
pub fn check_success(v: &Value) -> Result<(), Error> {
    match v.get("janus").and_then(Value::as_str) {
        Some("success") | Some("ack") => {}
        Some("error") => {
            let code = v
                .pointer("/error/code")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let reason = v
                .pointer("/error/reason")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(Error::Server(format!("janus {code}: {reason}")));
        }
        other => {
            return Err(Error::Server(format!(
                "janus answered {}",
                other.unwrap_or("without a type")
            )))
        }
    }
    match plugin_error(v) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A plugin answer's or event's `error_code`/`error`, as an error.
pub fn plugin_error(v: &Value) -> Option<Error> {
    let data = v.pointer("/plugindata/data")?;
    let code = data.get("error_code").and_then(Value::as_i64)?;
    let reason = data.get("error").and_then(Value::as_str).unwrap_or("");
    Some(Error::Server(format!("videoroom {code}: {reason}")))
}

/// The events of a long-poll answer: an array with `maxev`, a single object without.
pub fn poll_events(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// What an event from the long-poll means to a participant.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A plugin event answering `transaction`: its `plugindata.data`, and the JSEP if any.
    Plugin {
        /// The request's transaction.
        transaction: Option<String>,
        /// The handle it is for.
        sender: u64,
        /// `plugindata.data`.
        data: Value,
        /// `jsep.type` and `jsep.sdp`.
        jsep: Option<(String, String)>,
    },
    /// ICE and DTLS are up on a handle.
    WebrtcUp {
        /// The handle.
        sender: u64,
    },
    /// Janus closed a handle's PeerConnection.
    Hangup {
        /// The handle.
        sender: u64,
        /// Why.
        reason: String,
    },
    /// Anything else (`keepalive`, `media`, `slowlink`, `ack`, `trickle`, …).
    Other,
}

/// Classifies one event.
pub fn parse_event(v: &Value) -> Event {
    let sender = v.get("sender").and_then(Value::as_u64).unwrap_or(0);
    match v.get("janus").and_then(Value::as_str) {
        Some("event") => Event::Plugin {
            transaction: v
                .get("transaction")
                .and_then(Value::as_str)
                .map(str::to_owned),
            sender,
            data: v
                .pointer("/plugindata/data")
                .cloned()
                .unwrap_or(Value::Null),
            jsep: v.get("jsep").and_then(|j| {
                Some((
                    j.get("type")?.as_str()?.to_owned(),
                    j.get("sdp")?.as_str()?.to_owned(),
                ))
            }),
        },
        Some("webrtcup") => Event::WebrtcUp { sender },
        Some("hangup") => Event::Hangup {
            sender,
            reason: v
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        },
        _ => Event::Other,
    }
}

/// The feeds of a `listparticipants` answer that publish now, `except` left out, ascending.
pub fn published_feeds(v: &Value, except: Option<u64>) -> Vec<u64> {
    let mut feeds: Vec<u64> = v
        .pointer("/plugindata/data/participants")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter(|p| p.get("publisher").and_then(Value::as_bool) == Some(true))
                .filter_map(|p| p.get("id").and_then(Value::as_u64))
                .filter(|id| Some(*id) != except)
                .collect()
        })
        .unwrap_or_default();
    feeds.sort_unstable();
    feeds
}

// ----- Client --------------------------------------------------------------------------------

/// Moves JSON to and from Janus: one TCP connection per request, as with the server.
#[derive(Debug, Clone)]
pub struct Client {
    target: Target,
    /// Prefix of this client's transactions.
    prefix: String,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Client {
    /// A client for `target`; `prefix` makes its transactions unique in the run.
    pub fn new(target: Target, prefix: &str) -> Client {
        Client {
            target,
            prefix: prefix.to_owned(),
            next: Default::default(),
        }
    }

    /// A fresh transaction id.
    pub fn transaction(&self) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}-{n}", self.prefix)
    }

    /// Creates a session.
    pub async fn create_session(&self) -> Result<u64, Error> {
        let v = self
            .post(None, None, &create_session(&self.transaction()))
            .await?;
        success_id(&v)
    }

    /// Attaches a videoroom handle to `session`.
    pub async fn attach(&self, session: u64) -> Result<u64, Error> {
        let v = self
            .post(Some(session), None, &attach(&self.transaction()))
            .await?;
        success_id(&v)
    }

    /// Sends a plugin message; returns its transaction and the immediate answer (`ack` for
    /// asynchronous requests, `success` with `plugindata` for synchronous ones).
    pub async fn message(
        &self,
        session: u64,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> Result<(String, Value), Error> {
        let tx = self.transaction();
        let v = self
            .post(Some(session), Some(handle), &message(&tx, body, jsep))
            .await?;
        check_success(&v)?;
        Ok((tx, v))
    }

    /// Tells Janus our candidates are complete.
    pub async fn trickle_completed(&self, session: u64, handle: u64) -> Result<(), Error> {
        let v = self
            .post(
                Some(session),
                Some(handle),
                &trickle_completed(&self.transaction()),
            )
            .await?;
        check_success(&v)
    }

    /// Destroys `session`.
    pub async fn destroy(&self, session: u64) -> Result<(), Error> {
        let v = self
            .post(Some(session), None, &destroy_session(&self.transaction()))
            .await?;
        check_success(&v)
    }

    /// One long-poll for `session`'s events.
    pub async fn poll(&self, session: u64) -> Result<Vec<Value>, Error> {
        let path = format!(
            "{}?maxev={POLL_MAX_EVENTS}",
            self.target.path(Some(session), None)
        );
        let v = self.request("GET", &path, None, POLL_TIMEOUT).await?;
        if v.get("janus").and_then(Value::as_str) == Some("error") {
            check_success(&v)?;
        }
        Ok(poll_events(v))
    }

    async fn post(
        &self,
        session: Option<u64>,
        handle: Option<u64>,
        body: &Value,
    ) -> Result<Value, Error> {
        let path = self.target.path(session, handle);
        self.request("POST", &path, Some(body), REQUEST_TIMEOUT)
            .await
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        limit: Duration,
    ) -> Result<Value, Error> {
        tokio::time::timeout(limit, self.request_inner(method, path, body))
            .await
            .map_err(|_| Error::Http(format!("janus {method} {path}: timed out")))?
    }

    async fn request_inner(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let what = |e: &dyn std::fmt::Display| Error::Http(format!("janus {method} {path}: {e}"));
        let stream = tokio::net::TcpStream::connect(self.target.addr)
            .await
            .map_err(|e| what(&e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| what(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.target.addr.to_string());
        let payload = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(payload)).map_err(|e| what(&e))?;
        let res = sender.send_request(req).await.map_err(|e| what(&e))?;
        let status = res.status().as_u16();
        let bytes = res
            .into_body()
            .collect()
            .await
            .map_err(|e| what(&e))?
            .to_bytes();
        if !(200..300).contains(&status) {
            return Err(what(&format!(
                "status {status}: {}",
                String::from_utf8_lossy(&bytes)
            )));
        }
        serde_json::from_slice(&bytes).map_err(|e| what(&format!("bad JSON: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_urls_are_local_and_have_a_base_path() {
        let t = Target::parse("http://10.231.0.1:8088/janus").unwrap();
        assert_eq!(t.addr, "10.231.0.1:8088".parse().unwrap());
        assert_eq!(t.path(None, None), "/janus");
        assert_eq!(t.path(Some(7), None), "/janus/7");
        assert_eq!(t.path(Some(7), Some(9)), "/janus/7/9");
        assert_eq!(
            Target::parse("http://127.0.0.1:8088").unwrap().base_path,
            "/janus"
        );
        assert_eq!(
            Target::parse("http://127.0.0.1:8088/j/").unwrap().base_path,
            "/j"
        );
        assert!(Target::parse("https://10.0.0.1:8089/janus").is_err());
        assert!(Target::parse("http://192.0.2.1:8088/janus").is_err());
        assert!(Target::parse("http://example.org:8088/janus").is_err());
        assert!(Target::parse("http://[fd00::1]:8088/janus").is_ok());
    }

    #[test]
    fn requests_carry_transactions_and_jsep() {
        let m = message("t-1", publish(), Some(jsep("offer", "v=0\r\n")));
        assert_eq!(m["janus"], "message");
        assert_eq!(m["transaction"], "t-1");
        assert_eq!(m["body"]["request"], "publish");
        assert_eq!(m["jsep"]["type"], "offer");
        assert_eq!(m["jsep"]["sdp"], "v=0\r\n");
        assert!(message("t-2", start(), None).get("jsep").is_none());
        assert_eq!(attach("t")["plugin"], VIDEOROOM);
        assert_eq!(trickle_completed("t")["candidate"]["completed"], true);
    }

    #[test]
    fn room_and_join_bodies() {
        let c = create_room(42);
        assert_eq!(c["room"], 42);
        assert_eq!(c["publishers"], ROOM_MAX_PUBLISHERS);
        assert_eq!(c["videocodec"], "vp8");
        assert_eq!(c["audiocodec"], "opus");
        let j = join_publisher(42, "p 1");
        assert_eq!(
            (j["ptype"].as_str(), j["room"].as_u64()),
            (Some("publisher"), Some(42))
        );
        let s = join_subscriber(42, &[3, 5]);
        assert_eq!(s["ptype"], "subscriber");
        assert_eq!(s["streams"], json!([{"feed": 3}, {"feed": 5}]));
    }

    #[test]
    fn success_ids_and_errors() {
        let ok =
            json!({"janus": "success", "transaction": "a", "data": {"id": 7507421173848112u64}});
        assert_eq!(success_id(&ok).unwrap(), 7507421173848112);
        let err = json!({"janus": "error", "error": {"code": 458, "reason": "No such session"}});
        let e = success_id(&err).unwrap_err().to_string();
        assert!(e.contains("458") && e.contains("No such session"), "{e}");
        let plugin = json!({"janus": "success", "plugindata": {"plugin": VIDEOROOM,
            "data": {"videoroom": "event", "error_code": 427, "error": "Room 1 already exists"}}});
        assert!(check_success(&plugin)
            .unwrap_err()
            .to_string()
            .contains("427"));
        assert!(check_success(&json!({"janus": "ack", "transaction": "e"})).is_ok());
    }

    #[test]
    fn events_from_a_long_poll() {
        // Seen from Janus 1.1.2: an array with maxev, the subscriber's 428 before a feed exists.
        let body = json!([
            {"janus": "event", "session_id": 1, "transaction": "e", "sender": 9,
             "plugindata": {"plugin": VIDEOROOM, "data": {"videoroom": "event", "error_code": 428, "error": "No such feed (5)"}}},
            {"janus": "webrtcup", "session_id": 1, "sender": 9},
            {"janus": "hangup", "session_id": 1, "sender": 9, "reason": "DTLS alert"},
            {"janus": "keepalive"}
        ]);
        let events: Vec<Event> = poll_events(body).iter().map(parse_event).collect();
        match &events[0] {
            Event::Plugin {
                transaction,
                sender,
                data,
                jsep,
            } => {
                assert_eq!(transaction.as_deref(), Some("e"));
                assert_eq!(*sender, 9);
                assert_eq!(data["error_code"], 428);
                assert!(jsep.is_none());
            }
            other => panic!("not a plugin event: {other:?}"),
        }
        assert_eq!(events[1], Event::WebrtcUp { sender: 9 });
        assert_eq!(
            events[2],
            Event::Hangup {
                sender: 9,
                reason: "DTLS alert".into()
            }
        );
        assert_eq!(events[3], Event::Other);
        assert_eq!(poll_events(json!({"janus": "keepalive"})).len(), 1);
    }

    #[test]
    fn offers_from_janus_come_as_jsep() {
        let v = json!({"janus": "event", "sender": 3, "transaction": "x",
            "plugindata": {"plugin": VIDEOROOM, "data": {"videoroom": "attached", "room": 4}},
            "jsep": {"type": "offer", "sdp": "v=0\r\n"}});
        let Event::Plugin { jsep, data, .. } = parse_event(&v) else {
            panic!("not a plugin event")
        };
        assert_eq!(data["videoroom"], "attached");
        assert_eq!(jsep, Some(("offer".into(), "v=0\r\n".into())));
    }

    #[test]
    fn published_feeds_leave_out_self_and_listeners() {
        let v = json!({"janus": "success", "plugindata": {"plugin": VIDEOROOM, "data": {
        "videoroom": "participants", "room": 4, "participants": [
            {"id": 30, "display": "a", "publisher": true},
            {"id": 10, "display": "b", "publisher": true},
            {"id": 20, "display": "c", "publisher": false},
            {"id": 40, "publisher": true}
        ]}}});
        assert_eq!(published_feeds(&v, Some(40)), vec![10, 30]);
        assert_eq!(published_feeds(&v, None), vec![10, 30, 40]);
        assert!(published_feeds(&json!({}), None).is_empty());
    }
}
