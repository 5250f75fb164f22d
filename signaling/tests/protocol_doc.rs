//! Every example in PROTOCOL.md parses, and every message type and error code has one.

use std::collections::BTreeSet;

use confidant_signaling::protocol::{parse_client_message, ErrorCode, ServerMessage};

fn blocks(kind: &str) -> Vec<String> {
    let doc = include_str!("../PROTOCOL.md");
    let fence = format!("```json {kind}");
    let mut out = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line.trim() == fence {
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            out.push(body.join("\n"));
        }
    }
    out
}

fn type_of(json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["type"].as_str().unwrap().to_owned()
}

#[test]
fn every_client_example_parses() {
    let examples = blocks("client");
    assert!(
        examples.len() >= 14,
        "found only {} client examples",
        examples.len()
    );
    for e in &examples {
        parse_client_message(e)
            .unwrap_or_else(|err| panic!("example does not parse: {e}\n{err:?}"));
    }
}

#[test]
fn every_server_example_parses_and_round_trips() {
    let examples = blocks("server");
    assert!(
        examples.len() >= 19,
        "found only {} server examples",
        examples.len()
    );
    for e in &examples {
        let msg: ServerMessage = serde_json::from_str(e)
            .unwrap_or_else(|err| panic!("example does not parse: {e}\n{err}"));
        let back: serde_json::Value = serde_json::to_value(&msg).unwrap();
        let orig: serde_json::Value = serde_json::from_str(e).unwrap();
        assert_eq!(back, orig, "example does not round-trip: {e}");
    }
}

#[test]
fn every_client_message_type_has_an_example() {
    let documented: BTreeSet<String> = blocks("client").iter().map(|b| type_of(b)).collect();
    for t in confidant_signaling::protocol::ClientMessage::TYPES {
        assert!(
            documented.contains(*t),
            "client message {t} has no example in PROTOCOL.md"
        );
    }
}

#[test]
fn every_server_message_type_has_an_example_and_no_other_is_documented() {
    let documented: BTreeSet<String> = blocks("server").iter().map(|b| type_of(b)).collect();
    let server: BTreeSet<String> = ServerMessage::TYPES.iter().map(|t| t.to_string()).collect();
    assert_eq!(
        documented, server,
        "PROTOCOL.md's server examples and the server's message types differ"
    );
    // Each example's tag is the one its variant serialises with (type_name is exhaustive, so
    // a new variant cannot be added without a tag).
    for e in blocks("server") {
        let msg: ServerMessage = serde_json::from_str(&e).unwrap();
        assert_eq!(msg.type_name(), type_of(&e));
    }
}

#[test]
fn every_documented_client_type_is_one_the_server_takes() {
    let documented: BTreeSet<String> = blocks("client").iter().map(|b| type_of(b)).collect();
    let client: BTreeSet<String> = confidant_signaling::protocol::ClientMessage::TYPES
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(documented, client);
}

/// Each `### name` / `### a / b` heading of the two message sections names real message
/// types, and every type has its heading: the document's message list is the server's.
#[test]
fn message_headings_list_exactly_the_protocol_types() {
    let doc = include_str!("../PROTOCOL.md");
    let section = |start: &str, end: &str| -> BTreeSet<String> {
        let body = &doc[doc.find(start).unwrap()..];
        let body = &body[..body.find(end).unwrap_or(body.len())];
        body.lines()
            .filter_map(|l| l.strip_prefix("### "))
            .flat_map(|h| h.split('/').map(|t| t.trim().to_owned()))
            .collect()
    };
    let client = section("## Client → server", "## Server → client");
    let server = section("## Server → client", "\n## ");
    let want_client: BTreeSet<String> = confidant_signaling::protocol::ClientMessage::TYPES
        .iter()
        .map(|t| t.to_string())
        .collect();
    let want_server: BTreeSet<String> =
        ServerMessage::TYPES.iter().map(|t| t.to_string()).collect();
    assert_eq!(client, want_client, "client headings");
    assert_eq!(server, want_server, "server headings");
}

#[test]
fn every_error_code_is_documented_and_matches_its_wire_name() {
    let doc = include_str!("../PROTOCOL.md");
    for code in ErrorCode::ALL {
        let wire = serde_json::to_value(code).unwrap();
        assert_eq!(wire.as_str().unwrap(), code.as_str());
        assert!(
            doc.contains(&format!("| `{}` |", code.as_str())),
            "error code {} not in the table",
            code.as_str()
        );
    }
}
