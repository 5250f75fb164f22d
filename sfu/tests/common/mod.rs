//! In-memory harness: str0m clients and the SFU core exchange datagrams through queues while a
//! virtual clock advances. No sockets, no sleeping, deterministic apart from str0m's own
//! randomness (ICE credentials, SSRCs, DTLS keys), which never decides an assertion.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use confidant_sfu::core::frame;
use confidant_sfu::{MediaKind, Output, PeerId, RoomId, Sfu, SfuConfig, SfuEvent};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaTime, Mid, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::vla::{
    ResolutionAndFramerate, SimulcastStreamAllocation, SpatialLayerAllocation,
    TemporalLayerAllocation, VideoLayersAllocation,
};
use str0m::rtp::Extension;
use str0m::{Candidate, Event, Input, Rtc, RtcConfig};

/// The SFU's advertised (and only) address in tests.
pub const SFU_ADDR: &str = "127.0.0.1:5000";

/// Step of the virtual clock.
pub const TICK: Duration = Duration::from_millis(10);

/// Cap on datagram exchange rounds within one tick (loops are bounded).
const MAX_ROUNDS: usize = 200;
/// Bound on the SFU timeouts driven inside one tick (its pacer asks for one per packet).
const MAX_SFU_TIMEOUTS_PER_TICK: usize = 2000;

/// Something a client received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    /// Stream id (msid) of the m-line the data arrived on: the publisher's PeerId.
    pub stream_id: String,
    pub kind: MediaKind,
    /// The client's m-line.
    pub mid: Mid,
    pub codec: Codec,
    pub len: usize,
    /// The first [`HEAD_BYTES`] bytes of the frame (for VP8: the frame tag first).
    pub head: Vec<u8>,
    /// str0m's verdict: the frame follows the previous one with nothing missing.
    pub contiguous: bool,
    /// The (extended) RTP sequence numbers the frame came in.
    pub seq: (u64, u64),
}

/// Bytes of each received frame kept in [`Received::head`].
pub const HEAD_BYTES: usize = 16;

impl Received {
    /// Whether this is a VP8 key frame (frame tag bit 0 clear, RFC 6386 9.1).
    pub fn vp8_key(&self) -> bool {
        self.head.first().is_some_and(|b| b & 1 == 0)
    }

    /// The layer marker of a frame written by a simulcast [`Client`] (the byte right after the
    /// VP8 frame header, see [`simulcast_frame`]): `b'q'`, `b'h'` or `b'f'`.
    pub fn layer(&self) -> Option<u8> {
        let offset = if self.vp8_key() {
            VP8_KEY_HEADER
        } else {
            VP8_INTER_HEADER
        };
        self.head.get(offset).copied()
    }
}

/// The simulcast RIDs a simulcast [`Client`] publishes, lowest first.
pub const SIMULCAST_RIDS: [&str; 3] = ["q", "h", "f"];
/// Header extension id for the video-layers-allocation extension in simulcast clients (the
/// SFU's own choice too).
pub const VLA_ID: u8 = 14;
/// Header extension id for the Dependency Descriptor in [`chrome_like_config`] clients.
pub const DD_ID: u8 = 12;

/// An `RtcConfig` for a publisher that sends the Dependency Descriptor extension on its video,
/// as Chrome does (with [`Client::dependency_descriptor`] set).
pub fn chrome_like_config() -> RtcConfig {
    RtcConfig::new().set_extension(
        DD_ID,
        Extension::with_serializer(frame::URI, frame::DependencyDescriptorSerializer),
    )
}

/// One simulcast layer a [`Client`] sends.
#[derive(Debug, Clone)]
pub struct LayerSend {
    pub rid: Rid,
    /// Marker byte written after the VP8 header of each frame.
    pub marker: u8,
    /// Bytes of each frame (header, marker and filler).
    pub frame_len: usize,
    pub width: u16,
    pub height: u16,
    /// A key frame every this many frames of the layer (besides the ones asked for).
    pub keyframe_every: u64,
    /// Frames written on this layer so far.
    pub frames: u64,
    /// The next frame is a key frame (asked for by a keyframe request).
    pub key_next: bool,
    /// The layer is being sent (clear it to stop the layer, as a browser whose uplink drops).
    pub sending: bool,
    /// Key frames written, as frame numbers of this layer.
    pub keyframes_sent: u64,
}

