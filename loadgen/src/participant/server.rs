//! The participant's transport through Confidant: the signalling websocket (knock, wait for
//! the host's `admit`, `join`, offer/answer, `video_size`, `ping`, `leave`) and one
//! PeerConnection on 127.0.0.1 to the SFU, which both publishes and receives.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use serde_json::{json, Value};
use str0m::change::SdpPendingOffer;
use tokio::sync::watch;
use tokio::time::Instant;

use super::peer::{Leg, Media, Participant, Transport};
use super::{Report, Spec};
use crate::shared::{Control, RoomInfo, Shared};
use crate::signal::{field, msg_type, Incoming, Signal};
use crate::Error;

/// Runs one participant through the server to the end: join, media until told to leave,
/// leave.
pub async fn run(
    spec: Spec,
    room: Arc<RoomInfo>,
    shared: Arc<Shared>,
    control: watch::Receiver<Control>,
) -> Report {
    let mut p = Participant::new(spec, shared, control);
    let result = join_and_drive(&mut p, &room).await;
    p.finish(result)
}

/// The signalling side of a joined participant.
struct Server {
    sig: Signal,
    /// Our offer, until the SFU answers it.
    pending: Option<SdpPendingOffer>,
    /// Publishers whose rendered size was sent (`video_size`).
    sized: BTreeSet<String>,
}

async fn join_and_drive(p: &mut Participant, room: &RoomInfo) -> Result<(), Error> {
    let deadline = Instant::now() + p.spec.setup_timeout;
    // Wait in line so the server's lobby never overflows.
    let permit = tokio::time::timeout_at(deadline, room.lobby_gate.acquire())
        .await
        .map_err(|_| Error::Timeout("waiting to knock"))?
        .map_err(|_| Error::Timeout("lobby gate closed"))?;
    let mut sig = Signal::connect(&p.shared.authority).await?;
    let knocked = Instant::now();
    sig.send(
        &json!({"type": "knock", "v": 1, "link": room.link, "name": p.spec.name, "e2ee": true}),
    )
    .await?;
    let admitted = wait_for(&mut sig, "admitted", deadline).await?;
    p.report.admitted = Some(knocked.elapsed());
    drop(permit);
    let room_id = field(&admitted, "room").to_owned();
    let token = field(&admitted, "token").to_owned();
    sig.send(&json!({"type": "join", "v": 1, "room": room_id, "token": token, "e2ee": true}))
        .await?;
    wait_for(&mut sig, "joined", deadline).await?;

    let mut media = Media::new(&p.spec, knocked, p.spec.expect_negotiated);
    let mut leg = Leg::bind(IpAddr::V4(Ipv4Addr::LOCALHOST), true, &p.spec, &p.shared).await?;
    let (offer, pending) = leg.offer(&p.spec)?;
    media.main = Some(leg);
    sig.send(&json!({"type": "offer", "sdp": offer.to_sdp_string()}))
        .await?;
    let mut server = Server {
        sig,
        pending: Some(pending),
        sized: BTreeSet::new(),
    };

    let outcome = p.drive(&mut server, &mut media, deadline).await;
    // Leave in every case, so the server frees the participant at once.
    let leaving = Instant::now();
    let code = server.sig.leave().await;
    p.report.leave = Some(leaving.elapsed());
    p.report.clean_leave = code == Some(1000);
    outcome
}

/// Reads messages until one of type `want`; errors and closes fail.
async fn wait_for(sig: &mut Signal, want: &str, deadline: Instant) -> Result<Value, Error> {
    loop {
        let msg = tokio::time::timeout_at(deadline, sig.recv())
            .await
            .map_err(|_| Error::Timeout("joining"))?;
        match msg {
            Incoming::Message(m) if msg_type(&m) == want => return Ok(m),
            Incoming::Message(m) if msg_type(&m) == "error" => {
                return Err(Error::Server(field(&m, "code").to_owned()))
            }
            Incoming::Message(m)
                if msg_type(&m) == "rejected" || msg_type(&m) == "session_ended" =>
            {
                return Err(Error::Server(msg_type(&m).to_owned()))
            }
            Incoming::Message(_) => {}
            Incoming::Closed(code) => {
                return Err(Error::Signal(format!(
                    "closed by the server while waiting for {want} (code {code:?})"
                )))
            }
        }
    }
}

impl Transport for Server {
    type Message = Incoming;
    const FOREIGN_DESTINATION: &'static str = "non_loopback_destination";
    const RECORDS_READY: bool = true;

    /// The generator only ever talks to a server on this machine.
    fn may_send_to(&self, ip: IpAddr) -> bool {
        ip.is_loopback()
    }

