//! The tokio shell: one UDP socket shared by N worker threads, an optional ICE-TCP listener,
//! an async handle for the signalling layer.
//!
//! # Workers
//!
//! [`ShellConfig::workers`] threads (0: one per core) each run a current-thread tokio runtime
//! and own one [`Sfu`] core. A room lives on exactly one worker, so forwarding never crosses
//! threads: the first peer of a room puts it on the worker with the fewest peers, later peers
//! of that room follow it, and the room is forgotten when its last peer leaves. Commands for a
//! peer go to its worker's queue; [`SfuHandle::stats`] sums the workers' [`SfuStats`] (plus the
//! datagrams the shell itself dropped, in `dropped_datagrams`).
//!
//! Every worker has its own socket on the one port (Linux `SO_REUSEPORT`; elsewhere a
//! descriptor of one shared socket), registered with its own runtime, and sends on it
//! directly. The kernel gives each datagram to exactly one of the sockets, always the same one
//! for a given sender, so a worker is woken only for its share (with one shared socket every
//! worker was woken for every datagram). A second process cannot join the group: before
//! binding it, the shell checks with a plain bind that nothing holds the port. A datagram a
//! worker reads is routed by
//! its source address (see the `directory` module): its own go straight into its core, others' are
//! handed over through the owner's bounded inbound queue (dropped and counted when full, never
//! waited for). An address is learnt from a STUN binding request whose USERNAME starts with a
//! peer's ufrag (RFC 8445 §7.2.2; the ufrag is read from the SDP answer `add_peer` returns);
//! anything else from an unknown address is dropped and counted. A peer's ufrag and addresses
//! are forgotten when it is removed or disconnects. With one worker nothing is routed at all:
//! every datagram goes straight into the one core, as before workers existed.
//!
//! Why every worker receives rather than one receive loop feeding all workers: with one
//! worker (the measured best on small machines, see below) there is no hop and no extra
//! thread, and with N the receive syscalls are spread over the cores instead of one thread
//! doing them all; a datagram hops at most once either way.
//!
//! The workers stop when every [`SfuHandle`] is dropped or on [`SfuHandle::shutdown`], which
//! also joins their threads.
//!
//! # Measurements (2-core VM shared with other jobs; release build; 10 s runs, alternated;
//! frame-level core and one shared socket, before RTP forwarding and `SO_REUSEPORT`)
//!
//! `pps_per_cpu_second` of `confidant-loadgen` (forwarded packets per second of the server's
//! CPU), the server unpinned, so the generator competes for the same two cores:
//!
//! | scenario        | 1 worker            | 2 workers           |
//! |-----------------|---------------------|---------------------|
//! | `talk200`       | 56.1k 58.2k 57.2k   | 40.6k 38.8k 37.2k   |
//! | `group5` 3 rooms| 45.4k 44.2k         | 35.1k 22.2k         |
//!
//! * Workers: where the machine has no idle core (here the generator takes the other one), a
//!   second worker costs 20-50 % more CPU per packet (datagrams that hop, and every worker is
//!   woken for every datagram on the shared socket) and forwards the same. Sharding pays where
//!   one core cannot keep up with all rooms. The default stays one worker per core, and
//!   `available_parallelism` follows the CPU affinity mask, so a server pinned to one core (as
//!   `scripts/bench.sh` pins it) gets one worker and no routing.
//! * Batched syscalls (issue 16), through `quinn-udp` (the `udp` module): a worker reads a
//!   burst of datagrams per wake-up (`recvmmsg` on Linux, GRO-coalesced reads split at their
//!   stride) and feeds them all to its core before draining it, and collects the core's output
//!   before sending, so that a run of datagrams to one destination (of one size, the last
//!   shorter; what one subscriber gets out of a burst) goes out as one `sendmsg` with UDP GSO
//!   (measured on this machine: GSO with 3 segments costs about 30 % less per packet). Where
//!   the kernel has no GSO (quinn-udp finds out, also from a refused send, whose datagrams
//!   then go out one by one) or [`ShellConfig::udp_gso`] is off, every datagram is its own
//!   `sendmsg`, as before. Datagrams to different subscribers cannot share a GSO send (one
//!   destination per send); `sendmmsg`, which could batch the fan-out, measured no gain on
//!   loopback. An earlier measurement of receive batching alone (before RTP forwarding):
//!   `talk200` +5 %, `group5` −3.5 %, within this machine's noise; `scripts/bench.sh` runs
//!   the current numbers (BENCHMARKS.md).
//!
//! ICE-TCP (RFC 6544, passive; framing RFC 4571) is the fallback for clients whose network
//! blocks UDP: see the `tcp` module. A connection's first frame picks its worker the same way.

