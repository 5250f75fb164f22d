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
//! close, never connected within [`CONNECT_TIMEOUT`], nothing received for
//! [`PEER_SILENCE_TIMEOUT`]): its `Rtc` is dropped (after a best-effort
//! DTLS close_notify on `remove_peer`), its published tracks stop being written at once, and
//! every subscriber's m-line that carried them is **stopped** (port 0) by the subscriber's next
//! server offer, which frees the m-line for reuse; the subscriber-side bookkeeping for those
//! tracks is dropped when that offer is answered (or with the subscriber).

pub mod frame;
pub mod layers;
mod loudest;
pub mod munger;
mod peer;
mod speaker;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::config::DtlsCert;
use str0m::format::Codec;
use str0m::media::{KeyframeRequest, Mid};
use str0m::net::{DatagramRecv, Protocol, Receive, TcpType};
use str0m::rtp::vla::VideoLayersAllocation;
use str0m::rtp::{Extension, ExtensionValues, RtpPacket, RtpWrite, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, Input, RtcConfig};

use crate::error::Error;
use crate::types::{MediaKind, PeerId, RoomId, SfuEvent};
use layers::{Allocation, TrackWant, MAX_LAYERS};
pub use loudest::{Loudest, Route};
use peer::{Feedback, Layer, Peer, TrackIn, TrackOut};
pub use speaker::{dbov, SpeakerDetector, SPEAKER_INTERVAL};

pub use peer::KEYFRAME_REQUEST_MIN_INTERVAL;

/// A peer that has not connected (ICE + DTLS) this long after `add_peer` is dropped as
/// disconnected. Browsers connect in well under a second on a working path; 30 s leaves room
/// for slow TURN-less paths without keeping dead sessions around.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A connected peer from which no datagram arrived for this long is disconnected. Browsers
/// send a consent check every 5 s or so and RTCP every second, so this is a dead path. str0m's
/// ICE-lite agent alone does not always notice: it times out *candidate pairs* 15 s after their
/// last check, and every renegotiation can bring pairs that start afresh, so a peer whose
/// session kept changing (others joining and leaving) could stay "alive" with nothing arriving.
pub const PEER_SILENCE_TIMEOUT: Duration = Duration::from_secs(15);

/// Longest interval between two [`Output::Timeout`]s, so an idle SFU still ticks.
const MAX_TIMEOUT: Duration = Duration::from_secs(1);

/// A peer's timeout this close to `now` is driven at once by `poll_output` (see `poll_peer`).
const IMMEDIATE: Duration = Duration::from_millis(1);

/// Timeouts driven at once for one peer before it must go back to the caller's timer: a bound
/// against an `Rtc` that keeps asking for "now", and a turn for the socket and the other
/// peers. Measured (`scripts/bench.sh`): with 10,000, `talk200` had a p99 latency of 818 ms
/// (one subscriber's backlog drained while the others waited); with 64, 24 ms at the same
/// throughput. (`audio50`, beyond one core's capacity, fails to join either way: see
/// BENCHMARKS.md.)
const MAX_IMMEDIATE_TIMEOUTS: u32 = 64;

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
    /// Audio forwarded per room: the publishers that spoke loudest most recently, at most this
    /// many (see [`Loudest`]); rooms with fewer audio publishers forward all. 0: every one.
    pub loudest_audio: usize,
}

/// [`SfuConfig::loudest_audio`]'s usual value: a room forwards the five loudest voices, so a
/// counselling group of up to five is never affected and a 50-person room sends 5 × 49
/// instead of 49 × 49 audio streams.
pub const DEFAULT_LOUDEST_AUDIO: usize = 5;

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
    /// Simulcast layer switches (a subscriber's forwarded video moved to another layer at a
    /// keyframe).
    pub layer_switches: u64,
    /// Sum over peers of str0m's bandwidth estimate towards them, bits per second.
    pub estimated_bitrate_bps: u64,
    /// Peers that have a bandwidth estimate (the divisor for an average).
    pub estimated_peers: usize,
    /// Audio packets not forwarded because their publisher was not among the room's loudest
    /// ([`SfuConfig::loudest_audio`]).
    pub audio_not_forwarded: u64,
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

