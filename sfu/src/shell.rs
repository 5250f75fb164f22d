//! The tokio shell: one UDP socket, one driver task, an async handle for the signalling layer.
//!
//! The driver task owns the [`Sfu`] core and the socket. It loops over a `select!` of socket
//! receive, the command channel fed by [`SfuHandle`], and a sleep until the core's next
//! timeout; after each it drains [`Sfu::poll_output`]. It stops when every [`SfuHandle`] is
//! dropped or on [`SfuHandle::shutdown`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::core::{Output, Sfu, SfuConfig, SfuStats};
use crate::error::Error;
use crate::types::{PeerId, RoomId, SfuEvent};

/// Size of the receive buffer: above any sane WebRTC datagram (MTU ~1500). Longer datagrams are
/// truncated by the OS and then fail to authenticate, i.e. are dropped.
const RECV_BUFFER_SIZE: usize = 2048;

/// Commands queued to the driver task before callers wait (backpressure on signalling).
const COMMAND_QUEUE: usize = 256;

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
    /// Address put into the SDP as the only ICE host candidate; must be a concrete IP reachable
    /// by clients. Port 0 means "the bound port".
    pub advertised: SocketAddr,
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
    recv_buffer: usize,
}

/// Binds the UDP socket and spawns the driver task on the current tokio runtime.
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
    let core = Sfu::new(SfuConfig { advertised })?;
    let recv_buffer = enlarge_buffers(&socket, SOCKET_BUFFER_BYTES);

    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    tokio::spawn(drive(core, socket, advertised, rx));
    tracing::info!(%local_addr, %advertised, recv_buffer, "SFU listening");
    Ok(SfuHandle {
        commands: tx,
        local_addr,
        advertised,
        recv_buffer,
    })
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
    mut commands: mpsc::Receiver<Command>,
) {
    let mut buf = vec![0u8; RECV_BUFFER_SIZE];
    let mut listeners: HashMap<PeerId, mpsc::UnboundedSender<SfuEvent>> = HashMap::new();

    #[cfg(feature = "capture")]
    let mut capture = capture::Sink::from_env();

    loop {
        let deadline = drain(&mut core, &socket, &mut listeners).await;
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
    listeners: &mut HashMap<PeerId, mpsc::UnboundedSender<SfuEvent>>,
) -> Instant {
    loop {
        match core.poll_output(Instant::now()) {
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
