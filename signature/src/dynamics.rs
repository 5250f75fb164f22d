//! Stroke dynamics, computed by the server from the raw samples of a [`ValidSignature`].
//!
//! Conventions:
//! * Coordinates are canvas CSS pixels with **y pointing down** (screen convention).
//! * Times are milliseconds; every reported time is **relative to the first point** of the
//!   signature (the pad clock's origin is meaningless outside the capture session).
//! * A *segment* joins two consecutive points of the same stroke.
//! * `direction` is `atan2(dy, dx)` in radians in (−π, π], computed in screen coordinates:
//!   0 = rightwards, +π/2 = **downwards**, ±π = leftwards, −π/2 = upwards. It is `None` for a
//!   segment of zero length.
//! * `speed` = distance / dt in px/ms; `None` when dt = 0 (coalesced events with equal stamps).
//! * `acceleration` of segment *i* (i > 0 within a stroke) is the change of speed between
//!   segment *i−1* and *i* divided by the time between their midpoints,
//!   `(v_i − v_{i−1}) / ((dt_{i−1} + dt_i) / 2)`, in px/ms². `None` for a stroke's first segment
//!   or when either speed is undefined.
//! * A *pause* is the pen-up gap between the last point of one stroke and the first of the next.

use serde::Serialize;

use crate::submission::ValidSignature;

/// One segment between consecutive points of a stroke.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Segment {
    /// Stroke index.
    pub stroke: usize,
    /// Index within the stroke of the segment's first point.
    pub index: usize,
    /// Start time, ms relative to the first point of the signature.
    pub start_ms: f64,
    /// Duration, ms.
    pub dt_ms: f64,
    /// Displacement in x, px.
    pub dx: f64,
    /// Displacement in y, px (positive = downwards).
    pub dy: f64,
    /// Euclidean length, px.
    pub distance: f64,
    /// Writing direction, radians, `atan2(dy, dx)` with y down; `None` for zero length.
    pub direction: Option<f64>,
    /// Speed, px/ms; `None` if `dt_ms` is 0.
    pub speed: Option<f64>,
    /// Acceleration, px/ms²; `None` for a stroke's first segment or undefined speeds.
    pub acceleration: Option<f64>,
}

/// A pen-up gap between two strokes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pause {
    /// Index of the stroke before the gap.
    pub after_stroke: usize,
    /// Start of the gap (pen up), ms relative to the first point.
    pub start_ms: f64,
    /// Length of the gap, ms.
    pub duration_ms: f64,
}

/// Per-stroke summary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StrokeSummary {
    /// Pen-down time, ms relative to the first point.
    pub start_ms: f64,
    /// Pen-up time, ms relative to the first point.
    pub end_ms: f64,
    /// Number of points.
    pub points: usize,
    /// Path length, px.
    pub path_length: f64,
}

/// Everything computed from the samples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dynamics {
    /// Number of strokes.
    pub stroke_count: usize,
    /// Number of points.
    pub point_count: usize,
    /// First to last point, ms.
    pub total_time_ms: f64,
    /// Sum of the strokes' durations (pen down), ms.
    pub writing_time_ms: f64,
    /// Sum of the pauses (pen up), ms. `writing_time_ms + pause_time_ms == total_time_ms`.
    pub pause_time_ms: f64,
    /// Total pen-down path length, px.
    pub path_length: f64,
    /// `path_length / writing_time_ms`, px/ms; `None` if writing time is 0.
    pub mean_speed: Option<f64>,
    /// Largest defined segment speed, px/ms.
    pub max_speed: Option<f64>,
    /// Largest defined absolute acceleration, px/ms².
    pub max_abs_acceleration: Option<f64>,
    /// Per-stroke summaries.
    pub strokes: Vec<StrokeSummary>,
    /// Pen-up gaps.
    pub pauses: Vec<Pause>,
    /// Segments in order.
    pub segments: Vec<Segment>,
}