mod directory;
mod tcp;
mod udp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::core::{Output, Sfu, SfuConfig, SfuStats, Transport};
use crate::error::Error;
use crate::types::{PeerId, RoomId, SfuEvent};
use directory::Directory;
use tcp::TcpEvent;
pub use tcp::{MAX_TCP_CONNECTIONS, TCP_FIRST_FRAME_TIMEOUT};
use udp::{Outgoing, UdpIo};

/// Largest ICE-TCP frame taken: above any sane WebRTC datagram (MTU ~1500). (UDP reads go into
/// 64 KiB slots, see the `udp` module; str0m drops what is too long to be one of its own.)
const RECV_BUFFER_SIZE: usize = 2048;

/// Commands queued to one worker before callers wait (backpressure on signalling).
const COMMAND_QUEUE: usize = 256;

/// Datagrams queued from the other workers to one worker; more are dropped (as the kernel
/// drops what overflows the socket buffer). About 0.1 s of a busy worker's input.
const INBOUND_QUEUE: usize = 4096;

/// Kernel buffer asked for the SFU's socket, each way, in bytes. One socket carries every
/// peer's datagrams. Linux's default receive buffer (208 KiB, about 160 small datagrams once
/// the kernel's per-datagram overhead is counted) holds only ~60 ms of a 50-peer audio room, so
/// any pause of the driver longer than that made the kernel drop datagrams: media, and also
/// the STUN checks and DTLS records that keep peers connected (seen as `RcvbufErrors` in
/// `/proc/net/snmp` during the `audio50` benchmark). 1 MiB holds about a quarter of a second
/// of that room: enough to ride out a burst (a join wave's handshakes, keyframes, a scheduling
/// hiccup). Not more: when the driver is *persistently* slower than its input, a bigger buffer
/// only turns loss into seconds of latency (`talk200` on a loaded machine with 4 MiB on every
/// socket: latency p50 0.9 s → 3.6 s), and STUN and DTLS wait behind that queue as well.
/// The kernel caps it at `net.core.rmem_max` / `wmem_max`.
pub const SOCKET_BUFFER_BYTES: usize = 1 << 20;

/// Where the shell listens and what it advertises.
#[derive(Debug, Clone)]
pub struct ShellConfig {
    /// Address to bind the UDP socket to. Port 0 picks a free port.
    pub bind: SocketAddr,
    /// Address put into the SDP as the UDP ICE host candidate; must be a concrete IP reachable
    /// by clients. Port 0 means "the bound port".
    pub advertised: SocketAddr,
    /// ICE-TCP: where to listen for TCP connections, and the port to advertise for them (0:
    /// the bound one; the IP is `advertised`'s). `None`: UDP only. Port 0 to bind means "the
    /// UDP port's number, or any free port if that one is taken".
    pub tcp: Option<TcpShellConfig>,
    /// Worker threads, each owning one core and a share of the rooms; 0: one per core
    /// (`std::thread::available_parallelism`).
    pub workers: usize,
    /// Audio forwarded per room: the N loudest publishers ([`crate::SfuConfig::loudest_audio`]);
    /// 0: every one. Usually [`crate::DEFAULT_LOUDEST_AUDIO`].
    pub loudest_audio: usize,
    /// Send runs of datagrams to one destination with UDP GSO (one `sendmsg` for the run)
    /// where the kernel offers it; false: one `sendmsg` per datagram, as where it does not.
    /// Usually true; reads are batched either way.
    pub udp_gso: bool,
}

/// ICE-TCP listener settings.
#[derive(Debug, Clone, Copy)]
pub struct TcpShellConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Port advertised in the TCP candidate (0: the bound port).
    pub advertised_port: u16,
}

