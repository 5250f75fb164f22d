//! What a participant's tracks carry and what it counts, whatever it goes through (the SFU,
//! Janus or the baseline relay): [`Outgoing`] makes a published track's frames on its
//! schedule, [`Reception`] checks and counts the frames that arrive.

use std::collections::BTreeSet;
use std::time::Duration;

use str0m::media::{Mid, Pt};
use tokio::time::Instant;

use super::{new_histogram, Report, Spec};
use crate::payload::{self, Kind, Layer, Stamp};
use crate::shared::{Counters, Shared};

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

/// A track this participant publishes.
pub(crate) struct Outgoing {
    pub(crate) kind: Kind,
    /// The m-line it is sent on.
    pub(crate) mid: Mid,
    /// The simulcast layer this sends (video with `--simulcast`).
    pub(crate) layer: Option<Layer>,
    /// The layer's SSRC, once str0m made the stream.
    pub(crate) ssrc: Option<u32>,
    /// The payload type negotiated for it, once known.
    pub(crate) pt: Option<Pt>,
    /// Sequence number of the next frame on this track.
    pub(crate) seq: u64,
    /// When the next frame is due.
    pub(crate) next: Instant,
    /// Time between frames.
    pub(crate) interval: Duration,
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
