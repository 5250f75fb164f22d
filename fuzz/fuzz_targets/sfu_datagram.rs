//! SFU: datagrams on the SFU's UDP socket, which anyone on the network can send, to a room
//! with a freshly added peer (a real offer), plus an SDP offer made of the input.
//!
//! Checks: nothing panics, every transmit goes from the advertised address, and once the peers
//! are removed no state refers to them (`references_to` is zero).
#![no_main]

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use confidant_sfu::{Output, PeerId, RoomId, Sfu, SfuConfig};
use libfuzzer_sys::fuzz_target;
use str0m::media::{Direction, MediaKind};
use str0m::{Candidate, Rtc};

const SFU_ADDR: &str = "127.0.0.1:4000";

/// A valid audio + video offer from a full-ICE str0m client (as the SFU's own tests make).
fn valid_offer() -> String {
    let mut rtc = Rtc::new(Instant::now());
    // A literal address, accepted as a host candidate.
    let c = Candidate::host("127.0.0.9:9999".parse().unwrap(), "udp").unwrap();
    rtc.add_local_candidate(c);
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    api.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
    // A fresh Rtc with two media always produces an offer.
    let (offer, _pending) = api.apply().unwrap();
    offer.to_sdp_string()
}

struct Fixture {
    sfu: Sfu,
    offer: String,
    next: u64,
}

thread_local! {
    // One SFU per process: creating one generates a DTLS certificate, too slow per input.
    // Every input removes the peers it added, which the checks below verify.
    static FIXTURE: RefCell<Fixture> = RefCell::new(Fixture {
        sfu: Sfu::new(SfuConfig { advertised: SFU_ADDR.parse().unwrap(), advertised_tcp: None, loudest_audio: confidant_sfu::DEFAULT_LOUDEST_AUDIO }).unwrap(),
        offer: valid_offer(),
        next: 1,
    });
}

fuzz_target!(|data: &[u8]| {
    FIXTURE.with(|f| {
        let f = &mut *f.borrow_mut();
        let now = Instant::now();
        let room = RoomId(f.next);
        let peer = PeerId(f.next);
        let other = PeerId(f.next + 1);
        f.next += 2;
        let advertised: SocketAddr = SFU_ADDR.parse().unwrap();
        f.sfu
            .add_peer(now, room, peer, &f.offer)
            .expect("a valid offer is accepted");
        // The input as an SDP offer: an error or an answer, never a panic.
        if let Ok(sdp) = std::str::from_utf8(data) {
            let _ = f.sfu.add_peer(now, room, other, sdp);
        }
        // The input as datagrams, split at 0xFF 0x00 0xFF, from two source addresses.
        for (i, chunk) in data.split(|b| *b == 0xFF).enumerate().take(64) {
            let source: SocketAddr = if i % 2 == 0 {
                "127.0.0.9:9999".parse().unwrap()
            } else {
                "10.1.2.3:5000".parse().unwrap()
            };
            let t = now + Duration::from_millis(i as u64);
            f.sfu.handle_receive(t, source, advertised, chunk);
            f.sfu.handle_timeout(t);
            for _ in 0..256 {
                match f.sfu.poll_output(t) {
                    Output::Transmit(tx) => assert_eq!(tx.source, advertised),
                    Output::Event(..) => {}
                    _ => break,
                }
            }
        }
        f.sfu.remove_peer(now, peer);
        f.sfu.remove_peer(now, other);
        while let Output::Transmit(_) | Output::Event(..) = f.sfu.poll_output(now) {}
        assert!(!f.sfu.has_peer(peer) && !f.sfu.has_peer(other));
        assert_eq!(f.sfu.references_to(peer), 0);
        assert_eq!(f.sfu.references_to(other), 0);
    });
});
