//! Join/leave churn through the real SFU core: after a warm-up, cycles of a subscriber that
//! joins, receives the resident publisher's video and leaves must leave nothing behind on the
//! heap. Live bytes are counted by this test binary's own global allocator (which is why it is
//! a file of its own), so this is exact, not a reading of the process's RSS, which allocator
//! fragmentation and first use blur.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

use common::World;
use confidant_sfu::{MediaKind, PeerId};

/// Bytes allocated and not yet freed, by every thread of this test binary.
static LIVE: AtomicI64 = AtomicI64::new(0);

struct Live;

// SAFETY: every call is passed to the system allocator unchanged; the counter is an atomic
// that never allocates.
unsafe impl GlobalAlloc for Live {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Live = Live;

const PUBLISHER: u64 = 1;
const ROOM: u64 = 1;
/// Cycles before the first reading: buffers, maps and caches reach their working size.
const WARM_UP_CYCLES: u64 = 10;
/// Cycles between the two readings.
const MEASURED_CYCLES: u64 = 20;
/// Live bytes the measured cycles may add in all. Measured: none. A per-cycle leak of 13 bytes
/// or more (a map entry, a queued event, a peer id in a list) exceeds it.
const SLACK_BYTES: i64 = 256;

/// One subscriber joins, receives the publisher's video (its first keyframe), and leaves.
fn cycle(w: &mut World, id: u64) {
    w.add_client(id, ROOM);
    let mut ticks = 0;
    while ticks < 3_000
        && w.client(id)
            .received_from(PeerId(PUBLISHER), MediaKind::Video)
            == 0
    {
        w.run_publishing(1, &[PUBLISHER]);
        ticks += 1;
    }
    let received = ticks < 3_000;
    assert!(received, "subscriber {id} receives the publisher's video");
    w.remove(id);
    w.run_publishing(5, &[PUBLISHER]);
    // What the harness itself keeps (the clients, the events it saw, what the publisher's
    // client received and the keyframe requests it logged) is not the SFU's.
    w.clients.retain(|c| c.id != PeerId(id));
    w.sfu_events.clear();
    w.answers_accepted.clear();
    let publisher = w.client_mut(PUBLISHER);
    publisher.keyframe_requests.clear();
    publisher.keyframe_request_rids.clear();
    publisher.received.clear();
}

#[test]
fn sfu_core_heap_does_not_grow_over_join_leave_cycles() {
    let mut w = World::new();
    w.add_client(PUBLISHER, ROOM);
    w.connect_all();
    w.run_publishing(400, &[PUBLISHER]);
    let mut id = 100;
    for _ in 0..WARM_UP_CYCLES {
        cycle(&mut w, id);
        id += 1;
    }
    w.run_publishing(100, &[PUBLISHER]);
    // The buffers kept for recycling (a cache bounded by the number of peers) are not state.
    let warm = LIVE.load(Ordering::Relaxed) - w.sfu.spare_buffer_bytes() as i64;
    for _ in 0..MEASURED_CYCLES {
        cycle(&mut w, id);
        id += 1;
    }
    w.run_publishing(100, &[PUBLISHER]);
    let end = LIVE.load(Ordering::Relaxed) - w.sfu.spare_buffer_bytes() as i64;

    eprintln!(
        "live heap after the warm-up {warm} bytes, after {MEASURED_CYCLES} more cycles {end}"
    );
    assert!(
        end - warm <= SLACK_BYTES,
        "{MEASURED_CYCLES} join/leave cycles left {} bytes on the heap",
        end - warm
    );
    let stats = w.sfu.stats();
    assert_eq!((stats.peers, stats.rooms, stats.subscriptions), (1, 1, 0));
    for gone in 100..id {
        assert_eq!(
            w.sfu.references_to(PeerId(gone)),
            0,
            "peer {gone} is forgotten"
        );
    }
}
