//! Per-peer state: its `Rtc`, the tracks it publishes and the tracks forwarded to it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use str0m::bwe::Bitrate;
use str0m::change::SdpPendingOffer;
use str0m::format::PayloadParams;
use str0m::media::{Direction, KeyframeRequestKind, Mid, Pt, Rid};
use str0m::rtp::Ssrc;
use str0m::Rtc;

use super::layers::{LayerInfo, TrackWant, LAYER_IDLE, MAX_LAYERS};
use super::munger::Munger;
use crate::types::{MediaKind, PeerId, RoomId};

/// At most one keyframe request (PLI/FIR) per publisher track in this interval. Requests that
/// arrive inside the window are not lost: one request is sent when the window ends. 500 ms keeps
/// a joining subscriber's first picture quick without letting many subscribers (or a lossy one)
/// make the publisher's encoder emit keyframe after keyframe.
pub const KEYFRAME_REQUEST_MIN_INTERVAL: Duration = Duration::from_millis(500);

/// One peer (participant): one `str0m::Rtc` in one room.
pub(crate) struct Peer {
    /// The room this peer forwards in.
    pub room: RoomId,
    /// The WebRTC session with the peer's client.
    pub rtc: Rtc,
    /// ICE + DTLS are up. Server offers wait for this, so they never race the client applying
    /// our answer to its first offer.
    pub connected: bool,
    /// If not connected by then, the peer is dropped as disconnected.
    pub connect_deadline: Instant,
    /// When the last datagram from the peer arrived (see `PEER_SILENCE_TIMEOUT`).
    pub last_received: Instant,
    /// Tracks this peer publishes, keyed by the mid in its own session.
    pub tracks_in: BTreeMap<Mid, TrackIn>,
    /// Tracks of other peers forwarded to this peer.
    pub tracks_out: Vec<TrackOut>,
    /// Our outstanding offer; at most one at a time. Further changes wait in `tracks_out`.
    pub pending_offer: Option<SdpPendingOffer>,
    /// Feedback this peer's client sent about what we forward to it, per mid: cumulative
    /// (NACK, PLI, FIR) counts from str0m's egress stats.
    pub feedback: BTreeMap<Mid, Feedback>,
    /// Keyframe requests we sent to this peer as a publisher.
    pub keyframe_requests_sent: u64,
    /// Some layer of ours may have a keyframe request waiting for the throttle: `false` is
    /// exact, so the per-poll deadline check skips walking every layer of every track.
    keyframes_wanted: bool,
    /// In the SFU's line of peers to poll.
    pub queued: bool,
    /// When the `Rtc` last asked to be driven by a timeout (valid while not `queued`).
    pub timeout: Instant,
    /// str0m's latest estimate of the bandwidth towards this peer (TWCC).
    pub estimate: Option<Bitrate>,
    /// The size (width, height in device pixels) this peer's client renders each publisher's
    /// video at, from [`crate::Sfu::set_video_size`].
    pub render_sizes: BTreeMap<PeerId, (u32, u32)>,
    /// When the layers of this peer's forwarded video are next chosen.
    pub allocate_at: Instant,
    /// Timeouts driven at once since this peer last went back to the caller's timer.
    pub immediate_timeouts: u32,
    /// The `Rtc` gave a datagram since the last timeout driven at once.
    pub sent_since_timeout: bool,
}

/// Cumulative receiver feedback on one forwarded stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Feedback {
    pub nacks: u64,
    pub plis: u64,
    pub firs: u64,
}

impl std::ops::Add for Feedback {
    type Output = Feedback;
    fn add(self, o: Feedback) -> Feedback {
        Feedback {
            nacks: self.nacks + o.nacks,
            plis: self.plis + o.plis,
            firs: self.firs + o.firs,
        }
    }
}

impl Peer {
    pub(crate) fn new(room: RoomId, rtc: Rtc, connect_deadline: Instant) -> Self {
        Peer {
            room,
            rtc,
            connected: false,
            connect_deadline,
            last_received: connect_deadline,
            tracks_in: BTreeMap::new(),
            tracks_out: Vec::new(),
            pending_offer: None,
            feedback: BTreeMap::new(),
            keyframe_requests_sent: 0,
            keyframes_wanted: false,
            queued: false,
            timeout: connect_deadline,
            estimate: None,
            render_sizes: BTreeMap::new(),
            allocate_at: connect_deadline,
            immediate_timeouts: 0,
            sent_since_timeout: false,
        }
    }

    /// The sum of the feedback over this peer's forwarded streams.
    pub(crate) fn feedback_total(&self) -> Feedback {
        self.feedback
            .values()
            .fold(Feedback::default(), |a, f| a + *f)
    }

