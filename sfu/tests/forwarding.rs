//! Forwarding behaviour of the sans-IO core, with in-process str0m clients and a virtual clock.

mod common;

use std::time::Duration;

use common::World;
use confidant_sfu::{
    MediaKind, PeerId, SfuEvent, KEYFRAME_REQUEST_MIN_INTERVAL, PEER_SILENCE_TIMEOUT,
};
use str0m::format::Codec;
use str0m::media::KeyframeRequestKind;
use str0m::Candidate;
use str0m::RtcConfig;

#[test]
fn forwards_media_to_every_other_peer_in_room() {
    let mut w = World::new();
    w.add_client(1, 10); // publisher
    w.add_client(2, 10); // subscriber
    w.add_client(3, 10); // subscriber
    w.add_client(4, 20); // other room, also publishing
    w.connect_all();

    w.run_publishing(300, &[1, 4]);

    for sub in [2, 3] {
        let c = w.client(sub);
        assert!(
            c.received_from(PeerId(1), MediaKind::Audio) > 10,
            "peer {sub} gets the publisher's audio"
        );
        assert!(
            c.received_from(PeerId(1), MediaKind::Video) > 10,
            "peer {sub} gets the publisher's video"
        );
        assert_eq!(c.received_from(PeerId(4), MediaKind::Audio), 0);
        assert_eq!(c.received_from(PeerId(4), MediaKind::Video), 0);
    }
    // Stream ids are publisher ids, nothing else.
    for c in &w.clients {
        assert!(c.received.iter().all(|r| r.stream_id == "1"));
    }
    // The other room hears nothing, the publisher does not get its own media back.
    assert!(
        w.client(4).received.is_empty(),
        "other room receives nothing"
    );
    assert!(w.client(1).received.is_empty(), "no echo to the publisher");

    let published: Vec<_> = w
        .sfu_events_for(1)
        .into_iter()
        .filter_map(|e| match e {
            SfuEvent::TrackPublished { kind, .. } => Some(kind),
            _ => None,
        })
        .collect();
    assert_eq!(published.len(), 2);
    assert!(published.contains(&MediaKind::Audio) && published.contains(&MediaKind::Video));
    assert!(w.sfu_events_for(2).contains(&SfuEvent::Connected));

    let stats = w.sfu.stats();
    assert_eq!(stats.rooms, 2);
    assert_eq!(stats.peers, 4);
    assert_eq!(stats.tracks, 4);
    // Peer 1's two tracks to peers 2 and 3; peer 4 is alone in its room.
    assert_eq!(stats.subscriptions, 4);
    assert!(stats.forwarded_packets > 40);
    assert!(stats.forwarded_bytes > 0);
}

#[test]
fn forwards_h264_video() {
    let h264_only = || {
        RtcConfig::new()
            .clear_codecs()
            .enable_opus(true, false)
            .enable_h264(true)
    };
    let mut w = World::new();
    w.add_client_with(1, 10, h264_only());
    w.add_client_with(2, 10, h264_only());
    w.connect_all();

    w.run_publishing(300, &[1]);

    let c = w.client(2);
    let h264 = c
        .received
        .iter()
        .filter(|r| r.kind == MediaKind::Video && r.codec == Codec::H264 && r.stream_id == "1")
        .count();
    assert!(h264 > 10, "H.264 video is forwarded ({h264} frames)");
}

#[test]
fn late_joiner_gets_existing_tracks() {
    let mut w = World::new();
    w.add_client(1, 10);
    w.connect_all();
    w.run_publishing(50, &[1]);
    assert_eq!(w.sfu.stats().tracks, 2);

    w.add_client(2, 10);
    w.run_publishing(300, &[1]);

    let c = w.client(2);
    assert!(c.received_from(PeerId(1), MediaKind::Audio) > 10);
    assert!(c.received_from(PeerId(1), MediaKind::Video) > 10);
    // The server offer came only after the late joiner connected.
    let events = w.sfu_events_for(2);
    let connected = events.iter().position(|e| *e == SfuEvent::Connected);
    let offer = events
        .iter()
        .position(|e| matches!(e, SfuEvent::Offer { .. }));
    assert!(connected.is_some() && offer.is_some() && connected < offer);
}

