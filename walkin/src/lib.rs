//! The walk-in core: counsellor presence, the queue, routing with round robin, rings that
//! time out, the 30 s grace of a dropped client and the wait estimate.
//!
//! Sans-IO: no clock, no randomness, no locks, no database. Every method that depends on time
//! takes `now`; ids (tickets, rooms, tokens) come from the caller. The shell (`Service` in the
//! server side, `walkin/server/`) calls [`Core::handle_timeout`] at least once a second and before
//! every view, and feeds in what it learns elsewhere (who is in a session, profiles from the
//! database).
//!
//! Names typed by clients live only here, in memory, and are dropped with their ticket.
//!
//! **What it must not depend on:** the server (`confidant`), the server kit, HTTP, the
//! database, the async runtime or any other capability. The server side depends on this crate,
//! never the other way round (Cargo enforces it: this crate cannot name `confidant`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A point in time (UTC).
pub type Now = DateTime<Utc>;

/// How long a client keeps its place after its page stopped asking (a dropped connection).
pub const CLIENT_GRACE: Duration = Duration::seconds(30);
/// How long after its last sign of life a dashboard counts as closed (counsellor away).
pub const DASHBOARD_GRACE: Duration = Duration::seconds(20);
/// How long after the dashboard said it is closing the counsellor turns away, unless it
/// comes back (a reload) first.
pub const CLOSE_GRACE: Duration = Duration::seconds(5);
/// A counsellor who passed on (or missed) a client is not rung for that client again for this
/// long, so one ring cannot bounce between the same two people.
pub const PASS_COOLDOWN: Duration = Duration::seconds(120);
/// After accepting, the counsellor counts as busy this long even before their call page joined
/// the room, so they are not rung again while it opens.
pub const ACCEPT_ENGAGED: Duration = Duration::seconds(90);
/// Assumed length of a walk-in conversation until some have been measured.
pub const DEFAULT_CONVERSATION: Duration = Duration::minutes(20);
/// Measured conversations kept for the average.
const CONVERSATION_SAMPLES: usize = 20;
/// Shortest measured conversation that counts (shorter ones are misclicks).
const MIN_CONVERSATION: Duration = Duration::seconds(30);

/// Tuning of the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkinConfig {
    /// How long a ring waits for accept or pass before it moves to the next counsellor.
    pub ring_timeout: Duration,
    /// Longest wait (estimated or actual) before the client is offered booking or contact.
    pub max_wait: Duration,
    /// Most clients in the queue at once.
    pub max_queue: usize,
}

impl Default for WalkinConfig {
    fn default() -> Self {
        Self {
            ring_timeout: Duration::seconds(30),
            max_wait: Duration::minutes(30),
            max_queue: 50,
        }
    }
}

/// A counsellor's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Takes walk-ins now.
    Available,
    /// In a session (or set so by the counsellor).
    Busy,
    /// Not at the dashboard, outside opening hours, or set so by the counsellor.
    Away,
}

/// One weekly opening window, in the counsellor's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Window {
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u8,
    /// Minutes after local midnight (0..=1440).
    pub start_min: u16,
    /// Minutes after local midnight, after `start_min` (0..=1440).
    pub end_min: u16,
}

/// Weekly opening hours for walk-ins. No windows: no limit.
#[derive(Debug, Clone, PartialEq)]
pub struct OpeningHours {
    /// The zone the windows are in.
    pub tz: Tz,
    /// The windows.
    pub windows: Vec<Window>,
}

impl OpeningHours {
    /// Whether walk-ins are open at `now`.
    #[must_use]
    pub fn is_open(&self, now: Now) -> bool {
        if self.windows.is_empty() {
            return true;
        }
        let local = now.with_timezone(&self.tz);
        let weekday = local.weekday().num_days_from_monday() as u8;
        let minute = (local.hour() * 60 + local.minute()) as u16;
        self.windows
            .iter()
            .any(|w| w.weekday == weekday && w.start_min <= minute && minute < w.end_min)
    }
}

/// What a counsellor offers walk-ins.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Display name.
    pub name: String,
    /// Public page slug (`/talk/{slug}`), if any.
    pub slug: Option<String>,
    /// Topics; empty: any topic.
    pub topics: Vec<String>,
    /// Languages; empty: any language.
    pub languages: Vec<String>,
    /// Opening hours for walk-ins.
    pub hours: OpeningHours,
}

/// What a client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// A topic on offer, if chosen.
    pub topic: Option<String>,
    /// A language on offer, if chosen.
    pub language: Option<String>,
    /// Only this counsellor (the counsellor's own page).
    pub counsellor: Option<String>,
}

/// Why the core refused something. Mapped to HTTP in the server's `error` module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The queue holds [`WalkinConfig::max_queue`] clients.
    QueueFull,
    /// Nobody who could take this client is at work now.
    NobodyAvailable,
    /// No such ticket or ring (any more), or not this counsellor's.
    Gone,
    /// The ticket id is already in use (callers make random ids; never in practice).
    Duplicate,
}

/// Why the client is offered the booking page or the contact form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FallbackReason {
    /// Nobody who could take them is at work now.
    NobodyAvailable,
    /// The estimated or actual wait is longer than the centre's limit.
    WaitTooLong,
}

#[derive(Debug, Clone, PartialEq)]
enum TicketState {
    Waiting,
    Ringing {
        ring: u64,
        counsellor: String,
        deadline: Now,
    },
    /// Accepted; the shell is opening the session.
    Accepted {
        counsellor: String,
    },
    /// The session is open; the client picks up its token.
    Connected {
        room: String,
        token: String,
        counsellor_name: String,
    },
}

#[derive(Debug, Clone)]
struct Ticket {
    id: String,
    request: Request,
    joined_at: Now,
    last_seen: Now,
    state: TicketState,
    /// Counsellors who passed or missed, and when.
    tried: HashMap<String, Now>,
}

#[derive(Debug, Clone)]
struct Counsellor {
    profile: Profile,
    chosen: Presence,
    last_seen: Option<Now>,
    closed_at: Option<Now>,
    in_session: bool,
    engaged_until: Option<Now>,
    ringing: Option<String>,
    last_rung: Option<Now>,
    missed_ring: bool,
    conversation_started: Option<Now>,
}

/// A ring as the counsellor's dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RingView {
    /// Ring id, for accept and pass.
    pub ring_id: String,
    /// The client's first name.
    pub first_name: String,
    /// The client's last name.
    pub last_name: String,
    /// Topic, if chosen.
    pub topic: Option<String>,
    /// Language, if chosen.
    pub language: Option<String>,
    /// When the ring moves on to someone else.
    pub expires_at: DateTime<Utc>,
    /// How long the client has been waiting, in seconds.
    pub waited_seconds: i64,
}