/// An open ICE-TCP connection, as its worker sees it.
struct TcpConn {
    frames: mpsc::Sender<Vec<u8>>,
    /// A peer took one of its frames.
    accepted: bool,
}

/// A datagram one worker read for another.
struct Datagram {
    source: SocketAddr,
    contents: Vec<u8>,
}

/// What the handle asks of a worker. A new per-peer command is a variant here, an arm in
/// [`Worker::handle_command`] and a method on [`SfuHandle`] that calls [`SfuHandle::call_peer`].
enum Command {
    AddPeer {
        room: RoomId,
        peer: PeerId,
        offer: String,
        events: mpsc::UnboundedSender<SfuEvent>,
        reply: oneshot::Sender<Result<String, Error>>,
    },
    AcceptAnswer {
        peer: PeerId,
        answer: String,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    AcceptOffer {
        peer: PeerId,
        offer: String,
        reply: oneshot::Sender<Result<String, Error>>,
    },
    RemovePeer {
        peer: PeerId,
        reply: oneshot::Sender<()>,
    },
    SetVideoSize {
        subscriber: PeerId,
        publisher: PeerId,
        width: u32,
        height: u32,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Stats {
        reply: oneshot::Sender<SfuStats>,
    },
    Shutdown,
}

/// The handle's side of the workers: their command queues and threads. Only handles hold it,
/// so dropping the last handle closes the queues and the workers stop.
struct Control {
    commands: Vec<mpsc::Sender<Command>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("workers", &self.commands.len())
            .finish_non_exhaustive()
    }
}

/// Cheap, cloneable handle to a running SFU shell.
#[derive(Clone, Debug)]
pub struct SfuHandle {
    control: Arc<Control>,
    directory: Arc<Directory>,
    local_addr: SocketAddr,
    advertised: SocketAddr,
    tcp_local_addr: Option<SocketAddr>,
    recv_buffer: usize,
}

/// Binds the UDP socket (and the ICE-TCP listener), starts the worker threads, and spawns the
/// ICE-TCP accept loop on the current tokio runtime.
pub async fn start(config: ShellConfig) -> Result<SfuHandle, Error> {
    let bind_error = |source| Error::Bind {
        addr: config.bind,
        source,
    };
    let workers = match config.workers {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        n => n,
    };
    if workers > 1 && config.bind.port() != 0 {
        // SO_REUSEPORT would also let this group join another process's (same user's)
        // reuse-port sockets on the port, silently splitting its traffic: fail as a plain bind
        // would if anything holds the port.
        drop(std::net::UdpSocket::bind(config.bind).map_err(bind_error)?);
    }
    let socket = bind_udp(config.bind, workers > 1).map_err(bind_error)?;
    let local_addr = socket.local_addr().map_err(bind_error)?;
    // One socket per worker on the same port (SO_REUSEPORT): the kernel hands each datagram
    // to exactly one of them, always the same one for a given sender, instead of waking every
    // worker for every datagram on one shared socket.
    let mut sockets = vec![socket];
    for _ in 1..workers {
        let more = if cfg!(target_os = "linux") {
            bind_udp(local_addr, true)
        } else {
            sockets[0].try_clone()
        };
        sockets.push(more.map_err(bind_error)?);
    }
    let mut advertised = config.advertised;
    if advertised.port() == 0 {
        advertised.set_port(local_addr.port());
    }
    let mut tcp_listener = None;
    let mut tcp_local_addr = None;
    let mut advertised_tcp = None;
    if let Some(tcp) = config.tcp {
        let listener = tcp::bind_tcp(tcp.bind, local_addr.port()).await?;
        let bound = listener.local_addr().map_err(|source| Error::Bind {
            addr: tcp.bind,
            source,
        })?;
        let port = if tcp.advertised_port == 0 {
            bound.port()
        } else {
            tcp.advertised_port
        };
        advertised_tcp = Some(SocketAddr::new(advertised.ip(), port));
        tcp_local_addr = Some(bound);
        tcp_listener = Some(listener);
    }
    let mut recv_buffer = 0;
    for socket in &sockets {
        recv_buffer = enlarge(socket2::SockRef::from(socket), SOCKET_BUFFER_BYTES);
    }
    let sfu_config = SfuConfig {
        advertised,
        advertised_tcp,
        loudest_audio: config.loudest_audio,
    };

    let directory = Arc::new(Directory::new(workers));
    let mut commands = Vec::with_capacity(workers);
    let mut tcp_queues = Vec::with_capacity(workers);
    let mut inboxes = Vec::with_capacity(workers);
    let mut parts = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (command_tx, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let (tcp_tx, tcp_rx) = mpsc::channel(tcp::TCP_RECV_QUEUE);
        let (inbox_tx, inbox_rx) = mpsc::channel(INBOUND_QUEUE);
        commands.push(command_tx);
        tcp_queues.push(tcp_tx);
        inboxes.push(inbox_tx);
        parts.push((command_rx, tcp_rx, inbox_rx));
    }
    let inboxes: Arc<[mpsc::Sender<Datagram>]> = inboxes.into();

    #[cfg(feature = "capture")]
    let capture = Arc::new(Mutex::new(capture::Sink::from_env()));

    let mut threads = Vec::with_capacity(workers);
    for (index, ((commands, tcp_events, inbox), socket)) in
        parts.into_iter().zip(sockets).enumerate()
    {
        let worker_error = |source| Error::Worker { source };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(worker_error)?;
        let udp = {
            let _entered = runtime.enter();
            let socket = UdpSocket::from_std(socket).map_err(worker_error)?;
            UdpIo::new(socket, config.udp_gso).map_err(worker_error)?
        };
        if index == 0 {
            tracing::info!(gso_segments = udp.max_segments(), "SFU UDP send offload");
        }
        let worker = Worker {
            index,
            workers,
            core: Sfu::new(sfu_config.clone())?,
            udp,
            outgoing: Vec::with_capacity(udp::SEND_BATCH),
            advertised,
            advertised_tcp,
            directory: directory.clone(),
            inboxes: inboxes.clone(),
            listeners: HashMap::new(),
            tcp: HashMap::new(),
            #[cfg(feature = "capture")]
            capture: capture.clone(),
        };
        let thread = std::thread::Builder::new()
            // Short enough for Linux (15 bytes); the port tells shells in one process apart.
            .name(format!("sfu-w{index}:{}", local_addr.port()))
            .spawn(move || runtime.block_on(worker.run(commands, inbox, tcp_events)))
            .map_err(worker_error)?;
        threads.push(thread);
    }
    if let Some(listener) = tcp_listener {
        tokio::spawn(tcp::accept_tcp(
            listener,
            directory.clone(),
            tcp_queues.into(),
        ));
        tracing::info!(tcp_local_addr = ?tcp_local_addr, "SFU listening for ICE-TCP");
    }
    tracing::info!(%local_addr, %advertised, recv_buffer, workers, "SFU listening");
    Ok(SfuHandle {
        control: Arc::new(Control {
            commands,
            threads: Mutex::new(threads),
        }),
        directory,
        local_addr,
        advertised,
        tcp_local_addr,
        recv_buffer,
    })
}

/// Asks the kernel for `bytes` of receive and send buffer on `socket`; returns the receive
/// buffer it granted (0 if it will not say). A refusal costs only headroom, so it is logged.
pub fn enlarge_buffers(socket: &UdpSocket, bytes: usize) -> usize {
    enlarge(socket2::SockRef::from(socket), bytes)
}

fn enlarge(sock: socket2::SockRef<'_>, bytes: usize) -> usize {
    if let Err(e) = sock.set_recv_buffer_size(bytes) {
        tracing::warn!("cannot enlarge the UDP receive buffer: {e}");
    }
    if let Err(e) = sock.set_send_buffer_size(bytes) {
        tracing::warn!("cannot enlarge the UDP send buffer: {e}");
    }
    sock.recv_buffer_size().unwrap_or(0)
}

/// Field-by-field sum of two workers' counters. Every field is named (no `..`), so a counter
/// added to [`SfuStats`] fails to compile here until it is summed too.
/// A non-blocking UDP socket bound to `addr`; with `reuse_port` (Linux), other sockets of
/// this process may bind the same port and share its datagrams by sender.
fn bind_udp(addr: SocketAddr, reuse_port: bool) -> std::io::Result<std::net::UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    #[cfg(target_os = "linux")]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    #[cfg(not(target_os = "linux"))]
    let _ = reuse_port;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

fn add_stats(a: SfuStats, b: SfuStats) -> SfuStats {
    SfuStats {
        rooms: a.rooms + b.rooms,
        peers: a.peers + b.peers,
        tracks: a.tracks + b.tracks,
        subscriptions: a.subscriptions + b.subscriptions,
        forwarded_packets: a.forwarded_packets + b.forwarded_packets,
        forwarded_bytes: a.forwarded_bytes + b.forwarded_bytes,
        dropped_datagrams: a.dropped_datagrams + b.dropped_datagrams,
        nacks_received: a.nacks_received + b.nacks_received,
        plis_received: a.plis_received + b.plis_received,
        firs_received: a.firs_received + b.firs_received,
        keyframe_requests_sent: a.keyframe_requests_sent + b.keyframe_requests_sent,
        rtc_polls: a.rtc_polls + b.rtc_polls,
        layer_switches: a.layer_switches + b.layer_switches,
        estimated_bitrate_bps: a.estimated_bitrate_bps + b.estimated_bitrate_bps,
        estimated_peers: a.estimated_peers + b.estimated_peers,
        audio_not_forwarded: a.audio_not_forwarded + b.audio_not_forwarded,
    }
}

impl SfuHandle {
    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address that goes into the SDP candidate.
    pub fn advertised_addr(&self) -> SocketAddr {
        self.advertised
    }

