//! `confidant-loadgen`: a load generator for Confidant's SFU that goes through everything a
//! browser goes through.
//!
//! # What it does
//!
//! It logs in once as a counsellor (`POST /api/auth/login`), creates one session per room
//! (`POST /api/sessions`), takes a host token (`POST /api/sessions/{id}/host-token`) and joins
//! every room as its host over the signalling websocket. The host admits every client that
//! knocks, paced at 15 messages/s (the server allows 20/s, bursts of 60). Each simulated
//! participant then does what the browser client does: open `/ws`, `knock` with the join link
//! (`e2ee: true`), wait for `admitted`, `join`, send its first SDP offer (audio and video
//! `sendonly` for publishers; one `recvonly` audio m-line for receive-only subscribers),
//! apply the SFU's answer, answer every server `offer`, `ping` every 15 s, and finally `leave`.
//! Media goes over real ICE (str0m, full ICE, controlling, one host candidate on 127.0.0.1
//! per participant), DTLS and SRTP to the SFU's UDP port.
//!
//! Every participant is a `str0m::Rtc` driven sans-IO by one tokio task that owns its UDP
//! socket and its websocket; a multi-threaded tokio runtime (`--threads`, default 2) runs all
//! tasks. The participant is one type (see [`participant`]) over a transport: the server's
//! signalling and SFU, or Janus (below). All simulated clients share one DTLS certificate, as the SFU does, so joining costs
//! no key generation.
//!
//! # Media
//!
//! Publishers use str0m's frame API (`Writer::write`): Opus-shaped audio, one 80–160-byte
//! frame every 20 ms with the RFC 6464 audio level set (-30 dBov; with `--talkers K` only the
//! first K publishers of a room talk and the others send silence, -127, whose audio is then
//! neither waited for nor counted for loss, since an SFU that forwards only the loudest voices
//! drops it; `audio50` has 3 talkers), and VP8-shaped video at `--fps` with
//! an average of `--video-kbps` (keyframes, sent first and on every PLI/FIR, are 4× the
//! average frame). Frames begin like real VP8/Opus frames (see [`payload`]), followed by a
//! stamp: publisher id, kind, sequence number on the track, send time (nanoseconds on the
//! generator's monotonic clock) and whether the frame was sent inside the measurement window.
//! The SFU cannot read payloads anyway (they are end-to-end encrypted in real calls); it
//! depacketizes and repacketizes the VP8 frames, which is why they must be VP8-shaped.
//!
//! With `--simulcast` a publisher's video m-line offers three send RIDs (`a=simulcast:send
//! q;h;f`) and every frame time goes out on up to three layers through `Writer::rid`: `q`
//! (320×180, 1/10 of `--video-kbps`, half of `--fps`), `h` (640×360, 3/10, `--fps`) and `f`
//! (1280×720, 6/10, `--fps`). Each layer numbers its frames itself, starts with a keyframe,
//! and sends a keyframe when the SFU asks for one *on that RID* (`Event::KeyframeRequest`'s
//! `rid`), so the SFU can switch a receiver at a keyframe of the target layer. Keyframes, and
//! one frame a second, carry the video-layers-allocation header extension with all three
//! layers' resolutions, which is how the SFU matches layers to rendered sizes. The stamp's
//! kind byte carries the layer (see [`payload`]), so receivers know which layer they got.
//! `--view-height H` makes every receiver send `video_size` (H × 16/9 by H) for each publisher
//! whose video it is offered (from the SFU's offers' `a=msid` and from `track_published`).
//!
//! # Phases
//!
//! Publishers join first; once they are connected the receive-only subscribers join. When
//! every participant receives a frame from every track it should (or `--setup-timeout`
//! passes), `--warmup` seconds of media follow, then the measurement window of `--duration`
//! seconds. After it, media continues for one more second so frames sent inside the window
//! can arrive, then publishing stops, everyone sends `leave`, the hosts leave, and the
//! sessions are ended over HTTP. Finally `/metrics` must show zero participants, lobby clients
//! and SFU peers, and `/healthz` must answer.
//!
//! # What is measured, and how
//!
//! * **Forwarded packets** (`forwarded_pps`, `packets_received`): RTP datagrams that arrive at
//!   the receivers' UDP sockets from the SFU while the window is open, recognised by their
//!   first two bytes (RFC 7983 / RFC 5761: first byte 128–191, second byte not an RTCP type)
//!   before decryption. This is exactly what the SFU sent as RTP, retransmissions included.
//!   `forwarded_mbps` is the same datagrams' UDP payload bytes (SRTP, RTP header, media).
//!   The SFU forwards whole frames (str0m's frame API) and repacketizes them for each
//!   receiver, so packets are counted where they arrive rather than derived from frames.
//!   `packets_sent` counts the publishers' outgoing RTP datagrams the same way;
//!   `expected_packets` is each publisher's `packets_sent` times its receivers, an estimate of
//!   what a lossless SFU forwards (it packetizes with the same str0m and MTU, but may differ
//!   by a few packets).
//! * **Loss** (`loss_ratio`): by frames, exactly. The publisher marks each frame sent while
//!   the window is open (`in_window`), so publisher and receivers agree on the set.
//!   `frames_expected` is the window frames of every publisher track times the receivers of
//!   that track (everyone else in the room, including participants that failed to join, so
//!   failures show up as loss); `frames_received` counts the window frames that arrived.
//!   For churn, where clients stay only briefly, loss is the gaps in the sequence numbers
//!   between the first and the last frame each client received.
//! * **Simulcast** (`layers`, `layer_switches`, `final_layers`): the SFU forwards one layer per
//!   receiver, so summing all layers' window frames would overstate what a receiver should
//!   get threefold. Instead each receiver tracks, per publisher, the stretches of the window
//!   it was forwarded one layer, and expects every window frame of that layer inside each
//!   stretch, widened to the window's edges where it stayed on the layer (see [`simulcast`]
//!   for the exact rule and its one blind spot: frames right at a switch). `frames_expected`
//!   and `frames_received` add up these per-layer counts (audio as before); `frames_sent`
//!   counts every layer's frames. Per layer, `layers.{q,h,f}` gives frames sent, expected and
//!   received (which layer receivers got), loss, latency and the packets sent on the layer's
//!   SSRC; `expected_packets` counts each expected frame with its layer's packets per frame.
//!   `layer_switches` are the layer changes all receivers saw over the run
//!   (`layer_switches_in_window` inside the window), `final_layers` the layer each
//!   (receiver, publisher) pair ended on.
//! * **Latency** (`latency_ms_p50/p99/p999/max`): receive time (when str0m hands the
//!   reassembled frame to the receiver) minus the stamped send time (just before
//!   `Writer::write`), for window frames, in an HDR histogram (1 µs – 60 s, 3 significant
//!   digits). Both clocks are the same process's monotonic clock. It is the one-way latency
//!   publisher → SFU → receiver through loopback, including the generator's own scheduling
//!   and str0m's packetizing on both ends; on loopback the network adds nothing, so it is the
//!   latency the server adds plus the generator's overhead (see `loadgen_cpu_seconds`).
//! * **Join time** (`join_ms_*`): from sending `knock` to ICE + DTLS connected, per
//!   participant. It includes waiting for the host's paced `admit`.
//! * **Time to first frame** (`time_to_first_frame_ms_*`): from `knock` to the first media
//!   frame received, per participant that receives anything.
//! * **Where a join's time goes** (`admit_ms_*`, `ready_ms_*`, `leave_ms_*`): from `knock` to
//!   `admitted` (the lobby and the host's paced `admit`), from `knock` to connected with a
//!   frame of every expected track (a video track's first frame waits for a keyframe, which
//!   the SFU asks the publisher for at most every `KEYFRAME_REQUEST_MIN_INTERVAL`, 500 ms),
//!   and from sending `leave` to the server closing the websocket.
//! * **Server CPU and memory**: with `--sfu-pid` (or `--sfu-pid-file`), `/proc/PID/stat`
//!   fields 14 + 15 (utime + stime, divided by `sysconf(_SC_CLK_TCK)`) read at the start and
//!   the end of the window give `sfu_cpu_seconds`; `pps_per_cpu_second` is
//!   `packets_received / sfu_cpu_seconds`. `sfu_rss_bytes` is `VmRSS` from
//!   `/proc/PID/status` at the end of the window (`VmHWM` as the peak). This is the whole
//!   `confidant` process: SFU, signalling and HTTP.
//! * **Generator health**: `loadgen_cpu_seconds` (its own CPU time in the window) and
//!   `late_frames` (frames publishers skipped because they fell more than 200 ms behind
//!   schedule). If either is high, the generator, not the server, limits the numbers.
//! * **Kernel drops** (`udp_rcvbuf_drops`): `RcvbufErrors` from `/proc/net/snmp`, from the
//!   run's start to the window's end, machine-wide: datagrams (media, STUN, DTLS) the kernel
//!   threw away because a socket's receive buffer was full, i.e. the server or the generator
//!   fell behind. Every socket here asks for [`shared::SOCKET_BUFFER_BYTES`].
//!
//! Churn (`--scenario churn`) keeps one resident publisher per room and lets
//! `--churn-parallel` clients per room each knock, join, connect, wait until they received
//! every resident track, and leave, until `--cycles` cycles are done or `--duration` passes.
//! The window is the whole churn phase. Two things bound the cycles per second of one room:
//! its host admits at most [`signal::SEND_RATE`] clients a second (one `admit` message each,
//! under the server's per-connection message limit), and a joining client's video waits for
//! the publisher's next keyframe, which the SFU requests at most every 500 ms, so each room
//! completes about `--churn-parallel` cycles per 500 ms at best (clients that wait together
//! share a keyframe). Hence the defaults, 4 rooms of 8 clients each.
//!
//! The cycles run in tenths; after each, once every churning client is gone, the server's
//! RSS is read (`sfu_rss_by_tenth`, with `cycles_by_tenth`). The first tenth is the warm-up:
//! RSS grows there for reasons that have nothing to do with what cycles leave behind
//! (allocator arenas, caches, the runtime's threads, the database's page cache), so the
//! growth from `sfu_rss_warm_bytes` to `sfu_rss_bytes` (the end) is the one that tells a leak;
//! the growth from `sfu_rss_before_bytes` (before anyone joined) is reported beside it.
//!
//! # The baseline
//!
//! `confidant-loadgen relay` runs a plain UDP relay (see [`relay`]) and `--raw-relay ADDR`
//! sends the same frames, on the same schedule, between the same participants through it
//! (see [`raw`]): cut into RTP-shaped datagrams of the size str0m makes, copied verbatim by
//! the relay to the other members of the room, reassembled and counted by the receivers
//! exactly as above. With `--sfu-pid` naming the relay, the same report results, so the
//! ratio of the two runs' `pps_per_cpu_second` says what the SFU's WebRTC stack (SRTP,
//! RTP/RTCP, depacketizing and repacketizing, feedback) costs over plain forwarding.
//! `scripts/bench.sh` runs both side by side and writes `BENCHMARKS.md`.
//!
//! # The peer SFU
//!
//! `--janus-url http://IP:PORT/janus` runs the same steady scenarios through Janus 1.1's
//! videoroom plugin, driven through its HTTP API (see [`janus`]): the same participant with
//! Janus as its transport, so the same frames, schedule and counting at the receivers' sockets; with `--sfu-pid` naming Janus, the same report
//! results (mode `janus`). Janus never uses loopback for ICE, so `scripts/bench.sh` runs it and
//! the generator in two network namespaces of its own joined by a veth pair. Churn is not run
//! against Janus.
//!
//! # Limits of the server that shape the scenarios
//!
//! The server allows `--max-participants` per room (default 16, the host included) and
//! `--max-lobby` clients waiting in a lobby (default 50). The generator's host is a
//! signalling-only participant (it sends no media), so with the defaults a room holds at
//! most 15 simulated participants: `talk200` needs a server started with
//! `--max-participants 202` and `audio50` one with `--max-participants 51`; otherwise they
//! fail with `room_full` (reported as failures and loss). The generator lets at most 20
//! clients of a room wait in its lobby at once, and its host admits 15 a second (the server
//! allows a host 20 messages a second). All simulated clients connect from one address, and
//! the server keeps at most `--ws-max-per-address` websockets per address open (default 64):
//! scenarios with more clients need a server started with a higher value (`scripts/bench.sh`
//! passes 100000), or the extra clients are closed with 1013 `too_many_connections`.
//!
//! # Traffic
//!
//! Everything stays on this machine: `--server` and `--raw-relay` must be loopback
//! addresses, every participant binds 127.0.0.1, and datagrams str0m wants to send anywhere
//! else are dropped (counted as `non_loopback_destination`). The one exception is
//! `--janus-url`: its address must be loopback or private (the benchmark's namespace), media
//! sockets bind the local address that routes there, and datagrams go to Janus's address only
//! (others are dropped and counted as `foreign_destination`). Every wait has a deadline and
//! every loop ends: on `Leave`, at its setup timeout, or after a bounded number of turns.
//!
//! **What it must not depend on:** the server's crates (binary, kit, capabilities): it talks to
//! the server only over the network, as a client would.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod host;
pub mod http;
pub mod janus;
pub mod participant;
pub mod payload;
pub mod procstat;
pub mod raw;
pub mod relay;
pub mod report;
mod run;
pub mod shared;
pub mod signal;
pub mod simulcast;

pub use config::{Args, Command, Plan, Scenario};
pub use report::Report;
pub use run::run;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A command-line value is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// An HTTP call failed.
    #[error("HTTP: {0}")]
    Http(String),
    /// The signalling websocket failed.
    #[error("signalling: {0}")]
    Signal(String),
    /// The server sent an error code (or ended the session).
    #[error("server said {0}")]
    Server(String),
    /// WebRTC (str0m or the UDP socket) failed.
    #[error("media: {0}")]
    Media(String),
    /// Something took too long.
    #[error("timed out {0}")]
    Timeout(&'static str),
}

impl Error {
    /// A short class for counting failures.
    pub fn class(&self) -> String {
        match self {
            Error::Config(_) => "config".into(),
            Error::Http(_) => "http".into(),
            Error::Signal(_) => "signalling".into(),
            Error::Server(code) => code.clone(),
            Error::Media(_) => "media".into(),
            Error::Timeout(what) => format!("timeout {what}"),
        }
    }
}
