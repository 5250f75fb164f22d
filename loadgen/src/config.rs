//! Command line and scenarios.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::relay::RelayArgs;
use crate::Error;

/// Load generator for Confidant: simulated participants over real signalling and real
/// ICE/DTLS/SRTP (str0m), synthetic VP8/Opus-shaped media, measurements of the forwarding.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "confidant-loadgen",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    /// Something else than a load run.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Base URL of the running server (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Counsellor e-mail (made with `confidant admin create-counsellor`); needed unless
    /// `--raw-relay`.
    #[arg(long, env = "CONFIDANT_LOADGEN_EMAIL")]
    pub email: Option<String>,
    /// Counsellor password; needed unless `--raw-relay`.
    #[arg(long, env = "CONFIDANT_LOADGEN_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Baseline: send the same frames, cut into RTP-shaped datagrams, through the plain relay
    /// (`confidant-loadgen relay`) at this loopback address instead of through the server: no
    /// signalling, no ICE/DTLS/SRTP. `--sfu-pid` then names the relay's process.
    #[arg(long, value_name = "ADDR")]
    pub raw_relay: Option<SocketAddr>,
    /// Peer SFU: run the same participants and media through Janus's videoroom plugin, driven
    /// through its HTTP API at this URL (`http://IP:PORT/janus`; loopback or a private address,
    /// such as the benchmark's network namespace) instead of through the server. `--sfu-pid`
    /// then names Janus's process.
    #[arg(long, value_name = "URL", conflicts_with = "raw_relay")]
    pub janus_url: Option<String>,
    /// A predefined scenario; `--publishers`/`--subscribers`/`--audio-only` override its shape.
    #[arg(long, value_enum)]
    pub scenario: Option<Scenario>,
    /// Participants per room that publish audio and video (they also receive every other
    /// publisher of their room, as browsers do).
    #[arg(long)]
    pub publishers: Option<u32>,
    /// Receive-only participants per room.
    #[arg(long)]
    pub subscribers: Option<u32>,
    /// Publishers send audio only.
    #[arg(long)]
    pub audio_only: bool,
    /// Independent rooms (sessions) run side by side, each with its own host and the same
    /// shape.
    #[arg(long)]
    pub rooms: Option<u32>,
    /// Length of the measurement window, seconds (for `churn`: the most time the cycles may take).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Seconds of media after everyone receives everything, before measuring starts.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Average video bitrate per publisher, kbit/s (keyframes are 4× the average frame).
    #[arg(long, default_value_t = 800)]
    pub video_kbps: u32,
    /// Video frames per second.
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Publishers send their video as three simulcast layers, RIDs q, h, f (320×180, 640×360,
    /// 1280×720) with 1/10, 3/10 and 6/10 of --video-kbps; f and h at --fps, q at half of it.
    /// Each layer starts with a keyframe and answers the SFU's keyframe requests for its RID
    /// on its own. The report then says which layer receivers got (`layers`,
    /// `layer_switches`). Through the server only.
    #[arg(long)]
    pub simulcast: bool,
    /// Every receiver tells the server (signalling `video_size`) that it shows every video it
    /// receives this many device pixels tall (16:9 wide), which drives the SFU's layer choice:
    /// 180 asks for q, 360 for h, 720 for f. Without it the SFU picks by bandwidth alone.
    #[arg(long, value_name = "H")]
    pub view_height: Option<u32>,
    /// Publishers per room that talk (audio level -30 dBov); the others send silence (-127),
    /// like listeners in a large room. Only the talkers' audio is expected at receivers (and
    /// counted for loss): an SFU that forwards the loudest voices only (Confidant's
    /// `--sfu-loudest-audio`) rightly drops silent ones. Default: every publisher talks
    /// (audio50: 3).
    #[arg(long, value_name = "K")]
    pub talkers: Option<u32>,
    /// Churn: join/leave cycles in all.
    #[arg(long)]
    pub cycles: Option<u64>,
    /// Churn: clients joining and leaving at the same time in each room. Clients that wait
    /// together share the publisher's next keyframe (requested at most every 500 ms), so a
    /// room completes about this many cycles per 500 ms, up to its host's admission rate (15/s).
    #[arg(long, default_value_t = 8)]
    pub churn_parallel: u32,
    /// Seconds a participant may take from knocking to receiving every track.
    #[arg(long, default_value_t = 60.0)]
    pub setup_timeout: f64,
    /// PID of the server process, for CPU time and RSS from /proc.
    #[arg(long)]
    pub sfu_pid: Option<u32>,
    /// File holding the server's PID (alternative to `--sfu-pid`).
    #[arg(long)]
    pub sfu_pid_file: Option<PathBuf>,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Print one JSON object on stdout instead of the text report.
    #[arg(long)]
    pub json: bool,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the baseline: a plain UDP relay that copies every media datagram of a room's member
    /// to the room's other members (see `--raw-relay`).
    Relay(RelayArgs),
}

