//! The sans-IO SFU: rooms of peers, one `str0m::Rtc` each, media fanned out within a room.
//!
//! [`Sfu`] never reads the clock and never touches a socket. Drive it like a `str0m::Rtc`:
//!
//! 1. feed datagrams with [`Sfu::handle_receive`] and expired timeouts with
//!    [`Sfu::handle_timeout`], signalling with [`Sfu::add_peer`], [`Sfu::accept_answer`],
//!    [`Sfu::accept_offer`] and [`Sfu::remove_peer`];
//! 2. then call [`Sfu::poll_output`] until it returns [`Output::Timeout`], sending every
//!    [`Output::Transmit`] and delivering every [`Output::Event`];
//! 3. wait for the next datagram, command, or the timeout, and go back to 1.
//!
//! # Forwarding
//!
//! A peer's client makes the first offer; the SFU answers. When media first arrives on one of
//! the client's m-lines, the track is *published* ([`SfuEvent::TrackPublished`]) and every other
//! peer of the room gets a `sendonly` m-line for it, through a server offer
//! ([`SfuEvent::Offer`]) whose `msid` stream id is the publisher's [`PeerId`] in decimal. Each
//! subscriber has at most one server offer outstanding; later changes wait for its answer.
//! Server offers are only made once the subscriber is connected (ICE + DTLS), i.e. after its
//! client has applied our answer to its own first offer.
//!
//! # Leaving
//!
//! When a peer is removed ([`Sfu::remove_peer`]) or its transport dies (ICE disconnect, DTLS
//! close, never connected within [`CONNECT_TIMEOUT`]): its `Rtc` is dropped (after a best-effort
//! DTLS close_notify on `remove_peer`), its published tracks stop being written at once, and
//! every subscriber's m-line that carried them is **stopped** (port 0) by the subscriber's next
//! server offer, which frees the m-line for reuse; the subscriber-side bookkeeping for those
//! tracks is dropped when that offer is answered (or with the subscriber).

pub mod frame;
pub mod munger;
mod peer;
mod speaker;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::config::DtlsCert;
use str0m::media::{KeyframeRequest, MediaData};
use str0m::net::{DatagramRecv, Protocol, Receive, TcpType};
use str0m::{Candidate, Event, IceConnectionState, Input, RtcConfig};

use crate::error::Error;
use crate::types::{MediaKind, PeerId, RoomId, SfuEvent};
use peer::{Feedback, Peer, TrackIn, TrackOut};
pub use speaker::{dbov, SpeakerDetector, SPEAKER_INTERVAL};

pub use peer::KEYFRAME_REQUEST_MIN_INTERVAL;

/// A peer that has not connected (ICE + DTLS) this long after `add_peer` is dropped as
/// disconnected. Browsers connect in well under a second on a working path; 30 s leaves room
/// for slow TURN-less paths without keeping dead sessions around.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest interval between two [`Output::Timeout`]s, so an idle SFU still ticks.
const MAX_TIMEOUT: Duration = Duration::from_secs(1);

/// Upper bound on the outputs drained from a peer's `Rtc` after `close()` (DTLS close_notify,
/// RTCP BYE); a handful in practice.
const MAX_CLOSE_OUTPUTS: usize = 64;

/// Configuration of the sans-IO core.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The address clients send media to over UDP: the ICE host candidate. Must be a concrete
    /// IP (not `0.0.0.0`) and a non-zero port.
    pub advertised: SocketAddr,
    /// The address of the passive ICE-TCP candidate (RFC 6544), for clients whose network
    /// blocks UDP; `None`: UDP only. Its traffic comes in through [`Sfu::handle_receive_on`]
    /// with [`Transport::Tcp`].
    pub advertised_tcp: Option<SocketAddr>,
}

/// How a datagram travels: UDP, or framed over one of the ICE-TCP connections (RFC 4571).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// The UDP socket.
    Udp,
    /// The TCP connection from (or to) the datagram's remote address.
    Tcp,
}

