//! Hash-chained audit trail of a signing ceremony.
//!
//! Each [`AuditEvent`] commits to its predecessor through `prev_hash`; the first event's
//! `prev_hash` is the chain's *genesis* hash, derived from a caller-chosen context string (for
//! example the ceremony's random id — never personal data). The hash of an event is
//!
//! ```text
//! SHA-256( "confidant-audit-v1\0"
//!          || seq        u64 big-endian
//!          || kind       u8  (DocumentShown=1, ConsentGiven=2, CaptureStarted=3,
//!                             CaptureEnded=4, Submitted=5, Sealed=6, Archived=7)
//!          || at_ms      i64 big-endian (server Unix time, ms)
//!          || len(detail) u32 big-endian || detail UTF-8 bytes
//!          || prev_hash  32 bytes )
//! ```
//!
//! and the genesis hash is `SHA-256("confidant-audit-genesis-v1\0" || u32 len || context)`.
//! `seq` starts at 0 and increases by one; `at_ms` never decreases. `detail` is free text that
//! must not contain personal data (the caller's duty); it is limited to
//! [`MAX_DETAIL_LEN`] bytes without control characters.

use ring::digest::{Context, SHA256};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::hexbytes::Digest;

/// Longest allowed `detail`, bytes.
pub const MAX_DETAIL_LEN: usize = 1024;

const EVENT_DOMAIN: &[u8] = b"confidant-audit-v1\0";
const GENESIS_DOMAIN: &[u8] = b"confidant-audit-genesis-v1\0";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// The document was shown to the signer.
    DocumentShown,
    /// The signer gave consent to sign electronically and to biometric capture.
    ConsentGiven,
    /// Pen capture started.
    CaptureStarted,
    /// Pen capture ended.
    CaptureEnded,
    /// The signature was submitted to the server.
    Submitted,
    /// The evidence bundle was sealed.
    Sealed,
    /// The evidence was archived.
    Archived,
}

impl AuditKind {
    /// Tag used in the hash encoding. Stable.
    pub fn tag(self) -> u8 {
        match self {
            AuditKind::DocumentShown => 1,
            AuditKind::ConsentGiven => 2,
            AuditKind::CaptureStarted => 3,
            AuditKind::CaptureEnded => 4,
            AuditKind::Submitted => 5,
            AuditKind::Sealed => 6,
            AuditKind::Archived => 7,
        }
    }

    /// The events that must appear, in this order, before a bundle may be sealed.
    pub const CEREMONY_BEFORE_SEAL: [AuditKind; 5] = [
        AuditKind::DocumentShown,
        AuditKind::ConsentGiven,
        AuditKind::CaptureStarted,
        AuditKind::CaptureEnded,
        AuditKind::Submitted,
    ];

    /// The only kinds an event after the sealed head may have (they are outside the seal).
    pub const AFTER_SEAL: [AuditKind; 2] = [AuditKind::Sealed, AuditKind::Archived];
}

/// One entry of the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    /// Position in the chain, from 0.
    pub seq: u64,
    /// What happened.
    pub kind: AuditKind,
    /// Server time, Unix ms.
    pub at_ms: i64,
    /// Free text without personal data.
    pub detail: String,
    /// Hash of the previous event (the genesis hash for the first).
    pub prev_hash: Digest,
    /// Hash of this event, see the module docs.
    pub hash: Digest,
}

impl AuditEvent {
    /// Recompute the hash this event should carry.
    pub fn compute_hash(&self) -> Digest {
        event_hash(
            self.seq,
            self.kind,
            self.at_ms,
            &self.detail,
            &self.prev_hash,
        )
    }
}

fn event_hash(seq: u64, kind: AuditKind, at_ms: i64, detail: &str, prev: &Digest) -> Digest {
    let mut ctx = Context::new(&SHA256);
    ctx.update(EVENT_DOMAIN);
    ctx.update(&seq.to_be_bytes());
    ctx.update(&[kind.tag()]);
    ctx.update(&at_ms.to_be_bytes());
    // Details are capped at MAX_DETAIL_LEN on append; saturate for foreign (deserialised) events.
    let len = u32::try_from(detail.len()).unwrap_or(u32::MAX);
    ctx.update(&len.to_be_bytes());
    ctx.update(detail.as_bytes());
    ctx.update(prev.as_bytes());
    Digest::from_ring(ctx.finish())
}

/// Genesis hash for a context string.
pub fn genesis_hash(context: &str) -> Digest {
    let mut ctx = Context::new(&SHA256);
    ctx.update(GENESIS_DOMAIN);
    let len = u32::try_from(context.len()).unwrap_or(u32::MAX);
    ctx.update(&len.to_be_bytes());
    ctx.update(context.as_bytes());
    Digest::from_ring(ctx.finish())
}

