//! Rewriting of RTP sequence numbers, RTP timestamps and VP8 picture ids for one subscriber of
//! one forwarded track, so that packets taken from several source streams (the simulcast layers
//! of a publisher, each its own SSRC with its own random bases) reach the subscriber as one
//! continuous stream.
//!
//! Modelled on LiveKit's `RTPMunger` (`pkg/sfu/rtpmunger.go`) and VP8 munger
//! (`pkg/sfu/codecmunger/vp8.go`): the output of a source is its input plus an offset, fixed
//! when the munger *switches* to that source and kept until the next switch.
//!
//! * **When** to switch (at the first packet of a key frame of the target layer, see
//!   [`super::frame`]) is the caller's decision; [`Munger::switch_to`] does the arithmetic. The
//!   first packet ever is an implicit switch.
//! * Within a source the differences of sequence numbers, timestamps, picture ids and
//!   TL0PICIDX are preserved, so a loss stays a gap the subscriber NACKs, and a late
//!   retransmission fills its own gap with the right number.
//! * At a switch the new source continues right after the highest sequence number sent so far
//!   (no gap, so the subscriber does not NACK packets that never existed), its timestamps continue
//!   from the last sent one advanced by the wall-clock time elapsed since that packet (so playout
//!   timing stays right), and VP8 picture id and TL0PICIDX continue at +1.
//! * A packet of another source than the current one, or of the current source but from before
//!   the switch point (a late packet or retransmission of the previous epoch), is dropped: its
//!   number would collide with numbers already given to another source's packets.
//!
//! With str0m's RTP mode: from a received `RtpPacket` take `source: *header.ssrc`,
//! `seq: *seq_no`, `timestamp: header.timestamp`, `arrival: timestamp`; send with
//! `RtpWrite::new(pt, out.seq.into(), out.timestamp, wallclock, payload)` and, when
//! [`Rewritten::vp8`] is set, `.vp8_patch(..)` built with `Vp8Descriptor::patch` (a 7-bit
//! picture id in the input cannot hold every 15-bit output: str0m's patch refuses those, so
//! such a stream must stay on one source or be dropped).

//! The munger is pure: no IO, no clock reads (the arrival time is an argument), no allocation;
//! its functions take and return `Copy` values and never panic.

use std::time::Instant;

/// Picture ids are 15-bit (RFC 7741 `M` = 1); the munger always computes on 15 bits.
const PICTURE_ID_MODULO: u16 = 1 << 15;

/// The largest forward jump of an RTP timestamp at a switch, in clock ticks: a larger one
/// would read as a step *back* under the usual wrapping (serial number) comparison.
const MAX_TS_JUMP: u32 = i32::MAX as u32;

/// The VP8 payload descriptor fields the munger rewrites (RFC 7741 section 4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Ids {
    /// The picture id, taken as 15 bits (a 7-bit one is given as is; the result is 15-bit).
    pub picture_id: u16,
    /// TL0PICIDX, when the descriptor carries one.
    pub tl0_pic_idx: Option<u8>,
}

/// One packet as it arrives from a source stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incoming {
    /// Opaque id of the source stream (e.g. its SSRC); packets of one source share it.
    pub source: u32,
    /// Extended (never wrapping) input sequence number, as str0m's `SeqNo`.
    pub seq: u64,
    /// Input RTP timestamp (wrapping).
    pub timestamp: u32,
    /// When the packet arrived.
    pub arrival: Instant,
    /// RTP clock rate of the track in Hz (90 000 for video).
    pub clock_rate: u32,
    /// The VP8 picture id and TL0PICIDX of the packet, if it is VP8 and carries them.
    pub vp8: Option<Vp8Ids>,
}

/// The rewritten header fields of a forwarded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewritten {
    /// Extended output sequence number (the first one ever is below 65 536: rollover counter 0).
    pub seq: u64,
    /// Output RTP timestamp.
    pub timestamp: u32,
    /// Output picture id and TL0PICIDX, present exactly when the input had them (a TL0PICIDX
    /// only when the input had one).
    pub vp8: Option<Vp8Ids>,
}