    /// Creates a server offer if the peer is connected, has no offer outstanding and has track
    /// changes waiting. Returns the SDP to send to the client.
    pub(crate) fn negotiate(&mut self) -> Option<String> {
        if !self.connected || self.pending_offer.is_some() {
            return None;
        }
        let waiting = self
            .tracks_out
            .iter()
            .any(|t| matches!(t.state, OutState::ToOpen | OutState::ToStop(_)));
        if !waiting {
            return None;
        }

        let mut api = self.rtc.sdp_api();
        for t in &mut self.tracks_out {
            match t.state {
                OutState::ToOpen => {
                    let mid = api.add_media(
                        t.kind.into(),
                        Direction::SendOnly,
                        Some(t.source.to_string()),
                        Some(format!("{}-{}", t.source, t.source_mid)),
                        None,
                    );
                    t.state = OutState::Negotiating(mid);
                }
                OutState::ToStop(mid) => {
                    api.stop_media(mid);
                    t.state = OutState::NegotiatingStop(mid);
                }
                _ => {}
            }
        }

        if !api.has_changes() {
            // Only stops of m-lines that str0m already considers stopped (e.g. after a rolled
            // back negotiation): nothing left to tell the client now; the next offer carries
            // them as port 0 anyway.
            self.tracks_out
                .retain(|t| !matches!(t.state, OutState::NegotiatingStop(_)));
            return None;
        }

        match api.apply() {
            Some((offer, pending)) => {
                self.pending_offer = Some(pending);
                Some(offer.to_sdp_string())
            }
            None => {
                // add_media and stop_media always require a negotiation, so str0m returns an
                // offer above. Should that change, forget the stops and retry the adds.
                self.rollback_negotiation();
                self.tracks_out
                    .retain(|t| !matches!(t.state, OutState::ToStop(_)));
                None
            }
        }
    }

    /// The client answered our offer and str0m applied it. Returns the forwarded video tracks
    /// that just started, as `(publisher, publisher's mid)`, so a keyframe can be requested.
    pub(crate) fn commit_negotiation(&mut self) -> Vec<(PeerId, Mid)> {
        let mut started = Vec::new();
        self.tracks_out.retain_mut(|t| match t.state {
            OutState::Negotiating(mid) => {
                if t.orphan {
                    t.state = OutState::ToStop(mid);
                } else {
                    t.state = OutState::Open(mid);
                    if t.kind == MediaKind::Video {
                        started.push((t.source, t.source_mid));
                    }
                }
                true
            }
            OutState::NegotiatingStop(_) => false,
            _ => true,
        });
        started
    }

    /// Our offer is void (bad answer, or the client sent its own offer): go back to the state
    /// before it, so the next negotiation redoes the changes against the current session.
    pub(crate) fn rollback_negotiation(&mut self) {
        self.pending_offer = None;
        self.tracks_out.retain_mut(|t| match t.state {
            OutState::Negotiating(_) => {
                t.state = OutState::ToOpen;
                // A track whose publisher left while we negotiated is simply forgotten.
                !t.orphan
            }
            OutState::NegotiatingStop(mid) => {
                t.state = OutState::ToStop(mid);
                true
            }
            _ => true,
        });
    }

    /// The publisher `source` left: stop forwarding its tracks to this peer. Open m-lines are
    /// stopped by the next offer (the client's transceiver goes to "stopped", its track ends).
    pub(crate) fn detach_source(&mut self, source: PeerId) {
        self.tracks_out.retain_mut(|t| {
            if t.source != source {
                return true;
            }
            match t.state {
                OutState::ToOpen => false,
                OutState::Negotiating(_) => {
                    t.orphan = true;
                    true
                }
                OutState::Open(mid) => {
                    t.state = OutState::ToStop(mid);
                    true
                }
                OutState::ToStop(_) | OutState::NegotiatingStop(_) => true,
            }
        });
    }

    /// The forwarded track carried on our m-line `mid`, if it is open.
    pub(crate) fn track_out_by_mid(&self, mid: Mid) -> Option<&TrackOut> {
        self.tracks_out
            .iter()
            .find(|t| matches!(t.state, OutState::Open(m) if m == mid))
    }

    /// Marks a keyframe as wanted on layer `ssrc` of our published track `mid` (every layer
    /// with `None`) and sends the request now if the throttle allows.
    pub(crate) fn want_keyframe(&mut self, now: Instant, mid: Mid, ssrc: Option<Ssrc>) {
        let Some(track) = self.tracks_in.get_mut(&mid) else {
            return;
        };
        if track.kind != MediaKind::Video {
            return;
        }
        for layer in &mut track.layers {
            if ssrc.is_none_or(|s| s == layer.ssrc) {
                layer.keyframe_wanted = true;
                self.keyframes_wanted = true;
            }
        }
        self.flush_keyframes(now);
    }