    /// The bound ICE-TCP address, if ICE-TCP is on.
    pub fn tcp_local_addr(&self) -> Option<SocketAddr> {
        self.tcp_local_addr
    }

    /// The socket's receive buffer as the kernel granted it, in bytes (see
    /// [`SOCKET_BUFFER_BYTES`]); 0 if unknown.
    pub fn recv_buffer_bytes(&self) -> usize {
        self.recv_buffer
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.control.commands.len()
    }

    /// The worker a peer is on (`0..workers()`), if it exists: for tests and diagnostics.
    pub fn worker_of(&self, peer: PeerId) -> Option<usize> {
        self.directory.worker_of(peer)
    }

    /// Remote UDP addresses currently routed to a worker (always 0 with one worker): for tests
    /// and diagnostics.
    pub fn routed_addresses(&self) -> usize {
        self.directory.route_count()
    }

    /// Creates the peer from the client's offer and returns the SDP answer. Events for this
    /// peer go to `events`. A new room goes to the least loaded worker, a known one to its
    /// worker.
    pub async fn add_peer(
        &self,
        room: RoomId,
        peer: PeerId,
        offer_sdp: String,
        events: mpsc::UnboundedSender<SfuEvent>,
    ) -> Result<String, Error> {
        let worker = self.directory.reserve(room, peer)?;
        // Until the worker has the command, the place is ours to give back (also if this
        // future is dropped); from then on the worker confirms or forgets it.
        let reservation = Reservation {
            directory: &self.directory,
            peer,
        };
        let (reply, rx) = oneshot::channel();
        self.send(
            worker,
            Command::AddPeer {
                room,
                peer,
                offer: offer_sdp,
                events,
                reply,
            },
        )
        .await?;
        std::mem::forget(reservation);
        rx.await.map_err(|_| Error::ShellStopped)?
    }

