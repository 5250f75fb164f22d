//! What the browser pad posts, and the server-side validation of it.
//!
//! The pad records pen-down strokes. Each point carries canvas coordinates in CSS pixels
//! (`x` to the right, `y` **downwards**, origin at the canvas' top-left corner), a timestamp `t`
//! in milliseconds from a monotonic clock (`performance.now()` / `PointerEvent.timeStamp`), and
//! where the hardware reports them, pressure (0..=1) and tilt (−90..=90 degrees, as in
//! `PointerEvent.tiltX` / `tiltY`).
//!
//! [`parse`] turns the posted bytes into a [`Submission`] (strict: unknown fields are rejected);
//! [`validate`] checks every limit and invariant and yields a [`ValidSignature`], the only input
//! the rest of the crate accepts. Nothing the client computed is trusted: the client sends raw
//! samples only, and the dynamics are computed by [`crate::dynamics`].
//!
//! Every rejection is a distinct [`SubmissionError`] variant naming the offending stroke / point
//! index (0-based), with a stable machine-readable [`SubmissionError::code`] for HTTP mapping.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Kind of pointer that drew a stroke, as reported by `PointerEvent.pointerType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointerType {
    /// A stylus / pen.
    Pen,
    /// A finger on a touch screen.
    Touch,
    /// A mouse or track pad.
    Mouse,
}

impl PointerType {
    /// Stable lower-case name (`"pen"`, `"touch"`, `"mouse"`).
    pub fn as_str(self) -> &'static str {
        match self {
            PointerType::Pen => "pen",
            PointerType::Touch => "touch",
            PointerType::Mouse => "mouse",
        }
    }
}

/// One sample of the pen while it is down.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// Horizontal position in CSS pixels, rightwards from the canvas' left edge.
    pub x: f64,
    /// Vertical position in CSS pixels, **downwards** from the canvas' top edge.
    pub y: f64,
    /// Timestamp in milliseconds on the pad's monotonic clock.
    pub t: f64,
    /// Normalised pressure 0..=1, if the hardware reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure: Option<f64>,
    /// Tilt in the X–Z plane, degrees −90..=90, if reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tilt_x: Option<f64>,
    /// Tilt in the Y–Z plane, degrees −90..=90, if reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tilt_y: Option<f64>,
}

/// One pen-down … pen-up stroke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stroke {
    /// Pointer that drew the stroke.
    pub pointer_type: PointerType,
    /// Samples in recording order.
    pub points: Vec<Point>,
}

/// Size of the drawing surface in CSS pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canvas {
    /// Width in CSS pixels.
    pub width: f64,
    /// Height in CSS pixels.
    pub height: f64,
}

/// What the client says about its device. Informational only: recorded in the capture context,
/// never used for computation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Pointer types the client declares it saw.
    #[serde(default)]
    pub pointer_types: Vec<PointerType>,
    /// The browser's user agent string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// `window.devicePixelRatio`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_ratio: Option<f64>,
}

/// The body the browser pad posts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// Drawing surface size.
    pub canvas: Canvas,
    /// Client device description.
    #[serde(default)]
    pub device: Device,
    /// Client wall-clock time (Unix ms) when capture started, as claimed by the client.
    /// Informational; the server's own timestamps are authoritative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_started_at_ms: Option<i64>,
    /// Pen-down strokes in order.
    pub strokes: Vec<Stroke>,
}

/// Limits applied by [`validate_with`]. [`Limits::default`] holds the production values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Maximum size of the posted body in bytes.
    pub max_bytes: usize,
    /// Maximum number of strokes.
    pub max_strokes: usize,
    /// Maximum number of points over all strokes.
    pub max_points: usize,
    /// Maximum time from first to last point, ms.
    pub max_duration_ms: f64,
    /// Maximum canvas side, CSS px.
    pub max_canvas_side: f64,
    /// How far (CSS px) a point may lie outside the canvas (pointer capture continues past the edge).
    pub canvas_margin: f64,
    /// Minimum number of points for something to count as a signature.
    pub min_points: usize,
    /// Minimum total pen-down path length (CSS px) for something to count as a signature.
    pub min_path_length: f64,
    /// Maximum length of free-text device fields (bytes).
    pub max_text_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 2 * 1024 * 1024,
            max_strokes: 64,
            max_points: 20_000,
            max_duration_ms: 120_000.0,
            max_canvas_side: 10_000.0,
            canvas_margin: 16.0,
            min_points: 10,
            min_path_length: 20.0,
            max_text_len: 512,
        }
    }
}

