//! RTP payload bytes shared between receive and send without copying (Confidant patch 5).

use std::collections::VecDeque;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// The payload of an RTP packet: cheaply clonable, reference-counted bytes.
///
/// Received packets in RTP mode carry their payload in a buffer taken from a per-`Rtc` pool, and
/// the buffer goes back to that pool (without a free and a new allocation) once the last clone
/// is dropped, for instance when the last subscriber's retransmission cache lets go of a
/// forwarded packet. Every other payload is an `Arc<[u8]>`, as before.
///
/// Derefs to `[u8]`; converts from `Arc<[u8]>`, `Vec<u8>`, `Box<[u8]>` and `&[u8]` (so
/// [`RtpWrite::new`][crate::rtp::RtpWrite::new] takes what it took before), and back into an
/// `Arc<[u8]>` with [`Payload::into_arc`].
#[derive(Clone)]
pub struct Payload(Inner);

#[derive(Clone)]
enum Inner {
    Shared(Arc<[u8]>),
    Pooled(Arc<Vec<u8>>),
}

impl Payload {
    /// The bytes as an `Arc<[u8]>`: free for a payload that is one, a copy for a pooled one.
    pub fn into_arc(self) -> Arc<[u8]> {
        match self.0 {
            Inner::Shared(a) => a,
            Inner::Pooled(v) => Arc::from(v.as_slice()),
        }
    }
}

impl Default for Payload {
    fn default() -> Self {
        Payload(Inner::Shared(Arc::default()))
    }
}

impl Deref for Payload {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            Inner::Shared(a) => a,
            Inner::Pooled(v) => v.as_slice(),
        }
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Payload {}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload(len: {})", self.len())
    }
}

impl From<Arc<[u8]>> for Payload {
    fn from(a: Arc<[u8]>) -> Self {
        Payload(Inner::Shared(a))
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        Payload(Inner::Shared(v.into()))
    }
}

impl From<Box<[u8]>> for Payload {
    fn from(b: Box<[u8]>) -> Self {
        Payload(Inner::Shared(b.into()))
    }
}

impl From<&[u8]> for Payload {
    fn from(s: &[u8]) -> Self {
        Payload(Inner::Shared(s.into()))
    }
}

impl<const N: usize> From<[u8; N]> for Payload {
    fn from(a: [u8; N]) -> Self {
        Payload(Inner::Shared(Arc::new(a)))
    }
}

impl<const N: usize> From<&[u8; N]> for Payload {
    fn from(a: &[u8; N]) -> Self {
        Payload(Inner::Shared(Arc::from(&a[..])))
    }
}

/// Capacity of a pooled payload buffer: the payload of any datagram of a 1500-byte MTU fits.
/// A larger payload gets an `Arc<[u8]>` of its own, so no pooled buffer ever grows.
const POOLED_PAYLOAD_CAPACITY: usize = 1500;

/// At most this many buffers are pooled per `Rtc` (≈ 3 MB): beyond, payloads are allocated and
/// freed as before. Bounds memory when a peer keeps many payloads alive (long retransmission
/// caches), while a steady stream reuses the same few hundred buffers.
const MAX_POOLED_PAYLOADS: usize = 2048;

/// Pooled buffers looked at for a free one per received payload before a new one is made. The
/// pool is per receive stream, whose payloads are let go of in the order they came (send queues
/// and retransmission caches are first-in first-out, and one stream's packets are all kept
/// alike), so the oldest buffer is free unless every buffer is in use; the few more tries
/// step over one held out of order.
const POOL_TRIES: usize = 4;

/// Payloads handed out between two trims of the pool (see `PayloadPool::trim`): a trim looks at
/// every pooled buffer once, so this spreads its cost to a few instructions per payload.
const TRIM_EVERY: u32 = 1024;

/// Free buffers a trim keeps: enough for a burst (a key frame's packets, received before the
/// retransmission caches let go of as many older ones) to find free buffers without allocating.
/// Beyond, free buffers are dropped, so that a pool grown at a peak (many subscribers, long
/// retransmission caches, a subscriber that held payloads and left) shrinks back to what the
/// stream uses now instead of keeping its largest size for the stream's whole life.
const SPARE_FREE_PAYLOADS: usize = 64;

/// Buffers for one receive stream's payloads, reused once every clone of a payload is dropped.
#[derive(Default, Debug)]
pub(crate) struct PayloadPool {
    /// Oldest use first. A buffer is free when the pool holds its only reference.
    ring: VecDeque<Arc<Vec<u8>>>,
    /// Where the last look beyond the oldest few went.
    sweep: usize,
    /// Payloads handed out since the last trim.
    since_trim: u32,
}

/// The pool holds the only reference: no payload uses the buffer.
fn is_free(buf: &Arc<Vec<u8>>) -> bool {
    Arc::strong_count(buf) == 1 && Arc::weak_count(buf) == 0
}

/// Writes `data` into `buf` if it is free (its capacity is never exceeded: see `payload`).
fn fill(buf: &mut Arc<Vec<u8>>, data: &[u8]) -> bool {
    if !is_free(buf) {
        return false;
    }
    let Some(v) = Arc::get_mut(buf) else {
        return false;
    };
    v.clear();
    v.extend_from_slice(data);
    true
}

