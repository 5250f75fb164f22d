//! Input from peers (SDP, datagrams) never panics the SFU: it is an error or it is dropped.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use common::World;
use confidant_sfu::{Error, MediaKind, PeerId, RoomId, Sfu, SfuConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use str0m::media::Direction;
use str0m::{Candidate, Rtc};

fn sfu() -> Sfu {
    Sfu::new(SfuConfig {
        advertised: common::SFU_ADDR.parse().expect("literal"),
        advertised_tcp: None,
        loudest_audio: confidant_sfu::DEFAULT_LOUDEST_AUDIO,
    })
    .expect("valid config")
}

/// A valid offer from a full-ICE str0m client with audio + video.
fn valid_offer() -> String {
    let mut rtc = Rtc::new(Instant::now());
    rtc.add_local_candidate(
        Candidate::host("127.0.0.9:9999".parse().expect("literal"), "udp").expect("candidate"),
    );
    let mut api = rtc.sdp_api();
    api.add_media(
        str0m::media::MediaKind::Audio,
        Direction::SendRecv,
        None,
        None,
        None,
    );
    api.add_media(
        str0m::media::MediaKind::Video,
        Direction::SendRecv,
        None,
        None,
        None,
    );
    let (offer, _pending) = api.apply().expect("offer");
    offer.to_sdp_string()
}

fn deterministic_runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    )
}

