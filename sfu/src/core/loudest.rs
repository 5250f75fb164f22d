//! Loudest-speaker audio routing: a room forwards the audio of at most N publishers, the ones
//! that spoke loudest most recently.
//!
//! Every subscriber of a room with P publishers receives P − 1 audio streams at 50 packets/s;
//! the room as a whole sends P × (P − 1) × 50 packets/s from the one worker that owns it. At 50
//! people that is 122,500 packets/s for a room in which one or two people talk at a time.
//! Forwarding only the N loudest (Jitsi's "route loudest only", N = 3 there) makes it
//! P × N × 50, and nobody hears a difference: more than a handful of simultaneous voices is
//! noise anyway. Rooms with at most N audio publishers forward everything.
//!
//! The level comes from the RFC 6464 audio-level header extension, outside the end-to-end
//! encrypted payload. Each publisher has an *energy*: its loudness (127 − level in −dBov,
//! 0 = silence), held at its peak and decaying by [`DECAY_DB_PER_SECOND`], so a speaker keeps
//! the slot through the pauses between words. A publisher outside the set takes a member's slot
//! as soon as one of its packets is louder by [`MARGIN_DB`] than that member's held loudness:
//! the packet that makes it loud enough is already forwarded, so the first syllable is not
//! cut. Of the members it could replace, it takes the slot of the one that is quietest right
//! now (someone who just stopped talking rather than someone still talking more softly).
//! There is no noise gate: a whispering client in a quiet room is heard.
//!
//! Nothing here reads a clock or allocates per packet; time is an argument.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::types::PeerId;

/// How fast a publisher's held loudness decays once it is quieter, dB per second.
pub const DECAY_DB_PER_SECOND: f32 = 30.0;
/// How much louder (dB) than a forwarded publisher's held loudness another one must be to
/// replace it.
pub const MARGIN_DB: f32 = 6.0;
/// A publisher's last level counts as its current one for this long; after that (its packets
/// stopped: muted, or gone) it is silent now.
const CURRENT_FOR: std::time::Duration = std::time::Duration::from_millis(100);

/// What to do with one audio packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Forward it; the publisher was forwarded before this packet too.
    Forward,
    /// Forward it; the publisher was not forwarded just before (it entered the set, or this is
    /// its first packet): subscribers' streams continue from here (see `Munger::resume`).
    Resume,
    /// Do not forward it.
    Drop,
}

#[derive(Debug, Clone, Copy)]
struct Energy {
    /// Held loudness at `at`, dB above silence (0..=127).
    held: f32,
    /// Loudness of the last packet, which arrived at `at`.
    last: f32,
    at: Instant,
    /// Times the publisher entered the set.
    entries: u32,
}

impl Energy {
    /// The held loudness, decayed to `now`.
    fn at(&self, now: Instant) -> f32 {
        let secs = now.saturating_duration_since(self.at).as_secs_f32();
        (self.held - DECAY_DB_PER_SECOND * secs).max(0.0)
    }

    /// How loud the publisher is right now.
    fn current(&self, now: Instant) -> f32 {
        if now.saturating_duration_since(self.at) > CURRENT_FOR {
            0.0
        } else {
            self.last
        }
    }
}

/// The loudest-speaker set of one room.
#[derive(Debug)]
pub struct Loudest {
    /// How many publishers are forwarded; 0: all of them.
    n: usize,
    energy: BTreeMap<PeerId, Energy>,
    /// The forwarded publishers (at most `n`; capacity reserved up front).
    set: Vec<PeerId>,
}

impl Loudest {
    /// A room that forwards the audio of at most `n` publishers (0: every one).
    pub fn new(n: usize) -> Self {
        Loudest {
            n,
            energy: BTreeMap::new(),
            set: Vec::with_capacity(n),
        }
    }

