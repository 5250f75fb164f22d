//! The participant, whatever forwarder it goes through: its PeerConnections ([`Leg`]s: a
//! `str0m::Rtc` and a UDP socket each), the media loop that drives them sans-IO, publishing,
//! receiving and counting. What differs between forwarders (joining, the signalling it
//! listens to in the loop, where datagrams may go, leaving) is its [`Transport`]'s.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Rid, Simulcast, SimulcastLayer};
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

use super::{Outgoing, Reception, Report, Spec};
use crate::payload::{Kind, Layer};
use crate::shared::{Control, Counters, Shared};
use crate::Error;

/// Datagrams read in one go before the Rtc's output is drained.
const RECV_BATCH: usize = 64;
/// Receive buffer: above any datagram on a 1500-byte MTU.
const RECV_BUFFER: usize = 2048;
/// Header extension id of video-layers-allocation: the same as the SFU's, so its answer keeps it.
const VIDEO_LAYERS_ALLOCATION_ID: u8 = 14;

/// What the media loop needs from the forwarder's side of a participant, besides media: its
/// signalling (a message source the loop waits on, and timed work), and where datagrams may
/// go. Joining before the loop and leaving after it are the transport's own.
pub(crate) trait Transport {
    /// What the signalling delivers.
    type Message;
    /// Error counted for a datagram str0m wants to send where [`Self::may_send_to`] forbids.
    const FOREIGN_DESTINATION: &'static str;
    /// Whether the participant's time to ready ([`Report::ready`]) is recorded.
    const RECORDS_READY: bool;

    /// Whether datagrams may go to `ip`.
    fn may_send_to(&self, ip: IpAddr) -> bool;

    /// The next signalling message. Must be cancel-safe: the loop selects on it.
    async fn recv(&mut self) -> Self::Message;

    /// Handles one signalling message.
    async fn on_message(
        &mut self,
        p: &mut Participant,
        m: &mut Media,
        msg: Self::Message,
    ) -> Result<(), Error>;

    /// When [`Self::on_due`] wants to run next (the loop may call it earlier).
    fn due(&self, now: Instant) -> Instant;

    /// Timed signalling work (keep-alives, retries), run whenever the loop wakes on a timer.
    async fn on_due(
        &mut self,
        p: &mut Participant,
        m: &mut Media,
        now: Instant,
    ) -> Result<(), Error>;
}

/// A participant: what it is told to do, and what it reports.
pub(crate) struct Participant {
    /// What it does.
    pub(crate) spec: Spec,
    /// The run's shared state.
    pub(crate) shared: Arc<Shared>,
    control: watch::Receiver<Control>,
    /// What it measured so far.
    pub(crate) report: Report,
}

/// One PeerConnection: a `str0m::Rtc`, its UDP socket, and the tracks it publishes.
pub(crate) struct Leg {
    /// The connection.
    pub(crate) rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    /// When the Rtc wants a timeout.
    timeout: Instant,
    /// ICE + DTLS are up.
    pub(crate) connected: bool,
    /// The tracks published on it.
    outgoing: Vec<Outgoing>,
}

/// A participant's media: up to two PeerConnections and what it received.
pub(crate) struct Media {
    /// The participant's own PeerConnection: it publishes on it and, through the server, also
    /// receives. `None` for a receive-only participant through Janus.
    pub(crate) main: Option<Leg>,
    /// A second, receive-only PeerConnection (Janus's subscription).
    pub(crate) subscription: Option<Leg>,
    /// What arrived.
    pub(crate) rx: Reception,
    /// Its first PeerConnection is up.
    pub(crate) connected: bool,
    rng: u64,
}