/// A datagram to send from the SFU's socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// UDP, or the TCP connection of `destination`.
    pub transport: Transport,
    /// Local address to send from (the advertised address).
    pub source: SocketAddr,
    /// The peer's address.
    pub destination: SocketAddr,
    /// The datagram.
    pub contents: Vec<u8>,
}

/// What [`Sfu::poll_output`] produces.
#[derive(Debug)]
pub enum Output {
    /// Send this datagram.
    Transmit(Transmit),
    /// Deliver this event to the signalling layer for the given peer.
    Event(PeerId, SfuEvent),
    /// Nothing more to do: call [`Sfu::handle_timeout`] at this instant (or earlier, with
    /// network input).
    Timeout(Instant),
}

/// Simple counters about the SFU.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SfuStats {
    /// Rooms with at least one peer.
    pub rooms: usize,
    /// Peers.
    pub peers: usize,
    /// Published tracks (audio and video), over all peers.
    pub tracks: usize,
    /// Forwarded (publisher track → subscriber) pairs, including ones being negotiated or
    /// being stopped.
    pub subscriptions: usize,
    /// Media samples written to subscribers. With the frame-level API one sample is one audio
    /// frame or one video frame, not one RTP packet.
    pub forwarded_packets: u64,
    /// Payload bytes of those samples.
    pub forwarded_bytes: u64,
    /// Datagrams dropped because they did not parse or no peer accepted them.
    pub dropped_datagrams: u64,
    /// NACKs subscribers sent about forwarded streams (str0m answers them from its send buffer).
    pub nacks_received: u64,
    /// PLIs subscribers sent (each may lead to a throttled keyframe request to the publisher).
    pub plis_received: u64,
    /// FIRs subscribers sent.
    pub firs_received: u64,
    /// Keyframe requests (PLI or FIR) the SFU sent to publishers.
    pub keyframe_requests_sent: u64,
    /// Times a peer's `Rtc` was polled: the core's own work, which follows the traffic each
    /// peer has, not the number of peers.
    pub rtc_polls: u64,
}

fn transport_of(p: Protocol) -> Transport {
    match p {
        Protocol::Udp => Transport::Udp,
        // We only offer UDP and passive TCP host candidates.
        _ => Transport::Tcp,
    }
}

/// How often str0m reports per-stream statistics (feedback counts for the metrics).
const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// The sans-IO selective forwarding unit. See the [module docs](self).
pub struct Sfu {
    candidate: Candidate,
    tcp_candidate: Option<Candidate>,
    rtc_config: RtcConfig,
    peers: BTreeMap<PeerId, Peer>,
    rooms: BTreeMap<RoomId, BTreeSet<PeerId>>,
    /// Last known peer for a remote address: the fast path of datagram routing.
    routes: HashMap<SocketAddr, PeerId>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<(PeerId, SfuEvent)>,
    /// Peers that may have output (their `Rtc` got input, or their negotiation state changed),
    /// oldest first; each at most once (`Peer::queued`). Only these are polled: polling every
    /// peer after every datagram made the cost of one datagram grow with the number of peers.
    work: VecDeque<PeerId>,
    forwarded_packets: u64,
    forwarded_bytes: u64,
    dropped_datagrams: u64,
    rtc_polls: u64,
    /// Feedback and keyframe requests of peers that are gone, so the counters never go back.
    retired_feedback: Feedback,
    retired_keyframe_requests: u64,
    /// Active-speaker detection per room, from the audio-level header extension.
    speakers: BTreeMap<RoomId, SpeakerDetector>,
    /// When the active speakers are next decided; `None` while no room has levels.
    next_speaker_check: Option<Instant>,
    /// Test-only record of forwarded frames (feature `capture`).
    #[cfg(feature = "capture")]
    captured: Vec<CapturedFrame>,
}

/// Frames kept in the capture buffer before further ones are dropped (feature `capture`).
#[cfg(feature = "capture")]
const CAPTURE_LIMIT: usize = 10_000;
/// Bytes of each captured frame kept (feature `capture`).
#[cfg(feature = "capture")]
pub const CAPTURE_HEAD_BYTES: usize = 64;