/// Why an event could not be appended.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AppendError {
    /// Detail longer than [`MAX_DETAIL_LEN`].
    #[error("detail is {len} bytes, more than {MAX_DETAIL_LEN}")]
    DetailTooLong {
        /// Length in bytes.
        len: usize,
    },
    /// Detail contains control characters.
    #[error("detail contains control characters")]
    DetailControlCharacters,
    /// Time earlier than the previous event's.
    #[error("time {at_ms} is earlier than the previous event's {previous_ms}")]
    TimeWentBackwards {
        /// Previous event time.
        previous_ms: i64,
        /// Offered time.
        at_ms: i64,
    },
}

/// What is wrong at a position in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainFault {
    /// `seq` is not the event's position.
    #[error("sequence number does not match position")]
    SeqMismatch,
    /// `prev_hash` is not the previous event's hash (or the genesis hash).
    #[error("previous-hash link does not match")]
    PrevHashMismatch,
    /// `hash` does not match the event's content.
    #[error("event hash does not match its content")]
    HashMismatch,
    /// `at_ms` earlier than the previous event's.
    #[error("time went backwards")]
    TimeWentBackwards,
    /// The head recorded in a sealed bundle is not the hash of this event (or the chain is
    /// shorter than the recorded event count).
    #[error("chain head does not match the sealed head")]
    HeadMismatch,
    /// The genesis hash is not the one derived from the evidence's context (request id).
    #[error("genesis does not match the request id")]
    GenesisMismatch,
    /// An event after the sealed head is of a kind that cannot follow a seal.
    #[error("event of a kind that cannot follow the seal")]
    KindAfterSeal,
}

impl ChainFault {
    /// Stable machine-readable code (`seq_mismatch`, …).
    pub fn code(self) -> &'static str {
        match self {
            ChainFault::SeqMismatch => "seq_mismatch",
            ChainFault::PrevHashMismatch => "prev_hash_mismatch",
            ChainFault::HashMismatch => "hash_mismatch",
            ChainFault::TimeWentBackwards => "time_went_backwards",
            ChainFault::HeadMismatch => "head_mismatch",
            ChainFault::GenesisMismatch => "genesis_mismatch",
            ChainFault::KindAfterSeal => "kind_after_seal",
        }
    }
}

/// A verification failure at event `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("audit chain broken at event {index}: {fault}")]
pub struct ChainError {
    /// Index of the first bad event.
    pub index: usize,
    /// What is wrong.
    pub fault: ChainFault,
}

/// An append-only, hash-chained list of [`AuditEvent`]s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditChain {
    genesis: Digest,
    events: Vec<AuditEvent>,
}

impl AuditChain {
    /// Start a chain whose genesis hash is derived from `context` (e.g. a ceremony id).
    pub fn new(context: &str) -> Self {
        AuditChain {
            genesis: genesis_hash(context),
            events: Vec::new(),
        }
    }

    /// Rebuild a chain from storage, unchecked: call [`AuditChain::verify`] before trusting it.
    pub fn from_parts(genesis: Digest, events: Vec<AuditEvent>) -> Self {
        AuditChain { genesis, events }
    }

    /// The genesis hash.
    pub fn genesis(&self) -> Digest {
        self.genesis
    }