/// Why a submission was rejected. Indices are 0-based; `point` is the index within the stroke.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SubmissionError {
    /// The body exceeds [`Limits::max_bytes`].
    #[error("submission is {len} bytes, more than the limit of {max}")]
    TooLarge {
        /// Body length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The body is not valid JSON of the expected shape.
    #[error("submission is malformed: {message}")]
    Malformed {
        /// Parser message, with line and column.
        message: String,
    },
    /// Canvas size not finite, below 1 px or too large.
    #[error("canvas {field} is {value}; it must be finite, at least 1 and at most {max}")]
    InvalidCanvas {
        /// `"width"` or `"height"`.
        field: &'static str,
        /// The value given.
        value: f64,
        /// Limit.
        max: f64,
    },
    /// A device field is invalid (too long, or non-finite pixel ratio).
    #[error("device field {field} is invalid: {reason}")]
    InvalidDevice {
        /// Field name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// No strokes at all.
    #[error("the signature is empty")]
    EmptySignature,
    /// More strokes than [`Limits::max_strokes`].
    #[error("{count} strokes, more than the limit of {max}")]
    TooManyStrokes {
        /// Number of strokes.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// More points than [`Limits::max_points`].
    #[error("{count} points, more than the limit of {max}")]
    TooManyPoints {
        /// Number of points.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// A stroke without points.
    #[error("stroke {stroke} has no points")]
    EmptyStroke {
        /// Stroke index.
        stroke: usize,
    },
    /// A number is NaN or infinite.
    #[error("stroke {stroke} point {point}: {field} is not a finite number")]
    NonFinite {
        /// Stroke index.
        stroke: usize,
        /// Point index within the stroke.
        point: usize,
        /// Field name.
        field: &'static str,
    },
    /// A timestamp is negative.
    #[error("stroke {stroke} point {point}: time {t} ms is negative")]
    NegativeTime {
        /// Stroke index.
        stroke: usize,
        /// Point index within the stroke.
        point: usize,
        /// The timestamp.
        t: f64,
    },
    /// A timestamp is earlier than the one before it (within a stroke or across strokes).
    #[error(
        "stroke {stroke} point {point}: time {t} ms is earlier than the previous {previous} ms"
    )]
    NonMonotonicTime {
        /// Stroke index.
        stroke: usize,
        /// Point index within the stroke.
        point: usize,
        /// Previous timestamp.
        previous: f64,
        /// This timestamp.
        t: f64,
    },
    /// First to last point takes longer than [`Limits::max_duration_ms`].
    #[error("signature lasts {duration_ms} ms, more than the limit of {max_ms} ms")]
    DurationTooLong {
        /// Duration.
        duration_ms: f64,
        /// Limit.
        max_ms: f64,
    },
    /// A point lies outside the canvas plus margin.
    #[error("stroke {stroke} point {point}: ({x}, {y}) lies outside the canvas")]
    OutsideCanvas {
        /// Stroke index.
        stroke: usize,
        /// Point index within the stroke.
        point: usize,
        /// x.
        x: f64,
        /// y.
        y: f64,
    },
    /// Pressure outside 0..=1.
    #[error("stroke {stroke} point {point}: pressure {value} is outside 0..=1")]
    PressureOutOfRange {
        /// Stroke index.
        stroke: usize,
        /// Point index within the stroke.
        point: usize,
        /// The value.
        value: f64,
    },
    /// Tilt outside −90..=90 degrees.
    #[error("stroke {stroke} point {point}: {field} {value} is outside -90..=90")]
    TiltOutOfRange {
        /// Stroke index.
        stroke: usize,
        /// Point index within the stroke.
        point: usize,
        /// `"tilt_x"` or `"tilt_y"`.
        field: &'static str,
        /// The value.
        value: f64,
    },
    /// Fewer points than [`Limits::min_points`].
    #[error("only {count} points; a signature needs at least {min}")]
    TooFewPoints {
        /// Number of points.
        count: usize,
        /// Limit.
        min: usize,
    },
    /// Total path shorter than [`Limits::min_path_length`].
    #[error("the pen travelled only {length} px; a signature needs at least {min} px")]
    PathTooShort {
        /// Path length in CSS px.
        length: f64,
        /// Limit.
        min: f64,
    },
}

impl SubmissionError {
    /// Stable machine-readable code, for HTTP error bodies. Never changes between versions.
    pub fn code(&self) -> &'static str {
        match self {
            SubmissionError::TooLarge { .. } => "submission_too_large",
            SubmissionError::Malformed { .. } => "submission_malformed",
            SubmissionError::InvalidCanvas { .. } => "canvas_invalid",
            SubmissionError::InvalidDevice { .. } => "device_invalid",
            SubmissionError::EmptySignature => "signature_empty",
            SubmissionError::TooManyStrokes { .. } => "too_many_strokes",
            SubmissionError::TooManyPoints { .. } => "too_many_points",
            SubmissionError::EmptyStroke { .. } => "stroke_empty",
            SubmissionError::NonFinite { .. } => "number_not_finite",
            SubmissionError::NegativeTime { .. } => "time_negative",
            SubmissionError::NonMonotonicTime { .. } => "time_not_monotonic",
            SubmissionError::DurationTooLong { .. } => "duration_too_long",
            SubmissionError::OutsideCanvas { .. } => "point_outside_canvas",
            SubmissionError::PressureOutOfRange { .. } => "pressure_out_of_range",
            SubmissionError::TiltOutOfRange { .. } => "tilt_out_of_range",
            SubmissionError::TooFewPoints { .. } => "signature_too_few_points",
            SubmissionError::PathTooShort { .. } => "signature_too_short",
        }
    }
}

