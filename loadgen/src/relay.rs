//! The baseline: a minimal forwarding relay (`confidant-loadgen relay`) and its wire format.
//!
//! The relay is what the SFU would be without WebRTC: one UDP socket, one thread, rooms of
//! members, and every media datagram a member sends copied verbatim to every other member
//! of its room. No ICE, no DTLS, no SRTP, no RTP parsing, no depacketizing or repacketizing,
//! no feedback. Measured with the same generator, the same frames and the same number of
//! peers (`--raw-relay`, see [`crate::raw`]), its packets per CPU-second are the yardstick
//! for what the SFU's WebRTC stack costs. With `--gso` (the benchmark's `raw-relay-gso`
//! information row) it reads bursts of datagrams and sends each member its share of a burst in
//! UDP GSO sends, through quinn-udp: the physical limit a forwarder could approach.
//!
//! Wire format:
//!
//! * control datagrams: the magic `CLR1`, an operation byte ([`HELLO`], [`WELCOME`], [`BYE`],
//!   [`BYE_ACK`]) and the room number (u32, big-endian); 9 bytes. A member says `HELLO` (the
//!   relay answers `WELCOME` and forwards to the sender's address from then on) and `BYE`
//!   (answered with `BYE_ACK`, also when the sender was not a member).
//! * media datagrams: anything whose first byte is 128–191 (RTP-shaped, RFC 7983), from a
//!   member. The relay reads nothing else of them.
//!
//! Everything else is dropped. The relay only binds loopback addresses and only accepts
//! members on loopback, and it stops by itself after `--max-seconds`.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::Error;

/// Magic of control datagrams.
pub const MAGIC: [u8; 4] = *b"CLR1";
/// Length of a control datagram.
pub const CONTROL_LEN: usize = 9;
/// Member → relay: add me to the room.
pub const HELLO: u8 = 1;
/// Relay → member: you are in.
pub const WELCOME: u8 = 2;
/// Member → relay: remove me.
pub const BYE: u8 = 3;
/// Relay → member: removed.
pub const BYE_ACK: u8 = 4;
/// Members in all, at most (the generator never runs more than 10,000 participants).
const MAX_MEMBERS: usize = 10_000;
/// How often the receive loop wakes up to check its deadline when nothing arrives.
const POLL: Duration = Duration::from_millis(100);
/// Receive buffer: above any datagram on a 1500-byte MTU.
const RECV_BUFFER: usize = 2048;

/// A control datagram.
pub fn control(op: u8, room: u32) -> [u8; CONTROL_LEN] {
    let mut d = [0u8; CONTROL_LEN];
    d[..4].copy_from_slice(&MAGIC);
    d[4] = op;
    d[5..].copy_from_slice(&room.to_be_bytes());
    d
}

/// Reads a control datagram: `(operation, room)`.
pub fn parse_control(d: &[u8]) -> Option<(u8, u32)> {
    if d.len() != CONTROL_LEN || d[..4] != MAGIC {
        return None;
    }
    Some((d[4], u32::from_be_bytes([d[5], d[6], d[7], d[8]])))
}

/// Options of `confidant-loadgen relay`.
#[derive(Debug, Clone, clap::Args)]
pub struct RelayArgs {
    /// UDP address to bind (loopback only; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub bind: SocketAddr,
    /// Write the bound port here once listening (for scripts).
    #[arg(long)]
    pub port_file: Option<PathBuf>,
    /// Stop after this many seconds, whatever happens (1..=86400).
    #[arg(long, default_value_t = 900)]
    pub max_seconds: u64,
    /// Batched I/O (`raw-relay-gso` in the benchmark): read bursts of datagrams (`recvmmsg`,
    /// GRO) and send each member the burst's datagrams for it in as few UDP GSO sends as their
    /// sizes allow, through quinn-udp: the physical limit a forwarder could approach.
    #[arg(long)]
    pub gso: bool,
}

