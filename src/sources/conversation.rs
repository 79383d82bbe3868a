//! Multi-turn conversations (`--multi-turn T`) in a closed loop: `concurrency` conversations at once, each on
//! a client of its own (so concurrency counts conversations), each sending its turns one after another.
//!
//! Turn `k` of conversation `c` is built from template `c · T + k` (its user message(s) and `max_tokens`) and
//! the conversation so far: when turn `k`'s reply arrives ([`RequestSource::completed`]) the source appends it
//! as an assistant message, and the next call to [`RequestSource::next`] adds the next template's user
//! message(s) and sends turn `k + 1` to the same client. A failed turn ends its conversation (there is no
//! reply to carry forward); when a conversation ends, the next one starts on a free client.
//!
//! Each request carries `conversation_id` (0-based) and `turn` (1-based) in its metadata, which the collector
//! copies into the record, and asks the core to count its prompt ([`Outgoing::count_prompt`]): the next turn's
//! text only exists once the previous reply is in, and the count is taken on the core's counting thread,
//! between turns, never inside a measured request nor on the dispatching arbiter.

use std::collections::{HashMap, VecDeque};

use serde_json::{Value, json};

use super::{Completion, Next, Now, Outgoing, PreparedRequest, RequestSource, Target};
use crate::backend::flatten_messages;

/// Runs conversations; see the module docs.
#[derive(Debug)]
pub struct Conversations {
    /// One template per turn, conversation-major.
    turns: Vec<PreparedRequest>,
    /// Turns per conversation.
    per: usize,
    /// Conversations in all.
    count: usize,
    concurrency: usize,
    /// The next conversation to start.
    next_id: usize,
    /// Conversations started and not ended.
    active: usize,
    /// Conversations whose next turn is ready to go, with the client they stay on.
    ready: VecDeque<(Conversation, usize)>,
    /// Conversations with a turn in flight, by the turn's index.
    waiting: HashMap<usize, Conversation>,
}

/// One conversation in progress.
#[derive(Debug)]
struct Conversation {
    id: usize,
    /// 0-based turn to send next.
    turn: usize,
    /// The messages so far (users' turns and the model's replies).
    history: Vec<Value>,
}

impl Conversations {
    /// Conversations of `per` turns (at least 1) from `turns` (`turns.len() / per` of them, conversation-major),
    /// `concurrency` (at least 1) at once.
    pub fn new(turns: Vec<PreparedRequest>, per: usize, concurrency: usize) -> Conversations {
        let per = per.max(1);
        Conversations {
            count: turns.len() / per,
            turns,
            per,
            concurrency: concurrency.max(1),
            next_id: 0,
            active: 0,
            ready: VecDeque::new(),
            waiting: HashMap::new(),
        }
    }

    /// Whether there is no conversation to run.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The conversation's current turn: its history plus the template's user message(s).
    fn build(&mut self, mut conv: Conversation, target: Target) -> Next {
        let index = conv.id * self.per + conv.turn;
        let template = &self.turns[index % self.turns.len()];
        let user =
            template.config.messages.clone().unwrap_or_else(|| {
                vec![json!({"role": "user", "content": template.config.prompt.0})]
            });
        conv.history.extend(user);
        let mut config = template.config.clone();
        config.prompt = (flatten_messages(&conv.history), 0);
        config.messages = Some(conv.history.clone());
        config
            .metadata
            .insert("conversation_id".into(), Value::from(conv.id));
        config
            .metadata
            .insert("turn".into(), Value::from(conv.turn + 1));
        self.waiting.insert(index, conv);
        let request = PreparedRequest {
            config,
            actual_input_tokens: None,
        };
        Next::Send(Outgoing {
            target,
            count_prompt: true,
            ..Outgoing::now(index, request)
        })
    }
}

