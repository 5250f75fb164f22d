//! Smoke runs of the load generator, a few seconds each, one publisher and two subscribers,
//! correctness only (no timing assertions): media is forwarded, every window frame reaches
//! every subscriber (within a small loss bound), latencies are measured, and everyone leaves
//! cleanly. One run goes through the real `confidant` binary, one through the baseline relay,
//! and two simulcast runs through the real server check that the subscribers' rendered size
//! (`--view-height`) decides the layer they get.
//!
//! The server binary comes from `CONFIDANT_BIN` (build it first: `cargo build -p confidant`,
//! then `CONFIDANT_BIN=target/debug/confidant`; `scripts/test.sh` sets it). Without
//! `CONFIDANT_BIN` the server run is skipped with a message; a `CONFIDANT_BIN` that is not a
//! file fails it.

use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const EMAIL: &str = "loadgen-smoke@example.org";
const PASSWORD: &str = "smoke test password 1234";
/// Frames the subscribers may miss in a smoke run (loopback loses nothing, but a loaded test
/// machine may drop a datagram that a retransmission does not recover in time).
const MAX_LOSS: f64 = 0.02;
/// The longest a smoke run of the generator may take before the test gives up.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The server binary, or `None` (the test is skipped) when `CONFIDANT_BIN` is not set.
fn confidant_bin() -> Option<PathBuf> {
    let Some(path) = std::env::var_os("CONFIDANT_BIN") else {
        eprintln!(
            "SKIPPED loadgen smoke run against the server: CONFIDANT_BIN is not set. Build the \
             server (cargo build -p confidant) and run with CONFIDANT_BIN=target/debug/confidant \
             (scripts/test.sh does)."
        );
        return None;
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "CONFIDANT_BIN={} is not a file — build it first (cargo build -p confidant)",
        path.display()
    );
    Some(path)
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn server_command(bin: &Path, data: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for var in [
        "DATABASE_URL",
        "CONFIDANT_DATA_DIR",
        "CONFIDANT_LISTEN",
        "CONFIDANT_PUBLIC_URL",
        "CONFIDANT_SFU_BIND",
        "CONFIDANT_SFU_ADVERTISE",
        "CONFIDANT_TURN_URLS",
        "CONFIDANT_SMTP_HOST",
        "CONFIDANT_MAX_PARTICIPANTS",
        "CONFIDANT_MAX_LOBBY",
    ] {
        cmd.env_remove(var);
    }
    cmd.arg("--data-dir").arg(data);
    cmd
}

/// Kills the child (server or relay) when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain `GET` over HTTP/1.1; returns the status code and body.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// Runs the generator (one publisher, two subscribers, 3 s window) with `extra` arguments;
/// bounded by [`RUN_LIMIT`].
fn loadgen(extra: &[&str]) -> Output {
    loadgen_shaped("1", "2", extra)
}

/// Runs the generator with this many publishers and subscribers per room (3 s window).
fn loadgen_shaped(publishers: &str, subscribers: &str, extra: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_confidant-loadgen"))
        .args([
            "--publishers",
            publishers,
            "--subscribers",
            subscribers,
            "--duration",
            "3",
            "--warmup",
            "1",
            "--setup-timeout",
            "30",
            "--json",
            "--quiet",
        ])
        .args(extra)
        .env_remove("CONFIDANT_LOADGEN_EMAIL")
        .env_remove("CONFIDANT_LOADGEN_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + RUN_LIMIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the load generator did not finish in {RUN_LIMIT:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

/// The JSON report, and a description of the run for failure messages.
fn parse_report(out: &Output, log: &str) -> (Value, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let context = format!(
        "status {}\nstdout: {stdout}\nstderr: {stderr}\nserver log:\n{log}",
        out.status
    );
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("no JSON report ({e}):\n{context}"));
    (report, context)
}

/// What every smoke run must show, through the server or the relay.
fn check_report(report: &Value, out: &Output, context: &str) {
    let num = |k: &str| {
        report[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k} missing:\n{context}"))
    };
    // Shape of the run.
    assert_eq!(num("publishers"), 1.0, "{context}");
    assert_eq!(num("subscribers"), 2.0, "{context}");
    assert_eq!(num("participants_failed"), 0.0, "{context}");
    // Media was forwarded: packets arrived at the subscribers from the forwarder.
    assert!(num("packets_sent") > 0.0, "{context}");
    assert!(num("packets_received") > 0.0, "{context}");
    assert!(num("forwarded_pps") > 0.0, "{context}");
    // The window frames of the publisher's two tracks reached both subscribers, each at most
    // once, and within the loss bound.
    let sent = num("frames_sent");
    assert!(sent > 0.0, "{context}");
    assert_eq!(num("frames_expected"), sent * 2.0, "{context}");
    let received = num("frames_received");
    assert!(received <= num("frames_expected"), "{context}");
    assert!(
        received >= (1.0 - MAX_LOSS) * num("frames_expected"),
        "{context}"
    );
    assert!(num("loss_ratio") <= MAX_LOSS, "{context}");
    assert_eq!(num("frames_duplicated"), 0.0, "{context}");
    // Latencies were measured for every window frame that arrived.
    assert_eq!(num("latency_samples"), received, "{context}");
    for k in [
        "latency_ms_p50",
        "latency_ms_p99",
        "latency_ms_p999",
        "time_to_first_frame_ms_p50",
        "join_ms_p50",
    ] {
        assert!(num(k) > 0.0, "{k}:\n{context}");
    }
    // The forwarding process was measured.
    assert!(num("sfu_cpu_seconds") >= 0.0, "{context}");
    assert!(num("sfu_rss_bytes") > 0.0, "{context}");
    for k in ["forwarded_mbps", "pps_per_cpu_second", "expected_packets"] {
        assert!(report.get(k).is_some(), "{k} missing:\n{context}");
    }
    // No errors (a subscriber that had not received both tracks when the window opened would
    // show as `not_ready_at_window_start`), everyone left cleanly, and the exit status says whether the run was OK
    // (0) or ran but lost something (1).
    assert_eq!(report["errors"], serde_json::json!({}), "{context}");
    assert_eq!(report["clean_shutdown"], Value::Bool(true), "{context}");
    let ok = report["ok"].as_bool().unwrap();
    assert_eq!(ok, num("loss_ratio") == 0.0, "{context}");
    assert_eq!(out.status.code(), Some(if ok { 0 } else { 1 }), "{context}");
}

/// A running `confidant` server with a counsellor account, in a temporary data directory.
struct RunningServer {
    server: Server,
    http_port: u16,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl RunningServer {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn alive(&mut self) -> bool {
        self.server.0.try_wait().unwrap().is_none()
    }

    /// The generator's arguments that point it at this server.
    fn args(&self) -> Vec<String> {
        vec![
            "--server".into(),
            format!("http://127.0.0.1:{}", self.http_port),
            "--email".into(),
            EMAIL.into(),
            "--password".into(),
            PASSWORD.into(),
            "--sfu-pid".into(),
            self.server.0.id().to_string(),
        ]
    }
}

/// Makes the counsellor and starts the server; waits until `/readyz` answers.
fn start_server(bin: &Path) -> RunningServer {
    start_server_with(bin, &[])
}

/// [`start_server`] with more server arguments.
fn start_server_with(bin: &Path, extra: &[&str]) -> RunningServer {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http_port = free_tcp_port();
    let udp_port = free_udp_port();

    // The counsellor the load generator logs in as.
    let mut admin = server_command(bin, &data)
        .args([
            "admin",
            "create-counsellor",
            "--email",
            EMAIL,
            "--name",
            "Smoke Test",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    admin
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = admin.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "create-counsellor failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = server_command(bin, &data)
        .arg("--listen")
        .arg(format!("127.0.0.1:{http_port}"))
        .arg("--sfu-bind")
        .arg(format!("127.0.0.1:{udp_port}"))
        .arg("--sfu-advertise")
        .arg("127.0.0.1")
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut server = Server(server);
    let server_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("server exited early ({status}):\n{}", server_log());
        }
        if get(http_port, "/readyz").is_some_and(|(s, _)| s == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server not ready in 60 s:\n{}",
            server_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    RunningServer {
        server,
        http_port,
        log_path,
        _dir: dir,
    }
}

#[test]
fn loadgen_smoke_run_through_the_server_forwards_media_and_shuts_down_cleanly() {
    let Some(bin) = confidant_bin() else {
        return;
    };
    let mut running = start_server(&bin);
    let http_port = running.http_port;
    let args = running.args();
    let out = loadgen(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (report, context) = parse_report(&out, &running.log());
    assert_eq!(report["mode"], "sfu", "{context}");
    check_report(&report, &out, &context);
    // The server was empty and healthy after the run.
    assert_eq!(report["clean_shutdown"], Value::Bool(true), "{context}");
    assert_eq!(
        report["server_after"]["confidant_participants"].as_f64(),
        Some(0.0),
        "{context}"
    );
    assert_eq!(
        report["server_after"]["confidant_sfu_peers"].as_f64(),
        Some(0.0),
        "{context}"
    );

    let alive = running.alive();
    assert!(alive, "server died:\n{}", running.log());
    let (status, body) = get(http_port, "/healthz").expect("healthz answers");
    assert_eq!(status, 200, "{body}");
    let (status, metrics) = get(http_port, "/metrics").expect("metrics answer");
    assert_eq!(status, 200);
    for line in [
        "confidant_participants 0",
        "confidant_sfu_peers 0",
        "confidant_lobby_waiting 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in:\n{metrics}"
        );
    }
}

/// A simulcast run whose subscribers all render at `view_height`: every (subscriber,
/// publisher) pair must end on `layer`, and inside the window only `layer` may arrive.
fn check_simulcast_run(running: &mut RunningServer, view_height: &str, layer: &str) {
    let mut args = running.args();
    // A low bitrate (f: 180 kbit/s) keeps every layer well inside the SFU's first bandwidth
    // estimate, so the rendered size alone decides.
    for a in [
        "--simulcast",
        "--view-height",
        view_height,
        "--video-kbps",
        "300",
    ] {
        args.push(a.into());
    }
    let out = loadgen(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (report, context) = parse_report(&out, &running.log());
    let context = format!(
        "--view-height {view_height}:
{context}"
    );
    let num = |v: &Value, k: &str| {
        v[k].as_f64().unwrap_or_else(|| {
            panic!(
                "{k} missing:
{context}"
            )
        })
    };
    assert_eq!(report["mode"], "sfu", "{context}");
    assert_eq!(report["simulcast"], Value::Bool(true), "{context}");
    assert_eq!(
        num(&report, "view_height"),
        view_height.parse::<f64>().unwrap()
    );
    assert_eq!(num(&report, "participants_failed"), 0.0, "{context}");
    assert_eq!(report["errors"], serde_json::json!({}), "{context}");
    assert_eq!(report["clean_shutdown"], Value::Bool(true), "{context}");
    assert_eq!(num(&report, "frames_duplicated"), 0.0, "{context}");
    // Both subscribers ended on the layer their size asks for.
    assert_eq!(
        report["final_layers"],
        serde_json::json!({ layer: 2 }),
        "{context}"
    );
    assert!(report["layer_switches"].as_u64().is_some(), "{context}");
    // The publisher sent all three layers; the subscribers got the asked-for one only.
    for l in ["q", "h", "f"] {
        let lr = &report["layers"][l];
        assert!(
            num(lr, "frames_sent") > 0.0,
            "layer {l}:
{context}"
        );
        assert!(
            num(lr, "packets_sent") > 0.0,
            "layer {l}:
{context}"
        );
        let received = num(lr, "frames_received");
        let expected = num(lr, "frames_expected");
        assert!(
            received <= expected,
            "layer {l}:
{context}"
        );
        if l == layer {
            // Both subscribers were on it for the whole window: its window frames twice.
            assert_eq!(
                expected,
                2.0 * num(lr, "frames_sent"),
                "layer {l}:
{context}"
            );
            assert!(
                received >= (1.0 - MAX_LOSS) * expected,
                "layer {l}:
{context}"
            );
            assert_eq!(
                num(lr, "latency_samples"),
                received,
                "layer {l}:
{context}"
            );
        } else {
            assert_eq!(
                received, 0.0,
                "layer {l}:
{context}"
            );
            assert_eq!(
                expected, 0.0,
                "layer {l}:
{context}"
            );
        }
    }
    // Totals: audio plus the one layer, not the sum of all layers.
    let received = num(&report, "frames_received");
    let expected = num(&report, "frames_expected");
    assert!(expected < 2.0 * num(&report, "frames_sent"), "{context}");
    assert!(received <= expected, "{context}");
    assert!(num(&report, "loss_ratio") <= MAX_LOSS, "{context}");
    assert_eq!(num(&report, "latency_samples"), received, "{context}");
    let ok = report["ok"].as_bool().unwrap();
    assert_eq!(out.status.code(), Some(if ok { 0 } else { 1 }), "{context}");
    let alive = running.alive();
    assert!(alive, "server died:\n{}", running.log());
}

#[test]
fn loadgen_simulcast_runs_get_the_layer_the_view_height_asks_for() {
    let Some(bin) = confidant_bin() else {
        return;
    };
    let mut running = start_server(&bin);
    check_simulcast_run(&mut running, "180", "q");
    check_simulcast_run(&mut running, "720", "f");
}

#[test]
fn loadgen_smoke_run_through_the_baseline_relay_forwards_media() {
    smoke_run_through_the_relay(&[]);
}

#[test]
fn loadgen_smoke_run_through_the_batching_gso_relay_forwards_media() {
    // `relay --gso` (the benchmark's raw-relay-gso row): bursts in, GSO runs out.
    smoke_run_through_the_relay(&["--gso"]);
}

fn smoke_run_through_the_relay(relay_args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("relay.port");
    let relay = Command::new(env!("CARGO_BIN_EXE_confidant-loadgen"))
        .args(["relay", "--bind", "127.0.0.1:0", "--max-seconds", "180"])
        .args(relay_args)
        .arg("--port-file")
        .arg(&port_file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut relay = Server(relay);
    let deadline = Instant::now() + Duration::from_secs(30);
    let port: u16 = loop {
        if let Some(p) = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            break p;
        }
        if let Ok(Some(status)) = relay.0.try_wait() {
            panic!("the relay exited early ({status})");
        }
        assert!(Instant::now() < deadline, "the relay did not start in 30 s");
        std::thread::sleep(Duration::from_millis(50));
    };

    let out = loadgen(&[
        "--raw-relay",
        &format!("127.0.0.1:{port}"),
        "--sfu-pid",
        &relay.0.id().to_string(),
    ]);
    let (report, context) = parse_report(&out, "(relay)");
    assert_eq!(report["mode"], "raw-relay", "{context}");
    check_report(&report, &out, &context);
    assert!(
        relay.0.try_wait().unwrap().is_none(),
        "the relay died:\n{context}"
    );
}

/// A room of six where two talk, through a server that forwards the two loudest voices: every
/// frame of the talkers arrives, none of the silent publishers' audio does, and the server
/// counts what it held back.
#[test]
fn loadgen_audio_room_through_a_loudest_voices_server_hears_every_talker() {
    let Some(bin) = confidant_bin() else {
        return;
    };
    let mut running = start_server_with(&bin, &["--sfu-loudest-audio", "2"]);
    let mut args = running.args();
    args.extend(["--audio-only", "--talkers", "2"].map(String::from));
    let out = loadgen_shaped(
        "6",
        "1",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let (report, context) = parse_report(&out, &running.log());
    let num = |k: &str| {
        report[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k} missing:\n{context}"))
    };
    assert_eq!(num("participants_failed"), 0.0, "{context}");
    assert_eq!(num("talkers"), 2.0, "{context}");
    // Each talker's window frames reach the other five publishers and the subscriber.
    assert!(num("frames_expected") > 0.0, "{context}");
    assert_eq!(num("loss_ratio"), 0.0, "{context}");
    assert_eq!(num("frames_received"), num("frames_expected"), "{context}");
    assert_eq!(num("silent_audio_frames_received"), 0.0, "{context}");
    assert_eq!(report["errors"], serde_json::json!({}), "{context}");
    assert_eq!(out.status.code(), Some(0), "{context}");

    assert!(running.alive(), "server died:\n{}", running.log());
    let (status, metrics) = get(running.http_port, "/metrics").expect("metrics answer");
    assert_eq!(status, 200);
    let held_back = metrics
        .lines()
        .find_map(|l| l.strip_prefix("confidant_sfu_audio_not_forwarded_packets_total "))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no audio_not_forwarded in:\n{metrics}"));
    // Four silent publishers at 50 packets/s for at least the 4 s of warm-up and window.
    assert!(
        held_back > 4.0 * 50.0 * 4.0 * 0.5,
        "{held_back}:\n{context}"
    );
}