fn max_opt(acc: Option<f64>, v: f64) -> Option<f64> {
    Some(acc.map_or(v, |a| a.max(v)))
}

/// Compute the dynamics of a validated signature. Pure and deterministic.
pub fn compute(signature: &ValidSignature) -> Dynamics {
    let t0 = signature.first_t();
    let strokes = signature.strokes();
    let mut segments = Vec::with_capacity(signature.point_count());
    let mut pauses = Vec::new();
    let mut summaries = Vec::with_capacity(strokes.len());
    let mut path_length = 0.0;
    let mut writing_time_ms = 0.0;
    let mut max_speed = None;
    let mut max_abs_acceleration = None;

    for (si, stroke) in strokes.iter().enumerate() {
        let mut stroke_length = 0.0;
        let mut previous: Option<Segment> = None;
        for (i, pair) in stroke.points.windows(2).enumerate() {
            let (a, b) = (pair[0], pair[1]);
            let (dx, dy, dt) = (b.x - a.x, b.y - a.y, b.t - a.t);
            let distance = dx.hypot(dy);
            let direction = (distance > 0.0).then(|| dy.atan2(dx));
            let speed = (dt > 0.0).then(|| distance / dt);
            let acceleration = match (previous, speed) {
                (Some(prev), Some(v)) => match prev.speed {
                    Some(pv) => {
                        let between = (prev.dt_ms + dt) / 2.0;
                        (between > 0.0).then(|| (v - pv) / between)
                    }
                    None => None,
                },
                _ => None,
            };
            let segment = Segment {
                stroke: si,
                index: i,
                start_ms: a.t - t0,
                dt_ms: dt,
                dx,
                dy,
                distance,
                direction,
                speed,
                acceleration,
            };
            if let Some(v) = speed {
                max_speed = max_opt(max_speed, v);
            }
            if let Some(acc) = acceleration {
                max_abs_acceleration = max_opt(max_abs_acceleration, acc.abs());
            }
            stroke_length += distance;
            segments.push(segment);
            previous = Some(segment);
        }
        // Strokes are non-empty (ValidSignature invariant); map_or keeps this panic-free.
        let start = stroke.points.first().map_or(t0, |p| p.t);
        let end = stroke.points.last().map_or(t0, |p| p.t);
        writing_time_ms += end - start;
        path_length += stroke_length;
        summaries.push(StrokeSummary {
            start_ms: start - t0,
            end_ms: end - t0,
            points: stroke.points.len(),
            path_length: stroke_length,
        });
        if let Some(next) = strokes.get(si + 1).and_then(|s| s.points.first()) {
            pauses.push(Pause {
                after_stroke: si,
                start_ms: end - t0,
                duration_ms: next.t - end,
            });
        }
    }

    let total_time_ms = signature.last_t() - t0;
    Dynamics {
        stroke_count: strokes.len(),
        point_count: signature.point_count(),
        total_time_ms,
        writing_time_ms,
        pause_time_ms: pauses.iter().map(|p| p.duration_ms).sum(),
        path_length,
        mean_speed: (writing_time_ms > 0.0).then(|| path_length / writing_time_ms),
        max_speed,
        max_abs_acceleration,
        strokes: summaries,
        pauses,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::submission::{validate, Canvas, Device, Point, PointerType, Stroke, Submission};
    use proptest::prelude::*;
    use std::f64::consts::PI;

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

    fn sig(strokes: Vec<Vec<Point>>) -> ValidSignature {
        let s = Submission {
            canvas: Canvas {
                width: 2000.0,
                height: 2000.0,
            },
            device: Device::default(),
            client_started_at_ms: None,
            strokes: strokes
                .into_iter()
                .map(|points| Stroke {
                    pointer_type: PointerType::Pen,
                    points,
                })
                .collect(),
        };
        validate(&s).expect("synthetic signature is valid")
    }

    /// Angle difference folded into [0, π].
    fn angle_diff(a: f64, b: f64) -> f64 {
        let d = (a - b).rem_euclid(2.0 * PI);
        d.min(2.0 * PI - d)
    }

    #[test]
    fn direction_convention_is_screen_coordinates_y_down() {
        let right: Vec<Point> = (0..11)
            .map(|i| pt(100.0 + 5.0 * i as f64, 100.0, i as f64))
            .collect();
        let down: Vec<Point> = (0..11)
            .map(|i| pt(300.0, 100.0 + 5.0 * i as f64, 20.0 + i as f64))
            .collect();
        let left: Vec<Point> = (0..11)
            .map(|i| pt(600.0 - 5.0 * i as f64, 100.0, 40.0 + i as f64))
            .collect();
        let up: Vec<Point> = (0..11)
            .map(|i| pt(800.0, 300.0 - 5.0 * i as f64, 60.0 + i as f64))
            .collect();
        let d = compute(&sig(vec![right, down, left, up]));
        let dir = |stroke: usize| {
            d.segments
                .iter()
                .find(|s| s.stroke == stroke)
                .and_then(|s| s.direction)
        };
        assert_eq!(dir(0), Some(0.0));
        assert_eq!(dir(1), Some(PI / 2.0));
        assert_eq!(dir(2), Some(PI));
        assert_eq!(dir(3), Some(-PI / 2.0));
    }

    #[test]
    fn known_answer_two_strokes() {
        // Stroke 0: 3-4-5 triangle steps, 10 ms each -> 0.5 px/ms; stroke 1 after a 250 ms gap.
        let s0: Vec<Point> = (0..6)
            .map(|i| {
                pt(
                    100.0 + 3.0 * i as f64,
                    100.0 + 4.0 * i as f64,
                    1000.0 + 10.0 * i as f64,
                )
            })
            .collect();
        let s1: Vec<Point> = (0..6)
            .map(|i| pt(500.0, 500.0 - 6.0 * i as f64, 1300.0 + 12.0 * i as f64))
            .collect();
        let d = compute(&sig(vec![s0, s1]));
        assert_eq!(d.stroke_count, 2);
        assert_eq!(d.point_count, 12);
        assert_eq!(d.segments.len(), 10);
        assert_eq!(d.total_time_ms, 360.0);
        assert_eq!(d.writing_time_ms, 50.0 + 60.0);
        assert_eq!(d.pause_time_ms, 250.0);
        assert_eq!(
            d.pauses,
            vec![Pause {
                after_stroke: 0,
                start_ms: 50.0,
                duration_ms: 250.0
            }]
        );
        assert_eq!(d.path_length, 25.0 + 30.0);
        assert_eq!(d.mean_speed, Some(55.0 / 110.0));
        assert_eq!(d.max_speed, Some(0.5));
        assert_eq!(d.segments[0].speed, Some(0.5));
        assert_eq!(d.segments[0].acceleration, None);
        assert_eq!(d.segments[1].acceleration, Some(0.0));
        assert_eq!(d.segments[5].stroke, 1);
        assert_eq!(d.segments[5].start_ms, 300.0);
        assert_eq!(d.segments[5].acceleration, None);
        assert_eq!(d.strokes[1].start_ms, 300.0);
        assert_eq!(d.strokes[1].end_ms, 360.0);
    }

    #[test]
    fn acceleration_known_answer() {
        // Distances 1, 2, 3 ... px per 10 ms: speed rises by 0.1 px/ms every 10 ms -> 0.01 px/ms².
        let mut x = 100.0;
        let mut points = vec![pt(x, 100.0, 0.0)];
        for i in 1..=10 {
            x += i as f64;
            points.push(pt(x, 100.0, 10.0 * i as f64));
        }
        let d = compute(&sig(vec![points]));
        for s in &d.segments[1..] {
            let a = s.acceleration.expect("defined");
            assert!((a - 0.01).abs() < 1e-12, "{a}");
        }
    }

    #[test]
    fn zero_dt_and_zero_length_segments_are_undefined_not_infinite() {
        let mut points: Vec<Point> = (0..12)
            .map(|i| pt(100.0 + 5.0 * i as f64, 100.0, 10.0 * i as f64))
            .collect();
        points[3].t = points[2].t; // coalesced event
        points[6].x = points[5].x; // pen at rest
        let d = compute(&sig(vec![points]));
        assert_eq!(d.segments[2].speed, None);
        assert_eq!(d.segments[2].acceleration, None);
        assert_eq!(d.segments[3].acceleration, None);
        assert_eq!(d.segments[5].direction, None);
        assert_eq!(d.segments[5].speed, Some(0.0));
        assert!(d.max_speed.is_some_and(f64::is_finite));
    }

    proptest! {
        #[test]
        fn constant_speed_line_has_exact_speed_direction_and_zero_acceleration(
            theta in -PI..PI,
            speed in 0.05f64..3.0,
            length in 20.0f64..900.0,
            n in 10usize..80,
            t0 in 0.0f64..1e6,
        ) {
            // A straight line of `length` px from the canvas centre, drawn at constant speed.
            let step = length / (n as f64 - 1.0);
            let dt = step / speed;
            let points: Vec<Point> = (0..n)
                .map(|i| {
                    let k = i as f64;
                    pt(1000.0 + k * step * theta.cos(), 1000.0 + k * step * theta.sin(), t0 + k * dt)
                })
                .collect();
            let d = compute(&sig(vec![points]));
            prop_assert_eq!(d.segments.len(), n - 1);
            for s in &d.segments {
                let v = s.speed.expect("dt > 0");
                prop_assert!((v - speed).abs() < 1e-6 * speed.max(1.0), "speed {} vs {}", v, speed);
                let dir = s.direction.expect("moving");
                prop_assert!(angle_diff(dir, theta) < 1e-6, "direction {} vs {}", dir, theta);
                if let Some(a) = s.acceleration {
                    prop_assert!(a.abs() < 1e-6, "acceleration {}", a);
                }
            }
            let total = (n as f64 - 1.0) * dt;
            prop_assert!((d.total_time_ms - total).abs() < 1e-6 * total.max(1.0));
            prop_assert!((d.path_length - step * (n as f64 - 1.0)).abs() < 1e-6 * d.path_length);
            prop_assert!((d.mean_speed.expect("writing") - speed).abs() < 1e-6 * speed.max(1.0));
            prop_assert!(d.pauses.is_empty());
        }

        #[test]
        fn known_pauses_between_strokes_are_recovered(
            gaps in proptest::collection::vec(0.0f64..2000.0, 1..8),
            stroke_ms in 20.0f64..400.0,
        ) {
            let mut strokes = Vec::new();
            let mut t = 50.0;
            for k in 0..=gaps.len() {
                let y = 100.0 + 100.0 * k as f64;
                let points: Vec<Point> = (0..5)
                    .map(|i| pt(100.0 + 10.0 * i as f64, y, t + stroke_ms * i as f64 / 4.0))
                    .collect();
                t += stroke_ms;
                strokes.push(points);
                if let Some(g) = gaps.get(k) {
                    t += g;
                }
            }
            let d = compute(&sig(strokes));
            prop_assert_eq!(d.pauses.len(), gaps.len());
            let mut expected_start = stroke_ms;
            for (p, g) in d.pauses.iter().zip(&gaps) {
                prop_assert!((p.duration_ms - g).abs() < 1e-6, "{} vs {}", p.duration_ms, g);
                prop_assert!((p.start_ms - expected_start).abs() < 1e-6);
                expected_start += g + stroke_ms;
            }
            let writing = stroke_ms * (gaps.len() as f64 + 1.0);
            prop_assert!((d.writing_time_ms - writing).abs() < 1e-6);
            prop_assert!((d.writing_time_ms + d.pause_time_ms - d.total_time_ms).abs() < 1e-6);
        }
    }
}