#[test]
fn one_server_offer_outstanding_per_subscriber() {
    let mut w = World::new();
    w.add_client(2, 10);
    w.connect_all();
    w.auto_answer = false;

    // Publisher 1 publishes audio first; its video starts later.
    w.add_client(1, 10);
    w.run_until(500, |w| w.client(1).connected);
    for _ in 0..20 {
        let now = w.now;
        let c = w.client_mut(1);
        // Audio only: writer for video unused for now.
        if let Some(writer) = c.rtc.writer(c.audio_mid) {
            let pt = writer
                .payload_params()
                .find(|p| p.spec().codec == Codec::Opus)
                .map(|p| p.pt())
                .expect("opus negotiated");
            writer
                .write(
                    pt,
                    now,
                    str0m::media::MediaTime::from_secs(0),
                    vec![1u8; 10],
                )
                .expect("write");
        }
        w.tick();
    }
    let offers_to_2 = |w: &World| {
        w.sfu_events_for(2)
            .iter()
            .filter(|e| matches!(e, SfuEvent::Offer { .. }))
            .count()
    };
    assert_eq!(offers_to_2(&w), 1, "offer for the audio track");

    // Video starts while that offer is unanswered: no second offer yet.
    w.run_publishing(50, &[1]);
    assert_eq!(offers_to_2(&w), 1, "further changes wait for the answer");

    w.answer_held(2);
    w.tick();
    assert_eq!(offers_to_2(&w), 2, "queued change offered after the answer");
    w.answer_held(2);
    w.auto_answer = true;
    w.run_publishing(100, &[1]);
    assert!(w.client(2).received_from(PeerId(1), MediaKind::Video) > 5);
}

#[test]
fn requests_keyframe_when_subscriber_starts() {
    let mut w = World::new();
    w.add_client(1, 10);
    w.connect_all();
    // Publishing alone: nobody needs a keyframe.
    w.run_publishing(100, &[1]);
    let before = w.client(1).keyframe_requests.len();

    let added = w.now;
    w.add_client(2, 10);
    let ok = w.run_until(500, |w| {
        w.answers_accepted.iter().any(|(_, p)| *p == PeerId(2))
    });
    assert!(ok, "subscriber negotiated the forwarded tracks");
    w.run_publishing(100, &[1]);

    let pub_client = w.client(1);
    assert!(
        pub_client.keyframe_requests.len() > before,
        "publisher got a keyframe request"
    );
    assert!(pub_client.keyframe_requests.iter().any(|t| *t >= added));
    assert!(w.client(2).received_from(PeerId(1), MediaKind::Video) > 0);
}

#[test]
fn forwards_subscriber_keyframe_requests_throttled() {
    let mut w = World::new();
    w.add_client(1, 10);
    w.add_client(2, 10);
    w.connect_all();
    w.run_publishing(150, &[1]);
    assert!(w.client(2).received_from(PeerId(1), MediaKind::Video) > 0);
    // Let any start-up request's throttle window pass.
    w.run_publishing(60, &[1]);
    let before = w.client(1).keyframe_requests.len();

    // The subscriber asks for a keyframe on every tick for 200 ms.
    let video_mid = w
        .client(2)
        .received
        .iter()
        .find(|r| r.kind == MediaKind::Video && r.stream_id == "1")
        .map(|r| r.mid)
        .expect("forwarded video m-line");
    for _ in 0..20 {
        let c = w.client_mut(2);
        if let Some(mut writer) = c.rtc.writer(video_mid) {
            let _ = writer.request_keyframe(None, KeyframeRequestKind::Pli);
        }
        w.run_publishing(1, &[1]);
    }
    let window = w.client(1).keyframe_requests[before..].to_vec();
    assert!(
        !window.is_empty(),
        "subscriber request reaches the publisher"
    );
    // 20 requests in 200 ms become at most one per throttle interval (plus one deferred).
    let max = 1 + (200 / KEYFRAME_REQUEST_MIN_INTERVAL.as_millis() as usize) + 1;
    assert!(window.len() <= max, "{} requests > {max}", window.len());

    // The counters for the metrics saw it: PLIs in (after str0m's next stats report), and the
    // keyframe requests the SFU sent, which the publisher received.
    w.run_publishing(150, &[1]);
    let stats = w.sfu.stats();
    assert!(stats.plis_received >= 10, "PLIs counted: {stats:?}");
    assert_eq!(
        stats.keyframe_requests_sent as usize,
        w.client(1).keyframe_requests.len(),
        "{stats:?}"
    );
    // Counters survive the peers leaving.
    w.remove(2);
    w.remove(1);
    let after = w.sfu.stats();
    assert_eq!(
        (after.plis_received, after.keyframe_requests_sent),
        (stats.plis_received, stats.keyframe_requests_sent)
    );
}

