//! The tokio shell over real loopback UDP sockets, with str0m clients on their own sockets.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::Client;
use confidant_sfu::{start, Error, MediaKind, PeerId, RoomId, SfuEvent, SfuHandle, ShellConfig};
use str0m::net::{Protocol, Receive};
use str0m::{Input, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Bound on the test loop: 4000 rounds of at most a few ms each.
const MAX_ROUNDS: usize = 4000;

struct NetClient {
    client: Client,
    socket: UdpSocket,
    events: mpsc::UnboundedReceiver<SfuEvent>,
    buf: Vec<u8>,
}

impl NetClient {
    async fn join(handle: &SfuHandle, id: u64, room: u64) -> NetClient {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
        let addr = socket.local_addr().expect("local addr");
        let (mut client, offer, pending) =
            Client::with_offer(id, room, addr, RtcConfig::new(), Instant::now());
        let (tx, events) = mpsc::unbounded_channel();
        let answer = handle
            .add_peer(RoomId(room), PeerId(id), offer, tx)
            .await
            .expect("SFU answers");
        client.accept_answer(pending, &answer);
        NetClient {
            client,
            socket,
            events,
            buf: vec![0; 2048],
        }
    }

    /// One round: signalling events, inbound datagrams, timers, media, outbound datagrams.
    async fn step(&mut self, handle: &SfuHandle, publish: bool) {
        while let Ok(event) = self.events.try_recv() {
            if let SfuEvent::Offer { sdp } = event {
                let answer = self.client.answer_offer(&sdp);
                handle
                    .accept_answer(self.client.id, answer)
                    .await
                    .expect("SFU accepts answer");
            }
        }
        let local = self.client.addr;
        while let Ok((n, source)) = self.socket.try_recv_from(&mut self.buf) {
            if let Ok(recv) = Receive::new(Protocol::Udp, source, local, &self.buf[..n]) {
                self.client
                    .rtc
                    .handle_input(Input::Receive(Instant::now(), recv))
                    .expect("client input");
            }
        }
        let now = Instant::now();
        self.client
            .rtc
            .handle_input(Input::Timeout(now))
            .expect("client timeout");
        if publish {
            self.client.send_frames(now);
        }
        loop {
            match self.client.rtc.poll_output().expect("client poll") {
                str0m::Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination).await;
                }
                str0m::Output::Event(e) => self.client.handle_event(Instant::now(), e),
                str0m::Output::Timeout(_) => break,
            }
        }
    }
}

/// Starts a shell, lets a publisher and a subscriber join, returns once media flowed.
async fn media_flows(bind: &str) -> SfuHandle {
    media_flows_with(bind, true).await
}

/// Like [`media_flows`], with UDP GSO allowed or not (`ShellConfig::udp_gso`).
async fn media_flows_with(bind: &str, udp_gso: bool) -> SfuHandle {
    let handle = start(ShellConfig {
        bind: bind.parse().expect("literal"),
        advertised: "127.0.0.1:0".parse().expect("literal"),
        tcp: None,
        workers: 0,
        loudest_audio: confidant_sfu::DEFAULT_LOUDEST_AUDIO,
        udp_gso,
    })
    .await
    .expect("shell starts");
    assert_ne!(handle.local_addr().port(), 0);
    assert_eq!(handle.advertised_addr().port(), handle.local_addr().port());
    assert_eq!(handle.advertised_addr().ip().to_string(), "127.0.0.1");

    let mut publisher = NetClient::join(&handle, 1, 7).await;
    let mut subscriber = NetClient::join(&handle, 2, 7).await;

    let mut done = false;
    for _ in 0..MAX_ROUNDS {
        publisher.step(&handle, true).await;
        subscriber.step(&handle, false).await;
        let s = &subscriber.client;
        if s.received_from(PeerId(1), MediaKind::Audio) > 5
            && s.received_from(PeerId(1), MediaKind::Video) > 5
        {
            done = true;
            break;
        }
        // Pace like a real sender (one audio frame per round, ~20 ms media per 5 ms here).
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        done,
        "subscriber receives the publisher's audio and video over UDP"
    );
    handle
}