#[test]
fn bad_offer_is_an_error_not_a_panic() {
    let mut sfu = sfu();
    let now = Instant::now();
    let valid = valid_offer();
    let no_fingerprint: String = valid
        .lines()
        .filter(|l| !l.starts_with("a=fingerprint"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let no_media: String = valid
        .lines()
        .take_while(|l| !l.starts_with("m="))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let ice_lite = valid.replacen("t=0 0\r\n", "t=0 0\r\na=ice-lite\r\n", 1);
    let bad = [
        String::new(),
        "garbage".to_string(),
        "v=0\r\n".to_string(),
        valid[..valid.len() / 2].to_string(),
        no_fingerprint,
        no_media,
        ice_lite,
        valid.replace("m=audio", "m=audio 9 UDP/TLS/RTP/SAVPF 255"),
        "\u{0}\u{1}\u{2}".to_string(),
    ];
    for (i, offer) in bad.iter().enumerate() {
        let r = sfu.add_peer(now, RoomId(1), PeerId(i as u64), offer);
        assert!(matches!(r, Err(Error::BadOffer(_))), "offer {i}: {r:?}");
    }
    assert_eq!(sfu.stats().peers, 0, "no peer from a bad offer");
    assert_eq!(sfu.stats().rooms, 0);

    // A valid offer still works, a second one with the same id does not.
    sfu.add_peer(now, RoomId(1), PeerId(100), &valid)
        .expect("valid offer accepted");
    assert!(matches!(
        sfu.add_peer(now, RoomId(1), PeerId(100), &valid),
        Err(Error::DuplicatePeer(PeerId(100)))
    ));
}

#[test]
fn mutated_offers_never_panic() {
    let valid = valid_offer();
    let lines: Vec<String> = valid.lines().map(str::to_string).collect();
    let sfu = std::cell::RefCell::new(sfu());
    let now = Instant::now();
    let next_id = std::cell::Cell::new(0u64);
    let strategy = (
        proptest::collection::vec((0..lines.len(), 0u8..4, ".{0,20}"), 1..4),
        any::<bool>(),
    );
    deterministic_runner(200)
        .run(&strategy, |(edits, truncate)| {
            let mut l = lines.clone();
            for (idx, op, text) in edits {
                let idx = idx.min(l.len().saturating_sub(1));
                if l.is_empty() {
                    break;
                }
                match op {
                    0 => {
                        l.remove(idx);
                    }
                    1 => l[idx] = text,
                    2 => l.insert(idx, text),
                    _ => {
                        let cut = l[idx].len() / 2;
                        let s = l[idx].chars().take(cut).collect();
                        l[idx] = s;
                    }
                }
            }
            let mut sdp: String = l.iter().map(|x| format!("{x}\r\n")).collect();
            if truncate {
                let cut = sdp.len() * 2 / 3;
                sdp = sdp.chars().take(cut).collect();
            }
            next_id.set(next_id.get() + 1);
            let mut sfu = sfu.borrow_mut();
            let _ = sfu.add_peer(now, RoomId(1), PeerId(next_id.get()), &sdp);
            // Outputs of whatever was accepted can be polled without panicking.
            for _ in 0..1000 {
                if let confidant_sfu::Output::Timeout(_) = sfu.poll_output(now) {
                    break;
                }
            }
            Ok(())
        })
        .expect("no panics");
}

#[test]
fn answer_without_offer_is_an_error() {
    let mut w = World::new();
    w.add_client(1, 10);
    w.connect_all();
    let now = w.now;
    // No server offer outstanding: any answer is refused, valid-looking or not.
    assert!(matches!(
        w.sfu.accept_answer(now, PeerId(1), "v=0\r\n"),
        Err(Error::NoPendingOffer(PeerId(1)))
    ));
    assert!(matches!(
        w.sfu.accept_answer(now, PeerId(1), &valid_offer()),
        Err(Error::NoPendingOffer(PeerId(1)))
    ));
    assert!(matches!(
        w.sfu.accept_answer(now, PeerId(99), "v=0\r\n"),
        Err(Error::UnknownPeer(PeerId(99)))
    ));
    assert!(matches!(
        w.sfu.accept_offer(now, PeerId(99), &valid_offer()),
        Err(Error::UnknownPeer(PeerId(99)))
    ));
    // The peer is unharmed.
    assert!(w.sfu.has_peer(PeerId(1)));
}

#[test]
fn bad_answer_is_an_error_and_the_offer_is_repeated() {
    let mut w = World::new();
    w.add_client(2, 10);
    w.add_client(1, 10);
    w.connect_all();
    w.auto_answer = false;
    w.run_publishing(30, &[1]);
    let offers = |w: &World| {
        w.sfu_events_for(2)
            .iter()
            .filter(|e| matches!(e, confidant_sfu::SfuEvent::Offer { .. }))
            .count()
    };
    assert_eq!(offers(&w), 1);
    let now = w.now;
    assert!(matches!(
        w.sfu.accept_answer(now, PeerId(2), "not sdp"),
        Err(Error::BadAnswer(_))
    ));
    w.held_offers.clear();
    w.tick();
    assert_eq!(offers(&w), 2, "changes offered again");
    w.answer_held(2);
    w.auto_answer = true;
    w.run_publishing(100, &[1]);
    assert!(w.client(2).received_from(PeerId(1), MediaKind::Video) > 0);
}

#[test]
fn bad_advertised_address_is_an_error() {
    for addr in ["0.0.0.0:5000", "127.0.0.1:0"] {
        let r = Sfu::new(SfuConfig {
            advertised: addr.parse().expect("literal"),
            advertised_tcp: None,
            loudest_audio: confidant_sfu::DEFAULT_LOUDEST_AUDIO,
        });
        assert!(matches!(r, Err(Error::BadAdvertisedAddress(_))), "{addr}");
    }
}

/// Datagram shapes worth trying: random bytes, and bytes that pass str0m's demultiplexing as
/// STUN, DTLS or RTP/RTCP so they reach deeper parsers.
fn datagram() -> impl Strategy<Value = Vec<u8>> {
    let random = proptest::collection::vec(any::<u8>(), 0..1500);
    let stun = proptest::collection::vec(any::<u8>(), 20..200).prop_map(|mut v| {
        v[0] = 0x00;
        v[1] = 0x01;
        v[4..8].copy_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        v
    });
    let dtls = proptest::collection::vec(any::<u8>(), 13..300).prop_map(|mut v| {
        v[0] = 20 + v[0] % 44;
        v
    });
    let rtp = proptest::collection::vec(any::<u8>(), 12..1200).prop_map(|mut v| {
        v[0] = 0x80 | (v[0] & 0x3f);
        v
    });
    prop_oneof![random, stun, dtls, rtp]
}

#[test]
fn garbage_udp_is_dropped() {
    let mut w = World::new();
    w.add_client(1, 10);
    w.add_client(2, 10);
    w.connect_all();
    w.run_publishing(50, &[1]);
    let dropped_before = w.sfu.stats().dropped_datagrams;
    let sfu_addr = w.sfu_addr;

    // Random sources nobody knows.
    let now = w.now;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in 0..500u32 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 1400) as usize;
        let bytes: Vec<u8> = (0..len).map(|j| (seed >> (j % 56)) as u8).collect();
        let source = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::from((seed >> 16) as u32)),
            (seed % 65535) as u16 + 1,
        );
        w.sfu.handle_receive(now, source, sfu_addr, &bytes);
        if i % 50 == 0 {
            w.tick();
        }
    }
    assert!(w.sfu.stats().dropped_datagrams >= dropped_before + 500);

    // Media keeps flowing.
    let before = w.client(2).received_from(PeerId(1), MediaKind::Video);
    w.run_publishing(100, &[1]);
    assert!(w.client(2).received_from(PeerId(1), MediaKind::Video) > before);
    assert_eq!(w.sfu.stats().peers, 2);
}

