//! The tokio shell: one UDP socket, an optional ICE-TCP listener, one driver task, an async
//! handle for the signalling layer.
//!
//! The driver task owns the [`Sfu`] core and the socket. It loops over a `select!` of socket
//! receive, the command channel fed by [`SfuHandle`], frames from ICE-TCP connections and a
//! sleep until the core's next timeout; after each it drains [`Sfu::poll_output`]. It stops
//! when every [`SfuHandle`] is dropped or on [`SfuHandle::shutdown`].
//!
//! ICE-TCP (RFC 6544, passive; framing RFC 4571) is the fallback for clients whose network
//! blocks UDP: one task per connection reads length-prefixed frames and hands them to the
//! driver, and writes what the core sends to that connection's remote address. A connection
//! whose first frame no peer accepts, that sends nothing for [`TCP_FIRST_FRAME_TIMEOUT`], or
//! that sends a frame longer than a datagram is closed; at most [`MAX_TCP_CONNECTIONS`] are
//! open at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use crate::core::{Output, Sfu, SfuConfig, SfuStats, Transport};
use crate::error::Error;
use crate::types::{PeerId, RoomId, SfuEvent};

/// Size of the receive buffer: above any sane WebRTC datagram (MTU ~1500). Longer datagrams are
/// truncated by the OS and then fail to authenticate, i.e. are dropped.
const RECV_BUFFER_SIZE: usize = 2048;

/// Commands queued to the driver task before callers wait (backpressure on signalling).
const COMMAND_QUEUE: usize = 256;

/// Most ICE-TCP connections open at once; further ones are closed at once.
pub const MAX_TCP_CONNECTIONS: usize = 1024;
/// An ICE-TCP connection must send its first frame (a STUN binding request) within this.
pub const TCP_FIRST_FRAME_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Frames queued towards one ICE-TCP connection; more are dropped (as UDP would lose them).
const TCP_SEND_QUEUE: usize = 512;
/// Frames from all ICE-TCP connections queued to the driver.
const TCP_RECV_QUEUE: usize = 1024;

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
}

/// ICE-TCP listener settings.
#[derive(Debug, Clone, Copy)]
pub struct TcpShellConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Port advertised in the TCP candidate (0: the bound port).
    pub advertised_port: u16,
}

/// What the ICE-TCP connection tasks tell the driver.
enum TcpEvent {
    Open {
        remote: SocketAddr,
        frames: mpsc::Sender<Vec<u8>>,
    },
    Frame {
        remote: SocketAddr,
        bytes: Vec<u8>,
    },
    Closed {
        remote: SocketAddr,
    },
}

/// An open ICE-TCP connection, as the driver sees it.
struct TcpConn {
    frames: mpsc::Sender<Vec<u8>>,
    /// A peer took one of its frames.
    accepted: bool,
}

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

/// Cheap, cloneable handle to a running SFU shell.
#[derive(Clone, Debug)]
pub struct SfuHandle {
    commands: mpsc::Sender<Command>,
    local_addr: SocketAddr,
    advertised: SocketAddr,
    tcp_local_addr: Option<SocketAddr>,
    recv_buffer: usize,
}

/// Binds the UDP socket (and the ICE-TCP listener) and spawns the driver task on the current
/// tokio runtime.
pub async fn start(config: ShellConfig) -> Result<SfuHandle, Error> {
    let socket = UdpSocket::bind(config.bind)
        .await
        .map_err(|source| Error::Bind {
            addr: config.bind,
            source,
        })?;
    let local_addr = socket.local_addr().map_err(|source| Error::Bind {
        addr: config.bind,
        source,
    })?;
    let mut advertised = config.advertised;
    if advertised.port() == 0 {
        advertised.set_port(local_addr.port());
    }
    let (tcp_tx, tcp_rx) = mpsc::channel(TCP_RECV_QUEUE);
    let mut tcp_local_addr = None;
    let mut advertised_tcp = None;
    if let Some(tcp) = config.tcp {
        let listener = bind_tcp(tcp.bind, local_addr.port()).await?;
        let bound = listener.local_addr().map_err(|source| Error::Bind { addr: tcp.bind, source })?;
        let port = if tcp.advertised_port == 0 { bound.port() } else { tcp.advertised_port };
        advertised_tcp = Some(SocketAddr::new(advertised.ip(), port));
        tcp_local_addr = Some(bound);
        tokio::spawn(accept_tcp(listener, tcp_tx.clone()));
        tracing::info!(tcp_local_addr = %bound, "SFU listening for ICE-TCP");
    }
    let core = Sfu::new(SfuConfig { advertised, advertised_tcp })?;
    let recv_buffer = enlarge_buffers(&socket, SOCKET_BUFFER_BYTES);

    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    tokio::spawn(drive(core, socket, advertised, advertised_tcp, rx, tcp_rx));
    tracing::info!(%local_addr, %advertised, recv_buffer, "SFU listening");
    Ok(SfuHandle {
        commands: tx,
        local_addr,
        advertised,
        tcp_local_addr,
        recv_buffer,
    })
}