#[tokio::test]
async fn shell_forwards_media_when_bound_to_all_interfaces() {
    // Bound to 0.0.0.0, advertising 127.0.0.1: datagrams must be fed to str0m with the
    // advertised address as destination or ICE never completes.
    let handle = media_flows("0.0.0.0:0").await;
    handle.shutdown().await;
}

#[tokio::test]
async fn shell_forwards_media_without_udp_gso() {
    // The fallback where the kernel has no GSO, forced: every datagram its own send.
    let handle = media_flows_with("127.0.0.1:0", false).await;
    assert!(handle.stats().await.forwarded_packets > 0);
    handle.shutdown().await;
}

#[tokio::test]
async fn shell_forwards_media_over_loopback() {
    let handle = media_flows("127.0.0.1:0").await;

    let stats = handle.stats().await;
    assert_eq!(stats.peers, 2);
    assert_eq!(stats.rooms, 1);
    assert!(stats.forwarded_packets > 0);

    handle.remove_peer(PeerId(1)).await;
    handle.remove_peer(PeerId(1)).await; // idempotent
    assert_eq!(handle.stats().await.peers, 1);
    assert!(matches!(
        handle.accept_answer(PeerId(1), "v=0".into()).await,
        Err(Error::UnknownPeer(_))
    ));

    handle.shutdown().await;
    // The driver stops; later calls report it.
    let mut stopped = false;
    for _ in 0..100 {
        let (tx, _rx) = mpsc::unbounded_channel();
        match handle
            .add_peer(RoomId(1), PeerId(9), "v=0".into(), tx)
            .await
        {
            Err(Error::ShellStopped) => {
                stopped = true;
                break;
            }
            _ => tokio::task::yield_now().await,
        }
    }
    assert!(stopped);
}