/// A client's simulcast video: its layers, lowest first, and whether it honours keyframe
/// requests (a real encoder does, with a delay; `false` makes switches wait for the periodic
/// key frame).
#[derive(Debug, Clone)]
pub struct SimulcastSend {
    pub layers: Vec<LayerSend>,
    pub answer_keyframe_requests: bool,
    /// The video-layers-allocation value carries each layer's resolution (Chromium leaves it
    /// out of many packets).
    pub vla_resolution: bool,
    /// Packets carry the video-layers-allocation extension at all (Firefox sends none: the
    /// SFU has only the sizes in the key frames' headers).
    pub vla: bool,
}

impl SimulcastSend {
    /// `q`, `h`, `f` at 320x180, 640x360, 1280x720 with frames of 100, 400 and 1200 bytes.
    /// At 50 frames/s that is 40, 160 and 480 kbit/s of payload: all three fit the SFU's
    /// initial 1 Mbit/s estimate (85 % of it for video, less 40 kbit/s per audio track), so
    /// the rendered size alone decides the layer.
    pub fn three_layers() -> SimulcastSend {
        let layer = |rid: &str, frame_len, width, height| LayerSend {
            rid: rid.into(),
            marker: rid.as_bytes()[0],
            frame_len,
            width,
            height,
            keyframe_every: 100,
            frames: 0,
            key_next: false,
            sending: true,
            keyframes_sent: 0,
        };
        SimulcastSend {
            layers: vec![
                layer("q", 100, 320, 180),
                layer("h", 400, 640, 360),
                layer("f", 1200, 1280, 720),
            ],
            answer_keyframe_requests: true,
            vla_resolution: true,
            vla: true,
        }
    }

    pub fn layer_mut(&mut self, rid: &str) -> &mut LayerSend {
        self.layers
            .iter_mut()
            .find(|l| &*l.rid == rid)
            .expect("a layer with this rid")
    }

    /// The video-layers-allocation value every layer's packets carry: all layers (with their
    /// resolution when `vla_resolution`), `index` as the current stream.
    fn vla(&self, index: u8) -> VideoLayersAllocation {
        VideoLayersAllocation {
            current_simulcast_stream_index: index,
            simulcast_streams: self
                .layers
                .iter()
                .map(|l| SimulcastStreamAllocation {
                    spatial_layers: vec![SpatialLayerAllocation {
                        temporal_layers: vec![TemporalLayerAllocation {
                            cumulative_kbps: (l.frame_len as u64) * 8 * 50 / 1000,
                        }],
                        resolution_and_framerate: self.vla_resolution.then_some(
                            ResolutionAndFramerate {
                                width: l.width,
                                height: l.height,
                                framerate: 50,
                            },
                        ),
                    }],
                })
                .collect(),
        }
    }
}

/// Length of the fake VP8 key frame header [`vp8_frame`] writes (frame tag, start code, size).
pub const VP8_KEY_HEADER: usize = 10;
/// Length of the fake VP8 inter frame header (frame tag).
pub const VP8_INTER_HEADER: usize = 3;

/// A fake VP8 frame of a simulcast layer: the VP8 header (a key frame's states the layer's
/// `width` × `height`), then `marker` up to `len` bytes.
pub fn simulcast_frame(key: bool, marker: u8, len: usize, (width, height): (u16, u16)) -> Vec<u8> {
    let mut f = vp8_frame(key);
    f.truncate(if key {
        VP8_KEY_HEADER
    } else {
        VP8_INTER_HEADER
    });
    if key {
        f[6..8].copy_from_slice(&width.to_le_bytes());
        f[8..10].copy_from_slice(&height.to_le_bytes());
    }
    f.resize(len.max(f.len() + 1), marker);
    f
}

/// An `RtcConfig` for a simulcast publisher: str0m's defaults plus the video-layers-allocation
/// extension, which tells the SFU each layer's resolution.
pub fn simulcast_config() -> RtcConfig {
    RtcConfig::new().set_extension(
        VLA_ID,
        Extension::with_serializer(str0m::rtp::vla::URI, str0m::rtp::vla::Serializer),
    )
}

