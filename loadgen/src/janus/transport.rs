//! One simulated participant through Janus: a session, a publisher PeerConnection and/or a
//! multistream subscriber PeerConnection, each a `str0m::Rtc` with its own UDP socket, driven
//! sans-IO by one tokio task. Frames and measurements are [`crate::participant`]'s.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::api::{self, Client, Event as JanusEvent};
use crate::participant::{is_rtp, Outgoing, Reception, Report, Spec};
use crate::payload::Kind;
use crate::shared::{Control, Counters, RoomInfo, Shared};
use crate::Error;

/// Datagrams read in one go before the Rtc's output is drained.
const RECV_BATCH: usize = 64;
/// Receive buffer: above any datagram on a 1500-byte MTU.
const RECV_BUFFER: usize = 2048;
/// How often a participant asks Janus whether every publisher of its room publishes.
const FEED_CHECK_EVERY: Duration = Duration::from_millis(250);
/// Events queued between the poller and the participant.
const EVENT_QUEUE: usize = 64;

/// Runs one participant to the end. `room.session_id` holds the videoroom room id;
/// `feeds` is how many publishers (other than itself) it must receive.
pub async fn run(
    spec: Spec,
    room: Arc<RoomInfo>,
    target: api::Target,
    feeds: usize,
    shared: Arc<Shared>,
    control: watch::Receiver<Control>,
) -> Report {
    let mut report = Report::new(spec.index);
    report.talking = spec.talking;
    let client = Client::new(target.clone(), &format!("p{}", spec.index));
    // Without a route to Janus binding fails below and says so.
    let local_ip =
        super::local_ip_towards(target.addr).unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let mut p = Participant {
        spec,
        shared: shared.clone(),
        control,
        client,
        target,
        local_ip,
        feeds,
        report: &mut report,
        session: None,
        poller: None,
    };
    let result = p.run(&room).await;
    // Leave in every case: destroying the session frees everything Janus holds for us.
    if let Some(s) = p.session {
        p.report.clean_leave = p.client.destroy(s).await.is_ok();
    }
    if let Some(poller) = p.poller.take() {
        poller.abort();
    }
    if let Err(e) = result {
        Counters::inc(&shared.counters.failed);
        shared.error(&e.class());
        tracing::debug!(participant = report.index, "failed: {e}");
        report.failure = Some(e.to_string());
    }
    Counters::inc(&shared.counters.finished);
    report
}

