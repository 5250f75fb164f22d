//! A simulated participant for the baseline (`--raw-relay`): the same frames on the same
//! schedule as [`crate::participant`], cut into RTP-shaped datagrams of the size str0m
//! makes and sent through the plain [`crate::relay`] instead of the SFU. No signalling, no
//! ICE, DTLS or SRTP, no feedback: what is left is the cost of moving the packets.
//!
//! A media datagram is a 12-byte RTP header (version 2, payload type 111 for audio and 96
//! for video, the marker on a frame's last datagram, the track's sequence number, the
//! frame's sequence number as timestamp, the publisher's index as SSRC), an 8-byte fragment
//! header (frame length and this fragment's offset, u32 big-endian), and the fragment. The
//! receiver reassembles frames and counts them exactly as a WebRTC participant does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use str0m::media::Mid;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::participant::{is_rtp, Outgoing, Reception, Report, Spec};
use crate::payload::Kind;
use crate::relay::{self, BYE, BYE_ACK, HELLO, WELCOME};
use crate::shared::{Control, Counters, RoomInfo, Shared};
use crate::Error;

/// Datagram size str0m aims at (`str0m::DATAGRAM_MTU_TARGET`), so both paths move about
/// the same number of packets per frame.
pub const DATAGRAM: usize = 1150;
/// RTP header.
const RTP_HEADER: usize = 12;
/// Frame length and offset.
const FRAGMENT_HEADER: usize = 8;
/// Media bytes per datagram.
const CHUNK: usize = DATAGRAM - RTP_HEADER - FRAGMENT_HEADER;
/// Largest frame a receiver reassembles (a keyframe at 4× of 50 Mbit/s at 1 fps is below).
const MAX_FRAME: usize = 32 * 1024 * 1024;
/// Frames being reassembled at once, at most; the oldest is dropped beyond.
const MAX_PARTIAL: usize = 256;
/// How often `HELLO` and `BYE` are repeated until answered.
const RETRY: Duration = Duration::from_millis(100);
/// How long a leaving participant waits for `BYE_ACK`.
const BYE_TIMEOUT: Duration = Duration::from_secs(2);
/// Datagrams read in one go.
const RECV_BATCH: usize = 64;
/// Receive buffer.
const RECV_BUFFER: usize = 2048;
/// Payload types written into the RTP header.
const PT_AUDIO: u8 = 111;
const PT_VIDEO: u8 = 96;

/// A frame being reassembled.
struct Partial {
    data: Vec<u8>,
    /// Which chunks arrived.
    got: Vec<bool>,
    missing: usize,
    started: Instant,
}

/// Runs one baseline participant: hello, media until told to leave, bye.
pub async fn run(
    spec: Spec,
    room: Arc<RoomInfo>,
    relay_addr: SocketAddr,
    shared: Arc<Shared>,
    mut control: watch::Receiver<Control>,
) -> Report {
    let mut report = Report::new(spec.index);
    report.talking = spec.talking;
    let result = drive(&spec, &room, relay_addr, &shared, &mut control, &mut report).await;
    if let Err(e) = result {
        Counters::inc(&shared.counters.failed);
        shared.error(&e.class());
        tracing::debug!(participant = spec.index, "failed: {e}");
        report.failure = Some(e.to_string());
    }
    Counters::inc(&shared.counters.finished);
    report
}