    /// One audio packet of `peer` with level `dbov` (RFC 6464: 0 loudest, 127 silence; larger
    /// values are clamped) arrived at `now`: whether to forward it.
    pub fn route(&mut self, peer: PeerId, dbov: u8, now: Instant) -> Route {
        let loudness = f32::from(127 - dbov.min(127));
        let energy = self.energy.entry(peer).or_insert(Energy {
            held: loudness,
            last: loudness,
            at: now,
            entries: 0,
        });
        let held = energy.at(now).max(loudness);
        energy.held = held;
        energy.last = loudness;
        energy.at = now;
        if self.n == 0 || self.set.contains(&peer) {
            return Route::Forward;
        }
        energy.entries = energy.entries.wrapping_add(1);
        if self.set.len() < self.n {
            self.set.push(peer);
            return Route::Resume;
        }
        // The members this packet is loud enough to replace; of those, the quietest now.
        let victim = self
            .set
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let e = self.energy.get(p)?;
                (held > e.at(now) + MARGIN_DB).then(|| (i, e.current(now), e.at(now)))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.2.total_cmp(&b.2)));
        match victim {
            Some((i, _, _)) => {
                self.set[i] = peer;
                Route::Resume
            }
            None => {
                if let Some(e) = self.energy.get_mut(&peer) {
                    e.entries = e.entries.wrapping_sub(1);
                }
                Route::Drop
            }
        }
    }

    /// How many times `peer` entered the set (0 for a publisher never seen). Every audio track
    /// of a publisher compares it with what it last forwarded at, so all of them continue
    /// across the gap (`Munger::resume`), not only the one whose packet brought it back.
    pub fn entries(&self, peer: PeerId) -> u32 {
        self.energy.get(&peer).map_or(0, |e| e.entries)
    }

    /// Forgets `peer` (it left, or stopped publishing audio); its slot is free for the next.
    pub fn remove(&mut self, peer: PeerId) {
        self.energy.remove(&peer);
        self.set.retain(|p| *p != peer);
    }

    /// Whether nobody is tracked any more.
    pub fn is_empty(&self) -> bool {
        self.energy.is_empty()
    }

    /// The publishers whose audio is forwarded now.
    pub fn forwarded(&self) -> &[PeerId] {
        &self.set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn p(n: u64) -> PeerId {
        PeerId(n)
    }

    /// Feeds `ms` milliseconds of 20 ms packets for each (peer, level); returns the routes of
    /// the last round.
    fn feed(l: &mut Loudest, t: &mut Instant, ms: u64, levels: &[(u64, u8)]) -> Vec<Route> {
        let mut last = Vec::new();
        for _ in 0..ms / 20 {
            last = levels
                .iter()
                .map(|(peer, db)| l.route(p(*peer), *db, *t))
                .collect();
            *t += Duration::from_millis(20);
        }
        last
    }

    #[test]
    fn a_room_with_at_most_n_publishers_forwards_everyone() {
        let mut t = Instant::now();
        let mut l = Loudest::new(3);
        let first = feed(&mut l, &mut t, 20, &[(1, 127), (2, 30), (3, 90)]);
        assert_eq!(first, [Route::Resume; 3], "first packets start the streams");
        let later = feed(&mut l, &mut t, 2000, &[(1, 127), (2, 30), (3, 90)]);
        assert_eq!(later, [Route::Forward; 3]);
    }

    #[test]
    fn zero_forwards_every_publisher() {
        let mut t = Instant::now();
        let mut l = Loudest::new(0);
        let r = feed(
            &mut l,
            &mut t,
            200,
            &[(1, 127), (2, 127), (3, 127), (4, 20)],
        );
        assert_eq!(r, [Route::Forward; 4]);
    }

    #[test]
    fn silent_publishers_do_not_displace_each_other() {
        let mut t = Instant::now();
        let mut l = Loudest::new(2);
        feed(&mut l, &mut t, 1000, &[(1, 127), (2, 127)]);
        let r = feed(&mut l, &mut t, 1000, &[(1, 127), (2, 127), (3, 127)]);
        assert_eq!(r, [Route::Forward, Route::Forward, Route::Drop]);
        assert_eq!(l.forwarded(), [p(1), p(2)]);
    }

    #[test]
    fn the_first_loud_packet_of_a_new_speaker_is_forwarded() {
        let mut t = Instant::now();
        let mut l = Loudest::new(2);
        feed(&mut l, &mut t, 1000, &[(1, 127), (2, 127), (3, 127)]);
        // Peer 3 starts talking: its very first loud packet goes out, and it resumes.
        assert_eq!(l.route(p(3), 35, t), Route::Resume);
        assert!(l.forwarded().contains(&p(3)));
        assert_eq!(
            l.route(p(3), 35, t + Duration::from_millis(20)),
            Route::Forward
        );
    }

    #[test]
    fn a_speaker_keeps_the_slot_through_a_short_pause_but_not_a_long_one() {
        let mut t = Instant::now();
        let mut l = Loudest::new(1);
        // Peer 1 talks at -35 dBov (92 dB above silence); 2 is a soft voice at -50 (77).
        feed(&mut l, &mut t, 1000, &[(1, 35), (2, 127)]);
        assert_eq!(l.forwarded(), [p(1)]);
        // 1 pauses for 300 ms (92 - 9 = 83 > 77 - 6): 2 stays out.
        let r = feed(&mut l, &mut t, 300, &[(1, 127), (2, 50)]);
        assert_eq!(r, [Route::Forward, Route::Drop]);
        // After a second of silence 1 is well below 2: 2 takes over.
        let r = feed(&mut l, &mut t, 1000, &[(1, 127), (2, 50)]);
        assert_eq!(r, [Route::Drop, Route::Forward]);
        assert_eq!(l.forwarded(), [p(2)]);
    }

    #[test]
    fn the_quietest_member_is_the_one_replaced() {
        let mut t = Instant::now();
        let mut l = Loudest::new(2);
        feed(&mut l, &mut t, 1000, &[(1, 30), (2, 80), (3, 127)]);
        assert_eq!(l.forwarded(), [p(1), p(2)]);
        assert_eq!(l.route(p(3), 40, t), Route::Resume);
        assert_eq!(l.forwarded(), [p(1), p(3)]);
    }

    #[test]
    fn a_new_speaker_takes_the_slot_of_one_who_just_stopped_not_of_one_still_talking() {
        let mut t = Instant::now();
        let mut l = Loudest::new(2);
        // 1 talks loudly (102), 2 steadily a little softer (97).
        feed(&mut l, &mut t, 1000, &[(1, 25), (2, 30), (3, 127)]);
        assert_eq!(l.forwarded(), [p(1), p(2)]);
        // 1 stops as 3 starts (112): 3 could replace either, and takes 1's slot.
        let r = feed(&mut l, &mut t, 20, &[(1, 127), (2, 30), (3, 15)]);
        assert_eq!(r, [Route::Forward, Route::Forward, Route::Resume]);
        assert_eq!(l.forwarded(), [p(3), p(2)]);
    }

    #[test]
    fn entries_count_each_time_a_publisher_comes_back() {
        let mut t = Instant::now();
        let mut l = Loudest::new(1);
        feed(&mut l, &mut t, 200, &[(1, 30), (2, 127)]);
        assert_eq!((l.entries(p(1)), l.entries(p(2))), (1, 0));
        feed(&mut l, &mut t, 2000, &[(1, 127), (2, 30)]);
        feed(&mut l, &mut t, 2000, &[(1, 30), (2, 127)]);
        assert_eq!(
            (l.entries(p(1)), l.entries(p(2))),
            (2, 1),
            "in, out, in again"
        );
        assert_eq!(l.entries(p(9)), 0);
    }

    #[test]
    fn a_publisher_whose_packets_stop_loses_its_slot() {
        let mut t = Instant::now();
        let mut l = Loudest::new(1);
        feed(&mut l, &mut t, 500, &[(1, 30)]);
        // 1 is muted (no packets at all); 3 s later a soft voice is louder than what is held.
        t += Duration::from_secs(3);
        assert_eq!(l.route(p(2), 60, t), Route::Resume);
        assert_eq!(l.forwarded(), [p(2)]);
    }

    #[test]
    fn a_publisher_who_leaves_frees_its_slot() {
        let mut t = Instant::now();
        let mut l = Loudest::new(1);
        feed(&mut l, &mut t, 200, &[(1, 30), (2, 30)]);
        assert_eq!(l.forwarded(), [p(1)]);
        l.remove(p(1));
        assert_eq!(l.route(p(2), 30, t), Route::Resume);
        l.remove(p(2));
        assert!(l.is_empty());
        assert!(l.forwarded().is_empty());
    }

    proptest::proptest! {
        /// Whatever the levels and timing: never more than n forwarded, a Resume always comes
        /// from a publisher that was not forwarded a packet before, and with at most n
        /// publishers nothing is dropped.
        #[test]
        fn the_set_is_bounded_and_resumes_are_entries(
            n in 0usize..4,
            packets in proptest::collection::vec((0u64..6, 0u8..=255, 0u64..100), 1..400),
        ) {
            let mut t = Instant::now();
            let mut l = Loudest::new(n);
            let mut publishers = std::collections::BTreeSet::new();
            for (peer, level, dt) in packets {
                publishers.insert(peer);
                let before = l.forwarded().contains(&p(peer));
                let r = l.route(p(peer), level, t);
                t += Duration::from_millis(dt);
                if n > 0 {
                    proptest::prop_assert!(l.forwarded().len() <= n);
                    proptest::prop_assert_eq!(r == Route::Resume, !before && r != Route::Drop);
                }
                if publishers.len() <= n || n == 0 {
                    proptest::prop_assert_ne!(r, Route::Drop);
                }
            }
        }
    }
}
