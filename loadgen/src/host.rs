//! The counsellor's connection of one room: joins with a host token and admits every client
//! that knocks, paced below the server's message rate limit.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::shared::{Control, Shared};
use crate::signal::{field, msg_type, Incoming, Signal};
use crate::Error;

/// What the host task reports.
#[derive(Debug, Default)]
pub struct HostReport {
    /// Clients admitted.
    pub admitted: u64,
    /// Why the host failed, if it did.
    pub failure: Option<String>,
    /// The server closed the websocket with 1000 after `leave`.
    pub clean_leave: bool,
}

/// Runs the host of one room until told to leave. `joined` fires once the host is in.
pub async fn run(
    shared: Arc<Shared>,
    room: String,
    token: String,
    mut control: watch::Receiver<Control>,
    joined: oneshot::Sender<Result<(), String>>,
) -> HostReport {
    let mut report = HostReport::default();
    let mut sig = match join(&shared, &room, &token).await {
        Ok(s) => {
            let _ = joined.send(Ok(()));
            s
        }
        Err(e) => {
            let _ = joined.send(Err(e.to_string()));
            shared.error(&e.class());
            report.failure = Some(e.to_string());
            return report;
        }
    };
    let mut admitted: HashSet<String> = HashSet::new();
    let mut queue: VecDeque<String> = VecDeque::new();
    let result: Result<(), Error> = async {
        loop {
            if *control.borrow() == Control::Leave {
                return Ok(());
            }
            // Admit one waiting client per turn; `send` paces itself.
            if let Some(lobby_id) = queue.pop_front() {
                sig.send(&json!({"type": "admit", "lobby_id": lobby_id}))
                    .await?;
                report.admitted += 1;
                continue;
            }
            let ping_at = sig.ping_due();
            tokio::select! {
                changed = control.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
                msg = sig.recv() => on_message(msg, &shared, &mut admitted, &mut queue)?,
                () = tokio::time::sleep_until(ping_at) => sig.keep_alive().await?,
            }
        }
    }
    .await;
    if let Err(e) = result {
        shared.error(&format!("host_{}", e.class()));
        report.failure = Some(e.to_string());
    }
    report.clean_leave = sig.leave().await == Some(1000);
    report
}

async fn join(shared: &Shared, room: &str, token: &str) -> Result<Signal, Error> {
    let mut sig = Signal::connect(&shared.authority).await?;
    sig.send(&json!({"type": "join", "v": 1, "room": room, "token": token}))
        .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, sig.recv())
            .await
            .map_err(|_| Error::Timeout("host joining"))?
        {
            Incoming::Message(m) if msg_type(&m) == "joined" => return Ok(sig),
            Incoming::Message(m) if msg_type(&m) == "error" => {
                return Err(Error::Server(field(&m, "code").to_owned()))
            }
            Incoming::Message(_) => {}
            Incoming::Closed(code) => {
                return Err(Error::Signal(format!("host closed (code {code:?})")))
            }
        }
    }
}

fn on_message(
    msg: Incoming,
    shared: &Shared,
    admitted: &mut HashSet<String>,
    queue: &mut VecDeque<String>,
) -> Result<(), Error> {
    let msg = match msg {
        Incoming::Message(m) => m,
        Incoming::Closed(code) => {
            return Err(Error::Signal(format!("host closed (code {code:?})")))
        }
    };
    match msg_type(&msg) {
        "lobby" => {
            let waiting = msg
                .get("waiting")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let current: HashSet<String> = waiting
                .iter()
                .map(|w| field(w, "lobby_id").to_owned())
                .filter(|id| !id.is_empty())
                .collect();
            // The message lists everyone waiting: ids not in it joined or left for good.
            admitted.retain(|id| current.contains(id));
            queue.retain(|id| current.contains(id));
            for w in &waiting {
                let id = field(w, "lobby_id");
                if current.contains(id) && admitted.insert(id.to_owned()) {
                    queue.push_back(id.to_owned());
                }
            }
        }
        "error" => {
            let code = field(&msg, "code");
            shared.error(&format!("host:{code}"));
        }
        "session_ended" => return Err(Error::Server("session_ended".into())),
        _ => {}
    }
    Ok(())
}
