//! Heap allocations on the whole forwarding path, counted by a counting global allocator (this
//! test binary's own, which is why it is a file of its own).
//!
//! What is counted: everything a publisher's media datagram causes in the SFU, in steady state
//! (negotiation done, buffers and pools grown): [`Sfu::handle_receive`] — str0m authenticates
//! and decrypts the datagram (SRTP), parses its header extensions (MID, audio level, the
//! Dependency Descriptor Chrome sends on every video packet), copies the payload into a pooled
//! buffer and hands over the packet, its timers build the TWCC feedback on the way, and
//! `Sfu::forward` picks the layer, rewrites sequence number, timestamp and VP8 picture id and
//! queues the packet on every subscriber's stream — then [`Sfu::poll_output`] until it has
//! nothing more to send: str0m serialises and encrypts each subscriber's datagram into a
//! recycled buffer, and the datagram goes out (to the socket layer, here the subscriber's
//! client, not counted) and its buffer back with [`Sfu::recycle`], as the shell does after
//! `send_to`.
//!
//! What is allowed: nothing per packet. The only allocations on the path are str0m's periodic
//! reports, made by its timer round (`Rtc::do_handle_timeout`, which `handle_input` and
//! `poll_output` run when something is due): sender reports with their SDES (CNAME string),
//! receiver reports, the statistics events and the bandwidth estimate's history. They follow
//! the clock, not the packets: each is made about once a second per stream (str0m's report and
//! statistics intervals), so the test allows [`PERIODIC_PER_STREAM_PER_SECOND`] per SFU-side
//! stream per second of the stretch, and counts every allocation made outside the timer round
//! as one per packet, of which there must be none. Not counted: the clients (they stand for
//! browsers) and the SFU's timers between ticks ([`Sfu::handle_timeout`]: the same reports,
//! the layer choice every 500 ms).
//!
//! With str0m patches 3 and 5-7 (`third_party/str0m/PATCHES.md`) and the SFU's reused
//! descriptor value, the path allocates nothing per forwarded packet, with 1 and with 8
//! subscribers.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::World;
use confidant_sfu::Output;

/// Allocations str0m's timer round may make per SFU-side RTP stream per second: a sender report
/// and its SDES (2), a receiver report (1), a statistics event (1), a bandwidth estimate (1),
/// each about once a second, with room for two of them to fall twice into one second.
const PERIODIC_PER_STREAM_PER_SECOND: f64 = 7.0;

struct Counting;

/// `CONFIDANT_ALLOC_TRACE` is set (read once, before counting: reading it allocates).
static TRACE: AtomicBool = AtomicBool::new(false);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Allocations inside str0m's timer round (periodic reports).
    static PERIODIC: Cell<u64> = const { Cell::new(0) };
    /// Every other allocation: per packet.
    static OTHER: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the thread-locals may be gone while a thread exits.
    if !COUNTING.try_with(Cell::get).unwrap_or(false) {
        return;
    }
    // Where from: the backtrace allocates, so counting is off meanwhile.
    COUNTING.with(|c| c.set(false));
    let trace = std::backtrace::Backtrace::force_capture().to_string();
    if trace.contains("Rtc::do_handle_timeout") {
        PERIODIC.with(|c| c.set(c.get() + 1));
    } else {
        OTHER.with(|c| c.set(c.get() + 1));
        // CONFIDANT_ALLOC_TRACE=1: print where each per-packet allocation comes from.
        if TRACE.load(Ordering::Relaxed) {
            eprintln!("allocation at:\n{trace}");
        }
    }
    COUNTING.with(|c| c.set(true));
}

// SAFETY: every call is passed to the system allocator unchanged; the counter only reads and
// writes const-initialised thread-locals, which never allocate, while counting (the backtrace
// it takes allocates with counting off, re-entering only to return early).
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

/// Allocations made by `f` on this thread: (periodic, per packet).
fn counted(f: impl FnOnce()) -> (u64, u64) {
    PERIODIC.with(|c| c.set(0));
    OTHER.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    (PERIODIC.with(Cell::get), OTHER.with(Cell::get))
}