/// How often each subscriber's video layers are chosen again (besides on a new estimate or
/// rendered size): also the retry interval of the keyframe request a pending switch waits for.
pub const ALLOCATE_INTERVAL: Duration = Duration::from_millis(500);

/// str0m's bandwidth estimate towards a new peer before any feedback: enough for the middle
/// layer of a 720p simulcast at once; probing finds more within seconds.
const INITIAL_ESTIMATE: Bitrate = Bitrate::kbps(1_000);

/// Part of a subscriber's bandwidth estimate the video layers may fill; the rest is headroom
/// for audio, RTX and estimate noise.
const VIDEO_SHARE_PERCENT: u64 = 85;

/// Packets per forwarded stream kept for retransmission, and for how long: about 3 s of a
/// 2.5 Mbit/s layer, as str0m's default, but without str0m's cap on the share of resent
/// bytes: that cap drops resends on a link whose jitter makes the subscriber NACK packets that
/// are merely late, and a subscriber missing a packet of an encrypted frame cannot conceal it.
const RTX_CACHE_PACKETS: usize = 2000;
/// Sent datagrams' buffers kept for the next ones ([`Sfu::recycle`]), per peer, plus a floor:
/// a received packet makes at most one datagram per other peer of its room before the shell
/// sends them and gives their buffers back. More are freed, so the pool follows the number of
/// peers instead of filling up with the handshake datagrams of every peer that came and went.
const SPARE_BUFFERS_PER_PEER: usize = 2;
const MIN_SPARE_BUFFERS: usize = 16;
const RTX_CACHE_AGE: Duration = Duration::from_secs(3);

