//! Synthetic media frames: VP8- and Opus-shaped payloads that carry a measurement header.
//!
//! The SFU treats payloads as opaque (they are end-to-end encrypted in real calls), but its
//! str0m depacketizes and repacketizes VP8, so video frames start like real VP8 frames:
//!
//! * keyframe: a 3-byte frame tag with the key-frame bit clear (`P = 0`), `show_frame` set and
//!   a first-partition size, the start code `9d 01 2a`, then width and height (640×360), i.e.
//!   the first 10 bytes of a VP8 keyframe;
//! * delta frame: a 3-byte frame tag with `P = 1`.
//!
//! Audio frames start with an Opus TOC byte (SILK wideband, 20 ms, mono, one frame).
//!
//! Right after that codec prefix comes the [`Stamp`] (26 bytes), then filler up to the frame
//! size. The stamp says who sent the frame, on which track, its sequence number on that track,
//! when it was sent (nanoseconds on the load generator's monotonic clock) and whether it was
//! sent inside the measurement window.
//!
//! With `--simulcast` the stamp also says which simulcast layer (`q`, `h`, `f`) the frame was
//! sent on: the layer marker lives in the upper four bits of the stamp's kind byte (0: no
//! simulcast, 1: `q`, 2: `h`, 3: `f`), so the codec prefix stays exactly VP8's and the stamp
//! keeps its length and layout; frames without simulcast are byte for byte what they were.
//! Keyframes also carry the layer's size in their VP8 header (`q` 320×180, `h` 640×360, `f`
//! 1280×720; 640×360 without simulcast). Each layer numbers its frames on its own, from 0.

/// Magic that starts every stamp.
pub const MAGIC: [u8; 4] = *b"CLG1";
/// Length of an encoded [`Stamp`].
pub const STAMP_LEN: usize = 26;
/// Codec prefix of a VP8 keyframe (frame tag, start code, dimensions).
pub const VP8_KEY_PREFIX: usize = 10;
/// Codec prefix of a VP8 delta frame (frame tag).
pub const VP8_DELTA_PREFIX: usize = 3;
/// Codec prefix of an Opus frame (TOC byte).
pub const OPUS_PREFIX: usize = 1;
/// Opus TOC: config 9 (SILK wideband, 20 ms), mono, code 0 (one frame).
pub const OPUS_TOC: u8 = 9 << 3;
/// Width and height written into keyframes without simulcast.
const WIDTH: u16 = 640;
const HEIGHT: u16 = 360;

/// A simulcast layer, lowest first, named by its RID as browsers (and Confidant's client) do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    /// Quarter resolution (320×180), RID `q`.
    Q = 1,
    /// Half resolution (640×360), RID `h`.
    H = 2,
    /// Full resolution (1280×720), RID `f`.
    F = 3,
}

impl Layer {
    /// All layers, lowest first.
    pub const ALL: [Layer; 3] = [Layer::Q, Layer::H, Layer::F];

    /// The RID (`q`, `h`, `f`).
    pub fn rid(self) -> &'static str {
        match self {
            Layer::Q => "q",
            Layer::H => "h",
            Layer::F => "f",
        }
    }

    /// The layer of a RID.
    pub fn from_rid(rid: &str) -> Option<Layer> {
        Layer::ALL.into_iter().find(|l| l.rid() == rid)
    }

    /// Index, lowest first (0, 1, 2): the layer's simulcast stream index.
    pub fn index(self) -> usize {
        self as usize - 1
    }

    /// Width and height of the layer's keyframes (a 1280×720 camera).
    pub fn size(self) -> (u16, u16) {
        match self {
            Layer::Q => (320, 180),
            Layer::H => (640, 360),
            Layer::F => (1280, 720),
        }
    }

    /// Share of `--video-kbps` the layer sends, in tenths: 1, 3 and 6 (together the whole).
    pub fn bitrate_tenths(self) -> u32 {
        match self {
            Layer::Q => 1,
            Layer::H => 3,
            Layer::F => 6,
        }
    }

    /// The layer's bitrate, kbit/s, out of the publisher's total `video_kbps`.
    pub fn kbps(self, video_kbps: u32) -> u32 {
        video_kbps.saturating_mul(self.bitrate_tenths()) / 10
    }

    /// The layer's frame rate out of the full `fps`: `q` sends every second frame (half the
    /// rate, at least 1), `h` and `f` every frame.
    pub fn fps(self, fps: u32) -> u32 {
        match self {
            Layer::Q => (fps / 2).max(1),
            Layer::H | Layer::F => fps.max(1),
        }
    }

    fn marker(layer: Option<Layer>) -> u8 {
        layer.map_or(0, |l| l as u8)
    }

    fn from_marker(m: u8) -> Option<Option<Layer>> {
        match m {
            0 => Some(None),
            1 => Some(Some(Layer::Q)),
            2 => Some(Some(Layer::H)),
            3 => Some(Some(Layer::F)),
            _ => None,
        }
    }
}