/// Predefined scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// A 1:1 counselling call: two participants, each publishing audio and video.
    OneToOne,
    /// A group of five, everyone publishing audio and video.
    Group5,
    /// A talk: one publisher, 200 receive-only subscribers (needs a server started with
    /// `--max-participants 202` or more: the generator's host is a participant too).
    Talk200,
    /// An audio room: 50 participants, everyone publishing audio (needs
    /// `--max-participants 51` or more).
    Audio50,
    /// Churn: 10,000 join/leave cycles against a resident publisher in each room.
    Churn,
}

/// The resolved plan of a run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Name for the report.
    pub name: String,
    /// Publishers per room.
    pub publishers: u32,
    /// Receive-only participants per room.
    pub subscribers: u32,
    /// Publishers send video too.
    pub video: bool,
    /// Rooms.
    pub rooms: u32,
    /// Measurement window (churn: time limit).
    pub duration: Duration,
    /// Warm-up.
    pub warmup: Duration,
    /// Churn cycles (0: not a churn run).
    pub cycles: u64,
    /// Churn parallelism per room.
    pub churn_parallel: u32,
    /// Talking publishers per room (`None`: all).
    pub talkers: Option<u32>,
    /// Video bitrate.
    pub video_kbps: u32,
    /// Video fps.
    pub fps: u32,
    /// Video as three simulcast layers.
    pub simulcast: bool,
    /// Height receivers render every video at (`video_size`).
    pub view_height: Option<u32>,
    /// Setup timeout per participant.
    pub setup_timeout: Duration,
    /// Baseline run through this relay instead of the server.
    pub raw_relay: Option<SocketAddr>,
    /// Peer-SFU run through Janus instead of the server.
    pub janus: Option<crate::janus::Target>,
}