/// RTP header extension ids we offer for the two extensions str0m does not map by default
/// (remapped to whatever the client's offer uses).
const DEPENDENCY_DESCRIPTOR_ID: u8 = 12;
const VIDEO_LAYERS_ALLOCATION_ID: u8 = 14;

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
    layer_switches: u64,
    /// Keyframe requests decided while forwarding, sent once the loop over subscribers is done
    /// (kept between packets so the forwarding path does not allocate).
    keyframe_scratch: Vec<(PeerId, Mid, Ssrc)>,
    /// Buffers of sent datagrams ([`Sfu::recycle`]), handed to the `Rtc` about to be polled
    /// so that str0m writes its next datagram into one instead of allocating (str0m patch 3).
    spare_buffers: Vec<Vec<u8>>,
    /// Feedback and keyframe requests of peers that are gone, so the counters never go back.
    retired_feedback: Feedback,
    retired_keyframe_requests: u64,
    /// Active-speaker detection per room, from the audio-level header extension.
    speakers: BTreeMap<RoomId, SpeakerDetector>,
    /// When the active speakers are next decided; `None` while no room has levels.
    next_speaker_check: Option<Instant>,
    /// Whose audio each room forwards (rooms with audio levels only).
    loudest: BTreeMap<RoomId, Loudest>,
    /// [`SfuConfig::loudest_audio`].
    loudest_audio: usize,
    audio_not_forwarded: u64,
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
            // RTP mode: packets are forwarded as they came (payload untouched, which end-to-end
            // encryption needs anyway), with our own sequence numbers and timestamps per
            // subscriber so that simulcast layers can be switched (see `munger`).
            .set_rtp_mode(true)
            // TWCC bandwidth estimation towards every peer, with str0m's pacer: the estimate
            // chooses the simulcast layers (see `layers`).
            .enable_bwe(Some(INITIAL_ESTIMATE))
            // Keyframes and frame boundaries without reading the (encrypted) payload, and the
            // simulcast layers' resolutions (see `frame`).
            .set_extension(
                DEPENDENCY_DESCRIPTOR_ID,
                Extension::with_serializer(frame::URI, frame::DependencyDescriptorSerializer),
            )
            .set_extension(
                VIDEO_LAYERS_ALLOCATION_ID,
                Extension::with_serializer(str0m::rtp::vla::URI, str0m::rtp::vla::Serializer),
            )
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
            layer_switches: 0,
            keyframe_scratch: Vec::new(),
            spare_buffers: Vec::new(),
            speakers: BTreeMap::new(),
            next_speaker_check: None,
            loudest: BTreeMap::new(),
            loudest_audio: config.loudest_audio,
            audio_not_forwarded: 0,
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
        new_peer.last_received = now;
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
        // Newly opened video tracks get their layer (and a keyframe request for it) at once.
        if !p.commit_negotiation().is_empty() {
            self.allocate(now, peer);
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
            peer.last_received = now;
            if let Err(e) = peer.rtc.handle_input(input) {
                // Bad input from the peer's address: drop the datagram. A fatal error closes the
                // Rtc, which `poll_output` notices.
                tracing::debug!(peer = %id, "datagram rejected: {e}");
            }
            self.drain(now, id);
        }
        true
    }

    /// Polls `id`'s `Rtc` until it has nothing more to give, now: in RTP mode str0m holds one
    /// received packet at a time until it is polled, so a second datagram fed before polling
    /// would lose the first. Forwarding happens here, within `handle_receive`; datagrams to
    /// send wait in `transmits` for [`Sfu::poll_output`].
    fn drain(&mut self, now: Instant, id: PeerId) {
        loop {
            match self.poll_peer(now, id) {
                Step::Transmit(t) => self.transmits.push_back(t),
                Step::Progress => {}
                Step::Timeout(t) => {
                    if let Some(peer) = self.peers.get_mut(&id) {
                        peer.timeout = t;
                    }
                    return;
                }
                Step::Gone => return,
            }
        }
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
            } else if peer.connected && now >= peer.last_received + PEER_SILENCE_TIMEOUT {
                tracing::debug!(peer = %id, "nothing received from the peer for too long");
                expired.push(*id);
            }
            if peer.next_keyframe_due(now).is_some_and(|due| due <= now) {
                schedule(&mut self.work, *id, peer);
                peer.flush_keyframes(now);
            }
        }
        let due: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.connected && p.allocate_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.allocate(now, id);
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

    /// Gives back the buffer of a sent [`Transmit`] (its `contents`, once the socket took it):
    /// the next datagram is written into it instead of a new allocation. Optional; without it
    /// every datagram allocates its buffer.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        let keep = MIN_SPARE_BUFFERS + SPARE_BUFFERS_PER_PEER * self.peers.len();
        if self.spare_buffers.len() < keep {
            self.spare_buffers.push(buf);
        }
    }

    /// Bytes held in buffers kept for recycling ([`Sfu::recycle`]): a bounded cache (a few
    /// buffers per peer), not state that grows with time.
    pub fn spare_buffer_bytes(&self) -> usize {
        self.spare_buffers.iter().map(Vec::capacity).sum()
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
            layer_switches: self.layer_switches,
            estimated_bitrate_bps: self
                .peers
                .values()
                .filter_map(|p| p.estimate)
                .map(|b| b.as_u64())
                .sum(),
            estimated_peers: self.peers.values().filter(|p| p.estimate.is_some()).count(),
            audio_not_forwarded: self.audio_not_forwarded,
        }
    }

    /// Tells the SFU the size (device pixels) at which `subscriber`'s client renders the video
    /// of `publisher`; `(0, 0)` means not visible. The subscriber then gets the smallest
    /// simulcast layer that covers that size (within its bandwidth estimate). Until a size is
    /// reported the largest layer the estimate allows is forwarded.
    pub fn set_video_size(
        &mut self,
        now: Instant,
        subscriber: PeerId,
        publisher: PeerId,
        width: u32,
        height: u32,
    ) -> Result<(), Error> {
        let room = self
            .peers
            .get(&subscriber)
            .ok_or(Error::UnknownPeer(subscriber))?
            .room;
        if publisher == subscriber || self.peers.get(&publisher).is_none_or(|p| p.room != room) {
            return Err(Error::UnknownPeer(publisher));
        }
        let sub = self
            .peers
            .get_mut(&subscriber)
            .ok_or(Error::UnknownPeer(subscriber))?;
        if sub.render_sizes.insert(publisher, (width, height)) != Some((width, height)) {
            sub.allocate_at = now;
        }
        Ok(())
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
            if peer.connected {
                t = t.min(peer.last_received + PEER_SILENCE_TIMEOUT);
            } else {
                t = t.min(peer.connect_deadline);
            }
            if let Some(due) = peer.next_keyframe_due(now) {
                t = t.min(due);
            }
            if peer.connected {
                t = t.min(peer.allocate_at);
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
        // str0m keeps only buffers big enough for any datagram (STUN and DTLS ones come back
        // smaller): on to the next spare until it holds one, so that it never allocates while
        // spares are left.
        while !peer.rtc.has_spare_buffer() {
            let Some(buf) = self.spare_buffers.pop() else {
                break;
            };
            peer.rtc.recycle_buffer(buf);
        }
        match peer.rtc.poll_output() {
            Ok(str0m::Output::Transmit(t)) => {
                peer.sent_since_timeout = true;
                Step::Transmit(Transmit {
                    transport: transport_of(t.proto),
                    source: t.source,
                    destination: t.destination,
                    contents: t.contents.into(),
                })
            }
            Ok(str0m::Output::Timeout(t)) => {
                // str0m's pacer lets one packet out per timeout and then asks for one a
                // microsecond later; a timer round trip per packet (a millisecond with tokio)
                // would cap each peer at ~1000 packets/s and queue the rest (audio50: 49
                // streams to every peer). Timeouts due within IMMEDIATE are driven here, with
                // str0m's clock at most IMMEDIATE ahead of `now`, a bounded number of times.
                // Only while each one lets a datagram out: an Rtc whose pacer points at a queue
                // it cannot send from yet asks for "now" again and again without output.
                let productive = peer.immediate_timeouts == 0 || peer.sent_since_timeout;
                if t <= now + IMMEDIATE
                    && productive
                    && peer.immediate_timeouts < MAX_IMMEDIATE_TIMEOUTS
                {
                    peer.immediate_timeouts += 1;
                    peer.sent_since_timeout = false;
                    if let Err(e) = peer.rtc.handle_input(Input::Timeout(t.max(now))) {
                        tracing::debug!(peer = %id, "timeout handling failed: {e}");
                        peer.rtc.disconnect();
                    }
                    Step::Progress
                } else {
                    peer.immediate_timeouts = 0;
                    Step::Timeout(t)
                }
            }
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
            Event::RtpPacket(packet) => self.forward(now, id, packet),
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    let changed = peer.estimate.is_none_or(|old| {
                        let (a, b) = (old.as_u64(), estimate.as_u64());
                        a.abs_diff(b) * 10 > a.max(1)
                    });
                    peer.estimate = Some(estimate);
                    // A change of more than 10% is worth a new choice of layers now.
                    if changed {
                        peer.allocate_at = now;
                    }
                }
            }
            Event::StreamPaused(paused) => {
                if let Some(layer) = self
                    .peers
                    .get_mut(&id)
                    .and_then(|p| p.tracks_in.get_mut(&paused.mid))
                    .and_then(|t| t.layer_mut(paused.ssrc))
                {
                    layer.paused = paused.paused;
                }
            }
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

    /// Fans one RTP packet from publisher `id` out to the other peers of its room: each
    /// subscriber's forwarded track passes it on if it comes from the layer that subscriber
    /// gets, with the subscriber's own sequence number and timestamp; a subscriber waiting to
    /// switch layers switches on a keyframe of the layer it waits for.
    ///
    /// Steady state allocates nothing here (`sfu/tests/alloc.rs`): the payload is shared (a
    /// pooled str0m `Payload`) by every subscriber's send queue and retransmission buffer.
    fn forward(&mut self, now: Instant, id: PeerId, packet: RtpPacket) {
        let Some(publisher) = self.peers.get_mut(&id) else {
            return;
        };
        let room = publisher.room;
        let ssrc = packet.header.ssrc;

        // Which track and layer: a scan of the publisher's few layers, str0m's map on a miss.
        let known = publisher
            .tracks_in
            .iter()
            .find(|(_, t)| t.layers.iter().any(|l| l.ssrc == ssrc))
            .map(|(mid, _)| *mid);
        let mid = match known {
            Some(mid) => mid,
            None => {
                let Some((mid, rid)) = publisher
                    .rtc
                    .direct_api()
                    .stream_rx(&ssrc)
                    .map(|rx| (rx.mid(), rx.rid()))
                else {
                    return;
                };
                if !publisher.tracks_in.contains_key(&mid) {
                    let Some(kind) = publisher.rtc.media(mid).map(|m| MediaKind::from(m.kind()))
                    else {
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
                let Some(publisher) = self.peers.get_mut(&id) else {
                    return;
                };
                if let Some(track) = publisher.tracks_in.get_mut(&mid) {
                    tracing::debug!(peer = %id, %mid, ?rid, %ssrc, "new stream");
                    track.layers.push(Layer::new(now, ssrc, rid));
                }
                mid
            }
        };
        let Some(publisher) = self.peers.get_mut(&id) else {
            return;
        };
        let pt = packet.header.payload_type;
        let Some(track) = publisher.tracks_in.get_mut(&mid) else {
            return;
        };
        let kind = track.kind;
        if let Some(vla) = packet
            .header
            .ext_vals
            .user_values
            .get::<VideoLayersAllocation>()
        {
            // Only a stated resolution changes a height: Chromium leaves the resolutions out of
            // many of these headers (most of them, in tests/e2e/simulcast.test.mjs), and an
            // inactive stream lists no spatial layers. Neither means the height changed.
            for (i, stream) in vla.simulcast_streams.iter().enumerate().take(MAX_LAYERS) {
                if let Some(h) = stream
                    .spatial_layers
                    .iter()
                    .filter_map(|l| l.resolution_and_framerate.as_ref())
                    .map(|r| r.height)
                    .max()
                {
                    track.heights[i] = Some(h);
                }
            }
            if let Some(layer) = track.layer_mut(ssrc) {
                layer.vla_index = Some(vla.current_simulcast_stream_index);
            }
        }
        let Some(layer) = track.layer_mut(ssrc) else {
            return;
        };
        layer.record(now, packet.payload.len());
        if layer.params.is_none_or(|p| p.pt() != pt) {
            layer.params = publisher.rtc.codec_config().find(|p| p.pt() == pt).copied();
        }
        let Some(params) = layer.params else {
            tracing::debug!(peer = %id, "packet with a payload type we did not negotiate");
            return;
        };
        let codec = params.spec().codec;
        let clock_rate = params.spec().clock_rate.get();
        let dd = packet
            .header
            .ext_vals
            .user_values
            .get::<frame::DependencyDescriptorValue>()
            .map(|v| v.descriptor());
        let keyframe = kind == MediaKind::Video
            && frame::starts_keyframe(dd.as_ref(), frame_codec(codec), &packet.payload);
        if keyframe && codec == Codec::Vp8 {
            if let Some((_, height)) = frame::vp8_keyframe_size(&packet.payload) {
                layer.keyframe_height = Some(height);
            }
        }

        // Audio: how many times the publisher entered the loudest set, for its subscribers'
        // streams to continue across the gaps (0 without levels: always forwarded).
        let mut entries = 0;
        if let Some(level) = packet.header.ext_vals.audio_level {
            let db = dbov(level);
            self.speakers.entry(room).or_default().record(id, db, now);
            if self.next_speaker_check.is_none() {
                self.next_speaker_check = Some(now + SPEAKER_INTERVAL);
            }
            if kind == MediaKind::Audio {
                let n = self.loudest_audio;
                let loudest = self.loudest.entry(room).or_insert_with(|| Loudest::new(n));
                if loudest.route(id, db, now) == Route::Drop {
                    self.audio_not_forwarded += 1;
                    return;
                }
                entries = loudest.entries(id);
            }
        }

        #[cfg(feature = "capture")]
        self.capture(id, mid, kind, codec, &packet.payload);

        let vp8 = (codec == Codec::Vp8)
            .then(|| str0m::rtp::Vp8Descriptor::parse(&packet.payload).ok())
            .flatten();
        let vp8_ids = vp8.and_then(|d| {
            d.picture_id().map(|picture_id| munger::Vp8Ids {
                picture_id,
                tl0_pic_idx: d.tl0_pic_idx(),
            })
        });
        let incoming = munger::Incoming {
            source: *ssrc,
            seq: *packet.seq_no,
            timestamp: packet.header.timestamp,
            arrival: now,
            clock_rate,
            vp8: vp8_ids,
        };
        // What subscribers see of the header extensions: the audio level (for their own
        // speaking indicators) and the video orientation (a phone's rotation).
        let ext = ExtensionValues {
            audio_level: packet.header.ext_vals.audio_level,
            voice_activity: packet.header.ext_vals.voice_activity,
            video_orientation: packet.header.ext_vals.video_orientation,
            ..Default::default()
        };

        let Some(members) = self.rooms.get(&room) else {
            return;
        };
        for other in members.iter().filter(|o| **o != id) {
            let Some(sub) = self.peers.get_mut(other) else {
                continue;
            };
            let Some(t) = sub.tracks_out.iter_mut().find(|t| {
                t.source == id && t.source_mid == mid && matches!(t.state, peer::OutState::Open(_))
            }) else {
                continue;
            };
            let peer::OutState::Open(out_mid) = t.state else {
                continue;
            };
            let switch =
                if t.current == Some(ssrc) && (kind == MediaKind::Video || t.entries == entries) {
                    false
                } else if kind == MediaKind::Audio {
                    // One stream per audio track; a new SSRC (renegotiation) simply takes over, and
                    // the same one continues after it was out of the loudest set.
                    true
                } else if t.target == Some(ssrc) && keyframe {
                    true
                } else {
                    if t.target.is_none() && t.current.is_none() {
                        // Not allocated yet: start on the first layer that sends a keyframe.
                        t.target = Some(ssrc);
                        self.keyframe_scratch.push((id, mid, ssrc));
                    }
                    continue;
                };
            let rewritten = if switch && kind == MediaKind::Audio {
                t.entries = entries;
                t.munger.resume(incoming)
            } else if switch {
                t.munger.switch_to(incoming)
            } else {
                t.munger.forward(incoming)
            };
            let Some(out) = rewritten else {
                continue;
            };
            let first_write = t.current.is_none();
            if switch {
                if t.current.is_some() && kind == MediaKind::Video {
                    self.layer_switches += 1;
                }
                t.current = Some(ssrc);
            }
            let out_pt = match t.pt_map {
                Some((from, to)) if from == pt => to,
                _ => {
                    let Some(to) = sub.rtc.codec_config().match_params(params).map(|p| p.pt())
                    else {
                        tracing::debug!(peer = %other, "subscriber has no matching codec");
                        continue;
                    };
                    t.pt_map = Some((pt, to));
                    to
                }
            };
            let mut write = RtpWrite::new(
                out_pt,
                out.seq.into(),
                out.timestamp,
                packet.timestamp,
                packet.payload.clone(),
            )
            .marker(packet.header.marker)
            .ext_vals(ext.clone())
            .nackable(kind == MediaKind::Video);
            if let (Some(d), Some(ids)) = (vp8, out.vp8) {
                let mut patch = d.patch().picture_id(ids.picture_id);
                if let Some(tl0) = ids.tl0_pic_idx {
                    patch = patch.tl0_pic_idx(tl0);
                }
                if let Ok(p) = patch.build() {
                    write = write.vp8_patch(p);
                }
            }
            // The subscriber's clock to now, so the packet leaves (at once: the stream is
            // unpaced, str0m patch 1) with this send time, not its last input's.
            sub.rtc.advance_time(now);
            let mut api = sub.rtc.direct_api();
            let Some(tx) = api.stream_tx_by_mid(out_mid, None) else {
                continue;
            };
            if first_write {
                tx.set_rtx_cache(RTX_CACHE_PACKETS, RTX_CACHE_AGE, None);
                tx.set_unpaced(true);
            }
            tx.write_rtp(write);
            self.forwarded_packets += 1;
            self.forwarded_bytes += packet.payload.len() as u64;
            schedule(&mut self.work, *other, sub);
        }
        while let Some((p, mid, ssrc)) = self.keyframe_scratch.pop() {
            if let Some(publisher) = self.peers.get_mut(&p) {
                publisher.want_keyframe(now, mid, Some(ssrc));
                schedule(&mut self.work, p, publisher);
            }
        }
    }

    /// Chooses the simulcast layer of every video track forwarded to `id` (see `layers`) and
    /// asks publishers for the keyframes the switches wait for.
    fn allocate(&mut self, now: Instant, id: PeerId) {
        let Some(sub) = self.peers.get(&id) else {
            return;
        };
        let mut wants: Vec<(usize, TrackWant, [Option<Ssrc>; MAX_LAYERS])> = Vec::new();
        let mut audio_tracks = 0u64;
        for (i, t) in sub.tracks_out.iter().enumerate() {
            if !matches!(t.state, peer::OutState::Open(_)) {
                continue;
            }
            if t.kind == MediaKind::Audio {
                audio_tracks += 1;
                continue;
            }
            let Some(track) = self
                .peers
                .get(&t.source)
                .and_then(|p| p.tracks_in.get(&t.source_mid))
            else {
                continue;
            };
            let height = sub.render_sizes.get(&t.source).map(|(_, h)| *h);
            let (want, ssrcs) = track.want(now, height, t.current);
            wants.push((i, want, ssrcs));
        }
        let estimate = sub.estimate.unwrap_or(INITIAL_ESTIMATE).as_u64();
        // Opus at our settings stays under 40 kbit/s.
        let budget = (estimate * VIDEO_SHARE_PERCENT / 100).saturating_sub(audio_tracks * 40_000);
        let tracks: Vec<TrackWant> = wants.iter().map(|w| w.1).collect();
        let mut out = vec![Allocation::default(); tracks.len()];
        layers::allocate(&tracks, budget, &mut out);

        let Some(sub) = self.peers.get_mut(&id) else {
            return;
        };
        sub.allocate_at = now + ALLOCATE_INTERVAL;
        let (mut minimum, mut desired) = (0u64, 0u64);
        for ((i, want, ssrcs), a) in wants.iter().zip(&out) {
            if let Some(l) = a.layer {
                minimum += want.layers[l].bitrate_bps;
            }
            if let Some(l) = a.wanted {
                desired += want.layers[l].bitrate_bps;
            }
            let Some(t) = sub.tracks_out.get_mut(*i) else {
                continue;
            };
            let target = a.layer.and_then(|l| ssrcs[l]);
            if target.is_some() {
                t.target = target;
            }
            if let Some(target) = t.target {
                if t.current != Some(target) {
                    self.keyframe_scratch.push((t.source, t.source_mid, target));
                }
            }
        }
        if !wants.is_empty() {
            sub.rtc
                .bwe()
                .set_bitrate(Bitrate::bps(minimum), Bitrate::bps(desired.max(minimum)));
            schedule(&mut self.work, id, sub);
        }
        while let Some((p, mid, ssrc)) = self.keyframe_scratch.pop() {
            if let Some(publisher) = self.peers.get_mut(&p) {
                publisher.want_keyframe(now, mid, Some(ssrc));
                schedule(&mut self.work, p, publisher);
            }
        }
    }

    #[cfg(feature = "capture")]
    fn capture(&mut self, id: PeerId, mid: Mid, kind: MediaKind, codec: Codec, payload: &[u8]) {
        if self.captured.len() >= CAPTURE_LIMIT {
            return;
        }
        // One record per frame, as the frame's first bytes: for VP8 the packet that starts a
        // frame, after its RTP payload descriptor (RFC 7741).
        let frame = match codec {
            Codec::Vp8 => match vp8_frame_start(payload) {
                Some(start) => &payload[start..],
                None => return,
            },
            _ => payload,
        };
        self.captured.push(CapturedFrame {
            publisher: id,
            mid: mid.to_string(),
            kind,
            len: frame.len(),
            head: frame.iter().take(CAPTURE_HEAD_BYTES).copied().collect(),
        });
    }

    /// Takes the frames captured since the last call (test-only, feature `capture`).
    #[cfg(feature = "capture")]
    pub fn take_captured(&mut self) -> Vec<CapturedFrame> {
        std::mem::take(&mut self.captured)
    }

    /// A subscriber asked for a keyframe on a forwarded track: ask its publisher, for the
    /// layer this subscriber gets (or waits for), throttled.
    fn keyframe_request_from_subscriber(&mut self, now: Instant, id: PeerId, req: KeyframeRequest) {
        let Some((source, source_mid, layer)) = self
            .peers
            .get(&id)
            .and_then(|p| p.track_out_by_mid(req.mid))
            .map(|t| (t.source, t.source_mid, t.target.or(t.current)))
        else {
            return;
        };
        if let Some(publisher) = self.peers.get_mut(&source) {
            publisher.want_keyframe(now, source_mid, layer);
            schedule(&mut self.work, source, publisher);
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
        if let Some(loudest) = self.loudest.get_mut(&peer.room) {
            loudest.remove(id);
            if loudest.is_empty() {
                self.loudest.remove(&peer.room);
            }
        }
        self.routes.retain(|_, p| *p != id);
        self.events.retain(|(p, _)| *p != id);
        if let Some(members) = self.rooms.get(&peer.room) {
            for other in members {
                if let Some(sub) = self.peers.get_mut(other) {
                    sub.detach_source(id);
                    sub.render_sizes.remove(&id);
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

/// The codecs `frame` tells keyframes of.
fn frame_codec(codec: Codec) -> frame::Codec {
    match codec {
        Codec::Vp8 => frame::Codec::Vp8,
        Codec::H264 => frame::Codec::H264,
        _ => frame::Codec::Other,
    }
}

/// Where the VP8 frame starts in a packet that starts a frame (S=1, partition 0): the length
/// of the RTP payload descriptor (RFC 7741 §4.2). `None` for other packets.
#[cfg(feature = "capture")]
fn vp8_frame_start(payload: &[u8]) -> Option<usize> {
    let b0 = *payload.first()?;
    if b0 & 0x10 == 0 || b0 & 0x07 != 0 {
        return None;
    }
    let mut i = 1;
    if b0 & 0x80 != 0 {
        let x = *payload.get(i)?;
        i += 1;
        if x & 0x80 != 0 {
            let pid = *payload.get(i)?;
            i += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1;
        }
        if x & 0x30 != 0 {
            i += 1;
        }
    }
    (i < payload.len()).then_some(i)
}
