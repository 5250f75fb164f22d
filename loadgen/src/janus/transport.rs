//! The participant's transport through Janus: a session, a publisher handle and/or a
//! multistream subscriber handle, each with its own PeerConnection (a [`Leg`]: the
//! participant's main leg publishes, its subscription receives), events by long-poll. The
//! participant itself, its frames and its measurements are [`crate::participant`]'s.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::api::{self, Client, Event as JanusEvent};
use crate::participant::peer::{Leg, Media, Participant, Transport};
use crate::participant::{Report, Spec};
use crate::shared::{Control, RoomInfo, Shared};
use crate::Error;

/// How often a participant asks Janus whether every publisher of its room publishes.
const FEED_CHECK_EVERY: Duration = Duration::from_millis(250);
/// Events queued between the poller and the participant.
const EVENT_QUEUE: usize = 64;
/// The media loop wakes at least this often through Janus, to check its deadlines.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Runs one participant to the end. `room.session_id` holds the videoroom room id;
/// `feeds` is how many publishers (other than itself) it must receive.
pub async fn run(
    spec: Spec,
    room: Arc<RoomInfo>,
    target: api::Target,
    feeds: usize,
    shared: Arc<Shared>,
    control: watch::Receiver<Control>,
) -> Report {
    let mut p = Participant::new(spec, shared, control);
    let client = Client::new(target.clone(), &format!("p{}", p.spec.index));
    // Without a route to Janus binding fails below and says so.
    let local_ip =
        super::local_ip_towards(target.addr).unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let mut session = None;
    let result = join_and_drive(
        &mut p,
        &room,
        &client,
        target.addr.ip(),
        local_ip,
        feeds,
        &mut session,
    )
    .await;
    // Leave in every case: destroying the session frees everything Janus holds for us.
    if let Some((id, poller)) = session {
        p.report.clean_leave = client.destroy(id).await.is_ok();
        poller.abort();
    }
    p.finish(result)
}

