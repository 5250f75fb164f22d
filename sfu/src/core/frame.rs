//! Key-frame and frame-boundary detection from what an end-to-end encrypted packet still shows:
//! its RTP header extensions, and the few payload bytes our clients leave in clear.
//!
//! # Why the Dependency Descriptor first
//!
//! The clients encrypt every video frame (SFrame in an encoded transform) before the browser
//! packetizes it, so the SFU cannot read the codec bitstream. A simulcast switch must still
//! happen at the first packet of a key frame of the target layer. The AV1 Dependency
//! Descriptor RTP header extension ([`URI`]) is written by the browser's packetizer, outside
//! the encrypted payload, not only for AV1 (Chrome sends it for VP8 too when the answer accepts
//! it). Its mandatory three bytes say whether the packet starts or ends a frame and carry a
//! frame number; Chrome attaches the template dependency structure to the first packet of every
//! key frame, so *start of frame + structure attached* is a key-frame start, for every codec,
//! with nothing in clear in the payload. This relies on libwebrtc's practice, not on the spec,
//! which allows a structure on any packet; a sender that attached it to delta frames would make
//! the SFU switch at a frame the subscriber cannot decode.
//!
//! # The fallback without it
//!
//! * **VP8**: the RTP payload descriptor (RFC 7741) is written by the packetizer and is never
//!   encrypted; the first byte of the VP8 payload header (the frame tag, whose bit 0 is the
//!   inverse key-frame flag) is left in clear on purpose by our clients (`clearBytes` in
//!   `web/static/call/e2ee-worker.js`). [`starts_keyframe`] reads them through str0m's
//!   [`Vp8Descriptor`].
//! * **H.264**: key-frame switching needs the Dependency Descriptor. Without it,
//!   [`starts_keyframe`] falls back to the NAL unit type (5 = IDR slice, 7 = SPS) of the first
//!   NAL unit of the packet (single NAL unit, first unit of a STAP-A, or a FU-A start). That
//!   byte is written by the packetizer from the frame it is given, which is *encrypted*: the
//!   fallback is only right if the sender's transform leaves the NAL unit headers in clear,
//!   which our clients do not promise for H.264. Treat a `false` as "unknown", not "delta".
//!
//! # Layers: RID/MID, and their heights from VLA or the key frame header
//!
//! Which simulcast layer a packet belongs to comes from its SSRC, bound to a RID
//! (`urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id`) and MID by str0m from the SDP and the
//! header extensions: no payload is needed, and every browser sends them. The Dependency
//! Descriptor's decode targets could describe layers too, but for simulcast each layer is its
//! own stream with its own descriptor, so it adds nothing there.
//!
//! Matching a layer to the size a subscriber shows the video at needs each layer's height.
//! The Video Layers Allocation extension
//! (`http://www.webrtc.org/experiments/rtp-hdrext/video-layers-allocation00`, which str0m
//! parses) states the publisher's layers with their resolutions; Chromium sends it, but leaves
//! the resolutions out of many packets, so a height once stated is kept until another is
//! stated. Browsers without the extension (Firefox) are covered by [`vp8_keyframe_size`]: a
//! VP8 key frame's header states its width and height, and our clients leave those ten bytes
//! in clear on key frames anyway (for the receiving browser's depacketizer), so every layer's
//! height is known from its first key frame. Without either (H.264 without the extension),
//! layers are ordered by RID name and the allocator goes by bandwidth alone.
//!
//! # Registering the extension
//!
//! `RtcConfig::set_extension(12, Extension::with_serializer(URI, DependencyDescriptorSerializer))`
//! on every peer's config. The id only matters until the client's first offer: our clients make
//! it, and str0m takes over the client's `a=extmap` id for the URI (Chrome's may be another
//! one), so any id free in `ExtensionMap::standard()` (5-9, 12, 14) does. A client that does not
//! offer the URI gets no descriptor; a subscriber only gets the forwarded descriptor if its own
//! offer listed it. A descriptor over 16 bytes (key frames with a big structure) makes str0m
//! write the packet's extensions in the two-byte form, which `a=extmap-allow-mixed` allows
//! (str0m puts it in every SDP it writes; browsers offer it).
//!
//! Everything here is pure and never panics, whatever the bytes. Nothing allocates per packet:
//! the parsers do not, and the serializer hands str0m its value in an `Arc` it reuses once the
//! previous packet's value is dropped (`DependencyDescriptorSerializer::parse_value`, with
//! str0m patch 6, which stores one user value without a map).