impl Media {
    /// No PeerConnection yet; `knocked` is when joining began, `expect_negotiated` the tracks
    /// the forwarder must offer before the participant is ready.
    pub(crate) fn new(spec: &Spec, knocked: Instant, expect_negotiated: usize) -> Media {
        Media {
            main: None,
            subscription: None,
            rx: Reception::new(knocked, spec.expect_tracks, expect_negotiated),
            connected: false,
            rng: u64::from(spec.index).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }
}

impl Leg {
    /// A PeerConnection with one host candidate on a fresh UDP socket on `ip` (full ICE).
    /// `enlarge_buffers` asks for [`crate::shared::SOCKET_BUFFER_BYTES`] (through the server
    /// only: Janus's sockets have always kept the kernel's default).
    pub(crate) async fn bind(
        ip: IpAddr,
        enlarge_buffers: bool,
        spec: &Spec,
        shared: &Shared,
    ) -> Result<Leg, Error> {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0))
            .await
            .map_err(|e| Error::Media(format!("binding UDP: {e}")))?;
        if enlarge_buffers {
            crate::shared::enlarge_buffers(&socket);
        }
        let local = socket
            .local_addr()
            .map_err(|e| Error::Media(format!("UDP address: {e}")))?;
        let mut config = RtcConfig::new()
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true);
        if spec.simulcast {
            // Publishers say each layer's resolution, which the SFU matches against the size
            // a subscriber renders at (`video_size`); without it the size is ignored.
            config = config.set_extension(
                VIDEO_LAYERS_ALLOCATION_ID,
                Extension::with_serializer(str0m::rtp::vla::URI, str0m::rtp::vla::Serializer),
            );
        }
        if let Some(cert) = &shared.cert {
            config = config.set_dtls_cert(cert.clone());
        }
        let mut rtc = config.build(Instant::now().into_std());
        let candidate = Candidate::host(local, "udp")
            .map_err(|e| Error::Media(format!("host candidate: {e}")))?;
        rtc.add_local_candidate(candidate);
        Ok(Leg {
            rtc,
            socket,
            local,
            timeout: Instant::now(),
            connected: false,
            outgoing: Vec::new(),
        })
    }

    /// The first offer: audio and video `sendonly` as the spec publishes them (video as three
    /// simulcast RIDs with `--simulcast`), or one `recvonly` audio m-line for a receive-only
    /// client, which still needs one. The published tracks are scheduled on this leg.
    pub(crate) fn offer(&mut self, spec: &Spec) -> Result<(SdpOffer, SdpPendingOffer), Error> {
        let mut api = self.rtc.sdp_api();
        let stream = format!("loadgen-{}", spec.index);
        let mut mids = Vec::new();
        if spec.audio {
            let mid = api.add_media(
                MediaKind::Audio,
                Direction::SendOnly,
                Some(stream.clone()),
                Some(format!("{stream}-a")),
                None,
            );
            mids.push((Kind::Audio, mid));
        }
        if spec.video {
            let simulcast = spec.simulcast.then(|| {
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
            api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        }
        for (kind, mid) in mids {
            if kind == Kind::Video && spec.simulcast {
                for l in Layer::ALL {
                    self.outgoing.push(Outgoing::layer(mid, spec.fps, l));
                }
            } else {
                self.outgoing.push(Outgoing::new(kind, mid, spec.fps));
            }
        }
        // add_media always asks for a negotiation, so apply returns an offer.
        api.apply().ok_or(Error::Media("no offer to make".into()))
    }

    /// Applies the forwarder's answer to our `pending` offer.
    pub(crate) fn accept_answer(
        &mut self,
        pending: SdpPendingOffer,
        sdp: &str,
    ) -> Result<(), Error> {
        let answer = SdpAnswer::from_sdp_string(sdp)
            .map_err(|e| Error::Media(format!("bad answer: {e}")))?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| Error::Media(format!("answer refused: {e}")))
    }

    /// Applies the forwarder's offer; returns our answer's SDP.
    pub(crate) fn accept_offer(&mut self, sdp: &str) -> Result<String, Error> {
        let offer =
            SdpOffer::from_sdp_string(sdp).map_err(|e| Error::Media(format!("bad offer: {e}")))?;
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| Error::Media(format!("offer refused: {e}")))?;
        Ok(answer.to_sdp_string())
    }
}