#[tokio::test]
async fn shell_socket_gets_a_larger_receive_buffer_than_the_default() {
    // A fresh socket has the kernel's default; the SFU's must hold more, or a busy room's
    // datagrams (STUN and DTLS among them) are dropped whenever the driver pauses.
    let fresh = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let default = socket2::SockRef::from(&fresh)
        .recv_buffer_size()
        .expect("buffer size");
    let handle = start(ShellConfig {
        bind: "127.0.0.1:0".parse().expect("literal address"),
        advertised: "127.0.0.1:0".parse().expect("literal address"),
        tcp: None,
        workers: 0,
        loudest_audio: confidant_sfu::DEFAULT_LOUDEST_AUDIO,
        udp_gso: true,
    })
    .await
    .expect("shell starts");
    assert!(
        handle.recv_buffer_bytes() > default,
        "granted {} bytes, default {default}",
        handle.recv_buffer_bytes()
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn shell_reports_bind_failure() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr: SocketAddr = taken.local_addr().expect("addr");
    let r = start(ShellConfig {
        bind: addr,
        advertised: addr,
        tcp: None,
        workers: 0,
        loudest_audio: confidant_sfu::DEFAULT_LOUDEST_AUDIO,
        udp_gso: true,
    })
    .await;
    assert!(matches!(r, Err(Error::Bind { .. })));
}

/// Workers share the port through SO_REUSEPORT, which would let a second server with
/// workers join the first one's port and split its traffic: it must fail to bind instead.
#[tokio::test]
async fn a_second_shell_with_workers_cannot_share_the_port() {
    let config = |addr: SocketAddr| ShellConfig {
        bind: addr,
        advertised: addr,
        tcp: None,
        workers: 3,
        loudest_audio: confidant_sfu::DEFAULT_LOUDEST_AUDIO,
        udp_gso: true,
    };
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr: SocketAddr = probe.local_addr().expect("addr");
    drop(probe);
    let first = start(config(addr)).await.expect("first shell binds");
    assert_eq!(first.local_addr(), addr);
    let second = start(config(addr)).await;
    assert!(
        matches!(second, Err(Error::Bind { .. })),
        "the port is taken"
    );
    first.shutdown().await;
}

/// The signalling layer awaits these inside axum handlers and spawned tasks: they must be Send,
/// and the handle must be shareable. Compiling this is the test.
#[allow(dead_code)]
fn handle_and_futures_are_send(handle: SfuHandle) {
    fn is_send<T: Send>(_: &T) {}
    fn is_send_sync<T: Send + Sync + Clone + 'static>(_: &T) {}
    is_send_sync(&handle);
    let (tx, _rx) = mpsc::unbounded_channel();
    is_send(&handle.add_peer(RoomId(1), PeerId(1), String::new(), tx));
    is_send(&handle.accept_answer(PeerId(1), String::new()));
    is_send(&handle.accept_offer(PeerId(1), String::new()));
    is_send(&handle.remove_peer(PeerId(1)));
    is_send(&handle.stats());
}

/// A subscriber whose network blocks UDP: it has only an active ICE-TCP candidate, connects to
/// the SFU's passive TCP candidate and exchanges RFC 4571 frames over one TCP connection.
struct TcpClient {
    client: Client,
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    events: mpsc::UnboundedReceiver<SfuEvent>,
    buf: Vec<u8>,
}

impl TcpClient {
    async fn join(handle: &SfuHandle, id: u64, room: u64) -> TcpClient {
        let remote = handle.tcp_local_addr().expect("ICE-TCP is on");
        let stream = tokio::net::TcpStream::connect(remote)
            .await
            .expect("connect over TCP");
        stream.set_nodelay(true).expect("nodelay");
        let local = stream.local_addr().expect("local addr");
        let candidate = str0m::Candidate::builder()
            .tcp()
            .host(local)
            .tcptype(str0m::net::TcpType::Active)
            .build()
            .expect("tcp candidate");
        let (mut client, offer, pending) =
            Client::with_offer_from(id, room, local, candidate, RtcConfig::new(), Instant::now());
        assert!(
            !offer.contains(" udp "),
            "the client offers no UDP candidate:\n{offer}"
        );
        let (tx, events) = mpsc::unbounded_channel();
        let answer = handle
            .add_peer(RoomId(room), PeerId(id), offer, tx)
            .await
            .expect("SFU answers");
        assert!(
            answer.to_ascii_lowercase().contains("tcptype passive"),
            "the SFU offers a passive TCP candidate:\n{answer}"
        );
        client.accept_answer(pending, &answer);
        TcpClient {
            client,
            stream,
            remote,
            events,
            buf: Vec::new(),
        }
    }

    async fn step(&mut self, handle: &SfuHandle) {
        use tokio::io::AsyncWriteExt;
        while let Ok(event) = self.events.try_recv() {
            if let SfuEvent::Offer { sdp } = event {
                let answer = self.client.answer_offer(&sdp);
                handle
                    .accept_answer(self.client.id, answer)
                    .await
                    .expect("SFU accepts answer");
            }
        }
        let local = self.client.addr;
        let mut chunk = [0u8; 8192];
        while let Ok(n) = self.stream.try_read(&mut chunk) {
            if n == 0 {
                panic!("the SFU closed the TCP connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        while self.buf.len() >= 2 {
            let len = usize::from(u16::from_be_bytes([self.buf[0], self.buf[1]]));
            if self.buf.len() < 2 + len {
                break;
            }
            let frame: Vec<u8> = self.buf.drain(..2 + len).skip(2).collect();
            if let Ok(recv) = Receive::new(Protocol::Tcp, self.remote, local, &frame) {
                self.client
                    .rtc
                    .handle_input(Input::Receive(Instant::now(), recv))
                    .expect("client input");
            }
        }
        let now = Instant::now();
        self.client
            .rtc
            .handle_input(Input::Timeout(now))
            .expect("client timeout");
        loop {
            match self.client.rtc.poll_output().expect("client poll") {
                str0m::Output::Transmit(t) => {
                    assert_eq!(t.proto, Protocol::Tcp, "nothing goes over UDP");
                    let len = u16::try_from(t.contents.len()).expect("datagram size");
                    let mut framed = len.to_be_bytes().to_vec();
                    framed.extend_from_slice(&t.contents);
                    self.stream.write_all(&framed).await.expect("write frame");
                }
                str0m::Output::Event(e) => self.client.handle_event(Instant::now(), e),
                str0m::Output::Timeout(_) => break,
            }
        }
    }
}

#[tokio::test]
async fn a_client_without_udp_gets_media_over_ice_tcp() {
    let handle = start(ShellConfig {
        bind: "127.0.0.1:0".parse().expect("literal"),
        advertised: "127.0.0.1:0".parse().expect("literal"),
        tcp: Some(confidant_sfu::TcpShellConfig {
            bind: "127.0.0.1:0".parse().expect("literal"),
            advertised_port: 0,
        }),
        workers: 0,
        loudest_audio: confidant_sfu::DEFAULT_LOUDEST_AUDIO,
        udp_gso: true,
    })
    .await
    .expect("shell starts");
    let tcp = handle.tcp_local_addr().expect("ICE-TCP is on");
    assert_ne!(tcp.port(), 0);

    let mut publisher = NetClient::join(&handle, 1, 7).await;
    let mut subscriber = TcpClient::join(&handle, 2, 7).await;
    let mut done = false;
    for _ in 0..MAX_ROUNDS {
        publisher.step(&handle, true).await;
        subscriber.step(&handle).await;
        let s = &subscriber.client;
        if s.received_from(PeerId(1), MediaKind::Audio) > 5
            && s.received_from(PeerId(1), MediaKind::Video) > 5
        {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        done,
        "the TCP-only subscriber receives the publisher's audio and video"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn a_tcp_connection_that_is_not_a_client_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let handle = start(ShellConfig {
        bind: "127.0.0.1:0".parse().expect("literal"),
        advertised: "127.0.0.1:0".parse().expect("literal"),
        tcp: Some(confidant_sfu::TcpShellConfig {
            bind: "127.0.0.1:0".parse().expect("literal"),
            advertised_port: 0,
        }),
        workers: 0,
        loudest_audio: confidant_sfu::DEFAULT_LOUDEST_AUDIO,
        udp_gso: true,
    })
    .await
    .expect("shell starts");
    let mut stream = tokio::net::TcpStream::connect(handle.tcp_local_addr().expect("on"))
        .await
        .expect("connect");
    // A well-framed frame that is not STUN for any peer.
    stream.write_all(&[0, 4, 1, 2, 3, 4]).await.expect("write");
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(n, Ok(0) | Err(_)), "the SFU closes it");
    // A frame longer than any datagram closes it too.
    let mut stream = tokio::net::TcpStream::connect(handle.tcp_local_addr().expect("on"))
        .await
        .expect("connect");
    stream.write_all(&[0xff, 0xff, 0]).await.expect("write");
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(n, Ok(0) | Err(_)));
    assert!(handle.is_running().await, "and keeps running");
    handle.shutdown().await;
}

// ---- Worker threads: rooms sharded over several cores on one UDP port. ----

async fn start_workers(workers: usize) -> SfuHandle {
    let handle = start(ShellConfig {
        bind: "127.0.0.1:0".parse().expect("literal"),
        advertised: "127.0.0.1:0".parse().expect("literal"),
        tcp: None,
        workers,
        loudest_audio: confidant_sfu::DEFAULT_LOUDEST_AUDIO,
        udp_gso: true,
    })
    .await
    .expect("shell starts");
    assert_eq!(handle.workers(), workers);
    handle
}

impl NetClient {
    /// Like [`NetClient::join`], on a socket that is already bound (and drained).
    async fn join_on(handle: &SfuHandle, id: u64, room: u64, socket: UdpSocket) -> NetClient {
        let mut buf = vec![0; 2048];
        while socket.try_recv_from(&mut buf).is_ok() {}
        let addr = socket.local_addr().expect("local addr");
        let (mut client, offer, pending) =
            Client::with_offer(id, room, addr, RtcConfig::new(), Instant::now());
        let (tx, events) = mpsc::unbounded_channel();
        let answer = handle
            .add_peer(RoomId(room), PeerId(id), offer, tx)
            .await
            .expect("SFU answers");
        client.accept_answer(pending, &answer);
        NetClient {
            client,
            socket,
            events,
            buf,
        }
    }
}

/// Steps every client (those in `publishers` send media) until `done`, or panics.
async fn run_until(
    handle: &SfuHandle,
    clients: &mut [NetClient],
    publishers: &[u64],
    what: &str,
    done: impl Fn(&[NetClient]) -> bool,
) {
    for _ in 0..MAX_ROUNDS {
        for c in clients.iter_mut() {
            let publish = publishers.contains(&c.client.id.0);
            c.step(handle, publish).await;
        }
        if done(clients) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting until {what}");
}

fn got_media(clients: &[NetClient], subscriber: u64, publisher: u64) -> bool {
    clients.iter().any(|c| {
        c.client.id == PeerId(subscriber)
            && c.client.received_from(PeerId(publisher), MediaKind::Audio) > 5
            && c.client.received_from(PeerId(publisher), MediaKind::Video) > 5
    })
}

#[tokio::test]
async fn rooms_on_different_workers_forward_at_the_same_time() {
    let handle = start_workers(3).await;
    // Rooms 1, 2, 3: publisher 10·room+1, subscriber 10·room+2.
    let mut clients = Vec::new();
    for room in 1..=3 {
        clients.push(NetClient::join(&handle, 10 * room + 1, room).await);
        clients.push(NetClient::join(&handle, 10 * room + 2, room).await);
    }
    let workers: Vec<usize> = (1..=3)
        .map(|room| {
            let w = handle.worker_of(PeerId(10 * room + 1)).expect("placed");
            assert_eq!(
                handle.worker_of(PeerId(10 * room + 2)),
                Some(w),
                "a room is on one worker"
            );
            w
        })
        .collect();
    let mut distinct = workers.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        3,
        "three new rooms go to three idle workers: {workers:?}"
    );

    run_until(
        &handle,
        &mut clients,
        &[11, 21, 31],
        "every room forwards",
        |c| got_media(c, 12, 11) && got_media(c, 22, 21) && got_media(c, 32, 31),
    )
    .await;
    for c in &clients {
        for other in [11, 21, 31] {
            if c.client.room.0 != other / 10 {
                assert_eq!(
                    c.client.received_from(PeerId(other), MediaKind::Audio),
                    0,
                    "no media crosses rooms"
                );
            }
        }
    }

    // A late joiner lands on its room's worker and gets the media.
    clients.push(NetClient::join(&handle, 23, 2).await);
    assert_eq!(handle.worker_of(PeerId(23)), Some(workers[1]));
    run_until(
        &handle,
        &mut clients,
        &[11, 21, 31],
        "the late joiner receives",
        |c| got_media(c, 23, 21),
    )
    .await;

    // Stats are the workers' sum.
    let stats = handle.stats().await;
    assert_eq!(stats.peers, 7);
    assert_eq!(stats.rooms, 3);
    assert!(stats.tracks >= 6, "two tracks per publisher: {stats:?}");
    assert!(stats.forwarded_packets > 0);
    assert_eq!(handle.routed_addresses(), 7, "one address per peer");
    handle.shutdown().await;
}

#[tokio::test]
async fn an_address_freed_by_a_removed_peer_serves_a_new_peer_on_another_worker() {
    let handle = start_workers(3).await;
    let mut clients = vec![
        NetClient::join(&handle, 1, 1).await,
        NetClient::join(&handle, 2, 1).await,
    ];
    run_until(&handle, &mut clients, &[1], "room 1 forwards", |c| {
        got_media(c, 2, 1)
    })
    .await;
    let first_worker = handle.worker_of(PeerId(1)).expect("placed");
    assert_eq!(handle.routed_addresses(), 2);

    handle.remove_peer(PeerId(1)).await;
    assert_eq!(handle.worker_of(PeerId(1)), None);
    assert_eq!(
        handle.routed_addresses(),
        1,
        "the removed peer's route is gone"
    );

    // Peer 3 (a new room, so another worker) reuses peer 1's socket and address.
    let old = clients.remove(0);
    let socket = old.socket;
    let reused = NetClient::join_on(&handle, 3, 2, socket).await;
    assert_ne!(handle.worker_of(PeerId(3)), Some(first_worker));
    clients.push(reused);
    clients.push(NetClient::join(&handle, 4, 2).await);
    run_until(
        &handle,
        &mut clients,
        &[3],
        "the new peer on the old address is forwarded",
        |c| got_media(c, 4, 3),
    )
    .await;
    assert_eq!(handle.routed_addresses(), 3);
    handle.shutdown().await;
}

#[tokio::test]
async fn garbage_and_stun_for_unknown_ufrags_from_unknown_addresses_are_dropped() {
    let handle = start_workers(3).await;
    let mut clients = vec![
        NetClient::join(&handle, 1, 1).await,
        NetClient::join(&handle, 2, 1).await,
    ];
    run_until(&handle, &mut clients, &[1], "room 1 forwards", |c| {
        got_media(c, 2, 1)
    })
    .await;
    let before = handle.stats().await.dropped_datagrams;

    let stranger = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let mut stun = vec![0x00, 0x01, 0x00, 0x10, 0x21, 0x12, 0xA4, 0x42];
    stun.extend_from_slice(&[9; 12]);
    stun.extend_from_slice(&[0x00, 0x06, 0x00, 0x0b]);
    stun.extend_from_slice(b"nobody:else\0");
    let garbage: [&[u8]; 5] = [&[], &[0xff; 3], &[0x80; 200], &stun, &stun[..24]];
    for g in garbage {
        stranger
            .send_to(g, handle.local_addr())
            .await
            .expect("send");
    }
    let mut dropped = before;
    for _ in 0..200 {
        dropped = handle.stats().await.dropped_datagrams;
        if dropped >= before + 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The empty datagram may not count (some stacks skip it); the other four do.
    assert!(dropped >= before + 4, "dropped {dropped}, before {before}");
    assert_eq!(handle.routed_addresses(), 2, "no route for the stranger");
    assert!(handle.is_running().await);
    // And the room keeps forwarding.
    let received = clients[1].client.received_from(PeerId(1), MediaKind::Audio);
    run_until(&handle, &mut clients, &[1], "room 1 still forwards", |c| {
        c[1].client.received_from(PeerId(1), MediaKind::Audio) > received + 5
    })
    .await;
    handle.shutdown().await;
}

/// Names of this process's threads that belong to the shell on `port`.
#[cfg(target_os = "linux")]
fn worker_threads(port: u16) -> Vec<String> {
    let suffix = format!(":{port}");
    std::fs::read_dir("/proc/self/task")
        .expect("procfs")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .filter(|n| n.starts_with("sfu-w") && n.ends_with(&suffix))
        .collect()
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn shutdown_stops_and_joins_every_worker_thread() {
    let handle = start_workers(3).await;
    let port = handle.local_addr().port();
    // A thread names itself once it runs: wait for that.
    for _ in 0..200 {
        if worker_threads(port).len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(worker_threads(port).len(), 3, "{:?}", worker_threads(port));
    assert!(handle.is_running().await);
    let mut client = NetClient::join(&handle, 1, 1).await;
    client.step(&handle, false).await;

    handle.shutdown().await;
    assert!(
        worker_threads(port).is_empty(),
        "threads joined: {:?}",
        worker_threads(port)
    );
    assert!(!handle.is_running().await);
    assert_eq!(handle.stats().await, Default::default());
    let (tx, _rx) = mpsc::unbounded_channel();
    assert!(matches!(
        handle
            .add_peer(RoomId(5), PeerId(5), "v=0".into(), tx)
            .await,
        Err(Error::ShellStopped)
    ));
    handle.shutdown().await; // twice is harmless
}

#[tokio::test]
async fn one_worker_forwards_and_routes_nothing() {
    let handle = start_workers(1).await;
    let mut clients = vec![
        NetClient::join(&handle, 1, 1).await,
        NetClient::join(&handle, 2, 2).await,
    ];
    clients.push(NetClient::join(&handle, 3, 1).await);
    run_until(&handle, &mut clients, &[1], "room 1 forwards", |c| {
        got_media(c, 3, 1)
    })
    .await;
    assert_eq!(
        handle.routed_addresses(),
        0,
        "no routing table with one worker"
    );
    assert_eq!(handle.stats().await.rooms, 2);
    handle.shutdown().await;
}
