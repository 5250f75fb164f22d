//! One simulated participant: a signalling websocket, a full-ICE `str0m::Rtc` with one UDP
//! socket on 127.0.0.1, synthetic publishing and measuring reception. Driven sans-IO by one
//! tokio task.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{
    Direction, Frequency, MediaKind, MediaTime, Mid, Pt, Rid, Simulcast, SimulcastLayer,
};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::rtp::vla::{
    ResolutionAndFramerate, SimulcastStreamAllocation, SpatialLayerAllocation,
    TemporalLayerAllocation, VideoLayersAllocation,
};
use str0m::rtp::Extension;
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::payload::{self, Kind, Layer, Stamp};
use crate::shared::{Control, Counters, RoomInfo, Shared};
use crate::signal::{field, msg_type, Incoming, Signal};
use crate::simulcast::LayerTrail;
use crate::Error;

/// Audio frame duration.
pub const AUDIO_FRAME: Duration = Duration::from_millis(20);
/// Opus-shaped frames are this many bytes at least …
const AUDIO_MIN_BYTES: usize = 80;
/// … and at most.
const AUDIO_MAX_BYTES: usize = 160;
/// A keyframe is this many times the average video frame.
const KEYFRAME_FACTOR: usize = 4;
/// A publisher that falls this far behind its frame schedule skips ahead (and counts the
/// skipped frames as `late`): a sign the load generator itself is overloaded.
const MAX_BEHIND: Duration = Duration::from_millis(200);
/// Datagrams read in one go before the Rtc's output is drained.
const RECV_BATCH: usize = 64;
/// Receive buffer: above any datagram on a 1500-byte MTU.
const RECV_BUFFER: usize = 2048;
/// Highest latency the histogram holds, in microseconds (60 s).
const HIST_MAX_US: u64 = 60_000_000;
/// Header extension id of video-layers-allocation: the same as the SFU's, so its answer keeps it.
const VIDEO_LAYERS_ALLOCATION_ID: u8 = 14;

/// What one participant does.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Unique index in the run; also the publisher id in stamps.
    pub index: u32,
    /// Display name.
    pub name: String,
    /// Publish audio.
    pub audio: bool,
    /// Publish video.
    pub video: bool,
    /// Tracks of others that must deliver a frame before this participant is ready (not the
    /// silent publishers' audio, see `talking`).
    pub expect_tracks: usize,
    /// Tracks of others the server must have offered (negotiated) before this participant is
    /// ready, silent or not: a window that opens during the renegotiations of a join storm
    /// would measure them. Only through the server; other forwarders do not count it.
    pub expect_negotiated: usize,
    /// Leave as soon as every expected track has delivered a frame (churn).
    pub leave_when_ready: bool,
    /// Average video bitrate, kbit/s.
    pub video_kbps: u32,
    /// Video frames per second.
    pub fps: u32,
    /// Publish video as three simulcast layers (`q`, `h`, `f`; see [`Layer`]).
    pub simulcast: bool,
    /// Tell the SFU (`video_size`) that every received video is shown this many device pixels
    /// tall (and 16:9 wide).
    pub view_height: Option<u32>,
    /// Give up joining after this long.
    pub setup_timeout: Duration,
    /// Sends its audio at a talking level (-30 dBov) rather than silence (-127).
    pub talking: bool,
}

/// Frames received from one publisher track.
#[derive(Debug, Clone, Default)]
pub struct RxTrack {
    /// Frames stamped `in_window`.
    pub in_window: u64,
    /// All frames.
    pub total: u64,
    /// Lowest and highest sequence number seen.
    pub first_seq: Option<u64>,
    /// Highest sequence number seen.
    pub last_seq: u64,
    /// Frames that arrived with a sequence number not above the last one (reordered or
    /// duplicated), counted inside the window only.
    pub out_of_order: u64,
    /// Window frames that arrived a second time (not counted in `in_window`).
    pub duplicates: u64,
    /// Which window sequence numbers arrived: bit `seq - window_base`.
    seen: Vec<u64>,
    window_base: Option<u64>,
}