/// One in-process client: a full-ICE str0m `Rtc` standing in for a browser.
pub struct Client {
    pub id: PeerId,
    pub room: RoomId,
    pub addr: SocketAddr,
    pub rtc: Rtc,
    pub audio_mid: Mid,
    pub video_mid: Mid,
    pub connected: bool,
    pub received: Vec<Received>,
    pub keyframe_requests: Vec<Instant>,
    /// Every keyframe request with the RID it was for.
    pub keyframe_request_rids: Vec<(Instant, Option<Rid>)>,
    /// Simulcast video (set by [`Client::with_offer_simulcast`]); `None`: one video stream.
    pub simulcast: Option<SimulcastSend>,
    pub closed: bool,
    /// Drop everything this client sends (its transport "dies").
    pub mute_network: bool,
    audio_frames: u64,
    pub video_frames: u64,
    /// RFC 6464 audio level (-dBov, 0 loudest) sent with each audio frame, if any.
    pub audio_level: Option<i8>,
    /// Video frames carry a Dependency Descriptor, as Chrome's do (the config must register
    /// the extension: [`chrome_like_config`]).
    pub dependency_descriptor: bool,
}

impl Client {
    /// A client at `addr` with sendrecv audio + video; returns it with its first offer.
    pub fn with_offer(
        id: u64,
        room: u64,
        addr: SocketAddr,
        config: RtcConfig,
        now: Instant,
    ) -> (Client, String, SdpPendingOffer) {
        let candidate = Candidate::host(addr, "udp").expect("host candidate");
        Client::with_offer_from(id, room, addr, candidate, config, now)
    }

    /// Like [`Client::with_offer`], with the given local candidate (an ICE-TCP one, say).
    pub fn with_offer_from(
        id: u64,
        room: u64,
        addr: SocketAddr,
        candidate: Candidate,
        config: RtcConfig,
        now: Instant,
    ) -> (Client, String, SdpPendingOffer) {
        Client::build(id, room, addr, candidate, config, now, None)
    }

    /// A client at `addr` whose video is sent as `simulcast` (RIDs in the offer's
    /// `a=simulcast:send`); `config` should come from [`simulcast_config`].
    pub fn with_offer_simulcast(
        id: u64,
        room: u64,
        addr: SocketAddr,
        config: RtcConfig,
        now: Instant,
        simulcast: SimulcastSend,
    ) -> (Client, String, SdpPendingOffer) {
        let candidate = Candidate::host(addr, "udp").expect("host candidate");
        Client::build(id, room, addr, candidate, config, now, Some(simulcast))
    }

    fn build(
        id: u64,
        room: u64,
        addr: SocketAddr,
        candidate: Candidate,
        config: RtcConfig,
        now: Instant,
        simulcast: Option<SimulcastSend>,
    ) -> (Client, String, SdpPendingOffer) {
        let mut rtc = config.build(now);
        rtc.add_local_candidate(candidate);
        let mut api = rtc.sdp_api();
        let audio_mid = api.add_media(
            str0m::media::MediaKind::Audio,
            Direction::SendRecv,
            None,
            None,
            None,
        );
        let video_mid = api.add_media(
            str0m::media::MediaKind::Video,
            Direction::SendRecv,
            None,
            None,
            simulcast.as_ref().map(|s| Simulcast {
                send: s
                    .layers
                    .iter()
                    .map(|l| SimulcastLayer::new(&l.rid))
                    .collect(),
                recv: vec![],
            }),
        );
        let (offer, pending) = api.apply().expect("an offer");
        let client = Client {
            id: PeerId(id),
            room: RoomId(room),
            addr,
            rtc,
            audio_mid,
            video_mid,
            connected: false,
            received: Vec::new(),
            keyframe_requests: Vec::new(),
            keyframe_request_rids: Vec::new(),
            simulcast,
            closed: false,
            mute_network: false,
            audio_frames: 0,
            audio_level: None,
            dependency_descriptor: false,
            video_frames: 0,
        };
        (client, offer.to_sdp_string(), pending)
    }

    /// Applies the SFU's answer to the client's first offer.
    pub fn accept_answer(&mut self, pending: SdpPendingOffer, answer: &str) {
        let answer = SdpAnswer::from_sdp_string(answer).expect("SFU answer parses");
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .expect("client accepts the SFU answer");
    }

    /// Answers a server offer.
    pub fn answer_offer(&mut self, sdp: &str) -> String {
        let offer = SdpOffer::from_sdp_string(sdp).expect("server offer parses");
        self.rtc
            .sdp_api()
            .accept_offer(offer)
            .expect("client accepts server offer")
            .to_sdp_string()
    }