    /// Sends every due keyframe request (PLI to the publisher, per layer).
    pub(crate) fn flush_keyframes(&mut self, now: Instant) {
        if !self.keyframes_wanted {
            return;
        }
        let Peer {
            tracks_in,
            rtc,
            keyframe_requests_sent,
            keyframes_wanted,
            ..
        } = self;
        *keyframes_wanted = false;
        for track in tracks_in.values_mut() {
            for layer in &mut track.layers {
                if layer.keyframe_due(now).is_none_or(|d| d > now) {
                    *keyframes_wanted |= layer.keyframe_wanted;
                    continue;
                }
                layer.keyframe_wanted = false;
                layer.last_keyframe_request = Some(now);
                match rtc.direct_api().stream_rx(&layer.ssrc) {
                    Some(rx) => {
                        rx.request_keyframe(KeyframeRequestKind::Pli);
                        *keyframe_requests_sent += 1;
                    }
                    None => tracing::debug!("keyframe request for a stream that is gone"),
                }
            }
        }
    }

    /// The earliest time a deferred keyframe request becomes due.
    pub(crate) fn next_keyframe_due(&self, now: Instant) -> Option<Instant> {
        if !self.keyframes_wanted {
            return None;
        }
        self.tracks_in
            .values()
            .flat_map(|t| t.layers.iter())
            .filter_map(|l| l.keyframe_due(now))
            .min()
    }
}

/// A track a peer publishes: one RTP stream, or several simulcast layers (one SSRC each).
pub(crate) struct TrackIn {
    pub kind: MediaKind,
    /// The streams of this track in the order they appeared.
    pub layers: Vec<Layer>,
    /// Encoded heights per simulcast stream index, from the video-layers-allocation extension.
    pub heights: [Option<u16>; MAX_LAYERS],
}

impl TrackIn {
    pub(crate) fn new(kind: MediaKind) -> Self {
        TrackIn {
            kind,
            layers: Vec::new(),
            heights: [None; MAX_LAYERS],
        }
    }

    /// The layer with this SSRC.
    pub(crate) fn layer_mut(&mut self, ssrc: Ssrc) -> Option<&mut Layer> {
        self.layers.iter_mut().find(|l| l.ssrc == ssrc)
    }

    /// A layer's encoded height: as the video-layers-allocation extension last stated it
    /// (Chromium), else from the header of the layer's last VP8 key frame (browsers without
    /// the extension, such as Firefox).
    fn height_of(&self, layer: &Layer) -> Option<u16> {
        layer
            .vla_index
            .and_then(|i| self.heights.get(usize::from(i)).copied().flatten())
            .or(layer.keyframe_height)
    }

    /// The layers lowest quality first, as indexes into `layers` (at most [`MAX_LAYERS`]):
    /// by encoded height where every layer has one, else by the usual RID names (`q` < `h` <
    /// `f`, `l` < `m` < `h`, `0` < `1` < `2`), else by measured bitrate.
    pub(crate) fn ranked(&self) -> ([usize; MAX_LAYERS], usize) {
        let mut order = [0usize; MAX_LAYERS];
        let n = self.layers.len().min(MAX_LAYERS);
        for (i, o) in order.iter_mut().enumerate().take(n) {
            *o = i;
        }
        let heights: Option<Vec<u16>> =
            self.layers[..n].iter().map(|l| self.height_of(l)).collect();
        let slice = &mut order[..n];
        if let Some(h) = heights {
            slice.sort_by_key(|i| (h[*i], self.layers[*i].bitrate_bps));
        } else if self.layers[..n].iter().all(|l| rid_rank(l.rid).is_some()) {
            slice.sort_by_key(|i| rid_rank(self.layers[*i].rid));
        } else {
            slice.sort_by_key(|i| self.layers[*i].bitrate_bps);
        }
        (order, n)
    }

    /// The allocator's view of this track, lowest layer first, with the SSRCs in that order;
    /// `current` is the layer the subscriber gets now.
    pub(crate) fn want(
        &self,
        now: Instant,
        render_height: Option<u32>,
        current: Option<Ssrc>,
    ) -> (TrackWant, [Option<Ssrc>; MAX_LAYERS]) {
        let (order, n) = self.ranked();
        let mut want = TrackWant {
            count: n,
            render_height,
            ..Default::default()
        };
        let mut ssrcs = [None; MAX_LAYERS];
        for (k, i) in order[..n].iter().enumerate() {
            let l = &self.layers[*i];
            want.layers[k] = LayerInfo {
                bitrate_bps: l.bitrate_bps,
                height: self.height_of(l),
                active: l.is_active(now),
            };
            ssrcs[k] = Some(l.ssrc);
            if current == Some(l.ssrc) {
                want.current = Some(k);
            }
        }
        (want, ssrcs)
    }
}

