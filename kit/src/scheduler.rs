//! One scheduler for every background job of the server.
//!
//! A [`Job`] is a name, an interval and a body (an async closure run once per round). The
//! [`Scheduler`] runs each job on its own task: the first round at once, the next when its
//! [`Cadence`] says so, until [`Shutdown`] is triggered. Then [`Running::stop`] waits for
//! every job to finish the round it is in (bounded by a grace period, after which a job is
//! aborted) and reports which jobs stopped.
//!
//! The split follows the project's style: [`Cadence::next_due`] is the sans-IO core (times
//! are offsets from the scheduler's start, passed in as arguments, so it is unit-tested
//! without a clock); the task that sleeps and calls the body is a boring tokio shell.
//!
//! ## Pace
//! A body returns a [`Pace`]: [`Pace::OnSchedule`] keeps the fixed interval (the next round
//! starts one interval after this one started, or at once if the round took longer — the
//! behaviour of `tokio::time::interval` with `MissedTickBehavior::Delay`, which the ad-hoc loops
//! used before); [`Pace::After`] asks for the next round a given time after this one ended
//! (the mail worker: the gap between two mails, or the idle poll).
//!
//! ## Leases (not yet; how they fit)
//! With several nodes, a job such as the chat retention must run on one node at a time. The
//! plan: [`Scheduler::start`] takes a lease store (a trait with `try_acquire(name, holder,
//! until) -> bool` and `release`, backed by a `job_leases` table updated with
//! `… WHERE expires_at < now OR holder = me`). Before each round the shell asks for the job's
//! lease for one interval plus a margin; a node that does not get it skips the round and
//! computes the next due time exactly as now. Only the shell changes; [`Cadence`] and the jobs
//! stay as they are, because a job already receives no hint of which node it runs on.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How the next round of a job is timed, as returned by its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// One interval after this round started (at once if the round took longer).
    OnSchedule,
    /// This long after this round ended.
    After(Duration),
}

/// The sans-IO core of a job's timing: when the next round is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    every: Duration,
}

impl Cadence {
    /// A cadence with a round every `every`.
    pub fn every(every: Duration) -> Self {
        Cadence { every }
    }

    /// The interval between rounds.
    pub fn interval(&self) -> Duration {
        self.every
    }

    /// When the round after one that `started` and `finished` at these offsets (from the
    /// scheduler's start) is due, given what the body asked for.
    pub fn next_due(&self, started: Duration, finished: Duration, pace: Pace) -> Duration {
        match pace {
            Pace::OnSchedule => (started + self.every).max(finished),
            Pace::After(pause) => finished + pause,
        }
    }
}

type Body = Box<dyn FnMut() -> Pin<Box<dyn Future<Output = Pace> + Send>> + Send>;

/// A named background job.
pub struct Job {
    name: &'static str,
    cadence: Cadence,
    body: Body,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("name", &self.name)
            .field("cadence", &self.cadence)
            .finish_non_exhaustive()
    }
}