impl RxTrack {
    /// Marks a window frame as seen; false if it was seen before.
    fn see(&mut self, seq: u64) -> bool {
        let base = *self
            .window_base
            .get_or_insert(seq.saturating_sub(WINDOW_SLACK));
        let Some(off) = seq.checked_sub(base) else {
            // Far older than the first window frame: cannot be checked, count it.
            return true;
        };
        let (word, bit) = ((off / 64) as usize, off % 64);
        if word >= self.seen.len() {
            self.seen.resize(word + 1, 0);
        }
        let fresh = self.seen[word] & (1 << bit) == 0;
        self.seen[word] |= 1 << bit;
        fresh
    }
}

/// Window frames may arrive this many sequence numbers before the first one that arrived.
const WINDOW_SLACK: u64 = 4096;

/// Frames published on one track (with simulcast: one layer of it).
#[derive(Debug, Clone, Default)]
pub struct TxTrack {
    /// Frames stamped `in_window`.
    pub in_window: u64,
    /// All frames.
    pub total: u64,
    /// Sequence number of the first frame stamped `in_window` (they are consecutive).
    pub first_window_seq: Option<u64>,
    /// RTP packets sent on this layer's SSRC inside the window (simulcast layers only).
    pub win_packets: u64,
}

impl TxTrack {
    /// First and last sequence number stamped `in_window`, if any.
    pub fn window_seqs(&self) -> Option<(u64, u64)> {
        let first = self.first_window_seq?;
        (self.in_window > 0).then(|| (first, first + self.in_window - 1))
    }
}

/// What a participant reports when it is done.
#[derive(Debug)]
pub struct Report {
    /// The spec's index.
    pub index: u32,
    /// Why it failed, if it did.
    pub failure: Option<String>,
    /// Knock → `admitted` (the host's admission through the lobby).
    pub admitted: Option<Duration>,
    /// Knock → ICE + DTLS connected.
    pub join: Option<Duration>,
    /// Knock → first media frame received.
    pub first_frame: Option<Duration>,
    /// Knock → connected and a frame of every expected track received (what a churn cycle
    /// waits for before it leaves).
    pub ready: Option<Duration>,
    /// `leave` sent → the server closed the websocket.
    pub leave: Option<Duration>,
    /// One-way latency of `in_window` frames, microseconds.
    pub latency_us: Histogram<u64>,
    /// Received frames by (publisher, kind, simulcast layer).
    pub rx: BTreeMap<(u32, Kind, Option<Layer>), RxTrack>,
    /// Published frames by kind and simulcast layer.
    pub tx: BTreeMap<(Kind, Option<Layer>), TxTrack>,
    /// Simulcast video received, by publisher: layers, switches, window stretches.
    pub trails: BTreeMap<u32, LayerTrail>,
    /// One-way latency of `in_window` simulcast frames by layer, microseconds.
    pub layer_latency_us: BTreeMap<Layer, Histogram<u64>>,
    /// RTP datagrams received inside the window, and their bytes.
    pub win_rx_packets: u64,
    /// Bytes of those.
    pub win_rx_bytes: u64,
    /// RTP datagrams sent inside the window, and their bytes.
    pub win_tx_packets: u64,
    /// Bytes of those.
    pub win_tx_bytes: u64,
    /// Frames a publisher skipped because it fell behind its schedule.
    pub late_frames: u64,
    /// The server closed the websocket with 1000 after `leave`.
    pub clean_leave: bool,
    /// It published audio at a talking level (`Spec::talking`).
    pub talking: bool,
}

impl Report {
    pub(crate) fn new(index: u32) -> Report {
        Report {
            index,
            failure: None,
            admitted: None,
            join: None,
            first_frame: None,
            ready: None,
            leave: None,
            latency_us: new_histogram(),
            rx: BTreeMap::new(),
            tx: BTreeMap::new(),
            trails: BTreeMap::new(),
            layer_latency_us: BTreeMap::new(),
            win_rx_packets: 0,
            win_rx_bytes: 0,
            win_tx_packets: 0,
            win_tx_bytes: 0,
            late_frames: 0,
            clean_leave: false,
            talking: true,
        }
    }
}

/// A latency histogram: 1 µs to 60 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that satisfy new_with_bounds' preconditions (low >= 1,
    // high >= 2 * low, sigfig <= 5).
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("valid histogram bounds")
}

