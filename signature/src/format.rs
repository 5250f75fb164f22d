//! Canonical binary encoding of the signature time series ("CSIG", version 1).
//!
//! Modelled on the channels of ISO/IEC 19794-7 (signature/sign time series): X, Y, T, the tip
//! switch / status channel S, pressure F and tilt (here as the two Pointer Events tilt angles,
//! TiltX/TiltY, rather than altitude/azimuth). It is *not* an ISO 19794-7 record; it is a
//! simpler, fully specified, deterministic format whose bytes are what the escrow envelope
//! encrypts. All integers are **big-endian**; samples are fixed-width.
//!
//! # Header (32 bytes)
//!
//! | offset | size | type  | field            | value / meaning                                        |
//! |-------:|-----:|-------|------------------|--------------------------------------------------------|
//! | 0      | 4    | bytes | magic            | `"CSIG"` (0x43 0x53 0x49 0x47)                         |
//! | 4      | 1    | u8    | version          | 1                                                      |
//! | 5      | 1    | u8    | channels         | bitmap, see below                                      |
//! | 6      | 2    | u16   | stroke count     | number of strokes, ≥ 1                                 |
//! | 8      | 4    | u32   | point count      | number of point records, ≥ 1                           |
//! | 12     | 4    | u32   | canvas width     | in X/Y units (0.01 CSS px)                             |
//! | 16     | 4    | u32   | canvas height    | in X/Y units (0.01 CSS px)                             |
//! | 20     | 2    | u16   | X/Y scale        | 100 (units per CSS px)                                 |
//! | 22     | 2    | u16   | T scale          | 1000 (units per ms, i.e. microseconds)                 |
//! | 24     | 2    | u16   | F scale          | 65535 (value representing pressure 1.0)                |
//! | 26     | 2    | u16   | tilt scale       | 100 (units per degree)                                 |
//! | 28     | 4    | u32   | reserved         | 0                                                      |
//!
//! Channel bitmap: bit 0 X, bit 1 Y, bit 2 T, bit 3 S — always set; bit 4 F (pressure),
//! bit 5 TX (tilt_x), bit 6 TY (tilt_y) — set **iff** at least one point carries that value;
//! bit 7 reserved, 0.
//!
//! # Point records (`point count` × record size), in recording order
//!
//! | channel | type | unit / encoding                                                           |
//! |---------|------|---------------------------------------------------------------------------|
//! | X       | i32  | 0.01 CSS px from the canvas' left edge, `round(x·100)`                     |
//! | Y       | i32  | 0.01 CSS px from the canvas' top edge (y down), `round(y·100)`             |
//! | T       | u32  | µs since the first point, `round((t − t₀)·1000)`; non-decreasing; first is 0 |
//! | S       | u8   | status bits, see below                                                     |
//! | F       | u16  | present if bit 4: `round(pressure·65535)`; 0 when the point has none       |
//! | TX      | i16  | present if bit 5: `round(tilt_x·100)`, −9000..=9000; 0 when absent         |
//! | TY      | i16  | present if bit 6: `round(tilt_y·100)`, −9000..=9000; 0 when absent         |
//!
//! Record size = 13 bytes + 2 per optional channel present. Rounding is half away from zero.
//!
//! Status byte S: bit 0 tip down (always 1: only pen-down samples are recorded, pen-up gaps
//! are the time between strokes); bit 1 first point of a stroke; bits 2–3 pointer type
//! (0 pen, 1 touch, 2 mouse; 3 invalid), constant within a stroke; bit 4 F valid; bit 5 TX
//! valid; bit 6 TY valid; bit 7 reserved, 0.
//!
//! # Canonical form
//!
//! The decoder accepts only the bytes the encoder would produce: exact length (no trailing
//! data), fixed scales, zero reserved bits, optional channels present iff used, absent samples
//! zero, first record a stroke start with T = 0, stroke count equal to the number of stroke
//! starts. Hence `encode(decode(b)) == b` for every accepted `b`, and equal signatures (after
//! quantisation) have equal bytes. The pad clock's absolute origin is not kept; the server's
//! timestamps in the evidence bundle are the authoritative times.

use thiserror::Error;

use crate::submission::{Canvas, Device, Point, PointerType, Stroke, Submission, ValidSignature};

