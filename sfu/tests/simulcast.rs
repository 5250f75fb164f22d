//! Simulcast through the real core: a str0m client publishes VP8 video as three layers (RIDs
//! `q`, `h`, `f` at 180p/360p/720p, announced in the video-layers-allocation extension), str0m
//! clients subscribe, and the forwarder picks, switches and rewrites. Which layer a subscriber
//! got is read from a marker byte each layer puts after the VP8 frame header
//! ([`common::simulcast_frame`]).
//!
//! Layer sizes (see [`SimulcastSend::three_layers`]): 40, 160 and 480 kbit/s of payload, all
//! within the SFU's initial 1 Mbit/s estimate, so the rendered size alone picks the layer.

mod common;

use std::time::Duration;

use common::{Received, SimulcastSend, World};
use confidant_sfu::{Error, MediaKind, PeerId};

/// Publisher 1 (simulcast), subscribers 2 and 3, all in room 10, connected and forwarding.
fn world(simulcast: SimulcastSend) -> World {
    let mut w = World::new();
    w.add_simulcast_client(1, 10, simulcast);
    w.add_client(2, 10);
    w.add_client(3, 10);
    w.connect_all();
    // Publishing makes the track known; the subscribers' m-lines get negotiated, and the
    // first key frame (periodic, or asked for) starts the forwarding.
    let started = publish_until(&mut w, 400, |w| !video_from(w, 2, 1).is_empty());
    assert!(started, "video is forwarded");
    w.run_publishing(20, &[1]);
    w
}

/// Ticks while publisher 1 sends until `cond` holds, at most `max_ticks`. Returns whether it
/// held.
fn publish_until(w: &mut World, max_ticks: usize, cond: impl Fn(&World) -> bool) -> bool {
    for _ in 0..max_ticks {
        if cond(w) {
            return true;
        }
        w.run_publishing(1, &[1]);
    }
    cond(w)
}

fn video_from(w: &World, sub: u64, publisher: u64) -> Vec<Received> {
    let sid = publisher.to_string();
    w.client(sub)
        .received
        .iter()
        .filter(|r| r.stream_id == sid && r.kind == MediaKind::Video)
        .cloned()
        .collect()
}

/// The layer markers of `frames` as a string, `?` for an unmarked frame.
fn layers(frames: &[Received]) -> String {
    frames
        .iter()
        .map(|r| r.layer().map_or('?', char::from))
        .collect()
}

fn set_size(w: &mut World, sub: u64, publisher: u64, width: u32, height: u32) {
    let now = w.now;
    w.sfu
        .set_video_size(now, PeerId(sub), PeerId(publisher), width, height)
        .expect("both peers exist in one room");
}

/// The last `n` frames `sub` got from publisher 1.
fn last_layers(w: &World, sub: u64, n: usize) -> String {
    let v = video_from(w, sub, 1);
    layers(&v[v.len().saturating_sub(n)..])
}

#[test]
fn small_rendered_size_gets_the_lowest_layer_and_large_the_top() {
    let mut w = world(SimulcastSend::three_layers());
    // Layer heights are 180, 360, 720: 90 is below the middle layer.
    set_size(&mut w, 2, 1, 160, 90);
    set_size(&mut w, 3, 1, 1280, 720);
    w.run_publishing(150, &[1]);
    assert_eq!(last_layers(&w, 2, 40), "q".repeat(40));
    assert_eq!(last_layers(&w, 3, 40), "f".repeat(40));
    // The frames arrive whole: each layer's frames have that layer's size.
    let v = video_from(&w, 2, 1);
    assert!(v[v.len() - 40..].iter().all(|r| r.len == 100));
    let v = video_from(&w, 3, 1);
    assert!(v[v.len() - 40..].iter().all(|r| r.len == 1200));
}

#[test]
fn middle_size_gets_the_middle_layer() {
    let mut w = world(SimulcastSend::three_layers());
    set_size(&mut w, 2, 1, 480, 270);
    w.run_publishing(150, &[1]);
    assert_eq!(last_layers(&w, 2, 40), "h".repeat(40));
}

/// Index of the first frame of `layer` at or after `from`.
fn first_of(frames: &[Received], from: usize, layer: u8) -> Option<usize> {
    (from..frames.len()).find(|i| frames[*i].layer() == Some(layer))
}

