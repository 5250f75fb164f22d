//! Which simulcast layer a receiver got, and how loss is counted when the SFU forwards one
//! layer at a time.
//!
//! With `--simulcast` a publisher sends every video frame time on up to three layers (`q`,
//! `h`, `f`), each numbering its frames on its own; the SFU forwards ONE of them to each
//! receiver and may switch, at a keyframe of the new layer. So the frames a receiver should
//! get are neither all window frames of all layers (it never gets more than one) nor those of
//! one fixed layer. They are counted against the layer it got:
//!
//! * Each receiver keeps, per publisher, a [`LayerTrail`]: the layer of the last frame, the
//!   switches it saw, and the *segments* of the measurement window it spent on one layer
//!   (first and last sequence number received on that layer, distinct window frames received).
//! * A segment expects every window frame of its layer from its first to its last sequence
//!   number: a gap inside is loss. At its edges the segment is widened to the window's edge
//!   where the receiver demonstrably stayed on the layer: a segment on the layer the receiver
//!   was already on before the window opened starts at the publisher's first window frame of
//!   that layer; a segment the receiver never left ends at the publisher's last window frame of
//!   that layer. So frames lost at the window's edges count, as without simulcast.
//! * At a switch the SFU stops forwarding the old layer and starts at a keyframe of the new one;
//!   which old-layer frames it forwarded before that is the SFU's decision (it keeps forwarding
//!   the old layer until the new keyframe arrives), so a segment that ends in a switch ends at
//!   its last received frame, and one that starts with a switch at its first received frame.
//!   Loss of the very last frames before, or the first after, a switch is therefore not
//!   counted (at most a frame or two per switch; `layer_switches_in_window` says how many).
//! * A receiver that got no window frame of a publisher's video at all expects the window frames
//!   of the layer it was on before the window or, if it never got any, of the lowest layer (the
//!   SFU always forwards at least that): a receiver that stopped receiving is loss, not silence.
//!
//! Churn clients stay too briefly for window edges; for them (`steady == false`) segments are
//! never widened and silence expects nothing, like churn's gap count without simulcast.

use std::collections::BTreeMap;

use crate::payload::Layer;

/// One stretch of the window a receiver spent on one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The layer.
    pub layer: Layer,
    /// Lowest window sequence number received on it in this stretch.
    pub first_seq: u64,
    /// Highest.
    pub last_seq: u64,
    /// Distinct window frames received in this stretch.
    pub received: u64,
    /// The receiver was on this layer already before the window's first frame arrived.
    pub from_window_start: bool,
    /// [`LayerTrail::switches`] when the stretch began (the receiver left it iff that grew).
    switches_at_start: u64,
}

/// What one receiver saw of one publisher's simulcast video.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerTrail {
    /// Layer of the last frame (stragglers aside).
    pub current: Option<Layer>,
    /// Layer changes seen over the whole run (the first layer is not a change).
    pub switches: u64,
    /// Of those, changes to a layer whose first frame after the change was a window frame.
    pub window_switches: u64,
    /// The window's stretches, in order.
    pub segments: Vec<Segment>,
    /// Highest sequence number seen per layer (to tell a late frame from a switch back).
    highest: BTreeMap<Layer, u64>,
}