/// Runs one participant to the end: join, media until told to leave, leave.
pub async fn run(
    spec: Spec,
    room: Arc<RoomInfo>,
    shared: Arc<Shared>,
    control: watch::Receiver<Control>,
) -> Report {
    let mut report = Report::new(spec.index);
    report.talking = spec.talking;
    let mut p = Participant {
        spec,
        shared: shared.clone(),
        control,
        report: &mut report,
    };
    let result = p.run(&room).await;
    if let Err(e) = result {
        Counters::inc(&shared.counters.failed);
        shared.error(&e.class());
        tracing::debug!(participant = report.index, "failed: {e}");
        report.failure = Some(e.to_string());
    }
    Counters::inc(&shared.counters.finished);
    report
}

struct Participant<'a> {
    spec: Spec,
    shared: Arc<Shared>,
    control: watch::Receiver<Control>,
    report: &'a mut Report,
}

/// A track this participant publishes.
pub(crate) struct Outgoing {
    pub(crate) kind: Kind,
    mid: Mid,
    /// The simulcast layer this sends (video with `--simulcast`).
    pub(crate) layer: Option<Layer>,
    /// The layer's SSRC, once str0m made the stream.
    ssrc: Option<u32>,
    pt: Option<Pt>,
    /// Sequence number of the next frame on this track.
    pub(crate) seq: u64,
    /// When the next frame is due.
    pub(crate) next: Instant,
    interval: Duration,
    /// The next video frame is a keyframe.
    pub(crate) keyframe_wanted: bool,
}

impl Outgoing {
    /// A track of `kind` whose first frame is due now (video starts with a keyframe).
    pub(crate) fn new(kind: Kind, mid: Mid, fps: u32) -> Outgoing {
        Outgoing::with_layer(kind, mid, fps, None)
    }

    /// One simulcast layer of a video track at the layer's share of `fps`.
    pub(crate) fn layer(mid: Mid, fps: u32, layer: Layer) -> Outgoing {
        Outgoing::with_layer(Kind::Video, mid, layer.fps(fps), Some(layer))
    }

    fn with_layer(kind: Kind, mid: Mid, fps: u32, layer: Option<Layer>) -> Outgoing {
        let interval = match kind {
            Kind::Audio => AUDIO_FRAME,
            Kind::Video => Duration::from_secs(1) / fps.max(1),
        };
        Outgoing {
            kind,
            mid,
            layer,
            ssrc: None,
            pt: None,
            seq: 0,
            next: Instant::now(),
            interval,
            keyframe_wanted: kind == Kind::Video,
        }
    }

    /// The next frame of this track, stamped as sent at `sent`: Opus-shaped audio of a
    /// random 80–160 bytes, or VP8-shaped video of the average size (keyframes 4×); a
    /// simulcast layer's average is its share of the bitrate over its frame rate.
    /// Returns the frame and whether it is a keyframe.
    pub(crate) fn frame(
        &mut self,
        spec: &Spec,
        shared: &Shared,
        rng: &mut u64,
        in_window: bool,
        sent: Instant,
    ) -> (Vec<u8>, bool) {
        let stamp = Stamp {
            publisher: spec.index,
            kind: self.kind,
            in_window,
            seq: self.seq,
            sent_ns: shared.ns(sent.into_std()),
            layer: self.layer,
        };
        match self.kind {
            Kind::Audio => {
                *rng ^= *rng << 13;
                *rng ^= *rng >> 7;
                *rng ^= *rng << 17;
                let size =
                    AUDIO_MIN_BYTES + (*rng as usize) % (AUDIO_MAX_BYTES - AUDIO_MIN_BYTES + 1);
                (payload::audio_frame(&stamp, size), false)
            }
            Kind::Video => {
                let (kbps, fps) = match self.layer {
                    Some(l) => (l.kbps(spec.video_kbps), l.fps(spec.fps)),
                    None => (spec.video_kbps, spec.fps),
                };
                let avg = (kbps as usize * 1000 / 8) / fps.max(1) as usize;
                let key = std::mem::take(&mut self.keyframe_wanted);
                let size = if key { avg * KEYFRAME_FACTOR } else { avg };
                (payload::video_frame(&stamp, key, size), key)
            }
        }
    }

    /// Records that the frame due at `self.next` went out, schedules the next one, and skips
    /// ahead (counting the skipped frames as late) if the schedule fell more than
    /// [`MAX_BEHIND`] behind `now`.
    pub(crate) fn sent(
        &mut self,
        now: Instant,
        shared: &Shared,
        report: &mut Report,
        in_window: bool,
    ) {
        Counters::inc(&shared.counters.frames_tx);
        let t = report.tx.entry((self.kind, self.layer)).or_default();
        t.total += 1;
        if in_window {
            t.in_window += 1;
            t.first_window_seq.get_or_insert(self.seq);
        }
        self.seq += 1;
        self.next += self.interval;
        if now.saturating_duration_since(self.next) > MAX_BEHIND {
            let behind = now.saturating_duration_since(self.next);
            let skipped = (behind.as_nanos() / self.interval.as_nanos().max(1)) as u64;
            report.late_frames += skipped;
            self.next = now + self.interval;
        }
    }
}

