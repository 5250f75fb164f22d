//! How the core's work grows with rooms and peers: regressions found by the load generator
//! (`audio50`), checked here with in-process clients and a virtual clock.

mod common;

use std::time::Duration;

use common::World;
use confidant_sfu::{MediaKind, Output, PeerId};

/// Peers in a second, idle room: an SFU that polls every peer for every datagram does at
/// least this many polls per datagram.
const IDLE_PEERS: u64 = 24;

/// Drains the SFU's output, dropping datagrams, until it asks for a timeout.
fn drain_sfu(w: &mut World) {
    for _ in 0..10_000 {
        if let Output::Timeout(_) = w.sfu.poll_output(w.now) {
            return;
        }
    }
    panic!("the SFU never ran out of output");
}

#[test]
fn a_media_datagram_polls_only_the_peers_it_concerns() {
    let mut w = World::new();
    w.add_client(1, 10);
    w.add_client(2, 10);
    for id in 0..IDLE_PEERS {
        w.add_client(100 + id, 20);
    }
    w.connect_all();
    w.run_publishing(50, &[1]);
    assert!(w.client(2).received_from(PeerId(1), MediaKind::Audio) > 0);
    drain_sfu(&mut w);

    // One audio frame of publisher 1, fed straight to the SFU.
    let now = w.clock();
    // str0m packetizes written frames when time moves on; whatever else it sends in those
    // 10 ms (reports, feedback) goes to the SFU too.
    let datagrams = w.client_mut(1).frames_as_datagrams(now, 10);
    assert!(!datagrams.is_empty(), "the publisher sends its frame");

    let before = w.sfu.stats();
    for t in &datagrams {
        w.sfu
            .handle_receive(now, t.source, t.destination, &t.contents);
    }
    drain_sfu(&mut w);
    let after = w.sfu.stats();

    assert!(after.forwarded_packets > before.forwarded_packets);
    let polls = after.rtc_polls - before.rtc_polls;
    let per_datagram = polls as f64 / datagrams.len() as f64;
    // Publisher and subscriber, a few polls each (event, datagram, timeout); never the idle
    // room's peers.
    assert!(
        per_datagram < 8.0,
        "{polls} Rtc polls for {} datagram(s) with {IDLE_PEERS} idle peers elsewhere",
        datagrams.len()
    );
}

/// str0m's pacer lets one packet out per timeout and asks for the next a microsecond later. A
/// timer round trip per packet capped every subscriber at about 1000 packets/s in the real
/// shell (tokio's timer has millisecond resolution) and queued the rest: the `audio50`
/// benchmark (49 audio streams to every peer) grew to 1 GiB and 6 s of latency. A burst fed at
/// one instant must go out in the same `poll_output` drain, with no `handle_timeout` between.
#[test]
fn a_burst_goes_out_without_a_timer_round_trip_per_packet() {
    let mut w = World::new();
    w.add_client(1, 10);
    w.add_client(2, 10);
    w.connect_all();
    w.run_publishing(100, &[1]);
    assert!(w.client(2).received_from(PeerId(1), MediaKind::Audio) > 0);
    drain_sfu(&mut w);

    // 20 ms of frames, ten times: the publisher's datagrams, all fed at one instant.
    let start = w.clock();
    let datagrams: Vec<_> = (0..10u32)
        .flat_map(|frame| {
            let t = start + Duration::from_millis(20 * u64::from(frame));
            w.client_mut(1).frames_as_datagrams(t, 20)
        })
        .collect();
    let now = start + Duration::from_millis(200);
    let before = w.sfu.stats().forwarded_packets;
    for d in &datagrams {
        w.sfu
            .handle_receive(now, d.source, d.destination, &d.contents);
    }
    let forwarded = w.sfu.stats().forwarded_packets - before;
    assert!(
        forwarded >= 10,
        "the burst was forwarded ({forwarded} packets)"
    );
    let mut sent = 0;
    for _ in 0..100_000 {
        match w.sfu.poll_output(now) {
            Output::Transmit(_) => sent += 1,
            Output::Event(..) => {}
            Output::Timeout(_) => break,
        }
    }
    assert!(
        sent >= forwarded,
        "{sent} datagrams out for {forwarded} forwarded packets before the first timeout"
    );
}
