//! Orchestration of a run: log in, create sessions and hosts, start participants in order,
//! open and close the measurement window, leave, check the server, build the report.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::{oneshot, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::{Args, Plan};
use crate::http::Http;
use crate::participant::{self, new_histogram, Spec};
use crate::payload::{Kind, Layer};
use crate::procstat::{self, ProcSample};
use crate::report::{LayerReport, Report};
use crate::shared::{Control, Counters, RoomInfo, Shared, LOBBY_IN_FLIGHT};
use crate::simulcast;
use crate::{host, janus, raw, Error};

/// After the window closes, frames stamped inside it may still be in flight this long.
const DRAIN: Duration = Duration::from_millis(1000);
/// How long to wait for all participants to leave.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may take to show zero participants after everyone left.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Failure messages kept for the report.
const MAX_FAILURES: usize = 10;
/// Churn runs its cycles in this many parts and reads the server's RSS after each; the first
/// part is the warm-up.
const CHURN_TENTHS: u64 = 10;

/// Runs the plan against the server (or, with `--raw-relay`, the baseline relay) and
/// reports.
pub async fn run(plan: &Plan, args: &Args) -> Result<Report, Error> {
    if let Some(relay) = plan.raw_relay {
        return run_raw(plan, args, relay).await;
    }
    if let Some(target) = &plan.janus {
        return run_janus(plan, args, target).await;
    }
    let pid = sfu_pid(args)?;
    let mut http = Http::new(&args.server)?;
    let (Some(email), Some(password)) = (&args.email, &args.password) else {
        return Err(Error::Config("--email and --password are needed".into()));
    };
    http.login(email, password).await?;
    let shared = Arc::new(Shared::new(http.authority().to_owned()));
    let rss_before = pid
        .and_then(|p| procstat::sample(p).ok())
        .map(|s| s.rss_bytes);

    // Sessions and their hosts.
    let (host_tx, host_rx) = watch::channel(Control::Run);
    let mut rooms = Vec::new();
    let mut hosts = Vec::new();
    for r in 0..plan.rooms {
        let session = http
            .json(
                "POST",
                "/api/sessions",
                Some(&json!({"title": format!("loadgen {r}"), "ttl_minutes": 240})),
            )
            .await?;
        let id = session["id"]
            .as_str()
            .ok_or(Error::Http("session without id".into()))?
            .to_owned();
        let link = session["join_url"]
            .as_str()
            .and_then(|u| u.rsplit("/j/").next())
            .ok_or(Error::Http("session without join_url".into()))?
            .to_owned();
        let ht = http
            .json("POST", &format!("/api/sessions/{id}/host-token"), None)
            .await?;
        let room = ht["room"].as_str().unwrap_or(&id).to_owned();
        let token = ht["token"]
            .as_str()
            .ok_or(Error::Http("host token missing".into()))?
            .to_owned();
        let (joined_tx, joined_rx) = oneshot::channel();
        hosts.push(tokio::spawn(host::run(
            shared.clone(),
            room,
            token,
            host_rx.clone(),
            joined_tx,
        )));
        joined_rx
            .await
            .map_err(|_| Error::Signal("host task ended".into()))?
            .map_err(|e| Error::Signal(format!("host of room {r} could not join: {e}")))?;
        rooms.push(Arc::new(RoomInfo {
            index: r as usize,
            session_id: id,
            link,
            lobby_gate: Semaphore::new(LOBBY_IN_FLIGHT),
        }));
    }

    let progress = (!args.quiet).then(|| spawn_progress(shared.clone(), pid, plan.clone()));
    let (ctl_tx, ctl_rx) = watch::channel(Control::Run);
    let mut report = new_report(plan, pid, rss_before);
    let kinds = if plan.video { 2 } else { 1 };
    let next_index = Arc::new(AtomicU64::new(0));
    let spec = spec_maker(plan, &next_index);

    let outcome = if plan.is_churn() {
        churn(
            plan,
            &shared,
            &rooms,
            &ctl_rx,
            pid,
            &mut report,
            kinds,
            &spec,
        )
        .await
    } else {
        steady(
            plan,
            &shared,
            &rooms,
            &ctl_rx,
            pid,
            &mut report,
            kinds,
            &spec,
        )
        .await
    };
    let mut reports = outcome?;

    // Leave: stop media, then everyone leaves, then the hosts.
    shared.leaving.store(true, Ordering::Relaxed);
    let _ = ctl_tx.send(Control::StopMedia);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = ctl_tx.send(Control::Leave);
    for h in reports.1.drain(..) {
        match tokio::time::timeout(LEAVE_TIMEOUT, h).await {
            Ok(Ok(r)) => reports.0.push(r),
            Ok(Err(e)) => shared.error(&format!("task_panicked: {e}")),
            Err(_) => shared.error("leave_timeout"),
        }
    }
    let _ = host_tx.send(Control::Leave);
    let mut hosts_clean = true;
    for h in hosts {
        match tokio::time::timeout(LEAVE_TIMEOUT, h).await {
            Ok(Ok(r)) => {
                hosts_clean &= r.clean_leave && r.failure.is_none();
                if let Some(f) = r.failure {
                    report.failures.push(format!("host: {f}"));
                }
            }
            _ => hosts_clean = false,
        }
    }
    for room in &rooms {
        if let Err(e) = http
            .json(
                "POST",
                &format!("/api/sessions/{}/end", room.session_id),
                None,
            )
            .await
        {
            shared.error("end_session_failed");
            tracing::warn!("ending session: {e}");
        }
    }
    if let Some(p) = progress {
        p.abort();
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprintln!();
        }
    }

    // The server must be healthy and empty again.
    let settled = settle(&http).await;
    let healthy = http
        .request("GET", "/healthz", None)
        .await
        .map(|r| r.status == 200)
        .unwrap_or(false);
    report.server_after = settled.1;
    let participants_clean = reports.0.iter().all(|r| r.clean_leave);
    report.clean_shutdown = participants_clean && hosts_clean && settled.0 && healthy;

    aggregate(plan, &mut report, &reports.0);
    report.errors = shared.errors();
    report.ok = run_ok(&report);
    Ok(report)
}