/// Magic bytes.
pub const MAGIC: &[u8; 4] = b"CSIG";
/// Format version.
pub const VERSION: u8 = 1;
/// Header length in bytes.
pub const HEADER_LEN: usize = 32;
/// X/Y units per CSS pixel.
pub const XY_SCALE: u16 = 100;
/// T units per millisecond.
pub const T_SCALE: u16 = 1000;
/// F value for pressure 1.0.
pub const F_SCALE: u16 = 65535;
/// Tilt units per degree.
pub const TILT_SCALE: u16 = 100;

const CH_REQUIRED: u8 = 0b0000_1111;
const CH_F: u8 = 1 << 4;
const CH_TX: u8 = 1 << 5;
const CH_TY: u8 = 1 << 6;

const S_DOWN: u8 = 1;
const S_START: u8 = 1 << 1;
const S_PTR_SHIFT: u8 = 2;
const S_F: u8 = 1 << 4;
const S_TX: u8 = 1 << 5;
const S_TY: u8 = 1 << 6;

/// Encoding or decoding failure.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FormatError {
    /// A value does not fit its channel (only possible with non-default, very large limits).
    #[error("{field} does not fit the format's range")]
    OutOfRange {
        /// Channel or header field.
        field: &'static str,
    },
    /// Fewer bytes than the header or the records need.
    #[error("truncated: {needed} bytes needed, {len} present")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        len: usize,
    },
    /// Bytes after the last record.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    /// Not starting with `CSIG`.
    #[error("bad magic")]
    BadMagic,
    /// Version other than 1.
    #[error("unsupported version {0}")]
    UnsupportedVersion(u8),
    /// Header field with a value version 1 does not allow.
    #[error("invalid header field {0}")]
    InvalidHeader(&'static str),
    /// A record violates the format.
    #[error("point {index}: {reason}")]
    InvalidRecord {
        /// Record index.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

fn quantise(
    value: f64,
    scale: f64,
    field: &'static str,
    min: i64,
    max: i64,
) -> Result<i64, FormatError> {
    let q = (value * scale).round();
    if !q.is_finite() || q < min as f64 || q > max as f64 {
        return Err(FormatError::OutOfRange { field });
    }
    Ok(q as i64)
}

fn pointer_code(p: PointerType) -> u8 {
    match p {
        PointerType::Pen => 0,
        PointerType::Touch => 1,
        PointerType::Mouse => 2,
    }
}

/// Encode a validated signature. Deterministic: equal input gives equal bytes. Never fails with
/// the default [`crate::submission::Limits`].
pub fn encode(signature: &ValidSignature) -> Result<Vec<u8>, FormatError> {
    let strokes = signature.strokes();
    let points = || strokes.iter().flat_map(|s| s.points.iter());
    let mut channels = CH_REQUIRED;
    if points().any(|p| p.pressure.is_some()) {
        channels |= CH_F;
    }
    if points().any(|p| p.tilt_x.is_some()) {
        channels |= CH_TX;
    }
    if points().any(|p| p.tilt_y.is_some()) {
        channels |= CH_TY;
    }
    let stroke_count = u16::try_from(strokes.len()).map_err(|_| FormatError::OutOfRange {
        field: "stroke count",
    })?;
    let point_count =
        u32::try_from(signature.point_count()).map_err(|_| FormatError::OutOfRange {
            field: "point count",
        })?;
    let canvas = signature.canvas();
    let xy = f64::from(XY_SCALE);
    let width = quantise(canvas.width, xy, "canvas width", 0, u32::MAX.into())?;
    let height = quantise(canvas.height, xy, "canvas height", 0, u32::MAX.into())?;

    let mut out = Vec::with_capacity(HEADER_LEN + signature.point_count() * record_len(channels));
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(channels);
    out.extend_from_slice(&stroke_count.to_be_bytes());
    out.extend_from_slice(&point_count.to_be_bytes());
    out.extend_from_slice(&(width as u32).to_be_bytes());
    out.extend_from_slice(&(height as u32).to_be_bytes());
    for scale in [XY_SCALE, T_SCALE, F_SCALE, TILT_SCALE] {
        out.extend_from_slice(&scale.to_be_bytes());
    }
    out.extend_from_slice(&0u32.to_be_bytes());

    let t0 = signature.first_t();
    let mut last_t = 0i64;
    for stroke in strokes {
        for (i, p) in stroke.points.iter().enumerate() {
            let x = quantise(p.x, xy, "x", i32::MIN.into(), i32::MAX.into())?;
            let y = quantise(p.y, xy, "y", i32::MIN.into(), i32::MAX.into())?;
            // Quantised times stay non-decreasing because rounding is monotonic.
            let t = quantise(p.t - t0, f64::from(T_SCALE), "t", 0, u32::MAX.into())?.max(last_t);
            last_t = t;
            let mut status = S_DOWN | (pointer_code(stroke.pointer_type) << S_PTR_SHIFT);
            if i == 0 {
                status |= S_START;
            }
            let f = match p.pressure {
                Some(v) => {
                    status |= S_F;
                    quantise(v, f64::from(F_SCALE), "pressure", 0, F_SCALE.into())?
                }
                None => 0,
            };
            let tilt = |v: Option<f64>, flag: u8, field: &'static str, status: &mut u8| match v {
                Some(v) => {
                    *status |= flag;
                    quantise(v, f64::from(TILT_SCALE), field, -9000, 9000)
                }
                None => Ok(0),
            };
            let tx = tilt(p.tilt_x, S_TX, "tilt_x", &mut status)?;
            let ty = tilt(p.tilt_y, S_TY, "tilt_y", &mut status)?;
            // The ranges were checked by `quantise`, so these casts are exact.
            out.extend_from_slice(&(x as i32).to_be_bytes());
            out.extend_from_slice(&(y as i32).to_be_bytes());
            out.extend_from_slice(&(t as u32).to_be_bytes());
            out.push(status);
            if channels & CH_F != 0 {
                out.extend_from_slice(&(f as u16).to_be_bytes());
            }
            if channels & CH_TX != 0 {
                out.extend_from_slice(&(tx as i16).to_be_bytes());
            }
            if channels & CH_TY != 0 {
                out.extend_from_slice(&(ty as i16).to_be_bytes());
            }
        }
    }
    Ok(out)
}

fn record_len(channels: u8) -> usize {
    13 + 2 * [CH_F, CH_TX, CH_TY]
        .iter()
        .filter(|c| channels & **c != 0)
        .count()
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        // Callers check the total length up front; a short read yields zeros, never a panic.
        if let Some(src) = self.bytes.get(self.pos..self.pos + N) {
            out.copy_from_slice(src);
        }
        self.pos += N;
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take())
    }
    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take())
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take())
    }
}