impl Participant {
    /// A participant that has not joined yet.
    pub(crate) fn new(
        spec: Spec,
        shared: Arc<Shared>,
        control: watch::Receiver<Control>,
    ) -> Participant {
        let mut report = Report::new(spec.index);
        report.talking = spec.talking;
        Participant {
            spec,
            shared,
            control,
            report,
        }
    }

    /// Counts how it ended and hands over its report.
    pub(crate) fn finish(mut self, result: Result<(), Error>) -> Report {
        if let Err(e) = result {
            Counters::inc(&self.shared.counters.failed);
            self.shared.error(&e.class());
            tracing::debug!(participant = self.report.index, "failed: {e}");
            self.report.failure = Some(e.to_string());
        }
        Counters::inc(&self.shared.counters.finished);
        self.report
    }

    /// The media loop: until told to leave (or, for churn, until every track arrived), or
    /// until `setup_deadline` passes before it is connected and received every track.
    pub(crate) async fn drive<T: Transport>(
        &mut self,
        t: &mut T,
        m: &mut Media,
        setup_deadline: Instant,
    ) -> Result<(), Error> {
        let mut main_buf = vec![0u8; RECV_BUFFER];
        let mut sub_buf = vec![0u8; RECV_BUFFER];
        let sleep = tokio::time::sleep_until(Instant::now());
        tokio::pin!(sleep);
        let mut publishing = true;
        self.drain(t, m).await?;
        loop {
            let control = *self.control.borrow();
            match control {
                Control::Leave => return Ok(()),
                Control::StopMedia => publishing = false,
                Control::Run => {}
            }
            let ready = m.rx.ready && m.connected;
            if T::RECORDS_READY && ready && self.report.ready.is_none() {
                self.report.ready = Some(m.rx.knocked.elapsed());
            }
            if self.spec.leave_when_ready && ready {
                return Ok(());
            }
            let now = Instant::now();
            if !ready && now >= setup_deadline {
                return Err(Error::Timeout(if m.connected {
                    "receiving every track"
                } else {
                    "connecting ICE/DTLS"
                }));
            }
            let mut deadline = t.due(now);
            for leg in [&m.main, &m.subscription].into_iter().flatten() {
                deadline = deadline.min(leg.timeout);
                if publishing && leg.connected {
                    for o in &leg.outgoing {
                        deadline = deadline.min(o.next);
                    }
                }
            }
            if !ready {
                deadline = deadline.min(setup_deadline);
            }
            sleep.as_mut().reset(deadline);
            tokio::select! {
                changed = self.control.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
                received = recv(m.main.as_ref(), &mut main_buf) => {
                    if let Some(leg) = m.main.as_mut() {
                        self.on_datagrams(leg, received?, &mut main_buf);
                    }
                }
                received = recv(m.subscription.as_ref(), &mut sub_buf) => {
                    if let Some(leg) = m.subscription.as_mut() {
                        self.on_datagrams(leg, received?, &mut sub_buf);
                    }
                }
                msg = t.recv() => t.on_message(self, m, msg).await?,
                () = &mut sleep => {
                    let now = Instant::now();
                    for leg in [&mut m.main, &mut m.subscription].into_iter().flatten() {
                        if now >= leg.timeout {
                            leg.rtc.handle_input(Input::Timeout(now.into_std()))
                                .map_err(|e| Error::Media(format!("timeout: {e}")))?;
                        }
                    }
                    for leg in [&mut m.main, &mut m.subscription].into_iter().flatten() {
                        if publishing && leg.connected {
                            self.publish(leg, &mut m.rng, now)?;
                        }
                    }
                    t.on_due(self, m, now).await?;
                }
            }
            self.drain(t, m).await?;
        }
    }

