//! Active-speaker detection from the RFC 6464 audio-level header extension.
//!
//! The level travels in the RTP header, outside the (end-to-end encrypted) payload, so the SFU
//! can tell who is speaking without reading any audio. Once per [`SPEAKER_INTERVAL`] each
//! publisher's loudest level in that window is compared: the loudest publisher above the speech
//! threshold becomes the active speaker if it is clearly louder than the current one, or the
//! current one fell silent (hysteresis keeps the highlight from flickering between two people
//! talking over each other). In silence the last speaker stays.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::types::PeerId;

/// How often the active speaker of each room is decided.
pub const SPEAKER_INTERVAL: Duration = Duration::from_millis(300);
/// A window's loudest level louder than this (in -dBov, 0 = loudest, 127 = silence) is speech.
const SPEECH_DBOV: u8 = 55;
/// How much louder (dB) a challenger must be than a still-speaking current speaker to take over.
const SWITCH_MARGIN_DB: u8 = 6;

/// An RFC 6464 audio level as str0m reports it from the header extension (−dBov: 0 loudest,
/// −127 silence; any `i8` a peer manages to send) in the detector's unit, 0..=128 dBov
/// ([`SpeakerDetector::record`] clamps to 127).
pub fn dbov(level: i8) -> u8 {
    level.unsigned_abs()
}

#[derive(Debug, Clone, Copy)]
struct Level {
    /// Loudest level in -dBov heard in the current window (lower is louder); `None` if the
    /// publisher sent no level since the last decision (muted, or its packets stopped).
    window: Option<u8>,
}

/// Decides the active speaker of one room. Time is an argument; nothing here reads a clock.
#[derive(Debug, Default)]
pub struct SpeakerDetector {
    levels: BTreeMap<PeerId, Level>,
    current: Option<PeerId>,
}

impl SpeakerDetector {
    /// Records one audio-level sample of `peer`: `dbov` is the RFC 6464 level, 0 (loudest) to
    /// 127 (silence); larger values are clamped.
    pub fn record(&mut self, peer: PeerId, dbov: u8, _now: Instant) {
        let sample = dbov.min(127);
        let level = self.levels.entry(peer).or_insert(Level { window: None });
        level.window = Some(level.window.map_or(sample, |w| w.min(sample)));
    }

    /// Forgets `peer` (it left). The current speaker is cleared if it was `peer`.
    pub fn remove(&mut self, peer: PeerId) {
        self.levels.remove(&peer);
        if self.current == Some(peer) {
            self.current = None;
        }
    }

    /// Whether nobody is tracked any more.
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// The current active speaker.
    pub fn current(&self) -> Option<PeerId> {
        self.current
    }

