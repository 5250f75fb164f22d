//! SFU: key-frame detection from what an encrypted RTP packet still shows, any bytes as a
//! Dependency Descriptor header extension and as an RTP payload → `sfu::core::frame::parse`,
//! the str0m serializer, `starts_keyframe` and `starts_frame` for every codec.
//!
//! Input: first byte picks the codec (low 2 bits) and whether there is a descriptor (bit 2);
//! second byte is the descriptor's length; then the descriptor, then the payload.
//!
//! Checks: `parse` accepts exactly the inputs of 3 bytes or more and reads its fields from the
//! first three; the serializer writes back exactly the bytes it parsed (two-byte form iff over
//! 16 bytes); a key-frame start is always a frame start (VP8 and descriptor); with a
//! descriptor the payload does not matter.
#![no_main]

use confidant_sfu::core::frame::{
    parse, starts_frame, starts_keyframe, Codec, DependencyDescriptorSerializer,
    DependencyDescriptorValue, MAX_LEN,
};
use libfuzzer_sys::fuzz_target;
use str0m::rtp::{ExtensionSerializer, ExtensionValues};

fuzz_target!(|data: &[u8]| {
    let [flags, dd_len, rest @ ..] = data else {
        return;
    };
    let codec = match flags & 0x03 {
        0 => Codec::Vp8,
        1 => Codec::H264,
        _ => Codec::Other,
    };
    let (dd_bytes, payload) = rest.split_at(usize::from(*dd_len).min(rest.len()));

    let dd = parse(dd_bytes);
    assert_eq!(dd.is_some(), dd_bytes.len() >= 3);
    if let Some(d) = dd {
        assert_eq!(d.start_of_frame, dd_bytes[0] & 0x80 != 0);
        assert_eq!(d.end_of_frame, dd_bytes[0] & 0x40 != 0);
        assert_eq!(d.template_id, dd_bytes[0] & 0x3F);
        assert_eq!(
            d.frame_number,
            u16::from_be_bytes([dd_bytes[1], dd_bytes[2]])
        );
        assert_eq!(
            d.structure_attached,
            dd_bytes.get(3).is_some_and(|b| b & 0x80 != 0)
        );
    }

    // The serializer: parse, then write back the very same bytes.
    let s = DependencyDescriptorSerializer;
    let mut ev = ExtensionValues::default();
    let parsed = s.parse_value(dd_bytes, &mut ev);
    assert_eq!(parsed, dd.is_some() && dd_bytes.len() <= MAX_LEN);
    if parsed {
        let value = ev.user_values.get::<DependencyDescriptorValue>().unwrap(); // set by parse_value
        assert_eq!(Some(value.descriptor()), dd);
        let mut buf = [0u8; MAX_LEN];
        let n = s.write_to(&mut buf, &ev);
        assert_eq!(&buf[..n], dd_bytes);
        assert_eq!(s.requires_two_byte_form(&ev), dd_bytes.len() > 16);
        let short = dd_bytes.len() - 1;
        assert_eq!(s.write_to(&mut buf[..short], &ev), 0, "no partial write");
    }

    let dd = if flags & 0x04 != 0 { dd } else { None };
    let key = starts_keyframe(dd.as_ref(), codec, payload);
    let frame = starts_frame(dd.as_ref(), codec, payload);
    match (dd, codec) {
        (Some(d), _) => {
            assert_eq!(key, d.start_of_frame && d.structure_attached);
            assert_eq!(frame, d.start_of_frame);
        }
        (None, Codec::Vp8) => assert!(!key || frame, "a VP8 key-frame start starts a frame"),
        (None, Codec::Other) => assert!(!key && !frame),
        (None, Codec::H264) => assert!(!frame),
    }
});
