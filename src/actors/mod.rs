//! The actors that wire backends, workload and reports together.
//!
//! ```text
//!  runner ──RunRequests / RunConversations / RunSource──▶ RequestsLauncher (dispatch core; asks the run's
//!                               │                          RequestSource what to send next and when)
//!                               ├──ExecuteRequest──▶ ClientActor × C (one arbiter per core; a closed
//!                               │  ◀──── ClientResponse ───────┘  loop's next request waits there as a
//!                               │                                 follow-on, to start when one ends)
//!                               ├──RequestCompleted──▶ Collector (own thread: tokenizing, per-request log)
//!                               └──CountPrompt / one-at-a-time results──▶ Counter (own thread: tokenizing)
//!  pacer thread ──Dispatch (a due time)──▶ RequestsLauncher
//!  runner ──FinishRun──▶ Collector ──▶ RunResult (typed records) ──report::export_run──▶ exporters
//!  launcher, collector ──ProgressTally──▶ Progress (own arbiter: snapshots to the RunObserver)
//! ```

pub mod client;
pub mod collector;
mod counter;
pub mod follow_on;
pub mod launcher;
pub mod pacer;
pub mod progress;

pub use client::{ClientActor, ClientPool};
pub use collector::Collector;
pub use launcher::RequestsLauncher;
pub use progress::{Progress, ProgressTally};