/// Long-polls `session` and hands every event to the participant, until the participant
/// goes away or the session is gone.
pub(crate) fn spawn_poller(
    client: Client,
    session: u64,
    tx: mpsc::Sender<JanusEvent>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut failures = 0u32;
        loop {
            match client.poll(session).await {
                Ok(events) => {
                    failures = 0;
                    for v in events {
                        let e = api::parse_event(&v);
                        if e != JanusEvent::Other && tx.send(e).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    failures += 1;
                    tracing::debug!(session, "janus poll failed: {e}");
                    if failures > 5 || tx.is_closed() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    })
}

/// One PeerConnection.
struct Leg {
    handle: u64,
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    timeout: Instant,
    connected: bool,
}

/// A track we publish.
struct Track {
    out: Outgoing,
    mid: Mid,
    pt: Option<Pt>,
}

/// Where the subscription stands.
enum Sub {
    /// Nothing to receive.
    None,
    /// Waiting for every publisher of the room; asks again at the instant.
    Waiting(Instant),
    /// Joined as subscriber; waiting for Janus's offer on `handle`.
    Joining { handle: u64, transaction: String },
    /// Answered.
    Running,
}

struct Participant<'a> {
    spec: Spec,
    shared: Arc<Shared>,
    control: watch::Receiver<Control>,
    client: Client,
    /// Janus's HTTP API; its address is also where media goes.
    target: api::Target,
    /// Our address towards Janus (media sockets bind here).
    local_ip: IpAddr,
    feeds: usize,
    report: &'a mut Report,
    session: Option<u64>,
    poller: Option<JoinHandle<()>>,
}

impl Participant<'_> {
    async fn run(&mut self, room: &RoomInfo) -> Result<(), Error> {
        let room_id: u64 = room
            .session_id
            .parse()
            .map_err(|_| Error::Config("janus room id is not a number".into()))?;
        let deadline = Instant::now() + self.spec.setup_timeout;
        let knocked = Instant::now();
        let session = self.client.create_session().await?;
        self.session = Some(session);
        let (tx, mut events) = mpsc::channel(EVENT_QUEUE);
        self.poller = Some(spawn_poller(self.client.clone(), session, tx));

        let rx = Reception::new(knocked, self.spec.expect_tracks, 0);
        let mut publisher = None;
        let mut tracks = Vec::new();
        let mut my_id = None;
        if self.spec.audio || self.spec.video {
            let (leg, t, id) = self
                .publish(session, room_id, &mut events, deadline)
                .await?;
            publisher = Some(leg);
            tracks = t;
            my_id = Some(id);
        }
        let sub = if self.feeds > 0 {
            Sub::Waiting(Instant::now())
        } else {
            Sub::None
        };
        let mut state = State {
            publisher,
            subscriber: None,
            tracks,
            rx,
            sub,
            connected: false,
            rng: u64::from(self.spec.index).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        };
        self.drive(session, room_id, my_id, &mut state, &mut events, deadline)
            .await
    }

    /// Joins as publisher, offers, applies Janus's answer. Returns the leg, its tracks and our
    /// publisher id.
    async fn publish(
        &mut self,
        session: u64,
        room: u64,
        events: &mut mpsc::Receiver<JanusEvent>,
        deadline: Instant,
    ) -> Result<(Leg, Vec<Track>, u64), Error> {
        let handle = self.client.attach(session).await?;
        let (tx, _) = self
            .client
            .message(
                session,
                handle,
                api::join_publisher(room, &self.spec.name),
                None,
            )
            .await?;
        let (data, _) = wait_plugin(events, &tx, deadline).await?;
        let my_id = data
            .get("id")
            .and_then(serde_json::Value::as_u64)
            .ok_or(Error::Server("janus joined without an id".into()))?;
        let mut leg = self.new_leg(handle).await?;
        let mut tracks = Vec::new();
        let (offer, pending) = {
            let mut sdp = leg.rtc.sdp_api();
            let stream = format!("loadgen-{}", self.spec.index);
            for (kind, media, on) in [
                (Kind::Audio, MediaKind::Audio, self.spec.audio),
                (Kind::Video, MediaKind::Video, self.spec.video),
            ] {
                if !on {
                    continue;
                }
                let suffix = if kind == Kind::Audio { "a" } else { "v" };
                let mid = sdp.add_media(
                    media,
                    Direction::SendOnly,
                    Some(stream.clone()),
                    Some(format!("{stream}-{suffix}")),
                    None,
                );
                tracks.push(Track {
                    out: Outgoing::new(kind, mid, self.spec.fps),
                    mid,
                    pt: None,
                });
            }
            // add_media always asks for a negotiation, so apply returns an offer.
            sdp.apply().ok_or(Error::Media("no offer to make".into()))?
        };
        let (tx, _) = self
            .client
            .message(
                session,
                handle,
                api::publish(),
                Some(api::jsep("offer", &offer.to_sdp_string())),
            )
            .await?;
        let (_, jsep) = wait_plugin(events, &tx, deadline).await?;
        let Some((kind, sdp)) = jsep else {
            return Err(Error::Media("janus answered publish without SDP".into()));
        };
        if kind != "answer" {
            return Err(Error::Media(format!("janus sent {kind} for our offer")));
        }
        accept_answer(&mut leg.rtc, pending, &sdp)?;
        self.client.trickle_completed(session, handle).await?;
        Ok((leg, tracks, my_id))
    }

    async fn new_leg(&self, handle: u64) -> Result<Leg, Error> {
        let socket = UdpSocket::bind(SocketAddr::new(self.local_ip, 0))
            .await
            .map_err(|e| Error::Media(format!("binding UDP: {e}")))?;
        let local = socket
            .local_addr()
            .map_err(|e| Error::Media(format!("UDP address: {e}")))?;
        let mut config = RtcConfig::new()
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true);
        if let Some(cert) = &self.shared.cert {
            config = config.set_dtls_cert(cert.clone());
        }
        let mut rtc = config.build(Instant::now().into_std());
        let candidate = Candidate::host(local, "udp")
            .map_err(|e| Error::Media(format!("host candidate: {e}")))?;
        rtc.add_local_candidate(candidate);
        Ok(Leg {
            handle,
            rtc,
            socket,
            local,
            timeout: Instant::now(),
            connected: false,
        })
    }

    /// The media loop: until told to leave.
    async fn drive(
        &mut self,
        session: u64,
        room: u64,
        my_id: Option<u64>,
        s: &mut State,
        events: &mut mpsc::Receiver<JanusEvent>,
        setup_deadline: Instant,
    ) -> Result<(), Error> {
        let mut pub_buf = vec![0u8; RECV_BUFFER];
        let mut sub_buf = vec![0u8; RECV_BUFFER];
        let sleep = tokio::time::sleep_until(Instant::now());
        tokio::pin!(sleep);
        let mut publishing = true;
        self.drain_all(s).await?;
        loop {
            match *self.control.borrow() {
                Control::Leave => return Ok(()),
                Control::StopMedia => publishing = false,
                Control::Run => {}
            }
            let ready = s.rx.ready && s.connected;
            if self.spec.leave_when_ready && ready {
                return Ok(());
            }
            let now = Instant::now();
            if !ready && now >= setup_deadline {
                return Err(Error::Timeout(if s.connected {
                    "receiving every track"
                } else {
                    "connecting ICE/DTLS"
                }));
            }
            // A second-long fallback keeps the loop checking its deadlines.
            let mut deadline = now + Duration::from_secs(1);
            for leg in [&s.publisher, &s.subscriber].into_iter().flatten() {
                deadline = deadline.min(leg.timeout);
            }
            if !ready {
                deadline = deadline.min(setup_deadline);
            }
            if let Sub::Waiting(at) = s.sub {
                deadline = deadline.min(at);
            }
            let pub_connected = s.publisher.as_ref().is_some_and(|l| l.connected);
            if publishing && pub_connected {
                for t in &s.tracks {
                    deadline = deadline.min(t.out.next);
                }
            }
            sleep.as_mut().reset(deadline);
            tokio::select! {
                changed = self.control.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
                received = recv(s.publisher.as_ref(), &mut pub_buf) => {
                    let (n, source) = received?;
                    // A leg exists when its socket yields.
                    let leg = s.publisher.as_mut().expect("publisher leg");
                    self.receive(leg, source, &pub_buf[..n]);
                    for _ in 0..RECV_BATCH {
                        let Ok((n, source)) = batch(leg, &mut pub_buf) else { break };
                        self.receive(leg, source, &pub_buf[..n]);
                    }
                }
                received = recv(s.subscriber.as_ref(), &mut sub_buf) => {
                    let (n, source) = received?;
                    let leg = s.subscriber.as_mut().expect("subscriber leg");
                    self.receive(leg, source, &sub_buf[..n]);
                    for _ in 0..RECV_BATCH {
                        let Ok((n, source)) = batch(leg, &mut sub_buf) else { break };
                        self.receive(leg, source, &sub_buf[..n]);
                    }
                }
                event = events.recv() => {
                    let Some(event) = event else {
                        return Err(Error::Signal("janus long-poll ended".into()));
                    };
                    self.on_janus(session, s, event).await?;
                }
                () = &mut sleep => {
                    let now = Instant::now();
                    for leg in [&mut s.publisher, &mut s.subscriber].into_iter().flatten() {
                        if now >= leg.timeout {
                            leg.rtc.handle_input(Input::Timeout(now.into_std()))
                                .map_err(|e| Error::Media(format!("timeout: {e}")))?;
                        }
                    }
                    if publishing && pub_connected {
                        self.publish_due(s, now)?;
                    }
                    if let Sub::Waiting(at) = s.sub {
                        if now >= at && (s.publisher.is_none() || pub_connected) {
                            self.try_subscribe(session, room, my_id, s).await?;
                        } else if now >= at {
                            s.sub = Sub::Waiting(now + FEED_CHECK_EVERY);
                        }
                    }
                }
            }
            self.drain_all(s).await?;
        }
    }

    /// Subscribes once every other publisher of the room publishes.
    async fn try_subscribe(
        &mut self,
        session: u64,
        room: u64,
        my_id: Option<u64>,
        s: &mut State,
    ) -> Result<(), Error> {
        // Ask on the publisher's handle, or on a fresh one that becomes the subscriber's.
        let handle = match &s.publisher {
            Some(l) => l.handle,
            None => match &s.subscriber {
                Some(l) => l.handle,
                None => {
                    let h = self.client.attach(session).await?;
                    s.subscriber = Some(self.new_leg(h).await?);
                    h
                }
            },
        };
        let (_, list) = self
            .client
            .message(session, handle, api::list_participants(room), None)
            .await?;
        let feeds = api::published_feeds(&list, my_id);
        if feeds.len() < self.feeds {
            s.sub = Sub::Waiting(Instant::now() + FEED_CHECK_EVERY);
            return Ok(());
        }
        let sub_handle = match &s.subscriber {
            Some(l) => l.handle,
            None => {
                let h = self.client.attach(session).await?;
                s.subscriber = Some(self.new_leg(h).await?);
                h
            }
        };
        let (transaction, _) = self
            .client
            .message(
                session,
                sub_handle,
                api::join_subscriber(room, &feeds),
                None,
            )
            .await?;
        s.sub = Sub::Joining {
            handle: sub_handle,
            transaction,
        };
        Ok(())
    }

    async fn on_janus(&mut self, session: u64, s: &mut State, e: JanusEvent) -> Result<(), Error> {
        match e {
            JanusEvent::Plugin {
                transaction,
                sender,
                data,
                jsep,
            } => {
                let Sub::Joining {
                    handle,
                    transaction: want,
                } = &s.sub
                else {
                    return Ok(());
                };
                if sender != *handle || transaction.as_deref() != Some(want.as_str()) {
                    return Ok(());
                }
                let handle = *handle;
                if let Some(code) = data.get("error_code").and_then(serde_json::Value::as_i64) {
                    if code == 428 {
                        // A feed went away between listing and joining: list again.
                        s.sub = Sub::Waiting(Instant::now() + FEED_CHECK_EVERY);
                        return Ok(());
                    }
                    return Err(Error::Server(format!("videoroom {code}: {data}")));
                }
                let Some((kind, sdp)) = jsep else {
                    return Err(Error::Media("janus attached without an offer".into()));
                };
                if kind != "offer" {
                    return Err(Error::Media(format!("janus sent {kind} to a subscriber")));
                }
                let leg = s
                    .subscriber
                    .as_mut()
                    .expect("subscriber leg made before joining");
                let offer = SdpOffer::from_sdp_string(&sdp)
                    .map_err(|e| Error::Media(format!("bad offer: {e}")))?;
                let answer = leg
                    .rtc
                    .sdp_api()
                    .accept_offer(offer)
                    .map_err(|e| Error::Media(format!("offer refused: {e}")))?;
                self.client
                    .message(
                        session,
                        handle,
                        api::start(),
                        Some(api::jsep("answer", &answer.to_sdp_string())),
                    )
                    .await?;
                self.client.trickle_completed(session, handle).await?;
                s.sub = Sub::Running;
            }
            JanusEvent::Hangup { sender, reason } => {
                return Err(Error::Media(format!(
                    "janus hung up handle {sender}: {reason}"
                )));
            }
            JanusEvent::WebrtcUp { .. } | JanusEvent::Other => {}
        }
        Ok(())
    }

    fn receive(&mut self, leg: &mut Leg, source: SocketAddr, data: &[u8]) {
        if is_rtp(data) {
            Counters::inc(&self.shared.counters.rtp_rx_packets);
            self.shared
                .counters
                .rtp_rx_bytes
                .fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
            if self.shared.is_measuring() {
                self.report.win_rx_packets += 1;
                self.report.win_rx_bytes += data.len() as u64;
            }
        }
        let Ok(contents) = DatagramRecv::try_from(data) else {
            return;
        };
        let input = Input::Receive(
            Instant::now().into_std(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination: leg.local,
                contents,
            },
        );
        if let Err(e) = leg.rtc.handle_input(input) {
            tracing::debug!(participant = self.spec.index, "input rejected: {e}");
        }
    }

    fn publish_due(&mut self, s: &mut State, now: Instant) -> Result<(), Error> {
        let in_window = self.shared.is_measuring();
        let Some(leg) = s.publisher.as_mut() else {
            return Ok(());
        };
        for t in &mut s.tracks {
            if t.out.next > now {
                continue;
            }
            let Some(mut writer) = leg.rtc.writer(t.mid) else {
                t.out.next = now + Duration::from_millis(20);
                continue;
            };
            let pt = match t.pt {
                Some(pt) => pt,
                None => {
                    let Some(pt) = writer.payload_params().next().map(|p| p.pt()) else {
                        return Err(Error::Media("no codec negotiated".into()));
                    };
                    t.pt = Some(pt);
                    pt
                }
            };
            let sent = Instant::now();
            let (frame, _) = t
                .out
                .frame(&self.spec, &self.shared, &mut s.rng, in_window, sent);
            let elapsed = sent.into_std().saturating_duration_since(self.shared.epoch);
            let time = match t.out.kind {
                Kind::Audio => {
                    writer = if self.spec.talking {
                        writer.audio_level(-30, true)
                    } else {
                        writer.audio_level(-127, false)
                    };
                    MediaTime::new(
                        u64::try_from(elapsed.as_micros() * 48 / 1000).unwrap_or(0),
                        Frequency::FORTY_EIGHT_KHZ,
                    )
                }
                Kind::Video => MediaTime::new(
                    u64::try_from(elapsed.as_micros() * 9 / 100).unwrap_or(0),
                    Frequency::NINETY_KHZ,
                ),
            };
            writer
                .write(pt, sent.into_std(), time, frame)
                .map_err(|e| Error::Media(format!("write: {e}")))?;
            t.out.sent(now, &self.shared, self.report, in_window);
        }
        Ok(())
    }

    async fn drain_all(&mut self, s: &mut State) -> Result<(), Error> {
        if let Some(mut leg) = s.publisher.take() {
            let r = self.drain(&mut leg, s, true).await;
            s.publisher = Some(leg);
            r?;
        }
        if let Some(mut leg) = s.subscriber.take() {
            let r = self.drain(&mut leg, s, false).await;
            s.subscriber = Some(leg);
            r?;
        }
        Ok(())
    }

    /// Drains one Rtc: sends datagrams, handles events, keeps the next timeout.
    async fn drain(&mut self, leg: &mut Leg, s: &mut State, is_pub: bool) -> Result<(), Error> {
        loop {
            let out = leg
                .rtc
                .poll_output()
                .map_err(|e| Error::Media(format!("rtc: {e}")))?;
            match out {
                Output::Timeout(t) => {
                    leg.timeout = Instant::from_std(t);
                    return Ok(());
                }
                Output::Transmit(t) => {
                    let ip = t.destination.ip();
                    if !(ip.is_loopback() || ip == self.target.addr.ip()) {
                        // Janus's candidates are on its own address only; anything else is
                        // never contacted.
                        self.shared.error("foreign_destination");
                        continue;
                    }
                    if is_rtp(&t.contents) && self.shared.is_measuring() {
                        self.report.win_tx_packets += 1;
                        self.report.win_tx_bytes += t.contents.len() as u64;
                    }
                    match leg.socket.try_send_to(&t.contents, t.destination) {
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            leg.socket
                                .send_to(&t.contents, t.destination)
                                .await
                                .map_err(|e| Error::Media(format!("UDP send: {e}")))?;
                        }
                        Err(e) => return Err(Error::Media(format!("UDP send: {e}"))),
                    }
                }
                Output::Event(e) => self.on_event(leg, s, is_pub, e)?,
            }
        }
    }

    fn on_event(
        &mut self,
        leg: &mut Leg,
        s: &mut State,
        is_pub: bool,
        e: Event,
    ) -> Result<(), Error> {
        match e {
            Event::Connected => {
                leg.connected = true;
                // The participant counts as connected with its first PeerConnection: the
                // publisher's, or a receive-only participant's subscription.
                if !s.connected {
                    s.connected = true;
                    self.report.join = Some(s.rx.knocked.elapsed());
                    Counters::inc(&self.shared.counters.connected);
                    if s.rx.ready {
                        Counters::inc(&self.shared.counters.ready);
                    }
                }
                if is_pub {
                    let now = Instant::now();
                    for t in &mut s.tracks {
                        t.out.next = now;
                    }
                }
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                return Err(Error::Media("ICE disconnected".into()));
            }
            Event::Closed => return Err(Error::Media("connection closed".into())),
            Event::KeyframeRequest(req) => {
                for t in &mut s.tracks {
                    if t.mid == req.mid && t.out.kind == Kind::Video {
                        t.out.keyframe_wanted = true;
                    }
                }
            }
            Event::MediaData(data) => {
                let now = Instant::now();
                s.rx.on_frame(
                    &self.spec,
                    &self.shared,
                    self.report,
                    s.connected,
                    &data.data,
                    now,
                );
            }
            _ => {}
        }
        Ok(())
    }
}

