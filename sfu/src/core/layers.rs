//! Which simulcast layer each forwarded video track gets: a pure function of the layers a
//! publisher sends, the size each subscriber renders the track at, and the subscriber's
//! bandwidth estimate.
//!
//! The rules, in order:
//!
//! 1. Only *active* layers count (a packet arrived within [`LAYER_IDLE`] and the stream is not
//!    paused): a browser drops its top layers when its own uplink estimate falls, and a layer it
//!    no longer sends must not be waited for.
//! 2. Every track gets at least its lowest active layer, even when the estimate does not cover
//!    it: a small picture beats a frozen one, and str0m's estimate recovers from an underrun.
//! 3. A track's *wanted* layer is the smallest one at least as tall as the size the subscriber
//!    renders it at (heights from the video-layers-allocation header extension); a track whose
//!    size is unknown wants the top layer, a hidden one (height 0) the lowest.
//! 4. The rest of the budget goes one layer step at a time, largest rendered tile first, while
//!    the step fits: a large tile is upgraded before a thumbnail.
//! 5. Hysteresis: a track keeps the layer it has (up to what it wants) while the total stays
//!    within [`KEEP_MARGIN_PERCENT`] of the budget, so an estimate that wobbles around a layer's
//!    rate does not make the picture switch back and forth (each switch costs a keyframe).
//!
//! Ordering of one track's layers (lowest first) comes from the caller; see
//! [`LayerInfo`]. Nothing here reads the media payload.

use std::time::Duration;

/// A layer that sent nothing for this long is inactive.
pub const LAYER_IDLE: Duration = Duration::from_millis(1500);

/// A track keeps its current layer while the allocation stays within this share of the
/// budget (rule 5): up is decided at 100 %, down only below 100/125 = 80 %.
pub const KEEP_MARGIN_PERCENT: u64 = 125;

/// At most this many layers per track are considered (WebRTC simulcast sends up to 3; the
/// video-layers-allocation extension allows 4 streams).
pub const MAX_LAYERS: usize = 4;

/// One layer of a track as the allocator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LayerInfo {
    /// Measured incoming bitrate, bits per second.
    pub bitrate_bps: u64,
    /// Encoded height in pixels, when the publisher said (video-layers-allocation).
    pub height: Option<u16>,
    /// Sending (see rule 1 of the module docs).
    pub active: bool,
}

/// One forwarded video track of one subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrackWant {
    /// The publisher's layers, lowest quality first; only the first `count` are valid.
    pub layers: [LayerInfo; MAX_LAYERS],
    /// Valid entries of `layers`.
    pub count: usize,
    /// Height in device pixels the subscriber renders this track at; `None`: not reported.
    pub render_height: Option<u32>,
    /// Index of the layer the subscriber gets now (rule 5); `None`: none yet.
    pub current: Option<usize>,
}

/// The decision for one track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allocation {
    /// Index (into `TrackWant::layers`) of the layer to forward; `None`: no active layer.
    pub layer: Option<usize>,
    /// The layer the track would get with unlimited bandwidth (for str0m's probing target).
    pub wanted: Option<usize>,
}

impl TrackWant {
    fn active(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.count.min(MAX_LAYERS)).filter(|i| self.layers[*i].active)
    }

    fn lowest(&self) -> Option<usize> {
        self.active().next()
    }

    /// Rule 3.
    fn wanted(&self) -> Option<usize> {
        let lowest = self.lowest()?;
        let top = self.active().last().unwrap_or(lowest);
        match self.render_height {
            None => Some(top),
            Some(0) => Some(lowest),
            Some(h) => {
                if self.active().any(|i| self.layers[i].height.is_none()) {
                    // Heights unknown: without them a size cannot be matched; go by budget.
                    return Some(top);
                }
                Some(
                    self.active()
                        .find(|i| u32::from(self.layers[*i].height.unwrap_or(0)) >= h)
                        .unwrap_or(top),
                )
            }
        }
    }

    /// The next active layer above `i`.
    fn above(&self, i: usize) -> Option<usize> {
        self.active().find(|j| *j > i)
    }
}

