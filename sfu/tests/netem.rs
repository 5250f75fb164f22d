//! Loss and jitter (issue 3): with a seeded 5 % loss and up to 30 ms of jitter on every link,
//! in both directions, video keeps flowing because lost packets are recovered: the
//! subscriber's NACKs reach the SFU (answered from str0m's send buffer), the SFU's NACKs reach
//! the publisher, and keyframes are requested where a frame cannot be rebuilt.

mod common;

use std::time::Duration;

use common::{Netem, World};
use confidant_sfu::{MediaKind, PeerId};

fn video_from(w: &World, subscriber: u64, publisher: u64) -> usize {
    w.client(subscriber)
        .received_from(PeerId(publisher), MediaKind::Video)
}

fn flow(
    seed: u64,
    loss_percent: u64,
    jitter: Duration,
) -> (u64, usize, confidant_sfu::SfuStats, u64) {
    let mut w = World::new();
    w.add_client(1, 1);
    w.add_client(2, 1);
    w.connect_all();
    // Until the subscriber gets the publisher's video (renegotiation done, first keyframe).
    let mut ok = false;
    for _ in 0..300 {
        w.run_publishing(1, &[1]);
        if video_from(&w, 2, 1) > 5 {
            ok = true;
            break;
        }
    }
    assert!(ok, "video flows before the network gets bad");
    let sent_before = w.client(1).video_frames;
    let got_before = video_from(&w, 2, 1);
    w.netem = Some(Netem::new(seed, loss_percent, jitter));
    // 10 s of media (500 video frames), then 1 s on a clean network for late retransmissions.
    w.run_publishing(1000, &[1]);
    let dropped = w.netem.as_ref().map_or(0, |n| n.dropped);
    w.netem = None;
    w.run_publishing(100, &[1]);
    let sent = w.client(1).video_frames - sent_before;
    let got = video_from(&w, 2, 1) - got_before;
    (sent, got, w.sfu.stats(), dropped)
}

#[test]
fn video_survives_five_percent_loss_and_jitter_through_nacks_and_keyframes() {
    for seed in [1, 7, 42] {
        let (sent, got, stats, dropped) = flow(seed, 5, Duration::from_millis(30));
        assert!(
            dropped > 50,
            "seed {seed}: the emulator dropped datagrams ({dropped})"
        );
        // Without recovery about one video frame in ten would be lost (one packet per frame,
        // two lossy links); NACK/RTX brings back nearly all of them.
        let got = u64::try_from(got).unwrap();
        assert!(
            got * 100 >= sent * 98,
            "seed {seed}: {got} of {sent} video frames arrived"
        );
        assert!(
            stats.nacks_received > 0,
            "seed {seed}: the subscriber's NACKs reached the SFU: {stats:?}"
        );
    }
}

#[test]
fn a_clean_network_loses_nothing_and_needs_no_nacks() {
    let (sent, got, stats, dropped) = flow(3, 0, Duration::ZERO);
    assert_eq!(dropped, 0);
    assert!(u64::try_from(got).unwrap() + 1 >= sent, "{got} of {sent}");
    assert_eq!(stats.nacks_received, 0, "{stats:?}");
}