    pub fn received_from(&self, publisher: PeerId, kind: MediaKind) -> usize {
        let sid = publisher.0.to_string();
        self.received
            .iter()
            .filter(|r| r.stream_id == sid && r.kind == kind)
            .count()
    }

    pub fn handle_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Connected => self.connected = true,
            Event::MediaData(d) => {
                let (stream_id, kind) = match self.rtc.media(d.mid) {
                    Some(m) => (m.stream_id().to_string(), m.kind().into()),
                    None => (String::new(), MediaKind::Audio),
                };
                self.received.push(Received {
                    at: now,
                    stream_id,
                    kind,
                    mid: d.mid,
                    codec: d.params.spec().codec,
                    len: d.data.len(),
                    head: d.data.iter().take(HEAD_BYTES).copied().collect(),
                    contiguous: d.contiguous,
                    seq: (**d.seq_range.start(), **d.seq_range.end()),
                });
            }
            Event::KeyframeRequest(req) => {
                self.keyframe_requests.push(now);
                self.keyframe_request_rids.push((now, req.rid));
                if let Some(s) = self.simulcast.as_mut() {
                    if s.answer_keyframe_requests {
                        for l in &mut s.layers {
                            if req.rid.is_none_or(|r| r == l.rid) {
                                l.key_next = true;
                            }
                        }
                    }
                }
            }
            Event::Closed => self.closed = true,
            _ => {}
        }
    }

    /// Writes frames at `now` (see [`Client::send_frames`]) and returns every datagram the
    /// client sends over the next `millis` milliseconds (str0m packetizes as time moves on;
    /// reports and feedback come along), for tests that feed the SFU by hand.
    pub fn frames_as_datagrams(&mut self, now: Instant, millis: u32) -> Vec<str0m::net::Transmit> {
        self.send_frames(now);
        let mut out = Vec::new();
        for step in 1..=millis {
            loop {
                match self.rtc.poll_output().expect("client polls") {
                    str0m::Output::Transmit(t) => out.push(t),
                    str0m::Output::Event(e) => self.handle_event(now, e),
                    str0m::Output::Timeout(_) => break,
                }
            }
            self.rtc
                .handle_input(Input::Timeout(now + Duration::from_millis(step.into())))
                .expect("client timeout");
        }
        out
    }

    /// Writes one Opus frame (20 ms) and, every other call, one video frame.
    pub fn send_frames(&mut self, now: Instant) {
        if !self.connected {
            return;
        }
        if let Some(writer) = self.rtc.writer(self.audio_mid) {
            let pt = writer
                .payload_params()
                .find(|p| p.spec().codec == Codec::Opus)
                .map(|p| p.pt());
            if let Some(pt) = pt {
                let t = MediaTime::new(
                    self.audio_frames * 960,
                    str0m::media::Frequency::FORTY_EIGHT_KHZ,
                );
                // An Opus TOC byte and filler; nothing decodes it.
                let frame = vec![0xfc, 0xff, 0xfe, 0x01, 0x02, 0x03, 0x04, 0x05];
                let writer = match self.audio_level {
                    Some(level) => writer.audio_level(level, level > -60),
                    None => writer,
                };
                writer.write(pt, now, t, frame).expect("write audio");
            }
        }
        self.audio_frames += 1;
        if matches!(self.audio_frames % 2, 0) && self.simulcast.is_some() {
            self.send_simulcast_video(now);
        } else if matches!(self.audio_frames % 2, 0) {
            if let Some(writer) = self.rtc.writer(self.video_mid) {
                let params = writer
                    .payload_params()
                    .find(|p| matches!(p.spec().codec, Codec::Vp8 | Codec::H264))
                    .copied();
                if let Some(params) = params {
                    let t = MediaTime::new(
                        self.video_frames * 3600,
                        str0m::media::Frequency::NINETY_KHZ,
                    );
                    let key = matches!(self.video_frames % 30, 0);
                    let frame = match params.spec().codec {
                        Codec::H264 => h264_frame(key),
                        _ => vp8_frame(key),
                    };
                    // Start and end of frame, frame number; on a key frame the template
                    // structure flag, as Chrome attaches it (the rest is not read).
                    let n = (self.video_frames as u16).to_be_bytes();
                    let dd = if key {
                        frame::DependencyDescriptorValue::from_bytes(&[0xC0, n[0], n[1], 0x80])
                    } else {
                        frame::DependencyDescriptorValue::from_bytes(&[0xC0, n[0], n[1]])
                    };
                    let writer = match dd {
                        Some(dd) if self.dependency_descriptor => writer.user_extension_value(dd),
                        _ => writer,
                    };
                    writer
                        .write(params.pt(), now, t, frame)
                        .expect("write video");
                }
                self.video_frames += 1;
            }
        }
    }
}