/// Offsets of the current source's epoch (from its switch point on).
#[derive(Debug, Clone, Copy)]
struct Epoch {
    source: u32,
    /// Input sequence number of the switch packet; older packets of the source are dropped.
    first_in: u64,
    /// Output sequence number of the switch packet.
    first_out: u64,
    /// Output timestamp minus input timestamp (wrapping).
    ts_offset: u32,
    /// Output picture id minus input picture id (mod 2^15); `None` until a packet of this
    /// epoch carried a picture id.
    picture_id_offset: Option<u16>,
    /// Output TL0PICIDX minus input (mod 2^8); `None` until a packet of this epoch carried one.
    tl0_offset: Option<u8>,
}

/// The packet with the highest output sequence number so far: where a switch continues from.
/// (Its picture id and TL0PICIDX are kept in [`Munger`] itself, as the last ones sent, since a
/// packet without them may be the highest.)
#[derive(Debug, Clone, Copy)]
struct Highest {
    seq: u64,
    timestamp: u32,
    arrival: Instant,
}

/// Sequence number, timestamp and VP8 id rewriting for one subscriber of one forwarded track.
///
/// Feed every packet of every source of the track, in arrival order: [`Munger::forward`]
/// normally, [`Munger::switch_to`] for the packet at which the caller switches to its source
/// (the first packet of a key frame of the target layer). Send a packet only when the munger
/// returns `Some`, with the returned fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct Munger {
    epoch: Option<Epoch>,
    highest: Option<Highest>,
    // The picture id / TL0PICIDX last sent, even if the highest packet lacked them.
    last_picture_id: Option<u16>,
    last_tl0: Option<u8>,
}

impl Munger {
    /// A munger that has forwarded nothing; its first packet is an implicit switch.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The source packets are taken from, `None` before the first packet.
    #[must_use]
    pub fn current_source(&self) -> Option<u32> {
        self.epoch.map(|e| e.source)
    }

    /// Whether any packet has been forwarded.
    #[must_use]
    pub fn has_forwarded(&self) -> bool {
        self.highest.is_some()
    }

    /// The highest output sequence number given so far, `None` before the first packet.
    #[must_use]
    pub fn highest_seq(&self) -> Option<u64> {
        self.highest.map(|h| h.seq)
    }

    /// The output timestamp of the packet with the highest output sequence number so far.
    #[must_use]
    pub fn highest_timestamp(&self) -> Option<u32> {
        self.highest.map(|h| h.timestamp)
    }

    /// Rewrite a packet without switching: `Some` for a packet of the current source at or
    /// after its switch point, `None` (drop) otherwise. The first packet ever switches to its
    /// source.
    #[must_use]
    pub fn forward(&mut self, p: Incoming) -> Option<Rewritten> {
        match self.epoch {
            None => self.switch_to(p),
            Some(e) if e.source == p.source => self.rewrite(p),
            Some(_) => None,
        }
    }

    /// Switch to `p.source`, with `p` as the switch point, and rewrite `p`. Call it for the
    /// first packet of a key frame of the target source. A switch to the current source is a
    /// plain [`Munger::forward`].
    ///
    /// `p` gets the output sequence number right after the highest one so far, and a timestamp
    /// `max(1, elapsed × clock_rate)` ticks after the timestamp of that highest packet, where
    /// elapsed is the wall-clock time since it arrived. Picture id and TL0PICIDX continue at
    /// +1 from the last ones sent.
    #[must_use]
    pub fn switch_to(&mut self, p: Incoming) -> Option<Rewritten> {
        if self.current_source() == Some(p.source) {
            return self.rewrite(p);
        }
        let (first_out, out_ts) = match self.highest {
            // The first packet ever: keep its low 16 bits (rollover counter 0) and timestamp.
            None => (p.seq & 0xFFFF, p.timestamp),
            Some(h) => {
                let seq = h.seq.checked_add(1)?;
                let elapsed = p.arrival.saturating_duration_since(h.arrival);
                let ticks = elapsed.as_nanos() * u128::from(p.clock_rate) / 1_000_000_000;
                let ticks = u32::try_from(ticks)
                    .unwrap_or(MAX_TS_JUMP)
                    .clamp(1, MAX_TS_JUMP);
                (seq, h.timestamp.wrapping_add(ticks))
            }
        };
        let (picture_id_offset, tl0_offset) = self.vp8_offsets(p.vp8);
        self.epoch = Some(Epoch {
            source: p.source,
            first_in: p.seq,
            first_out,
            ts_offset: out_ts.wrapping_sub(p.timestamp),
            picture_id_offset,
            tl0_offset,
        });
        self.rewrite(p)
    }

