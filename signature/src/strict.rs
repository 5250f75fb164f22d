//! Strict JSON reading for everything that is signed or hashed (`FORMAT.md` §6.1).
//!
//! A signed file must leave no room for two readings. On top of JSON syntax, this reader
//! refuses, each with a named [`StrictFault`] and the path of the offending value:
//!
//! * a key twice in one object (`duplicate_key`): parsers disagree on which one wins;
//! * a number not spelled the way the canonical writer spells it (`non_canonical_number`):
//!   integers in plain decimal without sign on zero, other numbers in the shortest round-trip
//!   form of [`crate::canonical`] (`400.0`, not `4e2`, `400.00` or `4.0E2`);
//! * a member the type does not have (`unknown_field`), one it needs (`missing_field`), or a
//!   value of the wrong type or encoding (`invalid_value`: upper-case hex, non-canonical
//!   base64, a 63-byte signature, …);
//! * a value whose typed reading is written differently (`not_canonical`), e.g. `400` where
//!   the field is a float (canonically `400.0`), or an optional member left out instead of
//!   `null`.
//!
//! Reading is in two steps so that a container (the evidence file) can tell which of its parts
//! a fault is in: [`read`] parses the syntax into a [`serde_json::Value`] and lists every
//! duplicate key and number spelling fault with its path; [`typed`] reads one part as its type.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserializer, Serialize};
use serde_json::{Map, Number, Value};
use thiserror::Error;

use crate::canonical::{number_text, to_canonical_json};

/// What is wrong with a strictly read JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StrictFault {
    /// Not JSON at all (or nested deeper than `serde_json`'s recursion limit of 128).
    Syntax,
    /// A key appears twice in one object.
    DuplicateKey,
    /// A number is not spelled canonically.
    NonCanonicalNumber,
    /// A member the type does not define.
    UnknownField,
    /// A required member is absent.
    MissingField,
    /// A value of the wrong type, length or encoding.
    InvalidValue,
    /// The typed reading is written differently from the input.
    NotCanonical,
}

impl StrictFault {
    /// Stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            StrictFault::Syntax => "syntax",
            StrictFault::DuplicateKey => "duplicate_key",
            StrictFault::NonCanonicalNumber => "non_canonical_number",
            StrictFault::UnknownField => "unknown_field",
            StrictFault::MissingField => "missing_field",
            StrictFault::InvalidValue => "invalid_value",
            StrictFault::NotCanonical => "not_canonical",
        }
    }
}

impl fmt::Display for StrictFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A strict-reading failure: the fault, where (`a.b[2].c`, empty for the whole value) and a
/// message in words.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{fault} at `{path}`: {message}")]
pub struct StrictError {
    /// What is wrong.
    pub fault: StrictFault,
    /// Path of the value: object keys joined by `.`, array indexes as `[i]`.
    pub path: String,
    /// Details in words.
    pub message: String,
}

