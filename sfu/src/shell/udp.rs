//! The shell's UDP socket I/O through `quinn-udp`: burst reads (`recvmmsg` on Linux, with GRO
//! where the kernel coalesces) and sends that put a run of datagrams to one destination into
//! one `sendmsg` with UDP GSO, falling back to one datagram per call where the kernel or the
//! configuration offers no GSO. Only I/O: the core decides what is sent, and when.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Receive slots per read: datagrams (or GRO-coalesced runs) one `recvmmsg` returns. quinn-udp
/// reads at most its `BATCH_SIZE` (32 on Linux, 1 elsewhere); 8 bound the memory per worker.
const RECV_SLOTS: usize = if quinn_udp::BATCH_SIZE < 8 {
    quinn_udp::BATCH_SIZE
} else {
    8
};

/// Bytes per receive slot: with GRO one slot may hold a coalesced run of datagrams, up to the
/// largest UDP payload (64 KiB). Anything less could truncate a coalesced read. 8 slots: 512 KiB
/// per worker.
const RECV_SLOT_BYTES: usize = u16::MAX as usize;

/// Largest GSO send in bytes: the segments together must fit one UDP datagram (64 KiB less
/// the IPv6 and UDP headers), kept a little lower.
const GSO_MAX_BYTES: usize = 60_000;

/// Most datagrams the shell collects before sending them (a run to one destination within them
/// goes out as one GSO send). The core's output of one input is rarely longer.
pub(super) const SEND_BATCH: usize = 64;

/// A datagram waiting to be sent.
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) destination: SocketAddr,
    pub(super) contents: Vec<u8>,
}

/// The receive buffers of one read: what `UdpIo::try_recv` filled.
pub(super) struct RecvBurst {
    buf: Vec<u8>,
    metas: [RecvMeta; RECV_SLOTS],
    filled: usize,
}

impl Default for RecvBurst {
    /// Empty, allocating nothing (a placeholder while the real one is lent out).
    fn default() -> Self {
        RecvBurst {
            buf: Vec::new(),
            metas: [RecvMeta::default(); RECV_SLOTS],
            filled: 0,
        }
    }
}

impl RecvBurst {
    fn new() -> Self {
        RecvBurst {
            buf: vec![0; RECV_SLOTS * RECV_SLOT_BYTES],
            ..RecvBurst::default()
        }
    }

    /// Every datagram of the last read, in order: a coalesced (GRO) slot is split at its
    /// stride.
    pub(super) fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.metas
            .iter()
            .zip(self.buf.chunks(RECV_SLOT_BYTES))
            .take(self.filled)
            .flat_map(|(meta, slot)| {
                let bytes = slot.get(..meta.len).unwrap_or(slot);
                bytes
                    .chunks(meta.stride.max(1))
                    .map(move |datagram| (meta.addr, datagram))
            })
    }
}

/// One worker's UDP socket with quinn-udp's state for it.
pub(super) struct UdpIo {
    socket: UdpSocket,
    state: UdpSocketState,
    /// GSO may be used (configuration); whether the kernel offers it is quinn-udp's to say.
    gso: bool,
    /// The receive buffers, lent out while their datagrams are handled.
    pub(super) burst: RecvBurst,
    /// Where a run's datagrams are put together for one GSO send.
    scratch: Vec<u8>,
}

impl UdpIo {
    /// Takes over `socket` (quinn-udp makes it non-blocking and asks for GRO and the packet
    /// info it reads). `gso`: false sends every datagram on its own, as where the kernel lacks
    /// GSO.
    pub(super) fn new(socket: UdpSocket, gso: bool) -> io::Result<UdpIo> {
        let state = UdpSocketState::new(UdpSockRef::from(&socket))?;
        Ok(UdpIo {
            socket,
            state,
            gso,
            burst: RecvBurst::new(),
            scratch: Vec::with_capacity(GSO_MAX_BYTES),
        })
    }

    /// Datagrams one send may carry: quinn-udp's GSO segments (1 without GSO, and after the
    /// kernel refused a GSO send), 1 where GSO is configured off.
    pub(super) fn max_segments(&self) -> usize {
        if self.gso {
            self.state.max_gso_segments()
        } else {
            1
        }
    }