    async fn recv(&mut self) -> Incoming {
        self.sig.recv().await
    }

    async fn on_message(
        &mut self,
        p: &mut Participant,
        m: &mut Media,
        msg: Incoming,
    ) -> Result<(), Error> {
        let msg = match msg {
            Incoming::Message(v) => v,
            Incoming::Closed(code) => {
                return Err(Error::Signal(format!(
                    "closed by the server (code {code:?})"
                )))
            }
        };
        match msg_type(&msg) {
            "answer" => {
                let pending = self
                    .pending
                    .take()
                    .ok_or(Error::Media("answer without an offer".into()))?;
                main_leg(m)?.accept_answer(pending, field(&msg, "sdp"))?;
            }
            "offer" => {
                let answer = main_leg(m)?.accept_offer(field(&msg, "sdp"))?;
                self.sig
                    .send(&json!({"type": "answer", "sdp": answer}))
                    .await?;
                let tracks = received_streams(field(&msg, "sdp")).len();
                m.rx.on_offer(&p.shared, m.connected, tracks);
                for publisher in received_video_streams(field(&msg, "sdp")) {
                    self.send_video_size(p, publisher).await?;
                }
            }
            "track_published" if field(&msg, "kind") == "video" => {
                let publisher = field(&msg, "participant_id").to_owned();
                self.send_video_size(p, publisher).await?;
            }
            "error" => {
                let code = field(&msg, "code");
                p.shared.error(code);
                tracing::debug!(participant = p.spec.index, code, "server error");
            }
            "session_ended" => return Err(Error::Server("session_ended".into())),
            _ => {}
        }
        Ok(())
    }

    fn due(&self, _now: Instant) -> Instant {
        self.sig.ping_due()
    }

    async fn on_due(
        &mut self,
        _: &mut Participant,
        _: &mut Media,
        _: Instant,
    ) -> Result<(), Error> {
        self.sig.keep_alive().await
    }
}

impl Server {
    /// With `--view-height`: tells the SFU, once per publisher, the size its video is shown at.
    async fn send_video_size(&mut self, p: &Participant, publisher: String) -> Result<(), Error> {
        let Some(height) = p.spec.view_height else {
            return Ok(());
        };
        if publisher.is_empty() || !self.sized.insert(publisher.clone()) {
            return Ok(());
        }
        let width = (u64::from(height) * 16 / 9).min(16_384);
        self.sig
            .send(&json!({"type": "video_size", "participant_id": publisher, "width": width, "height": height}))
            .await
    }
}

/// The one PeerConnection, made before the media loop starts.
fn main_leg(m: &mut Media) -> Result<&mut Leg, Error> {
    m.main
        .as_mut()
        .ok_or(Error::Media("no PeerConnection".into()))
}

/// The publishers (media stream ids) of the video an SFU offer sends this client: `a=msid`
/// of the `m=video` sections the SFU sends (`a=sendonly` from its side).
pub fn received_video_streams(sdp: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (video, id) in received_streams(sdp) {
        if video && !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// The tracks an offer sends us (`a=sendonly` m-sections with an msid): whether each is
/// video, and its stream id (the publisher), in SDP order.
pub fn received_streams(sdp: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut section: Option<(bool, bool, Option<String>)> = None; // (video, sendonly, msid)
    let flush = |s: Option<(bool, bool, Option<String>)>, out: &mut Vec<(bool, String)>| {
        if let Some((video, true, Some(id))) = s {
            out.push((video, id));
        }
    };
    for line in sdp.lines().map(str::trim_end) {
        if let Some(rest) = line.strip_prefix("m=") {
            flush(section.take(), &mut out);
            section = Some((rest.starts_with("video"), false, None));
        } else if let Some(s) = section.as_mut() {
            if line == "a=sendonly" {
                s.1 = true;
            } else if let Some(msid) = line.strip_prefix("a=msid:") {
                s.2 = msid.split_whitespace().next().map(str::to_owned);
            }
        }
    }
    flush(section, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_publishers_of_offered_video() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=recvonly\r\na=msid:loadgen-3 a\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\na=msid:42 a1\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=msid:42 v1\r\na=sendonly\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\na=msid:loadgen-3 v\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\na=msid:77 v2\r\n";
        assert_eq!(received_video_streams(sdp), vec!["42", "77"]);
        let all = received_streams(sdp);
        assert_eq!(
            all,
            vec![
                (false, "42".into()),
                (true, "42".into()),
                (true, "77".into())
            ]
        );
        assert!(received_video_streams("").is_empty());
    }
}
