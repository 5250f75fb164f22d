//! Canonical JSON: one byte sequence per value, used for everything that is hashed or signed.
//!
//! Rules:
//! * No insignificant whitespace.
//! * Object members sorted by key, comparing the keys' UTF-8 bytes; keys are unique.
//! * Strings: `"` and `\` escaped with a backslash; `\b \f \n \r \t` as those short escapes;
//!   other code points below U+0020 as `\u00xx` (lower-case hex); everything else, including
//!   non-ASCII, as raw UTF-8. No Unicode normalisation is applied: callers hash exactly the
//!   strings they were given.
//! * Integers (JSON numbers read as `u64`/`i64`) in plain decimal. Floats ([`f64_text`]): the
//!   shortest digits that read back to the same `f64`, in fixed notation with at least one
//!   fractional digit when the decimal exponent is in −5..=15 (`400.0`, `0.1`, `0.00001`),
//!   else as `d[.ddd]e±x` (`1e-6`, `1.25e+16`). Written here, not by `serde_json`, whose float
//!   formatter has changed between versions.
//! * `null`, `true`, `false` as such; arrays keep their order.
//!
//! This writer does not depend on `serde_json`'s map ordering (the `preserve_order` feature may
//! be enabled elsewhere in the build), so the output is the same in every build.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// Write `s` as a canonical JSON string.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\u{0c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// The canonical spelling of a JSON number: integers in decimal, floats by [`f64_text`].
pub fn number_text(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(v) if n.is_f64() => f64_text(v),
        _ => n.to_string(),
    }
}

/// Lowest decimal exponent written in fixed notation.
const FIXED_MIN_EXP: i32 = -5;
/// Highest decimal exponent written in fixed notation (16 significant digits before the point).
const FIXED_MAX_EXP: i32 = 15;

/// The canonical spelling of a finite `f64`: shortest round-trip digits; fixed notation with at
/// least one fractional digit for decimal exponents −5..=15, else `d[.ddd]e±x` with `+` on
/// positive exponents. `-0.0` keeps its sign.
pub fn f64_text(v: f64) -> String {
    // ryu gives the shortest round-trip digits and, where two are equally short and equally
    // near, the even one, like JavaScript's and Python's number formatting. (Rust's `{:e}`
    // rounds such ties away: -847601537315283.25 is "…283.3" there, "…283.2" here.)
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(v);
    let (sign, text) = match text.strip_prefix('-') {
        Some(t) => ("-", t),
        None => ("", text),
    };
    let (mantissa, exp10) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = int_part.chars().chain(frac_part.chars()).collect();
    // Decimal exponent of the first significant digit.
    let lead = all.len() - all.trim_start_matches('0').len();
    let (digits, exp) = if lead == all.len() {
        ("0".to_owned(), 0)
    } else {
        let int_len = i32::try_from(int_part.len()).unwrap_or(0);
        let lead_i = i32::try_from(lead).unwrap_or(0);
        let d = all[lead..].trim_end_matches('0');
        (d.to_owned(), exp10 + int_len - 1 - lead_i)
    };
    let mut out = String::from(sign);
    if (FIXED_MIN_EXP..=FIXED_MAX_EXP).contains(&exp) {
        if exp >= 0 {
            let int_len = usize::try_from(exp).unwrap_or(0) + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.push_str(&"0".repeat(int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.push_str(&"0".repeat(usize::try_from(-exp - 1).unwrap_or(0)));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        if exp > 0 {
            out.push('+');
        }
        out.push_str(&exp.to_string());
    }
    out
}

/// Write a JSON value canonically.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(number_text(n).as_bytes()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, k);
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
    }
}

/// Canonical JSON of any serialisable value. Fails only if `value` cannot be represented as
/// JSON (non-finite floats, non-string map keys).
pub fn to_canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let v = serde_json::to_value(value)?;
    let mut out = Vec::new();
    write_value(&mut out, &v);
    Ok(out)
}

/// Canonical bytes of filled-in form values: a JSON object of strings in canonical form.
/// These bytes are what `form_data_sha256` hashes.
pub fn form_data_canonical(fields: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(b'{');
    // BTreeMap<String, _> iterates in byte order of the keys, as the rules require.
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(&mut out, k);
        out.push(b':');
        write_string(&mut out, v);
    }
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    proptest::proptest! {
        #[test]
        fn float_text_reads_back_and_matches_serde_json_today(bits in proptest::prelude::any::<u64>()) {
            let v = f64::from_bits(bits);
            if v.is_finite() {
                let text = f64_text(v);
                let back: f64 = text.parse().expect("number");
                proptest::prop_assert_eq!(back.to_bits(), v.to_bits());
                // The formatter in the lock file writes the same; should it change, the
                // canonical form does not.
                let n = serde_json::Number::from_f64(v).expect("finite");
                proptest::prop_assert_eq!(text, n.to_string());
            }
        }
    }

    /// -847601537315283.25 lies exactly between the two shortest spellings: the even digit is
    /// the canonical one, as JavaScript and Python write it (Rust's `{:e}` wrote "…283.3").
    #[test]
    fn float_ties_round_to_even_like_javascript_and_python() {
        let v = f64::from_bits(14_053_508_050_067_099_290);
        assert_eq!(f64_text(v), "-847601537315283.2");
        assert_eq!(f64_text(0.0), "0.0");
        assert_eq!(f64_text(-0.0), "-0.0");
        assert_eq!(f64_text(400.0), "400.0");
        assert_eq!(f64_text(0.1), "0.1");
        assert_eq!(f64_text(1e16), "1e+16");
        assert_eq!(f64_text(1.25e-7), "1.25e-7");
        assert_eq!(f64_text(5e-324), "5e-324");
        assert_eq!(f64_text(0.00001), "0.00001");
    }

    #[test]
    fn keys_sorted_no_whitespace() {
        let v = json!({"b": 1, "a": [true, null, 1.5, -3], "A": {"z": "x", "y": 0.1}});
        let mut out = Vec::new();
        write_value(&mut out, &v);
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            r#"{"A":{"y":0.1,"z":"x"},"a":[true,null,1.5,-3],"b":1}"#
        );
    }

    #[test]
    fn string_escaping_is_fixed() {
        let mut out = Vec::new();
        write_string(&mut out, "a\"b\\c\n\u{1}é\u{2028}/");
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\u0001é\u{2028}/\"".as_bytes());
        // And it is valid JSON that reads back to the same string.
        let back: String = serde_json::from_slice(&out).expect("valid json");
        assert_eq!(back, "a\"b\\c\n\u{1}é\u{2028}/");
    }

    #[test]
    fn form_data_is_canonical_json_object() {
        let mut f = BTreeMap::new();
        f.insert("name".to_owned(), "Ana Müller".to_owned());
        f.insert("age".to_owned(), "34".to_owned());
        let bytes = form_data_canonical(&f);
        assert_eq!(bytes, r#"{"age":"34","name":"Ana Müller"}"#.as_bytes());
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(to_canonical_json(&v).expect("canonical"), bytes);
        assert_eq!(form_data_canonical(&BTreeMap::new()), b"{}");
    }
}
