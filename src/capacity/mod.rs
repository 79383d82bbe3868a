//! The capacity search (`llmperf-actors capacity`): the highest request rate (or concurrency) at which an
//! endpoint meets a latency SLO with a goodput target, found fast and stated with its uncertainty.
//!
//! | part | file | |
//! |---|---|---|
//! | the SLO on quantiles | [`slo`] | `ttft_p99=500ms,tpot_p99=50ms` |
//! | intervals | [`stats`] | Wilson for the goodput, order statistics for quantiles |
//! | judging a step | [`judge`] | pass / fail / more requests |
//! | the search | [`search`] | bracket by growing the load, then bisect |
//! | a step as a request source | [`step`] | seeded Poisson open loop (or closed loop), warm-up, early stop |
//! | the result | [`report`], [`chart`] | the text, `_capacity.json`, `_capacity.svg` |
//! | the `capacity:` section | [`settings`] | validated into [`CapacitySettings`] |
//!
//! Everything here is pure but [`step`], which runs inside the dispatch core as any
//! [`RequestSource`](crate::sources::RequestSource) does; the runner (`runner/capacity.rs`) runs one step
//! after another through the ordinary run pipeline, so each step writes the usual result files.
//! Method and figures: `docs/capacity.md`.

pub mod chart;
pub mod judge;
pub mod report;
pub mod search;
pub mod settings;
pub mod slo;
pub mod stats;
pub mod step;

pub use report::CapacityReport;
pub use settings::{CapacitySection, CapacitySettings};