/// Order of well-known simulcast RIDs, lowest quality first.
fn rid_rank(rid: Option<Rid>) -> Option<u8> {
    let rid = rid?;
    match &*rid {
        "q" | "l" | "0" => Some(0),
        "h" | "m" | "1" => Some(1),
        "f" | "2" => Some(2),
        _ => None,
    }
}

/// Window over which a layer's incoming bitrate is measured.
const RATE_WINDOW: Duration = Duration::from_millis(1000);

/// One RTP stream (simulcast layer) of a published track.
pub(crate) struct Layer {
    pub ssrc: Ssrc,
    pub rid: Option<Rid>,
    /// The layer's simulcast stream index in the video-layers-allocation extension.
    pub vla_index: Option<u8>,
    /// Height stated by the layer's last VP8 key frame ([`crate::core::frame::vp8_keyframe_size`]).
    pub keyframe_height: Option<u16>,
    /// Payload params of the last packet's payload type (cached lookup).
    pub params: Option<PayloadParams>,
    /// Bitrate measured over the last complete window.
    pub bitrate_bps: u64,
    window_start: Instant,
    window_bytes: u64,
    /// Arrival of the last packet.
    pub last_packet: Instant,
    /// str0m reported the stream paused.
    pub paused: bool,
    /// When we last asked the publisher for a keyframe on this layer.
    pub last_keyframe_request: Option<Instant>,
    /// Someone wants a keyframe that the throttle has not let through yet.
    pub keyframe_wanted: bool,
}

impl Layer {
    pub(crate) fn new(now: Instant, ssrc: Ssrc, rid: Option<Rid>) -> Self {
        Layer {
            ssrc,
            rid,
            vla_index: None,
            keyframe_height: None,
            params: None,
            bitrate_bps: 0,
            window_start: now,
            window_bytes: 0,
            last_packet: now,
            paused: false,
            last_keyframe_request: None,
            keyframe_wanted: false,
        }
    }

    /// Counts one packet of `bytes` payload bytes arriving at `now`.
    pub(crate) fn record(&mut self, now: Instant, bytes: usize) {
        self.last_packet = now;
        self.paused = false;
        self.window_bytes += bytes as u64;
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= RATE_WINDOW {
            let micros = elapsed.as_micros().max(1) as u64;
            self.bitrate_bps = self.window_bytes * 8 * 1_000_000 / micros;
            self.window_bytes = 0;
            self.window_start = now;
        }
    }

    pub(crate) fn is_active(&self, now: Instant) -> bool {
        !self.paused && now.saturating_duration_since(self.last_packet) < LAYER_IDLE
    }

    /// When the wanted keyframe request may be sent (`now` if at once); `None` if none is wanted.
    fn keyframe_due(&self, now: Instant) -> Option<Instant> {
        if !self.keyframe_wanted {
            return None;
        }
        Some(match self.last_keyframe_request {
            Some(last) => last + KEYFRAME_REQUEST_MIN_INTERVAL,
            None => now,
        })
    }
}

/// One publisher track forwarded to one subscriber.
pub(crate) struct TrackOut {
    /// The publisher.
    pub source: PeerId,
    /// The mid in the publisher's session.
    pub source_mid: Mid,
    pub kind: MediaKind,
    pub state: OutState,
    /// The publisher left while the add was being negotiated: stop it once the answer comes.
    pub orphan: bool,
    /// The layer (publisher SSRC) being forwarded; `None` before the first packet.
    pub current: Option<Ssrc>,
    /// The layer to switch to at its next keyframe (the allocator's choice).
    pub target: Option<Ssrc>,
    /// Sequence numbers, timestamps and VP8 picture ids as this subscriber sees them.
    pub munger: Munger,
    /// Cached payload type translation: the publisher's PT and ours for the same codec.
    pub pt_map: Option<(Pt, Pt)>,
    /// Audio: the publisher's entries into the room's loudest set (`Loudest::entries`) when
    /// this stream last continued; a newer count means a gap to continue across.
    pub entries: u32,
}

impl TrackOut {
    pub(crate) fn new(source: PeerId, source_mid: Mid, kind: MediaKind) -> Self {
        TrackOut {
            source,
            source_mid,
            kind,
            state: OutState::ToOpen,
            orphan: false,
            current: None,
            target: None,
            munger: Munger::new(),
            pt_map: None,
            entries: 0,
        }
    }
}

/// Negotiation state of a forwarded track on the subscriber's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutState {
    /// Waits for the next server offer.
    ToOpen,
    /// In the outstanding offer, as our m-line `Mid`.
    Negotiating(Mid),
    /// Negotiated: media is written to `Mid`.
    Open(Mid),
    /// The publisher left: the next offer stops `Mid`.
    ToStop(Mid),
    /// The outstanding offer stops `Mid`; dropped once answered.
    NegotiatingStop(Mid),
}