impl Client {
    /// Writes one frame on every layer that is sending (all at the same capture time, as one
    /// encoder pass): key on the layer's period or when a keyframe request asked for one.
    fn send_simulcast_video(&mut self, now: Instant) {
        let Some(mut simulcast) = self.simulcast.take() else {
            return;
        };
        let t = MediaTime::new(
            self.video_frames * 1800,
            str0m::media::Frequency::NINETY_KHZ,
        );
        for index in 0..simulcast.layers.len() {
            if !simulcast.layers[index].sending {
                continue;
            }
            let vla = simulcast.vla(u8::try_from(index).expect("few layers"));
            let Some(writer) = self.rtc.writer(self.video_mid) else {
                break;
            };
            let Some(pt) = writer
                .payload_params()
                .find(|p| p.spec().codec == Codec::Vp8)
                .map(|p| p.pt())
            else {
                break;
            };
            let l = &mut simulcast.layers[index];
            let key = l.key_next || l.frames % l.keyframe_every == 0;
            let frame = simulcast_frame(key, l.marker, l.frame_len, (l.width, l.height));
            let writer = writer.rid(l.rid);
            let writer = if simulcast.vla {
                writer.user_extension_value(vla)
            } else {
                writer
            };
            writer
                .write(pt, now, t, frame)
                .expect("write simulcast video");
            l.frames += 1;
            l.key_next = false;
            if key {
                l.keyframes_sent += 1;
            }
        }
        self.video_frames += 1;
        self.simulcast = Some(simulcast);
    }
}

/// A fake VP8 frame: a valid frame tag (key or inter frame) and filler.
pub fn vp8_frame(key: bool) -> Vec<u8> {
    let mut f = if key {
        // Frame tag: key frame, version 0, show_frame; start code; 320x180.
        vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4, 0x00]
    } else {
        vec![0x11, 0x02, 0x00]
    };
    f.extend(std::iter::repeat_n(0x55, 200));
    f
}