/// Everything a participant's media loop holds.
struct State {
    publisher: Option<Leg>,
    subscriber: Option<Leg>,
    tracks: Vec<Track>,
    rx: Reception,
    sub: Sub,
    /// The first PeerConnection is up.
    connected: bool,
    rng: u64,
}

/// The next datagram of a leg; never ready without one.
async fn recv(leg: Option<&Leg>, buf: &mut [u8]) -> Result<(usize, SocketAddr), Error> {
    match leg {
        Some(l) => l
            .socket
            .recv_from(buf)
            .await
            .map_err(|e| Error::Media(format!("UDP receive: {e}"))),
        None => std::future::pending().await,
    }
}

/// Up to [`RECV_BATCH`] more datagrams without waiting: `Err` ends the batch.
fn batch(leg: &Leg, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    leg.socket.try_recv_from(buf)
}

fn accept_answer(rtc: &mut Rtc, pending: SdpPendingOffer, sdp: &str) -> Result<(), Error> {
    let answer =
        SdpAnswer::from_sdp_string(sdp).map_err(|e| Error::Media(format!("bad answer: {e}")))?;
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .map_err(|e| Error::Media(format!("answer refused: {e}")))
}

/// Waits for the plugin event answering `transaction`; returns its data and JSEP.
async fn wait_plugin(
    events: &mut mpsc::Receiver<JanusEvent>,
    transaction: &str,
    deadline: Instant,
) -> Result<(serde_json::Value, Option<(String, String)>), Error> {
    loop {
        let e = tokio::time::timeout_at(deadline, events.recv())
            .await
            .map_err(|_| Error::Timeout("waiting for janus"))?
            .ok_or(Error::Signal("janus long-poll ended".into()))?;
        match e {
            JanusEvent::Plugin {
                transaction: Some(t),
                data,
                jsep,
                ..
            } if t == transaction => {
                if let Some(code) = data.get("error_code").and_then(serde_json::Value::as_i64) {
                    return Err(Error::Server(format!("videoroom {code}: {data}")));
                }
                return Ok((data, jsep));
            }
            JanusEvent::Hangup { sender, reason } => {
                return Err(Error::Media(format!(
                    "janus hung up handle {sender}: {reason}"
                )))
            }
            _ => {}
        }
    }
}