    /// The events in order.
    pub fn events(&self) -> &[AuditEvent] {
        &self.events
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True if no event was appended.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Hash of the last event, or the genesis hash for an empty chain.
    pub fn head(&self) -> Digest {
        self.events.last().map_or(self.genesis, |e| e.hash)
    }

    /// Append an event at server time `at_ms` (Unix ms, supplied by the caller's clock).
    pub fn append(
        &mut self,
        kind: AuditKind,
        at_ms: i64,
        detail: &str,
    ) -> Result<&AuditEvent, AppendError> {
        if detail.len() > MAX_DETAIL_LEN {
            return Err(AppendError::DetailTooLong { len: detail.len() });
        }
        if detail.chars().any(char::is_control) {
            return Err(AppendError::DetailControlCharacters);
        }
        if let Some(last) = self.events.last() {
            if at_ms < last.at_ms {
                return Err(AppendError::TimeWentBackwards {
                    previous_ms: last.at_ms,
                    at_ms,
                });
            }
        }
        let seq = self.events.len() as u64;
        let prev_hash = self.head();
        let hash = event_hash(seq, kind, at_ms, detail, &prev_hash);
        self.events.push(AuditEvent {
            seq,
            kind,
            at_ms,
            detail: detail.to_owned(),
            prev_hash,
            hash,
        });
        // Index is in bounds: an element was pushed on the line above.
        Ok(&self.events[self.events.len() - 1])
    }

    /// Check every link; returns the head hash, or the first broken event.
    pub fn verify(&self) -> Result<Digest, ChainError> {
        let mut prev = self.genesis;
        let mut prev_at: Option<i64> = None;
        for (index, e) in self.events.iter().enumerate() {
            let fail = |fault| Err(ChainError { index, fault });
            if e.seq != index as u64 {
                return fail(ChainFault::SeqMismatch);
            }
            if e.prev_hash != prev {
                return fail(ChainFault::PrevHashMismatch);
            }
            if e.compute_hash() != e.hash {
                return fail(ChainFault::HashMismatch);
            }
            if prev_at.is_some_and(|p| e.at_ms < p) {
                return fail(ChainFault::TimeWentBackwards);
            }
            prev = e.hash;
            prev_at = Some(e.at_ms);
        }
        Ok(prev)
    }

    /// Verify, and check that the first `count` events end in `head` (the state sealed into a
    /// bundle). Events appended after the seal (Sealed, Archived) are allowed.
    pub fn verify_prefix(&self, count: u64, head: &Digest) -> Result<Digest, ChainError> {
        let full_head = self.verify()?;
        let matches = match usize::try_from(count) {
            Ok(0) => self.genesis == *head,
            Ok(n) => self.events.get(n - 1).is_some_and(|e| e.hash == *head),
            Err(_) => false,
        };
        if !matches {
            let index = usize::try_from(count)
                .unwrap_or(usize::MAX)
                .saturating_sub(1)
                .min(self.events.len().saturating_sub(1));
            return Err(ChainError {
                index,
                fault: ChainFault::HeadMismatch,
            });
        }
        Ok(full_head)
    }

    /// The first kind of [`AuditKind::CEREMONY_BEFORE_SEAL`] not found in order, if any.
    pub fn missing_ceremony_step(&self) -> Option<AuditKind> {
        let mut kinds = self.events.iter().map(|e| e.kind);
        AuditKind::CEREMONY_BEFORE_SEAL
            .into_iter()
            .find(|step| !kinds.any(|k| k == *step))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ceremony() -> AuditChain {
        let mut c = AuditChain::new("ceremony 7f3a");
        let steps = [
            (AuditKind::DocumentShown, "document v3 shown"),
            (AuditKind::ConsentGiven, "consent checkbox"),
            (AuditKind::CaptureStarted, ""),
            (AuditKind::CaptureEnded, ""),
            (AuditKind::Submitted, "12 points"),
        ];
        for (i, (kind, detail)) in steps.into_iter().enumerate() {
            c.append(kind, 1_700_000_000_000 + 1000 * i as i64, detail)
                .expect("append");
        }
        c
    }

    #[test]
    fn fresh_chain_verifies_and_links() {
        let c = ceremony();
        assert_eq!(c.verify(), Ok(c.head()));
        assert_eq!(c.events()[0].prev_hash, genesis_hash("ceremony 7f3a"));
        for w in c.events().windows(2) {
            assert_eq!(w[1].prev_hash, w[0].hash);
        }
        assert_eq!(c.missing_ceremony_step(), None);
        assert_eq!(AuditChain::new("x").head(), genesis_hash("x"));
    }

    #[test]
    fn hash_encoding_is_stable() {
        // Known-answer test: pins the documented encoding.
        let mut c = AuditChain::new("");
        c.append(AuditKind::DocumentShown, 0, "").expect("append");
        let mut data = Vec::new();
        data.extend_from_slice(b"confidant-audit-v1\0");
        data.extend_from_slice(&0u64.to_be_bytes());
        data.push(1);
        data.extend_from_slice(&0i64.to_be_bytes());
        data.extend_from_slice(&0u32.to_be_bytes());
        data.extend_from_slice(genesis_hash("").as_bytes());
        let expected = ring::digest::digest(&SHA256, &data);
        assert_eq!(c.head().as_bytes(), expected.as_ref());
        let g = ring::digest::digest(&SHA256, b"confidant-audit-genesis-v1\0\0\0\0\0");
        assert_eq!(genesis_hash("").as_bytes(), g.as_ref());
    }

    #[test]
    fn append_rejects_bad_detail_and_backwards_time() {
        let mut c = ceremony();
        assert_eq!(
            c.append(AuditKind::Sealed, 1_800_000_000_000, &"x".repeat(1025))
                .map(|_| ()),
            Err(AppendError::DetailTooLong { len: 1025 })
        );
        assert_eq!(
            c.append(AuditKind::Sealed, 1_800_000_000_000, "a\nb")
                .map(|_| ()),
            Err(AppendError::DetailControlCharacters)
        );
        assert!(matches!(
            c.append(AuditKind::Sealed, 0, ""),
            Err(AppendError::TimeWentBackwards { .. })
        ));
        assert_eq!(c.len(), 5);
    }

    #[test]
    fn every_field_of_every_event_is_protected() {
        let c = ceremony();
        let n = c.len();
        type Tamper = fn(&mut AuditEvent);
        let tampers: [(&str, Tamper, ChainFault); 6] = [
            ("seq", |e| e.seq += 1, ChainFault::SeqMismatch),
            (
                "kind",
                |e| {
                    e.kind = if e.kind == AuditKind::Archived {
                        AuditKind::Sealed
                    } else {
                        AuditKind::Archived
                    }
                },
                ChainFault::HashMismatch,
            ),
            ("at_ms", |e| e.at_ms += 1, ChainFault::HashMismatch),
            ("detail", |e| e.detail.push('!'), ChainFault::HashMismatch),
            (
                "prev_hash",
                |e| e.prev_hash.flip_bit(0),
                ChainFault::PrevHashMismatch,
            ),
            ("hash", |e| e.hash.flip_bit(255), ChainFault::HashMismatch),
        ];
        for index in 0..n {
            for (field, tamper, fault) in tampers {
                let mut events = c.events().to_vec();
                tamper(&mut events[index]);
                let t = AuditChain::from_parts(c.genesis(), events);
                let err = t.verify().expect_err(field);
                assert_eq!(err, ChainError { index, fault }, "{field} at {index}");
            }
        }
    }

    #[test]
    fn removing_reordering_or_regenesis_breaks_the_chain() {
        let c = ceremony();
        let mut removed = c.events().to_vec();
        removed.remove(2);
        assert_eq!(
            AuditChain::from_parts(c.genesis(), removed).verify(),
            Err(ChainError {
                index: 2,
                fault: ChainFault::SeqMismatch
            })
        );
        let mut swapped = c.events().to_vec();
        swapped.swap(1, 2);
        assert!(AuditChain::from_parts(c.genesis(), swapped)
            .verify()
            .is_err());
        assert_eq!(
            AuditChain::from_parts(genesis_hash("other"), c.events().to_vec()).verify(),
            Err(ChainError {
                index: 0,
                fault: ChainFault::PrevHashMismatch
            })
        );
    }

    #[test]
    fn rewritten_history_is_caught_by_the_sealed_head() {
        let c = ceremony();
        let sealed_head = c.head();
        // An attacker rewrites event 1 and recomputes every hash after it.
        let mut forged = AuditChain::new("ceremony 7f3a");
        for (i, e) in c.events().iter().enumerate() {
            let detail = if i == 1 {
                "no consent"
            } else {
                e.detail.as_str()
            };
            forged.append(e.kind, e.at_ms, detail).expect("append");
        }
        assert!(forged.verify().is_ok());
        assert_eq!(
            forged.verify_prefix(5, &sealed_head),
            Err(ChainError {
                index: 4,
                fault: ChainFault::HeadMismatch
            })
        );
        // Later events after the sealed prefix are fine.
        let mut later = c.clone();
        later
            .append(AuditKind::Sealed, 1_800_000_000_000, "sealed")
            .expect("append");
        assert!(later.verify_prefix(5, &sealed_head).is_ok());
        // A truncated chain is not.
        let truncated = AuditChain::from_parts(c.genesis(), c.events()[..4].to_vec());
        assert_eq!(
            truncated.verify_prefix(5, &sealed_head),
            Err(ChainError {
                index: 3,
                fault: ChainFault::HeadMismatch
            })
        );
    }

    #[test]
    fn missing_ceremony_steps_are_reported_in_order() {
        let mut c = AuditChain::new("c");
        assert_eq!(c.missing_ceremony_step(), Some(AuditKind::DocumentShown));
        c.append(AuditKind::DocumentShown, 1, "").expect("append");
        c.append(AuditKind::CaptureStarted, 2, "").expect("append");
        assert_eq!(c.missing_ceremony_step(), Some(AuditKind::ConsentGiven));
    }

    #[test]
    fn chain_serialises_and_round_trips() {
        let c = ceremony();
        let json = serde_json::to_string(&c).expect("serialise");
        let back: AuditChain = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, c);
        assert!(json.contains("\"kind\":\"document_shown\""));
    }
}