/// What a receiver knows about its progress: when it knocked, how many of the tracks it
/// expects delivered a frame, and whether that is all of them.
pub(crate) struct Reception {
    /// When the participant knocked (or, without signalling, first said hello).
    pub(crate) knocked: Instant,
    /// (publisher, kind) of the tracks that delivered a frame.
    tracks_seen: BTreeSet<(u32, Kind)>,
    /// Tracks that must deliver a frame.
    expect_tracks: usize,
    /// Tracks the server offered in its latest offer, and how many it must.
    negotiated: usize,
    expect_negotiated: usize,
    /// Every expected track delivered a frame, and every track was negotiated.
    pub(crate) ready: bool,
}

impl Reception {
    pub(crate) fn new(
        knocked: Instant,
        expect_tracks: usize,
        expect_negotiated: usize,
    ) -> Reception {
        Reception {
            knocked,
            tracks_seen: BTreeSet::new(),
            expect_tracks,
            negotiated: 0,
            expect_negotiated,
            ready: expect_tracks == 0 && expect_negotiated == 0,
        }
    }

    /// The server's latest offer sends `tracks` tracks of others.
    pub(crate) fn on_offer(&mut self, shared: &Shared, connected: bool, tracks: usize) {
        self.negotiated = tracks;
        self.check_ready(shared, connected);
    }

    fn check_ready(&mut self, shared: &Shared, connected: bool) {
        if !self.ready
            && self.tracks_seen.len() >= self.expect_tracks
            && self.negotiated >= self.expect_negotiated
        {
            self.ready = true;
            if connected {
                Counters::inc(&shared.counters.ready);
            }
        }
    }

    /// One reassembled media frame arrived at `now`: checks its stamp and counts it.
    pub(crate) fn on_frame(
        &mut self,
        spec: &Spec,
        shared: &Shared,
        report: &mut Report,
        connected: bool,
        data: &[u8],
        now: Instant,
    ) {
        Counters::inc(&shared.counters.frames_rx);
        let Some(stamp) = payload::parse(data) else {
            shared.error("foreign_payload");
            return;
        };
        if report.first_frame.is_none() {
            report.first_frame = Some(now.saturating_duration_since(self.knocked));
        }
        let track = report
            .rx
            .entry((stamp.publisher, stamp.kind, stamp.layer))
            .or_default();
        // A track counts once, whichever simulcast layers it arrives on.
        if self.tracks_seen.insert((stamp.publisher, stamp.kind)) {
            self.check_ready(shared, connected);
        }
        track.total += 1;
        match track.first_seq {
            None => {
                track.first_seq = Some(stamp.seq);
                track.last_seq = stamp.seq;
            }
            Some(_) if stamp.seq > track.last_seq => track.last_seq = stamp.seq,
            Some(_) if stamp.in_window => {
                track.out_of_order += 1;
                tracing::debug!(
                    participant = spec.index,
                    publisher = stamp.publisher,
                    kind = ?stamp.kind,
                    seq = stamp.seq,
                    last = track.last_seq,
                    "frame out of order"
                );
            }
            Some(_) => {}
        }
        let fresh = !stamp.in_window || track.see(stamp.seq);
        if let Some(layer) = stamp.layer {
            report.trails.entry(stamp.publisher).or_default().on_frame(
                layer,
                stamp.seq,
                stamp.in_window,
                fresh,
            );
        }
        if stamp.in_window {
            if !fresh {
                track.duplicates += 1;
                return;
            }
            track.in_window += 1;
            let latency = shared.ns(now.into_std()).saturating_sub(stamp.sent_ns) / 1000;
            report.latency_us.saturating_record(latency.max(1));
            if let Some(layer) = stamp.layer {
                report
                    .layer_latency_us
                    .entry(layer)
                    .or_insert_with(new_histogram)
                    .saturating_record(latency.max(1));
            }
        }
    }
}

