//! The actors that wire backends, workload and reports together.
//!
//! ```text
//!  runner ──RunRequests──▶ RequestsLauncher ──ExecuteRequest──▶ ClientActor × C (one arbiter per core)
//!                               │  ◀──────── ClientResponse ───────────┘
//!                               └──RequestCompleted──▶ Collector (own thread: tokenizing, per-request log)
//!  runner ──FinishRun──▶ Collector ──▶ RunResult (typed records) ──report::export_run──▶ exporters
//!  launcher, collector ──ProgressTally──▶ Progress (own arbiter: live progress on stderr)
//!  runner ──RunConversations──▶ ConversationDriver ──ExecuteRequest (turn k+1 built from reply k)──▶ ClientActor
//! ```

pub mod client;
pub mod collector;
pub mod conversation;
mod in_flight;
pub mod launcher;
pub mod pacer;
pub mod progress;

pub use client::{ClientActor, ClientPool};
pub use collector::Collector;
pub use conversation::ConversationDriver;
pub use launcher::RequestsLauncher;
pub use progress::{Progress, ProgressTally};