/// One forwarded media frame as the SFU saw it (test-only, feature `capture`).
#[cfg(feature = "capture")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedFrame {
    /// The publisher.
    pub publisher: PeerId,
    /// The publisher's mid.
    pub mid: String,
    /// Audio or video.
    pub kind: MediaKind,
    /// Length of the whole frame payload.
    pub len: usize,
    /// The first [`CAPTURE_HEAD_BYTES`] bytes of the payload.
    pub head: Vec<u8>,
}

/// What polling one peer once gave.
enum Step {
    Transmit(Transmit),
    Progress,
    Timeout(Instant),
    Gone,
}

impl Sfu {
    /// Creates the SFU. Fails if `config.advertised` cannot be an ICE host candidate.
    pub fn new(config: SfuConfig) -> Result<Sfu, Error> {
        if config.advertised.port() == 0 {
            return Err(Error::BadAdvertisedAddress(config.advertised));
        }
        let candidate = Candidate::host(config.advertised, "udp")
            .map_err(|_| Error::BadAdvertisedAddress(config.advertised))?;
        let tcp_candidate = match config.advertised_tcp {
            Some(addr) if addr.port() == 0 => return Err(Error::BadAdvertisedAddress(addr)),
            Some(addr) => Some(
                Candidate::builder()
                    .tcp()
                    .host(addr)
                    .tcptype(TcpType::Passive)
                    .build()
                    .map_err(|_| Error::BadAdvertisedAddress(addr))?,
            ),
            None => None,
        };

        let mut rtc_config = RtcConfig::new()
            .set_ice_lite(true)
            // Egress stats carry the NACK/PLI/FIR counts subscribers send, for the metrics.
            .set_stats_interval(Some(STATS_INTERVAL))
            // Opus, VP8 and H.264: what every browser can send and decode. str0m enables NACK
            // (and RTX) for video by default and answers NACKs and sends receiver reports.
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .enable_h264(true);
        // One DTLS certificate for all peers saves a key generation per join; the fingerprint
        // is in every answer anyway. Without one, str0m generates a certificate per peer.
        if let Some(cert) = generate_dtls_cert() {
            rtc_config = rtc_config.set_dtls_cert(cert);
        }

        Ok(Sfu {
            candidate,
            tcp_candidate,
            rtc_config,
            peers: BTreeMap::new(),
            rooms: BTreeMap::new(),
            routes: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            work: VecDeque::new(),
            forwarded_packets: 0,
            forwarded_bytes: 0,
            dropped_datagrams: 0,
            rtc_polls: 0,
            speakers: BTreeMap::new(),
            next_speaker_check: None,
            retired_feedback: Feedback::default(),
            retired_keyframe_requests: 0,
            #[cfg(feature = "capture")]
            captured: Vec::new(),
        })
    }

    /// Adds a peer to `room` from its client's SDP offer and returns the SDP answer.
    ///
    /// Call when the client's first offer arrives. Tracks already published in the room are
    /// offered to the new peer once it is connected.
    pub fn add_peer(
        &mut self,
        now: Instant,
        room: RoomId,
        peer: PeerId,
        offer_sdp: &str,
    ) -> Result<String, Error> {
        if self.peers.contains_key(&peer) {
            return Err(Error::DuplicatePeer(peer));
        }
        let offer =
            SdpOffer::from_sdp_string(offer_sdp).map_err(|e| Error::BadOffer(e.to_string()))?;

        let mut rtc = self.rtc_config.clone().build(now);
        // A rejected candidate would mean no connectivity: `new` validated it, so this only
        // guards against str0m changing its rules.
        if rtc.add_local_candidate(self.candidate.clone()).is_none() {
            return Err(Error::BadAdvertisedAddress(self.candidate.addr()));
        }
        if let Some(tcp) = &self.tcp_candidate {
            if rtc.add_local_candidate(tcp.clone()).is_none() {
                return Err(Error::BadAdvertisedAddress(tcp.addr()));
            }
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| Error::BadOffer(e.to_string()))?;

        let mut new_peer = Peer::new(room, rtc, now + CONNECT_TIMEOUT);
        if let Some(members) = self.rooms.get(&room) {
            for other_id in members {
                if let Some(other) = self.peers.get(other_id) {
                    for (mid, track) in &other.tracks_in {
                        new_peer
                            .tracks_out
                            .push(TrackOut::new(*other_id, *mid, track.kind));
                    }
                }
            }
        }
        self.peers.insert(peer, new_peer);
        self.rooms.entry(room).or_default().insert(peer);
        self.schedule(peer);
        tracing::debug!(%peer, %room, "peer added");
        Ok(answer.to_sdp_string())
    }