    /// Applies the client's answer to the last [`SfuEvent::Offer`] sent for this peer.
    pub async fn accept_answer(&self, peer: PeerId, answer_sdp: String) -> Result<(), Error> {
        self.call_peer(peer, |reply| Command::AcceptAnswer {
            peer,
            answer: answer_sdp,
            reply,
        })
        .await?
    }

    /// Applies a later offer made by the client (client-side renegotiation) and returns the
    /// answer. Voids an outstanding server offer; its changes are offered again afterwards.
    pub async fn accept_offer(&self, peer: PeerId, offer_sdp: String) -> Result<String, Error> {
        self.call_peer(peer, |reply| Command::AcceptOffer {
            peer,
            offer: offer_sdp,
            reply,
        })
        .await?
    }

    /// Removes the peer and stops forwarding its media. Idempotent; does nothing once the
    /// shell has stopped.
    pub async fn remove_peer(&self, peer: PeerId) {
        let _ = self
            .call_peer(peer, |reply| Command::RemovePeer { peer, reply })
            .await;
    }

    /// The size (device pixels) at which `subscriber` renders `publisher`'s video; `(0, 0)`:
    /// not visible. Chooses the simulcast layer forwarded (see [`Sfu::set_video_size`]). Both
    /// are in one room, hence on one worker.
    pub async fn set_video_size(
        &self,
        subscriber: PeerId,
        publisher: PeerId,
        width: u32,
        height: u32,
    ) -> Result<(), Error> {
        self.call_peer(subscriber, |reply| Command::SetVideoSize {
            subscriber,
            publisher,
            width,
            height,
            reply,
        })
        .await?
    }