/// Binds the ICE-TCP listener; port 0 means the UDP port's number, or any if it is taken.
async fn bind_tcp(bind: SocketAddr, udp_port: u16) -> Result<TcpListener, Error> {
    if bind.port() == 0 {
        if let Ok(l) = TcpListener::bind(SocketAddr::new(bind.ip(), udp_port)).await {
            return Ok(l);
        }
    }
    TcpListener::bind(bind).await.map_err(|source| Error::Bind { addr: bind, source })
}

/// Accepts ICE-TCP connections until the driver is gone.
async fn accept_tcp(listener: TcpListener, events: mpsc::Sender<TcpEvent>) {
    let open = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!("ICE-TCP accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if events.is_closed() {
            return;
        }
        if open.load(std::sync::atomic::Ordering::Relaxed) >= MAX_TCP_CONNECTIONS {
            tracing::debug!("too many ICE-TCP connections: closing a new one");
            continue;
        }
        let _ = stream.set_nodelay(true);
        open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (events, open) = (events.clone(), open.clone());
        tokio::spawn(async move {
            serve_tcp(stream, remote, events.clone()).await;
            let _ = events.send(TcpEvent::Closed { remote }).await;
            open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        });
    }
}

/// Takes complete RFC 4571 frames (16-bit big-endian length, then the datagram) off the front
/// of `buf`. `Err` for a frame longer than a datagram can be.
fn take_frames(buf: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) -> Result<(), ()> {
    let mut at = 0;
    while let Some(head) = buf.get(at..at + 2) {
        let len = usize::from(u16::from_be_bytes([head[0], head[1]]));
        if len > RECV_BUFFER_SIZE {
            return Err(());
        }
        let Some(frame) = buf.get(at + 2..at + 2 + len) else { break };
        out.push(frame.to_vec());
        at += 2 + len;
    }
    buf.drain(..at);
    Ok(())
}