/// Chooses a layer for every track of one subscriber within `budget_bps`. `out[i]` is the
/// decision for `tracks[i]`; `out` must be at least as long as `tracks` (extra entries are
/// left alone). Allocation-free.
pub fn allocate(tracks: &[TrackWant], budget_bps: u64, out: &mut [Allocation]) {
    let n = tracks.len().min(out.len());
    let mut spent: u64 = 0;
    for i in 0..n {
        let t = &tracks[i];
        let layer = t.lowest();
        out[i] = Allocation {
            layer,
            wanted: t.wanted(),
        };
        if let Some(l) = layer {
            spent = spent.saturating_add(t.layers[l].bitrate_bps);
        }
    }
    // Rule 4: repeatedly step up the largest tile that still wants more and fits.
    loop {
        let mut best: Option<(usize, usize, u64)> = None; // (track, next layer, extra)
        for i in 0..n {
            let t = &tracks[i];
            let (Some(cur), Some(wanted)) = (out[i].layer, out[i].wanted) else {
                continue;
            };
            if cur >= wanted {
                continue;
            }
            let Some(next) = t.above(cur) else { continue };
            let extra = t.layers[next]
                .bitrate_bps
                .saturating_sub(t.layers[cur].bitrate_bps);
            if spent.saturating_add(extra) > budget_bps {
                continue;
            }
            let size = t.render_height.unwrap_or(u32::MAX);
            let better = match best {
                None => true,
                Some((b, _, _)) => size > tracks[b].render_height.unwrap_or(u32::MAX),
            };
            if better {
                best = Some((i, next, extra));
            }
        }
        let Some((i, next, extra)) = best else { break };
        out[i].layer = Some(next);
        spent = spent.saturating_add(extra);
    }
    // Rule 5: give back a layer a track already has, within the margin.
    let keep_budget = budget_bps.saturating_mul(KEEP_MARGIN_PERCENT) / 100;
    for i in 0..n {
        let t = &tracks[i];
        let (Some(chosen), Some(current), Some(wanted)) = (out[i].layer, t.current, out[i].wanted)
        else {
            continue;
        };
        if current <= chosen || current > wanted || !t.layers.get(current).is_some_and(|l| l.active)
        {
            continue;
        }
        let extra = t.layers[current]
            .bitrate_bps
            .saturating_sub(t.layers[chosen].bitrate_bps);
        if spent.saturating_add(extra) <= keep_budget {
            out[i].layer = Some(current);
            spent = spent.saturating_add(extra);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(kbps: u64, height: u16) -> LayerInfo {
        LayerInfo {
            bitrate_bps: kbps * 1000,
            height: Some(height),
            active: true,
        }
    }

    fn simulcast(render_height: Option<u32>) -> TrackWant {
        let mut t = TrackWant {
            count: 3,
            render_height,
            ..Default::default()
        };
        t.layers[0] = layer(150, 180);
        t.layers[1] = layer(500, 360);
        t.layers[2] = layer(1500, 720);
        t
    }

    fn run(tracks: &[TrackWant], budget_kbps: u64) -> Vec<Option<usize>> {
        let mut out = vec![Allocation::default(); tracks.len()];
        allocate(tracks, budget_kbps * 1000, &mut out);
        out.iter().map(|a| a.layer).collect()
    }

    #[test]
    fn ample_bandwidth_and_unknown_size_gets_the_top_layer() {
        assert_eq!(run(&[simulcast(None)], 10_000), vec![Some(2)]);
    }

    #[test]
    fn rendered_size_caps_the_layer_even_with_ample_bandwidth() {
        assert_eq!(run(&[simulcast(Some(300))], 10_000), vec![Some(1)]);
        assert_eq!(run(&[simulcast(Some(180))], 10_000), vec![Some(0)]);
        assert_eq!(run(&[simulcast(Some(1080))], 10_000), vec![Some(2)]);
    }

    #[test]
    fn hidden_tile_gets_the_lowest_layer() {
        assert_eq!(run(&[simulcast(Some(0))], 10_000), vec![Some(0)]);
    }

    #[test]
    fn low_estimate_steps_down() {
        assert_eq!(run(&[simulcast(None)], 1_000), vec![Some(1)]);
        assert_eq!(run(&[simulcast(None)], 400), vec![Some(0)]);
    }

    #[test]
    fn lowest_layer_is_kept_even_without_budget() {
        assert_eq!(run(&[simulcast(None)], 0), vec![Some(0)]);
    }

    #[test]
    fn large_tile_is_upgraded_before_thumbnail() {
        // 150 + 150 base, +350 fits once: the large tile gets it.
        let out = run(&[simulcast(Some(100)), simulcast(Some(700))], 700);
        assert_eq!(out, vec![Some(0), Some(1)]);
    }

    #[test]
    fn inactive_layers_are_skipped() {
        let mut t = simulcast(None);
        t.layers[2].active = false;
        assert_eq!(run(&[t], 10_000), vec![Some(1)]);
        t.layers[0].active = false;
        t.layers[1].active = false;
        assert_eq!(run(&[t], 10_000), vec![None]);
    }

    #[test]
    fn without_heights_size_is_ignored_and_budget_decides() {
        let mut t = simulcast(Some(100));
        for l in &mut t.layers {
            l.height = None;
        }
        assert_eq!(run(&[t], 10_000), vec![Some(2)]);
        assert_eq!(run(&[t], 700), vec![Some(1)]);
    }

    #[test]
    fn single_layer_track_always_gets_it() {
        let t = TrackWant {
            count: 1,
            layers: [
                layer(800, 360),
                Default::default(),
                Default::default(),
                Default::default(),
            ],
            render_height: Some(90),
            current: None,
        };
        assert_eq!(run(&[t], 0), vec![Some(0)]);
    }

    #[test]
    fn current_layer_is_kept_while_the_estimate_wobbles_just_below_it() {
        let mut t = simulcast(None);
        // 150 + 350 + 1000 = 1500 needed for the top layer.
        t.current = Some(2);
        assert_eq!(run(&[t], 1_400), vec![Some(2)], "within 125 %: kept");
        assert_eq!(run(&[t], 1_100), vec![Some(1)], "clearly short: down");
        t.current = Some(1);
        assert_eq!(
            run(&[t], 1_400),
            vec![Some(1)],
            "up only when it fits: stays"
        );
        assert_eq!(run(&[t], 1_500), vec![Some(2)]);
    }

    #[test]
    fn kept_layer_never_exceeds_what_the_size_wants() {
        let mut t = simulcast(Some(180));
        t.current = Some(2);
        assert_eq!(run(&[t], 10_000), vec![Some(0)]);
    }

    #[test]
    fn wanted_reports_the_unlimited_choice() {
        let mut out = [Allocation::default()];
        allocate(&[simulcast(Some(300))], 0, &mut out);
        assert_eq!(
            out[0],
            Allocation {
                layer: Some(0),
                wanted: Some(1)
            }
        );
    }
}
