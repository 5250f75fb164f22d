//! Per-peer state: its `Rtc`, the tracks it publishes and the tracks forwarded to it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use str0m::change::SdpPendingOffer;
use str0m::media::{Direction, KeyframeRequestKind, Mid};
use str0m::Rtc;

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
    /// In the SFU's line of peers to poll.
    pub queued: bool,
    /// When the `Rtc` last asked to be driven by a timeout (valid while not `queued`).
    pub timeout: Instant,
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
            tracks_in: BTreeMap::new(),
            tracks_out: Vec::new(),
            pending_offer: None,
            feedback: BTreeMap::new(),
            keyframe_requests_sent: 0,
            queued: false,
            timeout: connect_deadline,
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

    /// Marks a keyframe as wanted on our published track `mid` and sends the request now if
    /// the throttle allows.
    pub(crate) fn want_keyframe(&mut self, now: Instant, mid: Mid) {
        if let Some(track) = self.tracks_in.get_mut(&mid) {
            if track.kind == MediaKind::Video {
                track.keyframe_wanted = true;
            }
        }
        self.flush_keyframe(now, mid);
    }

    /// Sends the wanted keyframe request of track `mid` if its throttle window has passed.
    pub(crate) fn flush_keyframe(&mut self, now: Instant, mid: Mid) {
        let Some(track) = self.tracks_in.get_mut(&mid) else {
            return;
        };
        match track.keyframe_due(now) {
            Some(due) if due <= now => {}
            _ => return,
        }
        track.keyframe_wanted = false;
        track.last_keyframe_request = Some(now);

        let Some(mut writer) = self.rtc.writer(mid) else {
            return;
        };
        let kind = if writer.is_request_keyframe_possible(KeyframeRequestKind::Pli) {
            KeyframeRequestKind::Pli
        } else if writer.is_request_keyframe_possible(KeyframeRequestKind::Fir) {
            KeyframeRequestKind::Fir
        } else {
            tracing::debug!("keyframe requests not negotiated with publisher");
            return;
        };
        match writer.request_keyframe(None, kind) {
            Ok(()) => self.keyframe_requests_sent += 1,
            Err(e) => tracing::debug!("keyframe request failed: {e}"),
        }
    }

    /// Sends every due keyframe request.
    pub(crate) fn flush_keyframes(&mut self, now: Instant) {
        let due: Vec<Mid> = self
            .tracks_in
            .iter()
            .filter(|(_, t)| t.keyframe_due(now).is_some_and(|d| d <= now))
            .map(|(m, _)| *m)
            .collect();
        for mid in due {
            self.flush_keyframe(now, mid);
        }
    }

    /// The earliest time a deferred keyframe request becomes due.
    pub(crate) fn next_keyframe_due(&self, now: Instant) -> Option<Instant> {
        self.tracks_in
            .values()
            .filter_map(|t| t.keyframe_due(now))
            .min()
    }
}

/// A track a peer publishes.
pub(crate) struct TrackIn {
    pub kind: MediaKind,
    /// When we last asked the publisher for a keyframe on this track.
    pub last_keyframe_request: Option<Instant>,
    /// Someone wants a keyframe that the throttle has not let through yet.
    pub keyframe_wanted: bool,
}

impl TrackIn {
    pub(crate) fn new(kind: MediaKind) -> Self {
        TrackIn {
            kind,
            last_keyframe_request: None,
            keyframe_wanted: false,
        }
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
}

impl TrackOut {
    pub(crate) fn new(source: PeerId, source_mid: Mid, kind: MediaKind) -> Self {
        TrackOut {
            source,
            source_mid,
            kind,
            state: OutState::ToOpen,
            orphan: false,
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
