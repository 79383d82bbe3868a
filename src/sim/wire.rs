//! The simulator's response scripts, one per API shape: every event serialized before the first byte goes
//! out, with the time each is due. Shares nothing with the clients but the wire format.
//!
//! - chat (`/v1/chat/completions`): a role chunk at once (`content` `""`, or `null` with `role_content_null`),
//!   then one chunk per piece (`reasoning_content` for reasoning pieces, `content` for answer pieces), the
//!   finish chunk, an optional usage chunk, `[DONE]`;
//! - completions (`/v1/completions`): one `text` chunk per answer piece (reasoning is not part of this API),
//!   the finish chunk, an optional usage chunk, `[DONE]`;
//! - the usage, when the request asked for it (`stream_options.include_usage`), is a chunk of its own with
//!   `"choices": []` (`usage_chunk: separate`), or rides on the finish chunk (`with_last_choice`, llama.cpp);
//! - messages (`/v1/messages`, Anthropic): `message_start` (with `usage.input_tokens`), a `ping`, a thinking
//!   block of `thinking_delta`s when there is reasoning, a text block of `text_delta`s, `message_delta` (with
//!   `usage.output_tokens`) and `message_stop`.
//!
//! Piece `k` (reasoning pieces first, then the answer) is due at ttft + k·itl; framing events ride with the
//! piece they follow. Faults: `error_mid_stream` replaces the second half with the shape's error event
//! (`data: {"error": …}` or Anthropic's `event: error`); `close_mid_stream` cuts the connection there;
//! `close_before_done` sends every piece but not the tail (finish, usage, `[DONE]`; `message_stop`).

use serde_json::{Value, json};

use super::{Fault, UsageChunk};

/// Which API shape a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Chat,
    Completions,
    Messages,
}

/// What to stream.
pub(super) struct Reply<'a> {
    pub id: String,
    pub model: &'a str,
    pub reasoning: Vec<String>,
    pub answer: Vec<String>,
    pub finish_reason: &'static str,
    pub prompt_tokens: u64,
    /// Reasoning + answer tokens (servers count both as output).
    pub completion_tokens: u64,
    pub reasoning_tokens: u64,
    /// OpenAI shapes: send the usage chunk (`stream_options.include_usage`); Anthropic always reports usage.
    pub include_usage: bool,
    /// OpenAI shapes: where the usage goes.
    pub usage_chunk: UsageChunk,
    /// Chat: the role chunk's `content` is `null` rather than `""`.
    pub role_content_null: bool,
}

/// The events of one response: `first` at once, `timed[k]` at ttft + k·itl, then a cut if `cut`.
pub(super) struct Script {
    pub first: String,
    pub timed: Vec<String>,
    pub cut: bool,
}

fn sse(data: &Value) -> String {
    format!("data: {data}\n\n")
}