    /// Continue the current source after a gap that was not loss: the publisher's packets in
    /// between were deliberately not forwarded (its audio left the loudest set and came back).
    /// `p` gets the next sequence number and a timestamp advanced by the time that passed, as
    /// at a switch, so the subscriber sees a pause (like DTX) instead of a burst of lost packets
    /// it would try to conceal. Late packets from before `p` are dropped.
    #[must_use]
    pub fn resume(&mut self, p: Incoming) -> Option<Rewritten> {
        if self.highest.is_none() {
            return self.switch_to(p);
        }
        let previous = self.epoch.take();
        let out = self.switch_to(p);
        if out.is_none() {
            self.epoch = previous;
        }
        out
    }

    /// The VP8 offsets for a new epoch whose first packet carries `ids`: continue at +1 from
    /// the last values sent, or keep the input's values when none were sent.
    fn vp8_offsets(&self, ids: Option<Vp8Ids>) -> (Option<u16>, Option<u8>) {
        let Some(ids) = ids else {
            return (None, None);
        };
        let pid_in = ids.picture_id % PICTURE_ID_MODULO;
        let pid = match self.last_picture_id {
            Some(last) => (last.wrapping_add(1).wrapping_sub(pid_in)) % PICTURE_ID_MODULO,
            None => 0,
        };
        let tl0 = ids.tl0_pic_idx.map(|tl0_in| match self.last_tl0 {
            Some(last) => last.wrapping_add(1).wrapping_sub(tl0_in),
            None => 0,
        });
        (Some(pid), tl0)
    }

