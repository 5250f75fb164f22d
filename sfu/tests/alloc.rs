//! Heap allocations on the whole forwarding path, counted by a counting global allocator (this
//! test binary's own, which is why it is a file of its own).
//!
//! What is counted: everything a publisher's media datagram causes in the SFU, in steady state
//! (negotiation done, buffers and pools grown): [`Sfu::handle_receive`] — str0m authenticates
//! and decrypts the datagram (SRTP) and hands over the packet, and `Sfu::forward` picks the
//! layer, rewrites sequence number, timestamp and VP8 picture id and queues the packet on every
//! subscriber's stream — then [`Sfu::poll_output`] until it has nothing more to send: str0m
//! serialises and encrypts each subscriber's datagram into a recycled buffer, and the datagram
//! goes out (to the socket layer, here the subscriber's client, not counted) and its buffer
//! back with [`Sfu::recycle`], as the shell does after `send_to`.
//!
//! What is not counted: the clients (they stand for browsers), and the SFU's timers
//! ([`Sfu::handle_timeout`] between ticks: receiver and sender reports, bandwidth estimates,
//! the layer choice every 500 ms), whose work follows the clock, not the packets.
//!
//! The path allocates nothing per forwarded packet, with 1 and with 8 subscribers: the
//! received payload goes into a pooled buffer shared by every subscriber's queue and
//! retransmission cache (str0m patch 3), and every datagram out is written into a buffer the
//! shell gave back (`third_party/str0m/PATCHES.md`).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::World;
use confidant_sfu::Output;

struct Counting;

/// `CONFIDANT_ALLOC_TRACE` is set (read once, before counting: reading it allocates).
static TRACE: AtomicBool = AtomicBool::new(false);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
    static TRACING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    // `try_with`: the thread-locals may be gone while a thread exits.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        // CONFIDANT_ALLOC_TRACE=1: print where each counted allocation comes from (the
        // backtrace allocates, so counting is off meanwhile).
        if TRACE.load(Ordering::Relaxed) {
            COUNTING.with(|c| c.set(false));
            if !TRACING.with(Cell::get) {
                TRACING.with(|t| t.set(true));
                eprintln!(
                    "allocation at:\n{}",
                    std::backtrace::Backtrace::force_capture()
                );
                TRACING.with(|t| t.set(false));
            }
            COUNTING.with(|c| c.set(true));
        }
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

/// Allocations over a steady-state stretch with `subscribers` subscribers.
struct Stretch {
    /// In `Sfu::handle_receive`: str0m's receive (SRTP, parsing, the payload's shared buffer,
    /// the timers it runs on the way) and the forwarding decision onto every subscriber.
    receive: u64,
    /// In `Sfu::poll_output` until it has nothing more, with every datagram's buffer given
    /// back: str0m serialising and encrypting each subscriber's datagram, and the datagram out.
    send: u64,
    /// Media packets the publisher sent in the stretch.
    received: u64,
    /// Packets forwarded in the stretch (received × subscribers, less nothing).
    forwarded: u64,
}

fn whole_path_allocations(subscribers: u64) -> Stretch {
    TRACE.store(
        std::env::var_os("CONFIDANT_ALLOC_TRACE").is_some(),
        Ordering::Relaxed,
    );
    // Warm-up: negotiation, first keyframes, every queue, cache and pool grown to its working
    // size.
    let mut w = World::forwarding_to(subscribers, 600);

    let mut stretch = Stretch {
        receive: 0,
        send: 0,
        received: 0,
        forwarded: 0,
    };
    let mut out = Vec::with_capacity(16);
    let mut now = w.clock();
    for _ in 0..200 {
        // One tick of the publisher's media, its datagrams fed to the SFU by hand.
        let datagrams = w.client_mut(1).frames_as_datagrams(now, 10);
        now += Duration::from_millis(10);
        let before = w.sfu.stats().forwarded_packets;
        for t in &datagrams {
            // Datagram in and forwarding.
            let ((), n) = counted(|| {
                w.sfu
                    .handle_receive(now, t.source, t.destination, &t.contents);
            });
            stretch.receive += n;
            // Datagrams out, each buffer given back once "sent".
            loop {
                let (more, n) = counted(|| match w.sfu.poll_output(now) {
                    Output::Transmit(t) => {
                        out.push(t);
                        true
                    }
                    Output::Event(..) => true,
                    Output::Timeout(_) => false,
                });
                stretch.send += n;
                // Not counted: the client stands for a browser.
                for t in out.drain(..) {
                    w.deliver_to_client_at(now, t.source, t.destination, &t.contents);
                    let ((), n) = counted(|| w.sfu.recycle(t.contents));
                    stretch.send += n;
                }
                if !more {
                    break;
                }
            }
        }
        stretch.forwarded += w.sfu.stats().forwarded_packets - before;
        // Timers and the clients' own traffic (reports, feedback): not counted.
        w.tick();
        now = w.clock();
    }
    stretch.received = stretch.forwarded / subscribers;
    assert!(stretch.forwarded > 0, "packets were forwarded");
    stretch
}

#[test]
fn forwarding_allocates_nothing_per_subscriber_nor_per_datagram_sent() {
    let one = whole_path_allocations(1);
    let eight = whole_path_allocations(8);
    for (subscribers, s) in [(1, &one), (8, &eight)] {
        eprintln!(
            "{subscribers} subscriber(s): {} packets received, {} forwarded; allocations: {} \
             receiving and forwarding ({:.2} per received packet), {} sending",
            s.received,
            s.forwarded,
            s.receive,
            s.receive as f64 / s.received as f64,
            s.send
        );
        assert!(
            s.received >= 200,
            "the stretch forwarded too little to judge: {}",
            s.received
        );
        // Sending: no allocation per datagram (str0m patch 3: every datagram is written into
        // a buffer the shell gave back; before, each one allocated its own). What remains are
        // str0m's periodic reports and statistics (sender reports, SDES, receiver reports,
        // about one a second per stream) that timers driven inside `poll_output` build.
        let per_forwarded = s.send as f64 / s.forwarded as f64;
        assert!(
            per_forwarded < 0.2,
            "sending allocated {} times for {} forwarded packets with {subscribers} \
             subscriber(s) (CONFIDANT_ALLOC_TRACE=1 shows where)",
            s.send,
            s.forwarded
        );
    }
    // Forwarding to 8 subscribers allocates exactly what forwarding to 1 does: nothing per
    // subscriber. (A per-subscriber `Vec`, `String` or `Box` would add 7 per packet here.)
    let per_one = one.receive as f64 / one.received as f64;
    let per_eight = eight.receive as f64 / eight.received as f64;
    assert!(
        per_eight - per_one < 0.5,
        "forwarding to 8 subscribers allocates more per packet than to 1: {per_eight:.2} vs \
         {per_one:.2}"
    );
    // What is left is str0m's receive, once per received packet whatever the subscribers: the
    // payload's shared buffer, header-extension values, TWCC feedback built on the way
    // (third_party/str0m/PATCHES.md, patch 3, "not done").
    assert!(
        per_one <= 3.0,
        "allocations per received packet: {per_one:.2}"
    );
}
