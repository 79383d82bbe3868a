//! `ConversationDriver`: multi-turn conversations (`--multi-turn T`) in a closed loop.
//!
//! Receives [`RunConversations`]; keeps `concurrency` conversations in flight, each on its own client actor
//! (so concurrency counts conversations). A conversation sends its turns one after another: when turn `k`'s
//! [`ClientResponse`] arrives the driver forwards it to the collector as [`RequestCompleted`], appends the
//! model's reply as an assistant message, adds the next turn's user message(s) and sends turn `k + 1` on the
//! same client. A failed turn ends its conversation (there is no reply to carry forward). When a conversation
//! ends, the client starts the next one; once all are done (or the timeout stopped new turns) it replies
//! [`RunFinished`].
//!
//! Each request carries `conversation_id` (0-based) and `turn` (1-based) in its metadata, which the collector
//! copies into the record. Its input token count is taken here, between turns (never inside a measured
//! request), because the next turn's text only exists once the previous reply is in.
//!
//! [`StopRun`] (Ctrl-C, SIGTERM) works as it does for the launcher: no new turn or conversation starts, the
//! turns in flight get the grace period, and those still in flight after it are recorded as cancelled.

use std::collections::HashMap;
use std::time::Instant;

use actix::prelude::*;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::in_flight::{InFlight, cancel_all};
use super::progress::ProgressTally;
use crate::backend::{ClientResponse, flatten_messages};
use crate::messages::{
    ExecuteRequest, PreparedRequest, ProgressEvent, RequestCompleted, RunConversations,
    RunFinished, StopRun,
};
use crate::tokenizer::{TokenCount, Tokenizer};

/// The conversation driver. Create it with the client recipients of a [`ClientPool`](super::ClientPool).
pub struct ConversationDriver {
    clients: Vec<Recipient<ExecuteRequest>>,
    tokenizer: Tokenizer,
    run: Option<Run>,
    progress: Option<ProgressTally>,
    /// Numbers the turns sent.
    sent: u64,
    /// Numbers the runs, so the grace timer of a stopped run does nothing to a later one.
    runs: u64,
}

struct Run {
    msg: RunConversations,
    conversations: usize,
    next_conversation: usize,
    in_flight: usize,
    launched: usize,
    started: Instant,
    timed_out: bool,
    /// Which run this is (see `ConversationDriver::runs`).
    id: u64,
    /// Stopped by [`StopRun`]: nothing more starts.
    stopped: bool,
    /// The turns in flight, by send number: what is needed to record them as cancelled.
    flying: HashMap<u64, InFlight>,
    reply: Option<oneshot::Sender<RunFinished>>,
}

/// A client's reply to turn `id`, handed to the driver by the task that awaited it (one task per turn:
/// actix would poll every future spawned into the driver's context each time it wakes).
struct Replied {
    id: u64,
    slot: usize,
    conv: Conversation,
    res: Result<ClientResponse, MailboxError>,
}

impl Message for Replied {
    type Result = ();
}

/// One conversation in progress.
struct Conversation {
    id: usize,
    /// 0-based turn being sent.
    turn: usize,
    /// The messages so far (users' turns and the model's replies).
    history: Vec<Value>,
}

impl ConversationDriver {
    /// A driver over these clients (each runs one conversation at a time); `tokenizer` counts input tokens.
    pub fn new(clients: Vec<Recipient<ExecuteRequest>>, tokenizer: Tokenizer) -> Self {
        ConversationDriver {
            clients,
            tokenizer,
            run: None,
            progress: None,
            sent: 0,
            runs: 0,
        }
    }

    /// Counts [`ProgressEvent::Launched`] into `progress` for every turn sent.
    pub fn with_progress(mut self, progress: ProgressTally) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Starts the next conversation on `slot`, if any is left and time remains.
    fn start_next(&mut self, slot: usize, ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_mut() else { return };
        if run.next_conversation >= run.conversations || run.timed_out || run.stopped {
            return;
        }
        let conv = Conversation {
            id: run.next_conversation,
            turn: 0,
            history: Vec::new(),
        };
        run.next_conversation += 1;
        self.send_turn(slot, conv, ctx);
    }