    /// Applies the client's answer to the outstanding server offer ([`SfuEvent::Offer`]).
    ///
    /// On a bad answer the offer is void; the changes it carried are offered again.
    pub fn accept_answer(
        &mut self,
        now: Instant,
        peer: PeerId,
        answer_sdp: &str,
    ) -> Result<(), Error> {
        let p = self.peers.get_mut(&peer).ok_or(Error::UnknownPeer(peer))?;
        let Some(pending) = p.pending_offer.take() else {
            return Err(Error::NoPendingOffer(peer));
        };
        schedule(&mut self.work, peer, p);
        let answer = match SdpAnswer::from_sdp_string(answer_sdp) {
            Ok(a) => a,
            Err(e) => {
                p.rollback_negotiation();
                return Err(Error::BadAnswer(e.to_string()));
            }
        };
        if let Err(e) = p.rtc.sdp_api().accept_answer(pending, answer) {
            p.rollback_negotiation();
            return Err(Error::BadAnswer(e.to_string()));
        }
        let started = p.commit_negotiation();
        for (source, mid) in started {
            if let Some(publisher) = self.peers.get_mut(&source) {
                publisher.want_keyframe(now, mid);
                schedule(&mut self.work, source, publisher);
            }
        }
        Ok(())
    }

    /// Applies a later offer from the client (client-side renegotiation, e.g. a new track) and
    /// returns the answer. An outstanding server offer is void (the client wins the glare);
    /// its changes are offered again.
    pub fn accept_offer(
        &mut self,
        _now: Instant,
        peer: PeerId,
        offer_sdp: &str,
    ) -> Result<String, Error> {
        let p = self.peers.get_mut(&peer).ok_or(Error::UnknownPeer(peer))?;
        let offer =
            SdpOffer::from_sdp_string(offer_sdp).map_err(|e| Error::BadOffer(e.to_string()))?;
        schedule(&mut self.work, peer, p);
        // str0m invalidates any pending offer in accept_offer, even when it fails.
        p.rollback_negotiation();
        let answer = p
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| Error::BadOffer(e.to_string()))?;
        Ok(answer.to_sdp_string())
    }

    /// Removes a peer and everything it held; its tracks stop being forwarded. Returns whether
    /// it existed. No [`SfuEvent::Disconnected`] is emitted for a removal.
    pub fn remove_peer(&mut self, now: Instant, peer: PeerId) -> bool {
        self.drop_peer(now, peer, true)
    }

    /// Feeds a datagram received on the SFU's socket. `destination` must be the advertised
    /// address. Datagrams that do not parse or that no peer accepts are dropped.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &[u8],
    ) {
        self.handle_receive_on(now, Transport::Udp, source, destination, contents);
    }

    /// Like [`Sfu::handle_receive`], for a datagram that came over `transport` (one RFC 4571
    /// frame of an ICE-TCP connection: `source` is the connection's remote address,
    /// `destination` the advertised TCP address). Returns whether a peer took it; a TCP
    /// connection whose first frame no peer takes can be closed.
    pub fn handle_receive_on(
        &mut self,
        now: Instant,
        transport: Transport,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &[u8],
    ) -> bool {
        let Ok(contents) = DatagramRecv::try_from(contents) else {
            self.dropped_datagrams += 1;
            tracing::debug!("dropping datagram that does not parse");
            return false;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: match transport {
                    Transport::Udp => Protocol::Udp,
                    Transport::Tcp => Protocol::Tcp,
                },
                source,
                destination,
                contents,
            },
        );

        let cached = self
            .routes
            .get(&source)
            .copied()
            .filter(|id| self.peers.get(id).is_some_and(|p| p.rtc.accepts(&input)));
        let target = cached.or_else(|| {
            self.peers
                .iter()
                .find(|(_, p)| p.rtc.accepts(&input))
                .map(|(id, _)| *id)
        });
        let Some(id) = target else {
            self.dropped_datagrams += 1;
            tracing::debug!("dropping datagram no peer accepts");
            return false;
        };
        if cached.is_none() {
            self.routes.insert(source, id);
        }
        if let Some(peer) = self.peers.get_mut(&id) {
            schedule(&mut self.work, id, peer);
            if let Err(e) = peer.rtc.handle_input(input) {
                // Bad input from the peer's address: drop the datagram. A fatal error closes the
                // Rtc, which `poll_output` notices.
                tracing::debug!(peer = %id, "datagram rejected: {e}");
            }
        }
        true
    }

    /// Drives time: call at (or after) the instant of the last [`Output::Timeout`]. Only the
    /// peers whose own timeout has come are driven.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut expired = Vec::new();
        for (id, peer) in &mut self.peers {
            if peer.timeout <= now {
                schedule(&mut self.work, *id, peer);
                if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
                    tracing::debug!(peer = %id, "timeout handling failed: {e}");
                    peer.rtc.disconnect();
                }
            }
            if !peer.connected && now >= peer.connect_deadline {
                expired.push(*id);
            }
            if peer.next_keyframe_due(now).is_some_and(|due| due <= now) {
                schedule(&mut self.work, *id, peer);
                peer.flush_keyframes(now);
            }
        }
        for id in expired {
            tracing::debug!(peer = %id, "peer did not connect in time");
            self.disconnected(now, id);
        }
        if self.next_speaker_check.is_some_and(|t| now >= t) {
            for detector in self.speakers.values_mut() {
                if let Some(speaker) = detector.decide(now) {
                    // Delivered to the speaker's own listener; signalling tells its room.
                    self.events.push_back((speaker, SfuEvent::ActiveSpeaker));
                }
            }
            self.next_speaker_check = (!self.speakers.is_empty()).then(|| now + SPEAKER_INTERVAL);
        }
    }

    /// Next output: a datagram to send, an event, or the time to call
    /// [`Sfu::handle_timeout`]. Call until it returns [`Output::Timeout`].
    #[must_use]
    pub fn poll_output(&mut self, now: Instant) -> Output {
        loop {
            if let Some(t) = self.transmits.pop_front() {
                return Output::Transmit(t);
            }
            if let Some((peer, event)) = self.events.pop_front() {
                return Output::Event(peer, event);
            }

            let Some(&id) = self.work.front() else {
                return Output::Timeout(self.overall_timeout(now));
            };
            match self.poll_peer(now, id) {
                // The peer stays first in line until its Rtc has nothing more to give.
                Step::Transmit(t) => return Output::Transmit(t),
                Step::Progress => {}
                Step::Timeout(t) => {
                    if let Some(peer) = self.peers.get_mut(&id) {
                        peer.timeout = t;
                        peer.queued = false;
                    }
                    if self.work.front() == Some(&id) {
                        self.work.pop_front();
                    }
                }
                // `drop_peer` already took it out of line.
                Step::Gone => {
                    if self.work.front() == Some(&id) {
                        self.work.pop_front();
                    }
                }
            }
        }
    }

    /// Counters about rooms, peers, tracks and forwarding.
    pub fn stats(&self) -> SfuStats {
        let feedback = self
            .peers
            .values()
            .fold(self.retired_feedback, |a, p| a + p.feedback_total());
        SfuStats {
            nacks_received: feedback.nacks,
            plis_received: feedback.plis,
            firs_received: feedback.firs,
            keyframe_requests_sent: self
                .peers
                .values()
                .fold(self.retired_keyframe_requests, |a, p| {
                    a + p.keyframe_requests_sent
                }),
            rooms: self.rooms.len(),
            peers: self.peers.len(),
            tracks: self.peers.values().map(|p| p.tracks_in.len()).sum(),
            subscriptions: self.peers.values().map(|p| p.tracks_out.len()).sum(),
            forwarded_packets: self.forwarded_packets,
            forwarded_bytes: self.forwarded_bytes,
            dropped_datagrams: self.dropped_datagrams,
            rtc_polls: self.rtc_polls,
        }
    }

    /// Whether this peer exists.
    pub fn has_peer(&self, peer: PeerId) -> bool {
        self.peers.contains_key(&peer)
    }

    /// How many pieces of state refer to `peer`: its own entry, room membership, routes,
    /// queued events, and other peers' forwarded tracks from it. Zero once it is fully gone.
    pub fn references_to(&self, peer: PeerId) -> usize {
        let own = usize::from(self.peers.contains_key(&peer));
        let rooms = self.rooms.values().filter(|m| m.contains(&peer)).count();
        let routes = self.routes.values().filter(|p| **p == peer).count();
        let events = self.events.iter().filter(|(p, _)| *p == peer).count();
        let tracks = self
            .peers
            .values()
            .flat_map(|p| p.tracks_out.iter())
            .filter(|t| t.source == peer)
            .count();
        own + rooms + routes + events + tracks
    }

    /// Puts `id` in line to be polled (see `work`). For call sites that cannot borrow the
    /// peer and the line at once, see the free function [`schedule`].
    fn schedule(&mut self, id: PeerId) {
        if let Some(peer) = self.peers.get_mut(&id) {
            schedule(&mut self.work, id, peer);
        }
    }

    /// The earliest instant anything needs driving. Only called with nobody in line, so every
    /// peer's `timeout` is the one its Rtc last gave.
    fn overall_timeout(&self, now: Instant) -> Instant {
        let mut t = now + MAX_TIMEOUT;
        if let Some(check) = self.next_speaker_check {
            t = t.min(check);
        }
        for peer in self.peers.values() {
            t = t.min(peer.timeout);
            if !peer.connected {
                t = t.min(peer.connect_deadline);
            }
            if let Some(due) = peer.next_keyframe_due(now) {
                t = t.min(due);
            }
        }
        t
    }

    fn poll_peer(&mut self, now: Instant, id: PeerId) -> Step {
        let Some(peer) = self.peers.get_mut(&id) else {
            return Step::Gone;
        };
        if !peer.rtc.is_alive() {
            self.disconnected(now, id);
            return Step::Progress;
        }
        if let Some(sdp) = peer.negotiate() {
            self.events.push_back((id, SfuEvent::Offer { sdp }));
            return Step::Progress;
        }
        self.rtc_polls += 1;
        match peer.rtc.poll_output() {
            Ok(str0m::Output::Transmit(t)) => Step::Transmit(Transmit {
                transport: transport_of(t.proto),
                source: t.source,
                destination: t.destination,
                contents: t.contents.into(),
            }),
            Ok(str0m::Output::Timeout(t)) => Step::Timeout(t),
            Ok(str0m::Output::Event(e)) => {
                self.handle_event(now, id, e);
                Step::Progress
            }
            Err(e) => {
                tracing::debug!(peer = %id, "rtc failed: {e}");
                self.disconnected(now, id);
                Step::Progress
            }
        }
    }

    fn handle_event(&mut self, now: Instant, id: PeerId, event: Event) {
        match event {
            Event::Connected => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.connected = true;
                }
                tracing::debug!(peer = %id, "connected");
                self.events.push_back((id, SfuEvent::Connected));
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) | Event::Closed => {
                self.disconnected(now, id);
            }
            Event::MediaData(data) => self.forward(now, id, data),
            Event::MediaEgressStats(stats) => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    let f = Feedback {
                        nacks: stats.nacks,
                        plis: stats.plis,
                        firs: stats.firs,
                    };
                    // Simulcast layers of one mid report separately; keep the largest counts.
                    let e = peer.feedback.entry(stats.mid).or_default();
                    *e = Feedback {
                        nacks: e.nacks.max(f.nacks),
                        plis: e.plis.max(f.plis),
                        firs: e.firs.max(f.firs),
                    };
                }
            }
            Event::KeyframeRequest(req) => self.keyframe_request_from_subscriber(now, id, req),
            _ => {}
        }
    }

    /// Fans one media sample from publisher `id` out to the other peers of its room.
    fn forward(&mut self, now: Instant, id: PeerId, data: MediaData) {
        let Some(publisher) = self.peers.get_mut(&id) else {
            return;
        };
        let room = publisher.room;
        let mid = data.mid;

        if !publisher.tracks_in.contains_key(&mid) {
            let Some(kind) = publisher.rtc.media(mid).map(|m| MediaKind::from(m.kind())) else {
                return;
            };
            publisher.tracks_in.insert(mid, TrackIn::new(kind));
            self.events.push_back((
                id,
                SfuEvent::TrackPublished {
                    mid: mid.to_string(),
                    kind,
                },
            ));
            tracing::debug!(peer = %id, %mid, ?kind, "track published");
            if let Some(members) = self.rooms.get(&room) {
                for other in members.iter().filter(|o| **o != id) {
                    if let Some(sub) = self.peers.get_mut(other) {
                        sub.tracks_out.push(TrackOut::new(id, mid, kind));
                        schedule(&mut self.work, *other, sub);
                    }
                }
            }
        }

        if !data.contiguous {
            // Loss the publisher's retransmissions did not repair: subscribers need a keyframe.
            if let Some(publisher) = self.peers.get_mut(&id) {
                publisher.want_keyframe(now, mid);
            }
        }

        // Simulcast is not negotiated by our clients; should a publisher send layers anyway,
        // forward only the high one so a subscriber never gets two interleaved streams.
        if data.rid.is_some() && data.rid != Some("h".into()) {
            return;
        }

        #[cfg(feature = "capture")]
        self.capture(id, &data);

        if let Some(level) = data.ext_vals.audio_level {
            self.speakers
                .entry(room)
                .or_default()
                .record(id, dbov(level), now);
            if self.next_speaker_check.is_none() {
                self.next_speaker_check = Some(now + SPEAKER_INTERVAL);
            }
        }

        let Some(members) = self.rooms.get(&room) else {
            return;
        };
        for other in members.iter().filter(|o| **o != id) {
            let Some(sub) = self.peers.get_mut(other) else {
                continue;
            };
            let out_mid = sub.tracks_out.iter().find_map(|t| match t.state {
                peer::OutState::Open(m) if t.source == id && t.source_mid == mid => Some(m),
                _ => None,
            });
            let Some(out_mid) = out_mid else {
                continue;
            };
            let Some(writer) = sub.rtc.writer(out_mid) else {
                continue;
            };
            let Some(pt) = writer.match_params(data.params) else {
                tracing::debug!(peer = %other, "subscriber has no matching codec");
                continue;
            };
            match writer.write(pt, data.network_time, data.time, data.data.clone()) {
                Ok(()) => {
                    self.forwarded_packets += 1;
                    self.forwarded_bytes += data.data.len() as u64;
                    schedule(&mut self.work, *other, sub);
                }
                Err(e) => tracing::debug!(peer = %other, "write failed: {e}"),
            }
        }
    }

    #[cfg(feature = "capture")]
    fn capture(&mut self, id: PeerId, data: &MediaData) {
        if self.captured.len() >= CAPTURE_LIMIT {
            return;
        }
        let Some(kind) = self
            .peers
            .get(&id)
            .and_then(|p| p.tracks_in.get(&data.mid))
            .map(|t| t.kind)
        else {
            return;
        };
        self.captured.push(CapturedFrame {
            publisher: id,
            mid: data.mid.to_string(),
            kind,
            len: data.data.len(),
            head: data.data.iter().take(CAPTURE_HEAD_BYTES).copied().collect(),
        });
    }

    /// Takes the frames captured since the last call (test-only, feature `capture`).
    #[cfg(feature = "capture")]
    pub fn take_captured(&mut self) -> Vec<CapturedFrame> {
        std::mem::take(&mut self.captured)
    }

    /// A subscriber asked for a keyframe on a forwarded track: ask its publisher (throttled).
    fn keyframe_request_from_subscriber(&mut self, now: Instant, id: PeerId, req: KeyframeRequest) {
        let Some(source) = self
            .peers
            .get(&id)
            .and_then(|p| p.track_out_by_mid(req.mid))
            .map(|t| (t.source, t.source_mid))
        else {
            return;
        };
        if let Some(publisher) = self.peers.get_mut(&source.0) {
            publisher.want_keyframe(now, source.1);
            schedule(&mut self.work, source.0, publisher);
        }
    }

    /// The peer's transport is gone: free it and tell the signalling layer.
    fn disconnected(&mut self, now: Instant, id: PeerId) {
        if self.drop_peer(now, id, false) {
            tracing::debug!(peer = %id, "disconnected");
            self.events.push_back((id, SfuEvent::Disconnected));
        }
    }

    /// Frees everything `id` held. With `graceful`, the client is told by DTLS close_notify.
    fn drop_peer(&mut self, now: Instant, id: PeerId, graceful: bool) -> bool {
        let Some(mut peer) = self.peers.remove(&id) else {
            return false;
        };
        self.retired_feedback = self.retired_feedback + peer.feedback_total();
        self.retired_keyframe_requests += peer.keyframe_requests_sent;
        self.work.retain(|p| *p != id);
        if let Some(members) = self.rooms.get_mut(&peer.room) {
            members.remove(&id);
            if members.is_empty() {
                self.rooms.remove(&peer.room);
            }
        }
        if let Some(detector) = self.speakers.get_mut(&peer.room) {
            detector.remove(id);
            if detector.is_empty() {
                self.speakers.remove(&peer.room);
            }
        }
        self.routes.retain(|_, p| *p != id);
        self.events.retain(|(p, _)| *p != id);
        if let Some(members) = self.rooms.get(&peer.room) {
            for other in members {
                if let Some(sub) = self.peers.get_mut(other) {
                    sub.detach_source(id);
                    // Its next offer stops the m-lines that carried `id`'s tracks.
                    schedule(&mut self.work, *other, sub);
                }
            }
        }
        if graceful
            && peer.rtc.is_alive()
            && peer.rtc.close().is_ok()
            && peer.rtc.handle_input(Input::Timeout(now)).is_ok()
        {
            for _ in 0..MAX_CLOSE_OUTPUTS {
                match peer.rtc.poll_output() {
                    Ok(str0m::Output::Transmit(t)) => self.transmits.push_back(Transmit {
                        transport: transport_of(t.proto),
                source: t.source,
                        destination: t.destination,
                        contents: t.contents.into(),
                    }),
                    Ok(str0m::Output::Event(_)) => {}
                    Ok(str0m::Output::Timeout(_)) | Err(_) => break,
                }
            }
        }
        tracing::debug!(peer = %id, "peer freed");
        true
    }
}

/// Puts peer `id` in line to be polled, unless it already is.
fn schedule(work: &mut VecDeque<PeerId>, id: PeerId, peer: &mut Peer) {
    if !peer.queued {
        peer.queued = true;
        work.push_back(id);
    }
}

impl std::fmt::Debug for Sfu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sfu")
            .field("advertised", &self.candidate.addr())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn generate_dtls_cert() -> Option<DtlsCert> {
    str0m::crypto::from_feature_flags()
        .dtls_provider
        .generate_certificate()
}
