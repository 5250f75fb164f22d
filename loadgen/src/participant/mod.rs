//! One simulated participant: synthetic publishing and measured reception over full-ICE
//! `str0m::Rtc`s, each with one UDP socket, driven sans-IO by one tokio task.
//!
//! There is one participant, whatever it goes through (`peer`): it makes the frames
//! (`track::Outgoing`), writes them, reads its sockets, counts what arrives
//! (`track::Reception`) and fills the [`Report`]. How it joins, what its signalling says and
//! how it leaves is its transport's (`peer::Transport`), of which there are two:
//!
//! * `server`: Confidant's signalling websocket and SFU, one PeerConnection on 127.0.0.1
//!   that publishes and receives;
//! * [`crate::janus`]: Janus's videoroom over its HTTP API, a publishing and a receiving
//!   PeerConnection on the address that routes to Janus.
//!
//! The baseline ([`crate::raw`]) has no WebRTC; it shares the frames and the counting only.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::payload::{Kind, Layer};
use crate::simulcast::LayerTrail;

pub(crate) mod peer;
mod server;
mod track;

pub use peer::is_rtp;
pub use server::{received_streams, received_video_streams, run};
pub use track::AUDIO_FRAME;
pub(crate) use track::{Outgoing, Reception};

/// Highest latency the histogram holds, in microseconds (60 s).
const HIST_MAX_US: u64 = 60_000_000;

/// What one participant does.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Unique index in the run; also the publisher id in stamps.
    pub index: u32,
    /// Display name.
    pub name: String,
    /// Publish audio.
    pub audio: bool,
    /// Publish video.
    pub video: bool,
    /// Tracks of others that must deliver a frame before this participant is ready (not the
    /// silent publishers' audio, see `talking`).
    pub expect_tracks: usize,
    /// Tracks of others the server must have offered (negotiated) before this participant is
    /// ready, silent or not: a window that opens during the renegotiations of a join storm
    /// would measure them. Only through the server; other forwarders do not count it.
    pub expect_negotiated: usize,
    /// Leave as soon as every expected track has delivered a frame (churn).
    pub leave_when_ready: bool,
    /// Average video bitrate, kbit/s.
    pub video_kbps: u32,
    /// Video frames per second.
    pub fps: u32,
    /// Publish video as three simulcast layers (`q`, `h`, `f`; see [`Layer`]).
    pub simulcast: bool,
    /// Tell the SFU (`video_size`) that every received video is shown this many device pixels
    /// tall (and 16:9 wide).
    pub view_height: Option<u32>,
    /// Give up joining after this long.
    pub setup_timeout: Duration,
    /// Sends its audio at a talking level (-30 dBov) rather than silence (-127).
    pub talking: bool,
}

/// Frames received from one publisher track.
#[derive(Debug, Clone, Default)]
pub struct RxTrack {
    /// Frames stamped `in_window`.
    pub in_window: u64,
    /// All frames.
    pub total: u64,
    /// Lowest and highest sequence number seen.
    pub first_seq: Option<u64>,
    /// Highest sequence number seen.
    pub last_seq: u64,
    /// Frames that arrived with a sequence number not above the last one (reordered or
    /// duplicated), counted inside the window only.
    pub out_of_order: u64,
    /// Window frames that arrived a second time (not counted in `in_window`).
    pub duplicates: u64,
    /// Which window sequence numbers arrived: bit `seq - window_base`.
    seen: Vec<u64>,
    window_base: Option<u64>,
}

impl RxTrack {
    /// Marks a window frame as seen; false if it was seen before.
    pub(crate) fn see(&mut self, seq: u64) -> bool {
        let base = *self
            .window_base
            .get_or_insert(seq.saturating_sub(WINDOW_SLACK));
        let Some(off) = seq.checked_sub(base) else {
            // Far older than the first window frame: cannot be checked, count it.
            return true;
        };
        let (word, bit) = ((off / 64) as usize, off % 64);
        if word >= self.seen.len() {
            self.seen.resize(word + 1, 0);
        }
        let fresh = self.seen[word] & (1 << bit) == 0;
        self.seen[word] |= 1 << bit;
        fresh
    }
}

