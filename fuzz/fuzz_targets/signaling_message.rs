//! Signalling: one websocket text frame from a client, as the hub reads it.
//!
//! `parse_client_message` either rejects the frame with one of the parse error codes, or
//! accepts a message that survives serialise → parse unchanged. Then the hub's pure checks on
//! what it accepted: display names (`clean_name`) and the e2ee relay limit (`e2ee_relay`), whose
//! relayed frame must read back as the same payload.
#![no_main]

use confidant_signaling::protocol::{
    clean_name, e2ee_relay, parse_client_message, ClientMessage, ErrorCode, ServerMessage,
    MAX_E2EE_PAYLOAD_BYTES, MAX_MESSAGE_BYTES, MAX_NAME_CHARS,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // the hub receives text frames (valid UTF-8) only
    };
    match parse_client_message(text) {
        Err(e) => {
            assert!(matches!(
                e.code,
                ErrorCode::BadJson
                    | ErrorCode::UnknownType
                    | ErrorCode::InvalidMessage
                    | ErrorCode::TooLarge
            ));
            assert_eq!(
                e.code == ErrorCode::TooLarge,
                text.len() > MAX_MESSAGE_BYTES
            );
        }
        Ok(msg) => {
            assert!(text.len() <= MAX_MESSAGE_BYTES);
            let again = serde_json::to_string(&msg).expect("a parsed message serialises");
            let back = parse_client_message(&again).unwrap_or_else(|e| {
                panic!("re-serialised message rejected: {e:?}\n{again}");
            });
            assert_eq!(back, msg);
            match msg {
                ClientMessage::Knock { name, .. } => {
                    if let Some(n) = clean_name(&name) {
                        let chars = n.chars().count();
                        assert!((1..=MAX_NAME_CHARS).contains(&chars));
                        assert_eq!(n, n.trim());
                        assert!(!n.chars().any(char::is_control));
                    }
                }
                ClientMessage::E2ee { payload, .. } => {
                    let len = payload.len();
                    match e2ee_relay("p-0123", payload.clone()) {
                        Ok(relayed) => {
                            assert!(len <= MAX_E2EE_PAYLOAD_BYTES);
                            let frame = serde_json::to_string(&relayed).expect("serialises");
                            let read: ServerMessage =
                                serde_json::from_str(&frame).expect("relayed frame parses");
                            assert_eq!(
                                read,
                                ServerMessage::E2ee {
                                    from: "p-0123".into(),
                                    payload
                                }
                            );
                        }
                        Err(e) => {
                            assert!(len > MAX_E2EE_PAYLOAD_BYTES);
                            assert_eq!(e.code, ErrorCode::InvalidMessage);
                        }
                    }
                }
                _ => {}
            }
        }
    }
});