    /// Waits until the socket has something to read.
    pub(super) async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Reads what is waiting, up to a burst, into `burst` (without waiting: nothing read when
    /// nothing is there). Returns the number of datagrams.
    pub(super) fn try_recv(&self, burst: &mut RecvBurst) -> usize {
        burst.filled = 0;
        let mut slots = burst.buf.chunks_mut(RECV_SLOT_BYTES);
        let mut slices: [IoSliceMut<'_>; RECV_SLOTS] =
            std::array::from_fn(|_| IoSliceMut::new(slots.next().unwrap_or_default()));
        let read = self.socket.try_io(Interest::READABLE, || {
            self.state.recv(
                UdpSockRef::from(&self.socket),
                &mut slices,
                &mut burst.metas,
            )
        });
        match read {
            Ok(n) => burst.filled = n.min(RECV_SLOTS),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => tracing::debug!("UDP receive failed: {e}"),
        }
        burst.datagrams().count()
    }

    /// Sends `datagrams` in order: each run to one destination that GSO can carry (see
    /// [`run_len`]) in one call, the others one by one. A send the kernel refuses is lost, as
    /// UDP may lose it; a GSO send it refuses for GSO's sake is sent again one by one (quinn-udp
    /// then stops offering GSO on this socket).
    pub(super) async fn send_all(&mut self, datagrams: &[Outgoing]) {
        let mut rest = datagrams;
        while !rest.is_empty() {
            let n = run_len(rest, self.max_segments(), GSO_MAX_BYTES).max(1);
            let (run, after) = rest.split_at(n.min(rest.len()));
            rest = after;
            if let [one] = run {
                send(
                    &self.socket,
                    &self.state,
                    one.destination,
                    &one.contents,
                    None,
                )
                .await;
                continue;
            }
            let Some(first) = run.first() else {
                continue;
            };
            self.scratch.clear();
            for d in run {
                self.scratch.extend_from_slice(&d.contents);
            }
            let sent = send(
                &self.socket,
                &self.state,
                first.destination,
                &self.scratch,
                Some(first.contents.len()),
            )
            .await;
            if sent == Sent::GsoRefused {
                for d in run {
                    send(&self.socket, &self.state, d.destination, &d.contents, None).await;
                }
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Sent {
    /// Sent, or lost as UDP may lose it.
    Done,
    /// The kernel refused the GSO send as such (EIO or EINVAL, quinn-udp's signs of no GSO).
    GsoRefused,
}

/// One `sendmsg`, waiting while the socket buffer is full.
async fn send(
    socket: &UdpSocket,
    state: &UdpSocketState,
    destination: SocketAddr,
    contents: &[u8],
    segment_size: Option<usize>,
) -> Sent {
    let transmit = Transmit {
        destination,
        ecn: None,
        contents,
        segment_size,
        src_ip: None,
    };
    loop {
        let sent = socket.try_io(Interest::WRITABLE, || {
            state.try_send(UdpSockRef::from(socket), &transmit)
        });
        match sent {
            Ok(()) => return Sent::Done,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Err(e) = socket.writable().await {
                    tracing::debug!("UDP socket not writable: {e}");
                    return Sent::Done;
                }
            }
            Err(e) => {
                let gso_refused =
                    matches!(e.raw_os_error(), Some(code) if code == EIO || code == EINVAL);
                if segment_size.is_some() && gso_refused {
                    tracing::debug!("UDP GSO send refused ({e}); sending one by one");
                    return Sent::GsoRefused;
                }
                tracing::debug!("UDP send failed: {e}");
                return Sent::Done;
            }
        }
    }
}

/// `EIO` and `EINVAL` (Linux's numbers): what a GSO send returns where the device or kernel
/// cannot do it.
const EIO: i32 = 5;
const EINVAL: i32 = 22;

/// How many datagrams from the start of `datagrams` one GSO send can carry: a run to the first
/// one's destination, every one of the first one's size except that the last may be shorter,
/// at most `max_segments` of them and `max_bytes` together. At least 1 unless empty.
pub(super) fn run_len(datagrams: &[Outgoing], max_segments: usize, max_bytes: usize) -> usize {
    let Some(first) = datagrams.first() else {
        return 0;
    };
    let size = first.contents.len();
    let mut n = 1;
    let mut bytes = size;
    for d in datagrams.iter().skip(1) {
        let len = d.contents.len();
        if n >= max_segments
            || d.destination != first.destination
            || len == 0
            || len > size
            || bytes + len > max_bytes
        {
            break;
        }
        n += 1;
        bytes += len;
        if len < size {
            // A shorter segment can only be the last one.
            break;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(port: u16, len: usize) -> Outgoing {
        Outgoing {
            destination: SocketAddr::from(([127, 0, 0, 1], port)),
            contents: vec![0; len],
        }
    }

    #[test]
    fn a_run_is_one_destination_of_one_size_with_a_shorter_last() {
        let d = [out(1, 100), out(1, 100), out(1, 60), out(1, 100)];
        assert_eq!(run_len(&d, 64, GSO_MAX_BYTES), 3, "the shorter one ends it");
        let d = [out(1, 100), out(2, 100), out(1, 100)];
        assert_eq!(
            run_len(&d, 64, GSO_MAX_BYTES),
            1,
            "another destination ends it"
        );
        let d = [out(1, 100), out(1, 120)];
        assert_eq!(
            run_len(&d, 64, GSO_MAX_BYTES),
            1,
            "a longer one cannot follow"
        );
        let d = [out(1, 100), out(1, 0)];
        assert_eq!(run_len(&d, 64, GSO_MAX_BYTES), 1, "nor an empty one");
        assert_eq!(run_len(&[], 64, GSO_MAX_BYTES), 0);
    }

    /// Datagrams to `to`: three of 500 bytes, one of 200 (a GSO run), then two of 300; each
    /// numbered in its first byte.
    fn batch(to: SocketAddr) -> Vec<Outgoing> {
        [500, 500, 500, 200, 300, 300]
            .iter()
            .enumerate()
            .map(|(i, &len)| Outgoing {
                destination: to,
                contents: vec![i as u8; len],
            })
            .collect()
    }

    async fn bound() -> UdpSocket {
        UdpSocket::bind("127.0.0.1:0").await.expect("bind")
    }

    /// Reads `n` datagrams through `io` (bounded: 5 s), in order.
    async fn read_n(io: &mut UdpIo, n: usize) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < n {
            tokio::time::timeout_at(deadline, io.readable())
                .await
                .expect("datagrams arrive")
                .expect("readable");
            let mut burst = std::mem::take(&mut io.burst);
            io.try_recv(&mut burst);
            got.extend(burst.datagrams().map(|(_, d)| d.to_vec()));
            io.burst = burst;
        }
        got
    }

    async fn sent_and_read(gso: bool) -> (usize, Vec<Vec<u8>>) {
        let mut rx = UdpIo::new(bound().await, true).expect("receiver");
        let to = rx.socket.local_addr().expect("address");
        let mut tx = UdpIo::new(bound().await, gso).expect("sender");
        let datagrams = batch(to);
        tx.send_all(&datagrams).await;
        let got = read_n(&mut rx, datagrams.len()).await;
        assert_eq!(
            got,
            datagrams
                .iter()
                .map(|d| d.contents.clone())
                .collect::<Vec<_>>(),
            "every datagram arrives whole and in order (gso: {gso})"
        );
        (tx.max_segments(), got)
    }

    #[tokio::test]
    async fn runs_sent_with_gso_arrive_as_the_datagrams_they_were() {
        // Where the kernel offers GSO (Linux), the 500-byte run goes out in one send; the
        // receiver (GRO on) reads it whole or coalesced and splits it at the stride.
        let (segments, _) = sent_and_read(true).await;
        if cfg!(target_os = "linux") {
            assert!(segments > 1, "Linux (4.18 on) offers GSO on loopback");
        }
    }

    #[tokio::test]
    async fn without_gso_every_datagram_is_sent_on_its_own_and_arrives_alike() {
        // The fallback, forced: what a kernel without GSO gets.
        let (segments, _) = sent_and_read(false).await;
        assert_eq!(segments, 1, "GSO configured off: one datagram per send");
    }

    #[tokio::test]
    async fn a_burst_of_datagrams_is_read_whole_and_in_order() {
        let mut rx = UdpIo::new(bound().await, true).expect("receiver");
        let to = rx.socket.local_addr().expect("address");
        let tx = bound().await;
        for i in 0..RECV_SLOTS as u8 {
            tx.send_to(&[i; 100], to).await.expect("send");
        }
        let got = read_n(&mut rx, RECV_SLOTS).await;
        let want: Vec<Vec<u8>> = (0..RECV_SLOTS as u8).map(|i| vec![i; 100]).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_run_stops_at_the_segment_and_byte_limits() {
        let d: Vec<_> = (0..10).map(|_| out(1, 1000)).collect();
        assert_eq!(run_len(&d, 4, GSO_MAX_BYTES), 4);
        assert_eq!(run_len(&d, 64, 3500), 3);
        assert_eq!(run_len(&d, 1, GSO_MAX_BYTES), 1, "without GSO: one by one");
    }
}