/// Allocations over a steady-state stretch with `subscribers` subscribers.
#[derive(Debug, Default)]
struct Stretch {
    /// Made by str0m's timer round: periodic reports and statistics.
    periodic: u64,
    /// Made anywhere else: receive, forwarding decision, send, datagram out.
    per_packet: u64,
    /// Media packets the publisher sent in the stretch.
    received: u64,
    /// Packets forwarded in the stretch.
    forwarded: u64,
    /// Length of the stretch.
    seconds: f64,
}

/// Ticks of 10 ms in the measured stretch.
const TICKS: u32 = 200;

fn whole_path_allocations(subscribers: u64) -> Stretch {
    TRACE.store(
        std::env::var_os("CONFIDANT_ALLOC_TRACE").is_some(),
        Ordering::Relaxed,
    );
    // Warm-up: negotiation, first keyframes, every queue, cache and pool grown to its working
    // size (the retransmission caches, and with them the payload pool, take 3 s to fill).
    let mut w = World::forwarding_chrome_like_to(subscribers, 600);

    let mut stretch = Stretch {
        seconds: f64::from(TICKS) / 100.0,
        ..Stretch::default()
    };
    let mut add = |(periodic, per_packet): (u64, u64)| {
        stretch.periodic += periodic;
        stretch.per_packet += per_packet;
    };
    let mut out = Vec::with_capacity(16);
    let mut forwarded = 0;
    let mut now = w.clock();
    for _ in 0..TICKS {
        // One tick of the publisher's media, its datagrams fed to the SFU by hand.
        let datagrams = w.client_mut(1).frames_as_datagrams(now, 10);
        now += Duration::from_millis(10);
        let before = w.sfu.stats().forwarded_packets;
        for t in &datagrams {
            // Datagram in and forwarding.
            add(counted(|| {
                w.sfu
                    .handle_receive(now, t.source, t.destination, &t.contents);
            }));
            // Datagrams out, each buffer given back once "sent".
            loop {
                let mut more = false;
                add(counted(|| {
                    more = match w.sfu.poll_output(now) {
                        Output::Transmit(t) => {
                            out.push(t);
                            true
                        }
                        Output::Event(..) => true,
                        Output::Timeout(_) => false,
                    };
                }));
                // Not counted: the client stands for a browser.
                for t in out.drain(..) {
                    w.deliver_to_client_at(now, t.source, t.destination, &t.contents);
                    add(counted(|| w.sfu.recycle(t.contents)));
                }
                if !more {
                    break;
                }
            }
        }
        forwarded += w.sfu.stats().forwarded_packets - before;
        // Timers and the clients' own traffic (reports, feedback): not counted.
        w.tick();
        now = w.clock();
    }
    stretch.forwarded = forwarded;
    stretch.received = forwarded / subscribers;
    stretch
}

#[test]
fn forwarding_allocates_nothing_per_packet_with_1_and_8_subscribers() {
    for subscribers in [1, 8] {
        let s = whole_path_allocations(subscribers);
        eprintln!("{subscribers} subscriber(s): {s:?}");
        assert!(
            s.received >= 200,
            "the stretch forwarded too little to judge: {s:?}"
        );
        // Nothing per packet: receive (SRTP, header extensions, payload, TWCC feedback),
        // forwarding, send (datagrams into recycled buffers), datagram out.
        assert_eq!(
            s.per_packet, 0,
            "{subscribers} subscriber(s): allocations outside str0m's timer round over {} \
             forwarded packets (CONFIDANT_ALLOC_TRACE=1 shows where)",
            s.forwarded
        );
        // Periodic reports: bounded per stream and second, not per packet. SFU-side streams:
        // the publisher's audio and video received, each subscriber's audio and video sent.
        let streams = 2.0 + 2.0 * subscribers as f64;
        let allowed = PERIODIC_PER_STREAM_PER_SECOND * streams * s.seconds;
        assert!(
            (s.periodic as f64) <= allowed,
            "{subscribers} subscriber(s): {} periodic allocations in {} s, over {allowed} \
             for {streams} streams",
            s.periodic,
            s.seconds
        );
    }
}
