//! Stable-toolchain stand-in for the cargo-fuzz target `signature_submission` (the workspace's
//! `fuzz/` crate): the same body ([`confidant_signature::fuzz_submission`]) over arbitrary bytes
//! and over structured but hostile JSON, for a bounded number of cases. The property is: no
//! panic.

use confidant_signature::fuzz_submission;
use proptest::prelude::*;

/// Hostile JSON numbers, as text.
fn hostile_number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1e308".to_owned()),
        Just("-1e308".to_owned()),
        Just("1e309".to_owned()),
        Just("-0".to_owned()),
        Just("0.0000000000000000000000001".to_owned()),
        Just("\"NaN\"".to_owned()),
        Just("\"Infinity\"".to_owned()),
        Just("NaN".to_owned()),
        Just("null".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("-9223372036854775809".to_owned()),
        Just("true".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        (-1e6f64..1e6).prop_map(|v| format!("{v}")),
        (-10.0f64..500.0).prop_map(|v| format!("{v}")),
        any::<i64>().prop_map(|v| v.to_string()),
    ]
}

fn point_json() -> impl Strategy<Value = String> {
    (
        hostile_number(),
        hostile_number(),
        hostile_number(),
        proptest::option::of(hostile_number()),
        proptest::option::of(hostile_number()),
    )
        .prop_map(|(x, y, t, p, tilt)| {
            let mut s = format!(r#"{{"x":{x},"y":{y},"t":{t}"#);
            if let Some(p) = p {
                s.push_str(&format!(r#","pressure":{p}"#));
            }
            if let Some(tilt) = tilt {
                s.push_str(&format!(r#","tilt_x":{tilt},"tilt_y":{tilt}"#));
            }
            s.push('}');
            s
        })
}

fn submission_json() -> impl Strategy<Value = String> {
    let pointer = prop_oneof![
        Just("\"pen\""),
        Just("\"touch\""),
        Just("\"mouse\""),
        Just("\"PEN\""),
        Just("7")
    ];
    let stroke =
        (pointer, proptest::collection::vec(point_json(), 0..20)).prop_map(|(ptr, points)| {
            format!(
                r#"{{"pointer_type":{ptr},"points":[{}]}}"#,
                points.join(",")
            )
        });
    (
        hostile_number(),
        hostile_number(),
        proptest::collection::vec(stroke, 0..6),
        proptest::option::of(hostile_number()),
    )
        .prop_map(|(w, h, strokes, started)| {
            let mut s = format!(
                r#"{{"canvas":{{"width":{w},"height":{h}}},"device":{{"pointer_types":["pen"],"user_agent":"x"}},"strokes":[{}]"#,
                strokes.join(",")
            );
            if let Some(started) = started {
                s.push_str(&format!(r#","client_started_at_ms":{started}"#));
            }
            s.push('}');
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        fuzz_submission(&data);
    }

    #[test]
    fn hostile_structured_json_never_panics(json in submission_json()) {
        fuzz_submission(json.as_bytes());
    }

    #[test]
    fn truncated_json_never_panics(json in submission_json(), cut in any::<prop::sample::Index>()) {
        let bytes = json.as_bytes();
        fuzz_submission(&bytes[..cut.index(bytes.len() + 1)]);
    }
}

/// A plausible signature with valid numbers, so the downstream code (dynamics, encode, SVG)
/// is actually reached, not just the parser.
fn valid_json() -> impl Strategy<Value = String> {
    let point = (
        0.0f64..300.0,
        0.0f64..100.0,
        0.0f64..40.0,
        proptest::option::of(0.0f64..=1.0),
    );
    proptest::collection::vec(proptest::collection::vec(point, 1..40), 1..5).prop_map(|strokes| {
        let mut t = 0.0;
        let strokes: Vec<String> = strokes
            .into_iter()
            .map(|pts| {
                let pts: Vec<String> = pts
                    .into_iter()
                    .map(|(x, y, dt, p)| {
                        t += dt;
                        match p {
                            Some(p) => format!(r#"{{"x":{x},"y":{y},"t":{t},"pressure":{p}}}"#),
                            None => format!(r#"{{"x":{x},"y":{y},"t":{t}}}"#),
                        }
                    })
                    .collect();
                format!(r#"{{"pointer_type":"pen","points":[{}]}}"#, pts.join(","))
            })
            .collect();
        format!(
            r#"{{"canvas":{{"width":300,"height":100}},"strokes":[{}]}}"#,
            strokes.join(",")
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn valid_signatures_run_the_whole_pipeline(json in valid_json()) {
        let s = confidant_signature::submission::parse(json.as_bytes()).expect("parses");
        if confidant_signature::submission::validate(&s).is_ok() {
            fuzz_submission(json.as_bytes());
        }
    }
}

#[test]
fn deep_nesting_is_rejected_not_overflowed() {
    for depth in [10usize, 200, 5000, 100_000] {
        let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        fuzz_submission(json.as_bytes());
        let json = format!(
            r#"{{"canvas":{}{}}}"#,
            r#"{"a":"#.repeat(depth),
            "}".repeat(depth)
        );
        fuzz_submission(json.as_bytes());
    }
}

#[test]
fn named_hostile_inputs_are_rejected_with_errors() {
    use confidant_signature::submission::{parse, validate};
    let cases = [
        (
            r#"{"canvas":{"width":1e308,"height":100},"strokes":[]}"#,
            "canvas_invalid",
        ),
        (
            r#"{"canvas":{"width":100,"height":100},"strokes":[{"pointer_type":"pen","points":[{"x":1e308,"y":1,"t":0}]}]}"#,
            "point_outside_canvas",
        ),
        (
            r#"{"canvas":{"width":100,"height":100},"strokes":[{"pointer_type":"pen","points":[{"x":1,"y":1,"t":-5}]}]}"#,
            "time_negative",
        ),
        (
            r#"{"canvas":{"width":100,"height":100},"strokes":[]}"#,
            "signature_empty",
        ),
    ];
    for (json, code) in cases {
        let result = parse(json.as_bytes()).and_then(|s| validate(&s).map(|_| ()));
        assert_eq!(result.map_err(|e| e.code()), Err(code), "{json}");
    }
    // Non-finite numbers cannot even be expressed in JSON: the parser rejects them.
    for json in [
        r#"{"canvas":{"width":NaN,"height":100},"strokes":[]}"#,
        r#"{"canvas":{"width":"NaN","height":100},"strokes":[]}"#,
        r#"{"canvas":{"width":1e309,"height":100},"strokes":[]}"#,
    ] {
        assert_eq!(
            parse(json.as_bytes()).map(|_| ()).map_err(|e| e.code()),
            Err("submission_malformed"),
            "{json}"
        );
    }
}