/// Long-polls `session` and hands every event to the participant, until the participant
/// goes away or the session is gone.
pub(crate) fn spawn_poller(
    client: Client,
    session: u64,
    tx: mpsc::Sender<JanusEvent>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut failures = 0u32;
        loop {
            match client.poll(session).await {
                Ok(events) => {
                    failures = 0;
                    for v in events {
                        let e = api::parse_event(&v);
                        if e != JanusEvent::Other && tx.send(e).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    failures += 1;
                    tracing::debug!(session, "janus poll failed: {e}");
                    if failures > 5 || tx.is_closed() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    })
}

/// Where the subscription stands.
enum Sub {
    /// Nothing to receive.
    None,
    /// Waiting for every publisher of the room; asks again at the instant.
    Waiting(Instant),
    /// Joined as subscriber; waiting for Janus's offer on `handle`.
    Joining { handle: u64, transaction: String },
    /// Answered.
    Running,
}

/// The Janus side of a participant with a session.
struct Janus<'a> {
    client: &'a Client,
    session: u64,
    room: u64,
    /// Janus's address: media goes there only.
    janus_ip: IpAddr,
    /// Our address towards Janus (media sockets bind here).
    local_ip: IpAddr,
    /// Publishers (other than itself) it must receive.
    feeds: usize,
    events: mpsc::Receiver<JanusEvent>,
    /// Our publisher id, once published.
    my_id: Option<u64>,
    /// The handles of the main leg (publisher) and of the subscription.
    main_handle: Option<u64>,
    sub_handle: Option<u64>,
    sub: Sub,
}

/// Joins (a session, publishing if the spec publishes), then runs the media loop. The session
/// and its poller go to `session` as soon as they exist, for the caller to end.
async fn join_and_drive(
    p: &mut Participant,
    room: &RoomInfo,
    client: &Client,
    janus_ip: IpAddr,
    local_ip: IpAddr,
    feeds: usize,
    session: &mut Option<(u64, JoinHandle<()>)>,
) -> Result<(), Error> {
    let room_id: u64 = room
        .session_id
        .parse()
        .map_err(|_| Error::Config("janus room id is not a number".into()))?;
    let deadline = Instant::now() + p.spec.setup_timeout;
    let knocked = Instant::now();
    let id = client.create_session().await?;
    let (tx, events) = mpsc::channel(EVENT_QUEUE);
    *session = Some((id, spawn_poller(client.clone(), id, tx)));

    let mut media = Media::new(&p.spec, knocked, 0);
    let mut janus = Janus {
        client,
        session: id,
        room: room_id,
        janus_ip,
        local_ip,
        feeds,
        events,
        my_id: None,
        main_handle: None,
        sub_handle: None,
        sub: Sub::None,
    };
    if p.spec.audio || p.spec.video {
        janus.publish(p, &mut media, deadline).await?;
    }
    if feeds > 0 {
        janus.sub = Sub::Waiting(Instant::now());
    }
    p.drive(&mut janus, &mut media, deadline).await
}

impl Janus<'_> {
    /// Joins as publisher, offers, applies Janus's answer: the main leg.
    async fn publish(
        &mut self,
        p: &Participant,
        m: &mut Media,
        deadline: Instant,
    ) -> Result<(), Error> {
        let handle = self.client.attach(self.session).await?;
        let (tx, _) = self
            .client
            .message(
                self.session,
                handle,
                api::join_publisher(self.room, &p.spec.name),
                None,
            )
            .await?;
        let (data, _) = wait_plugin(&mut self.events, &tx, deadline).await?;
        let my_id = data
            .get("id")
            .and_then(serde_json::Value::as_u64)
            .ok_or(Error::Server("janus joined without an id".into()))?;
        let mut leg = self.leg(p).await?;
        let (offer, pending) = leg.offer(&p.spec)?;
        let (tx, _) = self
            .client
            .message(
                self.session,
                handle,
                api::publish(),
                Some(api::jsep("offer", &offer.to_sdp_string())),
            )
            .await?;
        let (_, jsep) = wait_plugin(&mut self.events, &tx, deadline).await?;
        let Some((kind, sdp)) = jsep else {
            return Err(Error::Media("janus answered publish without SDP".into()));
        };
        if kind != "answer" {
            return Err(Error::Media(format!("janus sent {kind} for our offer")));
        }
        leg.accept_answer(pending, &sdp)?;
        self.client.trickle_completed(self.session, handle).await?;
        m.main = Some(leg);
        self.main_handle = Some(handle);
        self.my_id = Some(my_id);
        Ok(())
    }

    /// A PeerConnection towards Janus.
    async fn leg(&self, p: &Participant) -> Result<Leg, Error> {
        Leg::bind(self.local_ip, false, &p.spec, &p.shared).await
    }

    /// The subscription's handle and leg, made on first use.
    async fn subscription(&mut self, p: &Participant, m: &mut Media) -> Result<u64, Error> {
        if let Some(h) = self.sub_handle {
            return Ok(h);
        }
        let h = self.client.attach(self.session).await?;
        m.subscription = Some(self.leg(p).await?);
        self.sub_handle = Some(h);
        Ok(h)
    }

    /// Subscribes once every other publisher of the room publishes.
    async fn try_subscribe(&mut self, p: &Participant, m: &mut Media) -> Result<(), Error> {
        // Ask on the publisher's handle, or on a fresh one that becomes the subscriber's.
        let handle = match self.main_handle {
            Some(h) => h,
            None => self.subscription(p, m).await?,
        };
        let (_, list) = self
            .client
            .message(
                self.session,
                handle,
                api::list_participants(self.room),
                None,
            )
            .await?;
        let feeds = api::published_feeds(&list, self.my_id);
        if feeds.len() < self.feeds {
            self.sub = Sub::Waiting(Instant::now() + FEED_CHECK_EVERY);
            return Ok(());
        }
        let sub_handle = self.subscription(p, m).await?;
        let (transaction, _) = self
            .client
            .message(
                self.session,
                sub_handle,
                api::join_subscriber(self.room, &feeds),
                None,
            )
            .await?;
        self.sub = Sub::Joining {
            handle: sub_handle,
            transaction,
        };
        Ok(())
    }
}