/// The counsellor's walk-in state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DashboardView {
    /// What clients see: effective presence.
    pub presence: Presence,
    /// What the counsellor chose.
    pub chosen: Presence,
    /// In a session now (busy whatever was chosen).
    pub in_session: bool,
    /// Within opening hours for walk-ins.
    pub open_now: bool,
    /// A ring waiting for accept or pass.
    pub ring: Option<RingView>,
    /// The last ring timed out unanswered, which set the presence to away.
    pub missed_ring: bool,
    /// Clients waiting that this counsellor could take.
    pub waiting: usize,
}

/// The client's view of its ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TicketView {
    /// `waiting`, `ringing` (a counsellor is being asked), `connecting` or `connected`.
    pub state: String,
    /// 1-based place among the clients waiting for the same counsellors.
    pub position: usize,
    /// Estimated seconds until a counsellor takes the client; `None` when nobody could.
    pub estimate_seconds: Option<i64>,
    /// Seconds waited so far.
    pub waited_seconds: i64,
    /// Set when the client should be offered the booking page or the contact form.
    pub fallback: Option<FallbackReason>,
    /// `connected`: the room (session id) to join.
    pub room: Option<String>,
    /// `connected`: the join token (role guest, lobby skipped).
    pub token: Option<String>,
    /// `connected`: the counsellor's name.
    pub counsellor_name: Option<String>,
}

/// What the public pages may show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Offer {
    /// Someone could take a walk-in now.
    pub available: bool,
    /// Counsellors available now.
    pub available_count: usize,
    /// Topics on offer (sorted).
    pub topics: Vec<String>,
    /// Languages on offer (sorted).
    pub languages: Vec<String>,
}

/// What [`Core::accept`] hands the shell to open the session with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The ticket to [`Core::connect`] once the session is open.
    pub ticket: String,
    /// The client's name for the call: "First Last".
    pub display_name: String,
}

/// The walk-in state of the whole centre.
#[derive(Debug, Clone, Default)]
pub struct Core {
    config: WalkinConfig,
    counsellors: BTreeMap<String, Counsellor>,
    /// Oldest first.
    queue: VecDeque<Ticket>,
    next_ring: u64,
    conversations: VecDeque<Duration>,
}

