//! Heap allocations on the forwarding path, counted by a counting global allocator (this test
//! binary's own, which is why it is a file of its own).
//!
//! What is counted: the allocations made on this thread while [`Sfu::handle_receive`] runs for
//! a publisher's media datagrams in steady state (negotiation done, buffers grown). That call
//! is the whole forwarding decision: str0m authenticates and decrypts the datagram (SRTP) and
//! hands over the packet, and `Sfu::forward` picks the layer, rewrites sequence number,
//! timestamp and VP8 picture id, and queues the packet on every subscriber's stream
//! (`StreamTx::write_rtp`). What is not counted: serialising and encrypting each subscriber's
//! copy, which happens later in `Sfu::poll_output` (str0m makes the datagram's buffer there).
//!
//! str0m allocates a fixed number of times per *received* packet (the decrypted payload,
//! shared afterwards as one `Arc<[u8]>`), whatever the number of subscribers. So the test
//! compares the same stream with 1 and with 8 subscribers: our per-subscriber work, which is
//! where an SFU's cost grows, must add no allocation at all; and the per-packet count must
//! stay at str0m's receive cost, which the test prints and bounds.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use common::World;
use confidant_sfu::{MediaKind, Output, PeerId};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the thread-locals may be gone while a thread exits.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    }
}

// SAFETY: every call is passed to the system allocator unchanged; the counter only reads and
// writes const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`, returning what it returned and the allocations it made on this thread.
fn counted<T>(f: impl FnOnce() -> T) -> (T, u64) {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (out, COUNT.with(Cell::get))
}

/// Allocations per forwarded packet (mean over a steady-state stretch) with `subscribers`
/// subscribers, and the packets forwarded in that stretch.
fn allocations_per_packet(subscribers: u64) -> (f64, u64) {
    let mut w = World::new();
    w.add_client(1, 10);
    for s in 0..subscribers {
        w.add_client(2 + s, 10);
    }
    w.connect_all();
    // Warm-up: negotiation, first keyframes, every queue and buffer grown to its working size.
    w.run_publishing(400, &[1]);
    for s in 0..subscribers {
        assert!(w.client(2 + s).received_from(PeerId(1), MediaKind::Video) > 10);
    }

    let mut allocations = 0;
    let mut forwarded = 0;
    let mut now = w.clock();
    for _ in 0..200 {
        // One tick of the publisher's media, its datagrams fed to the SFU by hand.
        let datagrams = w.client_mut(1).frames_as_datagrams(now, 10);
        now += Duration::from_millis(10);
        let before = w.sfu.stats().forwarded_packets;
        for t in &datagrams {
            let ((), n) = counted(|| w.sfu.handle_receive(now, t.source, t.destination, &t.contents));
            allocations += n;
        }
        forwarded += w.sfu.stats().forwarded_packets - before;
        // Send what the SFU queued (not counted), then let the world run its tick.
        for _ in 0..100_000 {
            if let Output::Timeout(_) = w.sfu.poll_output(now) {
                break;
            }
        }
        w.tick();
        now = w.clock();
    }
    assert!(forwarded > 0, "packets were forwarded");
    let per_received = allocations as f64 / (forwarded as f64 / subscribers as f64);
    (per_received, forwarded)
}

#[test]
fn forwarding_path_does_not_allocate() {
    let (one, forwarded_one) = allocations_per_packet(1);
    let (eight, forwarded_eight) = allocations_per_packet(8);
    eprintln!(
        "allocations per received packet: {one:.2} with 1 subscriber ({forwarded_one} forwarded), \
         {eight:.2} with 8 ({forwarded_eight} forwarded)"
    );
    // Per subscriber: nothing. (Both runs see the same publisher traffic; a per-subscriber
    // `Vec`, `String` or `Box` in `forward` would add 7 allocations per packet here.)
    assert!(
        eight - one < 0.5,
        "forwarding to 8 subscribers allocates more per packet than to 1: {eight:.2} vs {one:.2}"
    );
    // Per received packet: str0m's receive (decrypted payload into its shared `Arc`, and the
    // odd report or feedback the publisher's Rtc sends back), nothing of ours on top.
    assert!(one <= 3.0, "allocations per received packet: {one:.2}");
}