impl StrictError {
    fn new(fault: StrictFault, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            fault,
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The result of [`read`]: the value (where a key is duplicated the last one is kept, but the
/// fault is listed) and every duplicate-key and number-spelling fault, in document order.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    /// The parsed value.
    pub value: Value,
    /// Faults found, each with its path.
    pub faults: Vec<StrictError>,
}

impl Read {
    /// The member `key` of a top-level object as a document of its own: its value and the
    /// faults under it, their paths made relative to it.
    pub fn member(&self, key: &str) -> Option<Read> {
        let value = self.value.get(key)?.clone();
        let faults = self
            .faults
            .iter()
            .filter(|f| is_under(&f.path, key) && f.path != key)
            .map(|f| {
                let mut f = f.clone();
                f.path = f.path[key.len()..].trim_start_matches('.').to_owned();
                f
            })
            .collect();
        Some(Read { value, faults })
    }

    /// The first fault at `path` or below it.
    pub fn fault_under(&self, path: &str) -> Option<&StrictError> {
        self.faults.iter().find(|f| is_under(&f.path, path))
    }
}

/// Whether `path` is `prefix` or inside it.
pub fn is_under(path: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Parse JSON syntax, listing duplicate keys and non-canonical number spellings. Only a
/// syntax error is an `Err`.
pub fn read(bytes: &[u8]) -> Result<Read, StrictError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut ctx = Ctx::default();
    let value = NodeSeed {
        path: String::new(),
        ctx: &mut ctx,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v))
    .map_err(|e| StrictError::new(StrictFault::Syntax, "", e.to_string()))?;
    let Ctx {
        mut faults,
        numbers,
    } = ctx;
    // Numbers: compare each token's spelling with the canonical spelling of its value.
    let tokens = number_tokens(bytes);
    if tokens.len() != numbers.len() {
        return Err(StrictError::new(
            StrictFault::Syntax,
            "",
            "number tokens do not match the parsed numbers",
        ));
    }
    for (token, (path, number)) in tokens.iter().zip(numbers) {
        let canonical = number_text(&number);
        if token.as_bytes() != canonical.as_bytes() {
            faults.push(StrictError::new(
                StrictFault::NonCanonicalNumber,
                path,
                format!("{token} is written {canonical} in canonical form"),
            ));
        }
    }
    Ok(Read { value, faults })
}

/// Read `value` (found at `path` in a larger document) as a `T`: no unknown or missing members,
/// every value of the right type and encoding, and written exactly as `T` writes it.
pub fn typed<T: DeserializeOwned + Serialize>(value: &Value, path: &str) -> Result<T, StrictError> {
    let typed: T = serde_path_to_error::deserialize(value).map_err(|e| typed_error(&e, path))?;
    let back = serde_json::to_value(&typed)
        .map_err(|e| StrictError::new(StrictFault::InvalidValue, path, e.to_string()))?;
    if let Some(at) = first_difference(value, &back, path) {
        return Err(StrictError::new(
            StrictFault::NotCanonical,
            at,
            "the value is not written the way its type writes it",
        ));
    }
    // Equal values also have equal canonical bytes; checked so the guarantee is explicit.
    let a = to_canonical_json(value)
        .map_err(|e| StrictError::new(StrictFault::Syntax, path, e.to_string()))?;
    let b = to_canonical_json(&back)
        .map_err(|e| StrictError::new(StrictFault::Syntax, path, e.to_string()))?;
    if a != b {
        return Err(StrictError::new(
            StrictFault::NotCanonical,
            path,
            "the value is not written the way its type writes it",
        ));
    }
    Ok(typed)
}

/// The fault and path of an error reading a value at `path` as a type (`serde`'s messages name
/// unknown and missing members).
pub(crate) fn typed_error(
    e: &serde_path_to_error::Error<serde_json::Error>,
    path: &str,
) -> StrictError {
    let message = e.inner().to_string();
    let inner = e.path().to_string();
    let mut at = if inner == "." {
        path.to_owned()
    } else {
        join_key(path, &inner)
    };
    let fault = if message.starts_with("unknown field") {
        StrictFault::UnknownField
    } else if message.starts_with("missing field") {
        StrictFault::MissingField
    } else {
        StrictFault::InvalidValue
    };
    if fault == StrictFault::MissingField {
        if let Some(name) = message.split('`').nth(1) {
            at = join_key(&at, name);
        }
    }
    StrictError::new(fault, at, message)
}

/// Strictly parse a whole document as a `T`: the first fault of [`read`], else [`typed`].
pub fn from_slice<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> Result<T, StrictError> {
    let read = read(bytes)?;
    if let Some(fault) = read.faults.into_iter().next() {
        return Err(fault);
    }
    typed(&read.value, "")
}

/// The path of the first place where `a` and `b` differ (numbers compare by their canonical
/// spelling, so `400` and `400.0` differ).
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                let p = join_key(path, k);
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => first_difference(u, v, &p),
                    _ => Some(p),
                }
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(path.to_owned());
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (u, v))| first_difference(u, v, &format!("{path}[{i}]")))
        }
        (Value::Number(x), Value::Number(y)) => {
            (number_text(x) != number_text(y)).then(|| path.to_owned())
        }
        _ => (a != b).then(|| path.to_owned()),
    }
}

/// The spelling of every number token, in document order.
fn number_tokens(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                out.push(String::from_utf8_lossy(&bytes[start..i]).into_owned());
            }
            _ => i += 1,
        }
    }
    out
}

/// Deserialises a [`Value`] keeping document order of object members, recording duplicates.
struct NodeSeed<'c> {
    path: String,
    ctx: &'c mut Ctx,
}

/// What [`NodeSeed`] collects on the way: faults, and every number with its path in document
/// order (the order of the number tokens).
#[derive(Default)]
struct Ctx {
    faults: Vec<StrictError>,
    numbers: Vec<(String, Number)>,
}

