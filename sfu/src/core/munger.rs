//! TEMPORARY stand-in, replaced by the real munger.
use std::time::Instant;

/// Output of [`Munger::rewrite`].
#[derive(Debug, Clone, Copy)]
pub struct Rewritten {
    /// Out seq.
    pub seq: u64,
    /// Out ts.
    pub ts: u32,
    /// Out picture id.
    pub picture_id: Option<u16>,
    /// Out tl0.
    pub tl0: Option<u8>,
}

/// Stand-in.
#[derive(Debug, Default)]
pub struct Munger {
    source: Option<u32>,
    seq_off: i64,
    ts_off: u32,
    last_seq: u64,
    last_ts: u32,
    last_at: Option<Instant>,
    first_seq: u64,
}

impl Munger {
    /// New.
    pub fn new() -> Self {
        Self::default()
    }
    /// Rewrite.
    #[allow(clippy::too_many_arguments)]
    pub fn rewrite(&mut self, source: u32, seq: u64, ts: u32, now: Instant, clock_rate: u32, switch: bool, _vp8: Option<(u16, Option<u8>)>) -> Option<Rewritten> {
        if self.source != Some(source) {
            if !switch && self.source.is_some() {
                return None;
            }
            let out_seq = if self.source.is_none() { seq & 0xffff } else { self.last_seq + 1 };
            let out_ts = match self.last_at {
                None => ts,
                Some(at) => self.last_ts.wrapping_add(((now - at).as_micros() as u64 * clock_rate as u64 / 1_000_000).max(1) as u32),
            };
            self.seq_off = seq as i64 - out_seq as i64;
            self.ts_off = ts.wrapping_sub(out_ts);
            self.source = Some(source);
            self.first_seq = seq;
        }
        if seq < self.first_seq {
            return None;
        }
        let out = (seq as i64 - self.seq_off) as u64;
        let ots = ts.wrapping_sub(self.ts_off);
        if out > self.last_seq || self.last_at.is_none() {
            self.last_seq = out;
            self.last_ts = ots;
            self.last_at = Some(now);
        }
        Some(Rewritten { seq: out, ts: ots, picture_id: None, tl0: None })
    }
}