/// Per-connection media state.
struct Media {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    timeout: Instant,
    connected: bool,
    outgoing: Vec<Outgoing>,
    pending: Option<SdpPendingOffer>,
    rx: Reception,
    rng: u64,
    /// Publishers whose rendered size was sent (`video_size`).
    sized: BTreeSet<String>,
}

impl Participant<'_> {
    async fn run(&mut self, room: &RoomInfo) -> Result<(), Error> {
        let deadline = Instant::now() + self.spec.setup_timeout;
        // Wait in line so the server's lobby never overflows.
        let permit = tokio::time::timeout_at(deadline, room.lobby_gate.acquire())
            .await
            .map_err(|_| Error::Timeout("waiting to knock"))?
            .map_err(|_| Error::Timeout("lobby gate closed"))?;
        let mut sig = Signal::connect(&self.shared.authority).await?;
        let knocked = Instant::now();
        sig.send(&json!({"type": "knock", "v": 1, "link": room.link, "name": self.spec.name, "e2ee": true}))
            .await?;
        let admitted = self.wait_for(&mut sig, "admitted", deadline).await?;
        self.report.admitted = Some(knocked.elapsed());
        drop(permit);
        let room_id = field(&admitted, "room").to_owned();
        let token = field(&admitted, "token").to_owned();
        sig.send(&json!({"type": "join", "v": 1, "room": room_id, "token": token, "e2ee": true}))
            .await?;
        self.wait_for(&mut sig, "joined", deadline).await?;

        let mut media = self.start_media(knocked).await?;
        let (offer, pending) = {
            let mut api = media.rtc.sdp_api();
            let stream = format!("loadgen-{}", self.spec.index);
            let mut mids = Vec::new();
            if self.spec.audio {
                let mid = api.add_media(
                    MediaKind::Audio,
                    Direction::SendOnly,
                    Some(stream.clone()),
                    Some(format!("{stream}-a")),
                    None,
                );
                mids.push((Kind::Audio, mid));
            }
            if self.spec.video {
                let simulcast = self.spec.simulcast.then(|| {
                    let mut s = Simulcast::new();
                    for l in Layer::ALL {
                        s.add_send_layer(SimulcastLayer::new(l.rid()));
                    }
                    s
                });
                let mid = api.add_media(
                    MediaKind::Video,
                    Direction::SendOnly,
                    Some(stream.clone()),
                    Some(format!("{stream}-v")),
                    simulcast,
                );
                mids.push((Kind::Video, mid));
            }
            if mids.is_empty() {
                // A receive-only client still needs one m-line in its first offer.
                api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
            }
            for (kind, mid) in mids {
                if kind == Kind::Video && self.spec.simulcast {
                    for l in Layer::ALL {
                        media.outgoing.push(Outgoing::layer(mid, self.spec.fps, l));
                    }
                } else {
                    media.outgoing.push(Outgoing::new(kind, mid, self.spec.fps));
                }
            }
            // add_media always asks for a negotiation, so apply returns an offer.
            api.apply().ok_or(Error::Media("no offer to make".into()))?
        };
        media.pending = Some(pending);
        sig.send(&json!({"type": "offer", "sdp": offer.to_sdp_string()}))
            .await?;

        let outcome = self.drive(&mut sig, &mut media, deadline).await;
        // Leave in every case, so the server frees the participant at once.
        let leaving = Instant::now();
        let code = sig.leave().await;
        self.report.leave = Some(leaving.elapsed());
        self.report.clean_leave = code == Some(1000);
        outcome
    }

    /// Reads messages until one of type `want`; errors and closes fail.
    async fn wait_for(
        &mut self,
        sig: &mut Signal,
        want: &str,
        deadline: Instant,
    ) -> Result<Value, Error> {
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

    async fn start_media(&self, knocked: Instant) -> Result<Media, Error> {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::Media(format!("binding UDP: {e}")))?;
        crate::shared::enlarge_buffers(&socket);
        let local = socket
            .local_addr()
            .map_err(|e| Error::Media(format!("UDP address: {e}")))?;
        let mut config = RtcConfig::new()
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true);
        if self.spec.simulcast {
            // Publishers say each layer's resolution, which the SFU matches against the size
            // a subscriber renders at (`video_size`); without it the size is ignored.
            config = config.set_extension(
                VIDEO_LAYERS_ALLOCATION_ID,
                Extension::with_serializer(str0m::rtp::vla::URI, str0m::rtp::vla::Serializer),
            );
        }
        if let Some(cert) = &self.shared.cert {
            config = config.set_dtls_cert(cert.clone());
        }
        let now = Instant::now().into_std();
        let mut rtc = config.build(now);
        let candidate = Candidate::host(local, "udp")
            .map_err(|e| Error::Media(format!("host candidate: {e}")))?;
        rtc.add_local_candidate(candidate);
        Ok(Media {
            rtc,
            socket,
            local,
            timeout: Instant::now(),
            connected: false,
            outgoing: Vec::new(),
            pending: None,
            rx: Reception::new(
                knocked,
                self.spec.expect_tracks,
                self.spec.expect_negotiated,
            ),
            sized: BTreeSet::new(),
            rng: u64::from(self.spec.index).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        })
    }

    /// The media loop: until told to leave (or, for churn, until every track arrived).
    async fn drive(
        &mut self,
        sig: &mut Signal,
        m: &mut Media,
        setup_deadline: Instant,
    ) -> Result<(), Error> {
        let mut buf = vec![0u8; RECV_BUFFER];
        let sleep = tokio::time::sleep_until(Instant::now());
        tokio::pin!(sleep);
        let mut publishing = true;
        self.drain(m).await?;
        loop {
            let control = *self.control.borrow();
            match control {
                Control::Leave => return Ok(()),
                Control::StopMedia => publishing = false,
                Control::Run => {}
            }
            let ready = m.rx.ready && m.connected;
            if ready && self.report.ready.is_none() {
                self.report.ready = Some(m.rx.knocked.elapsed());
            }
            if self.spec.leave_when_ready && ready {
                return Ok(());
            }
            if !ready && Instant::now() >= setup_deadline {
                return Err(Error::Timeout(if m.connected {
                    "receiving every track"
                } else {
                    "connecting ICE/DTLS"
                }));
            }
            let mut deadline = m.timeout.min(sig.ping_due());
            if !ready {
                deadline = deadline.min(setup_deadline);
            }
            if publishing && m.connected {
                for o in &m.outgoing {
                    deadline = deadline.min(o.next);
                }
            }
            sleep.as_mut().reset(deadline);
            tokio::select! {
                changed = self.control.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
                received = m.socket.recv_from(&mut buf) => {
                    let (n, source) = received.map_err(|e| Error::Media(format!("UDP receive: {e}")))?;
                    self.receive(m, source, &buf[..n]);
                    for _ in 0..RECV_BATCH {
                        match m.socket.try_recv_from(&mut buf) {
                            Ok((n, source)) => self.receive(m, source, &buf[..n]),
                            Err(_) => break,
                        }
                    }
                }
                msg = sig.recv() => self.on_signal(sig, m, msg).await?,
                () = &mut sleep => {
                    let now = Instant::now();
                    if now >= m.timeout {
                        m.rtc.handle_input(Input::Timeout(now.into_std()))
                            .map_err(|e| Error::Media(format!("timeout: {e}")))?;
                    }
                    if publishing && m.connected {
                        self.publish(m, now)?;
                    }
                    sig.keep_alive().await?;
                }
            }
            self.drain(m).await?;
        }
    }

    fn receive(&mut self, m: &mut Media, source: SocketAddr, data: &[u8]) {
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
                destination: m.local,
                contents,
            },
        );
        if let Err(e) = m.rtc.handle_input(input) {
            tracing::debug!(participant = self.spec.index, "input rejected: {e}");
        }
    }

    async fn on_signal(
        &mut self,
        sig: &mut Signal,
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
                let answer = SdpAnswer::from_sdp_string(field(&msg, "sdp"))
                    .map_err(|e| Error::Media(format!("bad answer: {e}")))?;
                let pending = m
                    .pending
                    .take()
                    .ok_or(Error::Media("answer without an offer".into()))?;
                m.rtc
                    .sdp_api()
                    .accept_answer(pending, answer)
                    .map_err(|e| Error::Media(format!("answer refused: {e}")))?;
            }
            "offer" => {
                let offer = SdpOffer::from_sdp_string(field(&msg, "sdp"))
                    .map_err(|e| Error::Media(format!("bad offer: {e}")))?;
                let answer = m
                    .rtc
                    .sdp_api()
                    .accept_offer(offer)
                    .map_err(|e| Error::Media(format!("offer refused: {e}")))?;
                sig.send(&json!({"type": "answer", "sdp": answer.to_sdp_string()}))
                    .await?;
                let tracks = received_streams(field(&msg, "sdp")).len();
                m.rx.on_offer(&self.shared, m.connected, tracks);
                for publisher in received_video_streams(field(&msg, "sdp")) {
                    self.send_video_size(sig, m, publisher).await?;
                }
            }
            "track_published" if field(&msg, "kind") == "video" => {
                let publisher = field(&msg, "participant_id").to_owned();
                self.send_video_size(sig, m, publisher).await?;
            }
            "error" => {
                let code = field(&msg, "code");
                self.shared.error(code);
                tracing::debug!(participant = self.spec.index, code, "server error");
            }
            "session_ended" => return Err(Error::Server("session_ended".into())),
            _ => {}
        }
        Ok(())
    }

    /// With `--view-height`: tells the SFU, once per publisher, the size its video is shown at.
    async fn send_video_size(
        &mut self,
        sig: &mut Signal,
        m: &mut Media,
        publisher: String,
    ) -> Result<(), Error> {
        let Some(height) = self.spec.view_height else {
            return Ok(());
        };
        if publisher.is_empty() || !m.sized.insert(publisher.clone()) {
            return Ok(());
        }
        let width = (u64::from(height) * 16 / 9).min(16_384);
        sig.send(&json!({"type": "video_size", "participant_id": publisher, "width": width, "height": height}))
            .await
    }

    fn publish(&mut self, m: &mut Media, now: Instant) -> Result<(), Error> {
        let in_window = self.shared.is_measuring();
        for o in &mut m.outgoing {
            if o.next > now {
                continue;
            }
            let Some(mut writer) = m.rtc.writer(o.mid) else {
                // Not negotiated yet (our answer is still on its way).
                o.next = now + o.interval;
                continue;
            };
            let pt = match o.pt {
                Some(pt) => pt,
                None => {
                    let Some(pt) = writer.payload_params().next().map(|p| p.pt()) else {
                        return Err(Error::Media("no codec negotiated".into()));
                    };
                    o.pt = Some(pt);
                    pt
                }
            };
            let sent = Instant::now();
            let seq = o.seq;
            let (frame, key) = o.frame(&self.spec, &self.shared, &mut m.rng, in_window, sent);
            if let Some(layer) = o.layer {
                writer = writer.rid(Rid::from(layer.rid()));
                // The layers' resolutions on every keyframe and once a second.
                if key || seq % u64::from(layer.fps(self.spec.fps)) == 0 {
                    writer = writer.user_extension_value(layers_allocation(
                        layer,
                        self.spec.video_kbps,
                        self.spec.fps,
                    ));
                }
            }
            let elapsed = sent.into_std().saturating_duration_since(self.shared.epoch);
            let time = match o.kind {
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
            o.sent(now, &self.shared, self.report, in_window);
            if let (Some(layer), None) = (o.layer, o.ssrc) {
                o.ssrc = m
                    .rtc
                    .direct_api()
                    .stream_tx_by_mid(o.mid, Some(Rid::from(layer.rid())))
                    .map(|s| *s.ssrc());
            }
        }
        Ok(())
    }

    /// Drains the Rtc: sends datagrams, handles events, keeps the next timeout.
    async fn drain(&mut self, m: &mut Media) -> Result<(), Error> {
        loop {
            let out = m
                .rtc
                .poll_output()
                .map_err(|e| Error::Media(format!("rtc: {e}")))?;
            match out {
                Output::Timeout(t) => {
                    m.timeout = Instant::from_std(t);
                    return Ok(());
                }
                Output::Transmit(t) => {
                    if !t.destination.ip().is_loopback() {
                        // The generator only ever talks to a server on this machine; a
                        // candidate elsewhere (a wrong --sfu-advertise) is never contacted.
                        self.shared.error("non_loopback_destination");
                        continue;
                    }
                    if is_rtp(&t.contents) && self.shared.is_measuring() {
                        self.report.win_tx_packets += 1;
                        self.report.win_tx_bytes += t.contents.len() as u64;
                        // Simulcast: count the packet for its layer, told by its SSRC.
                        if let Some(ssrc) = t.contents.get(8..12) {
                            let ssrc = u32::from_be_bytes([ssrc[0], ssrc[1], ssrc[2], ssrc[3]]);
                            if let Some(o) = m.outgoing.iter().find(|o| o.ssrc == Some(ssrc)) {
                                let key = (o.kind, o.layer);
                                self.report.tx.entry(key).or_default().win_packets += 1;
                            }
                        }
                    }
                    match m.socket.try_send_to(&t.contents, t.destination) {
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            m.socket
                                .send_to(&t.contents, t.destination)
                                .await
                                .map_err(|e| Error::Media(format!("UDP send: {e}")))?;
                        }
                        Err(e) => return Err(Error::Media(format!("UDP send: {e}"))),
                    }
                }
                Output::Event(e) => self.on_event(m, e)?,
            }
        }
    }

    fn on_event(&mut self, m: &mut Media, e: Event) -> Result<(), Error> {
        match e {
            Event::Connected => {
                m.connected = true;
                self.report.join = Some(m.rx.knocked.elapsed());
                Counters::inc(&self.shared.counters.connected);
                if m.rx.ready {
                    Counters::inc(&self.shared.counters.ready);
                }
                let now = Instant::now();
                for o in &mut m.outgoing {
                    o.next = now;
                }
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                return Err(Error::Media("ICE disconnected".into()));
            }
            Event::Closed => return Err(Error::Media("connection closed".into())),
            Event::KeyframeRequest(req) => {
                // With simulcast the SFU asks per layer (RID); answer on that layer only.
                let layer = req.rid.as_deref().and_then(Layer::from_rid);
                for o in &mut m.outgoing {
                    if o.mid == req.mid
                        && o.kind == Kind::Video
                        && (req.rid.is_none() || o.layer == layer)
                    {
                        o.keyframe_wanted = true;
                    }
                }
            }
            Event::MediaData(data) => {
                let now = Instant::now();
                m.rx.on_frame(
                    &self.spec,
                    &self.shared,
                    self.report,
                    m.connected,
                    &data.data,
                    now,
                );
            }
            _ => {}
        }
        Ok(())
    }
}