/// Decode canonical bytes back into a [`Submission`] (times relative to the first point, values
/// quantised). Run [`crate::submission::validate`] on the result before computing dynamics.
pub fn decode(bytes: &[u8]) -> Result<Submission, FormatError> {
    if bytes.len() < HEADER_LEN {
        return Err(FormatError::Truncated {
            needed: HEADER_LEN,
            len: bytes.len(),
        });
    }
    let mut r = Reader { bytes, pos: 0 };
    if &r.take::<4>() != MAGIC {
        return Err(FormatError::BadMagic);
    }
    let version = r.u8();
    if version != VERSION {
        return Err(FormatError::UnsupportedVersion(version));
    }
    let channels = r.u8();
    if channels & CH_REQUIRED != CH_REQUIRED || channels & 0x80 != 0 {
        return Err(FormatError::InvalidHeader("channels"));
    }
    let stroke_count = usize::from(r.u16());
    let point_count = r.u32() as usize;
    let width = r.u32();
    let height = r.u32();
    if stroke_count == 0 {
        return Err(FormatError::InvalidHeader("stroke count"));
    }
    if point_count < stroke_count {
        return Err(FormatError::InvalidHeader("point count"));
    }
    if width == 0 || height == 0 {
        return Err(FormatError::InvalidHeader("canvas"));
    }
    for (field, expected) in [
        ("xy scale", XY_SCALE),
        ("t scale", T_SCALE),
        ("f scale", F_SCALE),
        ("tilt scale", TILT_SCALE),
    ] {
        if r.u16() != expected {
            return Err(FormatError::InvalidHeader(field));
        }
    }
    if r.u32() != 0 {
        return Err(FormatError::InvalidHeader("reserved"));
    }
    let needed = point_count
        .checked_mul(record_len(channels))
        .and_then(|n| n.checked_add(HEADER_LEN))
        .ok_or(FormatError::InvalidHeader("point count"))?;
    if bytes.len() < needed {
        return Err(FormatError::Truncated {
            needed,
            len: bytes.len(),
        });
    }
    if bytes.len() > needed {
        return Err(FormatError::TrailingBytes(bytes.len() - needed));
    }

    let xy = f64::from(XY_SCALE);
    let mut strokes: Vec<Stroke> = Vec::with_capacity(stroke_count);
    let mut last_t = 0u32;
    let mut used = 0u8;
    for index in 0..point_count {
        let bad = |reason| Err(FormatError::InvalidRecord { index, reason });
        let x = r.i32();
        let y = r.i32();
        let t = r.u32();
        let status = r.u8();
        let f = if channels & CH_F != 0 {
            Some(r.u16())
        } else {
            None
        };
        let tx = if channels & CH_TX != 0 {
            Some(r.i16())
        } else {
            None
        };
        let ty = if channels & CH_TY != 0 {
            Some(r.i16())
        } else {
            None
        };
        if status & S_DOWN == 0 {
            return bad("tip-down bit clear");
        }
        if status & 0x80 != 0 {
            return bad("reserved status bit set");
        }
        if index == 0 && (t != 0 || status & S_START == 0) {
            return bad("first record must start a stroke at T = 0");
        }
        if t < last_t {
            return bad("time decreases");
        }
        last_t = t;
        let pointer_type = match (status >> S_PTR_SHIFT) & 0b11 {
            0 => PointerType::Pen,
            1 => PointerType::Touch,
            2 => PointerType::Mouse,
            _ => return bad("invalid pointer type"),
        };
        let optional = |sample: Option<i32>, flag: u8| match (sample, status & flag != 0) {
            (None, true) => Err("validity bit set for an absent channel"),
            (Some(v), false) if v != 0 => Err("sample present without validity bit"),
            (Some(v), true) => Ok(Some(v)),
            _ => Ok(None),
        };
        let fv = optional(f.map(i32::from), S_F);
        let txv = optional(tx.map(i32::from), S_TX);
        let tyv = optional(ty.map(i32::from), S_TY);
        let (fv, txv, tyv) = match (fv, txv, tyv) {
            (Ok(a), Ok(b), Ok(c)) => (a, b, c),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return bad(e),
        };
        for v in [txv, tyv].into_iter().flatten() {
            if !(-9000..=9000).contains(&v) {
                return bad("tilt out of range");
            }
        }
        used |= status & (S_F | S_TX | S_TY);
        let point = Point {
            x: f64::from(x) / xy,
            y: f64::from(y) / xy,
            t: f64::from(t) / f64::from(T_SCALE),
            pressure: fv.map(|v| f64::from(v) / f64::from(F_SCALE)),
            tilt_x: txv.map(|v| f64::from(v) / f64::from(TILT_SCALE)),
            tilt_y: tyv.map(|v| f64::from(v) / f64::from(TILT_SCALE)),
        };
        if status & S_START != 0 {
            if strokes.len() == stroke_count {
                return bad("more stroke starts than the header's stroke count");
            }
            strokes.push(Stroke {
                pointer_type,
                points: vec![point],
            });
        } else {
            match strokes.last_mut() {
                Some(s) if s.pointer_type == pointer_type => s.points.push(point),
                _ => return bad("pointer type changes within a stroke"),
            }
        }
    }
    if strokes.len() != stroke_count {
        return Err(FormatError::InvalidHeader("stroke count"));
    }
    // The status validity bits S_F/S_TX/S_TY are the same bits as the channel bits.
    if used != channels & (CH_F | CH_TX | CH_TY) {
        return Err(FormatError::InvalidHeader("channels"));
    }
    let mut pointer_types: Vec<PointerType> = strokes.iter().map(|s| s.pointer_type).collect();
    pointer_types.sort();
    pointer_types.dedup();
    Ok(Submission {
        canvas: Canvas {
            width: f64::from(width) / xy,
            height: f64::from(height) / xy,
        },
        device: Device {
            pointer_types,
            user_agent: None,
            pixel_ratio: None,
        },
        client_started_at_ms: None,
        strokes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::submission::validate;
    use proptest::prelude::*;

    fn sample() -> ValidSignature {
        let s1: Vec<Point> = (0..8)
            .map(|i| Point {
                x: 10.123 + 7.0 * i as f64,
                y: 40.0 + (i as f64).sin() * 5.0,
                t: 5000.25 + 9.5 * i as f64,
                pressure: Some(0.1 * i as f64),
                tilt_x: Some(-45.5),
                tilt_y: None,
            })
            .collect();
        let s2: Vec<Point> = (0..6)
            .map(|i| Point {
                x: 120.0,
                y: 10.0 + 9.0 * i as f64,
                t: 5400.0 + 8.0 * i as f64,
                pressure: None,
                tilt_x: None,
                tilt_y: None,
            })
            .collect();
        validate(&Submission {
            canvas: Canvas {
                width: 300.5,
                height: 100.0,
            },
            device: Device::default(),
            client_started_at_ms: None,
            strokes: vec![
                Stroke {
                    pointer_type: PointerType::Pen,
                    points: s1,
                },
                Stroke {
                    pointer_type: PointerType::Mouse,
                    points: s2,
                },
            ],
        })
        .expect("valid")
    }

    #[test]
    fn header_layout_is_as_documented() {
        let b = encode(&sample()).expect("encode");
        assert_eq!(&b[0..4], b"CSIG");
        assert_eq!(b[4], 1);
        assert_eq!(b[5], 0b0011_1111); // X Y T S F TX
        assert_eq!(&b[6..8], &[0, 2]);
        assert_eq!(&b[8..12], &14u32.to_be_bytes());
        assert_eq!(&b[12..16], &30050u32.to_be_bytes());
        assert_eq!(&b[16..20], &10000u32.to_be_bytes());
        assert_eq!(&b[20..28], &[0, 100, 0x03, 0xe8, 0xff, 0xff, 0, 100]);
        assert_eq!(&b[28..32], &[0, 0, 0, 0]);
        assert_eq!(b.len(), 32 + 14 * 17);
        // First record: x = 10.123 px -> 1012, t = 0, status = down|start|pen|F|TX.
        assert_eq!(&b[32..36], &1012i32.to_be_bytes());
        assert_eq!(&b[40..44], &0u32.to_be_bytes());
        assert_eq!(b[44], 0b0011_0011);
        // Second stroke's first record: mouse, stroke start, no F / TX flags, zero samples.
        let r = 32 + 8 * 17;
        assert_eq!(&b[r + 8..r + 12], &399_750u32.to_be_bytes());
        assert_eq!(b[r + 12], 0b0000_1011);
        assert_eq!(&b[r + 13..r + 17], &[0, 0, 0, 0]);
    }

    #[test]
    fn encoding_is_deterministic_and_canonical() {
        let a = encode(&sample()).expect("encode");
        let b = encode(&sample()).expect("encode");
        assert_eq!(a, b);
        let decoded = decode(&a).expect("decode");
        let again = encode(&validate(&decoded).expect("valid")).expect("encode");
        assert_eq!(again, a);
    }

    #[test]
    fn decoder_rejects_non_canonical_or_broken_input() {
        let good = encode(&sample()).expect("encode");
        type Mutate = Box<dyn Fn(&mut Vec<u8>)>;
        let cases: Vec<(&str, Mutate)> = vec![
            ("magic", Box::new(|b| b[0] = b'X')),
            ("version", Box::new(|b| b[4] = 2)),
            ("missing required channel", Box::new(|b| b[5] &= !1)),
            ("unused channel declared", Box::new(|b| b[5] |= CH_TY)),
            ("scale", Box::new(|b| b[21] = 10)),
            ("reserved", Box::new(|b| b[31] = 1)),
            ("trailing", Box::new(|b| b.push(0))),
            (
                "truncated",
                Box::new(|b| {
                    b.pop();
                }),
            ),
            ("stroke count", Box::new(|b| b[7] = 3)),
            ("first t", Box::new(|b| b[43] = 1)),
            ("tip up", Box::new(|b| b[44] &= !S_DOWN)),
            ("pointer type 3", Box::new(|b| b[44] |= 0b1100)),
            (
                "flag without sample allowed? sample without flag",
                Box::new(|b| {
                    let r = 32 + 8 * 17;
                    b[r + 14] = 1; // pressure sample on a point without pressure
                }),
            ),
            (
                "time decreases",
                Box::new(|b| {
                    let r = 32 + 17;
                    b[r + 8..r + 12].copy_from_slice(&0xffff_ffffu32.to_be_bytes());
                }),
            ),
        ];
        for (name, mutate) in cases {
            let mut b = good.clone();
            mutate(&mut b);
            assert!(decode(&b).is_err(), "{name} accepted");
        }
        assert!(decode(b"").is_err());
        assert!(decode(b"CSIG").is_err());
    }

    #[test]
    fn huge_point_count_is_rejected_without_allocation() {
        let mut b = encode(&sample()).expect("encode");
        b[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(decode(&b), Err(FormatError::Truncated { .. })));
    }

    fn arb_signature() -> impl Strategy<Value = ValidSignature> {
        let point = (
            0.0f64..500.0,
            0.0f64..200.0,
            0.0f64..50.0,
            proptest::option::of(0.0f64..=1.0),
            proptest::option::of(-90.0f64..=90.0),
            proptest::option::of(-90.0f64..=90.0),
        );
        let stroke = (
            prop_oneof![
                Just(PointerType::Pen),
                Just(PointerType::Touch),
                Just(PointerType::Mouse)
            ],
            proptest::collection::vec(point, 1..30),
        );
        (proptest::collection::vec(stroke, 1..6), 0.0f64..1e7).prop_filter_map(
            "too short to be a signature",
            |(strokes, start)| {
                let mut t = start;
                let strokes = strokes
                    .into_iter()
                    .map(|(pointer_type, pts)| Stroke {
                        pointer_type,
                        points: pts
                            .into_iter()
                            .map(|(x, y, dt, pressure, tilt_x, tilt_y)| {
                                t += dt;
                                Point {
                                    x,
                                    y,
                                    t,
                                    pressure,
                                    tilt_x,
                                    tilt_y,
                                }
                            })
                            .collect(),
                    })
                    .collect();
                validate(&Submission {
                    canvas: Canvas {
                        width: 500.0,
                        height: 200.0,
                    },
                    device: Device::default(),
                    client_started_at_ms: None,
                    strokes,
                })
                .ok()
            },
        )
    }

    proptest! {
        #[test]
        fn round_trip_within_quantisation(sig in arb_signature()) {
            let bytes = encode(&sig).expect("encode");
            let back = decode(&bytes).expect("decode");
            prop_assert_eq!(back.strokes.len(), sig.strokes().len());
            let t0 = sig.first_t();
            for (a, b) in sig.strokes().iter().zip(&back.strokes) {
                prop_assert_eq!(a.pointer_type, b.pointer_type);
                prop_assert_eq!(a.points.len(), b.points.len());
                for (p, q) in a.points.iter().zip(&b.points) {
                    prop_assert!((p.x - q.x).abs() <= 0.005 + 1e-9);
                    prop_assert!((p.y - q.y).abs() <= 0.005 + 1e-9);
                    prop_assert!(((p.t - t0) - q.t).abs() <= 0.0005 + 1e-6);
                    prop_assert_eq!(p.pressure.is_some(), q.pressure.is_some());
                    if let (Some(a), Some(b)) = (p.pressure, q.pressure) {
                        prop_assert!((a - b).abs() <= 0.5 / 65535.0 + 1e-12);
                    }
                    for (a, b) in [(p.tilt_x, q.tilt_x), (p.tilt_y, q.tilt_y)] {
                        prop_assert_eq!(a.is_some(), b.is_some());
                        if let (Some(a), Some(b)) = (a, b) {
                            prop_assert!((a - b).abs() <= 0.005 + 1e-9);
                        }
                    }
                }
            }
            // Canonical: decoding and re-encoding reproduces the bytes exactly.
            if let Ok(v) = validate(&back) {
                prop_assert_eq!(encode(&v).expect("encode"), bytes);
            }
        }
    }
}