#[test]
fn size_change_switches_layer_at_a_keyframe_of_the_new_layer_with_a_request_for_it() {
    let mut w = world(SimulcastSend::three_layers());
    set_size(&mut w, 2, 1, 1280, 720);
    set_size(&mut w, 3, 1, 1280, 720);
    w.run_publishing(100, &[1]);
    assert_eq!(last_layers(&w, 2, 20), "f".repeat(20));

    let before = video_from(&w, 2, 1).len();
    let switches = w.sfu.stats().layer_switches;
    let requests = w.client(1).keyframe_request_rids.len();
    let changed = w.now;
    set_size(&mut w, 2, 1, 160, 90);
    w.run_publishing(100, &[1]);

    let v = video_from(&w, 2, 1);
    let first_q = first_of(&v, before, b'q').expect("subscriber 2 moves to q");
    assert!(
        v[first_q].vp8_key(),
        "the first frame of the new layer is a key frame"
    );
    assert!(
        v[before..first_q].iter().all(|r| r.layer() == Some(b'f')),
        "the old layer plays until the switch: {}",
        layers(&v[before..])
    );
    assert_eq!(last_layers(&w, 2, 20), "q".repeat(20));
    // The SFU asked the publisher for a key frame of exactly the target layer.
    let asked: Vec<_> = w.client(1).keyframe_request_rids[requests..]
        .iter()
        .filter(|(at, _)| *at >= changed)
        .map(|(_, rid)| rid.map(|r| r.to_string()))
        .collect();
    assert!(
        asked.contains(&Some("q".to_string())),
        "key frame asked on q: {asked:?}"
    );
    assert!(
        !asked.contains(&None),
        "requests name their layer: {asked:?}"
    );
    // Subscriber 3 stayed on f: one switch.
    assert_eq!(w.sfu.stats().layer_switches, switches + 1);
    assert_eq!(last_layers(&w, 3, 40), "f".repeat(40));
}

/// With keyframe requests unanswered, a switch waits for the target layer's own periodic key
/// frame, and the old layer keeps playing meanwhile. (From the middle layer: the top one at
/// 480 kbit/s sits near this world's TWCC estimate, which dips with the 10 ms ticks.)
#[test]
fn switch_waits_for_the_new_layers_keyframe_when_the_publisher_ignores_requests() {
    let mut simulcast = SimulcastSend::three_layers();
    // A key frame every 2 s per layer, and keyframe requests are ignored.
    simulcast.answer_keyframe_requests = false;
    let mut w = world(simulcast);
    set_size(&mut w, 2, 1, 640, 360);
    // Long enough for h's periodic key frame (the start may be on whichever layer came first).
    w.run_publishing(500, &[1]);
    let old = video_from(&w, 2, 1)
        .last()
        .and_then(Received::layer)
        .expect("frames");
    assert_eq!(old, b'h');

    let before = video_from(&w, 2, 1).len();
    let switches = w.sfu.stats().layer_switches;
    set_size(&mut w, 2, 1, 160, 90);
    w.run_publishing(250, &[1]);

    let v = video_from(&w, 2, 1);
    let first_q = first_of(&v, before, b'q').expect("subscriber 2 moves to q");
    assert!(v[first_q].vp8_key(), "switched at q's key frame");
    assert!(
        first_q > before + 5,
        "the old layer kept playing while the switch waited: {}",
        layers(&v[before..])
    );
    assert!(v[before..first_q].iter().all(|r| r.layer() != Some(b'q')));
    assert!(v[first_q..].iter().all(|r| r.layer() == Some(b'q')));
    assert!(w.sfu.stats().layer_switches > switches);
}

/// Asserts that `frames` form one stream: str0m saw every frame contiguous, the RTP sequence
/// numbers continue without gaps from frame to frame, and each layer appears as one run per
/// stretch (no interleaving of layers). Returns the number of layer changes.
fn assert_one_continuous_stream(frames: &[Received]) -> usize {
    let mut changes = 0;
    for (i, pair) in frames.windows(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            b.contiguous,
            "frame {} ({:?} after {:?}) is contiguous; layers {}",
            i + 1,
            b.layer().map(char::from),
            a.layer().map(char::from),
            layers(frames)
        );
        assert_eq!(
            b.seq.0,
            a.seq.1 + 1,
            "frame {} continues the sequence numbers; layers {}",
            i + 1,
            layers(frames)
        );
        if a.layer() != b.layer() {
            changes += 1;
            assert!(b.vp8_key(), "a layer change starts with a key frame");
        }
    }
    changes
}

#[test]
fn switches_keep_one_continuous_stream() {
    let mut w = world(SimulcastSend::three_layers());
    // From the last frame before the first step, so a change at once is counted.
    let from = video_from(&w, 2, 1).len() - 1;
    let switches = w.sfu.stats().layer_switches;
    let steps = [
        (720, 'f'),
        (90, 'q'),
        (360, 'h'),
        (720, 'f'),
        (90, 'q'),
        (360, 'h'),
    ];
    for (height, layer) in steps {
        set_size(&mut w, 2, 1, height * 16 / 9, height);
        // Going up from a thumbnail waits for str0m's estimate to probe up to the new layer's
        // rate; bounded at 6 s.
        let want = layer.to_string().repeat(10);
        let reached = publish_until(&mut w, 600, |w| last_layers(w, 2, 10) == want);
        assert!(reached, "size {height}: {}", last_layers(&w, 2, 30));
    }
    let v = video_from(&w, 2, 1);
    let changes = assert_one_continuous_stream(&v[from..]);
    assert!(
        changes >= 5,
        "the layer changed at every step: {}",
        layers(&v[from..])
    );
    // Subscriber 3 reported no size: it stays where it was.
    assert_eq!(w.sfu.stats().layer_switches - switches, changes as u64);
}