use std::cell::RefCell;
use std::sync::Arc;

use str0m::rtp::{ExtensionSerializer, ExtensionValues, Vp8Descriptor};

/// The URI of the Dependency Descriptor RTP header extension, as negotiated in SDP `a=extmap`.
pub const URI: &str =
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension";

/// The largest Dependency Descriptor kept: the largest RTP header extension element (two-byte
/// form, RFC 8285 section 4.3). The spec sets no smaller bound.
pub const MAX_LEN: usize = 255;

/// The largest element the one-byte header extension form can carry (RFC 8285 section 4.2).
const MAX_ONE_BYTE_LEN: usize = 16;

/// The mandatory fields of a Dependency Descriptor, and whether a template dependency structure
/// is attached (the first bit of the extended descriptor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DependencyDescriptor {
    /// The packet carries the first byte of a frame.
    pub start_of_frame: bool,
    /// The packet carries the last byte of a frame.
    pub end_of_frame: bool,
    /// `frame_dependency_template_id`, 6 bits.
    pub template_id: u8,
    /// `frame_number`, 16 bits, wrapping.
    pub frame_number: u16,
    /// `template_dependency_structure_present_flag`: the descriptor carries a template
    /// dependency structure. Chrome attaches one to the first packet of every key frame.
    pub structure_attached: bool,
}

impl DependencyDescriptor {
    /// Whether this packet starts a key frame: start of frame with the template dependency
    /// structure attached, as Chrome sends key frames.
    #[must_use]
    pub fn starts_keyframe(&self) -> bool {
        self.start_of_frame && self.structure_attached
    }
}

/// Parse a Dependency Descriptor header extension element (its bytes without the RTP
/// extension id/length header). `None` when shorter than the 3 mandatory bytes. Only the
/// mandatory fields and the structure flag are read; the rest is neither parsed nor validated.
#[must_use]
pub fn parse(bytes: &[u8]) -> Option<DependencyDescriptor> {
    let [b0, b1, b2, rest @ ..] = bytes else {
        return None;
    };
    Some(DependencyDescriptor {
        start_of_frame: b0 & 0x80 != 0,
        end_of_frame: b0 & 0x40 != 0,
        template_id: b0 & 0x3F,
        frame_number: u16::from_be_bytes([*b1, *b2]),
        structure_attached: rest.first().is_some_and(|b| b & 0x80 != 0),
    })
}

/// A received Dependency Descriptor: its parsed fields and its exact bytes, so the SFU can
/// forward it unchanged. Stored in [`ExtensionValues::user_values`] by
/// [`DependencyDescriptorSerializer`]; read it with
/// `ext_vals.user_values.get::<DependencyDescriptorValue>()`.
#[derive(Clone, PartialEq, Eq)]
pub struct DependencyDescriptorValue {
    descriptor: DependencyDescriptor,
    len: u8,
    bytes: [u8; MAX_LEN],
}

impl DependencyDescriptorValue {
    /// Parse and keep `bytes`; `None` when they are not a descriptor (under 3 bytes) or longer
    /// than [`MAX_LEN`].
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let descriptor = parse(bytes)?;
        let len = u8::try_from(bytes.len()).ok()?;
        let mut buf = [0; MAX_LEN];
        buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Self {
            descriptor,
            len,
            bytes: buf,
        })
    }

    /// The parsed fields.
    #[must_use]
    pub fn descriptor(&self) -> DependencyDescriptor {
        self.descriptor
    }

    /// The descriptor's bytes exactly as received.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl std::fmt::Debug for DependencyDescriptorValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DependencyDescriptorValue")
            .field("descriptor", &self.descriptor)
            .field("bytes", &self.as_bytes())
            .finish()
    }
}

