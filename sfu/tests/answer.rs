//! What the SFU's SDP says, as signaling/PROTOCOL.md documents it for client implementers:
//! ICE-lite with `a=setup:passive` (the client is ICE-controlling and the DTLS client), a UDP
//! and (configured) a passive ICE-TCP host candidate on the same port, a `sendrecv` first offer
//! answered `recvonly`, the codecs and header extensions kept, and later server offers that
//! stop a departed publisher's m-lines with port 0.

mod common;

use std::time::Instant;

use common::{Client, World};
use confidant_sfu::{PeerId, RoomId, Sfu, SfuConfig, SfuEvent};
use str0m::RtcConfig;

fn answer_to_a_sendrecv_offer(tcp: bool) -> String {
    let sfu_addr = "127.0.0.1:5000".parse().unwrap();
    let mut sfu = Sfu::new(SfuConfig {
        advertised: sfu_addr,
        advertised_tcp: tcp.then_some(sfu_addr),
        loudest_audio: confidant_sfu::DEFAULT_LOUDEST_AUDIO,
    })
    .unwrap();
    let now = Instant::now();
    let (_client, offer, _pending) = Client::with_offer(
        1,
        10,
        "127.0.0.2:10001".parse().unwrap(),
        RtcConfig::new(),
        now,
    );
    assert!(offer.contains("a=sendrecv"), "the client offers sendrecv");
    sfu.add_peer(now, RoomId(10), PeerId(1), &offer).unwrap()
}

/// The m-sections of an SDP: (media line, its attribute lines).
fn sections(sdp: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in sdp.lines() {
        if line.starts_with("m=") {
            out.push((line.to_owned(), Vec::new()));
        } else if let Some((_, attrs)) = out.last_mut() {
            attrs.push(line.to_owned());
        }
    }
    out
}

#[test]
fn the_answer_is_ice_lite_passive_with_udp_and_tcp_on_one_port() {
    let answer = answer_to_a_sendrecv_offer(true);
    assert!(answer.lines().any(|l| l == "a=ice-lite"), "{answer}");
    let media = sections(&answer);
    assert_eq!(media.len(), 2, "{answer}");
    for (_, attrs) in &media {
        assert!(attrs.iter().any(|a| a == "a=setup:passive"), "{answer}");
    }
    let candidates: Vec<&str> = answer
        .lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    assert!(candidates
        .iter()
        .any(|c| c.contains(" udp ") && c.contains(" 127.0.0.1 5000 typ host")));
    assert!(candidates.iter().any(|c| c.contains(" tcp ")
        && c.contains(" 127.0.0.1 5000 typ host")
        && c.contains("tcptype passive")));
    // Without ICE-TCP, only the UDP candidate.
    let udp_only = answer_to_a_sendrecv_offer(false);
    assert!(!udp_only.contains(" tcp "), "{udp_only}");
}

#[test]
fn a_sendrecv_first_offer_is_accepted_and_answered_sendrecv() {
    // The SFU never sends on the client's own m-lines (it sends other participants' tracks on
    // sendonly m-lines of its own later offers), but str0m mirrors the offer's direction.
    for (_, attrs) in sections(&answer_to_a_sendrecv_offer(false)) {
        assert!(attrs.iter().any(|a| a == "a=sendrecv"), "{attrs:?}");
    }
}

#[test]
fn the_answer_keeps_opus_vp8_h264_and_the_documented_header_extensions() {
    let answer = answer_to_a_sendrecv_offer(false);
    let codecs: std::collections::BTreeSet<String> = answer
        .lines()
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(_, c)| c.split('/').next().unwrap().to_owned())
        })
        .collect();
    let want: std::collections::BTreeSet<String> = ["opus", "VP8", "H264", "rtx"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(codecs, want, "{answer}");
    let media = sections(&answer);
    let extensions = |kind: &str| -> Vec<String> {
        let (_, attrs) = media.iter().find(|(m, _)| m.starts_with(kind)).unwrap();
        attrs
            .iter()
            .filter_map(|a| a.strip_prefix("a=extmap:"))
            .filter_map(|a| a.split_once(' ').map(|(_, uri)| uri.to_owned()))
            .collect()
    };
    let tcc = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
    let mid = "urn:ietf:params:rtp-hdrext:sdes:mid";
    let (audio, video) = (extensions("m=audio"), extensions("m=video"));
    for uri in ["urn:ietf:params:rtp-hdrext:ssrc-audio-level", tcc, mid] {
        assert!(audio.iter().any(|u| u == uri), "audio {uri}: {audio:?}");
    }
    for uri in [
        tcc,
        mid,
        "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
        "urn:3gpp:video-orientation",
    ] {
        assert!(video.iter().any(|u| u == uri), "video {uri}: {video:?}");
    }
}

#[test]
fn a_departed_publishers_m_lines_are_stopped_with_port_0_in_the_next_offer() {
    let mut w = World::new();
    w.add_client(1, 10);
    w.add_client(2, 10);
    w.connect_all();
    w.run_publishing(200, &[1, 2]);
    let offers_before = w
        .sfu_events_for(2)
        .iter()
        .filter(|e| matches!(e, SfuEvent::Offer { .. }))
        .count();
    w.remove(1);
    w.run_publishing(100, &[2]);
    let offers: Vec<String> = w
        .sfu_events_for(2)
        .into_iter()
        .filter_map(|e| match e {
            SfuEvent::Offer { sdp } => Some(sdp),
            _ => None,
        })
        .collect();
    assert!(
        offers.len() > offers_before,
        "a new offer after the publisher left"
    );
    let last = offers.last().unwrap();
    let stopped: Vec<String> = sections(last)
        .into_iter()
        .map(|(m, _)| m)
        .filter(|m| m.split(' ').nth(1) == Some("0"))
        .collect();
    assert_eq!(
        stopped.len(),
        2,
        "audio and video of the publisher stopped: {last}"
    );
}