impl NodeSeed<'_> {
    fn number(self, n: Number) -> Value {
        self.ctx.numbers.push((self.path, n.clone()));
        Value::Number(n)
    }
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(self.number(v.into()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(self.number(v.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        let n = Number::from_f64(v).ok_or_else(|| E::custom("number is not finite"))?;
        Ok(self.number(n))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let path = format!("{}[{}]", self.path, items.len());
            match seq.next_element_seed(NodeSeed {
                path,
                ctx: &mut *self.ctx,
            })? {
                Some(v) => items.push(v),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = join_key(&self.path, &key);
            let value = map.next_value_seed(NodeSeed {
                path: path.clone(),
                ctx: &mut *self.ctx,
            })?;
            if !seen.insert(key.clone()) {
                self.ctx.faults.push(StrictError::new(
                    StrictFault::DuplicateKey,
                    path,
                    format!("the key `{key}` appears more than once"),
                ));
            }
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        count: u64,
        width: f64,
        items: Vec<Inner>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        name: String,
        digest: crate::Digest,
    }

    const DIGEST: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn sample(items: &str) -> String {
        format!(r#"{{"count":3,"width":400.0,"items":[{items}]}}"#)
    }

    fn fault(json: &str) -> (StrictFault, String) {
        let e = from_slice::<Sample>(json.as_bytes()).expect_err(json);
        (e.fault, e.path)
    }

    #[test]
    fn canonical_input_is_read() {
        let json = sample(&format!(r#"{{"name":"a","digest":"{DIGEST}"}}"#));
        let s: Sample = from_slice(json.as_bytes()).expect("strict");
        assert_eq!(s.width, 400.0);
        // Whitespace and member order are free: they do not change the reading.
        let spaced = format!(
            "{{ \"items\" : [ {{\"digest\": \"{DIGEST}\", \"name\": \"a\"}} ],\n \"width\": 400.0, \"count\": 3 }}"
        );
        assert_eq!(from_slice::<Sample>(spaced.as_bytes()).expect("strict"), s);
    }

    #[test]
    fn duplicate_keys_are_refused_at_every_level() {
        let inner = format!(r#"{{"name":"a","digest":"{DIGEST}"}}"#);
        let top = format!(r#"{{"count":3,"count":4,"width":400.0,"items":[{inner}]}}"#);
        assert_eq!(fault(&top), (StrictFault::DuplicateKey, "count".into()));
        let nested = sample(&format!(
            r#"{inner},{{"name":"a","name":"b","digest":"{DIGEST}"}}"#
        ));
        assert_eq!(
            fault(&nested),
            (StrictFault::DuplicateKey, "items[1].name".into())
        );
        // Also in untyped reading, and with equal values.
        let r = read(br#"{"a":{"b":[{"c":1,"c":1}]}}"#).expect("syntax");
        assert_eq!(r.faults.len(), 1);
        assert_eq!(r.faults[0].path, "a.b[0].c");
        assert_eq!(
            r.fault_under("a.b").map(|f| f.fault),
            Some(StrictFault::DuplicateKey)
        );
        assert!(r.fault_under("a.bb").is_none());
    }

    #[test]
    fn non_canonical_number_spellings_are_refused() {
        let inner = format!(r#"{{"name":"a","digest":"{DIGEST}"}}"#);
        for (width, count) in [
            ("4e2", "3"),
            ("400.00", "3"),
            ("4.0E2", "3"),
            ("400.0", "3.0"),
            ("400.0", "3e0"),
            ("400.0", "-0"),
        ] {
            let json = format!(r#"{{"count":{count},"width":{width},"items":[{inner}]}}"#);
            let (f, path) = fault(&json);
            assert!(
                f == StrictFault::NonCanonicalNumber || f == StrictFault::InvalidValue,
                "{json}: {f:?}"
            );
            assert!(path == "width" || path == "count", "{json}: {path}");
        }
        // An integer where the type is a float: canonically 400.0, so not canonical.
        let json = format!(r#"{{"count":3,"width":400,"items":[{inner}]}}"#);
        assert_eq!(fault(&json), (StrictFault::NotCanonical, "width".into()));
    }

    #[test]
    fn canonical_float_spelling_is_the_documented_one() {
        // FORMAT.md §6 gives these as worked examples; a second implementation must match.
        for (v, text) in [
            (400.0, "400.0"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (0.001, "0.001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (1e15, "1000000000000000.0"),
            (0.00001, "0.00001"),
            (1e-6, "1e-6"),
            (9.5e15, "9500000000000000.0"),
            (1e16, "1e+16"),
            (-1.25e16, "-1.25e+16"),
            (1.2345e21, "1.2345e+21"),
            (5e-324, "5e-324"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (123456.789, "123456.789"),
        ] {
            let n = Number::from_f64(v).expect("finite");
            assert_eq!(number_text(&n), text, "{v:e}");
            assert!(
                read(text.as_bytes()).expect("syntax").faults.is_empty(),
                "{text}"
            );
        }
    }

    #[test]
    fn wrongly_cased_hex_unknown_and_missing_fields_are_named() {
        let upper = sample(&format!(
            r#"{{"name":"a","digest":"{}"}}"#,
            DIGEST.to_uppercase()
        ));
        assert_eq!(
            fault(&upper),
            (StrictFault::InvalidValue, "items[0].digest".into())
        );
        let unknown = sample(&format!(r#"{{"name":"a","digest":"{DIGEST}","x":1}}"#));
        assert_eq!(
            fault(&unknown),
            (StrictFault::UnknownField, "items[0].x".into())
        );
        let missing = sample(r#"{"name":"a"}"#);
        assert_eq!(
            fault(&missing),
            (StrictFault::MissingField, "items[0].digest".into())
        );
        assert_eq!(fault("{"), (StrictFault::Syntax, String::new()));
        assert_eq!(fault("{} {}"), (StrictFault::Syntax, String::new()));
    }
}