/// A submission that passed every check of [`validate`]. Only [`validate`] / [`validate_with`]
/// construct it, so holding one is proof the data is within limits, finite and time-ordered.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSignature {
    canvas: Canvas,
    device: Device,
    client_started_at_ms: Option<i64>,
    strokes: Vec<Stroke>,
    point_count: usize,
}

impl ValidSignature {
    /// Canvas size, CSS px.
    pub fn canvas(&self) -> Canvas {
        self.canvas
    }
    /// Client-declared device description (informational).
    pub fn device(&self) -> &Device {
        &self.device
    }
    /// Client-claimed capture start (Unix ms), informational.
    pub fn client_started_at_ms(&self) -> Option<i64> {
        self.client_started_at_ms
    }
    /// The strokes, each non-empty, times non-decreasing throughout.
    pub fn strokes(&self) -> &[Stroke] {
        &self.strokes
    }
    /// Number of points over all strokes.
    pub fn point_count(&self) -> usize {
        self.point_count
    }
    /// Pointer types actually used by the strokes (sorted, without duplicates), as observed by
    /// the server rather than declared by the client.
    pub fn pointer_types(&self) -> Vec<PointerType> {
        let mut types: Vec<PointerType> = self.strokes.iter().map(|s| s.pointer_type).collect();
        types.sort();
        types.dedup();
        types
    }
    /// Timestamp of the first point (ms, pad clock).
    pub fn first_t(&self) -> f64 {
        self.strokes
            .first()
            .and_then(|s| s.points.first())
            .map_or(0.0, |p| p.t)
    }
    /// Timestamp of the last point (ms, pad clock).
    pub fn last_t(&self) -> f64 {
        self.strokes
            .last()
            .and_then(|s| s.points.last())
            .map_or(0.0, |p| p.t)
    }
}

/// Parse the posted JSON body with the default [`Limits`].
pub fn parse(bytes: &[u8]) -> Result<Submission, SubmissionError> {
    parse_with(bytes, &Limits::default())
}