impl PayloadPool {
    /// A payload holding a copy of `data`, in a reused buffer when one is free.
    pub(crate) fn payload(&mut self, data: &[u8]) -> Payload {
        if data.len() > POOLED_PAYLOAD_CAPACITY {
            return Payload::from(data);
        }
        self.since_trim += 1;
        if self.since_trim >= TRIM_EVERY {
            self.since_trim = 0;
            self.trim();
        }
        // The oldest few: in first-in first-out use the oldest is free unless all are in use.
        let free = self.ring.iter().take(POOL_TRIES).position(is_free);
        if let Some(mut buf) = free.and_then(|i| self.ring.remove(i)) {
            let filled = fill(&mut buf, data);
            self.ring.push_back(buf.clone());
            if filled {
                return Payload(Inner::Pooled(buf));
            }
        }
        // None of them: one more, anywhere in the ring, in turn, so that buffers behind a few
        // held for long (a retransmission cache that no longer moves) are still found.
        if !self.ring.is_empty() {
            self.sweep = (self.sweep + 1) % self.ring.len();
            if let Some(buf) = self.ring.get_mut(self.sweep) {
                if fill(buf, data) {
                    return Payload(Inner::Pooled(buf.clone()));
                }
            }
        }
        let mut v = Vec::with_capacity(POOLED_PAYLOAD_CAPACITY);
        v.extend_from_slice(data);
        let buf = Arc::new(v);
        if self.ring.len() < MAX_POOLED_PAYLOADS {
            self.ring.push_back(buf.clone());
        }
        Payload(Inner::Pooled(buf))
    }

    /// Drops free buffers beyond `SPARE_FREE_PAYLOADS`, oldest first. Never allocates (the
    /// ring is filtered in place) and never touches a buffer a payload still uses.
    fn trim(&mut self) {
        let free = self.ring.iter().filter(|b| is_free(b)).count();
        let mut excess = free.saturating_sub(SPARE_FREE_PAYLOADS);
        if excess == 0 {
            return;
        }
        self.ring.retain(|b| {
            if excess > 0 && is_free(b) {
                excess -= 1;
                false
            } else {
                true
            }
        });
        self.sweep = 0;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.ring.len()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_payload_buffer_is_reused_once_every_clone_is_dropped() {
        let mut pool = PayloadPool::default();
        let a = pool.payload(&[1, 2, 3]);
        let a2 = a.clone();
        let b = pool.payload(&[4, 5]);
        assert_eq!(pool.len(), 2, "a held buffer is not reused");
        assert_eq!(&*a, &[1, 2, 3]);
        assert_eq!(&*b, &[4, 5]);
        drop(a);
        let c = pool.payload(&[6]);
        assert_eq!(pool.len(), 3, "a clone still holds the first buffer");
        drop(a2);
        drop(b);
        let d = pool.payload(&[7, 8, 9, 10]);
        assert_eq!(pool.len(), 3, "a free buffer is reused");
        assert_eq!(&*d, &[7, 8, 9, 10]);
        assert_eq!(&*c, &[6], "reuse never touches a live payload");
    }

    #[test]
    fn buffers_behind_payloads_held_for_long_are_still_reused() {
        let mut pool = PayloadPool::default();
        let stuck: Vec<_> = (0..POOL_TRIES).map(|i| pool.payload(&[i as u8])).collect();
        drop((0..8).map(|_| pool.payload(&[9])).collect::<Vec<_>>());
        let size = pool.len();
        // The oldest are held: each payload looks one step further into the ring, and grows
        // it only where that step lands on a held buffer.
        for i in 0..2 * size {
            drop(pool.payload(&[i as u8]));
        }
        assert!(
            pool.len() <= size + 2 * POOL_TRIES,
            "the pool grew from {size} to {}",
            pool.len()
        );
        for (i, p) in stuck.iter().enumerate() {
            assert_eq!(&**p, &[i as u8], "a held payload is never overwritten");
        }
    }

    #[test]
    fn oversized_payloads_are_not_pooled_and_the_pool_is_bounded() {
        let mut pool = PayloadPool::default();
        let big = vec![7; POOLED_PAYLOAD_CAPACITY + 1];
        let p = pool.payload(&big);
        assert_eq!(&*p, &big[..]);
        assert_eq!(pool.len(), 0);
        let held: Vec<_> = (0..MAX_POOLED_PAYLOADS + 10)
            .map(|i| pool.payload(&[i as u8]))
            .collect();
        assert_eq!(pool.len(), MAX_POOLED_PAYLOADS);
        assert_eq!(held.last().map(|p| p[0]), Some((MAX_POOLED_PAYLOADS + 9) as u8));
    }

    #[test]
    fn a_pool_grown_at_a_peak_shrinks_back_to_what_the_stream_uses() {
        let mut pool = PayloadPool::default();
        // A peak: a subscriber with a long retransmission cache holds 1000 payloads, then
        // leaves (its cache is dropped).
        let peak: Vec<_> = (0..1000).map(|i| pool.payload(&[i as u8])).collect();
        assert_eq!(pool.len(), 1000);
        drop(peak);
        // The stream goes on with a few payloads in use at a time.
        let mut live = std::collections::VecDeque::new();
        for i in 0..2 * TRIM_EVERY as usize {
            live.push_back(pool.payload(&[i as u8]));
            if live.len() > 10 {
                live.pop_front();
            }
        }
        assert!(
            pool.len() <= 10 + SPARE_FREE_PAYLOADS + 1,
            "the pool kept {} buffers for 10 payloads in use",
            pool.len()
        );
        for (i, p) in live.iter().enumerate() {
            let n = 2 * TRIM_EVERY as usize - live.len() + i;
            assert_eq!(&**p, &[n as u8], "a trim never touches a live payload");
        }
    }

    #[test]
    fn payloads_compare_by_bytes_and_convert() {
        let mut pool = PayloadPool::default();
        let pooled = pool.payload(&[1, 2]);
        let shared = Payload::from(vec![1, 2]);
        assert_eq!(pooled, shared);
        assert_eq!(&*pooled.into_arc(), &[1, 2]);
        assert_eq!(&*shared.into_arc(), &[1, 2]);
    }
}