impl RequestSource for Conversations {
    fn next(&mut self, now: &Now) -> Next {
        if let Some((conv, client)) = self.ready.pop_front() {
            return self.build(conv, Target::Client(client));
        }
        if self.next_id < self.count && self.active < self.concurrency && now.idle_clients > 0 {
            let conv = Conversation {
                id: self.next_id,
                turn: 0,
                history: Vec::new(),
            };
            self.next_id += 1;
            self.active += 1;
            return self.build(conv, Target::Idle);
        }
        if self.next_id >= self.count && self.active == 0 {
            Next::Done
        } else {
            Next::Wait
        }
    }

    fn completed(&mut self, done: &Completion<'_>) {
        let Some(mut conv) = self.waiting.remove(&done.index) else {
            return;
        };
        conv.turn += 1;
        if done.response.measured.error.is_none() && conv.turn < self.per {
            conv.history.push(
                json!({"role": "assistant", "content": done.response.generated_text.clone()}),
            );
            self.ready.push_back((conv, done.client));
        } else {
            self.active -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::testing::{now, reply, request, sent};

    fn complete(s: &mut Conversations, o: &Outgoing, client: usize, text: &str, ok: bool) {
        let response = reply(text, ok);
        s.completed(&Completion {
            index: o.index,
            client,
            request: &o.request,
            response: &response,
            start_offset_s: 0.0,
            scheduled_start_s: 0.0,
        });
    }

    #[test]
    fn each_turn_carries_the_replies_so_far_on_the_same_client() {
        let turns = ["a1", "a2", "b1", "b2"].map(request).to_vec();
        let mut s = Conversations::new(turns, 2, 1);
        let a1 = sent(s.next(&now(0.0, 0, 4)));
        assert_eq!(
            (a1.index, a1.target, a1.count_prompt),
            (0, Target::Idle, true)
        );
        let meta = &a1.request.config.metadata;
        assert_eq!(
            (meta["conversation_id"].clone(), meta["turn"].clone()),
            (json!(0), json!(1))
        );
        // Concurrency 1: the second conversation waits for the first.
        assert!(matches!(s.next(&now(0.0, 1, 3)), Next::Wait));
        complete(&mut s, &a1, 2, "r1", true);
        let a2 = sent(s.next(&now(0.1, 0, 4)));
        assert_eq!((a2.index, a2.target), (1, Target::Client(2)));
        assert_eq!(
            a2.request.config.messages.as_ref().unwrap(),
            &vec![
                json!({"role": "user", "content": "a1"}),
                json!({"role": "assistant", "content": "r1"}),
                json!({"role": "user", "content": "a2"}),
            ]
        );
        assert_eq!(a2.request.config.prompt.0, "a1\n\nr1\n\na2");
        complete(&mut s, &a2, 2, "r2", true);
        let b1 = sent(s.next(&now(0.2, 0, 4)));
        assert_eq!((b1.index, b1.target), (2, Target::Idle));
        complete(&mut s, &b1, 0, "r", true);
        let b2 = sent(s.next(&now(0.3, 0, 4)));
        complete(&mut s, &b2, 0, "r", true);
        assert!(matches!(s.next(&now(0.4, 0, 4)), Next::Done));
    }

    #[test]
    fn a_failed_turn_ends_its_conversation_only() {
        let turns = ["a1", "a2", "b1", "b2"].map(request).to_vec();
        let mut s = Conversations::new(turns, 2, 2);
        let a1 = sent(s.next(&now(0.0, 0, 4)));
        let b1 = sent(s.next(&now(0.0, 1, 3)));
        assert!(matches!(s.next(&now(0.0, 2, 2)), Next::Wait));
        complete(&mut s, &a1, 0, "", false);
        complete(&mut s, &b1, 1, "r", true);
        let b2 = sent(s.next(&now(0.1, 0, 4)));
        assert_eq!(b2.index, 3);
        assert!(matches!(s.next(&now(0.1, 1, 3)), Next::Wait));
        complete(&mut s, &b2, 1, "r", true);
        assert!(matches!(s.next(&now(0.2, 0, 4)), Next::Done));
    }

    #[test]
    fn too_few_templates_for_one_conversation_is_empty() {
        let s = Conversations::new(vec![request("a")], 3, 2);
        assert!(s.is_empty());
    }
}