/// A fake H.264 access unit in Annex B form: SPS, PPS and IDR slice, or a non-IDR slice.
pub fn h264_frame(key: bool) -> Vec<u8> {
    let mut f = Vec::new();
    if key {
        f.extend([0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f, 0xda, 0x01, 0x40, 0x16]);
        f.extend([0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
        f.extend([0, 0, 0, 1, 0x65, 0x88, 0x84]);
    } else {
        f.extend([0, 0, 0, 1, 0x41, 0x9a, 0x02]);
    }
    f.extend(std::iter::repeat_n(0x55, 200));
    f
}

/// A seeded network emulator for the links between the SFU and the clients: every datagram
/// is lost with `loss_percent` % probability, else delayed by a uniform 0..=`jitter` (rounded
/// to ticks, so datagrams overtake each other). Deterministic for a seed.
pub struct Netem {
    pub loss_percent: u64,
    pub jitter: Duration,
    state: u64,
    /// Datagrams dropped so far.
    pub dropped: u64,
    /// Datagrams delayed by at least one tick so far.
    pub delayed: u64,
}

impl Netem {
    pub fn new(seed: u64, loss_percent: u64, jitter: Duration) -> Netem {
        Netem {
            loss_percent,
            jitter,
            state: seed.max(1),
            dropped: 0,
            delayed: 0,
        }
    }

    /// xorshift64*: small and good enough to pick losses.
    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `None`: lost. Otherwise the delay.
    fn decide(&mut self) -> Option<Duration> {
        if self.next() % 100 < self.loss_percent {
            self.dropped += 1;
            return None;
        }
        let max = u64::try_from(self.jitter.as_millis()).unwrap_or(0);
        let ms = if max == 0 { 0 } else { self.next() % (max + 1) };
        if ms >= 10 {
            self.delayed += 1;
        }
        Some(Duration::from_millis(ms))
    }
}

/// A datagram on its way, held back by the [`Netem`].
struct InFlight {
    at: Instant,
    to_sfu: bool,
    source: SocketAddr,
    destination: SocketAddr,
    contents: Vec<u8>,
}

/// The SFU core plus clients, shuttling datagrams in memory.
pub struct World {
    /// Loss and jitter on every link (none by default).
    pub netem: Option<Netem>,
    in_flight: Vec<InFlight>,
    pub now: Instant,
    /// The SFU's clock: `now`, plus the timeouts it asked for inside the current tick (never
    /// goes back, so the SFU and the clients see datagrams in the order and spacing it sent).
    sfu_clock: Instant,
    pub sfu: Sfu,
    pub sfu_addr: SocketAddr,
    pub clients: Vec<Client>,
    pub sfu_events: Vec<(Instant, PeerId, SfuEvent)>,
    /// Answer server offers as soon as they come (like a browser would).
    pub auto_answer: bool,
    /// Server offers not answered yet (when `auto_answer` is off).
    pub held_offers: Vec<(PeerId, String)>,
    /// When an answer to a server offer was accepted by the SFU.
    pub answers_accepted: Vec<(Instant, PeerId)>,
}

impl World {
    pub fn new() -> World {
        World::with_loudest_audio(confidant_sfu::DEFAULT_LOUDEST_AUDIO)
    }

    /// A world whose SFU forwards the audio of the `n` loudest publishers per room (0: all).
    pub fn with_loudest_audio(n: usize) -> World {
        let sfu_addr: SocketAddr = SFU_ADDR.parse().expect("literal address");
        let sfu = Sfu::new(SfuConfig {
            advertised: sfu_addr,
            advertised_tcp: None,
            loudest_audio: n,
        })
        .expect("valid advertised address");
        World {
            netem: None,
            in_flight: Vec::new(),
            now: Instant::now(),
            sfu_clock: Instant::now(),
            sfu,
            sfu_addr,
            clients: Vec::new(),
            sfu_events: Vec::new(),
            auto_answer: true,
            held_offers: Vec::new(),
            answers_accepted: Vec::new(),
        }
    }

    /// Adds a client with sendrecv audio + video (like a browser's first offer).
    pub fn add_client(&mut self, id: u64, room: u64) -> usize {
        self.add_client_with(id, room, RtcConfig::new())
    }

    /// Adds a client whose video is simulcast (see [`SimulcastSend`]).
    pub fn add_simulcast_client(&mut self, id: u64, room: u64, simulcast: SimulcastSend) -> usize {
        let idx = self.clients.len();
        let addr = Self::client_addr(idx, id);
        let (mut client, offer, pending) =
            Client::with_offer_simulcast(id, room, addr, simulcast_config(), self.now, simulcast);
        let answer = self
            .sfu
            .add_peer(self.now, RoomId(room), PeerId(id), &offer)
            .expect("SFU accepts a valid simulcast offer");
        client.accept_answer(pending, &answer);
        self.clients.push(client);
        idx
    }

    fn client_addr(idx: usize, id: u64) -> SocketAddr {
        format!("127.0.0.{}:{}", 2 + idx, 10000 + id)
            .parse()
            .expect("valid address")
    }

    /// Adds a client built from `config`.
    pub fn add_client_with(&mut self, id: u64, room: u64, config: RtcConfig) -> usize {
        let idx = self.clients.len();
        let addr = Self::client_addr(idx, id);
        let (mut client, offer, pending) = Client::with_offer(id, room, addr, config, self.now);
        let answer = self
            .sfu
            .add_peer(self.now, RoomId(room), PeerId(id), &offer)
            .expect("SFU accepts a valid offer");
        client.accept_answer(pending, &answer);
        self.clients.push(client);
        idx
    }

    pub fn client(&self, id: u64) -> &Client {
        self.clients
            .iter()
            .find(|c| c.id == PeerId(id))
            .expect("client exists")
    }

    pub fn client_mut(&mut self, id: u64) -> &mut Client {
        self.clients
            .iter_mut()
            .find(|c| c.id == PeerId(id))
            .expect("client exists")
    }

    /// Removes the peer from the SFU; its client stays around, silent.
    pub fn remove(&mut self, id: u64) {
        self.sfu.remove_peer(self.now, PeerId(id));
        if let Some(c) = self.clients.iter_mut().find(|c| c.id == PeerId(id)) {
            c.mute_network = true;
        }
    }

    pub fn sfu_events_for(&self, id: u64) -> Vec<SfuEvent> {
        self.sfu_events
            .iter()
            .filter(|(_, p, _)| *p == PeerId(id))
            .map(|(_, _, e)| e.clone())
            .collect()
    }

    /// Answers a held server offer for `id`.
    pub fn answer_held(&mut self, id: u64) {
        let pos = self
            .held_offers
            .iter()
            .position(|(p, _)| *p == PeerId(id))
            .expect("a held offer");
        let (peer, sdp) = self.held_offers.remove(pos);
        self.answer(peer, &sdp);
    }

    fn answer(&mut self, peer: PeerId, sdp: &str) {
        let Some(client) = self.clients.iter_mut().find(|c| c.id == peer) else {
            return;
        };
        let answer = client.answer_offer(sdp);
        self.sfu
            .accept_answer(self.now, peer, &answer)
            .expect("SFU accepts the client's answer");
        self.answers_accepted.push((self.now, peer));
    }

    /// Hands a datagram to the client at `destination`.
    fn deliver_to_client(&mut self, source: SocketAddr, destination: SocketAddr, contents: &[u8]) {
        self.deliver_to_client_at(self.now, source, destination, contents);
    }

    /// Delivers a datagram to its client at `now` (the SFU's time within the tick when it
    /// sent it, so the clients' TWCC feedback sees the real spacing, not a 10 ms step).
    pub fn deliver_to_client_at(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &[u8],
    ) {
        if let Some(c) = self
            .clients
            .iter_mut()
            .find(|c| c.addr == destination && !c.mute_network)
        {
            let recv = Receive::new(Protocol::Udp, source, destination, contents)
                .expect("SFU sends parseable datagrams");
            c.rtc
                .handle_input(Input::Receive(now, recv))
                .expect("client handles SFU datagram");
        }
    }

    /// Whether the [`Netem`] lets a datagram through now (`Some(true)`), later (queued,
    /// `Some(false)`) or not at all (`None`).
    fn through(
        &mut self,
        to_sfu: bool,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &[u8],
    ) -> Option<bool> {
        let Some(netem) = self.netem.as_mut() else {
            return Some(true);
        };
        let delay = netem.decide()?;
        if delay < TICK {
            return Some(true);
        }
        self.in_flight.push(InFlight {
            at: self.now + delay,
            to_sfu,
            source,
            destination,
            contents: contents.to_vec(),
        });
        Some(false)
    }

    /// The latest time any part of the world has seen: `now`, or the SFU's clock if a timeout
    /// inside the tick moved it on. Input fed by hand should not be older than this.
    pub fn clock(&self) -> Instant {
        self.now.max(self.sfu_clock)
    }

    /// Delivers held-back datagrams that are due.
    fn deliver_due(&mut self) -> bool {
        let now = self.now;
        let (due, later): (Vec<InFlight>, Vec<InFlight>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|d| d.at <= now);
        self.in_flight = later;
        let any = !due.is_empty();
        for d in due {
            if d.to_sfu {
                self.sfu_clock = self.sfu_clock.max(now);
                self.sfu
                    .handle_receive(self.sfu_clock, d.source, d.destination, &d.contents);
            } else {
                self.deliver_to_client(d.source, d.destination, &d.contents);
            }
        }
        any
    }

    /// Exchanges datagrams until quiet, then advances the clock by one tick.
    pub fn tick(&mut self) {
        for _ in 0..MAX_ROUNDS {
            let mut moved = self.deliver_due();
            // SFU → clients. Timeouts the SFU asks for within this tick are honoured (str0m's
            // pacer sends a packet per timeout), as the real shell's timer would.
            self.sfu_clock = self.sfu_clock.max(self.now);
            let mut sfu_now = self.sfu_clock;
            let mut timeouts = 0;
            loop {
                match self.sfu.poll_output(sfu_now) {
                    Output::Transmit(t) => {
                        moved = true;
                        if self.through(false, t.source, t.destination, &t.contents) == Some(true) {
                            self.deliver_to_client_at(
                                sfu_now,
                                t.source,
                                t.destination,
                                &t.contents,
                            );
                        }
                        // As the shell does once the socket took it.
                        self.sfu.recycle(t.contents);
                    }
                    Output::Event(peer, event) => {
                        moved = true;
                        self.sfu_events.push((self.now, peer, event.clone()));
                        if let SfuEvent::Offer { sdp } = event {
                            if self.auto_answer {
                                self.answer(peer, &sdp);
                            } else {
                                self.held_offers.push((peer, sdp));
                            }
                        }
                    }
                    Output::Timeout(t) => {
                        if t < self.now + TICK && timeouts < MAX_SFU_TIMEOUTS_PER_TICK {
                            timeouts += 1;
                            sfu_now = sfu_now.max(t);
                            self.sfu_clock = sfu_now;
                            self.sfu.handle_timeout(sfu_now);
                            continue;
                        }
                        break;
                    }
                }
            }
            // Clients → SFU.
            let now = self.now;
            let mut sent = Vec::new();
            for c in &mut self.clients {
                let mut timeouts = 0;
                loop {
                    match c.rtc.poll_output().expect("client poll_output") {
                        str0m::Output::Transmit(t) => {
                            if !c.mute_network {
                                moved = true;
                                sent.push((t.source, t.destination, t.contents.to_vec()));
                            }
                        }
                        str0m::Output::Event(e) => c.handle_event(now, e),
                        // A timeout already due (str0m's send queue wants a fresh snapshot
                        // to release what was written since) is honoured at once, as a
                        // browser's timer would: otherwise a client writing more packets
                        // per tick than one snapshot releases (simulcast) builds a backlog.
                        str0m::Output::Timeout(t) if t <= now && timeouts < MAX_ROUNDS => {
                            timeouts += 1;
                            c.rtc
                                .handle_input(Input::Timeout(now))
                                .expect("client timeout");
                        }
                        str0m::Output::Timeout(_) => break,
                    }
                }
            }
            for (source, destination, contents) in sent {
                if self.through(true, source, destination, &contents) == Some(true) {
                    self.sfu.handle_receive(
                        self.sfu_clock.max(now),
                        source,
                        destination,
                        &contents,
                    );
                }
            }
            if !moved {
                break;
            }
        }
        self.now += TICK;
        self.sfu_clock = self.sfu_clock.max(self.now);
        self.sfu.handle_timeout(self.sfu_clock);
        for c in &mut self.clients {
            c.rtc
                .handle_input(Input::Timeout(self.now))
                .expect("client timeout");
        }
    }

    /// Ticks until `cond` holds, at most `max_ticks` times. Returns whether it held.
    pub fn run_until(&mut self, max_ticks: usize, mut cond: impl FnMut(&World) -> bool) -> bool {
        for _ in 0..max_ticks {
            if cond(self) {
                return true;
            }
            self.tick();
        }
        cond(self)
    }

    /// Ticks `n` times while the given publishers send media.
    pub fn run_publishing(&mut self, n: usize, publishers: &[u64]) {
        for _ in 0..n {
            let now = self.now;
            for c in &mut self.clients {
                if publishers.contains(&c.id.0) && !c.mute_network {
                    c.send_frames(now);
                }
            }
            self.tick();
        }
    }

    /// Publisher 1 and `subscribers` subscribers (2, 3, …) in one room, connected, after
    /// `warm_up` ticks of publisher 1's media that every subscriber received video of.
    pub fn forwarding_to(subscribers: u64, warm_up: usize) -> World {
        World::forwarding_from(RtcConfig::new(), false, subscribers, warm_up)
    }

    /// Like [`World::forwarding_to`], with a publisher whose video carries a Dependency
    /// Descriptor on every packet, as Chrome's does.
    pub fn forwarding_chrome_like_to(subscribers: u64, warm_up: usize) -> World {
        World::forwarding_from(chrome_like_config(), true, subscribers, warm_up)
    }

    fn forwarding_from(
        config: RtcConfig,
        dependency_descriptor: bool,
        subscribers: u64,
        warm_up: usize,
    ) -> World {
        let mut w = World::new();
        w.add_client_with(1, 10, config);
        w.client_mut(1).dependency_descriptor = dependency_descriptor;
        for s in 0..subscribers {
            w.add_client(2 + s, 10);
        }
        w.connect_all();
        w.run_publishing(warm_up, &[1]);
        for s in 0..subscribers {
            assert!(w.client(2 + s).received_from(PeerId(1), MediaKind::Video) > 10);
        }
        w
    }

    /// Ticks until every client is connected (bounded).
    pub fn connect_all(&mut self) {
        let ok = self.run_until(500, |w| w.clients.iter().all(|c| c.connected));
        assert!(ok, "all clients connect");
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}