impl Job {
    /// A job called `name` whose `body` runs every `every` (see [`Pace`] for how a body can
    /// time its next round differently). The body logs its own errors; the scheduler only
    /// knows when it ran.
    pub fn new<F, Fut>(name: &'static str, every: Duration, mut body: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Pace> + Send + 'static,
    {
        Job {
            name,
            cadence: Cadence::every(every),
            body: Box::new(move || Box::pin(body())),
        }
    }

    /// The job's name (in logs, and later its lease).
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// The signal to stop: triggered once (by the server's graceful shutdown), observed by every
/// job and by whoever else waits for it. Cloning shares the same signal.
#[derive(Debug, Clone)]
pub struct Shutdown(Arc<watch::Sender<bool>>);

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal not yet triggered.
    pub fn new() -> Self {
        Shutdown(Arc::new(watch::channel(false).0))
    }

    /// Triggers the signal (idempotent).
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// Whether the signal has been triggered.
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the signal is triggered (at once if it already was).
    pub async fn triggered(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// The jobs of a server, before they start.
#[derive(Debug, Default)]
pub struct Scheduler {
    jobs: Vec<Job>,
}

impl Scheduler {
    /// An empty scheduler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a job.
    pub fn add(&mut self, job: Job) -> &mut Self {
        self.jobs.push(job);
        self
    }

    /// Adds every job of `jobs` (a capability's `jobs()`, say).
    pub fn extend(&mut self, jobs: impl IntoIterator<Item = Job>) -> &mut Self {
        self.jobs.extend(jobs);
        self
    }

    /// The names of the jobs, in the order they were added.
    pub fn names(&self) -> Vec<&'static str> {
        self.jobs.iter().map(|j| j.name).collect()
    }

    /// Starts every job on its own task; they run until `shutdown` is triggered.
    pub fn start(self, shutdown: &Shutdown) -> Running {
        let origin = Instant::now();
        let tasks = self
            .jobs
            .into_iter()
            .map(|job| {
                let name = job.name;
                tracing::debug!(
                    job = name,
                    every_ms = job.cadence.every.as_millis() as u64,
                    "background job started"
                );
                (name, tokio::spawn(run(job, origin, shutdown.clone())))
            })
            .collect();
        Running { tasks }
    }
}

/// The shell of one job: sleep until due or shutdown, run a round, compute the next due time.
async fn run(mut job: Job, origin: Instant, shutdown: Shutdown) {
    let mut due = Duration::ZERO;
    loop {
        tokio::select! {
            biased;
            () = shutdown.triggered() => return,
            () = tokio::time::sleep_until(origin + due) => {}
        }
        let started = origin.elapsed();
        let pace = (job.body)().await;
        due = job.cadence.next_due(started, origin.elapsed(), pace);
    }
}

/// How one job ended at [`Running::stop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It finished its round (if one was running) and stopped.
    Cleanly,
    /// Its round outlasted the grace period and was aborted.
    Aborted,
    /// Its body panicked at some point (the job had ended before the shutdown).
    Panicked,
}

/// The jobs while they run.
#[derive(Debug)]
pub struct Running {
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Running {
    /// Waits for every job to stop after the shutdown signal, each given until `grace` from
    /// now to finish the round it is in before it is aborted. Logs one line per job and
    /// returns how each ended, in the order the jobs were added.
    pub async fn stop(self, grace: Duration) -> Vec<(&'static str, Stopped)> {
        let deadline = Instant::now() + grace;
        let mut report = Vec::with_capacity(self.tasks.len());
        for (name, mut task) in self.tasks {
            let how = match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(())) => Stopped::Cleanly,
                Ok(Err(e)) if e.is_panic() => Stopped::Panicked,
                Ok(Err(_)) => Stopped::Aborted,
                Err(_) => {
                    task.abort();
                    let _ = task.await;
                    Stopped::Aborted
                }
            };
            match how {
                Stopped::Cleanly => tracing::info!(job = name, "background job stopped"),
                Stopped::Aborted => {
                    tracing::warn!(
                        job = name,
                        grace_ms = grace.as_millis() as u64,
                        "background job aborted: its round outlasted the grace period"
                    )
                }
                Stopped::Panicked => tracing::error!(job = name, "background job had panicked"),
            }
            report.push((name, how));
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn on_schedule_next_round_is_one_interval_after_the_start() {
        let c = Cadence::every(10 * S);
        assert_eq!(c.next_due(Duration::ZERO, 2 * S, Pace::OnSchedule), 10 * S);
        assert_eq!(c.next_due(10 * S, 10 * S, Pace::OnSchedule), 20 * S);
    }

    #[test]
    fn a_round_longer_than_the_interval_is_followed_at_once_not_by_a_burst() {
        let c = Cadence::every(10 * S);
        // Started at 0, took 25 s: the next round starts when it ended, once.
        assert_eq!(c.next_due(Duration::ZERO, 25 * S, Pace::OnSchedule), 25 * S);
        assert_eq!(c.next_due(25 * S, 26 * S, Pace::OnSchedule), 35 * S);
    }

    #[test]
    fn pace_after_counts_from_the_end_of_the_round() {
        let c = Cadence::every(10 * S);
        assert_eq!(c.next_due(3 * S, 5 * S, Pace::After(2 * S)), 7 * S);
        assert_eq!(c.next_due(3 * S, 5 * S, Pace::After(Duration::ZERO)), 5 * S);
    }

    fn counting(name: &'static str, every: Duration, runs: &Arc<AtomicUsize>) -> Job {
        let runs = runs.clone();
        Job::new(name, every, move || {
            let runs = runs.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Pace::OnSchedule
            }
        })
    }