async fn drive(
    spec: &Spec,
    room: &RoomInfo,
    relay_addr: SocketAddr,
    shared: &Shared,
    control: &mut watch::Receiver<Control>,
    report: &mut Report,
) -> Result<(), Error> {
    if !relay_addr.ip().is_loopback() {
        return Err(Error::Config("the relay must be on loopback".into()));
    }
    let room_no = u32::try_from(room.index).unwrap_or(u32::MAX);
    let socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::Media(format!("binding UDP: {e}")))?;
    crate::shared::enlarge_buffers(&socket);
    let mut rx = Reception::new(Instant::now(), spec.expect_tracks, 0);
    let setup_deadline = rx.knocked + spec.setup_timeout;
    let mut outgoing = Vec::new();
    if spec.audio {
        outgoing.push(Outgoing::new(Kind::Audio, Mid::from("a"), spec.fps));
    }
    if spec.video {
        outgoing.push(Outgoing::new(Kind::Video, Mid::from("v"), spec.fps));
    }
    let mut rng = u64::from(spec.index).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut rtp_seq = [0u16; 2];
    let mut partial: HashMap<(u32, u8, u32), Partial> = HashMap::new();
    let mut connected = false;
    let mut publishing = true;
    let mut next_hello = Instant::now();
    let mut buf = vec![0u8; RECV_BUFFER];
    let sleep = tokio::time::sleep_until(Instant::now());
    tokio::pin!(sleep);
    loop {
        match *control.borrow() {
            Control::Leave => break,
            Control::StopMedia => publishing = false,
            Control::Run => {}
        }
        let ready = rx.ready && connected;
        if spec.leave_when_ready && ready {
            break;
        }
        let now = Instant::now();
        if !ready && now >= setup_deadline {
            return Err(Error::Timeout(if connected {
                "receiving every track"
            } else {
                "hearing from the relay"
            }));
        }
        if !connected && now >= next_hello {
            send(&socket, &relay::control(HELLO, room_no), relay_addr).await?;
            next_hello = now + RETRY;
        }
        let mut deadline = if ready {
            now + RETRY * 10
        } else {
            setup_deadline
        };
        if !connected {
            deadline = deadline.min(next_hello);
        }
        if publishing && connected {
            for o in &outgoing {
                deadline = deadline.min(o.next);
            }
        }
        sleep.as_mut().reset(deadline);
        tokio::select! {
            changed = control.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            received = socket.recv_from(&mut buf) => {
                let (n, source) = received.map_err(|e| Error::Media(format!("UDP receive: {e}")))?;
                let mut datagrams = 0;
                let mut next = Some((n, source));
                while let Some((n, source)) = next.take() {
                    if source == relay_addr {
                        let d = &buf[..n];
                        if is_rtp(d) {
                            on_media(spec, shared, report, &mut rx, &mut partial, connected, d);
                        } else if let Some((WELCOME, _)) = relay::parse_control(d) {
                            if !connected {
                                connected = true;
                                report.join = Some(rx.knocked.elapsed());
                                Counters::inc(&shared.counters.connected);
                                if rx.ready {
                                    Counters::inc(&shared.counters.ready);
                                }
                                let now = Instant::now();
                                for o in &mut outgoing {
                                    o.next = now;
                                }
                            }
                        }
                    }
                    datagrams += 1;
                    if datagrams < RECV_BATCH {
                        next = socket.try_recv_from(&mut buf).ok();
                    }
                }
            }
            () = &mut sleep => {
                let now = Instant::now();
                if publishing && connected {
                    let in_window = shared.is_measuring();
                    for (i, o) in outgoing.iter_mut().enumerate() {
                        if o.next > now {
                            continue;
                        }
                        let (frame, _) = o.frame(spec, shared, &mut rng, in_window, Instant::now());
                        let frame_seq = u32::try_from(o.seq & 0xffff_ffff).unwrap_or(0);
                        let pt = if o.kind == Kind::Audio { PT_AUDIO } else { PT_VIDEO };
                        for d in packetize(&frame, pt, &mut rtp_seq[i], frame_seq, spec.index) {
                            if in_window {
                                report.win_tx_packets += 1;
                                report.win_tx_bytes += d.len() as u64;
                            }
                            send(&socket, &d, relay_addr).await?;
                        }
                        o.sent(now, shared, report, in_window);
                    }
                }
            }
        }
    }
    // Leave: repeat BYE until the relay acknowledges it (bounded).
    let bye_deadline = Instant::now() + BYE_TIMEOUT;
    let mut next_bye = Instant::now();
    while Instant::now() < bye_deadline {
        if Instant::now() >= next_bye {
            send(&socket, &relay::control(BYE, room_no), relay_addr).await?;
            next_bye = Instant::now() + RETRY;
        }
        let wait = next_bye.min(bye_deadline);
        match tokio::time::timeout_at(wait, socket.recv_from(&mut buf)).await {
            Ok(Ok((n, source))) if source == relay_addr => {
                if let Some((BYE_ACK, _)) = relay::parse_control(&buf[..n]) {
                    report.clean_leave = true;
                    break;
                }
            }
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(e)) => return Err(Error::Media(format!("UDP receive: {e}"))),
        }
    }
    Ok(())
}

async fn send(socket: &UdpSocket, d: &[u8], to: SocketAddr) -> Result<(), Error> {
    socket
        .send_to(d, to)
        .await
        .map(|_| ())
        .map_err(|e| Error::Media(format!("UDP send: {e}")))
}

/// Cuts a frame into RTP-shaped datagrams of at most [`DATAGRAM`] bytes.
pub fn packetize(frame: &[u8], pt: u8, seq: &mut u16, timestamp: u32, ssrc: u32) -> Vec<Vec<u8>> {
    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    let chunks: Vec<&[u8]> = if frame.is_empty() {
        vec![&[][..]]
    } else {
        frame.chunks(CHUNK).collect()
    };
    let last = chunks.len() - 1;
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let mut d = Vec::with_capacity(RTP_HEADER + FRAGMENT_HEADER + c.len());
            d.push(0x80);
            d.push(if i == last { 0x80 | pt } else { pt });
            d.extend_from_slice(&seq.to_be_bytes());
            *seq = seq.wrapping_add(1);
            d.extend_from_slice(&timestamp.to_be_bytes());
            d.extend_from_slice(&ssrc.to_be_bytes());
            d.extend_from_slice(&len.to_be_bytes());
            let offset = u32::try_from(i * CHUNK).unwrap_or(u32::MAX);
            d.extend_from_slice(&offset.to_be_bytes());
            d.extend_from_slice(c);
            d
        })
        .collect()
}