impl Plan {
    /// Resolves scenario defaults and explicit options.
    pub fn from_args(a: &Args) -> Result<Plan, Error> {
        let (name, p, s, audio_only, rooms, duration, cycles) = match a.scenario {
            Some(Scenario::OneToOne) => ("one-to-one", 2, 0, false, 1, 10.0, 0),
            Some(Scenario::Group5) => ("group5", 5, 0, false, 1, 10.0, 0),
            Some(Scenario::Talk200) => ("talk200", 1, 200, false, 1, 10.0, 0),
            Some(Scenario::Audio50) => ("audio50", 50, 0, true, 1, 10.0, 0),
            Some(Scenario::Churn) => ("churn", 1, 0, false, 4, 600.0, 10_000),
            None => ("custom", 2, 0, false, 1, 10.0, 0),
        };
        let churn = a.scenario == Some(Scenario::Churn);
        let plan = Plan {
            name: name.to_owned(),
            publishers: a.publishers.unwrap_or(p),
            subscribers: a.subscribers.unwrap_or(s),
            video: !(a.audio_only || audio_only),
            rooms: a.rooms.unwrap_or(rooms),
            duration: secs(a.duration.unwrap_or(duration), "duration")?,
            warmup: secs(a.warmup, "warmup")?,
            cycles: if churn { a.cycles.unwrap_or(cycles) } else { 0 },
            churn_parallel: a.churn_parallel.max(1),
            talkers: a
                .talkers
                .or((a.scenario == Some(Scenario::Audio50)).then_some(3))
                .filter(|k| *k < a.publishers.unwrap_or(p)),
            video_kbps: a.video_kbps.max(8),
            fps: a.fps.clamp(1, 120),
            simulcast: a.simulcast,
            view_height: a.view_height,
            setup_timeout: secs(a.setup_timeout, "setup-timeout")?,
            raw_relay: a.raw_relay,
            janus: a
                .janus_url
                .as_deref()
                .map(crate::janus::Target::parse)
                .transpose()?,
        };
        match plan.raw_relay {
            Some(relay) if !relay.ip().is_loopback() => {
                return Err(Error::Config(
                    "--raw-relay must be a loopback address".into(),
                ))
            }
            Some(_) if churn => {
                return Err(Error::Config(
                    "--raw-relay measures steady forwarding; churn needs the server".into(),
                ))
            }
            Some(_) => {}
            None if plan.janus.is_some() && churn => {
                return Err(Error::Config(
                    "--janus-url measures steady forwarding; churn needs the server".into(),
                ))
            }
            None if plan.janus.is_some() => {}
            None if a.email.is_none() || a.password.is_none() => {
                return Err(Error::Config(
                    "--email and --password (or CONFIDANT_LOADGEN_EMAIL/_PASSWORD) are needed"
                        .into(),
                ))
            }
            None => {}
        }
        if plan.simulcast && (plan.raw_relay.is_some() || plan.janus.is_some()) {
            return Err(Error::Config(
                "--simulcast needs the server's SFU (not --raw-relay or --janus-url)".into(),
            ));
        }
        if plan.simulcast && !plan.video {
            return Err(Error::Config("--simulcast needs video".into()));
        }
        if plan.view_height.is_some() && (plan.raw_relay.is_some() || plan.janus.is_some()) {
            return Err(Error::Config(
                "--view-height is a signalling message to the server".into(),
            ));
        }
        if plan.view_height.is_some_and(|h| h > 16_384) {
            return Err(Error::Config("--view-height must be 0..=16384".into()));
        }
        if plan.rooms == 0 || plan.rooms > 1000 {
            return Err(Error::Config("--rooms must be 1..=1000".into()));
        }
        if !churn && plan.publishers == 0 {
            return Err(Error::Config("at least one publisher is needed".into()));
        }
        if u64::from(plan.rooms) * u64::from(plan.publishers + plan.subscribers) > 10_000 {
            return Err(Error::Config("at most 10,000 participants".into()));
        }
        if a.cycles.is_some() && !churn {
            return Err(Error::Config("--cycles is for --scenario churn".into()));
        }
        Ok(plan)
    }

    /// Whether this is a churn run.
    pub fn is_churn(&self) -> bool {
        self.cycles > 0
    }
}

