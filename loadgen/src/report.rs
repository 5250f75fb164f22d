//! The result of a run: one JSON object (`--json`) or a text summary.

use std::collections::BTreeMap;

use serde::Serialize;

/// Everything a run measured. Field meanings are in the crate documentation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// `sfu` (through the server) or `raw-relay` (the baseline: the plain relay).
    pub mode: String,
    /// Rooms (sessions) run side by side.
    pub rooms: u32,
    /// Publishing participants, all rooms.
    pub publishers: u64,
    /// Receive-only participants, all rooms.
    pub subscribers: u64,
    /// Simulated participants in all (churn: resident publishers plus every cycle's client).
    pub participants: u64,
    /// (publisher track, receiver) pairs the SFU should forward in steady state.
    pub forwarded_streams: u64,
    /// Publishers sent audio only.
    pub audio_only: bool,
    /// Video bitrate per publisher, kbit/s.
    pub video_kbps: u32,
    /// Video frames per second.
    pub fps: u32,
    /// Publishers sent video as three simulcast layers (`--simulcast`).
    pub simulcast: bool,
    /// Height receivers said they render every video at (`--view-height`).
    pub view_height: Option<u32>,
    /// Publishers per room that talked (`--talkers`); `None`: all. The others' audio is silence
    /// and neither expected nor counted in `frames_*` and `loss_ratio`.
    pub talkers: Option<u32>,
    /// Window frames of silent publishers' audio that arrived anyway (an SFU forwarding every
    /// voice, or one of its loudest slots held by a silent publisher).
    pub silent_audio_frames_received: u64,
    /// Length of the measurement window, seconds.
    pub duration_s: f64,
    /// RTP packets per second that arrived at receivers from the SFU, inside the window.
    pub forwarded_pps: f64,
    /// Their rate in Mbit/s (UDP payload: SRTP, RTP header and media).
    pub forwarded_mbps: f64,
    /// RTP packets that arrived at receivers inside the window (retransmissions included).
    pub packets_received: u64,
    /// RTP packets publishers sent inside the window.
    pub packets_sent: u64,
    /// `packets_sent` of each publisher times its receivers: what a lossless SFU that packetizes
    /// like the publisher forwards (an estimate; the SFU repacketizes each frame).
    pub expected_packets: u64,
    /// Frames publishers sent inside the window (with simulcast: on all layers).
    pub frames_sent: u64,
    /// Window frames times their receivers (with simulcast, video counts against the layer
    /// each receiver got; see `simulcast` in the crate docs).
    pub frames_expected: u64,
    /// Window frames that arrived at receivers (checked by publisher, track and sequence).
    pub frames_received: u64,
    /// Window frames that arrived after a later frame of the same track (reordered or twice).
    pub frames_out_of_order: u64,
    /// Window frames that arrived twice (counted once in `frames_received`).
    pub frames_duplicated: u64,
    /// `1 - frames_received / frames_expected` (churn: gaps in each receiver's sequence).
    pub loss_ratio: f64,
    /// One-way latency publisher → SFU → receiver of window frames, milliseconds.
    pub latency_ms_p50: Option<f64>,
    /// 99th percentile.
    pub latency_ms_p99: Option<f64>,
    /// 99.9th percentile.
    pub latency_ms_p999: Option<f64>,
    /// Largest.
    pub latency_ms_max: Option<f64>,
    /// Frames the latency percentiles are over.
    pub latency_samples: u64,
    /// Knock → first media frame received, per receiver, median, milliseconds.
    pub time_to_first_frame_ms_p50: Option<f64>,
    /// 99th percentile.
    pub time_to_first_frame_ms_p99: Option<f64>,
    /// Knock → `admitted` (lobby and the host's paced admission), per participant that
    /// knocked, median, milliseconds.
    pub admit_ms_p50: Option<f64>,
    /// 99th percentile.
    pub admit_ms_p99: Option<f64>,
    /// Knock → ICE + DTLS connected, per participant, median, milliseconds.
    pub join_ms_p50: Option<f64>,
    /// 99th percentile.
    pub join_ms_p99: Option<f64>,
    /// Knock → connected and a frame of every expected track received, per participant,
    /// median, milliseconds (a churn cycle leaves then).
    pub ready_ms_p50: Option<f64>,
    /// 99th percentile.
    pub ready_ms_p99: Option<f64>,
    /// `leave` sent → the server closed the websocket, per participant, median, milliseconds.
    pub leave_ms_p50: Option<f64>,
    /// 99th percentile.
    pub leave_ms_p99: Option<f64>,
    /// The server process measured (the relay's in `raw-relay` mode; so are the `sfu_*`
    /// fields below).
    pub sfu_pid: Option<u32>,
    /// CPU seconds (user + system) the server process used inside the window.
    pub sfu_cpu_seconds: Option<f64>,
    /// Of one core, in percent, inside the window.
    pub sfu_cpu_percent: Option<f64>,
    /// `packets_received / sfu_cpu_seconds`.
    pub pps_per_cpu_second: Option<f64>,
    /// Server RSS at the end of the window, bytes.
    pub sfu_rss_bytes: Option<u64>,
    /// Server RSS before setting up the participants, bytes.
    pub sfu_rss_before_bytes: Option<u64>,
    /// Server peak RSS (VmHWM), bytes.
    pub sfu_rss_peak_bytes: Option<u64>,
    /// CPU seconds the load generator used inside the window (if it nears
    /// `duration_s × threads`, the generator, not the server, is the bottleneck).
    pub loadgen_cpu_seconds: Option<f64>,
    /// Frames publishers skipped because they fell behind schedule (generator overloaded).
    pub late_frames: u64,
    /// Datagrams the kernel dropped for full UDP receive buffers, from the run's start to the
    /// window's end, over the whole machine (server, generator, anything else running).
    pub udp_rcvbuf_drops: Option<u64>,
    /// Churn: cycles asked for.
    pub cycles: Option<u64>,
    /// Churn: cycles that joined, received every track and left.
    pub cycles_completed: Option<u64>,
    /// Churn: completed cycles per second.
    pub cycles_per_second: Option<f64>,
    /// Churn: cycles completed in the warm-up, the first tenth of the cycles.
    pub warm_cycles: Option<u64>,
    /// Churn: server RSS after the warm-up, with no churning client left, bytes. Growth from
    /// here to `sfu_rss_bytes` is what the cycles left behind; growth from
    /// `sfu_rss_before_bytes` also holds first-use growth (allocator arenas, caches, the
    /// runtime's threads, the database).
    pub sfu_rss_warm_bytes: Option<u64>,
    /// Churn: server RSS after each tenth of the cycles, with no churning client left, bytes
    /// (the first is `sfu_rss_warm_bytes`, the last `sfu_rss_bytes`).
    pub sfu_rss_by_tenth: Vec<u64>,
    /// Churn: cycles completed when each of `sfu_rss_by_tenth` was read.
    pub cycles_by_tenth: Vec<u64>,
    /// Participants that failed (join refused, timeout, transport failure).
    pub participants_failed: u64,
    /// Up to ten failure messages.
    pub failures: Vec<String>,
    /// Error codes the server sent (`host:` prefix: to a host connection) and local failure
    /// classes, with counts.
    pub errors: BTreeMap<String, u64>,
    /// Every participant and host left and the server closed their websockets normally;
    /// afterwards `/metrics` showed no participants and no SFU peers, and `/healthz` answered.
    pub clean_shutdown: bool,
    /// `/metrics` after the run (participants, SFU peers, websockets).
    pub server_after: BTreeMap<String, f64>,
    /// Simulcast, per layer (`q`, `h`, `f`): frames sent, expected and received (which layer
    /// receivers got), loss and latency. Empty without simulcast.
    pub layers: BTreeMap<String, LayerReport>,
    /// Simulcast: layer changes receivers saw, summed over every (receiver, publisher) pair,
    /// whole run (warm-up included).
    pub layer_switches: Option<u64>,
    /// Of those, changes inside the window.
    pub layer_switches_in_window: Option<u64>,
    /// Simulcast: (receiver, publisher) video pairs by the layer the receiver was on at the
    /// end of the run.
    pub final_layers: BTreeMap<String, u64>,
    /// No failures, no loss, clean shutdown.
    pub ok: bool,
}