thread_local! {
    /// The `Arc` the last descriptor parsed on this thread went into, reused by the next one
    /// once nothing else holds it (one per thread: the serializer is shared by every peer).
    static SPARE_VALUE: RefCell<Option<Arc<DependencyDescriptorValue>>> =
        const { RefCell::new(None) };
}

/// The str0m serializer of the Dependency Descriptor header extension ([`URI`]): parsing puts
/// a [`DependencyDescriptorValue`] in [`ExtensionValues::user_values`]; writing reproduces its
/// bytes exactly. Register it with
/// `RtcConfig::set_extension(id, Extension::with_serializer(URI, DependencyDescriptorSerializer))`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DependencyDescriptorSerializer;

impl ExtensionSerializer for DependencyDescriptorSerializer {
    fn write_to(&self, buf: &mut [u8], ev: &ExtensionValues) -> usize {
        let Some(value) = ev.user_values.get::<DependencyDescriptorValue>() else {
            return 0;
        };
        let bytes = value.as_bytes();
        match buf.get_mut(..bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                bytes.len()
            }
            // No room: leave the extension out rather than write part of it.
            None => 0,
        }
    }

    fn parse_value(&self, buf: &[u8], ev: &mut ExtensionValues) -> bool {
        let Some(value) = DependencyDescriptorValue::from_bytes(buf) else {
            return false;
        };
        // The value goes into the `Arc` the previous packet's went into when nothing holds that
        // one any more (the SFU reads a packet's descriptor while forwarding it, then drops the
        // packet), into a new one otherwise: no allocation per packet in steady state.
        let shared = SPARE_VALUE.with(|spare| {
            let mut spare = spare.borrow_mut();
            match spare.as_mut().and_then(Arc::get_mut) {
                Some(reused) => *reused = value,
                None => *spare = Some(Arc::new(value)),
            }
            spare.clone()
        });
        if let Some(shared) = shared {
            ev.user_values.set_arc(shared);
        }
        true
    }

    fn is_video(&self) -> bool {
        true
    }

    fn is_audio(&self) -> bool {
        false
    }

    fn requires_two_byte_form(&self, ev: &ExtensionValues) -> bool {
        ev.user_values
            .get::<DependencyDescriptorValue>()
            .is_some_and(|v| v.as_bytes().len() > MAX_ONE_BYTE_LEN)
    }
}

/// The codec of a video track, for the fallback detection when a packet has no Dependency
/// Descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// VP8: RFC 7741 payload descriptor plus the clear first byte of the payload header.
    Vp8,
    /// H.264: the first NAL unit header, only meaningful if left in clear (see module docs).
    H264,
    /// Any other codec: no fallback, only the Dependency Descriptor.
    Other,
}

/// H.264 NAL unit types (RFC 6184 section 5.4).
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_STAP_A: u8 = 24;
const NAL_FU_A: u8 = 28;

/// Whether a packet starts a key frame: from its Dependency Descriptor when it has one
/// ([`DependencyDescriptor::starts_keyframe`]), otherwise from the payload as the module docs
/// describe for `codec`. `payload` is the RTP payload (after the RTP header and padding
/// removal). `false` also means "cannot tell".
#[must_use]
pub fn starts_keyframe(dd: Option<&DependencyDescriptor>, codec: Codec, payload: &[u8]) -> bool {
    if let Some(dd) = dd {
        return dd.starts_keyframe();
    }
    match codec {
        Codec::Vp8 => Vp8Descriptor::parse(payload).is_ok_and(|d| d.starts_keyframe(payload)),
        Codec::H264 => h264_starts_keyframe(payload),
        Codec::Other => false,
    }
}

