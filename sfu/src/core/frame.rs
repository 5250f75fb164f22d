//! TEMPORARY stand-in, replaced by the real frame module.
use str0m::format::Codec;

/// Stand-in.
pub fn starts_keyframe(codec: Codec, payload: &[u8]) -> bool {
    match codec {
        Codec::Vp8 => str0m::rtp::Vp8Descriptor::parse(payload).is_ok_and(|d| d.starts_keyframe(payload)),
        Codec::H264 => payload.first().is_some_and(|b| matches!(b & 0x1f, 5 | 7 | 24 | 28)),
        _ => true,
    }
}

/// URI.
pub const DEPENDENCY_DESCRIPTOR_URI: &str = "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension";
/// Stand-in.
#[derive(Debug)]
pub struct DependencyDescriptorSerializer;
impl str0m::rtp::ExtensionSerializer for DependencyDescriptorSerializer {
    fn write_to(&self, _buf: &mut [u8], _ev: &str0m::rtp::ExtensionValues) -> usize { 0 }
    fn parse_value(&self, _buf: &[u8], _ev: &mut str0m::rtp::ExtensionValues) -> bool { false }
    fn is_video(&self) -> bool { true }
    fn is_audio(&self) -> bool { false }
}