/// Track kinds as carried in the stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Opus-shaped audio.
    Audio = 0,
    /// VP8-shaped video.
    Video = 1,
}

/// The measurement header embedded in every synthetic frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Index of the publishing participant (unique within the run).
    pub publisher: u32,
    /// Audio or video.
    pub kind: Kind,
    /// Sent inside the measurement window (decided by the publisher, so publisher and
    /// subscribers agree on which frames count).
    pub in_window: bool,
    /// Sequence number on this publisher's track, from 0, one per frame.
    pub seq: u64,
    /// Send time, nanoseconds since the load generator started (monotonic clock).
    pub sent_ns: u64,
    /// The simulcast layer the frame was sent on; `None` without simulcast.
    pub layer: Option<Layer>,
}

impl Stamp {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.publisher.to_be_bytes());
        // Kind in the low nibble, layer marker in the high one.
        out.push(self.kind as u8 | Layer::marker(self.layer) << 4);
        out.push(u8::from(self.in_window));
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.sent_ns.to_be_bytes());
    }

    fn decode(b: &[u8]) -> Option<Stamp> {
        let b = b.get(..STAMP_LEN)?;
        if b[..4] != MAGIC {
            return None;
        }
        let kind = match b[8] & 0x0f {
            0 => Kind::Audio,
            1 => Kind::Video,
            _ => return None,
        };
        let layer = Layer::from_marker(b[8] >> 4)?;
        Some(Stamp {
            publisher: u32::from_be_bytes(b[4..8].try_into().ok()?),
            kind,
            in_window: b[9] == 1,
            seq: u64::from_be_bytes(b[10..18].try_into().ok()?),
            sent_ns: u64::from_be_bytes(b[18..26].try_into().ok()?),
            layer,
        })
    }
}

/// A VP8-shaped frame of `size` bytes (at least prefix + stamp).
pub fn video_frame(stamp: &Stamp, keyframe: bool, size: usize) -> Vec<u8> {
    let prefix = if keyframe {
        VP8_KEY_PREFIX
    } else {
        VP8_DELTA_PREFIX
    };
    let size = size.max(prefix + STAMP_LEN);
    let mut out = Vec::with_capacity(size);
    // Frame tag (RFC 6386 9.1): bit 0 = !key_frame, bits 1-3 version 0, bit 4 show_frame,
    // bits 5-23 first partition size (here: all of the frame after the header, capped).
    let first_part = u32::try_from(size - prefix)
        .unwrap_or(0x7_ffff)
        .min(0x7_ffff);
    let tag = u32::from(!keyframe) | (1 << 4) | (first_part << 5);
    out.extend_from_slice(&tag.to_le_bytes()[..3]);
    if keyframe {
        let (width, height) = stamp.layer.map_or((WIDTH, HEIGHT), Layer::size);
        out.extend_from_slice(&[0x9d, 0x01, 0x2a]);
        out.extend_from_slice(&width.to_le_bytes());
        out.extend_from_slice(&height.to_le_bytes());
    }
    stamp.encode(&mut out);
    fill(&mut out, size, stamp.seq);
    out
}

/// An Opus-shaped 20 ms frame of `size` bytes.
pub fn audio_frame(stamp: &Stamp, size: usize) -> Vec<u8> {
    let size = size.max(OPUS_PREFIX + STAMP_LEN);
    let mut out = Vec::with_capacity(size);
    out.push(OPUS_TOC);
    stamp.encode(&mut out);
    fill(&mut out, size, stamp.seq);
    out
}

/// Filler that is not all zeros (so nothing along the way can compress it away).
fn fill(out: &mut Vec<u8>, size: usize, seed: u64) {
    let mut x = (seed as u32).wrapping_mul(2_654_435_761) | 1;
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.push(x as u8);
    }
}

