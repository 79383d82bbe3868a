//! The counter: token counting for the dispatch core, on a thread of its own (a `SyncArbiter` of one), so the
//! launcher's arbiter — in an embedding application, the user's — never runs a tokenizer.
//!
//! It receives [`CountPrompt`] (a conversation turn's prompt, built at send time; replies its count) and, as the
//! collector of the one-at-a-time session, [`RequestCompleted`]: it counts the output and prompt tokens,
//! computes the per-request record and sends it to the launcher as [`ResultCounted`].
//!
//! Why a thread of its own: tokenizing costs about 1 µs per token (ten times more in a debug build), and the
//! launcher's arbiter is the one every reply and every due time goes through — in an embedding application,
//! the user's own. Handing embedders raw measurements and leaving the counts to them would change the
//! original's `(metrics, generated_text, request_config)` result, so the counts are taken here, once, and the
//! launcher only queues finished results. A conversation turn cannot be counted before the run (its text
//! includes the previous reply), so it is counted here between turns and leaves once counted; the collector's
//! thread is not used for it because the collector is busy with every result of the run and a turn waiting
//! behind them would stretch the gap between turns.

use actix::WeakRecipient;
use actix::prelude::*;

use crate::messages::{CountPrompt, RequestCompleted, RequestResult, ResultCounted};
use crate::metrics::{StartTimes, compute_metrics};
use crate::tokenizer::{TokenCount, Tokenizer};

/// Counts tokens for the launcher; see the module docs.
pub(crate) struct Counter {
    tokenizer: Tokenizer,
    /// Weak: the launcher holds the counter's address, so a strong one back would keep both alive forever.
    results: WeakRecipient<ResultCounted>,
}

impl Counter {
    /// Starts a counter on a thread of its own; finished one-at-a-time results go to `results`. It stops when
    /// its last address is dropped.
    pub fn start(tokenizer: Tokenizer, results: WeakRecipient<ResultCounted>) -> Addr<Counter> {
        SyncArbiter::start(1, move || Counter {
            tokenizer: tokenizer.clone(),
            results: results.clone(),
        })
    }
}

impl Actor for Counter {
    type Context = SyncContext<Self>;

    /// Parses the tokenizer here, on the counter's thread.
    fn started(&mut self, _: &mut SyncContext<Self>) {
        self.tokenizer.preload();
    }
}

impl Handler<CountPrompt> for Counter {
    type Result = u64;

    fn handle(&mut self, msg: CountPrompt, _: &mut SyncContext<Self>) -> u64 {
        self.tokenizer.count(&msg.0) as u64
    }
}

impl Handler<RequestCompleted> for Counter {
    type Result = ();

    fn handle(&mut self, msg: RequestCompleted, _: &mut SyncContext<Self>) {
        let RequestCompleted {
            request,
            response,
            start_offset_s,
            scheduled_start_s,
            ..
        } = msg;
        let config = request.config;
        let output_tokens = self.tokenizer.count(&response.generated_text) as u64;
        let input_tokens = request
            .actual_input_tokens
            .unwrap_or_else(|| self.tokenizer.count(&config.prompt.0) as u64);
        let metrics = compute_metrics(
            &response.measured,
            output_tokens,
            config.prompt.1,
            input_tokens,
            StartTimes {
                scheduled_s: scheduled_start_s,
                actual_s: start_offset_s,
            },
        );
        if let Some(launcher) = self.results.upgrade() {
            launcher.do_send(ResultCounted(RequestResult {
                metrics,
                generated_text: response.generated_text,
                request_config: config,
            }));
        }
    }
}