/// Parse the posted JSON body. Rejects bodies over [`Limits::max_bytes`] before parsing, and
/// unknown fields anywhere. Nesting depth is bounded by `serde_json`'s recursion limit.
pub fn parse_with(bytes: &[u8], limits: &Limits) -> Result<Submission, SubmissionError> {
    if bytes.len() > limits.max_bytes {
        return Err(SubmissionError::TooLarge {
            len: bytes.len(),
            max: limits.max_bytes,
        });
    }
    // A key twice would be read differently by different parsers: refused, naming its path.
    // Number spellings are free here (the pad's `JSON.stringify` writes `400` for 400.0); the
    // values are quantised into the canonical CSIG/1 series.
    let read = crate::strict::read(bytes).map_err(|e| SubmissionError::Malformed {
        message: e.to_string(),
    })?;
    if let Some(dup) = read
        .faults
        .iter()
        .find(|f| f.fault == crate::strict::StrictFault::DuplicateKey)
    {
        return Err(SubmissionError::Malformed {
            message: dup.to_string(),
        });
    }
    serde_json::from_slice(bytes).map_err(|e| SubmissionError::Malformed {
        message: e.to_string(),
    })
}

/// Validate with the default [`Limits`].
pub fn validate(submission: &Submission) -> Result<ValidSignature, SubmissionError> {
    validate_with(submission, &Limits::default())
}