    #[tokio::test(start_paused = true)]
    async fn jobs_run_at_once_then_every_interval_and_stop_on_shutdown() {
        let (a, b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut s = Scheduler::new();
        s.add(counting("a", 10 * S, &a))
            .add(counting("b", 25 * S, &b));
        assert_eq!(s.names(), ["a", "b"]);
        let shutdown = Shutdown::new();
        let running = s.start(&shutdown);
        tokio::time::sleep(S / 2).await;
        assert_eq!((a.load(Ordering::SeqCst), b.load(Ordering::SeqCst)), (1, 1));
        tokio::time::sleep(30 * S).await;
        // a at 0, 10, 20, 30; b at 0, 25.
        assert_eq!((a.load(Ordering::SeqCst), b.load(Ordering::SeqCst)), (4, 2));
        shutdown.trigger();
        let report = running.stop(5 * S).await;
        assert_eq!(report, [("a", Stopped::Cleanly), ("b", Stopped::Cleanly)]);
        tokio::time::sleep(100 * S).await;
        assert_eq!(
            (a.load(Ordering::SeqCst), b.load(Ordering::SeqCst)),
            (4, 2),
            "no round after stop"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_round_in_progress_finishes_within_the_grace_period() {
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        let mut s = Scheduler::new();
        s.add(Job::new("slow", 60 * S, move || {
            let d = d.clone();
            async move {
                tokio::time::sleep(3 * S).await;
                d.fetch_add(1, Ordering::SeqCst);
                Pace::OnSchedule
            }
        }));
        let shutdown = Shutdown::new();
        let running = s.start(&shutdown);
        tokio::time::sleep(S).await;
        shutdown.trigger();
        assert_eq!(running.stop(10 * S).await, [("slow", Stopped::Cleanly)]);
        assert_eq!(done.load(Ordering::SeqCst), 1, "the round was not cut off");
    }

    #[tokio::test(start_paused = true)]
    async fn a_round_that_outlasts_the_grace_period_is_aborted() {
        let mut s = Scheduler::new();
        s.add(Job::new("stuck", 60 * S, || async {
            std::future::pending::<()>().await;
            Pace::OnSchedule
        }));
        let shutdown = Shutdown::new();
        let running = s.start(&shutdown);
        tokio::time::sleep(S).await;
        shutdown.trigger();
        assert_eq!(running.stop(2 * S).await, [("stuck", Stopped::Aborted)]);
    }

    #[tokio::test(start_paused = true)]
    async fn pace_after_spaces_rounds_from_their_end() {
        let starts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let st = starts.clone();
        let origin = Instant::now();
        let mut s = Scheduler::new();
        s.add(Job::new("mail", 60 * S, move || {
            let st = st.clone();
            async move {
                st.lock().unwrap().push(origin.elapsed().as_secs());
                tokio::time::sleep(S).await;
                Pace::After(2 * S)
            }
        }));
        let shutdown = Shutdown::new();
        let running = s.start(&shutdown);
        tokio::time::sleep(Duration::from_millis(9500)).await;
        shutdown.trigger();
        running.stop(5 * S).await;
        assert_eq!(*starts.lock().unwrap(), [0, 3, 6, 9]);
    }

    #[tokio::test]
    async fn shutdown_already_triggered_resolves_at_once() {
        let s = Shutdown::new();
        assert!(!s.is_triggered());
        s.trigger();
        s.trigger();
        assert!(s.is_triggered());
        s.triggered().await;
    }
}