/// The report of a run before anything is measured.
fn new_report(plan: &Plan, pid: Option<u32>, rss_before: Option<u64>) -> Report {
    Report {
        scenario: plan.name.clone(),
        mode: if plan.raw_relay.is_some() {
            "raw-relay"
        } else if plan.janus.is_some() {
            "janus"
        } else {
            "sfu"
        }
        .to_owned(),
        rooms: plan.rooms,
        audio_only: !plan.video,
        video_kbps: plan.video_kbps,
        fps: plan.fps,
        simulcast: plan.simulcast,
        view_height: plan.view_height,
        talkers: plan.talkers,
        sfu_pid: pid,
        sfu_rss_before_bytes: rss_before,
        ..Report::default()
    }
}

/// Makes participant specs with unique indices: `(name, publishes, tracks expected, churn)`.
fn spec_maker<'a>(
    plan: &'a Plan,
    next_index: &'a AtomicU64,
) -> impl Fn(String, bool, usize, bool) -> Spec + Sync + 'a {
    move |name, publish, expect, churn| Spec {
        index: u32::try_from(next_index.fetch_add(1, Ordering::Relaxed)).unwrap_or(u32::MAX),
        name,
        audio: publish,
        video: publish && plan.video,
        expect_tracks: expect,
        expect_negotiated: expect,
        leave_when_ready: churn,
        video_kbps: plan.video_kbps,
        fps: plan.fps,
        simulcast: plan.simulcast && publish,
        view_height: plan.view_height,
        setup_timeout: plan.setup_timeout,
        talking: publish,
    }
}

/// Which forwarder participants go through.
#[derive(Clone)]
enum Via {
    /// The server (signalling websocket, the SFU).
    Server,
    /// The baseline relay.
    Relay(SocketAddr),
    /// Janus, with this many publishers per room.
    Janus(janus::Target, u32),
}

impl Via {
    fn of(plan: &Plan) -> Via {
        match (&plan.janus, plan.raw_relay) {
            (Some(t), _) => Via::Janus(t.clone(), plan.publishers),
            (None, Some(relay)) => Via::Relay(relay),
            (None, None) => Via::Server,
        }
    }
}

/// One participant, over the server, (baseline) the relay or (peer SFU) Janus.
async fn participant(
    via: Via,
    spec: Spec,
    room: Arc<RoomInfo>,
    shared: Arc<Shared>,
    ctl: watch::Receiver<Control>,
) -> participant::Report {
    match via {
        Via::Relay(relay) => raw::run(spec, room, relay, shared, ctl).await,
        Via::Janus(target, publishers) => {
            // Every publisher of the room but itself.
            let own = usize::from(spec.audio || spec.video);
            let feeds = (publishers as usize).saturating_sub(own);
            janus::run(spec, room, target, feeds, shared, ctl).await
        }
        Via::Server => participant::run(spec, room, shared, ctl).await,
    }
}