/// The video-layers-allocation of a simulcast publisher, as sent on `current`'s packets: the
/// three layers with their resolution, frame rate and bitrate.
fn layers_allocation(current: Layer, video_kbps: u32, fps: u32) -> VideoLayersAllocation {
    VideoLayersAllocation {
        current_simulcast_stream_index: current.index() as u8,
        simulcast_streams: Layer::ALL
            .iter()
            .map(|l| {
                let (width, height) = l.size();
                SimulcastStreamAllocation {
                    spatial_layers: vec![SpatialLayerAllocation {
                        temporal_layers: vec![TemporalLayerAllocation {
                            cumulative_kbps: u64::from(l.kbps(video_kbps)),
                        }],
                        resolution_and_framerate: Some(ResolutionAndFramerate {
                            width,
                            height,
                            framerate: u8::try_from(l.fps(fps)).unwrap_or(u8::MAX),
                        }),
                    }],
                }
            })
            .collect(),
    }
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

/// Whether a datagram is RTP (not STUN, DTLS or RTCP), by RFC 7983 and RFC 5761: first byte
/// 128–191, and a second byte outside the RTCP packet types 192–223.
pub fn is_rtp(d: &[u8]) -> bool {
    match d {
        [b0, b1, ..] => (128..=191).contains(b0) && !(192..=223).contains(b1),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_datagrams() {
        assert!(is_rtp(&[0x80, 0x60, 0, 0]));
        assert!(is_rtp(&[0x90, 0xe0, 0, 0])); // marker bit + PT 96
        assert!(!is_rtp(&[0x80, 200, 0, 0])); // RTCP SR
        assert!(!is_rtp(&[0x81, 205, 0, 0])); // RTCP RTPFB
        assert!(!is_rtp(&[0x00, 0x01, 0, 0])); // STUN
        assert!(!is_rtp(&[22, 0xfe, 0xfd])); // DTLS
        assert!(!is_rtp(&[0x80]));
    }

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

    #[test]
    fn layers_allocation_names_every_layer() {
        let vla = layers_allocation(Layer::H, 1000, 30);
        assert_eq!(vla.current_simulcast_stream_index, 1);
        let heights: Vec<u16> = vla
            .simulcast_streams
            .iter()
            .map(|s| {
                s.spatial_layers[0]
                    .resolution_and_framerate
                    .as_ref()
                    .unwrap()
                    .height
            })
            .collect();
        assert_eq!(heights, vec![180, 360, 720]);
    }
}