    /// Decides the active speaker at `now`; returns it only when it changed.
    #[must_use]
    pub fn decide(&mut self, _now: Instant) -> Option<PeerId> {
        // Close the window: each publisher's loudest level in it, if it spoke at all.
        let mut speaking: Vec<(PeerId, u8)> = Vec::new();
        for (peer, level) in &mut self.levels {
            if let Some(db) = level.window.take().filter(|db| *db < SPEECH_DBOV) {
                speaking.push((*peer, db));
            }
        }
        let (candidate, candidate_db) = speaking.iter().copied().min_by_key(|(_, db)| *db)?;
        if self.current == Some(candidate) {
            return None;
        }
        let current_db = self
            .current
            .and_then(|c| speaking.iter().find(|(p, _)| *p == c))
            .map(|(_, db)| *db);
        if current_db.is_some_and(|cur| cur - candidate_db < SWITCH_MARGIN_DB) {
            return None;
        }
        self.current = Some(candidate);
        Some(candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: PeerId = PeerId(1);
    const B: PeerId = PeerId(2);

    /// Feeds `ms` milliseconds of 20 ms samples for each (peer, level).
    fn feed(d: &mut SpeakerDetector, t: &mut Instant, ms: u64, levels: &[(PeerId, u8)]) {
        for _ in 0..ms / 20 {
            for (p, l) in levels {
                d.record(*p, *l, *t);
            }
            *t += Duration::from_millis(20);
        }
    }

    #[test]
    fn loudest_speaker_becomes_active() {
        let mut t = Instant::now();
        let mut d = SpeakerDetector::default();
        feed(&mut d, &mut t, 400, &[(A, 30), (B, 100)]);
        assert_eq!(d.decide(t), Some(A));
        assert_eq!(d.decide(t), None, "no event without a change");
    }

    #[test]
    fn silence_alone_elects_nobody() {
        let mut t = Instant::now();
        let mut d = SpeakerDetector::default();
        feed(&mut d, &mut t, 400, &[(A, 120), (B, 127)]);
        assert_eq!(d.decide(t), None);
        assert_eq!(d.current(), None);
    }

    #[test]
    fn a_slightly_louder_voice_does_not_take_over_but_a_clearly_louder_one_does() {
        let mut t = Instant::now();
        let mut d = SpeakerDetector::default();
        feed(&mut d, &mut t, 1000, &[(A, 40), (B, 127)]);
        assert_eq!(d.decide(t), Some(A));
        feed(&mut d, &mut t, 1000, &[(A, 40), (B, 37)]);
        assert_eq!(d.decide(t), None, "3 dB is within the margin");
        feed(&mut d, &mut t, 1000, &[(A, 40), (B, 20)]);
        assert_eq!(d.decide(t), Some(B));
    }

    #[test]
    fn a_short_beep_each_second_is_enough_to_be_heard() {
        let mut t = Instant::now();
        let mut d = SpeakerDetector::default();
        feed(&mut d, &mut t, 240, &[(A, 127)]);
        feed(&mut d, &mut t, 60, &[(A, 25)]);
        assert_eq!(d.decide(t), Some(A));
    }

    #[test]
    fn when_the_speaker_stops_the_next_one_takes_over_at_once() {
        let mut t = Instant::now();
        let mut d = SpeakerDetector::default();
        feed(&mut d, &mut t, 1000, &[(A, 30), (B, 127)]);
        assert_eq!(d.decide(t), Some(A));
        // A goes quiet (its packets stop: muted), B talks softly.
        feed(&mut d, &mut t, 1000, &[(B, 50)]);
        assert_eq!(d.decide(t), Some(B));
    }

    #[test]
    fn in_silence_the_last_speaker_stays() {
        let mut t = Instant::now();
        let mut d = SpeakerDetector::default();
        feed(&mut d, &mut t, 600, &[(A, 30)]);
        assert_eq!(d.decide(t), Some(A));
        feed(&mut d, &mut t, 2000, &[(A, 127), (B, 127)]);
        assert_eq!(d.decide(t), None);
        assert_eq!(d.current(), Some(A));
    }

    #[test]
    fn a_speaker_who_leaves_is_forgotten() {
        let mut t = Instant::now();
        let mut d = SpeakerDetector::default();
        feed(&mut d, &mut t, 600, &[(A, 30)]);
        assert_eq!(d.decide(t), Some(A));
        d.remove(A);
        assert_eq!(d.current(), None);
        assert!(d.is_empty());
    }

    proptest::proptest! {
        /// Whatever the levels, a decision names a tracked peer and only reports changes.
        #[test]
        fn decisions_name_tracked_peers_and_only_changes(samples in proptest::collection::vec((0u64..4, 0u8..=255, 0u64..50), 1..300)) {
            let mut t = Instant::now();
            let mut d = SpeakerDetector::default();
            let mut last = None;
            for (peer, level, dt) in samples {
                d.record(PeerId(peer), level, t);
                t += Duration::from_millis(dt);
                if let Some(p) = d.decide(t) {
                    proptest::prop_assert!(p.0 < 4);
                    proptest::prop_assert_ne!(Some(p), last);
                    last = Some(p);
                }
                proptest::prop_assert_eq!(d.current(), last);
            }
        }
    }
}