/// What the relay counted, printed when it stops.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RelayStats {
    /// Media datagrams received from members.
    pub received: u64,
    /// Copies sent to other members.
    pub forwarded: u64,
    /// Datagrams dropped (unknown sender, not ours, send errors).
    pub dropped: u64,
}

/// Rooms and their members.
#[derive(Debug, Default)]
pub struct Relay {
    /// Member address → room.
    members: HashMap<SocketAddr, u32>,
    /// Room → member addresses.
    rooms: HashMap<u32, Vec<SocketAddr>>,
    /// Counts.
    pub stats: RelayStats,
}

impl Relay {
    /// Handles one datagram from `source`; calls `send` for every datagram to send.
    pub fn handle(
        &mut self,
        source: SocketAddr,
        d: &[u8],
        mut send: impl FnMut(&[u8], SocketAddr) -> bool,
    ) {
        if matches!(d.first(), Some(128..=191)) {
            let Some(room) = self.members.get(&source) else {
                self.stats.dropped += 1;
                return;
            };
            self.stats.received += 1;
            // Every member of a room is in `rooms` (kept in step with `members` below).
            for &to in self.rooms.get(room).map(Vec::as_slice).unwrap_or(&[]) {
                if to != source {
                    if send(d, to) {
                        self.stats.forwarded += 1;
                    } else {
                        self.stats.dropped += 1;
                    }
                }
            }
            return;
        }
        match parse_control(d) {
            Some((HELLO, room)) if source.ip().is_loopback() => {
                if !self.members.contains_key(&source) {
                    if self.members.len() >= MAX_MEMBERS {
                        self.stats.dropped += 1;
                        return;
                    }
                    self.members.insert(source, room);
                    self.rooms.entry(room).or_default().push(source);
                }
                send(&control(WELCOME, room), source);
            }
            Some((BYE, room)) => {
                if let Some(r) = self.members.remove(&source) {
                    if let Some(list) = self.rooms.get_mut(&r) {
                        list.retain(|a| *a != source);
                        if list.is_empty() {
                            self.rooms.remove(&r);
                        }
                    }
                }
                send(&control(BYE_ACK, room), source);
            }
            _ => self.stats.dropped += 1,
        }
    }

    /// Members now.
    pub fn members(&self) -> usize {
        self.members.len()
    }
}

/// Runs the relay until `--max-seconds` pass (or the process is killed).
pub fn serve(args: &RelayArgs) -> Result<RelayStats, Error> {
    if !args.bind.ip().is_loopback() {
        return Err(Error::Config(
            "relay --bind must be a loopback address".into(),
        ));
    }
    if !(1..=86_400).contains(&args.max_seconds) {
        return Err(Error::Config(
            "relay --max-seconds must be 1..=86400".into(),
        ));
    }
    let socket = UdpSocket::bind(args.bind)
        .map_err(|e| Error::Media(format!("relay bind {}: {e}", args.bind)))?;
    crate::shared::enlarge_buffers(&socket);
    socket
        .set_read_timeout(Some(POLL))
        .map_err(|e| Error::Media(format!("relay socket: {e}")))?;
    let local = socket
        .local_addr()
        .map_err(|e| Error::Media(format!("relay socket: {e}")))?;
    if let Some(file) = &args.port_file {
        // Written whole and then renamed, so a reader never sees half a number.
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, format!("{}\n", local.port()))
            .and_then(|()| std::fs::rename(&tmp, file))
            .map_err(|e| Error::Config(format!("--port-file {}: {e}", file.display())))?;
    }
    eprintln!("confidant-loadgen relay: listening on udp://{local}");
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let mut relay = Relay::default();
    if args.gso {
        gso::serve(socket, deadline, &mut relay)?;
    } else {
        serve_plain(&socket, deadline, &mut relay)?;
    }
    let s = relay.stats;
    eprintln!(
        "confidant-loadgen relay: stopped after {} s; {} received, {} forwarded, {} dropped",
        args.max_seconds, s.received, s.forwarded, s.dropped
    );
    Ok(s)
}