/// The baseline: the same steady run through the plain relay, no server.
async fn run_raw(plan: &Plan, args: &Args, relay: SocketAddr) -> Result<Report, Error> {
    let pid = sfu_pid(args)?;
    let shared = Arc::new(Shared::new(relay.to_string()));
    let rss_before = pid
        .and_then(|p| procstat::sample(p).ok())
        .map(|s| s.rss_bytes);
    let rooms: Vec<Arc<RoomInfo>> = (0..plan.rooms)
        .map(|r| {
            Arc::new(RoomInfo {
                index: r as usize,
                session_id: String::new(),
                link: String::new(),
                lobby_gate: Semaphore::new(LOBBY_IN_FLIGHT),
            })
        })
        .collect();
    let progress = (!args.quiet).then(|| spawn_progress(shared.clone(), pid, plan.clone()));
    let (ctl_tx, ctl_rx) = watch::channel(Control::Run);
    let mut report = new_report(plan, pid, rss_before);
    let kinds = if plan.video { 2 } else { 1 };
    let next_index = AtomicU64::new(0);
    let spec = spec_maker(plan, &next_index);
    let (mut done, handles) = steady(
        plan,
        &shared,
        &rooms,
        &ctl_rx,
        pid,
        &mut report,
        kinds,
        &spec,
    )
    .await?;
    shared.leaving.store(true, Ordering::Relaxed);
    let _ = ctl_tx.send(Control::StopMedia);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = ctl_tx.send(Control::Leave);
    for h in handles {
        match tokio::time::timeout(LEAVE_TIMEOUT, h).await {
            Ok(Ok(r)) => done.push(r),
            Ok(Err(e)) => shared.error(&format!("task_panicked: {e}")),
            Err(_) => shared.error("leave_timeout"),
        }
    }
    if let Some(p) = progress {
        p.abort();
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprintln!();
        }
    }
    // Every participant left and the relay acknowledged it.
    report.clean_shutdown =
        done.iter().all(|r| r.clean_leave) && done.len() as u64 == report.participants;
    aggregate(plan, &mut report, &done);
    report.errors = shared.errors();
    report.ok = run_ok(&report);
    Ok(report)
}

/// The peer SFU: the same steady run through Janus's videoroom, rooms made over its API.
async fn run_janus(plan: &Plan, args: &Args, target: &janus::Target) -> Result<Report, Error> {
    let pid = sfu_pid(args)?;
    let shared = Arc::new(Shared::new(target.addr.to_string()));
    let rss_before = pid
        .and_then(|p| procstat::sample(p).ok())
        .map(|s| s.rss_bytes);
    let client = janus::Client::new(target.clone(), "rooms");
    // Room ids of this run: random, so a Janus left over from another run does not clash.
    let base = 1_000_000 + u64::from(rand::random::<u32>()) * 1000;
    let admin = janus::create_rooms(&client, base, plan.rooms).await?;
    // Long-polling keeps the rooms' session alive (Janus ends idle sessions after 60 s).
    let keep_alive = {
        let client = client.clone();
        tokio::spawn(async move {
            loop {
                if client.poll(admin.0).await.is_err() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        })
    };
    let rooms: Vec<Arc<RoomInfo>> = (0..plan.rooms)
        .map(|r| {
            Arc::new(RoomInfo {
                index: r as usize,
                session_id: (base + u64::from(r)).to_string(),
                link: String::new(),
                lobby_gate: Semaphore::new(LOBBY_IN_FLIGHT),
            })
        })
        .collect();
    let progress = (!args.quiet).then(|| spawn_progress(shared.clone(), pid, plan.clone()));
    let (ctl_tx, ctl_rx) = watch::channel(Control::Run);
    let mut report = new_report(plan, pid, rss_before);
    let kinds = if plan.video { 2 } else { 1 };
    let next_index = AtomicU64::new(0);
    let spec = spec_maker(plan, &next_index);
    let outcome = steady(
        plan,
        &shared,
        &rooms,
        &ctl_rx,
        pid,
        &mut report,
        kinds,
        &spec,
    )
    .await;
    shared.leaving.store(true, Ordering::Relaxed);
    let _ = ctl_tx.send(Control::StopMedia);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = ctl_tx.send(Control::Leave);
    let (mut done, handles) = match outcome {
        Ok(r) => r,
        Err(e) => {
            keep_alive.abort();
            janus::destroy_rooms(&client, admin, base, plan.rooms).await;
            return Err(e);
        }
    };
    let started = done.len() + handles.len();
    for h in handles {
        match tokio::time::timeout(LEAVE_TIMEOUT, h).await {
            Ok(Ok(r)) => done.push(r),
            Ok(Err(e)) => shared.error(&format!("task_panicked: {e}")),
            Err(_) => shared.error("leave_timeout"),
        }
    }
    keep_alive.abort();
    let rooms_gone = janus::destroy_rooms(&client, admin, base, plan.rooms).await;
    if !rooms_gone {
        shared.error("janus_room_destroy_failed");
    }
    if let Some(p) = progress {
        p.abort();
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprintln!();
        }
    }
    // Every participant's session and every room were destroyed.
    report.clean_shutdown =
        rooms_gone && done.iter().all(|r| r.clean_leave) && done.len() == started;
    aggregate(plan, &mut report, &done);
    report.errors = shared.errors();
    report.ok = run_ok(&report);
    Ok(report)
}

/// A run is OK when nobody failed, nothing was lost or duplicated, frames arrived, and
/// everyone left cleanly.
fn run_ok(r: &Report) -> bool {
    r.participants_failed == 0
        && r.frames_duplicated == 0
        && r.loss_ratio == 0.0
        && r.clean_shutdown
        && r.frames_received > 0
}

type Reports = (
    Vec<participant::Report>,
    Vec<JoinHandle<participant::Report>>,
);