impl LayerTrail {
    /// A frame of `layer` numbered `seq` arrived. `in_window`: stamped inside the window;
    /// `fresh`: not a duplicate of a window frame that arrived before.
    pub fn on_frame(&mut self, layer: Layer, seq: u64, in_window: bool, fresh: bool) {
        let highest = self.highest.get(&layer).copied();
        if self.current.is_some_and(|c| c != layer) && highest.is_some_and(|h| seq <= h) {
            // A late frame of a layer the receiver has left, from before it left: not a switch.
            if in_window && fresh {
                if let Some(s) = self
                    .segments
                    .iter_mut()
                    .rev()
                    .find(|s| s.layer == layer && s.first_seq <= seq && seq <= s.last_seq)
                {
                    s.received += 1;
                }
            }
            return;
        }
        self.highest
            .insert(layer, highest.map_or(seq, |h| h.max(seq)));
        let was_on_it = self.current == Some(layer);
        if !was_on_it {
            if self.current.is_some() {
                self.switches += 1;
                if in_window {
                    self.window_switches += 1;
                }
            }
            self.current = Some(layer);
        }
        if !in_window {
            return;
        }
        let switches = self.switches;
        match self
            .segments
            .last_mut()
            .filter(|s| s.layer == layer && s.switches_at_start == switches)
        {
            Some(s) => {
                s.first_seq = s.first_seq.min(seq);
                s.last_seq = s.last_seq.max(seq);
                s.received += u64::from(fresh);
            }
            None => {
                let from_window_start = was_on_it && self.segments.is_empty();
                self.segments.push(Segment {
                    layer,
                    first_seq: seq,
                    last_seq: seq,
                    received: u64::from(fresh),
                    from_window_start,
                    switches_at_start: switches,
                });
            }
        }
    }

    /// Whether `s` (one of `self.segments`) is a stretch the receiver never left.
    fn never_left(&self, s: &Segment) -> bool {
        s.switches_at_start == self.switches && self.current == Some(s.layer)
    }
}

/// Window frames expected and received on one layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Window frames the receiver should have got on this layer.
    pub expected: u64,
    /// Distinct window frames it got.
    pub received: u64,
}

/// The publisher's window on one layer: first and last sequence number stamped `in_window`.
pub type WindowSeqs = (u64, u64);

/// Expected and received window frames of one receiver's `trail`, by layer. `window` gives the
/// publisher's window frames per layer (`None`: it sent none on that layer). `steady`: widen
/// to the window's edges and count silence as loss (see the module docs); false for churn.
pub fn account(
    trail: &LayerTrail,
    window: impl Fn(Layer) -> Option<WindowSeqs>,
    steady: bool,
) -> BTreeMap<Layer, Tally> {
    let mut out: BTreeMap<Layer, Tally> = BTreeMap::new();
    for s in &trail.segments {
        let (mut lo, mut hi) = (s.first_seq, s.last_seq);
        if steady {
            if let Some((first, last)) = window(s.layer) {
                if s.from_window_start {
                    lo = lo.min(first);
                }
                if trail.never_left(s) {
                    hi = hi.max(last);
                }
            }
        }
        let t = out.entry(s.layer).or_default();
        t.expected += hi - lo + 1;
        t.received += s.received.min(hi - lo + 1);
    }
    if steady && trail.segments.is_empty() {
        silent(&mut out, trail.current.unwrap_or(Layer::Q), &window);
    }
    out
}