#[test]
fn garbage_udp_is_dropped_proptest() {
    let mut w = World::new();
    w.add_client(1, 10);
    w.add_client(2, 10);
    w.connect_all();
    w.run_publishing(50, &[1]);
    let sfu_addr = w.sfu_addr;
    let known: Vec<SocketAddr> = w.clients.iter().map(|c| c.addr).collect();

    // Sources: random ones, and the clients' own addresses (spoofed or broken clients).
    let source = prop_oneof![
        (any::<u32>(), 1u16..).prop_map(|(ip, port)| SocketAddr::from((Ipv4Addr::from(ip), port))),
        (0..known.len()).prop_map(move |i| known[i]),
    ];
    let world = std::cell::RefCell::new(w);
    deterministic_runner(512)
        .run(
            &proptest::collection::vec((source, datagram()), 1..8),
            |datagrams| {
                let mut w = world.borrow_mut();
                let now = w.now;
                for (src, bytes) in datagrams {
                    w.sfu.handle_receive(now, src, sfu_addr, &bytes);
                }
                w.run_publishing(1, &[1]);
                Ok(())
            },
        )
        .expect("no panics");

    let mut w = world.into_inner();
    // The sessions survive garbage sent from their own addresses, so media still flows.
    let before = w.client(2).received_from(PeerId(1), MediaKind::Video);
    w.run_publishing(100, &[1]);
    assert!(w.client(2).received_from(PeerId(1), MediaKind::Video) > before);
}

#[test]
fn client_offer_wins_glare_and_server_reoffers() {
    let mut w = World::new();
    w.add_client(2, 10);
    w.add_client(1, 10);
    w.connect_all();
    w.auto_answer = false;
    w.run_publishing(30, &[1]);
    let offers = |w: &World| {
        w.sfu_events_for(2)
            .iter()
            .filter(|e| matches!(e, confidant_sfu::SfuEvent::Offer { .. }))
            .count()
    };
    assert_eq!(offers(&w), 1);

    // The client renegotiates on its own (a new track) instead of answering.
    let now = w.now;
    let c = w.client_mut(2);
    let mut api = c.rtc.sdp_api();
    api.add_media(
        str0m::media::MediaKind::Audio,
        Direction::SendOnly,
        None,
        None,
        None,
    );
    let (offer, pending) = api.apply().expect("client offer");
    let answer = w
        .sfu
        .accept_offer(now, PeerId(2), &offer.to_sdp_string())
        .expect("SFU answers the client's offer");
    w.client_mut(2).accept_answer(pending, &answer);
    // The stale server offer can no longer be answered...
    assert!(matches!(
        w.sfu.accept_answer(now, PeerId(2), "v=0\r\n"),
        Err(Error::NoPendingOffer(_))
    ));
    w.held_offers.clear();
    // ...its changes are offered again.
    w.tick();
    assert_eq!(offers(&w), 2);
    w.answer_held(2);
    w.auto_answer = true;
    w.run_publishing(100, &[1]);
    assert!(w.client(2).received_from(PeerId(1), MediaKind::Video) > 0);
    assert!(w.client(2).received_from(PeerId(1), MediaKind::Audio) > 0);
}