    /// Counters: rooms, peers, tracks, forwarded packets and bytes, summed over the workers.
    /// All zero once the shell has stopped.
    pub async fn stats(&self) -> SfuStats {
        let mut total = SfuStats::default();
        for worker in 0..self.workers() {
            match self.call(worker, |reply| Command::Stats { reply }).await {
                Ok(stats) => total = add_stats(total, stats),
                Err(_) => return SfuStats::default(),
            }
        }
        total.dropped_datagrams += self.directory.unrouted.load(Ordering::Relaxed)
            + self.directory.overflow.load(Ordering::Relaxed);
        total
    }

    /// Whether every worker is alive and answering: a full round trip through each command
    /// queue, for readiness probes.
    pub async fn is_running(&self) -> bool {
        for worker in 0..self.workers() {
            if self
                .call(worker, |reply| Command::Stats { reply })
                .await
                .is_err()
            {
                return false;
            }
        }
        true
    }

    /// Stops the workers (all peers are dropped) and waits for their threads to end. Later
    /// calls fail with [`Error::ShellStopped`].
    pub async fn shutdown(&self) {
        for commands in &self.control.commands {
            let _ = commands.send(Command::Shutdown).await;
        }
        let threads = std::mem::take(
            &mut *self
                .control
                .threads
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if threads.is_empty() {
            return;
        }
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                if thread.join().is_err() {
                    tracing::error!("an SFU worker thread panicked");
                }
            }
        })
        .await;
        if joined.is_err() {
            tracing::error!("could not join the SFU worker threads");
        }
    }

    /// Sends a command about `peer` to the peer's worker and waits for the reply.
    async fn call_peer<T>(
        &self,
        peer: PeerId,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Error> {
        let worker = self
            .directory
            .worker_of(peer)
            .ok_or(Error::UnknownPeer(peer))?;
        self.call(worker, make).await
    }

    async fn call<T>(
        &self,
        worker: usize,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Error> {
        let (reply, rx) = oneshot::channel();
        self.send(worker, make(reply)).await?;
        rx.await.map_err(|_| Error::ShellStopped)
    }

    async fn send(&self, worker: usize, command: Command) -> Result<(), Error> {
        let queue = self
            .control
            .commands
            .get(worker)
            .ok_or(Error::ShellStopped)?;
        queue.send(command).await.map_err(|_| Error::ShellStopped)
    }
}

/// A peer's place reserved in the [`Directory`]; given back when dropped.
struct Reservation<'a> {
    directory: &'a Directory,
    peer: PeerId,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.directory.forget(self.peer);
    }
}

/// One worker thread's state: a core, its peers' event channels and ICE-TCP connections.
struct Worker {
    index: usize,
    workers: usize,
    core: Sfu,
    /// This worker's descriptor of the shared socket, registered with its runtime, with
    /// quinn-udp's state for batched reads and GSO sends.
    udp: UdpIo,
    /// Datagrams the core put out, sent together (`UdpIo::send_all`) when it has no more.
    outgoing: Vec<Outgoing>,
    advertised: SocketAddr,
    advertised_tcp: Option<SocketAddr>,
    directory: Arc<Directory>,
    /// Every worker's inbound queue, by index.
    inboxes: Arc<[mpsc::Sender<Datagram>]>,
    listeners: HashMap<PeerId, mpsc::UnboundedSender<SfuEvent>>,
    tcp: HashMap<SocketAddr, TcpConn>,
    #[cfg(feature = "capture")]
    capture: Arc<Mutex<capture::Sink>>,
}