    /// Builds the conversation's current turn and sends it, unless the timeout has passed.
    fn send_turn(&mut self, slot: usize, mut conv: Conversation, ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_mut() else { return };
        if run.stopped {
            return;
        }
        if run.started.elapsed() >= run.msg.timeout {
            run.timed_out = true;
            return;
        }
        let t = run.msg.turns_per_conversation;
        let index = conv.id * t + conv.turn;
        let template = &run.msg.turns[index % run.msg.turns.len()];
        let user =
            template.config.messages.clone().unwrap_or_else(|| {
                vec![json!({"role": "user", "content": template.config.prompt.0})]
            });
        conv.history.extend(user);
        let text = flatten_messages(&conv.history);
        let tokens = self.tokenizer.count(&text) as u64;
        let mut config = template.config.clone();
        config.prompt = (text, tokens);
        config.messages = Some(conv.history.clone());
        config
            .metadata
            .insert("conversation_id".into(), Value::from(conv.id));
        config
            .metadata
            .insert("turn".into(), Value::from(conv.turn + 1));
        let request = PreparedRequest {
            config: config.clone(),
            actual_input_tokens: Some(tokens),
        };
        run.in_flight += 1;
        run.launched += 1;
        if let Some(p) = &self.progress {
            p.record(ProgressEvent::Launched);
        }
        self.sent += 1;
        let id = self.sent;
        let send = self.clients[slot].send(ExecuteRequest { config });
        let me = ctx.address();
        let task = actix_rt::spawn(async move {
            let res = send.await;
            me.do_send(Replied {
                id,
                slot,
                conv,
                res,
            });
        });
        run.flying.insert(
            id,
            InFlight {
                task,
                index,
                request,
                scheduled: None,
                sent_at: Instant::now(),
            },
        );
    }

    fn on_done(&mut self, msg: Replied, ctx: &mut Context<Self>) {
        let Replied {
            id,
            slot,
            mut conv,
            res,
        } = msg;
        let Some(run) = self.run.as_mut() else { return };
        let Some(InFlight { index, request, .. }) = run.flying.remove(&id) else {
            // A reply that was already on its way when the turn was recorded as cancelled.
            return;
        };
        run.in_flight -= 1;
        let Ok(response) = res else {
            // The client actor is gone: this slot stops.
            log::error!(
                "client actor {slot} unavailable; its conversation {} ends",
                conv.id
            );
            self.finish_if_done();
            return;
        };
        let failed = response.measured.error.is_some();
        let reply = response.generated_text.clone();
        let start_offset_s = response
            .started
            .saturating_duration_since(run.started)
            .as_secs_f64();
        run.msg.collector.do_send(RequestCompleted {
            index,
            request,
            response,
            start_offset_s,
            scheduled_start_s: start_offset_s,
        });
        conv.turn += 1;
        if !failed && conv.turn < run.msg.turns_per_conversation {
            conv.history
                .push(json!({"role": "assistant", "content": reply}));
            self.send_turn(slot, conv, ctx);
        } else {
            self.start_next(slot, ctx);
        }
        self.finish_if_done();
    }

    /// Records the turns still in flight as cancelled (aborting their tasks) and finishes the run.
    fn cancel_in_flight(&mut self) {
        let Some(run) = self.run.as_mut() else { return };
        cancel_all(&mut run.flying, run.started, &run.msg.collector, "turns");
        run.in_flight = 0;
        self.finish_if_done();
    }

    fn finish_if_done(&mut self) {
        let done = self.run.as_ref().is_some_and(|r| r.in_flight == 0);
        if !done {
            return;
        }
        let run = self.run.take().expect("checked above");
        if let Some(reply) = run.reply {
            let _ = reply.send(RunFinished {
                started: run.started,
                ended: Instant::now(),
                launched: run.launched,
                timed_out: run.timed_out,
                queued: 0,
            });
        }
    }
}

impl Actor for ConversationDriver {
    type Context = Context<Self>;
}

impl Handler<Replied> for ConversationDriver {
    type Result = ();

    fn handle(&mut self, msg: Replied, ctx: &mut Context<Self>) {
        self.on_done(msg, ctx);
    }
}

impl Handler<StopRun> for ConversationDriver {
    type Result = ();

    fn handle(&mut self, msg: StopRun, ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_mut() else { return };
        if run.stopped {
            return;
        }
        run.stopped = true;
        let id = run.id;
        ctx.run_later(msg.grace, move |act, _| {
            if act.run.as_ref().is_some_and(|r| r.id == id) {
                act.cancel_in_flight();
            }
        });
        self.finish_if_done();
    }
}

impl Handler<RunConversations> for ConversationDriver {
    type Result = ResponseFuture<RunFinished>;

    fn handle(&mut self, msg: RunConversations, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let started = Instant::now();
        let t = msg.turns_per_conversation.max(1);
        let conversations = msg.turns.len() / t;
        let finished_now = RunFinished {
            started,
            ended: started,
            launched: 0,
            timed_out: false,
            queued: 0,
        };
        if self.run.is_some() || conversations == 0 || self.clients.is_empty() {
            if self.run.is_some() {
                log::error!("RunConversations received while a run is in progress; ignored");
            }
            let _ = tx.send(finished_now);
        } else {
            let slots = msg.concurrency.clamp(1, self.clients.len());
            self.runs += 1;
            self.run = Some(Run {
                msg: RunConversations {
                    turns_per_conversation: t,
                    ..msg
                },
                conversations,
                next_conversation: 0,
                in_flight: 0,
                launched: 0,
                started,
                timed_out: false,
                id: self.runs,
                stopped: false,
                flying: HashMap::new(),
                reply: Some(tx),
            });
            for slot in 0..slots {
                self.start_next(slot, ctx);
            }
            self.finish_if_done();
        }
        Box::pin(async move { rx.await.unwrap_or(finished_now) })
    }
}