#[test]
fn cleans_up_when_peer_leaves() {
    let mut w = World::new();
    w.add_client(1, 10);
    w.add_client(2, 10);
    w.add_client(3, 10);
    w.connect_all();
    w.run_publishing(200, &[1, 2]);
    assert!(w.client(3).received_from(PeerId(1), MediaKind::Video) > 0);
    assert!(w.client(3).received_from(PeerId(2), MediaKind::Video) > 0);
    assert!(w.sfu.references_to(PeerId(1)) > 0);

    w.remove(1);
    assert!(!w.sfu.has_peer(PeerId(1)));
    // Stop m-lines are renegotiated with the remaining subscribers.
    w.run_publishing(100, &[2]);
    let got_from_1 = w.client(3).received_from(PeerId(1), MediaKind::Video)
        + w.client(3).received_from(PeerId(1), MediaKind::Audio);
    w.run_publishing(100, &[2]);
    let got_from_1_later = w.client(3).received_from(PeerId(1), MediaKind::Video)
        + w.client(3).received_from(PeerId(1), MediaKind::Audio);
    assert_eq!(got_from_1, got_from_1_later, "no media from a removed peer");
    assert!(
        w.client(3).received_from(PeerId(2), MediaKind::Video) > 0,
        "others keep flowing"
    );

    assert_eq!(w.sfu.references_to(PeerId(1)), 0, "no references remain");
    let stats = w.sfu.stats();
    assert_eq!(stats.peers, 2);
    assert_eq!(stats.rooms, 1);
    assert_eq!(stats.tracks, 2, "only peer 2's tracks");
    assert_eq!(stats.subscriptions, 2, "peer 2's tracks to peer 3");

    // Removing again is a no-op; the last ones leaving empties everything.
    assert!(!w.sfu.remove_peer(w.now, PeerId(1)));
    w.remove(2);
    w.remove(3);
    w.run_publishing(10, &[]);
    assert_eq!(w.sfu.stats().peers, 0);
    assert_eq!(w.sfu.stats().rooms, 0);
    assert_eq!(w.sfu.stats().subscriptions, 0);
    for id in 1..=3 {
        assert_eq!(w.sfu.references_to(PeerId(id)), 0);
    }
    // No Disconnected event for removals the caller asked for.
    assert!(!w
        .sfu_events
        .iter()
        .any(|(_, _, e)| *e == SfuEvent::Disconnected));
}

#[test]
fn peer_whose_transport_dies_is_disconnected_and_freed() {
    let mut w = World::new();
    w.add_client(1, 10);
    w.add_client(2, 10);
    w.connect_all();
    w.run_publishing(100, &[1]);

    w.client_mut(1).mute_network = true;
    let ok = w.run_until(10_000, |w| {
        w.sfu_events_for(1).contains(&SfuEvent::Disconnected)
    });
    assert!(ok, "SFU notices the dead transport");
    assert!(!w.sfu.has_peer(PeerId(1)));
    w.run_publishing(100, &[]);
    assert_eq!(w.sfu.references_to(PeerId(1)), 0);
    assert_eq!(w.sfu.stats().peers, 1);
}

