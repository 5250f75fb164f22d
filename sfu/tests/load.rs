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
    let datagrams: Vec<_> = {
        let c = w.client_mut(1);
        c.send_frames(now);
        let mut out = Vec::new();
        // str0m packetizes written frames when time moves on; whatever else it sends in those
        // 10 ms (reports, feedback) goes to the SFU too.
        for step in 1..=10u32 {
            loop {
                match c.rtc.poll_output().expect("client polls") {
                    str0m::Output::Transmit(t) => out.push(t),
                    str0m::Output::Event(e) => c.handle_event(now, e),
                    str0m::Output::Timeout(_) => break,
                }
            }
            c.rtc
                .handle_input(str0m::Input::Timeout(
                    now + Duration::from_millis(step.into()),
                ))
                .expect("client timeout");
        }
        out
    };
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
