//! State shared by all simulated participants of a run: the clock origin, the measurement
//! window flag, live counters for the progress line, and server errors.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use str0m::config::DtlsCert;
use tokio::sync::Semaphore;

/// What participants are told to do, through a `watch` channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Control {
    /// Join, publish, receive.
    Run,
    /// Stop publishing (keep receiving what is in flight).
    StopMedia,
    /// Send `leave` and finish.
    Leave,
}

/// Live counters (relaxed atomics; read by the progress line).
#[derive(Debug, Default)]
pub struct Counters {
    /// RTP datagrams that arrived at participants from the SFU.
    pub rtp_rx_packets: AtomicU64,
    /// Their bytes (UDP payload, SRTP included).
    pub rtp_rx_bytes: AtomicU64,
    /// Media frames received (depacketized by str0m).
    pub frames_rx: AtomicU64,
    /// Media frames published.
    pub frames_tx: AtomicU64,
    /// Participants whose ICE + DTLS is up.
    pub connected: AtomicU64,
    /// Participants that receive every track they should (or publish only and are connected).
    pub ready: AtomicU64,
    /// Participants that failed.
    pub failed: AtomicU64,
    /// Participants that finished (left or failed).
    pub finished: AtomicU64,
    /// Churn cycles completed.
    pub cycles: AtomicU64,
}

impl Counters {
    /// Adds one.
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Shared by every task of a run.
pub struct Shared {
    /// Origin of the stamps' send times.
    pub epoch: Instant,
    /// `host:port` of the server.
    pub authority: String,
    /// Inside the measurement window: frames sent now are stamped `in_window`, RTP datagrams
    /// received now are counted.
    pub measuring: AtomicBool,
    /// The run is past its window: participants are leaving.
    pub leaving: AtomicBool,
    /// Live counters.
    pub counters: Counters,
    /// Error codes the server sent (and local failures), with counts.
    errors: Mutex<BTreeMap<String, u64>>,
    /// One DTLS certificate for every simulated client (saves a key generation per join).
    pub cert: Option<DtlsCert>,
    /// The machine's UDP receive-buffer drops when the run started (`/proc/net/snmp`).
    pub udp_rcvbuf_errors_at_start: Option<u64>,
}

impl Shared {
    /// A new run's shared state.
    pub fn new(authority: String) -> Shared {
        let cert = str0m::crypto::from_feature_flags()
            .dtls_provider
            .generate_certificate();
        Shared {
            epoch: Instant::now(),
            authority,
            measuring: AtomicBool::new(false),
            leaving: AtomicBool::new(false),
            counters: Counters::default(),
            errors: Mutex::new(BTreeMap::new()),
            cert,
            udp_rcvbuf_errors_at_start: crate::procstat::udp_rcvbuf_errors(),
        }
    }

    /// Nanoseconds since the epoch.
    pub fn ns(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether the measurement window is open.
    pub fn is_measuring(&self) -> bool {
        self.measuring.load(Ordering::Relaxed)
    }

    /// Records an error (a server error code, or a local failure class).
    pub fn error(&self, what: &str) {
        let mut e = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        *e.entry(what.to_owned()).or_default() += 1;
    }

    /// The errors so far.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// One counselling session (room) of the run.
pub struct RoomInfo {
    /// Index of the room in the run.
    pub index: usize,
    /// Session id (= signalling room).
    pub session_id: String,
    /// Join-link token.
    pub link: String,
    /// Limits how many clients knock at once, so the lobby (50 at most on the server) never
    /// overflows while the host admits at its paced rate.
    pub lobby_gate: Semaphore,
}

/// Clients allowed to wait in one lobby at once.
pub const LOBBY_IN_FLIGHT: usize = 20;

/// Kernel buffer asked for every UDP socket of the generator and of the relay, each way, in
/// bytes. A participant of `audio50` receives 49 streams (~2,500 datagrams/s); with Linux's
/// default receive buffer (208 KiB, ~160 small datagrams) a pause of ~60 ms in the generator's
/// single thread made the kernel drop datagrams, STUN and DTLS among them, which the run then
/// counted as the forwarder's loss or failed joins. The same size on both paths keeps the
/// SFU-versus-relay comparison fair. 1 MiB, like the server's (see
/// `confidant_sfu::SOCKET_BUFFER_BYTES` for why not more). The kernel caps it at
/// `net.core.rmem_max` / `wmem_max`.
pub const SOCKET_BUFFER_BYTES: usize = 1 << 20;

/// Asks for [`SOCKET_BUFFER_BYTES`] of receive and send buffer on `socket`; returns the
/// receive buffer the kernel granted (0 if it will not say). A refusal only costs headroom.
pub fn enlarge_buffers<S: std::os::fd::AsFd>(socket: &S) -> usize {
    let sock = socket2::SockRef::from(socket);
    if let Err(e) = sock.set_recv_buffer_size(SOCKET_BUFFER_BYTES) {
        tracing::debug!("cannot enlarge the UDP receive buffer: {e}");
    }
    if let Err(e) = sock.set_send_buffer_size(SOCKET_BUFFER_BYTES) {
        tracing::debug!("cannot enlarge the UDP send buffer: {e}");
    }
    sock.recv_buffer_size().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_sockets_get_a_larger_receive_buffer_than_the_default() {
        let fresh = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let default = socket2::SockRef::from(&fresh)
            .recv_buffer_size()
            .expect("buffer size");
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let granted = enlarge_buffers(&socket);
        assert!(
            granted > default,
            "granted {granted} bytes, default {default}"
        );
    }
}