/// Seen in tests/e2e/media-lost.test.mjs: with the UDP path dead, the SFU dropped one peer
/// after 15 s and renegotiated the other's session (the first one's tracks stopped). The
/// other's answer listed again the host candidates it never used (Chrome lists every
/// interface), which str0m's ICE-lite agent had pruned as failed: they came back as fresh
/// candidate pairs, "alive" for another 15 s, so that peer stayed connected with nothing
/// arriving until its browser gave up. A peer from which nothing arrived for
/// `PEER_SILENCE_TIMEOUT` is gone, whatever its candidate pairs say.
#[test]
fn silent_peer_is_disconnected_even_while_renegotiated() {
    let mut w = World::new();
    w.add_client(1, 10);
    w.add_client(2, 10);
    for id in [1u64, 2] {
        let unused = format!("192.0.2.{id}:9").parse().expect("address");
        let candidate = Candidate::host(unused, "udp").expect("host candidate");
        w.client_mut(id).rtc.add_local_candidate(candidate);
    }
    w.connect_all();
    // A third joins: both sessions are renegotiated and their answers bring the unused
    // candidates; 20 s later str0m has pruned those pairs as failed.
    w.add_client(3, 10);
    w.run_publishing(2000, &[1, 2, 3]);
    assert!(w.sfu.has_peer(PeerId(1)) && w.sfu.has_peer(PeerId(2)));

    // Peer 1's path dies, peer 2's three seconds later: when the SFU drops peer 1 and
    // renegotiates peer 2's session, peer 2's last check is still recent.
    w.client_mut(1).mute_network = true;
    let muted_1 = w.now;
    w.run_publishing(300, &[3]);
    w.client_mut(2).mute_network = true;
    let muted_2 = w.now;
    let gone_at = |w: &World, id: u64| {
        w.sfu_events
            .iter()
            .find(|(_, p, e)| *p == PeerId(id) && *e == SfuEvent::Disconnected)
            .map(|(at, _, _)| *at)
    };
    let both = w.run_until(6000, |w| gone_at(w, 1).is_some() && gone_at(w, 2).is_some());
    assert!(both, "both silent peers are dropped");
    let limit = PEER_SILENCE_TIMEOUT + Duration::from_secs(1);
    for (id, muted) in [(1, muted_1), (2, muted_2)] {
        let took = gone_at(&w, id).expect("gone") - muted;
        assert!(
            took <= limit,
            "peer {id} dropped {took:?} after its path died"
        );
    }
    assert!(w.sfu.has_peer(PeerId(3)), "the peer that still talks stays");
}

#[test]
fn peer_that_never_connects_is_dropped() {
    let mut w = World::new();
    w.add_client(1, 10);
    w.client_mut(1).mute_network = true;
    let ok = w.run_until(10_000, |w| {
        w.sfu_events_for(1).contains(&SfuEvent::Disconnected)
    });
    assert!(ok);
    assert_eq!(w.sfu.stats().peers, 0);
}

#[test]
fn active_speaker_follows_the_loudest_publisher_from_audio_levels() {
    let count = |w: &World, id: u64| {
        w.sfu_events_for(id)
            .iter()
            .filter(|e| **e == SfuEvent::ActiveSpeaker)
            .count()
    };
    let mut w = World::new();
    w.add_client(1, 10);
    w.add_client(2, 10);
    w.add_client(3, 20); // another room, with its own speaker
    w.connect_all();
    w.client_mut(1).audio_level = Some(-25);
    w.client_mut(2).audio_level = Some(-90);
    w.client_mut(3).audio_level = Some(-30);
    w.run_publishing(150, &[1, 2, 3]);
    assert_eq!(
        count(&w, 1),
        1,
        "the loud publisher becomes the active speaker once"
    );
    assert_eq!(count(&w, 2), 0, "the quiet one does not");
    assert_eq!(count(&w, 3), 1, "each room has its own speaker");

    // Peer 2 starts talking loudly, peer 1 falls quiet: the speaker changes once.
    w.client_mut(1).audio_level = Some(-100);
    w.client_mut(2).audio_level = Some(-20);
    w.run_publishing(150, &[1, 2, 3]);
    assert_eq!(count(&w, 2), 1);
    assert_eq!(count(&w, 1), 1, "no flapping back");

    // Without the extension nobody is elected.
    let mut quiet = World::new();
    quiet.add_client(1, 10);
    quiet.add_client(2, 10);
    quiet.connect_all();
    quiet.run_publishing(150, &[1, 2]);
    assert_eq!(count(&quiet, 1) + count(&quiet, 2), 0);
}