fn named(event: &str, data: &Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

/// An OpenAI-style error object.
pub(super) fn openai_error(message: &str, kind: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
}

/// An Anthropic-style error object.
pub(super) fn anthropic_error(message: &str, kind: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

impl Reply<'_> {
    fn usage(&self) -> Value {
        json!({"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
               "total_tokens": self.prompt_tokens + self.completion_tokens,
               "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens}})
    }

    /// The finish chunk (`head` with `choices` set to `choice`), with the usage on it or after it when asked
    /// for, then `[DONE]`.
    fn openai_tail(&self, head: &Value, choice: Value) -> String {
        let mut finish = head.clone();
        finish["choices"] = json!([choice]);
        let with_usage = self.include_usage && self.usage_chunk == UsageChunk::WithLastChoice;
        if with_usage {
            finish["usage"] = self.usage();
        }
        let mut tail = sse(&finish);
        if self.include_usage && !with_usage {
            let mut u = head.clone();
            u["choices"] = json!([]);
            u["usage"] = self.usage();
            tail.push_str(&sse(&u));
        }
        tail.push_str("data: [DONE]\n\n");
        tail
    }

    /// The response script for `shape` with an optional mid-stream fault.
    pub fn script(&self, shape: Shape, fault: Option<Fault>) -> Script {
        let (first, mut timed, tail, error) = match shape {
            Shape::Chat => self.chat(),
            Shape::Completions => self.completions(),
            Shape::Messages => self.messages(),
        };
        let cut_at = timed.len() / 2;
        let cut = match fault {
            Some(Fault::ErrorMidStream) => {
                timed.truncate(cut_at);
                timed.push(error);
                false
            }
            Some(Fault::CloseMidStream | Fault::ResetMidStream) => {
                timed.truncate(cut_at);
                true
            }
            Some(Fault::CloseBeforeDone) => false,
            _ => {
                match timed.last_mut() {
                    Some(last) => last.push_str(&tail),
                    None => timed.push(tail),
                }
                false
            }
        };
        Script { first, timed, cut }
    }

    /// (first, timed pieces, tail after the last piece, error event)
    fn chat(&self) -> (String, Vec<String>, String, String) {
        let head = json!({"id": self.id, "object": "chat.completion.chunk", "created": 0, "model": self.model});
        let chunk = |delta: Value, finish: Option<&str>| {
            let mut c = head.clone();
            c["choices"] = json!([{"index": 0, "delta": delta, "finish_reason": finish}]);
            sse(&c)
        };
        let role_content = if self.role_content_null {
            Value::Null
        } else {
            Value::from("")
        };
        let first = chunk(json!({"role": "assistant", "content": role_content}), None);
        let timed = self
            .reasoning
            .iter()
            .map(|p| chunk(json!({ "reasoning_content": p }), None))
            .chain(
                self.answer
                    .iter()
                    .map(|p| chunk(json!({ "content": p }), None)),
            )
            .collect();
        let tail = self.openai_tail(
            &head,
            json!({"index": 0, "delta": {}, "finish_reason": self.finish_reason}),
        );
        let error = sse(&openai_error("simulated error mid-stream", "server_error"));
        (first, timed, tail, error)
    }

    fn completions(&self) -> (String, Vec<String>, String, String) {
        let head =
            json!({"id": self.id, "object": "text_completion", "created": 0, "model": self.model});
        let chunk = |text: &str, finish: Option<&str>| {
            let mut c = head.clone();
            c["choices"] =
                json!([{"index": 0, "text": text, "logprobs": null, "finish_reason": finish}]);
            sse(&c)
        };
        let timed = self.answer.iter().map(|p| chunk(p, None)).collect();
        let tail = self.openai_tail(
            &head,
            json!({"index": 0, "text": "", "logprobs": null, "finish_reason": self.finish_reason}),
        );
        let error = sse(&openai_error("simulated error mid-stream", "server_error"));
        (String::new(), timed, tail, error)
    }

    fn messages(&self) -> (String, Vec<String>, String, String) {
        let start = json!({"type": "message_start", "message": {
            "id": self.id, "type": "message", "role": "assistant", "content": [], "model": self.model,
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": self.prompt_tokens, "output_tokens": 1}}});
        let first = named("message_start", &start) + &named("ping", &json!({"type": "ping"}));
        let block_start = |index: usize, block: Value| {
            named(
                "content_block_start",
                &json!({"type": "content_block_start", "index": index, "content_block": block}),
            )
        };
        let block_stop = |index: usize| {
            named(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            )
        };
        let delta = |index: usize, delta: Value| {
            named(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            )
        };
        let mut timed: Vec<String> = Vec::new();
        let thinking = !self.reasoning.is_empty();
        let text_index = usize::from(thinking);
        for (k, p) in self.reasoning.iter().enumerate() {
            let mut ev = String::new();
            if k == 0 {
                ev.push_str(&block_start(0, json!({"type": "thinking", "thinking": ""})));
            }
            ev.push_str(&delta(0, json!({"type": "thinking_delta", "thinking": p})));
            timed.push(ev);
        }
        for (k, p) in self.answer.iter().enumerate() {
            let mut ev = String::new();
            if k == 0 {
                if thinking {
                    ev.push_str(&delta(
                        0,
                        json!({"type": "signature_delta", "signature": "c2ltdWxhdGVk"}),
                    ));
                    ev.push_str(&block_stop(0));
                }
                ev.push_str(&block_start(
                    text_index,
                    json!({"type": "text", "text": ""}),
                ));
            }
            ev.push_str(&delta(text_index, json!({"type": "text_delta", "text": p})));
            timed.push(ev);
        }
        let stop_reason = match self.finish_reason {
            "length" => "max_tokens",
            _ => "end_turn",
        };
        let tail = block_stop(text_index)
            + &named(
                "message_delta",
                &json!({"type": "message_delta",
                        "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                        "usage": {"output_tokens": self.completion_tokens}}),
            )
            + &named("message_stop", &json!({"type": "message_stop"}));
        let error = named(
            "error",
            &anthropic_error("simulated error mid-stream", "overloaded_error"),
        );
        (first, timed, tail, error)
    }
}

/// A non-streaming response body for `shape`.
pub(super) fn whole(shape: Shape, r: &Reply<'_>) -> Value {
    let text = r.answer.concat();
    let reasoning = r.reasoning.concat();
    match shape {
        Shape::Chat => {
            let mut message = json!({"role": "assistant", "content": text});
            if !reasoning.is_empty() {
                message["reasoning_content"] = Value::from(reasoning);
            }
            json!({"id": r.id, "object": "chat.completion", "created": 0, "model": r.model,
                   "choices": [{"index": 0, "message": message, "finish_reason": r.finish_reason}],
                   "usage": r.usage()})
        }
        Shape::Completions => {
            json!({"id": r.id, "object": "text_completion", "created": 0, "model": r.model,
                   "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": r.finish_reason}],
                   "usage": r.usage()})
        }
        Shape::Messages => {
            let mut content = Vec::new();
            if !reasoning.is_empty() {
                content.push(
                    json!({"type": "thinking", "thinking": reasoning, "signature": "c2ltdWxhdGVk"}),
                );
            }
            content.push(json!({"type": "text", "text": text}));
            let stop_reason = if r.finish_reason == "length" {
                "max_tokens"
            } else {
                "end_turn"
            };
            json!({"id": r.id, "type": "message", "role": "assistant", "model": r.model,
                   "content": content, "stop_reason": stop_reason, "stop_sequence": null,
                   "usage": {"input_tokens": r.prompt_tokens, "output_tokens": r.completion_tokens}})
        }
    }
}