    /// The datagram `first` (its length in `buf`, and its source), then up to [`RECV_BATCH`]
    /// more that are already waiting.
    fn on_datagrams(&mut self, leg: &mut Leg, first: (usize, SocketAddr), buf: &mut [u8]) {
        let (n, source) = first;
        self.receive(leg, source, &buf[..n]);
        for _ in 0..RECV_BATCH {
            match leg.socket.try_recv_from(buf) {
                Ok((n, source)) => self.receive(leg, source, &buf[..n]),
                Err(_) => break,
            }
        }
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

    /// Writes every frame of `leg`'s tracks that is due at `now`.
    fn publish(&mut self, leg: &mut Leg, rng: &mut u64, now: Instant) -> Result<(), Error> {
        let in_window = self.shared.is_measuring();
        for o in &mut leg.outgoing {
            if o.next > now {
                continue;
            }
            let Some(mut writer) = leg.rtc.writer(o.mid) else {
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
            let (frame, key) = o.frame(&self.spec, &self.shared, rng, in_window, sent);
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
            o.sent(now, &self.shared, &mut self.report, in_window);
            if let (Some(layer), None) = (o.layer, o.ssrc) {
                o.ssrc = leg
                    .rtc
                    .direct_api()
                    .stream_tx_by_mid(o.mid, Some(Rid::from(layer.rid())))
                    .map(|s| *s.ssrc());
            }
        }
        Ok(())
    }

    /// Drains every leg's Rtc.
    async fn drain<T: Transport>(&mut self, t: &T, m: &mut Media) -> Result<(), Error> {
        let Media {
            main,
            subscription,
            rx,
            connected,
            ..
        } = m;
        for leg in [main, subscription].into_iter().flatten() {
            self.drain_leg(t, leg, rx, connected).await?;
        }
        Ok(())
    }

    /// Drains one Rtc: sends datagrams, handles events, keeps the next timeout.
    async fn drain_leg<T: Transport>(
        &mut self,
        t: &T,
        leg: &mut Leg,
        rx: &mut Reception,
        connected: &mut bool,
    ) -> Result<(), Error> {
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
                Output::Transmit(out) => {
                    if !t.may_send_to(out.destination.ip()) {
                        // A candidate the forwarder should not have (a wrong --sfu-advertise,
                        // an address of Janus's other than its HTTP one) is never contacted.
                        self.shared.error(T::FOREIGN_DESTINATION);
                        continue;
                    }
                    if is_rtp(&out.contents) && self.shared.is_measuring() {
                        self.report.win_tx_packets += 1;
                        self.report.win_tx_bytes += out.contents.len() as u64;
                        // Simulcast: count the packet for its layer, told by its SSRC.
                        if let Some(ssrc) = out.contents.get(8..12) {
                            let ssrc = u32::from_be_bytes([ssrc[0], ssrc[1], ssrc[2], ssrc[3]]);
                            if let Some(o) = leg.outgoing.iter().find(|o| o.ssrc == Some(ssrc)) {
                                let key = (o.kind, o.layer);
                                self.report.tx.entry(key).or_default().win_packets += 1;
                            }
                        }
                    }
                    match leg.socket.try_send_to(&out.contents, out.destination) {
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            leg.socket
                                .send_to(&out.contents, out.destination)
                                .await
                                .map_err(|e| Error::Media(format!("UDP send: {e}")))?;
                        }
                        Err(e) => return Err(Error::Media(format!("UDP send: {e}"))),
                    }
                }
                Output::Event(e) => self.on_event(leg, rx, connected, e)?,
            }
        }
    }

    fn on_event(
        &mut self,
        leg: &mut Leg,
        rx: &mut Reception,
        connected: &mut bool,
        e: Event,
    ) -> Result<(), Error> {
        match e {
            Event::Connected => {
                leg.connected = true;
                // The participant counts as connected with its first PeerConnection.
                if !*connected {
                    *connected = true;
                    self.report.join = Some(rx.knocked.elapsed());
                    Counters::inc(&self.shared.counters.connected);
                    if rx.ready {
                        Counters::inc(&self.shared.counters.ready);
                    }
                }
                let now = Instant::now();
                for o in &mut leg.outgoing {
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
                for o in &mut leg.outgoing {
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
                rx.on_frame(
                    &self.spec,
                    &self.shared,
                    &mut self.report,
                    *connected,
                    &data.data,
                    now,
                );
            }
            _ => {}
        }
        Ok(())
    }
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