/// One datagram per `recv_from`, one per `send_to`.
fn serve_plain(socket: &UdpSocket, deadline: Instant, relay: &mut Relay) -> Result<(), Error> {
    let mut buf = vec![0u8; RECV_BUFFER];
    while Instant::now() < deadline {
        match socket.recv_from(&mut buf) {
            Ok((n, source)) => {
                relay.handle(source, &buf[..n], |d, to| socket.send_to(d, to).is_ok())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // ICMP port unreachable from a member that just left: not the relay's problem.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(Error::Media(format!("relay receive: {e}"))),
        }
    }
    Ok(())
}

/// `relay --gso`: bursts in, runs per destination out, through quinn-udp on a current-thread
/// tokio runtime (quinn-udp's sockets are non-blocking).
mod gso {
    use std::io::{ErrorKind, IoSliceMut};
    use std::net::{SocketAddr, UdpSocket};
    use std::time::Instant;

    use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};
    use tokio::io::Interest;

    use super::{Relay, POLL};
    use crate::Error;

    /// Receive slots per read (quinn-udp reads at most its `BATCH_SIZE`, 32 on Linux).
    const SLOTS: usize = quinn_udp::BATCH_SIZE;
    /// Bytes per slot: a GRO-coalesced read holds up to 64 KiB.
    const SLOT_BYTES: usize = u16::MAX as usize;
    /// Largest GSO send (the segments together must fit one UDP datagram).
    const GSO_MAX_BYTES: usize = 60_000;

    fn io_error(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
        move |e| Error::Media(format!("relay {what}: {e}"))
    }

    pub(super) fn serve(
        socket: UdpSocket,
        deadline: Instant,
        relay: &mut Relay,
    ) -> Result<(), Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io_error("runtime"))?;
        runtime.block_on(run(socket, deadline, relay))
    }

    async fn run(socket: UdpSocket, deadline: Instant, relay: &mut Relay) -> Result<(), Error> {
        socket.set_nonblocking(true).map_err(io_error("socket"))?;
        let socket = tokio::net::UdpSocket::from_std(socket).map_err(io_error("socket"))?;
        let state = UdpSocketState::new(UdpSockRef::from(&socket)).map_err(io_error("socket"))?;
        let mut buf = vec![0u8; SLOTS * SLOT_BYTES];
        let mut metas = [RecvMeta::default(); SLOTS];
        // The burst's copies: (destination, arrival index, start, length) into `arena`.
        let mut copies: Vec<(SocketAddr, usize, usize, usize)> = Vec::new();
        let mut arena: Vec<u8> = Vec::new();
        let mut scratch: Vec<u8> = Vec::with_capacity(GSO_MAX_BYTES);
        while Instant::now() < deadline {
            match tokio::time::timeout(POLL, socket.readable()).await {
                Err(_) => continue,
                Ok(r) => r.map_err(io_error("receive"))?,
            }
            let read = {
                let mut slots = buf.chunks_mut(SLOT_BYTES);
                let mut slices: [IoSliceMut<'_>; SLOTS] =
                    std::array::from_fn(|_| IoSliceMut::new(slots.next().unwrap_or_default()));
                socket.try_io(Interest::READABLE, || {
                    state.recv(UdpSockRef::from(&socket), &mut slices, &mut metas)
                })
            };
            let n = match read {
                Ok(n) => n.min(SLOTS),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::ConnectionRefused
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(Error::Media(format!("relay receive: {e}"))),
            };
            copies.clear();
            arena.clear();
            for (meta, slot) in metas.iter().zip(buf.chunks(SLOT_BYTES)).take(n) {
                let bytes = slot.get(..meta.len).unwrap_or(slot);
                for d in bytes.chunks(meta.stride.max(1)) {
                    relay.handle(meta.addr, d, |d, to| {
                        copies.push((to, copies.len(), arena.len(), d.len()));
                        arena.extend_from_slice(d);
                        true
                    });
                }
            }
            // Each member's copies together, in the order they came.
            copies.sort_unstable_by_key(|&(to, i, _, _)| (to, i));
            let mut rest = &copies[..];
            while let Some(&(to, _, start, size)) = rest.first() {
                let max = state.max_gso_segments().max(1);
                let mut n = 1;
                let mut bytes = size;
                for &(t, _, _, len) in rest.iter().skip(1) {
                    if n >= max || t != to || len == 0 || len > size || bytes + len > GSO_MAX_BYTES
                    {
                        break;
                    }
                    n += 1;
                    bytes += len;
                    if len < size {
                        break;
                    }
                }
                let (run, after) = rest.split_at(n);
                rest = after;
                let (contents, segment_size) = if let [_] = run {
                    (arena.get(start..start + size).unwrap_or_default(), None)
                } else {
                    scratch.clear();
                    for &(_, _, s, len) in run {
                        scratch.extend_from_slice(arena.get(s..s + len).unwrap_or_default());
                    }
                    (&scratch[..], Some(size))
                };
                let transmit = Transmit {
                    destination: to,
                    ecn: None,
                    contents,
                    segment_size,
                    src_ip: None,
                };
                loop {
                    let sent = socket.try_io(Interest::WRITABLE, || {
                        state.send(UdpSockRef::from(&socket), &transmit)
                    });
                    match sent {
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            socket.writable().await.map_err(io_error("send"))?;
                        }
                        // Anything else: lost, as UDP may (quinn-udp logs it and stops
                        // offering GSO where the kernel refused it).
                        _ => break,
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn forwards_media_to_the_other_members_of_the_room_only() {
        let mut r = Relay::default();
        let mut out: Vec<(Vec<u8>, SocketAddr)> = Vec::new();
        for (port, room) in [(1, 7), (2, 7), (3, 7), (4, 8)] {
            r.handle(addr(port), &control(HELLO, room), |d, to| {
                out.push((d.to_vec(), to));
                true
            });
        }
        assert_eq!(out.len(), 4);
        assert!(out
            .iter()
            .all(|(d, _)| parse_control(d).unwrap().0 == WELCOME));
        out.clear();
        let media = [0x80u8, 96, 0, 1, 9, 9, 9];
        r.handle(addr(1), &media, |d, to| {
            out.push((d.to_vec(), to));
            true
        });
        let mut to: Vec<u16> = out.iter().map(|(_, a)| a.port()).collect();
        to.sort_unstable();
        assert_eq!(to, [2, 3]);
        assert!(out.iter().all(|(d, _)| d == &media));
        assert_eq!(r.stats.received, 1);
        assert_eq!(r.stats.forwarded, 2);
    }

    #[test]
    fn strangers_and_leavers_get_nothing() {
        let mut r = Relay::default();
        let mut sent = 0;
        r.handle(addr(1), &control(HELLO, 1), |_, _| true);
        r.handle(addr(2), &control(HELLO, 1), |_, _| true);
        r.handle(addr(2), &control(BYE, 1), |_, _| true);
        r.handle(addr(9), &[0x80, 96, 0, 0], |_, _| {
            sent += 1;
            true
        });
        r.handle(addr(1), &[0x80, 96, 0, 0], |_, _| {
            sent += 1;
            true
        });
        r.handle(addr(1), b"not ours", |_, _| {
            sent += 1;
            true
        });
        assert_eq!(sent, 0);
        assert_eq!(r.members(), 1);
        assert_eq!(r.stats.dropped, 2);
        let remote = SocketAddr::from(([192, 0, 2, 1], 5));
        r.handle(remote, &control(HELLO, 1), |_, _| true);
        assert_eq!(r.members(), 1, "members only on loopback");
    }
}
