//! Deterministic SVG rendering of a signature, for display and for the image hash in the
//! evidence bundle.
//!
//! Output rules (so that equal signatures give byte-identical SVG):
//! * `viewBox="0 0 W H"` with the canvas size; no external references, scripts, styles, fonts
//!   or XML declaration; only `svg`, `g`, `path` and `circle` elements.
//! * Every number is written with exactly two decimals (`{:.2}`), `-0.00` normalised to `0.00`.
//! * A stroke without pressure is one `path` (`M x y L x y …`) of width [`BASE_WIDTH`].
//! * A stroke with pressure is one `path` per segment, width
//!   `BASE_WIDTH × (0.4 + 1.2 × mean pressure of the two ends)`; a missing end pressure counts
//!   as 0.5.
//! * A one-point stroke is a dot: a `circle` of radius `BASE_WIDTH / 2`.

use std::fmt::Write as _;

use crate::submission::{Point, ValidSignature};

/// Line width in CSS px for strokes without pressure.
pub const BASE_WIDTH: f64 = 2.0;

fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    if s == "-0.00" {
        "0.00".to_owned()
    } else {
        s
    }
}

fn width_for(a: &Point, b: &Point) -> f64 {
    let p = (a.pressure.unwrap_or(0.5) + b.pressure.unwrap_or(0.5)) / 2.0;
    BASE_WIDTH * (0.4 + 1.2 * p)
}

/// Render the signature as a standalone SVG document.
pub fn svg(signature: &ValidSignature) -> String {
    let canvas = signature.canvas();
    let (w, h) = (num(canvas.width), num(canvas.height));
    let mut out = String::with_capacity(128 + signature.point_count() * 16);
    // Writing to a String cannot fail; the fmt::Result is ignored for that reason.
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><g fill="none" stroke="#000" stroke-linecap="round" stroke-linejoin="round">"##
    );
    for stroke in signature.strokes() {
        let points = &stroke.points;
        match points.as_slice() {
            [] => {}
            [p] => {
                let _ = write!(
                    out,
                    r##"<circle cx="{}" cy="{}" r="{}" fill="#000" stroke="none"/>"##,
                    num(p.x),
                    num(p.y),
                    num(BASE_WIDTH / 2.0)
                );
            }
            _ if points.iter().any(|p| p.pressure.is_some()) => {
                for pair in points.windows(2) {
                    let (a, b) = (&pair[0], &pair[1]);
                    let _ = write!(
                        out,
                        r#"<path stroke-width="{}" d="M{} {}L{} {}"/>"#,
                        num(width_for(a, b)),
                        num(a.x),
                        num(a.y),
                        num(b.x),
                        num(b.y)
                    );
                }
            }
            [first, rest @ ..] => {
                let _ = write!(
                    out,
                    r#"<path stroke-width="{}" d="M{} {}"#,
                    num(BASE_WIDTH),
                    num(first.x),
                    num(first.y)
                );
                for p in rest {
                    let _ = write!(out, "L{} {}", num(p.x), num(p.y));
                }
                out.push_str(r#""/>"#);
            }
        }
    }
    out.push_str("</g></svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::submission::{validate, Canvas, Device, PointerType, Stroke, Submission};

    fn pt(x: f64, y: f64, t: f64, pressure: Option<f64>) -> Point {
        Point {
            x,
            y,
            t,
            pressure,
            tilt_x: None,
            tilt_y: None,
        }
    }

    fn sig() -> ValidSignature {
        validate(&Submission {
            canvas: Canvas {
                width: 200.0,
                height: 80.0,
            },
            device: Device::default(),
            client_started_at_ms: None,
            strokes: vec![
                Stroke {
                    pointer_type: PointerType::Mouse,
                    points: (0..8)
                        .map(|i| pt(10.0 + 5.0 * i as f64, 20.0, i as f64, None))
                        .collect(),
                },
                Stroke {
                    pointer_type: PointerType::Pen,
                    points: vec![
                        pt(100.0, 10.0, 20.0, Some(0.0)),
                        pt(100.0, 30.0, 25.0, Some(1.0)),
                        pt(-0.001, 30.0, 30.0, None),
                    ],
                },
                Stroke {
                    pointer_type: PointerType::Pen,
                    points: vec![pt(150.0, 40.0, 40.0, None)],
                },
            ],
        })
        .expect("valid")
    }

    #[test]
    fn svg_is_exact_and_deterministic() {
        let s = svg(&sig());
        assert_eq!(s, svg(&sig()));
        let expected = concat!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="200.00" height="80.00" viewBox="0 0 200.00 80.00">"##,
            r##"<g fill="none" stroke="#000" stroke-linecap="round" stroke-linejoin="round">"##,
            r#"<path stroke-width="2.00" d="M10.00 20.00L15.00 20.00L20.00 20.00L25.00 20.00L30.00 20.00L35.00 20.00L40.00 20.00L45.00 20.00"/>"#,
            r#"<path stroke-width="2.00" d="M100.00 10.00L100.00 30.00"/>"#,
            r#"<path stroke-width="2.60" d="M100.00 30.00L0.00 30.00"/>"#,
            r##"<circle cx="150.00" cy="40.00" r="1.00" fill="#000" stroke="none"/>"##,
            "</g></svg>"
        );
        assert_eq!(s, expected);
    }

    #[test]
    fn svg_has_no_external_references() {
        let s = svg(&sig());
        for forbidden in [
            "href", "<script", "<style", "url(", "<image", "<?xml", "@import",
        ] {
            assert!(!s.contains(forbidden), "{forbidden}");
        }
    }
}
