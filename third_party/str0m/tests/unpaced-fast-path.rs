//! Confidant patch 1: packets of an unpaced stream leave without a pacer round per packet,
//! even with the leaky-bucket pacer of bandwidth estimation on.

use std::time::{Duration, Instant};

use netem::Bitrate;
use str0m::media::MediaKind;
use str0m::rtp::{ExtensionValues, RtpWrite, Ssrc};
use str0m::{Event, Input, Output, Rtc, RtcError};

mod common;
use common::{connect_l_r_with_rtc, init_crypto_default, init_log};

/// Packets written to one send stream in a burst.
const BURST: usize = 20;

#[test]
pub fn unpaced_stream_sends_a_burst_without_timeouts() -> Result<(), RtcError> {
    init_log();
    init_crypto_default();

    let now = Instant::now();
    let rtc_l = Rtc::builder()
        .set_rtp_mode(true)
        .enable_bwe(Some(Bitrate::kbps(1_000)))
        .build(now);
    let rtc_r = Rtc::builder().set_rtp_mode(true).build(now);
    let (mut l, mut r) = connect_l_r_with_rtc(rtc_l, rtc_r);

    let mid = "vid".into();
    let ssrc: Ssrc = 42.into();
    l.direct_api().declare_media(mid, MediaKind::Video);
    l.direct_api().declare_stream_tx(ssrc, None, mid, None);
    r.direct_api().declare_media(mid, MediaKind::Video);
    r.direct_api().expect_stream_rx(ssrc, None, mid, None);

    let max = l.last.max(r.last);
    l.last = max;
    r.last = max;
    let pt = l.params_vp8().pt();

    // One timeout so the stream knows its kind, then mark it unpaced.
    let mut now = l.last + Duration::from_millis(10);
    l.handle_input(Input::Timeout(now))?;
    r.handle_input(Input::Timeout(now))?;
    l.direct_api()
        .stream_tx(&ssrc)
        .expect("declared stream")
        .set_unpaced(true);

    let mut received = 0;
    for round in 0..5u32 {
        now += Duration::from_millis(10);
        let wallclock = l.start + (now - l.start);
        {
            let mut api = l.direct_api();
            let tx = api.stream_tx(&ssrc).expect("declared stream");
            for i in 0..BURST as u32 {
                let seq = u64::from(round * BURST as u32 + i + 1);
                tx.write_rtp(
                    RtpWrite::new(pt, seq.into(), seq as u32 * 90, wallclock, vec![7u8; 1000])
                        .ext_vals(ExtensionValues::default())
                        .nackable(true),
                );
            }
        }
        l.advance_time(now);

        // The whole burst comes out of one poll loop: no timeout between the packets (the
        // pacer used to ask for one after every packet).
        let mut sent = Vec::new();
        loop {
            match l.rtc.poll_output()? {
                Output::Transmit(t) => sent.push(t),
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
        assert!(
            sent.len() >= BURST,
            "round {round}: {} datagrams before the first timeout, wanted the burst of {BURST}",
            sent.len()
        );

        // And they are real packets: the receiver gets each of them.
        for t in sent {
            let recv = str0m::net::Receive::new(t.proto, t.source, t.destination, &t.contents)?;
            r.rtc.handle_input(Input::Receive(now, recv))?;
            loop {
                match r.rtc.poll_output()? {
                    Output::Event(Event::RtpPacket(p)) if p.header.ssrc == ssrc => received += 1,
                    Output::Timeout(_) => break,
                    _ => {}
                }
            }
        }
        l.handle_input(Input::Timeout(now))?;
        r.handle_input(Input::Timeout(now))?;
    }
    assert_eq!(received, 5 * BURST, "every packet of every burst arrives");
    Ok(())
}