impl Worker {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut inbox: mpsc::Receiver<Datagram>,
        mut tcp_events: mpsc::Receiver<TcpEvent>,
    ) {
        loop {
            let deadline = self.drain().await;
            #[cfg(feature = "capture")]
            {
                let frames = self.core.take_captured();
                if !frames.is_empty() {
                    self.capture
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .write(frames);
                }
            }

            tokio::select! {
                command = commands.recv() => {
                    let Some(command) = command else { break };
                    if !self.handle_command(command) {
                        break;
                    }
                }
                ready = self.udp.readable() => match ready {
                    // A burst (recvmmsg): every datagram into the core before the next drain,
                    // so that what it sends to one subscriber leaves as one GSO send.
                    Ok(()) => {
                        let mut burst = std::mem::take(&mut self.udp.burst);
                        self.udp.try_recv(&mut burst);
                        for (source, contents) in burst.datagrams() {
                            self.dispatch(source, contents);
                        }
                        self.udp.burst = burst;
                    }
                    Err(e) => tracing::debug!("UDP socket not readable: {e}"),
                },
                Some(datagram) = inbox.recv() => {
                    self.core.handle_receive(
                        Instant::now(),
                        datagram.source,
                        self.advertised,
                        &datagram.contents,
                    );
                }
                Some(event) = tcp_events.recv() => self.handle_tcp(event),
                () = tokio::time::sleep_until(deadline.into()) => {
                    self.core.handle_timeout(Instant::now());
                }
            }
        }
        tracing::info!(worker = self.index, "SFU worker stopped");
    }

    /// A datagram this worker read from the socket: into its own core, or to its owner.
    fn dispatch(&mut self, source: SocketAddr, contents: &[u8]) {
        // str0m needs the address the client sent to, i.e. the advertised one, not the bound
        // one (which may be 0.0.0.0).
        if self.workers == 1 {
            self.core
                .handle_receive(Instant::now(), source, self.advertised, contents);
            return;
        }
        match self.directory.route_udp(source, contents) {
            Some(w) if w == self.index => {
                self.core
                    .handle_receive(Instant::now(), source, self.advertised, contents);
            }
            Some(w) => {
                let Some(inbox) = self.inboxes.get(w) else {
                    return;
                };
                let datagram = Datagram {
                    source,
                    contents: contents.to_vec(),
                };
                if inbox.try_send(datagram).is_err() {
                    self.directory.overflow.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => tracing::trace!(%source, "dropping datagram from an unknown address"),
        }
    }

    fn handle_tcp(&mut self, event: TcpEvent) {
        match event {
            TcpEvent::Open { remote, frames } => {
                self.tcp.insert(
                    remote,
                    TcpConn {
                        frames,
                        accepted: false,
                    },
                );
            }
            TcpEvent::Frame { remote, bytes } => {
                let Some(local) = self.advertised_tcp else {
                    return;
                };
                let taken = self.core.handle_receive_on(
                    Instant::now(),
                    Transport::Tcp,
                    remote,
                    local,
                    &bytes,
                );
                if let Some(conn) = self.tcp.get_mut(&remote) {
                    if taken {
                        conn.accepted = true;
                    } else if !conn.accepted {
                        // Not a client of ours: dropping the sender closes the connection.
                        self.tcp.remove(&remote);
                    }
                }
            }
            TcpEvent::Closed { remote } => {
                self.tcp.remove(&remote);
            }
        }
    }

    /// Runs one command; returns false to stop the worker.
    fn handle_command(&mut self, command: Command) -> bool {
        let now = Instant::now();
        match command {
            Command::AddPeer {
                room,
                peer,
                offer,
                events,
                reply,
            } => {
                let result = self.core.add_peer(now, room, peer, &offer);
                match &result {
                    Ok(answer) => {
                        self.directory.confirm(peer, answer);
                        self.listeners.insert(peer, events);
                    }
                    Err(_) => self.directory.forget(peer),
                }
                let _ = reply.send(result);
            }
            Command::AcceptAnswer {
                peer,
                answer,
                reply,
            } => {
                let _ = reply.send(self.core.accept_answer(now, peer, &answer));
            }
            Command::AcceptOffer { peer, offer, reply } => {
                let _ = reply.send(self.core.accept_offer(now, peer, &offer));
            }
            Command::RemovePeer { peer, reply } => {
                self.core.remove_peer(now, peer);
                self.listeners.remove(&peer);
                self.directory.forget(peer);
                let _ = reply.send(());
            }
            Command::SetVideoSize {
                subscriber,
                publisher,
                width,
                height,
                reply,
            } => {
                let _ = reply.send(
                    self.core
                        .set_video_size(now, subscriber, publisher, width, height),
                );
            }
            Command::Stats { reply } => {
                let _ = reply.send(self.core.stats());
            }
            Command::Shutdown => return false,
        }
        true
    }

    /// Drains the core's output: sends datagrams, delivers events. Returns the next timeout.
    async fn drain(&mut self) -> Instant {
        loop {
            match self.core.poll_output(Instant::now()) {
                Output::Transmit(t) if t.transport == Transport::Tcp => {
                    // A full queue or a closed connection loses the datagram, as UDP may.
                    if let Some(conn) = self.tcp.get(&t.destination) {
                        let _ = conn.frames.try_send(t.contents);
                    }
                }
                Output::Transmit(t) => {
                    self.outgoing.push(Outgoing {
                        destination: t.destination,
                        contents: t.contents,
                    });
                    if self.outgoing.len() >= udp::SEND_BATCH {
                        self.flush().await;
                    }
                }
                Output::Event(peer, event) => {
                    let gone = event == SfuEvent::Disconnected;
                    if let Some(tx) = self.listeners.get(&peer) {
                        // The receiver may be gone (signalling closed); the caller then
                        // removes the peer itself.
                        let _ = tx.send(event);
                    }
                    if gone {
                        self.listeners.remove(&peer);
                        self.directory.forget(peer);
                    }
                }
                Output::Timeout(t) => {
                    self.flush().await;
                    return t;
                }
            }
        }
    }

    /// Sends the datagrams collected from the core, then gives their buffers back to it.
    async fn flush(&mut self) {
        if self.outgoing.is_empty() {
            return;
        }
        self.udp.send_all(&self.outgoing).await;
        for d in self.outgoing.drain(..) {
            // Sent (or lost, as UDP may): its buffer carries the next datagram.
            self.core.recycle(d.contents);
        }
    }
}

/// Test-only: writes captured frames as JSON lines to the file named by the environment
/// variable `CONFIDANT_SFU_CAPTURE` (feature `capture`).
#[cfg(feature = "capture")]
mod capture {
    use std::io::Write;

    use crate::core::CapturedFrame;
    use crate::MediaKind;

    /// Lines written at most, so a long test cannot fill the disk.
    const MAX_LINES: usize = 50_000;

    pub(super) struct Sink {
        file: Option<std::io::BufWriter<std::fs::File>>,
        lines: usize,
    }

    impl Sink {
        pub(super) fn from_env() -> Self {
            let file =
                std::env::var_os("CONFIDANT_SFU_CAPTURE").and_then(
                    |p| match std::fs::File::create(&p) {
                        Ok(f) => Some(std::io::BufWriter::new(f)),
                        Err(e) => {
                            tracing::warn!("cannot open the capture file: {e}");
                            None
                        }
                    },
                );
            if file.is_some() {
                tracing::warn!("test capture of forwarded frames is ON (test builds only)");
            }
            Self { file, lines: 0 }
        }

        pub(super) fn write(&mut self, frames: Vec<CapturedFrame>) {
            let Some(file) = self.file.as_mut() else {
                return;
            };
            if frames.is_empty() {
                return;
            }
            for f in frames {
                if self.lines >= MAX_LINES {
                    break;
                }
                let kind = match f.kind {
                    MediaKind::Audio => "audio",
                    MediaKind::Video => "video",
                };
                let head: String = f.head.iter().map(|b| format!("{b:02x}")).collect();
                // A mid comes from the peer's SDP: keep only token characters so a line stays JSON.
                let mid: String = f
                    .mid
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                let _ = writeln!(
                    file,
                    r#"{{"publisher":"{}","mid":"{}","kind":"{kind}","len":{},"head":"{head}"}}"#,
                    f.publisher, mid, f.len
                );
                self.lines += 1;
            }
            let _ = file.flush();
        }
    }
}