/// One ICE-TCP connection: frames in to the driver, frames out from it.
async fn serve_tcp(mut stream: TcpStream, remote: SocketAddr, events: mpsc::Sender<TcpEvent>) {
    let (tx, mut outgoing) = mpsc::channel::<Vec<u8>>(TCP_SEND_QUEUE);
    if events.send(TcpEvent::Open { remote, frames: tx }).await.is_err() {
        return;
    }
    let mut buf = Vec::with_capacity(4 * RECV_BUFFER_SIZE);
    let mut chunk = vec![0u8; 4 * RECV_BUFFER_SIZE];
    let mut frames = Vec::new();
    let mut seen_frame = false;
    let first_deadline = tokio::time::Instant::now() + TCP_FIRST_FRAME_TIMEOUT;
    loop {
        tokio::select! {
            read = stream.read(&mut chunk) => {
                let n = match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                if take_frames(&mut buf, &mut frames).is_err() {
                    tracing::debug!("ICE-TCP frame too long: closing");
                    return;
                }
                for bytes in frames.drain(..) {
                    seen_frame = true;
                    if events.send(TcpEvent::Frame { remote, bytes }).await.is_err() {
                        return;
                    }
                }
            }
            out = outgoing.recv() => {
                // None: the driver closed this connection.
                let Some(bytes) = out else { return };
                let Ok(len) = u16::try_from(bytes.len()) else { continue };
                let mut framed = Vec::with_capacity(bytes.len() + 2);
                framed.extend_from_slice(&len.to_be_bytes());
                framed.extend_from_slice(&bytes);
                if stream.write_all(&framed).await.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep_until(first_deadline), if !seen_frame => {
                tracing::debug!("ICE-TCP connection sent nothing: closing");
                return;
            }
        }
    }
}

/// Asks the kernel for `bytes` of receive and send buffer on `socket`; returns the receive
/// buffer it granted (0 if it will not say). A refusal costs only headroom, so it is logged.
pub fn enlarge_buffers(socket: &UdpSocket, bytes: usize) -> usize {
    let sock = socket2::SockRef::from(socket);
    if let Err(e) = sock.set_recv_buffer_size(bytes) {
        tracing::warn!("cannot enlarge the UDP receive buffer: {e}");
    }
    if let Err(e) = sock.set_send_buffer_size(bytes) {
        tracing::warn!("cannot enlarge the UDP send buffer: {e}");
    }
    sock.recv_buffer_size().unwrap_or(0)
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

    /// Creates the peer from the client's offer and returns the SDP answer. Events for this
    /// peer go to `events`.
    pub async fn add_peer(
        &self,
        room: RoomId,
        peer: PeerId,
        offer_sdp: String,
        events: mpsc::UnboundedSender<SfuEvent>,
    ) -> Result<String, Error> {
        self.call(|reply| Command::AddPeer {
            room,
            peer,
            offer: offer_sdp,
            events,
            reply,
        })
        .await?
    }

    /// Applies the client's answer to the last [`SfuEvent::Offer`] sent for this peer.
    pub async fn accept_answer(&self, peer: PeerId, answer_sdp: String) -> Result<(), Error> {
        self.call(|reply| Command::AcceptAnswer {
            peer,
            answer: answer_sdp,
            reply,
        })
        .await?
    }

    /// Applies a later offer made by the client (client-side renegotiation) and returns the
    /// answer. Voids an outstanding server offer; its changes are offered again afterwards.
    pub async fn accept_offer(&self, peer: PeerId, offer_sdp: String) -> Result<String, Error> {
        self.call(|reply| Command::AcceptOffer {
            peer,
            offer: offer_sdp,
            reply,
        })
        .await?
    }

    /// Removes the peer and stops forwarding its media. Idempotent; does nothing once the
    /// shell has stopped.
    pub async fn remove_peer(&self, peer: PeerId) {
        let _ = self.call(|reply| Command::RemovePeer { peer, reply }).await;
    }

    /// The size (device pixels) at which `subscriber` renders `publisher`'s video; `(0, 0)`:
    /// not visible. Chooses the simulcast layer forwarded (see [`Sfu::set_video_size`]).
    pub async fn set_video_size(
        &self,
        subscriber: PeerId,
        publisher: PeerId,
        width: u32,
        height: u32,
    ) -> Result<(), Error> {
        self.call(|reply| Command::SetVideoSize {
            subscriber,
            publisher,
            width,
            height,
            reply,
        })
        .await?
    }

    /// Counters: rooms, peers, tracks, forwarded samples and bytes. All zero once the shell has
    /// stopped.
    pub async fn stats(&self) -> SfuStats {
        self.call(|reply| Command::Stats { reply })
            .await
            .unwrap_or_default()
    }

    /// Whether the driver task is alive and answering: a full round trip through its command
    /// queue, for readiness probes.
    pub async fn is_running(&self) -> bool {
        self.call(|reply| Command::Stats { reply }).await.is_ok()
    }

    /// Stops the driver task (all peers are dropped). Later calls fail with
    /// [`Error::ShellStopped`].
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Error> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| Error::ShellStopped)?;
        rx.await.map_err(|_| Error::ShellStopped)
    }
}

/// The driver task.
async fn drive(
    mut core: Sfu,
    socket: UdpSocket,
    advertised: SocketAddr,
    advertised_tcp: Option<SocketAddr>,
    mut commands: mpsc::Receiver<Command>,
    mut tcp_events: mpsc::Receiver<TcpEvent>,
) {
    let mut buf = vec![0u8; RECV_BUFFER_SIZE];
    let mut listeners: HashMap<PeerId, mpsc::UnboundedSender<SfuEvent>> = HashMap::new();
    let mut tcp: HashMap<SocketAddr, TcpConn> = HashMap::new();

    #[cfg(feature = "capture")]
    let mut capture = capture::Sink::from_env();

    loop {
        let deadline = drain(&mut core, &socket, &mut tcp, &mut listeners).await;
        #[cfg(feature = "capture")]
        capture.write(core.take_captured());

        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else { break };
                if !handle_command(&mut core, &mut listeners, command) {
                    break;
                }
            }
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, source)) => {
                    // str0m needs the address the client sent to, i.e. the advertised one, not
                    // the bound one (which may be 0.0.0.0).
                    let contents = buf.get(..n).unwrap_or_default();
                    core.handle_receive(Instant::now(), source, advertised, contents);
                }
                Err(e) => tracing::debug!("UDP receive failed: {e}"),
            },
            Some(event) = tcp_events.recv() => match event {
                TcpEvent::Open { remote, frames } => {
                    tcp.insert(remote, TcpConn { frames, accepted: false });
                }
                TcpEvent::Frame { remote, bytes } => {
                    let Some(local) = advertised_tcp else { continue };
                    let taken = core.handle_receive_on(Instant::now(), Transport::Tcp, remote, local, &bytes);
                    if let Some(conn) = tcp.get_mut(&remote) {
                        if taken {
                            conn.accepted = true;
                        } else if !conn.accepted {
                            // Not a client of ours: dropping the sender closes the connection.
                            tcp.remove(&remote);
                        }
                    }
                }
                TcpEvent::Closed { remote } => {
                    tcp.remove(&remote);
                }
            },
            () = tokio::time::sleep_until(deadline.into()) => {
                core.handle_timeout(Instant::now());
            }
        }
    }
    tracing::info!("SFU shell stopped");
}