/// What happened on one simulcast layer, all publishers and receivers together.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LayerReport {
    /// Window frames publishers sent on this layer.
    pub frames_sent: u64,
    /// Window frames receivers should have got on this layer: for each receiver, those of the
    /// stretches of the window it was forwarded this layer.
    pub frames_expected: u64,
    /// Window frames receivers got on this layer (distinct).
    pub frames_received: u64,
    /// RTP packets publishers sent on this layer's SSRC inside the window.
    pub packets_sent: u64,
    /// `1 - frames_received / frames_expected`.
    pub loss_ratio: f64,
    /// One-way latency of this layer's window frames, milliseconds.
    pub latency_ms_p50: Option<f64>,
    /// 99th percentile.
    pub latency_ms_p99: Option<f64>,
    /// Largest.
    pub latency_ms_max: Option<f64>,
    /// Frames the latency percentiles are over.
    pub latency_samples: u64,
}

/// `(to - from) / from` as a signed percentage.
fn percent_change(from: u64, to: u64) -> String {
    if from == 0 {
        return "-".into();
    }
    format!("{:+.1} %", 100.0 * (to as f64 - from as f64) / from as f64)
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2} ms"))
}

impl Report {
    /// A human-readable summary.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let mut line = |l: String| {
            s.push_str(&l);
            s.push('\n');
        };
        line(format!(
            "scenario {} ({}): {} room(s), {} publisher(s), {} subscriber(s){}, {} kbit/s @ {} fps",
            self.scenario,
            self.mode,
            self.rooms,
            self.publishers,
            self.subscribers,
            if self.audio_only { ", audio only" } else { "" },
            self.video_kbps,
            self.fps
        ));
        if self.simulcast {
            let view = self
                .view_height
                .map_or("not sent".into(), |h| format!("{h} px"));
            line(format!(
                "simulcast:  view height {view}; {} layer switch(es), {} in the window; final layers {:?}",
                self.layer_switches.unwrap_or(0),
                self.layer_switches_in_window.unwrap_or(0),
                self.final_layers
            ));
            for (name, l) in &self.layers {
                line(format!(
                    "  layer {name}:  {} sent, {}/{} received, loss {:.6}, latency p50 {} p99 {}, {} packets sent",
                    l.frames_sent,
                    l.frames_received,
                    l.frames_expected,
                    l.loss_ratio,
                    ms(l.latency_ms_p50),
                    ms(l.latency_ms_p99),
                    l.packets_sent
                ));
            }
        }
        if let Some(k) = self.talkers {
            line(format!(
                "talkers:    {k} per room; the others' audio is silence: {} of its frames arrived (not counted for loss)",
                self.silent_audio_frames_received
            ));
        }
        if let (Some(c), Some(done)) = (self.cycles, self.cycles_completed) {
            line(format!(
                "churn:      {done}/{c} cycles in {:.1} s ({:.1} cycles/s); per cycle p50: admitted {}, connected {}, every track {}, left {}",
                self.duration_s,
                self.cycles_per_second.unwrap_or(0.0),
                ms(self.admit_ms_p50),
                ms(self.join_ms_p50),
                ms(self.ready_ms_p50),
                ms(self.leave_ms_p50),
            ));
            let mib = |b: u64| b as f64 / 1_048_576.0;
            if let (Some(before), Some(warm), Some(end)) = (
                self.sfu_rss_before_bytes,
                self.sfu_rss_warm_bytes,
                self.sfu_rss_bytes,
            ) {
                line(format!(
                    "churn RSS:  {:.1} MiB before, {:.1} after the warm-up ({} cycles), {:.1} at the end: {} from before, {} from the warm-up",
                    mib(before),
                    mib(warm),
                    self.warm_cycles.unwrap_or(0),
                    mib(end),
                    percent_change(before, end),
                    percent_change(warm, end),
                ));
                line(format!(
                    "  by tenth: {}",
                    self.sfu_rss_by_tenth
                        .iter()
                        .zip(&self.cycles_by_tenth)
                        .map(|(r, c)| format!("{c}: {:.1}", mib(*r)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        line(format!(
            "forwarded:  {:.0} packets/s, {:.2} Mbit/s over {:.1} s ({} packets received, {} sent, ~{} expected)",
            self.forwarded_pps,
            self.forwarded_mbps,
            self.duration_s,
            self.packets_received,
            self.packets_sent,
            self.expected_packets
        ));
        line(format!(
            "frames:     {} sent, {}/{} received, {} out of order, {} duplicated, loss {:.6}",
            self.frames_sent,
            self.frames_received,
            self.frames_expected,
            self.frames_out_of_order,
            self.frames_duplicated,
            self.loss_ratio
        ));
        line(format!(
            "latency:    p50 {}  p99 {}  p99.9 {}  max {}  ({} frames)",
            ms(self.latency_ms_p50),
            ms(self.latency_ms_p99),
            ms(self.latency_ms_p999),
            ms(self.latency_ms_max),
            self.latency_samples
        ));
        line(format!(
            "join:       p50 {}  p99 {};  first frame p50 {}  p99 {}",
            ms(self.join_ms_p50),
            ms(self.join_ms_p99),
            ms(self.time_to_first_frame_ms_p50),
            ms(self.time_to_first_frame_ms_p99)
        ));
        match (self.sfu_cpu_seconds, self.sfu_rss_bytes) {
            (Some(cpu), Some(rss)) => line(format!(
                "server:     {cpu:.2} CPU-s ({:.1}% of a core), {:.0} packets per CPU-s, RSS {:.1} MiB (before {:.1}, peak {:.1})",
                self.sfu_cpu_percent.unwrap_or(0.0),
                self.pps_per_cpu_second.unwrap_or(0.0),
                rss as f64 / 1_048_576.0,
                self.sfu_rss_before_bytes.unwrap_or(0) as f64 / 1_048_576.0,
                self.sfu_rss_peak_bytes.unwrap_or(0) as f64 / 1_048_576.0,
            )),
            _ => line("server:     no --sfu-pid given: CPU and RSS not measured".into()),
        }
        line(format!(
            "loadgen:    {} CPU-s, {} late frames; UDP receive-buffer drops on the machine: {}",
            self.loadgen_cpu_seconds
                .map_or("-".into(), |c| format!("{c:.2}")),
            self.late_frames,
            self.udp_rcvbuf_drops.map_or("-".into(), |d| d.to_string())
        ));
        line(format!(
            "failures:   {} participant(s); server errors {:?}",
            self.participants_failed, self.errors
        ));
        for f in &self.failures {
            line(format!("  - {f}"));
        }
        line(format!(
            "shutdown:   {}; {}",
            if self.clean_shutdown {
                "clean"
            } else {
                "NOT clean"
            },
            if self.ok { "OK" } else { "NOT OK" }
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_text_gives_rss_growth_from_before_and_from_the_warm_up() {
        let mib = 1_048_576;
        let r = Report {
            cycles: Some(100),
            cycles_completed: Some(100),
            warm_cycles: Some(10),
            sfu_rss_before_bytes: Some(20 * mib),
            sfu_rss_warm_bytes: Some(30 * mib),
            sfu_rss_bytes: Some(31 * mib),
            sfu_cpu_seconds: Some(1.0),
            sfu_rss_by_tenth: vec![30 * mib, 31 * mib],
            cycles_by_tenth: vec![10, 100],
            ..Report::default()
        };
        let text = r.text();
        assert!(
            text.contains("+55.0 % from before, +3.3 % from the warm-up"),
            "{text}"
        );
        assert!(text.contains("by tenth: 10: 30.0, 100: 31.0"), "{text}");
    }
}