impl Transport for Janus<'_> {
    type Message = Option<JanusEvent>;
    const FOREIGN_DESTINATION: &'static str = "foreign_destination";
    const RECORDS_READY: bool = false;

    /// Janus's candidates are on its own address only; anything else is never contacted.
    fn may_send_to(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || ip == self.janus_ip
    }

    async fn recv(&mut self) -> Option<JanusEvent> {
        self.events.recv().await
    }

    async fn on_message(
        &mut self,
        _: &mut Participant,
        m: &mut Media,
        e: Option<JanusEvent>,
    ) -> Result<(), Error> {
        let Some(e) = e else {
            return Err(Error::Signal("janus long-poll ended".into()));
        };
        match e {
            JanusEvent::Plugin {
                transaction,
                sender,
                data,
                jsep,
            } => {
                let Sub::Joining {
                    handle,
                    transaction: want,
                } = &self.sub
                else {
                    return Ok(());
                };
                if sender != *handle || transaction.as_deref() != Some(want.as_str()) {
                    return Ok(());
                }
                let handle = *handle;
                if let Some(code) = data.get("error_code").and_then(serde_json::Value::as_i64) {
                    if code == 428 {
                        // A feed went away between listing and joining: list again.
                        self.sub = Sub::Waiting(Instant::now() + FEED_CHECK_EVERY);
                        return Ok(());
                    }
                    return Err(Error::Server(format!("videoroom {code}: {data}")));
                }
                let Some((kind, sdp)) = jsep else {
                    return Err(Error::Media("janus attached without an offer".into()));
                };
                if kind != "offer" {
                    return Err(Error::Media(format!("janus sent {kind} to a subscriber")));
                }
                let leg = m
                    .subscription
                    .as_mut()
                    .ok_or(Error::Media("no subscriber PeerConnection".into()))?;
                let answer = leg.accept_offer(&sdp)?;
                self.client
                    .message(
                        self.session,
                        handle,
                        api::start(),
                        Some(api::jsep("answer", &answer)),
                    )
                    .await?;
                self.client.trickle_completed(self.session, handle).await?;
                self.sub = Sub::Running;
            }
            JanusEvent::Hangup { sender, reason } => {
                return Err(Error::Media(format!(
                    "janus hung up handle {sender}: {reason}"
                )));
            }
            JanusEvent::WebrtcUp { .. } | JanusEvent::Other => {}
        }
        Ok(())
    }

    fn due(&self, now: Instant) -> Instant {
        match self.sub {
            Sub::Waiting(at) => at.min(now + MAX_SLEEP),
            _ => now + MAX_SLEEP,
        }
    }

    /// Subscribes once it is time to ask again and its publisher (if any) is connected.
    async fn on_due(
        &mut self,
        p: &mut Participant,
        m: &mut Media,
        now: Instant,
    ) -> Result<(), Error> {
        let Sub::Waiting(at) = self.sub else {
            return Ok(());
        };
        if now < at {
            return Ok(());
        }
        if m.main.as_ref().is_none_or(|l| l.connected) {
            self.try_subscribe(p, m).await
        } else {
            self.sub = Sub::Waiting(now + FEED_CHECK_EVERY);
            Ok(())
        }
    }
}

/// Waits for the plugin event answering `transaction`; returns its data and JSEP.
async fn wait_plugin(
    events: &mut mpsc::Receiver<JanusEvent>,
    transaction: &str,
    deadline: Instant,
) -> Result<(serde_json::Value, Option<(String, String)>), Error> {
    loop {
        let e = tokio::time::timeout_at(deadline, events.recv())
            .await
            .map_err(|_| Error::Timeout("waiting for janus"))?
            .ok_or(Error::Signal("janus long-poll ended".into()))?;
        match e {
            JanusEvent::Plugin {
                transaction: Some(t),
                data,
                jsep,
                ..
            } if t == transaction => {
                if let Some(code) = data.get("error_code").and_then(serde_json::Value::as_i64) {
                    return Err(Error::Server(format!("videoroom {code}: {data}")));
                }
                return Ok((data, jsep));
            }
            JanusEvent::Hangup { sender, reason } => {
                return Err(Error::Media(format!(
                    "janus hung up handle {sender}: {reason}"
                )))
            }
            _ => {}
        }
    }
}
