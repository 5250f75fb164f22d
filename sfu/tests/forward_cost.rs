//! A fixed forwarding workload for instruction counts (str0m patches, issue 16): one
//! publisher (audio + video) and `CONFIDANT_COST_SUBSCRIBERS` subscribers (default 4) in one
//! room, in-process, on the virtual clock. Ignored in normal runs; measured with callgrind,
//! counting only inside the SFU's own entry points (see `third_party/str0m/PATCHES.md`):
//!
//! ```sh
//! cargo test --release -p confidant-sfu --test forward_cost --no-run
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!   --toggle-collect='confidant_sfu::core::Sfu::handle_receive_on' \
//!   --toggle-collect='confidant_sfu::core::Sfu::poll_output' \
//!   --toggle-collect='confidant_sfu::core::Sfu::handle_timeout' \
//!   target/release/deps/forward_cost-HASH --ignored --nocapture
//! ```
//!
//! Run it twice, with `CONFIDANT_COST_TICKS=0` and `=300` (ticks of 10 ms measured after a
//! 3 s warm-up): the difference of the instructions (`callgrind_annotate /tmp/cg.out | head`)
//! divided by the difference of the forwarded packets it prints is the steady-state cost per
//! forwarded packet, without negotiation and DTLS.

mod common;

use common::World;
use confidant_sfu::{MediaKind, PeerId};

#[test]
#[ignore = "a workload for instruction counts, not a check"]
fn forwarding_workload() {
    let subscribers: u64 = std::env::var("CONFIDANT_COST_SUBSCRIBERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let mut w = World::forwarding_to(subscribers, 300);
    let ticks: usize = std::env::var("CONFIDANT_COST_TICKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let before = w.sfu.stats().forwarded_packets;
    w.run_publishing(ticks, &[1]);
    let forwarded = w.sfu.stats().forwarded_packets;
    for s in 0..subscribers {
        assert!(w.client(2 + s).received_from(PeerId(1), MediaKind::Video) > 10);
    }
    println!(
        "forwarded packets: {forwarded} in all, {} in the {ticks} measured ticks, \
         {subscribers} subscriber(s)",
        forwarded - before
    );
}