impl Core {
    /// An empty core.
    pub fn new(config: WalkinConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// The tuning.
    pub fn config(&self) -> &WalkinConfig {
        &self.config
    }

    // ------------------------------------------------------------------ counsellors

    /// Adds or updates a counsellor who takes walk-ins; `None` withdraws them (walk-ins off),
    /// which also withdraws their ring.
    pub fn set_profile(&mut self, id: &str, profile: Option<Profile>, now: Now) {
        match profile {
            Some(profile) => {
                self.counsellors
                    .entry(id.to_owned())
                    .and_modify(|c| c.profile = profile.clone())
                    .or_insert(Counsellor {
                        profile,
                        chosen: Presence::Away,
                        last_seen: None,
                        closed_at: None,
                        in_session: false,
                        engaged_until: None,
                        ringing: None,
                        last_rung: None,
                        missed_ring: false,
                        conversation_started: None,
                    });
            }
            None => {
                if let Some(c) = self.counsellors.remove(id) {
                    if let Some(t) = c.ringing {
                        self.unring(&t, false, now);
                    }
                }
            }
        }
        self.ring_waiting(now);
    }

    /// Whether `id` takes walk-ins.
    pub fn knows(&self, id: &str) -> bool {
        self.counsellors.contains_key(id)
    }

    /// Whether any counsellor takes walk-ins (the talk-now page has someone to offer).
    pub fn takes_any(&self) -> bool {
        !self.counsellors.is_empty()
    }

    /// The counsellor id of a public slug.
    pub fn by_slug(&self, slug: &str) -> Option<&str> {
        self.counsellors
            .iter()
            .find(|(_, c)| c.profile.slug.as_deref() == Some(slug))
            .map(|(id, _)| id.as_str())
    }

    /// The display name of a counsellor who takes walk-ins.
    pub fn profile_name(&self, id: &str) -> Option<String> {
        self.counsellors.get(id).map(|c| c.profile.name.clone())
    }

    /// Counsellor ids that take walk-ins.
    pub fn counsellor_ids(&self) -> Vec<String> {
        self.counsellors.keys().cloned().collect()
    }

    /// The dashboard is open (call on every poll of it).
    pub fn handle_heartbeat(&mut self, id: &str, now: Now) {
        if let Some(c) = self.counsellors.get_mut(id) {
            c.last_seen = Some(now);
        }
    }

    /// The dashboard says it is closing: away after [`CLOSE_GRACE`] unless it comes back.
    pub fn handle_dashboard_closed(&mut self, id: &str, now: Now) {
        if let Some(c) = self.counsellors.get_mut(id) {
            c.closed_at = Some(now);
        }
    }

    /// The counsellor sets their presence. Choosing available clears the missed-ring note.
    pub fn set_presence(&mut self, id: &str, presence: Presence, now: Now) -> Result<(), Refusal> {
        let c = self.counsellors.get_mut(id).ok_or(Refusal::Gone)?;
        c.chosen = presence;
        c.last_seen = Some(now);
        if presence == Presence::Available {
            c.missed_ring = false;
        } else if let Some(t) = c.ringing.clone() {
            // Someone who steps away does not keep a client ringing.
            self.unring(&t, false, now);
        }
        self.ring_waiting(now);
        Ok(())
    }

    /// Whether the counsellor is in a session now (the hub says a host of theirs is in a
    /// room). Ending a walk-in conversation records its length for the wait estimate.
    pub fn set_in_session(&mut self, id: &str, in_session: bool, now: Now) {
        let Some(c) = self.counsellors.get_mut(id) else {
            return;
        };
        if c.in_session == in_session {
            return;
        }
        c.in_session = in_session;
        if in_session {
            c.engaged_until = None;
            if let Some(t) = c.ringing.clone() {
                self.unring(&t, false, now);
            }
        } else if let Some(started) = c.conversation_started.take() {
            let length = now - started;
            if length >= MIN_CONVERSATION {
                self.conversations.push_back(length);
                while self.conversations.len() > CONVERSATION_SAMPLES {
                    self.conversations.pop_front();
                }
            }
        }
        self.ring_waiting(now);
    }

    fn online(c: &Counsellor, now: Now) -> bool {
        let Some(seen) = c.last_seen else {
            return false;
        };
        if now - seen >= DASHBOARD_GRACE {
            return false;
        }
        !c.closed_at
            .is_some_and(|closed| closed >= seen && now - closed >= CLOSE_GRACE)
    }

    fn presence_of(c: &Counsellor, now: Now) -> Presence {
        // In a session the dashboard is often closed (the call page replaced it): still busy.
        if c.in_session || c.engaged_until.is_some_and(|u| now < u) {
            Presence::Busy
        } else if !Self::online(c, now)
            || (c.chosen == Presence::Available && !c.profile.hours.is_open(now))
        {
            // Not at the dashboard, or outside the walk-in opening hours.
            Presence::Away
        } else {
            c.chosen
        }
    }

    /// The counsellor's effective presence.
    pub fn presence(&self, id: &str, now: Now) -> Option<Presence> {
        self.counsellors.get(id).map(|c| Self::presence_of(c, now))
    }

    fn can_ring(c: &Counsellor, now: Now) -> bool {
        c.ringing.is_none() && Self::presence_of(c, now) == Presence::Available
    }

    fn matches(id: &str, c: &Counsellor, r: &Request) -> bool {
        r.counsellor.as_deref().is_none_or(|want| want == id)
            && r.topic.as_ref().is_none_or(|t| {
                c.profile.topics.is_empty() || c.profile.topics.iter().any(|x| x == t)
            })
            && r.language.as_ref().is_none_or(|l| {
                c.profile.languages.is_empty() || c.profile.languages.iter().any(|x| x == l)
            })
    }

    /// Counsellors at work (available or busy) who could take `r`.
    fn serving<'a>(
        &'a self,
        r: &'a Request,
        now: Now,
    ) -> impl Iterator<Item = (&'a String, &'a Counsellor)> + 'a {
        self.counsellors.iter().filter(move |(id, c)| {
            Self::matches(id, c, r) && Self::presence_of(c, now) != Presence::Away
        })
    }

    // ------------------------------------------------------------------ the queue

    /// A client enters the queue with ticket `id` (a secret random token made by the caller).
    pub fn enqueue(&mut self, id: &str, request: Request, now: Now) -> Result<(), Refusal> {
        if self.queue.iter().any(|t| t.id == id) {
            return Err(Refusal::Duplicate);
        }
        if self.queue.len() >= self.config.max_queue {
            return Err(Refusal::QueueFull);
        }
        if self.serving(&request, now).next().is_none() {
            return Err(Refusal::NobodyAvailable);
        }
        self.queue.push_back(Ticket {
            id: id.to_owned(),
            request,
            joined_at: now,
            last_seen: now,
            state: TicketState::Waiting,
            tried: HashMap::new(),
        });
        self.ring_waiting(now);
        Ok(())
    }

    /// The client's page asked about its ticket: it is still there.
    pub fn handle_ticket_seen(&mut self, id: &str, now: Now) -> bool {
        match self.queue.iter_mut().find(|t| t.id == id) {
            Some(t) => {
                t.last_seen = now;
                true
            }
            None => false,
        }
    }

    /// The client left (page closed or "leave" pressed): its ticket, ring and name are gone.
    pub fn leave(&mut self, id: &str, now: Now) -> bool {
        let Some(pos) = self.queue.iter().position(|t| t.id == id) else {
            return false;
        };
        // The index is from `position` just above.
        let t = self.queue.remove(pos).expect("position is in range");
        if let TicketState::Ringing { counsellor, .. } = &t.state {
            if let Some(c) = self.counsellors.get_mut(counsellor) {
                c.ringing = None;
            }
        }
        self.ring_waiting(now);
        true
    }

    /// Clients in the queue (waiting, ringing, being connected).
    pub fn queue_len(&self) -> usize {
        self.queue
            .iter()
            .filter(|t| !matches!(t.state, TicketState::Connected { .. }))
            .count()
    }

    // ------------------------------------------------------------------ rings

    fn ring_of<'a>(&'a self, counsellor: &str, ring_id: &str) -> Option<&'a Ticket> {
        self.queue.iter().find(|t| {
            matches!(&t.state, TicketState::Ringing { ring, counsellor: c, .. }
                if c == counsellor && ring.to_string() == ring_id)
        })
    }

    /// The counsellor passes: the ring moves on at once.
    pub fn pass(&mut self, counsellor: &str, ring_id: &str, now: Now) -> Result<(), Refusal> {
        let ticket = self
            .ring_of(counsellor, ring_id)
            .ok_or(Refusal::Gone)?
            .id
            .clone();
        self.unring(&ticket, true, now);
        self.ring_waiting(now);
        Ok(())
    }

    /// The counsellor accepts: the ticket is theirs while the shell opens the session.
    pub fn accept(
        &mut self,
        counsellor: &str,
        ring_id: &str,
        now: Now,
    ) -> Result<Accepted, Refusal> {
        let id = self
            .ring_of(counsellor, ring_id)
            .ok_or(Refusal::Gone)?
            .id
            .clone();
        let t = self
            .queue
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or(Refusal::Gone)?;
        t.state = TicketState::Accepted {
            counsellor: counsellor.to_owned(),
        };
        // The last name is optional.
        let display_name = format!("{} {}", t.request.first_name, t.request.last_name)
            .trim()
            .to_owned();
        if let Some(c) = self.counsellors.get_mut(counsellor) {
            c.ringing = None;
            c.engaged_until = Some(now + ACCEPT_ENGAGED);
            c.conversation_started = Some(now);
            c.missed_ring = false;
        }
        Ok(Accepted {
            ticket: id,
            display_name,
        })
    }

    /// The session for an accepted ticket is open: the client may join it. `Gone` if the
    /// client left meanwhile (the shell then ends the session).
    pub fn connect(
        &mut self,
        ticket: &str,
        room: &str,
        token: &str,
        now: Now,
    ) -> Result<(), Refusal> {
        let t = self
            .queue
            .iter_mut()
            .find(|t| t.id == ticket)
            .ok_or(Refusal::Gone)?;
        let TicketState::Accepted { counsellor } = &t.state else {
            return Err(Refusal::Gone);
        };
        let counsellor_name = self
            .counsellors
            .get(counsellor)
            .map(|c| c.profile.name.clone())
            .unwrap_or_default();
        t.state = TicketState::Connected {
            room: room.to_owned(),
            token: token.to_owned(),
            counsellor_name,
        };
        // Its name is in the call now; the ticket only waits to be picked up.
        t.last_seen = now;
        Ok(())
    }

    /// Opening the session failed: the client waits again, first in line as before.
    pub fn abandon_accept(&mut self, ticket: &str, now: Now) {
        if let Some(t) = self.queue.iter_mut().find(|t| t.id == ticket) {
            if let TicketState::Accepted { counsellor } = &t.state {
                if let Some(c) = self.counsellors.get_mut(counsellor) {
                    c.engaged_until = None;
                    c.conversation_started = None;
                }
                t.state = TicketState::Waiting;
            }
        }
        self.ring_waiting(now);
    }

    /// Takes a ringing ticket back to waiting; `passed` (or missed) remembers the counsellor.
    fn unring(&mut self, ticket: &str, passed: bool, now: Now) {
        let Some(t) = self.queue.iter_mut().find(|t| t.id == ticket) else {
            return;
        };
        let TicketState::Ringing { counsellor, .. } = &t.state else {
            return;
        };
        let counsellor = counsellor.clone();
        if passed {
            t.tried.insert(counsellor.clone(), now);
        }
        t.state = TicketState::Waiting;
        if let Some(c) = self.counsellors.get_mut(&counsellor) {
            c.ringing = None;
        }
    }

    // ------------------------------------------------------------------ time

    /// Applies everything due at `now`: dropped clients lose their place after
    /// [`CLIENT_GRACE`], unanswered rings move on (and set their counsellor away), waiting
    /// clients are rung. Call at least once a second and before every view.
    pub fn handle_timeout(&mut self, now: Now) {
        let expired: Vec<String> = self
            .queue
            .iter()
            .filter(|t| now - t.last_seen >= CLIENT_GRACE)
            .map(|t| t.id.clone())
            .collect();
        for id in expired {
            self.leave(&id, now);
        }
        let missed: Vec<(String, String)> = self
            .queue
            .iter()
            .filter_map(|t| match &t.state {
                TicketState::Ringing {
                    counsellor,
                    deadline,
                    ..
                } if now >= *deadline => Some((t.id.clone(), counsellor.clone())),
                _ => None,
            })
            .collect();
        for (ticket, counsellor) in missed {
            self.unring(&ticket, true, now);
            if let Some(c) = self.counsellors.get_mut(&counsellor) {
                // Ringing someone who is not there again and again helps nobody.
                c.chosen = Presence::Away;
                c.missed_ring = true;
            }
        }
        self.ring_waiting(now);
    }

    /// The earliest time something is due (for a timer); `None` when nothing waits.
    pub fn poll_timeout(&self) -> Option<Now> {
        let rings = self.queue.iter().filter_map(|t| match &t.state {
            TicketState::Ringing { deadline, .. } => Some(*deadline),
            _ => None,
        });
        let drops = self.queue.iter().map(|t| t.last_seen + CLIENT_GRACE);
        rings.chain(drops).min()
    }

    /// Rings a counsellor for every waiting client that one can take, oldest client first.
    /// Among counsellors who could, one who lists the topic comes before one who takes any
    /// topic; among equals, the one rung least recently (round robin).
    fn ring_waiting(&mut self, now: Now) {
        for i in 0..self.queue.len() {
            if self.queue[i].state != TicketState::Waiting {
                continue;
            }
            let t = &self.queue[i];
            let pick = self
                .counsellors
                .iter()
                .filter(|(id, c)| {
                    Self::can_ring(c, now)
                        && Self::matches(id, c, &t.request)
                        && t.tried.get(*id).is_none_or(|at| now - *at >= PASS_COOLDOWN)
                })
                .min_by_key(|(id, c)| {
                    let generalist = t.request.topic.is_some() && c.profile.topics.is_empty();
                    (generalist, c.last_rung, (*id).clone())
                })
                .map(|(id, _)| id.clone());
            let Some(counsellor) = pick else {
                continue;
            };
            self.next_ring += 1;
            let ring = self.next_ring;
            let t = &mut self.queue[i];
            t.state = TicketState::Ringing {
                ring,
                counsellor: counsellor.clone(),
                deadline: now + self.config.ring_timeout,
            };
            let ticket = t.id.clone();
            if let Some(c) = self.counsellors.get_mut(&counsellor) {
                c.ringing = Some(ticket);
                c.last_rung = Some(now);
            }
        }
    }

    // ------------------------------------------------------------------ views

    /// Average length of a walk-in conversation (measured, or the default).
    pub fn average_conversation(&self) -> Duration {
        if self.conversations.is_empty() {
            return DEFAULT_CONVERSATION;
        }
        let total: i64 = self.conversations.iter().map(Duration::num_seconds).sum();
        Duration::seconds(total / self.conversations.len() as i64)
    }

    /// The client's ticket, or `None` if it is gone.
    pub fn ticket(&self, id: &str, now: Now) -> Option<TicketView> {
        let (index, t) = self.queue.iter().enumerate().find(|(_, t)| t.id == id)?;
        let waited = now - t.joined_at;
        let mut view = TicketView {
            state: String::new(),
            position: 0,
            estimate_seconds: None,
            waited_seconds: waited.num_seconds().max(0),
            fallback: None,
            room: None,
            token: None,
            counsellor_name: None,
        };
        match &t.state {
            TicketState::Connected {
                room,
                token,
                counsellor_name,
            } => {
                view.state = "connected".into();
                view.room = Some(room.clone());
                view.token = Some(token.clone());
                view.counsellor_name = Some(counsellor_name.clone());
                return Some(view);
            }
            TicketState::Accepted { .. } => {
                view.state = "connecting".into();
                view.position = 1;
                view.estimate_seconds = Some(0);
                return Some(view);
            }
            TicketState::Ringing { deadline, .. } => {
                view.state = "ringing".into();
                view.position = 1;
                view.estimate_seconds = Some((*deadline - now).num_seconds().max(0));
                return Some(view);
            }
            TicketState::Waiting => view.state = "waiting".into(),
        }
        let serving: Vec<&String> = self.serving(&t.request, now).map(|(id, _)| id).collect();
        // Clients ahead who compete for the same counsellors.
        let ahead = self
            .queue
            .iter()
            .take(index)
            .filter(|o| {
                matches!(o.state, TicketState::Waiting | TicketState::Ringing { .. })
                    && serving.iter().any(|id| {
                        self.counsellors
                            .get(*id)
                            .is_some_and(|c| Self::matches(id, c, &o.request))
                    })
            })
            .count();
        view.position = ahead + 1;
        if serving.is_empty() {
            view.fallback = Some(FallbackReason::NobodyAvailable);
            return Some(view);
        }
        let free_now = serving
            .iter()
            .filter(|id| {
                self.counsellors
                    .get(**id)
                    .is_some_and(|c| Self::can_ring(c, now))
            })
            .count();
        let estimate = if ahead < free_now {
            self.config.ring_timeout
        } else {
            // Every serving counsellor frees up about once per conversation.
            let rounds = (ahead + 1 - free_now).div_ceil(serving.len()) as i32;
            self.average_conversation() * rounds
        };
        view.estimate_seconds = Some(estimate.num_seconds());
        if waited >= self.config.max_wait || estimate > self.config.max_wait {
            view.fallback = Some(FallbackReason::WaitTooLong);
        }
        Some(view)
    }

    /// The counsellor's dashboard view.
    pub fn dashboard(&self, id: &str, now: Now) -> Option<DashboardView> {
        let c = self.counsellors.get(id)?;
        let ring = c.ringing.as_ref().and_then(|tid| {
            let t = self.queue.iter().find(|t| &t.id == tid)?;
            let TicketState::Ringing { ring, deadline, .. } = &t.state else {
                return None;
            };
            Some(RingView {
                ring_id: ring.to_string(),
                first_name: t.request.first_name.clone(),
                last_name: t.request.last_name.clone(),
                topic: t.request.topic.clone(),
                language: t.request.language.clone(),
                expires_at: *deadline,
                waited_seconds: (now - t.joined_at).num_seconds().max(0),
            })
        });
        let waiting = self
            .queue
            .iter()
            .filter(|t| {
                matches!(t.state, TicketState::Waiting | TicketState::Ringing { .. })
                    && Self::matches(id, c, &t.request)
            })
            .count();
        Some(DashboardView {
            presence: Self::presence_of(c, now),
            chosen: c.chosen,
            in_session: c.in_session,
            open_now: c.profile.hours.is_open(now),
            ring,
            missed_ring: c.missed_ring,
            waiting,
        })
    }

    /// What the centre's page (`counsellor: None`) or one counsellor's page may show.
    pub fn offer(&self, counsellor: Option<&str>, now: Now) -> Offer {
        let mut topics = std::collections::BTreeSet::new();
        let mut languages = std::collections::BTreeSet::new();
        let mut available_count = 0;
        for (id, c) in &self.counsellors {
            if counsellor.is_some_and(|want| want != id) {
                continue;
            }
            topics.extend(c.profile.topics.iter().cloned());
            languages.extend(c.profile.languages.iter().cloned());
            if Self::presence_of(c, now) == Presence::Available {
                available_count += 1;
            }
        }
        Offer {
            available: available_count > 0,
            available_count,
            topics: topics.into_iter().collect(),
            languages: languages.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> Now {
        // A Wednesday, 10:00 in Berlin (CEST).
        Utc.with_ymd_and_hms(2026, 6, 3, 8, 0, 0).unwrap()
    }

    fn secs(n: i64) -> Duration {
        Duration::seconds(n)
    }

    fn profile(name: &str, topics: &[&str], languages: &[&str]) -> Profile {
        Profile {
            name: name.into(),
            slug: Some(name.to_lowercase()),
            topics: topics.iter().map(|s| s.to_string()).collect(),
            languages: languages.iter().map(|s| s.to_string()).collect(),
            hours: OpeningHours {
                tz: chrono_tz::Europe::Berlin,
                windows: Vec::new(),
            },
        }
    }

    fn req(first: &str, topic: Option<&str>, language: Option<&str>) -> Request {
        Request {
            first_name: first.into(),
            last_name: "Client".into(),
            topic: topic.map(Into::into),
            language: language.map(Into::into),
            counsellor: None,
        }
    }

    /// A core with counsellors who are at their dashboards and available.
    fn core_with(counsellors: &[(&str, &[&str], &[&str])], now: Now) -> Core {
        let mut core = Core::new(WalkinConfig::default());
        for (name, topics, langs) in counsellors {
            core.set_profile(name, Some(profile(name, topics, langs)), now);
            core.set_presence(name, Presence::Available, now).unwrap();
        }
        core
    }

    fn ringing(core: &Core, counsellor: &str, now: Now) -> Option<RingView> {
        core.dashboard(counsellor, now).unwrap().ring
    }

    #[test]
    fn a_client_rings_an_available_counsellor_and_accepting_connects_them() {
        let now = t0();
        let mut core = core_with(&[("anna", &[], &[])], now);
        core.enqueue("t1", req("Kim", None, None), now).unwrap();
        let ring = ringing(&core, "anna", now).expect("anna is rung");
        assert_eq!(
            (ring.first_name.as_str(), ring.last_name.as_str()),
            ("Kim", "Client")
        );
        assert_eq!(core.ticket("t1", now).unwrap().state, "ringing");

        let accepted = core.accept("anna", &ring.ring_id, now).unwrap();
        assert_eq!(accepted.display_name, "Kim Client");
        assert_eq!(core.ticket("t1", now).unwrap().state, "connecting");
        assert_eq!(core.presence("anna", now), Some(Presence::Busy));
        core.connect("t1", "room-1", "tok", now).unwrap();
        let view = core.ticket("t1", now).unwrap();
        assert_eq!(view.state, "connected");
        assert_eq!(view.room.as_deref(), Some("room-1"));
        assert_eq!(view.token.as_deref(), Some("tok"));
        assert_eq!(view.counsellor_name.as_deref(), Some("anna"));
        assert_eq!(core.queue_len(), 0);
        // Picked up or not, the connected ticket (and the name in it) is forgotten after the grace.
        core.handle_timeout(now + CLIENT_GRACE);
        assert!(core.ticket("t1", now + CLIENT_GRACE).is_none());
    }

    #[test]
    fn routing_follows_topic_and_language() {
        let now = t0();
        let mut core = core_with(
            &[
                ("anna", &["family"], &["de"]),
                ("ben", &["debt"], &["de", "en"]),
            ],
            now,
        );
        core.enqueue("t1", req("A", Some("debt"), None), now)
            .unwrap();
        assert!(ringing(&core, "anna", now).is_none());
        assert!(ringing(&core, "ben", now).is_some());
        core.enqueue("t2", req("B", None, Some("en")), now).unwrap();
        // Ben speaks English but is ringing already: t2 waits.
        assert_eq!(core.ticket("t2", now).unwrap().state, "waiting");
        // Nobody offers French at all: refused up front.
        assert_eq!(
            core.enqueue("t3", req("C", None, Some("fr")), now),
            Err(Refusal::NobodyAvailable)
        );
    }

    #[test]
    fn a_specialist_is_rung_before_a_generalist() {
        let now = t0();
        let mut core = core_with(&[("anna", &[], &[]), ("ben", &["grief"], &[])], now);
        core.enqueue("t1", req("A", Some("grief"), None), now)
            .unwrap();
        assert!(ringing(&core, "ben", now).is_some());
        assert!(ringing(&core, "anna", now).is_none());
    }

    #[test]
    fn round_robin_among_equals() {
        let mut now = t0();
        let mut core = core_with(
            &[("anna", &[], &[]), ("ben", &[], &[]), ("cleo", &[], &[])],
            now,
        );
        let mut rung = Vec::new();
        for i in 0..6 {
            now += secs(1);
            let id = format!("t{i}");
            core.enqueue(&id, req("X", None, None), now).unwrap();
            let who = ["anna", "ben", "cleo"]
                .into_iter()
                .find(|c| ringing(&core, c, now).is_some())
                .unwrap();
            rung.push(who);
            // The client leaves again so the next one finds everyone free.
            core.leave(&id, now);
        }
        assert_eq!(rung, ["anna", "ben", "cleo", "anna", "ben", "cleo"]);
    }

    #[test]
    fn an_unanswered_ring_moves_on_and_sets_the_counsellor_away() {
        let now = t0();
        let mut core = core_with(&[("anna", &[], &[]), ("ben", &[], &[])], now);
        core.enqueue("t1", req("A", None, None), now).unwrap();
        assert!(ringing(&core, "anna", now).is_some());
        let timeout = core.config().ring_timeout;
        // Both keep their dashboards open; the client keeps asking.
        let just_before = now + timeout - secs(1);
        for who in ["anna", "ben"] {
            core.handle_heartbeat(who, just_before);
        }
        core.handle_ticket_seen("t1", just_before);
        core.handle_timeout(just_before);
        assert!(ringing(&core, "anna", just_before).is_some(), "not yet");
        let later = now + timeout;
        core.handle_timeout(later);
        assert!(ringing(&core, "anna", later).is_none());
        assert!(ringing(&core, "ben", later).is_some(), "moved on to ben");
        let anna = core.dashboard("anna", later).unwrap();
        assert_eq!((anna.presence, anna.missed_ring), (Presence::Away, true));
    }

    #[test]
    fn passing_moves_on_at_once_and_the_passer_is_not_rung_again_soon() {
        let now = t0();
        let mut core = core_with(&[("anna", &[], &[])], now);
        core.enqueue("t1", req("A", None, None), now).unwrap();
        let ring = ringing(&core, "anna", now).unwrap();
        core.pass("anna", &ring.ring_id, now).unwrap();
        assert!(ringing(&core, "anna", now).is_none());
        assert_eq!(core.presence("anna", now), Some(Presence::Available));
        assert_eq!(core.ticket("t1", now).unwrap().state, "waiting");
        // After the cooldown (both still there), Anna is asked again.
        let later = now + PASS_COOLDOWN;
        core.handle_heartbeat("anna", later);
        core.handle_ticket_seen("t1", later);
        core.handle_timeout(later);
        assert!(ringing(&core, "anna", later).is_some());
        // A stale ring id is refused.
        assert_eq!(core.pass("anna", &ring.ring_id, later), Err(Refusal::Gone));
        assert_eq!(core.accept("ben", "1", later), Err(Refusal::Gone));
    }

    #[test]
    fn a_dropped_client_keeps_its_place_for_30_seconds() {
        let now = t0();
        let mut core = core_with(&[("anna", &[], &[])], now);
        core.set_in_session("anna", true, now);
        core.enqueue("t1", req("A", None, None), now).unwrap();
        core.enqueue("t2", req("B", None, None), now).unwrap();
        assert_eq!(core.ticket("t2", now).unwrap().position, 2);
        // t1's page stops asking; t2 keeps asking and Anna stays at her dashboard.
        let mut at = now;
        for _ in 0..5 {
            at += secs(5);
            core.handle_ticket_seen("t2", at);
            core.handle_heartbeat("anna", at);
            core.handle_timeout(at);
        }
        assert_eq!(
            core.ticket("t1", at).unwrap().position,
            1,
            "still holds its place"
        );
        // t1 comes back within the grace: nothing lost.
        assert!(core.handle_ticket_seen("t1", at));
        let later = at + CLIENT_GRACE;
        core.handle_ticket_seen("t2", later);
        core.handle_heartbeat("anna", later);
        core.handle_timeout(later);
        assert!(
            core.ticket("t1", later).is_none(),
            "30 s without a sign: gone"
        );
        assert_eq!(core.ticket("t2", later).unwrap().position, 1);
    }

    #[test]
    fn leaving_withdraws_the_ring() {
        let now = t0();
        let mut core = core_with(&[("anna", &[], &[])], now);
        core.enqueue("t1", req("A", None, None), now).unwrap();
        assert!(ringing(&core, "anna", now).is_some());
        assert!(core.leave("t1", now));
        assert!(ringing(&core, "anna", now).is_none());
        assert!(!core.leave("t1", now));
    }

    #[test]
    fn presence_follows_sessions_and_the_dashboard() {
        let now = t0();
        let mut core = core_with(&[("anna", &[], &[])], now);
        assert_eq!(core.presence("anna", now), Some(Presence::Available));
        core.set_in_session("anna", true, now);
        assert_eq!(core.presence("anna", now), Some(Presence::Busy));
        core.set_in_session("anna", false, now + secs(1));
        assert_eq!(
            core.presence("anna", now + secs(1)),
            Some(Presence::Available)
        );
        // Dashboard closed: away after the short grace, unless it comes back first.
        let closed = now + secs(2);
        core.handle_dashboard_closed("anna", closed);
        assert_eq!(
            core.presence("anna", closed + secs(1)),
            Some(Presence::Available)
        );
        assert_eq!(
            core.presence("anna", closed + CLOSE_GRACE),
            Some(Presence::Away)
        );
        core.handle_heartbeat("anna", closed + CLOSE_GRACE + secs(1));
        assert_eq!(
            core.presence("anna", closed + CLOSE_GRACE + secs(1)),
            Some(Presence::Available),
            "a reloaded dashboard is back"
        );
        // No sign of life at all: away after the dashboard grace.
        let seen = closed + CLOSE_GRACE + secs(1);
        assert_eq!(
            core.presence("anna", seen + DASHBOARD_GRACE),
            Some(Presence::Away)
        );
    }

    #[test]
    fn in_a_session_with_the_dashboard_closed_is_busy_then_away() {
        let now = t0();
        let mut core = core_with(&[("anna", &[], &[])], now);
        // The call page replaced the dashboard: it says it closes, the session starts.
        core.handle_dashboard_closed("anna", now);
        core.set_in_session("anna", true, now + secs(1));
        let later = now + Duration::minutes(30);
        assert_eq!(core.presence("anna", later), Some(Presence::Busy));
        // The session ends and the dashboard is not back: away, not available.
        core.set_in_session("anna", false, later);
        assert_eq!(core.presence("anna", later), Some(Presence::Away));
        // Back at the dashboard: available again, as chosen.
        core.handle_heartbeat("anna", later + secs(1));
        assert_eq!(
            core.presence("anna", later + secs(1)),
            Some(Presence::Available)
        );
    }

    #[test]
    fn opening_hours_limit_walk_ins() {
        let now = t0(); // Wednesday 10:00 Berlin
        let mut core = Core::new(WalkinConfig::default());
        let mut p = profile("anna", &[], &[]);
        p.hours.windows = vec![Window {
            weekday: 2,
            start_min: 14 * 60,
            end_min: 18 * 60,
        }];
        core.set_profile("anna", Some(p), now);
        core.set_presence("anna", Presence::Available, now).unwrap();
        assert_eq!(core.presence("anna", now), Some(Presence::Away));
        assert!(!core.dashboard("anna", now).unwrap().open_now);
        assert_eq!(
            core.enqueue("t1", req("A", None, None), now),
            Err(Refusal::NobodyAvailable)
        );
        let afternoon = now + Duration::hours(5); // 15:00
        core.handle_heartbeat("anna", afternoon);
        assert_eq!(core.presence("anna", afternoon), Some(Presence::Available));
        core.enqueue("t1", req("A", None, None), afternoon).unwrap();
        assert!(ringing(&core, "anna", afternoon).is_some());
    }

    #[test]
    fn opening_hours_use_the_local_wall_clock_across_dst() {
        let hours = OpeningHours {
            tz: chrono_tz::Europe::Berlin,
            windows: vec![Window {
                weekday: 6,
                start_min: 9 * 60,
                end_min: 10 * 60,
            }],
        };
        // Sunday 29 March 2026 is the day clocks go forward: 09:30 local is 07:30 UTC.
        assert!(hours.is_open(Utc.with_ymd_and_hms(2026, 3, 29, 7, 30, 0).unwrap()));
        assert!(!hours.is_open(Utc.with_ymd_and_hms(2026, 3, 29, 8, 30, 0).unwrap()));
        // A week earlier (CET) 09:30 local is 08:30 UTC.
        assert!(hours.is_open(Utc.with_ymd_and_hms(2026, 3, 22, 8, 30, 0).unwrap()));
    }

    #[test]
    fn the_wait_estimate_is_honest() {
        let now = t0();
        let mut core = core_with(&[("anna", &[], &[]), ("ben", &[], &[])], now);
        core.set_in_session("anna", true, now);
        core.set_in_session("ben", true, now);
        for i in 1..=3 {
            core.enqueue(&format!("t{i}"), req("X", None, None), now)
                .unwrap();
        }
        let avg = DEFAULT_CONVERSATION.num_seconds();
        // Two counsellors, both busy: the first two go with the first round, the third after.
        assert_eq!(core.ticket("t1", now).unwrap().estimate_seconds, Some(avg));
        assert_eq!(core.ticket("t2", now).unwrap().estimate_seconds, Some(avg));
        assert_eq!(
            core.ticket("t3", now).unwrap().estimate_seconds,
            Some(2 * avg)
        );
        assert_eq!(core.ticket("t3", now).unwrap().position, 3);
        // 40 minutes exceed the default limit of 30: offered booking or contact.
        assert_eq!(
            core.ticket("t3", now).unwrap().fallback,
            Some(FallbackReason::WaitTooLong)
        );
        // Measured conversations replace the default.
        let mut core = core_with(&[("anna", &[], &[])], now);
        core.enqueue("a", req("A", None, None), now).unwrap();
        let ring = ringing(&core, "anna", now).unwrap();
        core.accept("anna", &ring.ring_id, now).unwrap();
        core.set_in_session("anna", true, now + secs(10));
        core.set_in_session("anna", false, now + Duration::minutes(6));
        assert_eq!(core.average_conversation(), Duration::minutes(6));
    }

    #[test]
    fn nobody_at_work_offers_the_fallback() {
        let now = t0();
        let mut core = core_with(&[("anna", &[], &[])], now);
        core.conversations.push_back(Duration::minutes(5));
        core.set_in_session("anna", true, now);
        core.enqueue("t1", req("A", None, None), now).unwrap();
        assert_eq!(core.ticket("t1", now).unwrap().fallback, None);
        // Still busy in her session without the dashboard: she may come back.
        let later = now + DASHBOARD_GRACE;
        core.handle_ticket_seen("t1", later);
        assert_eq!(core.ticket("t1", later).unwrap().fallback, None);
        // The session ends and her dashboard stays closed: nobody could take the client.
        core.set_in_session("anna", false, later);
        assert_eq!(
            core.ticket("t1", later).unwrap().fallback,
            Some(FallbackReason::NobodyAvailable)
        );
    }

    #[test]
    fn a_long_actual_wait_offers_the_fallback() {
        let now = t0();
        let mut core = core_with(&[("anna", &[], &[])], now);
        core.conversations.push_back(Duration::minutes(1));
        core.set_in_session("anna", true, now);
        core.enqueue("t1", req("A", None, None), now).unwrap();
        assert_eq!(core.ticket("t1", now).unwrap().fallback, None);
        let later = now + core.config().max_wait;
        core.handle_heartbeat("anna", later);
        assert_eq!(
            core.ticket("t1", later).unwrap().fallback,
            Some(FallbackReason::WaitTooLong)
        );
    }

    #[test]
    fn a_per_counsellor_ticket_waits_only_for_that_counsellor() {
        let now = t0();
        let mut core = core_with(&[("anna", &[], &[]), ("ben", &[], &[])], now);
        core.set_in_session("anna", true, now);
        let mut r = req("A", None, None);
        r.counsellor = Some("anna".into());
        core.enqueue("t1", r, now).unwrap();
        assert!(ringing(&core, "ben", now).is_none());
        core.set_in_session("anna", false, now);
        assert!(ringing(&core, "anna", now).is_some());
    }

    #[test]
    fn the_queue_has_a_limit_and_withdrawn_counsellors_stop_ringing() {
        let now = t0();
        let mut core = Core::new(WalkinConfig {
            max_queue: 1,
            ..WalkinConfig::default()
        });
        core.set_profile("anna", Some(profile("anna", &[], &[])), now);
        core.set_presence("anna", Presence::Available, now).unwrap();
        core.enqueue("t1", req("A", None, None), now).unwrap();
        assert_eq!(
            core.enqueue("t2", req("B", None, None), now),
            Err(Refusal::QueueFull)
        );
        assert_eq!(
            core.enqueue("t1", req("B", None, None), now),
            Err(Refusal::Duplicate)
        );
        core.set_profile("anna", None, now);
        assert_eq!(core.ticket("t1", now).unwrap().state, "waiting");
        assert!(!core.knows("anna"));
    }

    #[test]
    fn a_client_who_leaves_while_being_connected_cannot_be_connected() {
        let now = t0();
        let mut core = core_with(&[("anna", &[], &[])], now);
        core.enqueue("t1", req("A", None, None), now).unwrap();
        let ring = ringing(&core, "anna", now).unwrap();
        core.accept("anna", &ring.ring_id, now).unwrap();
        core.leave("t1", now);
        assert_eq!(core.connect("t1", "room", "tok", now), Err(Refusal::Gone));
    }

    #[test]
    fn a_failed_session_start_puts_the_client_back() {
        let now = t0();
        let mut core = core_with(&[("anna", &[], &[])], now);
        core.enqueue("t1", req("A", None, None), now).unwrap();
        let ring = ringing(&core, "anna", now).unwrap();
        core.accept("anna", &ring.ring_id, now).unwrap();
        core.abandon_accept("t1", now);
        assert!(ringing(&core, "anna", now).is_some(), "rung again");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Enqueue(u8, Option<u8>),
            Leave(u8),
            Seen(u8),
            Heartbeat(u8),
            Presence(u8, u8),
            InSession(u8, bool),
            Pass(u8),
            Accept(u8),
            Advance(u16),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0u8..8, proptest::option::of(0u8..3)).prop_map(|(t, topic)| Op::Enqueue(t, topic)),
                (0u8..8).prop_map(Op::Leave),
                (0u8..8).prop_map(Op::Seen),
                (0u8..3).prop_map(Op::Heartbeat),
                (0u8..3, 0u8..3).prop_map(|(c, p)| Op::Presence(c, p)),
                (0u8..3, any::<bool>()).prop_map(|(c, b)| Op::InSession(c, b)),
                (0u8..3).prop_map(Op::Pass),
                (0u8..3).prop_map(Op::Accept),
                (0u16..60).prop_map(Op::Advance),
            ]
        }

        const NAMES: [&str; 3] = ["anna", "ben", "cleo"];
        const TOPICS: [&str; 3] = ["a", "b", "c"];

        proptest! {
            /// Whatever happens in whatever order: nobody is rung for two clients, only an
            /// available counsellor who matches is rung, every ring belongs to a live ticket,
            /// and positions are 1-based.
            #[test]
            fn rings_stay_consistent(ops in proptest::collection::vec(op(), 1..120)) {
                let mut now = t0();
                let mut core = Core::new(WalkinConfig::default());
                core.set_profile("anna", Some(profile("anna", &["a"], &[])), now);
                core.set_profile("ben", Some(profile("ben", &["b", "a"], &[])), now);
                core.set_profile("cleo", Some(profile("cleo", &[], &[])), now);
                for op in ops {
                    match op {
                        Op::Enqueue(t, topic) => {
                            let _ = core.enqueue(&format!("t{t}"), req("X", topic.map(|i| TOPICS[i as usize]), None), now);
                        }
                        Op::Leave(t) => { core.leave(&format!("t{t}"), now); }
                        Op::Seen(t) => { core.handle_ticket_seen(&format!("t{t}"), now); }
                        Op::Heartbeat(c) => core.handle_heartbeat(NAMES[c as usize], now),
                        Op::Presence(c, p) => {
                            let p = [Presence::Available, Presence::Busy, Presence::Away][p as usize];
                            core.set_presence(NAMES[c as usize], p, now).unwrap();
                        }
                        Op::InSession(c, b) => core.set_in_session(NAMES[c as usize], b, now),
                        Op::Pass(c) | Op::Accept(c) => {
                            let name = NAMES[c as usize];
                            if let Some(ring) = core.dashboard(name, now).unwrap().ring {
                                if matches!(op, Op::Pass(_)) {
                                    core.pass(name, &ring.ring_id, now).unwrap();
                                } else {
                                    let a = core.accept(name, &ring.ring_id, now).unwrap();
                                    core.connect(&a.ticket, "room", "tok", now).unwrap();
                                }
                            }
                        }
                        Op::Advance(s) => {
                            now += secs(i64::from(s));
                            core.handle_timeout(now);
                        }
                    }
                    let mut ringing_tickets = std::collections::HashSet::new();
                    for (id, c) in &core.counsellors {
                        if let Some(t) = &c.ringing {
                            prop_assert!(ringing_tickets.insert(t.clone()), "one ticket rung twice");
                            let ticket = core.queue.iter().find(|x| &x.id == t);
                            prop_assert!(ticket.is_some(), "ring of a gone ticket");
                            let ticket = ticket.unwrap();
                            let is_this = matches!(&ticket.state, TicketState::Ringing { counsellor, .. } if counsellor == id);
                            prop_assert!(is_this, "ring and ticket disagree");
                            prop_assert!(Core::matches(id, c, &ticket.request));
                        }
                    }
                    for t in &core.queue {
                        if let TicketState::Ringing { counsellor, .. } = &t.state {
                            prop_assert_eq!(core.counsellors[counsellor].ringing.as_deref(), Some(t.id.as_str()));
                        }
                        let view = core.ticket(&t.id, now).unwrap();
                        prop_assert!(view.state == "connected" || view.position >= 1);
                    }
                }
            }
        }
    }

    #[test]
    fn a_walk_in_without_a_last_name_is_shown_by_the_first_name_alone() {
        let now = t0();
        let mut core = core_with(&[("anna", &[], &[])], now);
        let mut r = req("Kim", None, None);
        r.last_name = String::new();
        core.enqueue("t1", r, now).unwrap();
        let ring = ringing(&core, "anna", now).expect("anna is rung");
        let accepted = core.accept("anna", &ring.ring_id, now).unwrap();
        assert_eq!(accepted.display_name, "Kim", "no trailing space");
    }
}