    /// Rewrite a packet of the current epoch's source.
    fn rewrite(&mut self, p: Incoming) -> Option<Rewritten> {
        let mut e = self.epoch?;
        // Older than the switch point: its number belongs to the previous epoch.
        let delta = p.seq.checked_sub(e.first_in)?;
        let seq = e.first_out.checked_add(delta)?;
        let timestamp = p.timestamp.wrapping_add(e.ts_offset);
        let vp8 = p.vp8.map(|ids| {
            // An epoch whose switch packet lacked the ids takes its offsets from the first
            // packet that has them.
            let (pid_off, tl0_off) = self.vp8_offsets(Some(ids));
            let pid_off = *e.picture_id_offset.get_or_insert(pid_off.unwrap_or(0));
            let picture_id =
                (ids.picture_id % PICTURE_ID_MODULO).wrapping_add(pid_off) % PICTURE_ID_MODULO;
            let tl0_pic_idx = ids.tl0_pic_idx.map(|tl0| {
                let off = *e.tl0_offset.get_or_insert(tl0_off.unwrap_or(0));
                tl0.wrapping_add(off)
            });
            Vp8Ids {
                picture_id,
                tl0_pic_idx,
            }
        });
        self.epoch = Some(e);
        if self.highest.is_none_or(|h| seq > h.seq) {
            self.highest = Some(Highest {
                seq,
                timestamp,
                arrival: p.arrival,
            });
            if let Some(v) = vp8 {
                self.last_picture_id = Some(v.picture_id);
                if v.tl0_pic_idx.is_some() {
                    self.last_tl0 = v.tl0_pic_idx;
                }
            }
        }
        Some(Rewritten {
            seq,
            timestamp,
            vp8,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    use proptest::prelude::*;

    const VIDEO: u32 = 90_000;

    fn packet(source: u32, seq: u64, timestamp: u32, arrival: Instant) -> Incoming {
        Incoming {
            source,
            seq,
            timestamp,
            arrival,
            clock_rate: VIDEO,
            vp8: None,
        }
    }

    fn vp8(p: Incoming, picture_id: u16, tl0: u8) -> Incoming {
        Incoming {
            vp8: Some(Vp8Ids {
                picture_id,
                tl0_pic_idx: Some(tl0),
            }),
            ..p
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn first_packet_keeps_low_16_bits_of_seq_and_its_timestamp_and_ids() {
        let t0 = Instant::now();
        let mut m = Munger::new();
        assert!(!m.has_forwarded());
        assert_eq!(m.current_source(), None);
        let out = m.forward(vp8(packet(7, 0x3_1234, 99, t0), 300, 5)).unwrap();
        assert_eq!(out.seq, 0x1234);
        assert_eq!(out.timestamp, 99);
        assert_eq!(
            out.vp8,
            Some(Vp8Ids {
                picture_id: 300,
                tl0_pic_idx: Some(5)
            })
        );
        assert!(m.has_forwarded());
        assert_eq!(m.current_source(), Some(7));
        assert_eq!(m.highest_seq(), Some(0x1234));
        assert_eq!(m.highest_timestamp(), Some(99));
    }

    #[test]
    fn first_packet_below_65536_seq_is_kept_as_is() {
        let mut m = Munger::new();
        let out = m.switch_to(packet(1, 65_535, 0, Instant::now())).unwrap();
        assert_eq!(out.seq, 65_535);
        let next = m.forward(packet(1, 65_536, 0, Instant::now())).unwrap();
        assert_eq!(next.seq, 65_536, "the extended output grows past 65535");
    }

    #[test]
    fn resume_after_a_deliberate_gap_continues_without_a_hole() {
        let t0 = Instant::now();
        let audio = |seq: u64, ts: u32, at: Instant| Incoming {
            clock_rate: 48_000,
            ..packet(5, seq, ts, at)
        };
        let mut m = Munger::new();
        assert_eq!(m.resume(audio(100, 0, t0)).map(|o| o.seq), Some(100));
        m.forward(audio(101, 960, t0 + ms(20))).unwrap();
        // Packets 102..=199 were not forwarded (not among the loudest); 200 comes 2 s later.
        let out = m.resume(audio(200, 95_000, t0 + ms(2020))).unwrap();
        assert_eq!(out.seq, 102, "no sequence gap: nothing to conceal or NACK");
        assert_eq!(
            out.timestamp,
            960 + 96_000,
            "the pause as it passed, at 48 kHz"
        );
        assert_eq!(
            m.forward(audio(201, 95_960, t0 + ms(2040))).unwrap().seq,
            103
        );
        assert_eq!(
            m.forward(audio(150, 47_000, t0 + ms(2041))),
            None,
            "late, from the gap"
        );
    }

    #[test]
    fn packet_of_another_source_is_dropped() {
        let t0 = Instant::now();
        let mut m = Munger::new();
        m.forward(packet(1, 10, 0, t0)).unwrap();
        assert_eq!(m.forward(packet(2, 11, 0, t0)), None);
        assert_eq!(m.current_source(), Some(1));
        assert_eq!(m.highest_seq(), Some(10));
    }

    #[test]
    fn switch_continues_seq_without_gap_and_timestamp_by_elapsed_time() {
        let t0 = Instant::now();
        let mut m = Munger::new();
        for i in 0..6u64 {
            let frame = (i / 3) as u32;
            let p = vp8(
                packet(1, 1000 + i, 5000 + frame * 3000, t0 + ms(i * 10)),
                40,
                9,
            );
            m.forward(p).unwrap();
        }
        assert_eq!(m.highest_seq(), Some(1005));
        assert_eq!(m.highest_timestamp(), Some(8000));
        // Source 2 starts a key frame 30 ms after the last packet of source 1 arrived.
        let out = m
            .switch_to(vp8(packet(2, 40_000, 123_456, t0 + ms(80)), 7000, 200))
            .unwrap();
        assert_eq!(out.seq, 1006, "no gap at a switch");
        assert_eq!(
            out.timestamp,
            8000 + 2700,
            "30 ms at 90 kHz after the last one"
        );
        assert_eq!(
            out.vp8,
            Some(Vp8Ids {
                picture_id: 41,
                tl0_pic_idx: Some(10)
            })
        );
        assert_eq!(m.current_source(), Some(2));
        // Differences within the new source are kept.
        let next = m
            .forward(vp8(packet(2, 40_003, 126_456, t0 + ms(90)), 7001, 201))
            .unwrap();
        assert_eq!(next.seq, 1009);
        assert_eq!(next.timestamp, 8000 + 2700 + 3000);
        assert_eq!(next.vp8.unwrap().picture_id, 42);
        assert_eq!(next.vp8.unwrap().tl0_pic_idx, Some(11));
        // The old source is dropped now.
        assert_eq!(m.forward(packet(1, 1006, 11_000, t0 + ms(90))), None);
    }

    #[test]
    fn switch_advances_timestamp_at_least_one_tick_when_no_time_elapsed() {
        let t0 = Instant::now();
        let mut m = Munger::new();
        m.forward(packet(1, 5, 1000, t0)).unwrap();
        let out = m.switch_to(packet(2, 9, 77, t0)).unwrap();
        assert_eq!(out.timestamp, 1001);
        // Arrival before the last forwarded packet (caller's clock noise) counts as no time.
        let out = m.switch_to(packet(3, 9, 77, t0 - ms(5))).unwrap();
        assert_eq!(out.timestamp, 1002);
    }

    #[test]
    fn switch_after_a_long_pause_clamps_the_timestamp_jump_to_half_the_range() {
        let t0 = Instant::now();
        let mut m = Munger::new();
        m.forward(packet(1, 5, 1000, t0)).unwrap();
        let out = m
            .switch_to(packet(2, 9, 77, t0 + Duration::from_secs(100_000)))
            .unwrap();
        assert_eq!(out.timestamp, 1000u32.wrapping_add(i32::MAX as u32));
    }

    #[test]
    fn switch_to_the_current_source_does_not_rebase() {
        let t0 = Instant::now();
        let mut m = Munger::new();
        m.forward(packet(1, 100, 0, t0)).unwrap();
        // 101..=104 lost: the gap must stay visible.
        let out = m.switch_to(packet(1, 105, 3000, t0 + ms(50))).unwrap();
        assert_eq!(out.seq, 105);
        assert_eq!(out.timestamp, 3000);
    }

    #[test]
    fn late_packet_from_before_the_switch_point_is_dropped() {
        let t0 = Instant::now();
        let mut m = Munger::new();
        m.forward(packet(1, 100, 0, t0)).unwrap();
        m.switch_to(packet(2, 500, 0, t0 + ms(10))).unwrap();
        assert_eq!(
            m.forward(packet(2, 499, 0, t0 + ms(11))),
            None,
            "source 2's packet from before its switch point"
        );
        assert_eq!(
            m.forward(packet(1, 99, 0, t0 + ms(11))),
            None,
            "late retransmission of the previous source"
        );
        assert_eq!(m.highest_seq(), Some(101));
    }

    #[test]
    fn late_retransmission_after_the_switch_fills_its_own_gap() {
        let t0 = Instant::now();
        let mut m = Munger::new();
        m.forward(packet(1, 100, 0, t0)).unwrap();
        let a = m.switch_to(packet(2, 500, 10, t0 + ms(10))).unwrap();
        // 501 lost, 502 arrives: the subscriber sees a gap at a.seq + 1 and NACKs it.
        let c = m.forward(packet(2, 502, 10, t0 + ms(11))).unwrap();
        assert_eq!(c.seq, a.seq + 2);
        let b = m.forward(packet(2, 501, 10, t0 + ms(40))).unwrap();
        assert_eq!(b.seq, a.seq + 1, "the retransmission fills the gap");
        assert_eq!(m.highest_seq(), Some(c.seq));
        // A duplicate gets the same number again (it is the same packet).
        assert_eq!(m.forward(packet(2, 501, 10, t0 + ms(41))), Some(b));
    }

    #[test]
    fn switch_back_to_an_earlier_source_continues_after_the_highest() {
        let t0 = Instant::now();
        let mut m = Munger::new();
        m.forward(packet(1, 100, 0, t0)).unwrap();
        m.switch_to(packet(2, 7, 0, t0)).unwrap();
        m.forward(packet(2, 8, 0, t0)).unwrap();
        let out = m.switch_to(packet(1, 110, 0, t0)).unwrap();
        assert_eq!(out.seq, 103);
        assert_eq!(
            m.forward(packet(1, 105, 0, t0)),
            None,
            "before the new switch point"
        );
    }

    #[test]
    fn input_seq_past_65535_and_timestamp_past_u32_max_stay_continuous() {
        let t0 = Instant::now();
        let mut m = Munger::new();
        let ts0 = u32::MAX - 1000;
        let first = m.forward(packet(1, 65_534, ts0, t0)).unwrap();
        let mut prev = first;
        for i in 1..5u64 {
            let out = m
                .forward(packet(1, 65_534 + i, ts0.wrapping_add(i as u32 * 3000), t0))
                .unwrap();
            assert_eq!(out.seq, prev.seq + 1);
            assert_eq!(out.timestamp.wrapping_sub(prev.timestamp), 3000);
            prev = out;
        }
        // A switch from a source whose timestamps just wrapped.
        let out = m.switch_to(packet(2, 3, 5, t0 + ms(1))).unwrap();
        assert_eq!(out.seq, prev.seq + 1);
        assert_eq!(out.timestamp, prev.timestamp.wrapping_add(90));
    }

    #[test]
    fn picture_id_wraps_at_15_bits_and_tl0picidx_at_8_bits() {
        let t0 = Instant::now();
        let mut m = Munger::new();
        m.forward(vp8(packet(1, 10, 0, t0), 0x7FFE, 254)).unwrap();
        // 11 is late; 12 and 13 cross the wrap of both ids.
        let out = m
            .forward(vp8(packet(1, 12, 3000, t0), 0x7FFF, 255))
            .unwrap();
        assert_eq!(out.vp8.unwrap().picture_id, 0x7FFF);
        let out = m.forward(vp8(packet(1, 13, 6000, t0), 0, 0)).unwrap();
        assert_eq!(out.vp8.unwrap().picture_id, 0);
        assert_eq!(out.vp8.unwrap().tl0_pic_idx, Some(0));
        let late = m.forward(vp8(packet(1, 11, 0, t0), 0x7FFE, 254)).unwrap();
        assert_eq!(
            late.vp8.unwrap().picture_id,
            0x7FFE,
            "a late packet keeps its old id"
        );
        let out = m.switch_to(vp8(packet(2, 10, 0, t0), 1234, 77)).unwrap();
        assert_eq!(
            out.vp8.unwrap().picture_id,
            1,
            "+1 from the newest picture id sent"
        );
        assert_eq!(out.vp8.unwrap().tl0_pic_idx, Some(1));
        let out = m.switch_to(vp8(packet(3, 10, 0, t0), 0x7FFF, 3)).unwrap();
        assert_eq!(out.vp8.unwrap().picture_id, 2);
    }

    #[test]
    fn extreme_sequence_numbers_do_not_panic() {
        let t0 = Instant::now();
        let mut m = Munger::new();
        m.forward(packet(1, u64::MAX, u32::MAX, t0)).unwrap();
        assert_eq!(m.forward(packet(1, 0, 0, t0)), None);
        let mut m = Munger::new();
        m.forward(packet(1, 0, 0, t0)).unwrap();
        assert!(m.forward(packet(1, u64::MAX, 0, t0)).is_some());
        assert_eq!(
            m.switch_to(packet(2, 0, 0, t0)),
            None,
            "no number left after u64::MAX"
        );
        let odd = Incoming {
            clock_rate: u32::MAX,
            vp8: Some(Vp8Ids {
                picture_id: u16::MAX,
                tl0_pic_idx: None,
            }),
            ..packet(3, 0, 0, t0 + Duration::from_secs(u64::from(u32::MAX)))
        };
        let _ = Munger::new().switch_to(odd);
    }

    // ---- property tests ----

    /// One simulcast source: its random bases. Packet `t` of it has seq `seq0 + t`, belongs to
    /// frame `t / PACKETS_PER_FRAME`, and was sent at `t × STEP`.
    #[derive(Debug, Clone, Copy)]
    struct Source {
        seq0: u64,
        ts0: u32,
        pid0: u16,
        tl00: u8,
    }

    const PACKETS_PER_FRAME: u64 = 3;
    const STEP: Duration = Duration::from_millis(11);

    impl Source {
        fn packet(&self, id: u32, t: u64, arrival: Instant) -> Incoming {
            let frame = t / PACKETS_PER_FRAME;
            Incoming {
                source: id,
                seq: self.seq0 + t,
                timestamp: self.ts0.wrapping_add((frame as u32).wrapping_mul(3000)),
                arrival,
                clock_rate: VIDEO,
                vp8: Some(Vp8Ids {
                    picture_id: ((u64::from(self.pid0) + frame) % 0x8000) as u16,
                    tl0_pic_idx: Some(self.tl00.wrapping_add(frame as u8)),
                }),
            }
        }
    }

    fn source() -> impl Strategy<Value = Source> {
        (
            prop_oneof![65_500u64..65_536, 0u64..200_000],
            prop_oneof![(u32::MAX - 20_000)..=u32::MAX, any::<u32>()],
            prop_oneof![0x7FF0u16..0x8000, 0u16..0x8000],
            any::<u8>(),
        )
            .prop_map(|(seq0, ts0, pid0, tl00)| Source {
                seq0,
                ts0,
                pid0,
                tl00,
            })
    }

    /// What happens to packet `t` of every source: lost, delayed by some steps (reordering),
    /// duplicated; and whether the caller switches at it.
    #[derive(Debug, Clone, Copy)]
    struct Fate {
        lost: bool,
        delay: u8,
        duplicate: bool,
        switch: bool,
    }

    fn fate() -> impl Strategy<Value = Fate> {
        (
            prop::bool::weighted(0.1),
            prop_oneof![4 => Just(0u8), 1 => 0u8..5],
            prop::bool::weighted(0.05),
            prop::bool::weighted(0.08),
        )
            .prop_map(|(lost, delay, duplicate, switch)| Fate {
                lost,
                delay,
                duplicate,
                switch,
            })
    }

    /// The arrival order: (key, source, t, switch), sorted by key.
    fn arrivals(sources: usize, fates: &[Vec<Fate>]) -> Vec<(u64, usize, u64, bool)> {
        let mut out = Vec::new();
        for (t, per_source) in fates.iter().enumerate() {
            for (s, f) in per_source.iter().enumerate().take(sources) {
                if f.lost {
                    continue;
                }
                let key = (t as u64 + u64::from(f.delay)) * 8 + s as u64;
                out.push((key, s, t as u64, f.switch));
                if f.duplicate {
                    out.push((key + 8 * 3 + 4, s, t as u64, false));
                }
            }
        }
        out.sort_by_key(|a| a.0);
        out
    }

    /// Output minus input of sequence number, timestamp, picture id and TL0PICIDX.
    type Offsets = (u64, u32, u16, u8);

    /// The test's own model of what the munger must do, checked packet by packet.
    #[derive(Default)]
    struct Model {
        /// (source, first input seq of the epoch, offsets once known)
        epoch: Option<(u32, u64, Option<Offsets>)>,
        /// (out seq, out ts, arrival) of the highest packet sent.
        highest: Option<(u64, u32, Instant)>,
        last_ids: Option<(u16, u8)>,
        given: HashMap<u64, (u32, u64)>,
    }

    impl Model {
        fn check(&mut self, p: Incoming, switch: bool, got: Option<Rewritten>) {
            let current = self.epoch.map(|e| e.0);
            let switching = current != Some(p.source) && (switch || current.is_none());
            let ids_in = p.vp8.unwrap();
            if switching {
                let out = got.expect("a switch forwards its packet");
                match self.highest {
                    None => assert_eq!(out.seq, p.seq & 0xFFFF, "first output seq"),
                    Some((seq, ts, at)) => {
                        assert_eq!(out.seq, seq + 1, "gap or overlap at a switch");
                        let advance = out.timestamp.wrapping_sub(ts);
                        let elapsed = p.arrival.saturating_duration_since(at);
                        let ticks = (elapsed.as_nanos() * 90_000 / 1_000_000_000) as u32;
                        assert!((1..1 << 31).contains(&advance), "ts step {advance}");
                        assert_eq!(advance, ticks.max(1), "ts step is the elapsed time");
                    }
                }
                let ids = out.vp8.unwrap();
                match self.last_ids {
                    None => assert_eq!(ids, ids_in, "first ids kept"),
                    Some((pid, tl0)) => {
                        assert_eq!(ids.picture_id, (pid + 1) % 0x8000, "picture id continuity");
                        assert_eq!(ids.tl0_pic_idx, Some(tl0.wrapping_add(1)), "tl0 continuity");
                    }
                }
                self.epoch = Some((p.source, p.seq, None));
            } else if current != Some(p.source) {
                assert_eq!(got, None, "packet of a source that is not the current one");
                return;
            }
            let Some((_, first_in, offsets)) = self.epoch.as_mut() else {
                unreachable!("set above");
            };
            if p.seq < *first_in {
                assert_eq!(got, None, "packet from before the switch point");
                return;
            }
            let out = got.expect("packet of the current source after its switch point");
            let ids = out.vp8.unwrap();
            let now = (
                out.seq.wrapping_sub(p.seq),
                out.timestamp.wrapping_sub(p.timestamp),
                ids.picture_id.wrapping_sub(ids_in.picture_id) % 0x8000,
                ids.tl0_pic_idx
                    .unwrap()
                    .wrapping_sub(ids_in.tl0_pic_idx.unwrap()),
            );
            assert!(ids.picture_id < 0x8000);
            assert_eq!(
                *offsets.get_or_insert(now),
                now,
                "differences within a source"
            );
            if let Some(prev) = self.given.insert(out.seq, (p.source, p.seq)) {
                assert_eq!(prev, (p.source, p.seq), "out seq {} given twice", out.seq);
            }
            if self.highest.is_none_or(|h| out.seq > h.0) {
                self.highest = Some((out.seq, out.timestamp, p.arrival));
                self.last_ids = Some((ids.picture_id, ids.tl0_pic_idx.unwrap()));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn munged_stream_is_continuous_unique_and_keeps_differences(
            n_sources in 1usize..=3,
            sources in prop::array::uniform3(source()),
            fates in prop::collection::vec(prop::collection::vec(fate(), 3), 1..150),
        ) {
            let t0 = Instant::now();
            let mut m = Munger::new();
            let mut model = Model::default();
            let mut highest_in_epoch: Option<u64> = None;
            for (key, s, t, switch) in arrivals(n_sources, &fates) {
                let arrival = t0 + STEP * (key as u32) / 8;
                let p = sources[s].packet(s as u32 + 1, t, arrival);
                let before = m.highest_seq();
                let source_before = m.current_source();
                let got = if switch { m.switch_to(p) } else { m.forward(p) };
                model.check(p, switch, got);
                // In-order packets of the current source: strictly increasing out seq.
                if m.current_source() != source_before {
                    highest_in_epoch = None;
                }
                if let Some(out) = got {
                    if highest_in_epoch.is_none_or(|h| p.seq > h) {
                        prop_assert!(before.is_none_or(|b| out.seq > b), "in-order packet did not advance");
                        highest_in_epoch = Some(p.seq);
                    }
                }
                prop_assert_eq!(m.highest_seq(), model.highest.map(|h| h.0));
                prop_assert_eq!(m.current_source(), model.epoch.map(|e| e.0));
            }
        }
    }
}