/// Steady state: publishers, then subscribers, warm-up, the window.
#[allow(clippy::too_many_arguments)]
async fn steady(
    plan: &Plan,
    shared: &Arc<Shared>,
    rooms: &[Arc<RoomInfo>],
    ctl: &watch::Receiver<Control>,
    pid: Option<u32>,
    report: &mut Report,
    kinds: usize,
    spec: &(dyn Fn(String, bool, usize, bool) -> Spec + Sync),
) -> Result<Reports, Error> {
    let pubs = plan.publishers as usize;
    let subs = plan.subscribers as usize;
    let mut handles = Vec::new();
    for room in rooms {
        for i in 0..pubs {
            let talking = talks(plan, i);
            let mut s = spec(
                format!("publisher {}-{i}", room.index),
                true,
                (pubs - 1) * kinds - silent_others(plan, !talking),
                false,
            );
            s.talking = talking;
            s.expect_negotiated = (pubs - 1) * kinds;
            handles.push(tokio::spawn(participant(
                Via::of(plan),
                s,
                room.clone(),
                shared.clone(),
                ctl.clone(),
            )));
        }
    }
    let n_pub = (pubs * rooms.len()) as u64;
    // Publishers first, so subscribers find their tracks already published.
    let connect_limit = plan.setup_timeout + Duration::from_secs_f64(n_pub as f64 / 10.0);
    wait_until(connect_limit, || {
        Counters::get(&shared.counters.connected) + Counters::get(&shared.counters.failed) >= n_pub
    })
    .await;
    for room in rooms {
        for i in 0..subs {
            let mut s = spec(
                format!("subscriber {}-{i}", room.index),
                false,
                pubs * kinds - silent_others(plan, false),
                false,
            );
            s.expect_negotiated = pubs * kinds;
            handles.push(tokio::spawn(participant(
                Via::of(plan),
                s,
                room.clone(),
                shared.clone(),
                ctl.clone(),
            )));
        }
    }
    let total = handles.len() as u64;
    // Joins are paced by each host's admit rate (15/s per room).
    let per_room = (pubs + subs) as f64;
    let ready_limit = plan.setup_timeout + Duration::from_secs_f64(per_room / 10.0);
    wait_until(ready_limit, || {
        Counters::get(&shared.counters.ready) + Counters::get(&shared.counters.failed) >= total
    })
    .await;
    let ready = Counters::get(&shared.counters.ready);
    if ready < total {
        shared.error("not_ready_at_window_start");
    }
    tokio::time::sleep(plan.warmup).await;

    report.publishers = n_pub;
    report.subscribers = (subs * rooms.len()) as u64;
    report.participants = total;
    let receivers_per_pub = (pubs - 1 + subs) as u64;
    report.forwarded_streams = n_pub * kinds as u64 * receivers_per_pub;

    let window = measure(shared, pid, plan.duration).await;
    window.apply(report);
    tokio::time::sleep(DRAIN).await;
    Ok((Vec::new(), handles))
}

/// Whether publisher `i` of its room talks (`--talkers`).
fn talks(plan: &Plan, i: usize) -> bool {
    plan.talkers.is_none_or(|k| i < k as usize)
}

/// Silent publishers in a room besides oneself (`silent_self`: one is a silent publisher):
/// their audio is not expected (an SFU may forward only the loudest voices).
fn silent_others(plan: &Plan, silent_self: bool) -> usize {
    let silent = plan
        .talkers
        .map_or(0, |k| plan.publishers.saturating_sub(k) as usize);
    silent.saturating_sub(usize::from(silent_self))
}