fn secs(v: f64, what: &str) -> Result<Duration, Error> {
    if !(0.0..=86_400.0).contains(&v) {
        return Err(Error::Config(format!("--{what} must be 0..=86400 seconds")));
    }
    Ok(Duration::from_secs_f64(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(args: &[&str]) -> Result<Plan, Error> {
        let a =
            Args::try_parse_from(std::iter::once("confidant-loadgen").chain(args.iter().copied()))
                .map_err(|e| Error::Config(e.to_string()))?;
        Plan::from_args(&a)
    }

    #[test]
    fn scenarios_resolve_to_their_shapes() {
        let p = plan(&[
            "--email",
            "a@b.c",
            "--password",
            "x",
            "--scenario",
            "group5",
        ])
        .unwrap();
        assert_eq!(
            (p.publishers, p.subscribers, p.video, p.rooms),
            (5, 0, true, 1)
        );
        let p = plan(&["--raw-relay", "127.0.0.1:9", "--scenario", "audio50"]).unwrap();
        assert_eq!((p.publishers, p.video), (50, false));
        assert_eq!(p.raw_relay, Some("127.0.0.1:9".parse().unwrap()));
        assert_eq!(
            p.talkers,
            Some(3),
            "a large audio room: three talk, the rest listen"
        );
    }

    #[test]
    fn talkers_default_to_everyone_and_cannot_exceed_the_publishers() {
        let relay = ["--raw-relay", "127.0.0.1:9"];
        let with = |extra: &[&str]| plan(&[&relay[..], extra].concat()).unwrap().talkers;
        assert_eq!(with(&["--scenario", "group5"]), None);
        assert_eq!(with(&["--publishers", "6", "--talkers", "2"]), Some(2));
        assert_eq!(
            with(&["--publishers", "6", "--talkers", "6"]),
            None,
            "all talk"
        );
        assert_eq!(
            with(&["--scenario", "audio50", "--talkers", "10"]),
            Some(10)
        );
    }

    #[test]
    fn credentials_are_needed_for_the_server_only() {
        assert!(plan(&["--scenario", "one-to-one"]).is_err());
        assert!(plan(&["--raw-relay", "127.0.0.1:9"]).is_ok());
    }

    #[test]
    fn the_relay_must_be_local_and_steady() {
        assert!(plan(&["--raw-relay", "192.0.2.1:9"]).is_err());
        assert!(plan(&["--raw-relay", "127.0.0.1:9", "--scenario", "churn"]).is_err());
    }

    #[test]
    fn janus_needs_no_credentials_and_a_local_url() {
        let p = plan(&[
            "--janus-url",
            "http://10.231.0.1:8088/janus",
            "--scenario",
            "talk200",
        ])
        .unwrap();
        let t = p.janus.unwrap();
        assert_eq!(t.addr, "10.231.0.1:8088".parse().unwrap());
        assert_eq!((p.publishers, p.subscribers), (1, 200));
        assert!(plan(&["--janus-url", "http://192.0.2.1:8088/janus"]).is_err());
        assert!(plan(&[
            "--janus-url",
            "http://10.0.0.1:8088/janus",
            "--scenario",
            "churn"
        ])
        .is_err());
        assert!(plan(&[
            "--janus-url",
            "http://10.0.0.1:8088/janus",
            "--raw-relay",
            "127.0.0.1:9"
        ])
        .is_err());
    }

    #[test]
    fn simulcast_and_view_height_are_for_the_server() {
        let creds = ["--email", "a@b.c", "--password", "x"];
        let p = plan(&[&creds[..], &["--simulcast", "--view-height", "180"]].concat()).unwrap();
        assert!(p.simulcast);
        assert_eq!(p.view_height, Some(180));
        let p = plan(&creds).unwrap();
        assert!(!p.simulcast);
        assert_eq!(p.view_height, None);
        assert!(plan(&["--raw-relay", "127.0.0.1:9", "--simulcast"]).is_err());
        assert!(plan(&["--raw-relay", "127.0.0.1:9", "--view-height", "180"]).is_err());
        assert!(plan(&[&creds[..], &["--simulcast", "--audio-only"]].concat()).is_err());
        assert!(plan(&[&creds[..], &["--view-height", "20000"]].concat()).is_err());
    }

    #[test]
    fn relay_is_a_subcommand() {
        let a = Args::try_parse_from(["confidant-loadgen", "relay", "--max-seconds", "5"]).unwrap();
        assert!(matches!(a.command, Some(Command::Relay(r)) if r.max_seconds == 5));
    }
}