/// Chrome sends the video-layers-allocation extension without resolutions most of the time
/// (seen on every Chromium run of tests/e2e/simulcast.test.mjs); a thumbnail's subscriber went
/// to the top layer as soon as one such packet erased the heights it had (CI, 2026-11-29).
#[test]
fn layer_heights_survive_allocation_headers_without_resolution() {
    let mut w = world(SimulcastSend::three_layers());
    set_size(&mut w, 2, 1, 160, 90);
    w.run_publishing(100, &[1]);
    assert_eq!(last_layers(&w, 2, 20), "q".repeat(20));

    w.client_mut(1)
        .simulcast
        .as_mut()
        .expect("simulcast publisher")
        .vla_resolution = false;
    let switches = w.sfu.stats().layer_switches;
    let before = video_from(&w, 2, 1).len();
    w.run_publishing(400, &[1]);
    let after = layers(&video_from(&w, 2, 1)[before..]);
    assert!(after.len() >= 150, "kept forwarding: {after}");
    assert_eq!(after, "q".repeat(after.len()));
    assert_eq!(w.sfu.stats().layer_switches, switches, "no switch at all");
}

/// Firefox sends no video-layers-allocation extension: the layer heights then come from the
/// sizes in the layers' VP8 key frame headers, which the clients leave in clear.
#[test]
fn without_the_allocation_extension_key_frame_sizes_pick_the_layer() {
    let mut simulcast = SimulcastSend::three_layers();
    simulcast.vla = false;
    let mut w = world(simulcast);
    set_size(&mut w, 2, 1, 160, 90);
    set_size(&mut w, 3, 1, 480, 270);
    w.run_publishing(150, &[1]);
    assert_eq!(last_layers(&w, 2, 40), "q".repeat(40));
    assert_eq!(last_layers(&w, 3, 40), "h".repeat(40));
}

#[test]
fn stopped_layer_moves_subscribers_to_the_next_active_layer() {
    let mut w = world(SimulcastSend::three_layers());
    set_size(&mut w, 2, 1, 1280, 720);
    set_size(&mut w, 3, 1, 160, 90);
    w.run_publishing(100, &[1]);
    assert_eq!(last_layers(&w, 2, 20), "f".repeat(20));

    let before = video_from(&w, 2, 1).len();
    w.client_mut(1)
        .simulcast
        .as_mut()
        .expect("simulcast publisher")
        .layer_mut("f")
        .sending = false;
    let stopped = w.now;
    let moved = publish_until(&mut w, 400, |w| {
        let v = video_from(w, 2, 1);
        v[before..].iter().any(|r| r.layer() == Some(b'h'))
    });
    assert!(moved, "subscriber 2 gets h once f stops");
    let took = w.now - stopped;
    assert!(
        took <= Duration::from_millis(2500),
        "moved within a couple of seconds: {took:?}"
    );
    // Keep publishing: subscriber 2 stays on the top active layer, 3 on q.
    w.run_publishing(100, &[1]);
    assert_eq!(last_layers(&w, 2, 20), "h".repeat(20));
    assert_eq!(last_layers(&w, 3, 20), "q".repeat(20));
    let v = video_from(&w, 2, 1);
    let first_h = first_of(&v, before, b'h').expect("moved to h");
    assert!(v[first_h].vp8_key());
}

#[test]
fn set_video_size_rejects_unknown_and_foreign_peers() {
    let mut w = World::new();
    w.add_simulcast_client(1, 10, SimulcastSend::three_layers());
    w.add_client(2, 10);
    w.add_client(3, 20);
    w.connect_all();
    let now = w.now;
    let sfu = &mut w.sfu;
    assert!(matches!(
        sfu.set_video_size(now, PeerId(99), PeerId(1), 160, 90),
        Err(Error::UnknownPeer(PeerId(99)))
    ));
    assert!(matches!(
        sfu.set_video_size(now, PeerId(2), PeerId(99), 160, 90),
        Err(Error::UnknownPeer(PeerId(99)))
    ));
    assert!(
        matches!(
            sfu.set_video_size(now, PeerId(3), PeerId(1), 160, 90),
            Err(Error::UnknownPeer(PeerId(1)))
        ),
        "a publisher in another room is unknown to the subscriber"
    );
    assert!(matches!(
        sfu.set_video_size(now, PeerId(1), PeerId(1), 160, 90),
        Err(Error::UnknownPeer(PeerId(1)))
    ));
    assert!(sfu
        .set_video_size(now, PeerId(2), PeerId(1), 160, 90)
        .is_ok());
    assert!(sfu.set_video_size(now, PeerId(2), PeerId(1), 0, 0).is_ok());
}