/// The audio (publisher, extended RTP sequence ranges) a client received, in arrival order.
fn audio_seqs(w: &World, client: u64, publisher: u64) -> Vec<(u64, u64)> {
    w.client(client)
        .received
        .iter()
        .filter(|r| r.kind == MediaKind::Audio && r.stream_id == publisher.to_string())
        .map(|r| r.seq)
        .collect()
}

#[test]
fn a_large_room_forwards_only_the_loudest_voices_and_a_new_speaker_takes_a_slot() {
    let mut w = World::with_loudest_audio(2);
    for id in 1..=4 {
        w.add_client(id, 10);
    }
    w.connect_all();
    // 1 and 2 talk, 3 is quiet, 4 only listens (silence).
    for (id, level) in [(1, -25), (2, -30), (3, -100), (4, -127)] {
        w.client_mut(id).audio_level = Some(level);
    }
    w.run_publishing(100, &[1, 2, 3, 4]);
    let heard = |w: &World, from: u64| w.client(4).received_from(PeerId(from), MediaKind::Audio);
    let (from1, from2, from3) = (heard(&w, 1), heard(&w, 2), heard(&w, 3));
    assert!(
        from1 > 50 && from2 > 50,
        "the two voices are heard: {from1}, {from2}"
    );
    assert!(
        from3 <= 2,
        "the quiet one is not forwarded (at most its first packets): {from3}"
    );
    assert!(
        w.client(4).received_from(PeerId(3), MediaKind::Video) > 10,
        "video is not affected: {}",
        w.client(4).received_from(PeerId(3), MediaKind::Video)
    );
    let dropped = w.sfu.stats().audio_not_forwarded;
    assert!(
        dropped > 100,
        "the quiet publishers' packets were counted: {dropped}"
    );

    // 3 starts talking loudly and 1 falls silent: 3 takes 1's slot and is heard at once.
    w.client_mut(1).audio_level = Some(-127);
    w.client_mut(3).audio_level = Some(-15);
    w.run_publishing(100, &[1, 2, 3, 4]);
    assert!(heard(&w, 3) > from3 + 50, "the new speaker is heard");
    let from1_after = heard(&w, 1);
    w.run_publishing(50, &[1, 2, 3, 4]);
    assert_eq!(
        heard(&w, 1),
        from1_after,
        "the silent one is no longer forwarded"
    );
    assert!(
        heard(&w, 2) > from2 + 100,
        "the other speaker kept their slot"
    );

    // 1 talks again, louder than anyone, as 2 falls silent: 1 comes back into the set, and its
    // stream continues across the time it was not forwarded: no sequence gap for the
    // subscriber to conceal or NACK, and the pause shows in the timestamps.
    w.client_mut(1).audio_level = Some(-10);
    w.client_mut(2).audio_level = Some(-127);
    w.run_publishing(100, &[1, 2, 3, 4]);
    assert!(
        heard(&w, 1) > from1_after + 50,
        "the returning speaker is heard"
    );
    let seqs = audio_seqs(&w, 4, 1);
    assert!(seqs.len() > 100);
    for pair in seqs.windows(2) {
        assert_eq!(
            pair[1].0,
            pair[0].1 + 1,
            "contiguous sequence numbers: {pair:?}"
        );
    }
    assert!(w
        .client(4)
        .received
        .iter()
        .all(|r| r.kind != MediaKind::Audio || r.contiguous));
}

#[test]
fn a_room_no_larger_than_the_loudest_set_forwards_every_voice() {
    let mut w = World::with_loudest_audio(3);
    for id in 1..=3 {
        w.add_client(id, 10);
    }
    w.connect_all();
    for (id, level) in [(1, -25), (2, -127), (3, -127)] {
        w.client_mut(id).audio_level = Some(level);
    }
    w.run_publishing(100, &[1, 2, 3]);
    for (sub, from) in [(1, 2), (1, 3), (2, 1), (2, 3), (3, 1), (3, 2)] {
        let n = w.client(sub).received_from(PeerId(from), MediaKind::Audio);
        assert!(n > 50, "{sub} hears {from}: {n}");
    }
    assert_eq!(w.sfu.stats().audio_not_forwarded, 0);
}