/// Window frames may arrive this many sequence numbers before the first one that arrived.
const WINDOW_SLACK: u64 = 4096;

/// Frames published on one track (with simulcast: one layer of it).
#[derive(Debug, Clone, Default)]
pub struct TxTrack {
    /// Frames stamped `in_window`.
    pub in_window: u64,
    /// All frames.
    pub total: u64,
    /// Sequence number of the first frame stamped `in_window` (they are consecutive).
    pub first_window_seq: Option<u64>,
    /// RTP packets sent on this layer's SSRC inside the window (simulcast layers only).
    pub win_packets: u64,
}

impl TxTrack {
    /// First and last sequence number stamped `in_window`, if any.
    pub fn window_seqs(&self) -> Option<(u64, u64)> {
        let first = self.first_window_seq?;
        (self.in_window > 0).then(|| (first, first + self.in_window - 1))
    }
}

/// What a participant reports when it is done.
#[derive(Debug)]
pub struct Report {
    /// The spec's index.
    pub index: u32,
    /// Why it failed, if it did.
    pub failure: Option<String>,
    /// Knock → `admitted` (the host's admission through the lobby).
    pub admitted: Option<Duration>,
    /// Knock → ICE + DTLS connected.
    pub join: Option<Duration>,
    /// Knock → first media frame received.
    pub first_frame: Option<Duration>,
    /// Knock → connected and a frame of every expected track received (what a churn cycle
    /// waits for before it leaves).
    pub ready: Option<Duration>,
    /// `leave` sent → the server closed the websocket.
    pub leave: Option<Duration>,
    /// One-way latency of `in_window` frames, microseconds.
    pub latency_us: Histogram<u64>,
    /// Received frames by (publisher, kind, simulcast layer).
    pub rx: BTreeMap<(u32, Kind, Option<Layer>), RxTrack>,
    /// Published frames by kind and simulcast layer.
    pub tx: BTreeMap<(Kind, Option<Layer>), TxTrack>,
    /// Simulcast video received, by publisher: layers, switches, window stretches.
    pub trails: BTreeMap<u32, LayerTrail>,
    /// One-way latency of `in_window` simulcast frames by layer, microseconds.
    pub layer_latency_us: BTreeMap<Layer, Histogram<u64>>,
    /// RTP datagrams received inside the window, and their bytes.
    pub win_rx_packets: u64,
    /// Bytes of those.
    pub win_rx_bytes: u64,
    /// RTP datagrams sent inside the window, and their bytes.
    pub win_tx_packets: u64,
    /// Bytes of those.
    pub win_tx_bytes: u64,
    /// Frames a publisher skipped because it fell behind its schedule.
    pub late_frames: u64,
    /// The server closed the websocket with 1000 after `leave`.
    pub clean_leave: bool,
    /// It published audio at a talking level (`Spec::talking`).
    pub talking: bool,
}

impl Report {
    pub(crate) fn new(index: u32) -> Report {
        Report {
            index,
            failure: None,
            admitted: None,
            join: None,
            first_frame: None,
            ready: None,
            leave: None,
            latency_us: new_histogram(),
            rx: BTreeMap::new(),
            tx: BTreeMap::new(),
            trails: BTreeMap::new(),
            layer_latency_us: BTreeMap::new(),
            win_rx_packets: 0,
            win_rx_bytes: 0,
            win_tx_packets: 0,
            win_tx_bytes: 0,
            late_frames: 0,
            clean_leave: false,
            talking: true,
        }
    }
}

/// A latency histogram: 1 µs to 60 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that satisfy new_with_bounds' preconditions (low >= 1,
    // high >= 2 * low, sigfig <= 5).
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("valid histogram bounds")
}