/// Whether a packet starts a frame: the Dependency Descriptor's start_of_frame, or for VP8
/// without one the descriptor's S bit with partition index 0. H.264 and other codecs without a
/// descriptor: `false` (cannot tell; the previous packet's RTP marker bit ends a frame).
#[must_use]
pub fn starts_frame(dd: Option<&DependencyDescriptor>, codec: Codec, payload: &[u8]) -> bool {
    if let Some(dd) = dd {
        return dd.start_of_frame;
    }
    match (codec, payload.first()) {
        (Codec::Vp8, Some(b)) => {
            b & 0x10 != 0 && b & 0x07 == 0 && Vp8Descriptor::parse(payload).is_ok()
        }
        _ => false,
    }
}

/// The frame size a VP8 key frame states in its header (RFC 6386 section 9.1: frame tag, start
/// code, 14-bit width and height), read from the ten bytes our clients leave in clear on key
/// frames (`clearBytes` in `web/static/call/e2ee-worker.js`). `payload` is the RTP payload of the
/// packet that starts the frame; `None` when it does not start a VP8 key frame with a valid
/// header.
#[must_use]
pub fn vp8_keyframe_size(payload: &[u8]) -> Option<(u16, u16)> {
    let offset = vp8_descriptor_len(payload)?;
    let header = payload.get(offset..offset.checked_add(10)?)?;
    if header[0] & 0x01 != 0 || header[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u16::from_le_bytes([header[6], header[7]]) & 0x3fff;
    let height = u16::from_le_bytes([header[8], header[9]]) & 0x3fff;
    (width > 0 && height > 0).then_some((width, height))
}

/// Length of the VP8 RTP payload descriptor (RFC 7741 section 4.2) of a packet that starts
/// partition 0 (S = 1, PID = 0); `None` for any other packet or a truncated descriptor.
fn vp8_descriptor_len(payload: &[u8]) -> Option<usize> {
    let first = *payload.first()?;
    if first & 0x10 == 0 || first & 0x07 != 0 {
        return None;
    }
    if first & 0x80 == 0 {
        return Some(1);
    }
    let ext = *payload.get(1)?;
    let mut len = 2;
    if ext & 0x80 != 0 {
        // PictureID: 15 bits when its M bit is set, else 7.
        len += if *payload.get(len)? & 0x80 != 0 { 2 } else { 1 };
    }
    if ext & 0x40 != 0 {
        len += 1; // TL0PICIDX
    }
    if ext & 0x30 != 0 {
        len += 1; // TID / Y / KEYIDX
    }
    (len <= payload.len()).then_some(len)
}

/// The H.264 fallback: the first NAL unit of the packet is an IDR slice or an SPS.
fn h264_starts_keyframe(payload: &[u8]) -> bool {
    let is_key = |nal: u8| matches!(nal & 0x1F, NAL_IDR | NAL_SPS);
    match payload {
        [b0, ..] if b0 & 0x1F == NAL_STAP_A => payload.get(3).is_some_and(|b| is_key(*b)),
        [b0, fu, ..] if b0 & 0x1F == NAL_FU_A => fu & 0x80 != 0 && is_key(*fu),
        [b0, ..] => is_key(*b0),
        [] => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::rtp::Extension;
    use str0m::RtcConfig;

    /// Mandatory part only, as Chrome sends on every packet but a key frame's first: here the
    /// last packet of delta frame 0x1235 (start and end of frame, template 1).
    const DELTA: [u8; 3] = [0xC1, 0x12, 0x35];

    /// The first packet of key frame 0x1234 (start, not end, template 0) with an L1T1 template
    /// dependency structure attached, built bit by bit after the spec: flags 10000 (structure
    /// present, nothing custom), template_id_offset 0, dt_cnt_minus_one 0, two templates
    /// (layer idc 0 then 3), DTIs switch/required, fdiffs none/1, no chains, no resolutions.
    const KEY_FIRST: [u8; 8] = [0x80, 0x12, 0x34, 0x80, 0x00, 0x3B, 0x40, 0x00];

    fn dd(bytes: &[u8]) -> DependencyDescriptor {
        parse(bytes).expect("a dependency descriptor")
    }

    #[test]
    fn parse_reads_mandatory_fields_of_a_three_byte_descriptor() {
        assert_eq!(
            dd(&DELTA),
            DependencyDescriptor {
                start_of_frame: true,
                end_of_frame: true,
                template_id: 1,
                frame_number: 0x1235,
                structure_attached: false,
            }
        );
        assert!(!dd(&DELTA).starts_keyframe());
    }

    #[test]
    fn parse_sees_the_attached_structure_of_a_key_frame_start() {
        let d = dd(&KEY_FIRST);
        assert!(d.start_of_frame && !d.end_of_frame);
        assert_eq!((d.template_id, d.frame_number), (0, 0x1234));
        assert!(d.structure_attached);
        assert!(d.starts_keyframe());
    }

    #[test]
    fn extended_descriptor_without_structure_is_not_a_key_frame() {
        // active_decode_targets_present_flag only, then a 1-bit bitmask.
        let d = dd(&[0x80, 0x00, 0x07, 0x40 | 0x02]);
        assert!(!d.structure_attached);
        assert!(!d.starts_keyframe());
        // A structure on a packet that does not start the frame is not a key-frame start.
        assert!(!dd(&[0x40, 0x00, 0x07, 0x80]).starts_keyframe());
    }

    #[test]
    fn parse_rejects_truncated_descriptors() {
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&[0x80]), None);
        assert_eq!(parse(&[0x80, 0x12]), None);
    }

    #[test]
    fn parse_and_value_never_panic_on_garbage_of_any_length() {
        for len in 0..=300 {
            for fill in [0x00, 0xFF, 0xA5] {
                let bytes = vec![fill; len];
                assert_eq!(parse(&bytes).is_some(), len >= 3);
                let value = DependencyDescriptorValue::from_bytes(&bytes);
                assert_eq!(value.is_some(), (3..=MAX_LEN).contains(&len), "len {len}");
                if let Some(v) = value {
                    assert_eq!(v.as_bytes(), &bytes[..]);
                }
            }
        }
    }

    #[test]
    fn serializer_writes_back_exactly_the_bytes_it_parsed() {
        let s = DependencyDescriptorSerializer;
        for bytes in [
            &DELTA[..],
            &KEY_FIRST[..],
            &[0x5A; 40][..],
            &[0x01; MAX_LEN][..],
        ] {
            let mut ev = ExtensionValues::default();
            assert!(s.parse_value(bytes, &mut ev));
            let value = ev.user_values.get::<DependencyDescriptorValue>().unwrap();
            assert_eq!(value.descriptor(), dd(bytes));
            let mut buf = [0u8; 300];
            let n = s.write_to(&mut buf, &ev);
            assert_eq!(&buf[..n], bytes);
            assert_eq!(s.requires_two_byte_form(&ev), bytes.len() > 16);
        }
    }

    #[test]
    fn a_parsed_descriptor_still_held_is_never_overwritten_by_the_next() {
        let s = DependencyDescriptorSerializer;
        let mut first = ExtensionValues::default();
        assert!(s.parse_value(&KEY_FIRST, &mut first));
        let mut second = ExtensionValues::default();
        assert!(s.parse_value(&DELTA, &mut second));
        let get = |ev: &ExtensionValues| {
            ev.user_values
                .get::<DependencyDescriptorValue>()
                .map(|v| v.as_bytes().to_vec())
        };
        assert_eq!(get(&first).as_deref(), Some(&KEY_FIRST[..]));
        assert_eq!(get(&second).as_deref(), Some(&DELTA[..]));
        // Once the packets are gone, the next value reuses the storage and reads right.
        drop(first);
        drop(second);
        let mut third = ExtensionValues::default();
        assert!(s.parse_value(&KEY_FIRST, &mut third));
        assert_eq!(get(&third).as_deref(), Some(&KEY_FIRST[..]));
    }

    #[test]
    fn serializer_writes_nothing_without_a_value_or_room() {
        let s = DependencyDescriptorSerializer;
        let mut ev = ExtensionValues::default();
        assert_eq!(s.write_to(&mut [0u8; 16], &ev), 0);
        assert!(!s.requires_two_byte_form(&ev));
        assert!(!s.parse_value(&[0x80, 0x01], &mut ev), "truncated");
        assert!(ev.user_values.get::<DependencyDescriptorValue>().is_none());
        assert!(s.parse_value(&KEY_FIRST, &mut ev));
        assert_eq!(s.write_to(&mut [0u8; 7], &ev), 0, "one byte short");
    }

    #[test]
    fn serializer_is_for_video_only_and_registers_in_an_rtc_config() {
        let s = DependencyDescriptorSerializer;
        assert!(s.is_video() && !s.is_audio());
        let mut config = RtcConfig::new().set_extension(12, Extension::with_serializer(URI, s));
        let ext = config.extension_map().lookup(12).expect("registered");
        assert_eq!(ext.as_uri(), URI);
    }

    // VP8 RTP payload descriptors (RFC 7741): X=1 S=1 PID=0, I=1, 15-bit picture id 0x0123,
    // then the first byte of the VP8 payload header (bit 0: 0 = key frame).
    /// Descriptor with a 15-bit picture id, then a key frame header: 1280x720, horizontal
    /// scale bits set on the width (they are not part of the size).
    const VP8_KEY_720P: [u8; 14] = [
        0x90, 0x80, 0x81, 0x23, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x00, 0x45, 0xd0, 0x02,
    ];

    #[test]
    fn vp8_keyframe_size_reads_the_clear_key_frame_header() {
        assert_eq!(vp8_keyframe_size(&VP8_KEY_720P), Some((1280, 720)));
        // Every descriptor shape: no extension; 7-bit picture id, TL0PICIDX and TID/KEYIDX.
        let header = &VP8_KEY_720P[4..];
        let plain: Vec<u8> = [&[0x10][..], header].concat();
        assert_eq!(vp8_keyframe_size(&plain), Some((1280, 720)));
        let full: Vec<u8> = [&[0x90, 0xF0, 0x12, 0x05, 0x20][..], header].concat();
        assert_eq!(vp8_keyframe_size(&full), Some((1280, 720)));
        // str0m agrees on where the frame starts.
        for p in [&VP8_KEY_720P[..], &plain, &full] {
            let d = Vp8Descriptor::parse(p).expect("valid descriptor");
            assert!(d.starts_keyframe(p));
        }
    }

    #[test]
    fn vp8_keyframe_size_is_none_for_anything_else_and_never_panics() {
        // A delta frame, a continuation, a later partition, a wrong start code, a zero size.
        let mut delta = VP8_KEY_720P;
        delta[4] |= 0x01;
        let mut continuation = VP8_KEY_720P;
        continuation[0] &= !0x10;
        let mut partition = VP8_KEY_720P;
        partition[0] |= 0x01;
        let mut start_code = VP8_KEY_720P;
        start_code[8] = 0x02;
        let mut zero = VP8_KEY_720P;
        zero[12] = 0;
        zero[13] = 0;
        for p in [delta, continuation, partition, start_code, zero] {
            assert_eq!(vp8_keyframe_size(&p), None, "{p:02x?}");
        }
        for n in 0..VP8_KEY_720P.len() {
            assert_eq!(
                vp8_keyframe_size(&VP8_KEY_720P[..n]),
                None,
                "truncated to {n}"
            );
        }
        for b in 0..=255u8 {
            let _ = vp8_keyframe_size(&[b]);
            let _ = vp8_keyframe_size(&[0x90, b]);
            let _ = vp8_keyframe_size(&[0x90, b, 0xFF]);
        }
    }

    const VP8_KEY: [u8; 5] = [0x90, 0x80, 0x81, 0x23, 0x10];
    const VP8_DELTA: [u8; 5] = [0x90, 0x80, 0x81, 0x23, 0x11];
    const VP8_CONTINUATION: [u8; 5] = [0x80, 0x80, 0x81, 0x23, 0x10];
    const VP8_SECOND_PARTITION: [u8; 5] = [0x91, 0x80, 0x81, 0x23, 0x10];

    #[test]
    fn vp8_fallback_finds_the_key_frame_start_in_the_clear_bytes() {
        assert!(starts_keyframe(None, Codec::Vp8, &VP8_KEY));
        assert!(
            starts_keyframe(None, Codec::Vp8, &[0x10, 0x00]),
            "no extension"
        );
        assert!(!starts_keyframe(None, Codec::Vp8, &VP8_DELTA));
        assert!(!starts_keyframe(None, Codec::Vp8, &VP8_CONTINUATION));
        assert!(!starts_keyframe(None, Codec::Vp8, &VP8_SECOND_PARTITION));
    }

    #[test]
    fn vp8_fallback_rejects_truncated_descriptors() {
        for n in 0..VP8_KEY.len() {
            assert!(
                !starts_keyframe(None, Codec::Vp8, &VP8_KEY[..n]),
                "{n} bytes"
            );
            assert!(!starts_frame(None, Codec::Vp8, &VP8_KEY[..n]), "{n} bytes");
        }
    }

    #[test]
    fn vp8_fallback_finds_frame_starts() {
        assert!(starts_frame(None, Codec::Vp8, &VP8_KEY));
        assert!(starts_frame(None, Codec::Vp8, &VP8_DELTA));
        assert!(!starts_frame(None, Codec::Vp8, &VP8_CONTINUATION));
        assert!(!starts_frame(None, Codec::Vp8, &VP8_SECOND_PARTITION));
    }

    #[test]
    fn dependency_descriptor_takes_precedence_over_the_payload() {
        let key = dd(&KEY_FIRST);
        let delta = dd(&DELTA);
        assert!(starts_keyframe(Some(&key), Codec::Vp8, &VP8_DELTA));
        assert!(!starts_keyframe(Some(&delta), Codec::Vp8, &VP8_KEY));
        assert!(starts_keyframe(Some(&key), Codec::Other, &[]));
        assert!(starts_frame(Some(&delta), Codec::Other, &[]));
        assert!(!starts_frame(
            Some(&dd(&[0x00, 0, 0])),
            Codec::Vp8,
            &VP8_KEY
        ));
    }

    #[test]
    fn h264_fallback_reads_the_first_nal_unit_type() {
        assert!(
            starts_keyframe(None, Codec::H264, &[0x65, 0x88]),
            "IDR slice"
        );
        assert!(starts_keyframe(None, Codec::H264, &[0x67, 0x42]), "SPS");
        assert!(
            !starts_keyframe(None, Codec::H264, &[0x41, 0x9A]),
            "non-IDR slice"
        );
        let stap_a = [0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xCE];
        assert!(
            starts_keyframe(None, Codec::H264, &stap_a),
            "STAP-A with SPS"
        );
        assert!(
            !starts_keyframe(None, Codec::H264, &stap_a[..3]),
            "truncated STAP-A"
        );
        assert!(
            starts_keyframe(None, Codec::H264, &[0x7C, 0x85]),
            "FU-A start of IDR"
        );
        assert!(
            !starts_keyframe(None, Codec::H264, &[0x7C, 0x05]),
            "FU-A middle of IDR"
        );
        assert!(
            !starts_keyframe(None, Codec::H264, &[0x7C]),
            "truncated FU-A"
        );
        assert!(!starts_keyframe(None, Codec::H264, &[]));
        assert!(!starts_frame(None, Codec::H264, &[0x65]), "cannot tell");
    }

    #[test]
    fn other_codecs_need_the_dependency_descriptor() {
        assert!(!starts_keyframe(None, Codec::Other, &VP8_KEY));
        assert!(!starts_frame(None, Codec::Other, &VP8_KEY));
    }
}