/// Runs one command; returns false to stop the driver.
fn handle_command(
    core: &mut Sfu,
    listeners: &mut HashMap<PeerId, mpsc::UnboundedSender<SfuEvent>>,
    command: Command,
) -> bool {
    let now = Instant::now();
    match command {
        Command::AddPeer {
            room,
            peer,
            offer,
            events,
            reply,
        } => {
            let result = core.add_peer(now, room, peer, &offer);
            if result.is_ok() {
                listeners.insert(peer, events);
            }
            let _ = reply.send(result);
        }
        Command::AcceptAnswer {
            peer,
            answer,
            reply,
        } => {
            let _ = reply.send(core.accept_answer(now, peer, &answer));
        }
        Command::AcceptOffer { peer, offer, reply } => {
            let _ = reply.send(core.accept_offer(now, peer, &offer));
        }
        Command::RemovePeer { peer, reply } => {
            core.remove_peer(now, peer);
            listeners.remove(&peer);
            let _ = reply.send(());
        }
        Command::SetVideoSize {
            subscriber,
            publisher,
            width,
            height,
            reply,
        } => {
            let _ = reply.send(core.set_video_size(now, subscriber, publisher, width, height));
        }
        Command::Stats { reply } => {
            let _ = reply.send(core.stats());
        }
        Command::Shutdown => return false,
    }
    true
}

/// Drains the core's output: sends datagrams, delivers events. Returns the next timeout.
async fn drain(
    core: &mut Sfu,
    socket: &UdpSocket,
    tcp: &mut HashMap<SocketAddr, TcpConn>,
    listeners: &mut HashMap<PeerId, mpsc::UnboundedSender<SfuEvent>>,
) -> Instant {
    loop {
        match core.poll_output(Instant::now()) {
            Output::Transmit(t) if t.transport == Transport::Tcp => {
                // A full queue or a closed connection loses the datagram, as UDP may.
                if let Some(conn) = tcp.get(&t.destination) {
                    let _ = conn.frames.try_send(t.contents);
                }
            }
            Output::Transmit(t) => {
                if let Err(e) = socket.send_to(&t.contents, t.destination).await {
                    tracing::debug!("UDP send failed: {e}");
                }
            }
            Output::Event(peer, event) => {
                let gone = event == SfuEvent::Disconnected;
                if let Some(tx) = listeners.get(&peer) {
                    // The receiver may be gone (signalling closed); the caller then removes
                    // the peer itself.
                    let _ = tx.send(event);
                }
                if gone {
                    listeners.remove(&peer);
                }
            }
            Output::Timeout(t) => return t,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_at_their_length_prefix_and_partial_ones_wait() {
        let mut buf = vec![0, 3, b'a', b'b', b'c', 0, 0, 0, 2, b'x'];
        let mut out = Vec::new();
        take_frames(&mut buf, &mut out).unwrap();
        assert_eq!(out, vec![b"abc".to_vec(), Vec::new()]);
        assert_eq!(buf, vec![0, 2, b'x']);
        buf.push(b'y');
        buf.push(0);
        take_frames(&mut buf, &mut out).unwrap();
        assert_eq!(out.last().unwrap(), b"xy");
        assert_eq!(buf, vec![0]);
    }

    #[test]
    fn a_frame_longer_than_a_datagram_is_refused() {
        let len = u16::try_from(RECV_BUFFER_SIZE + 1).unwrap().to_be_bytes();
        let mut buf = vec![len[0], len[1], 1, 2, 3];
        assert!(take_frames(&mut buf, &mut Vec::new()).is_err());
    }
}