/// A receiver that got no window frame of a publisher's video expects `layer`'s window frames.
pub fn silent(
    out: &mut BTreeMap<Layer, Tally>,
    layer: Layer,
    window: &impl Fn(Layer) -> Option<WindowSeqs>,
) {
    if let Some((first, last)) = window(layer) {
        out.entry(layer).or_default().expected += last - first + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Publisher windows: q 100..=149 (q sends at half rate), h and f 200..=299.
    fn window(l: Layer) -> Option<WindowSeqs> {
        Some(match l {
            Layer::Q => (100, 149),
            Layer::H | Layer::F => (200, 299),
        })
    }

    fn feed(t: &mut LayerTrail, layer: Layer, seqs: impl IntoIterator<Item = u64>, win: bool) {
        for s in seqs {
            t.on_frame(layer, s, win, true);
        }
    }

    #[test]
    fn one_layer_throughout_expects_that_layers_window_only() {
        let mut t = LayerTrail::default();
        feed(&mut t, Layer::Q, 90..100, false);
        feed(&mut t, Layer::Q, 100..150, true);
        feed(&mut t, Layer::Q, 150..155, false);
        let a = account(&t, window, true);
        assert_eq!(a.len(), 1);
        assert_eq!(
            a[&Layer::Q],
            Tally {
                expected: 50,
                received: 50
            }
        );
        assert_eq!((t.switches, t.window_switches), (0, 0));
    }

    #[test]
    fn lost_frames_at_the_window_edges_count_when_the_layer_never_changed() {
        let mut t = LayerTrail::default();
        feed(&mut t, Layer::F, 190..200, false);
        // The window's first three and last two frames of f are lost, and one in the middle.
        feed(&mut t, Layer::F, (203..298).filter(|s| *s != 250), true);
        let a = account(&t, window, true);
        assert_eq!(
            a[&Layer::F],
            Tally {
                expected: 100,
                received: 94
            }
        );
    }

    #[test]
    fn a_switch_counts_each_stretch_against_its_own_layer() {
        let mut t = LayerTrail::default();
        feed(&mut t, Layer::F, 190..200, false);
        // f for the first half of the window (one frame lost), then a switch down to q at a
        // keyframe, q to the end.
        feed(&mut t, Layer::F, (200..250).filter(|s| *s != 220), true);
        feed(&mut t, Layer::Q, 126..150, true);
        feed(&mut t, Layer::Q, 150..160, false);
        let a = account(&t, window, true);
        assert_eq!(
            a[&Layer::F],
            Tally {
                expected: 50,
                received: 49
            }
        );
        // q from the switch (seq 126) to the window's end, not q's whole window.
        assert_eq!(
            a[&Layer::Q],
            Tally {
                expected: 24,
                received: 24
            }
        );
        assert!(!a.contains_key(&Layer::H));
        assert_eq!((t.switches, t.window_switches), (1, 1));
        // Total expected is far below the sum of all layers' window frames (250).
        let total: u64 = a.values().map(|t| t.expected).sum();
        assert_eq!(total, 74);
    }

    #[test]
    fn switches_before_and_after_the_window_do_not_widen_the_wrong_edge() {
        let mut t = LayerTrail::default();
        // On q before the window, switched to h just as the window opened.
        feed(&mut t, Layer::Q, 95..100, false);
        feed(&mut t, Layer::H, 205..300, true);
        // After the window, up to f.
        feed(&mut t, Layer::F, 300..310, false);
        let a = account(&t, window, true);
        // Starts at the switch (205), ends at h's last received frame since it left h.
        assert_eq!(
            a[&Layer::H],
            Tally {
                expected: 95,
                received: 95
            }
        );
        assert_eq!((t.switches, t.window_switches), (2, 1));
    }

    #[test]
    fn late_frames_and_duplicates_are_not_switches() {
        let mut t = LayerTrail::default();
        feed(&mut t, Layer::H, (200..240).filter(|s| *s != 231), true);
        feed(&mut t, Layer::F, 240..300, true);
        // A duplicate, and a retransmitted h frame from before the switch, arrive late.
        t.on_frame(Layer::H, 230, true, false);
        t.on_frame(Layer::H, 231, true, true);
        assert_eq!(t.switches, 1);
        assert_eq!(t.current, Some(Layer::F));
        let a = account(&t, window, true);
        assert_eq!(a[&Layer::F].expected, 60);
        assert_eq!(
            a[&Layer::H],
            Tally {
                expected: 40,
                received: 40
            }
        );
    }

    #[test]
    fn silence_is_loss_of_the_layer_it_was_on_or_the_lowest() {
        let mut t = LayerTrail::default();
        feed(&mut t, Layer::H, 150..160, false);
        let a = account(&t, window, true);
        assert_eq!(
            a[&Layer::H],
            Tally {
                expected: 100,
                received: 0
            }
        );
        let a = account(&LayerTrail::default(), window, true);
        assert_eq!(a[&Layer::Q].expected, 50);
        // Churn: no widening, silence expects nothing.
        assert!(account(&LayerTrail::default(), window, false).is_empty());
    }

    #[test]
    fn churn_counts_only_gaps() {
        let mut t = LayerTrail::default();
        feed(&mut t, Layer::Q, (120..130).filter(|s| *s != 125), true);
        let a = account(&t, window, false);
        assert_eq!(
            a[&Layer::Q],
            Tally {
                expected: 10,
                received: 9
            }
        );
    }
}
