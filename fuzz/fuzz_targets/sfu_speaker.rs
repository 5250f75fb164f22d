//! SFU: what the SFU itself reads from RTP, the RFC 6464 audio-level header extension (any
//! `i8` a publisher sends), through `dbov` into the active-speaker detector, interleaved with
//! peers leaving and decisions.
//!
//! Checks: a decision names a peer only when it changes, the named peer is the current one, it
//! spoke (level below silence) in the decided window, and a peer that left is never current.
#![no_main]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use confidant_sfu::core::{dbov, SpeakerDetector};
use confidant_sfu::PeerId;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Op {
    Level { peer: u8, level: i8 },
    Remove { peer: u8 },
    Decide,
}

fuzz_target!(|ops: Vec<Op>| {
    let start = Instant::now();
    let mut d = SpeakerDetector::default();
    let mut present = BTreeSet::new();
    // Loudest level per peer in the current window, as the detector should see it.
    let mut window: std::collections::BTreeMap<PeerId, u8> = Default::default();
    for (i, op) in ops.into_iter().take(4096).enumerate() {
        let now = start + Duration::from_millis(20 * i as u64);
        match op {
            Op::Level { peer, level } => {
                let p = PeerId(u64::from(peer % 8));
                let db = dbov(level);
                assert!(db <= 128);
                d.record(p, db, now);
                present.insert(p);
                let w = window.entry(p).or_insert(127);
                *w = (*w).min(db.min(127));
            }
            Op::Remove { peer } => {
                let p = PeerId(u64::from(peer % 8));
                d.remove(p);
                present.remove(&p);
                window.remove(&p);
                assert_ne!(d.current(), Some(p));
            }
            Op::Decide => {
                let before = d.current();
                let decided = d.decide(now);
                if let Some(p) = decided {
                    assert_ne!(
                        before,
                        Some(p),
                        "a decision is reported only when it changes"
                    );
                    assert_eq!(d.current(), Some(p));
                    assert!(present.contains(&p));
                    assert!(
                        window.get(&p).is_some_and(|db| *db < 127),
                        "{p} did not speak"
                    );
                } else {
                    assert_eq!(d.current(), before);
                }
                window.clear();
            }
        }
        if let Some(c) = d.current() {
            assert!(present.contains(&c), "current speaker {c} has left");
        }
        assert_eq!(d.is_empty(), present.is_empty());
    }
});