/// Validate a submission. Checks run in this order, and the first failure is returned:
/// canvas, device fields, stroke count, empty strokes, point count, then per point in recording
/// order (finite numbers, negative time, monotonic time, canvas bounds, pressure, tilt), then
/// duration, minimum point count and minimum path length.
pub fn validate_with(
    submission: &Submission,
    limits: &Limits,
) -> Result<ValidSignature, SubmissionError> {
    for (field, value) in [
        ("width", submission.canvas.width),
        ("height", submission.canvas.height),
    ] {
        if !value.is_finite() || value < 1.0 || value > limits.max_canvas_side {
            return Err(SubmissionError::InvalidCanvas {
                field,
                value,
                max: limits.max_canvas_side,
            });
        }
    }
    if let Some(ua) = &submission.device.user_agent {
        if ua.len() > limits.max_text_len {
            return Err(SubmissionError::InvalidDevice {
                field: "user_agent",
                reason: format!("{} bytes, more than {}", ua.len(), limits.max_text_len),
            });
        }
        if ua.chars().any(char::is_control) {
            return Err(SubmissionError::InvalidDevice {
                field: "user_agent",
                reason: "contains control characters".into(),
            });
        }
    }
    if let Some(ratio) = submission.device.pixel_ratio {
        if !ratio.is_finite() || ratio <= 0.0 || ratio > 64.0 {
            return Err(SubmissionError::InvalidDevice {
                field: "pixel_ratio",
                reason: format!("{ratio} is not a finite value in (0, 64]"),
            });
        }
    }
    if submission.device.pointer_types.len() > 16 {
        return Err(SubmissionError::InvalidDevice {
            field: "pointer_types",
            reason: "too many entries".into(),
        });
    }

    let strokes = &submission.strokes;
    if strokes.is_empty() {
        return Err(SubmissionError::EmptySignature);
    }
    if strokes.len() > limits.max_strokes {
        return Err(SubmissionError::TooManyStrokes {
            count: strokes.len(),
            max: limits.max_strokes,
        });
    }
    let mut point_count = 0usize;
    for (i, stroke) in strokes.iter().enumerate() {
        if stroke.points.is_empty() {
            return Err(SubmissionError::EmptyStroke { stroke: i });
        }
        point_count = point_count.saturating_add(stroke.points.len());
    }
    if point_count > limits.max_points {
        return Err(SubmissionError::TooManyPoints {
            count: point_count,
            max: limits.max_points,
        });
    }

    let (min_x, min_y) = (-limits.canvas_margin, -limits.canvas_margin);
    let max_x = submission.canvas.width + limits.canvas_margin;
    let max_y = submission.canvas.height + limits.canvas_margin;
    let mut previous_t: Option<f64> = None;
    let mut path_length = 0.0f64;
    for (si, stroke) in strokes.iter().enumerate() {
        let mut previous_point: Option<&Point> = None;
        for (pi, p) in stroke.points.iter().enumerate() {
            let numbers = [
                ("x", Some(p.x)),
                ("y", Some(p.y)),
                ("t", Some(p.t)),
                ("pressure", p.pressure),
                ("tilt_x", p.tilt_x),
                ("tilt_y", p.tilt_y),
            ];
            for (field, value) in numbers {
                if let Some(v) = value {
                    if !v.is_finite() {
                        return Err(SubmissionError::NonFinite {
                            stroke: si,
                            point: pi,
                            field,
                        });
                    }
                }
            }
            if p.t < 0.0 {
                return Err(SubmissionError::NegativeTime {
                    stroke: si,
                    point: pi,
                    t: p.t,
                });
            }
            if let Some(prev) = previous_t {
                if p.t < prev {
                    return Err(SubmissionError::NonMonotonicTime {
                        stroke: si,
                        point: pi,
                        previous: prev,
                        t: p.t,
                    });
                }
            }
            previous_t = Some(p.t);
            if p.x < min_x || p.x > max_x || p.y < min_y || p.y > max_y {
                return Err(SubmissionError::OutsideCanvas {
                    stroke: si,
                    point: pi,
                    x: p.x,
                    y: p.y,
                });
            }
            if let Some(value) = p.pressure {
                if !(0.0..=1.0).contains(&value) {
                    return Err(SubmissionError::PressureOutOfRange {
                        stroke: si,
                        point: pi,
                        value,
                    });
                }
            }
            for (field, tilt) in [("tilt_x", p.tilt_x), ("tilt_y", p.tilt_y)] {
                if let Some(value) = tilt {
                    if !(-90.0..=90.0).contains(&value) {
                        return Err(SubmissionError::TiltOutOfRange {
                            stroke: si,
                            point: pi,
                            field,
                            value,
                        });
                    }
                }
            }
            if let Some(q) = previous_point {
                path_length += (p.x - q.x).hypot(p.y - q.y);
            }
            previous_point = Some(p);
        }
    }

    // Non-empty strokes were checked above, so first/last exist; map_or keeps this panic-free.
    let first_t = strokes
        .first()
        .and_then(|s| s.points.first())
        .map_or(0.0, |p| p.t);
    let last_t = strokes
        .last()
        .and_then(|s| s.points.last())
        .map_or(0.0, |p| p.t);
    let duration_ms = last_t - first_t;
    if duration_ms > limits.max_duration_ms {
        return Err(SubmissionError::DurationTooLong {
            duration_ms,
            max_ms: limits.max_duration_ms,
        });
    }
    if point_count < limits.min_points {
        return Err(SubmissionError::TooFewPoints {
            count: point_count,
            min: limits.min_points,
        });
    }
    if path_length < limits.min_path_length {
        return Err(SubmissionError::PathTooShort {
            length: path_length,
            min: limits.min_path_length,
        });
    }

    Ok(ValidSignature {
        canvas: submission.canvas,
        device: submission.device.clone(),
        client_started_at_ms: submission.client_started_at_ms,
        strokes: strokes.clone(),
        point_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(x: f64, y: f64, t: f64) -> Point {
        Point {
            x,
            y,
            t,
            pressure: None,
            tilt_x: None,
            tilt_y: None,
        }
    }

    /// A plausible two-stroke signature: 12 points, 110 px of path.
    fn good() -> Submission {
        let s1 = (0..6).map(|i| pt(10.0 + 10.0 * i as f64, 50.0, 100.0 + 8.0 * i as f64));
        let s2 = (0..6).map(|i| pt(100.0, 20.0 + 12.0 * i as f64, 300.0 + 8.0 * i as f64));
        Submission {
            canvas: Canvas {
                width: 400.0,
                height: 150.0,
            },
            device: Device {
                pointer_types: vec![PointerType::Pen],
                user_agent: Some("Test/1.0".into()),
                pixel_ratio: Some(2.0),
            },
            client_started_at_ms: Some(1_700_000_000_000),
            strokes: vec![
                Stroke {
                    pointer_type: PointerType::Pen,
                    points: s1.collect(),
                },
                Stroke {
                    pointer_type: PointerType::Pen,
                    points: s2.collect(),
                },
            ],
        }
    }

    fn err(mutate: impl FnOnce(&mut Submission)) -> SubmissionError {
        let mut s = good();
        mutate(&mut s);
        match validate(&s) {
            Err(e) => e,
            Ok(_) => panic!("expected a validation error"),
        }
    }

    #[test]
    fn good_submission_validates_and_round_trips_json() {
        let s = good();
        let v = validate(&s).expect("valid");
        assert_eq!(v.point_count(), 12);
        assert_eq!(v.pointer_types(), vec![PointerType::Pen]);
        let json = serde_json::to_vec(&s).expect("serialise");
        assert_eq!(parse(&json).expect("parse"), s);
    }

    #[test]
    fn parse_rejects_unknown_fields_everywhere() {
        let base = r#"{"canvas":{"width":10,"height":10},"strokes":[{"pointer_type":"pen","points":[{"x":1,"y":1,"t":0}]}]}"#;
        assert!(parse(base.as_bytes()).is_ok());
        for bad in [
            r#"{"canvas":{"width":10,"height":10},"strokes":[],"speed":3}"#,
            r#"{"canvas":{"width":10,"height":10,"d":1},"strokes":[]}"#,
            r#"{"canvas":{"width":10,"height":10},"strokes":[{"pointer_type":"pen","points":[],"v":1}]}"#,
            r#"{"canvas":{"width":10,"height":10},"strokes":[{"pointer_type":"pen","points":[{"x":1,"y":1,"t":0,"speed":2}]}]}"#,
            r#"{"canvas":{"width":10,"height":10},"strokes":[{"pointer_type":"eraser","points":[]}]}"#,
        ] {
            let e = parse(bad.as_bytes()).expect_err(bad);
            assert_eq!(e.code(), "submission_malformed", "{bad}");
        }
    }

    #[test]
    fn parse_rejects_oversized_body_before_parsing() {
        let limits = Limits {
            max_bytes: 8,
            ..Limits::default()
        };
        let e = parse_with(b"{\"canvas\": 1}", &limits).expect_err("too large");
        assert_eq!(e, SubmissionError::TooLarge { len: 13, max: 8 });
        assert_eq!(e.code(), "submission_too_large");
    }

    #[test]
    fn each_rule_has_its_own_error_naming_the_location() {
        assert!(matches!(
            err(|s| s.canvas.width = f64::NAN),
            SubmissionError::InvalidCanvas { field: "width", .. }
        ));
        assert!(matches!(
            err(|s| s.canvas.height = 0.0),
            SubmissionError::InvalidCanvas {
                field: "height",
                ..
            }
        ));
        assert!(matches!(
            err(|s| s.device.user_agent = Some("x".repeat(600))),
            SubmissionError::InvalidDevice {
                field: "user_agent",
                ..
            }
        ));
        assert_eq!(err(|s| s.strokes.clear()), SubmissionError::EmptySignature);
        assert_eq!(
            err(|s| {
                let stroke = s.strokes[0].clone();
                s.strokes = vec![stroke; 65];
            }),
            SubmissionError::TooManyStrokes { count: 65, max: 64 }
        );
        assert_eq!(
            err(|s| s.strokes[1].points.clear()),
            SubmissionError::EmptyStroke { stroke: 1 }
        );
        assert_eq!(
            err(|s| {
                let p = s.strokes[1].points[5];
                s.strokes[1].points.extend(std::iter::repeat_n(p, 20_000));
            }),
            SubmissionError::TooManyPoints {
                count: 20_012,
                max: 20_000
            }
        );
        assert_eq!(
            err(|s| s.strokes[1].points[2].y = f64::INFINITY),
            SubmissionError::NonFinite {
                stroke: 1,
                point: 2,
                field: "y"
            }
        );
        assert_eq!(
            err(|s| s.strokes[0].points[3].pressure = Some(f64::NAN)),
            SubmissionError::NonFinite {
                stroke: 0,
                point: 3,
                field: "pressure"
            }
        );
        assert!(matches!(
            err(|s| s.strokes[0].points[0].t = -1.0),
            SubmissionError::NegativeTime {
                stroke: 0,
                point: 0,
                ..
            }
        ));
        assert_eq!(
            err(|s| s.strokes[0].points[4].t = 50.0),
            SubmissionError::NonMonotonicTime {
                stroke: 0,
                point: 4,
                previous: 124.0,
                t: 50.0
            }
        );
        // Across strokes: stroke 1 starts before stroke 0 ends.
        assert_eq!(
            err(|s| {
                for p in &mut s.strokes[1].points {
                    p.t -= 250.0;
                }
            }),
            SubmissionError::NonMonotonicTime {
                stroke: 1,
                point: 0,
                previous: 140.0,
                t: 50.0
            }
        );
        assert!(matches!(
            err(|s| s.strokes[1].points[5].t = 200_000.0),
            SubmissionError::DurationTooLong { .. }
        ));
        assert!(matches!(
            err(|s| s.strokes[0].points[1].x = 400.0 + 17.0),
            SubmissionError::OutsideCanvas {
                stroke: 0,
                point: 1,
                ..
            }
        ));
        assert!(matches!(
            err(|s| s.strokes[0].points[1].y = -16.5),
            SubmissionError::OutsideCanvas { .. }
        ));
        assert_eq!(
            err(|s| s.strokes[0].points[2].pressure = Some(1.01)),
            SubmissionError::PressureOutOfRange {
                stroke: 0,
                point: 2,
                value: 1.01
            }
        );
        assert_eq!(
            err(|s| s.strokes[1].points[0].tilt_y = Some(-91.0)),
            SubmissionError::TiltOutOfRange {
                stroke: 1,
                point: 0,
                field: "tilt_y",
                value: -91.0
            }
        );
        assert_eq!(
            err(|s| {
                s.strokes.truncate(1);
                s.strokes[0].points.truncate(5);
            }),
            SubmissionError::TooFewPoints { count: 5, min: 10 }
        );
        assert!(matches!(
            err(|s| {
                for stroke in &mut s.strokes {
                    for p in &mut stroke.points {
                        p.x = 100.0;
                        p.y = 50.0;
                    }
                }
            }),
            SubmissionError::PathTooShort { .. }
        ));
    }

    #[test]
    fn margin_allows_points_just_outside_the_canvas() {
        let mut s = good();
        s.strokes[0].points[0].x = -15.9;
        s.strokes[0].points[1].y = 150.0 + 15.9;
        assert!(validate(&s).is_ok());
    }

    #[test]
    fn equal_timestamps_are_allowed() {
        let mut s = good();
        s.strokes[0].points[1].t = s.strokes[0].points[0].t;
        s.strokes[1].points[0].t = s.strokes[0].points[5].t;
        assert!(validate(&s).is_ok());
    }

    #[test]
    fn error_codes_are_distinct() {
        let errors = [
            SubmissionError::TooLarge { len: 0, max: 0 },
            SubmissionError::Malformed {
                message: String::new(),
            },
            SubmissionError::InvalidCanvas {
                field: "width",
                value: 0.0,
                max: 0.0,
            },
            SubmissionError::InvalidDevice {
                field: "user_agent",
                reason: String::new(),
            },
            SubmissionError::EmptySignature,
            SubmissionError::TooManyStrokes { count: 0, max: 0 },
            SubmissionError::TooManyPoints { count: 0, max: 0 },
            SubmissionError::EmptyStroke { stroke: 0 },
            SubmissionError::NonFinite {
                stroke: 0,
                point: 0,
                field: "x",
            },
            SubmissionError::NegativeTime {
                stroke: 0,
                point: 0,
                t: 0.0,
            },
            SubmissionError::NonMonotonicTime {
                stroke: 0,
                point: 0,
                previous: 0.0,
                t: 0.0,
            },
            SubmissionError::DurationTooLong {
                duration_ms: 0.0,
                max_ms: 0.0,
            },
            SubmissionError::OutsideCanvas {
                stroke: 0,
                point: 0,
                x: 0.0,
                y: 0.0,
            },
            SubmissionError::PressureOutOfRange {
                stroke: 0,
                point: 0,
                value: 0.0,
            },
            SubmissionError::TiltOutOfRange {
                stroke: 0,
                point: 0,
                field: "tilt_x",
                value: 0.0,
            },
            SubmissionError::TooFewPoints { count: 0, min: 0 },
            SubmissionError::PathTooShort {
                length: 0.0,
                min: 0.0,
            },
        ];
        let mut codes: Vec<&str> = errors.iter().map(SubmissionError::code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
    }
}