/// One fragment read back: `(ssrc, payload type, timestamp, frame length, offset, bytes)`.
type Fragment<'a> = (u32, u8, u32, usize, usize, &'a [u8]);

/// Reads a datagram made by [`packetize`].
pub fn parse_fragment(d: &[u8]) -> Option<Fragment<'_>> {
    if d.len() < RTP_HEADER + FRAGMENT_HEADER {
        return None;
    }
    let be32 = |i: usize| u32::from_be_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
    let pt = d[1] & 0x7f;
    let timestamp = be32(4);
    let ssrc = be32(8);
    let len = be32(12) as usize;
    let offset = be32(16) as usize;
    let bytes = &d[RTP_HEADER + FRAGMENT_HEADER..];
    let fits = len <= MAX_FRAME
        && offset.is_multiple_of(CHUNK)
        && offset
            .checked_add(bytes.len())
            .is_some_and(|end| end <= len)
        && (bytes.len() == CHUNK || offset + bytes.len() == len);
    fits.then_some((ssrc, pt, timestamp, len, offset, bytes))
}

/// One media datagram arrived: count it, put it into its frame, hand complete frames on.
fn on_media(
    spec: &Spec,
    shared: &Shared,
    report: &mut Report,
    rx: &mut Reception,
    partial: &mut HashMap<(u32, u8, u32), Partial>,
    connected: bool,
    d: &[u8],
) {
    Counters::inc(&shared.counters.rtp_rx_packets);
    shared
        .counters
        .rtp_rx_bytes
        .fetch_add(d.len() as u64, std::sync::atomic::Ordering::Relaxed);
    if shared.is_measuring() {
        report.win_rx_packets += 1;
        report.win_rx_bytes += d.len() as u64;
    }
    let Some((ssrc, pt, ts, len, offset, bytes)) = parse_fragment(d) else {
        shared.error("bad_fragment");
        return;
    };
    let now = Instant::now();
    if len <= CHUNK {
        // One datagram, one frame: no reassembly.
        rx.on_frame(spec, shared, report, connected, bytes, now);
        return;
    }
    let key = (ssrc, pt, ts);
    if !partial.contains_key(&key) && partial.len() >= MAX_PARTIAL {
        // Bounded: the oldest unfinished frame is given up (it counts as lost).
        if let Some(oldest) = partial
            .iter()
            .min_by_key(|(_, p)| p.started)
            .map(|(k, _)| *k)
        {
            partial.remove(&oldest);
        }
    }
    let p = partial.entry(key).or_insert_with(|| {
        let n = len.div_ceil(CHUNK);
        Partial {
            data: vec![0; len],
            got: vec![false; n],
            missing: n,
            started: now,
        }
    });
    if p.data.len() != len {
        shared.error("bad_fragment");
        return;
    }
    let i = offset / CHUNK;
    if p.got[i] {
        return;
    }
    p.got[i] = true;
    p.missing -= 1;
    p.data[offset..offset + bytes.len()].copy_from_slice(bytes);
    if p.missing == 0 {
        if let Some(done) = partial.remove(&key) {
            rx.on_frame(spec, shared, report, connected, &done.data, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cut_into_datagrams_read_back_whole() {
        let frame: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let mut seq = 65_534u16;
        let ds = packetize(&frame, PT_VIDEO, &mut seq, 42, 7);
        assert_eq!(ds.len(), 5000usize.div_ceil(CHUNK));
        assert_eq!(seq, 65_534u16.wrapping_add(ds.len() as u16));
        assert!(ds.iter().all(|d| d.len() <= DATAGRAM && is_rtp(d)));
        assert_eq!(
            ds.last().unwrap()[1],
            0x80 | PT_VIDEO,
            "marker on the last one"
        );
        let mut back = vec![0u8; frame.len()];
        for d in &ds {
            let (ssrc, pt, ts, len, offset, bytes) = parse_fragment(d).unwrap();
            assert_eq!((ssrc, pt, ts, len), (7, PT_VIDEO, 42, 5000));
            back[offset..offset + bytes.len()].copy_from_slice(bytes);
        }
        assert_eq!(back, frame);
    }

    #[test]
    fn fragments_that_do_not_fit_are_refused() {
        let mut seq = 0;
        let mut d = packetize(&[1u8; 100], PT_AUDIO, &mut seq, 0, 1).remove(0);
        assert!(parse_fragment(&d).is_some());
        d[19] = 1; // offset 1: not on a chunk boundary
        assert!(parse_fragment(&d).is_none());
        assert!(parse_fragment(&d[..10]).is_none());
    }
}