/// Reads the stamp of a received frame; `None` if it is not one of ours.
pub fn parse(frame: &[u8]) -> Option<Stamp> {
    let first = *frame.first()?;
    // Try the prefix that the first byte suggests, then the others: audio starts with the TOC
    // byte, VP8 keyframes have bit 0 clear.
    let candidates: [usize; 3] = if first == OPUS_TOC {
        [OPUS_PREFIX, VP8_KEY_PREFIX, VP8_DELTA_PREFIX]
    } else if first & 1 == 0 {
        [VP8_KEY_PREFIX, VP8_DELTA_PREFIX, OPUS_PREFIX]
    } else {
        [VP8_DELTA_PREFIX, VP8_KEY_PREFIX, OPUS_PREFIX]
    };
    candidates
        .iter()
        .find_map(|&p| frame.get(p..).and_then(Stamp::decode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(kind: Kind) -> Stamp {
        Stamp {
            publisher: 7,
            kind,
            in_window: true,
            seq: 123_456,
            sent_ns: 987_654_321,
            layer: None,
        }
    }

    #[test]
    fn layer_marker_round_trips_and_stays_vp8_shaped() {
        for layer in Layer::ALL {
            for key in [true, false] {
                let s = Stamp {
                    layer: Some(layer),
                    ..stamp(Kind::Video)
                };
                let f = video_frame(&s, key, 3000);
                assert_eq!(f.len(), 3000);
                assert_eq!(f[0] & 1, u8::from(!key), "key frame bit");
                if key {
                    assert_eq!(&f[3..6], &[0x9d, 0x01, 0x2a]);
                    let (w, h) = layer.size();
                    assert_eq!(u16::from_le_bytes([f[6], f[7]]), w);
                    assert_eq!(u16::from_le_bytes([f[8], f[9]]), h);
                }
                assert_eq!(parse(&f), Some(s), "{layer:?} key {key}");
            }
        }
        // Without simulcast the kind byte is what it always was.
        let f = video_frame(&stamp(Kind::Video), false, 100);
        assert_eq!(f[VP8_DELTA_PREFIX + 8], 1);
        // An unknown marker is not ours.
        let mut f = video_frame(&stamp(Kind::Video), false, 100);
        f[VP8_DELTA_PREFIX + 8] = 0x41;
        assert_eq!(parse(&f), None);
    }

    #[test]
    fn layer_bitrates_split_the_total_and_rates_are_sane() {
        assert_eq!(Layer::ALL.map(|l| l.kbps(1000)), [100, 300, 600]);
        assert_eq!(Layer::ALL.map(|l| l.kbps(800)), [80, 240, 480]);
        let tenths: u32 = Layer::ALL.iter().map(|l| l.bitrate_tenths()).sum();
        assert_eq!(tenths, 10);
        assert_eq!(Layer::ALL.map(|l| l.fps(30)), [15, 30, 30]);
        assert_eq!(Layer::Q.fps(1), 1);
        assert_eq!(Layer::ALL.map(Layer::rid), ["q", "h", "f"]);
        for l in Layer::ALL {
            assert_eq!(Layer::from_rid(l.rid()), Some(l));
            assert_eq!(Layer::ALL[l.index()], l);
        }
        assert_eq!(Layer::from_rid("x"), None);
    }

    #[test]
    fn keyframe_looks_like_vp8_and_round_trips() {
        let s = stamp(Kind::Video);
        let f = video_frame(&s, true, 5000);
        assert_eq!(f.len(), 5000);
        assert_eq!(f[0] & 1, 0, "key frame bit");
        assert_eq!(&f[3..6], &[0x9d, 0x01, 0x2a]);
        assert_eq!(u16::from_le_bytes([f[6], f[7]]), 640);
        assert_eq!(parse(&f), Some(s));
    }

    #[test]
    fn delta_and_audio_round_trip() {
        let s = stamp(Kind::Video);
        let f = video_frame(&s, false, 10);
        assert_eq!(f.len(), VP8_DELTA_PREFIX + STAMP_LEN);
        assert_eq!(f[0] & 1, 1);
        assert_eq!(parse(&f), Some(s));
        let a = stamp(Kind::Audio);
        let f = audio_frame(&a, 120);
        assert_eq!(f.len(), 120);
        assert_eq!(f[0], OPUS_TOC);
        assert_eq!(parse(&f), Some(a));
    }

    #[test]
    fn foreign_payloads_are_not_ours() {
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&[0u8; 100]), None);
    }
}