/// Churn: a resident publisher per room; clients join, receive every track, leave.
#[allow(clippy::too_many_arguments)]
async fn churn(
    plan: &Plan,
    shared: &Arc<Shared>,
    rooms: &[Arc<RoomInfo>],
    ctl: &watch::Receiver<Control>,
    pid: Option<u32>,
    report: &mut Report,
    kinds: usize,
    spec: &(dyn Fn(String, bool, usize, bool) -> Spec + Sync),
) -> Result<Reports, Error> {
    let mut residents = Vec::new();
    for room in rooms {
        let s = spec(format!("resident {}", room.index), true, 0, false);
        residents.push(tokio::spawn(participant::run(
            s,
            room.clone(),
            shared.clone(),
            ctl.clone(),
        )));
    }
    let n_res = rooms.len() as u64;
    wait_until(plan.setup_timeout, || {
        Counters::get(&shared.counters.connected) + Counters::get(&shared.counters.failed) >= n_res
    })
    .await;
    tokio::time::sleep(plan.warmup).await;

    let window = OpenWindow::open(shared, pid);
    let deadline = window.t0 + plan.duration;
    let started = Arc::new(AtomicU64::new(0));
    let mut reports = Vec::new();
    // The cycles run in tenths; after each, every churning client is gone (as at the end)
    // and the server's RSS is read, so growth can be told from first-use growth (the first
    // tenth warms allocator arenas, caches, the runtime and the database).
    let mut rss_by_tenth = Vec::new();
    let mut done_by_tenth = Vec::new();
    for upto in churn_marks(plan.cycles) {
        reports.extend(
            churn_until(
                plan, shared, rooms, ctl, kinds, spec, &started, upto, deadline,
            )
            .await,
        );
        if let Some(s) = sample(pid) {
            rss_by_tenth.push(s.rss_bytes);
            done_by_tenth.push(Counters::get(&shared.counters.cycles));
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    let window = window.close(shared, pid);
    let elapsed = window.elapsed;
    window.apply(report);
    let done = Counters::get(&shared.counters.cycles);
    report.cycles = Some(plan.cycles);
    report.cycles_completed = Some(done);
    report.cycles_per_second = Some(done as f64 / elapsed.as_secs_f64().max(1e-9));
    // The first tenth is the warm-up; growth after it is what churn leaves behind.
    report.warm_cycles = done_by_tenth.first().copied();
    report.sfu_rss_warm_bytes = rss_by_tenth.first().copied();
    report.sfu_rss_by_tenth = rss_by_tenth;
    report.cycles_by_tenth = done_by_tenth;
    report.publishers = n_res;
    report.participants = n_res + reports.len() as u64;
    report.forwarded_streams = n_res * kinds as u64;
    Ok((reports, residents))
}

/// The cycle counts at which churn pauses to read the server's RSS: the ends of its tenths,
/// increasing, without repeats (fewer than ten cycles give fewer marks), the last `cycles`.
fn churn_marks(cycles: u64) -> Vec<u64> {
    let mut marks: Vec<u64> = (1..=CHURN_TENTHS)
        .map(|t| cycles * t / CHURN_TENTHS)
        .filter(|&m| m > 0)
        .collect();
    marks.dedup();
    marks
}

/// Runs churn cycles with `--churn-parallel` clients per room until `started` reaches `upto`
/// or the deadline passes, and waits for every client to be gone.
#[allow(clippy::too_many_arguments)]
async fn churn_until(
    plan: &Plan,
    shared: &Arc<Shared>,
    rooms: &[Arc<RoomInfo>],
    ctl: &watch::Receiver<Control>,
    kinds: usize,
    spec: &(dyn Fn(String, bool, usize, bool) -> Spec + Sync),
    started: &Arc<AtomicU64>,
    upto: u64,
    deadline: Instant,
) -> Vec<participant::Report> {
    let mut workers = Vec::new();
    for room in rooms {
        for w in 0..plan.churn_parallel {
            let (room, shared, ctl, started) =
                (room.clone(), shared.clone(), ctl.clone(), started.clone());
            let mk = spec(format!("churn {}-{w}", room.index), false, kinds, true);
            workers.push(tokio::spawn(async move {
                let mut out = Vec::new();
                loop {
                    // Take a cycle only if one is left below `upto`.
                    let n = started.fetch_add(1, Ordering::Relaxed);
                    if n >= upto || Instant::now() >= deadline {
                        started.fetch_sub(1, Ordering::Relaxed);
                        break;
                    }
                    let mut s = mk.clone();
                    // Unique publisher-id space is only needed for publishers; churners publish
                    // nothing, so they may share the index of their worker.
                    s.name = format!("{} #{n}", mk.name);
                    let r = participant::run(s, room.clone(), shared.clone(), ctl.clone()).await;
                    if r.failure.is_none() {
                        Counters::inc(&shared.counters.cycles);
                    }
                    out.push(r);
                }
                out
            }));
        }
    }
    let mut reports = Vec::new();
    for w in workers {
        if let Ok(rs) = w.await {
            reports.extend(rs);
        }
    }
    reports
}

/// Readings at the start and end of the measurement window.
struct Window {
    elapsed: Duration,
    start: Option<ProcSample>,
    end: Option<ProcSample>,
    own: Option<f64>,
    /// UDP receive-buffer drops on the machine from the run's start to the window's end.
    udp_drops: Option<u64>,
}

fn udp_drops_since_start(shared: &Shared) -> Option<u64> {
    shared
        .udp_rcvbuf_errors_at_start
        .zip(procstat::udp_rcvbuf_errors())
        .map(|(a, b)| b.saturating_sub(a))
}

impl Window {
    fn apply(&self, r: &mut Report) {
        r.duration_s = self.elapsed.as_secs_f64();
        if let (Some(a), Some(b)) = (self.start, self.end) {
            let cpu = (b.cpu_seconds - a.cpu_seconds).max(0.0);
            r.sfu_cpu_seconds = Some(cpu);
            r.sfu_cpu_percent = Some(100.0 * cpu / r.duration_s.max(1e-9));
            r.sfu_rss_bytes = Some(b.rss_bytes);
            r.sfu_rss_peak_bytes = Some(b.rss_peak_bytes);
        }
        r.loadgen_cpu_seconds = self.own;
        r.udp_rcvbuf_drops = self.udp_drops;
    }
}

fn sample(pid: Option<u32>) -> Option<ProcSample> {
    pid.and_then(|p| procstat::sample(p).ok())
}

/// The measurement window of a steady run.
async fn measure(shared: &Shared, pid: Option<u32>, duration: Duration) -> Window {
    let window = OpenWindow::open(shared, pid);
    tokio::time::sleep(duration).await;
    window.close(shared, pid)
}

/// A measurement window that is running: the readings at its start.
struct OpenWindow {
    t0: Instant,
    start: Option<ProcSample>,
    own_start: Option<ProcSample>,
}

impl OpenWindow {
    /// Reads the server's and the generator's counters and starts counting what arrives.
    fn open(shared: &Shared, pid: Option<u32>) -> OpenWindow {
        let start = sample(pid);
        let own_start = procstat::sample(std::process::id()).ok();
        shared.measuring.store(true, Ordering::Relaxed);
        OpenWindow {
            t0: Instant::now(),
            start,
            own_start,
        }
    }

    /// Stops counting and reads the counters again.
    fn close(self, shared: &Shared, pid: Option<u32>) -> Window {
        shared.measuring.store(false, Ordering::Relaxed);
        let elapsed = self.t0.elapsed();
        let end = sample(pid);
        let own_end = procstat::sample(std::process::id()).ok();
        Window {
            elapsed,
            udp_drops: udp_drops_since_start(shared),
            start: self.start,
            end,
            own: self
                .own_start
                .zip(own_end)
                .map(|(a, b)| b.cpu_seconds - a.cpu_seconds),
        }
    }
}

async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `/metrics` shows no participants, lobby clients or SFU peers.
async fn settle(http: &Http) -> (bool, BTreeMap<String, f64>) {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let keys = [
        "confidant_participants",
        "confidant_lobby_waiting",
        "confidant_sfu_peers",
        "confidant_ws_connections",
    ];
    loop {
        let m = http.metrics().await.unwrap_or_default();
        let picked: BTreeMap<String, f64> = keys
            .iter()
            .filter_map(|k| m.get(*k).map(|v| ((*k).to_owned(), *v)))
            .collect();
        let empty = picked.len() == keys.len()
            && picked.get("confidant_participants") == Some(&0.0)
            && picked.get("confidant_lobby_waiting") == Some(&0.0)
            && picked.get("confidant_sfu_peers") == Some(&0.0);
        if empty || Instant::now() >= deadline {
            return (empty, picked);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Folds the participants' reports into the run's report.
fn aggregate(plan: &Plan, r: &mut Report, reports: &[participant::Report]) {
    let mut latency: Histogram<u64> = new_histogram();
    let mut admit: Histogram<u64> = new_histogram();
    let mut join: Histogram<u64> = new_histogram();
    let mut ttff: Histogram<u64> = new_histogram();
    let mut ready: Histogram<u64> = new_histogram();
    let mut leave: Histogram<u64> = new_histogram();
    let receivers_per_pub = u64::from(plan.publishers.saturating_sub(1) + plan.subscribers);
    let silent: std::collections::BTreeSet<u32> = reports
        .iter()
        .filter(|p| !p.talking)
        .map(|p| p.index)
        .collect();
    for p in reports {
        let _ = latency.add(&p.latency_us);
        for (h, d) in [
            (&mut admit, p.admitted),
            (&mut join, p.join),
            (&mut ttff, p.first_frame),
            (&mut ready, p.ready),
            (&mut leave, p.leave),
        ] {
            if let Some(d) = d {
                h.saturating_record(us(d));
            }
        }
        r.packets_received += p.win_rx_packets;
        r.forwarded_mbps += p.win_rx_bytes as f64 * 8.0;
        r.packets_sent += p.win_tx_packets;
        r.late_frames += p.late_frames;
        if !plan.is_churn() {
            // A silent publisher's audio (`--talkers`) is not expected anywhere.
            let unexpected_audio = if p.talking {
                0
            } else {
                p.tx.get(&(Kind::Audio, None)).map_or(0, |t| t.in_window)
            };
            if !plan.simulcast {
                r.expected_packets +=
                    p.win_tx_packets.saturating_sub(unexpected_audio) * receivers_per_pub;
            }
            for (&(kind, layer), t) in &p.tx {
                r.frames_sent += t.in_window;
                if kind == Kind::Audio && !p.talking {
                    continue;
                }
                // Simulcast video is counted against the layer each receiver got (below).
                if layer.is_none() {
                    r.frames_expected += t.in_window * receivers_per_pub;
                }
                if plan.simulcast && kind == Kind::Audio {
                    // One packet per Opus frame.
                    r.expected_packets += t.in_window * receivers_per_pub;
                }
            }
        } else {
            for t in p.tx.values() {
                r.frames_sent += t.in_window;
            }
        }
        for (&(from, kind, layer), t) in &p.rx {
            if kind == Kind::Audio && silent.contains(&from) {
                // Forwarded or not, as the SFU sees fit; not counted.
                r.silent_audio_frames_received += t.in_window;
                continue;
            }
            r.frames_out_of_order += t.out_of_order;
            r.frames_duplicated += t.duplicates;
            if layer.is_some() {
                // Simulcast: received frames are counted by layer stretch (simulcast_loss).
            } else if plan.is_churn() {
                // Gaps between the first and last frame each churning client saw.
                if let Some(first) = t.first_seq {
                    let expected = t.last_seq - first + 1;
                    r.frames_expected += expected;
                    r.frames_received += t.in_window.min(expected);
                }
            } else {
                r.frames_received += t.in_window;
            }
        }
        if let Some(f) = &p.failure {
            r.participants_failed += 1;
            if r.failures.len() < MAX_FAILURES {
                r.failures.push(format!("participant {}: {f}", p.index));
            }
        }
    }
    if plan.simulcast {
        simulcast_loss(plan, r, reports, receivers_per_pub);
    }
    let secs = r.duration_s.max(1e-9);
    r.forwarded_pps = r.packets_received as f64 / secs;
    r.forwarded_mbps /= secs * 1e6;
    if plan.is_churn() {
        r.expected_packets = r.packets_received;
    }
    r.loss_ratio = if r.frames_expected == 0 {
        0.0
    } else {
        (r.frames_expected.saturating_sub(r.frames_received)) as f64 / r.frames_expected as f64
    };
    r.pps_per_cpu_second = r
        .sfu_cpu_seconds
        .filter(|c| *c > 0.0)
        .map(|c| r.packets_received as f64 / c);
    r.latency_samples = latency.len();
    let q = |h: &Histogram<u64>, q: f64| {
        (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
    };
    r.latency_ms_p50 = q(&latency, 0.5);
    r.latency_ms_p99 = q(&latency, 0.99);
    r.latency_ms_p999 = q(&latency, 0.999);
    r.latency_ms_max = (!latency.is_empty()).then(|| latency.max() as f64 / 1000.0);
    r.join_ms_p50 = q(&join, 0.5);
    r.join_ms_p99 = q(&join, 0.99);
    r.time_to_first_frame_ms_p50 = q(&ttff, 0.5);
    r.time_to_first_frame_ms_p99 = q(&ttff, 0.99);
    r.admit_ms_p50 = q(&admit, 0.5);
    r.admit_ms_p99 = q(&admit, 0.99);
    r.ready_ms_p50 = q(&ready, 0.5);
    r.ready_ms_p99 = q(&ready, 0.99);
    r.leave_ms_p50 = q(&leave, 0.5);
    r.leave_ms_p99 = q(&leave, 0.99);
}

/// Simulcast video: expected and received window frames per layer, counted against the layer
/// each receiver got (see [`simulcast`]), switches, final layers, per-layer latency.
fn simulcast_loss(
    plan: &Plan,
    r: &mut Report,
    reports: &[participant::Report],
    receivers_per_pub: u64,
) {
    let steady = !plan.is_churn();
    let mut layers: BTreeMap<Layer, LayerReport> = BTreeMap::new();
    let mut latency: BTreeMap<Layer, Histogram<u64>> = BTreeMap::new();
    // Each publisher's window per layer and its packets per window frame.
    let mut windows: BTreeMap<(u32, Layer), (u64, u64)> = BTreeMap::new();
    let mut packets_per_frame: BTreeMap<(u32, Layer), f64> = BTreeMap::new();
    let mut publishers: Vec<u32> = Vec::new();
    for p in reports {
        for (&(_, layer), t) in &p.tx {
            let Some(layer) = layer else { continue };
            if !publishers.contains(&p.index) {
                publishers.push(p.index);
            }
            let l = layers.entry(layer).or_default();
            l.frames_sent += t.in_window;
            l.packets_sent += t.win_packets;
            if let Some(w) = t.window_seqs() {
                windows.insert((p.index, layer), w);
                packets_per_frame
                    .insert((p.index, layer), t.win_packets as f64 / t.in_window as f64);
            }
        }
        for (layer, h) in &p.layer_latency_us {
            let _ = latency.entry(*layer).or_insert_with(new_histogram).add(h);
        }
    }
    let (mut switches, mut window_switches) = (0, 0);
    let mut with_trail: BTreeMap<u32, u64> = BTreeMap::new();
    let mut final_layers: BTreeMap<String, u64> = BTreeMap::new();
    let mut expected_packets = 0.0;
    let mut tally = |publisher: u32, t: BTreeMap<Layer, simulcast::Tally>| {
        for (layer, t) in t {
            let l = layers.entry(layer).or_default();
            l.frames_expected += t.expected;
            l.frames_received += t.received;
            r.frames_expected += t.expected;
            r.frames_received += t.received;
            expected_packets += t.expected as f64
                * packets_per_frame
                    .get(&(publisher, layer))
                    .copied()
                    .unwrap_or(1.0);
        }
    };
    for p in reports {
        for (&publisher, trail) in &p.trails {
            *with_trail.entry(publisher).or_default() += 1;
            switches += trail.switches;
            window_switches += trail.window_switches;
            if let Some(l) = trail.current {
                *final_layers.entry(l.rid().to_owned()).or_default() += 1;
            }
            let window = |l: Layer| windows.get(&(publisher, l)).copied();
            tally(publisher, simulcast::account(trail, window, steady));
        }
    }
    if steady {
        // Receivers that got no video at all from a publisher: loss of its lowest layer.
        for &publisher in &publishers {
            let missing =
                receivers_per_pub.saturating_sub(with_trail.get(&publisher).copied().unwrap_or(0));
            for _ in 0..missing {
                let mut t = BTreeMap::new();
                simulcast::silent(&mut t, Layer::Q, &|l| windows.get(&(publisher, l)).copied());
                tally(publisher, t);
            }
        }
        r.expected_packets += expected_packets.round() as u64;
    }
    for (layer, l) in &mut layers {
        l.loss_ratio = if l.frames_expected == 0 {
            0.0
        } else {
            l.frames_expected.saturating_sub(l.frames_received) as f64 / l.frames_expected as f64
        };
        if let Some(h) = latency.get(layer).filter(|h| !h.is_empty()) {
            l.latency_ms_p50 = Some(h.value_at_quantile(0.5) as f64 / 1000.0);
            l.latency_ms_p99 = Some(h.value_at_quantile(0.99) as f64 / 1000.0);
            l.latency_ms_max = Some(h.max() as f64 / 1000.0);
            l.latency_samples = h.len();
        }
    }
    r.layers = layers
        .into_iter()
        .map(|(l, v)| (l.rid().to_owned(), v))
        .collect();
    r.layer_switches = Some(switches);
    r.layer_switches_in_window = Some(window_switches);
    r.final_layers = final_layers;
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

fn sfu_pid(args: &Args) -> Result<Option<u32>, Error> {
    if let Some(p) = args.sfu_pid {
        return Ok(Some(p));
    }
    let Some(file) = &args.sfu_pid_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::Config(format!("--sfu-pid-file {}: {e}", file.display())))?;
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| Error::Config(format!("--sfu-pid-file {}: not a PID", file.display())))
}

/// The progress line on stderr, once a second.
fn spawn_progress(shared: Arc<Shared>, pid: Option<u32>, plan: Plan) -> JoinHandle<()> {
    tokio::spawn(async move {
        let c = &shared.counters;
        let mut last = (0u64, 0u64, 0u64, 0u64);
        let mut last_cpu = sample(pid).map(|s| s.cpu_seconds);
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let (start, end) = if tty { ("\r", "   ") } else { ("", "\n") };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            let now = (
                Counters::get(&c.rtp_rx_packets),
                Counters::get(&c.rtp_rx_bytes),
                Counters::get(&c.frames_rx),
                Counters::get(&c.frames_tx),
            );
            let s = sample(pid);
            let cpu = match (s.map(|s| s.cpu_seconds), last_cpu) {
                (Some(b), Some(a)) => format!("{:5.1}%", (b - a) * 100.0),
                _ => "    -".into(),
            };
            last_cpu = s.map(|s| s.cpu_seconds);
            let rss = s.map_or("-".into(), |s| {
                format!("{:.1} MiB", s.rss_bytes as f64 / 1_048_576.0)
            });
            let churn = if plan.is_churn() {
                format!(" cycles {}/{}", Counters::get(&c.cycles), plan.cycles)
            } else {
                String::new()
            };
            eprint!(
                "{start}[{:6.1}s] {} conn {} ready {} failed {}{} | rx {} pkt/s {:.2} Mbit/s {} fr/s | tx {} fr/s | server cpu {} rss {} | errors {}{end}",
                shared.epoch.elapsed().as_secs_f64(),
                if shared.is_measuring() {
                    "measure"
                } else if shared.leaving.load(Ordering::Relaxed) {
                    "leave  "
                } else {
                    "setup  "
                },
                Counters::get(&c.connected),
                Counters::get(&c.ready),
                Counters::get(&c.failed),
                churn,
                now.0 - last.0,
                (now.1 - last.1) as f64 * 8.0 / 1e6,
                now.2 - last.2,
                now.3 - last.3,
                cpu,
                rss,
                shared.errors().values().sum::<u64>(),
            );
            last = now;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_pauses_after_each_tenth_and_ends_at_the_last_cycle() {
        assert_eq!(
            churn_marks(10_000),
            (1..=10).map(|t| t * 1000).collect::<Vec<_>>()
        );
        assert_eq!(churn_marks(25), vec![2, 5, 7, 10, 12, 15, 17, 20, 22, 25]);
        // Fewer cycles than tenths: one mark per cycle, no empty part.
        assert_eq!(churn_marks(3), vec![1, 2, 3]);
        assert!(churn_marks(0).is_empty());
    }
}
