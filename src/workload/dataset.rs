//! Prompt datasets: JSON Lines (`{"prompt": …}` or `{"messages": […]}` per line) and ShareGPT-style JSON
//! (`[{"conversations": [{"from": "human", "value": …}, {"from": "gpt", …}]}]`). Pure: the runner reads the
//! file and hands its text here; every line is checked before anything is sent.
//!
//! JSON Lines keys: `prompt` (text) or `messages` (OpenAI chat messages, each with a string `role` and a
//! `content`), optional `max_tokens` (a positive integer), `id` (any JSON value, copied into the record as
//! `dataset_id`) and `timestamp` (seconds from the start, for trace replay). Blank lines are skipped; any other
//! key is an error, so a typo is not silently ignored.
//!
//! ShareGPT: each human turn is one prompt, in file order; the gpt turn that follows it is the recorded answer,
//! whose token count can set `max_tokens` (`--dataset-output-lengths`).

use serde_json::{Map, Value};

use super::pyrandom::PyRandom;

/// What one dataset entry sends.
#[derive(Debug, Clone, PartialEq)]
pub enum DatasetPrompt {
    /// A plain prompt: sent as the user message (chat) or the prompt (completions).
    Text(String),
    /// OpenAI chat messages, sent as they are.
    Messages(Vec<Value>),
}

/// One request of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetEntry {
    /// The prompt or messages.
    pub prompt: DatasetPrompt,
    /// `max_tokens` given by the line.
    pub max_tokens: Option<u64>,
    /// ShareGPT: the recorded answer to this prompt (its length may set `max_tokens`).
    pub answer: Option<String>,
    /// The line's `id`, carried into the per-request record.
    pub id: Option<Value>,
    /// Trace replay: seconds from the start of the run.
    pub timestamp: Option<f64>,
    /// 1-based line of the file the entry comes from (JSON Lines), for messages.
    pub line: usize,
}

/// Why a dataset cannot be used. Each message names the file, and the line where there is one.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DatasetError {
    /// A line (JSON Lines) or the file (ShareGPT) is not what the format allows.
    #[error("dataset {file}, line {line}: {problem}")]
    BadLine {
        /// The file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A ShareGPT entry is malformed.
    #[error("dataset {file}, line {line} (conversation {index}, 0-based): {problem}")]
    BadConversation {
        /// The file.
        file: String,
        /// 1-based line where the conversation starts.
        line: usize,
        /// Position of the conversation in the top-level list.
        index: usize,
        /// What is wrong.
        problem: String,
    },
    /// Nothing to send.
    #[error(
        "dataset {file} has no prompts: give JSON Lines with a \"prompt\" or \"messages\" per line, or \
         ShareGPT JSON with human turns"
    )]
    Empty {
        /// The file.
        file: String,
    },
}

/// Parses a dataset file's text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Vec<DatasetEntry>, DatasetError> {
    let entries = if text.trim_start().starts_with('[') {
        parse_sharegpt(file, text)?
    } else {
        parse_jsonl(file, text)?
    };
    if entries.is_empty() {
        return Err(DatasetError::Empty { file: file.into() });
    }
    Ok(entries)
}

fn parse_jsonl(file: &str, text: &str) -> Result<Vec<DatasetEntry>, DatasetError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let bad = |problem: String| DatasetError::BadLine {
            file: file.into(),
            line,
            problem,
        };
        let value: Value =
            serde_json::from_str(raw).map_err(|e| bad(format!("not valid JSON ({e})")))?;
        let Value::Object(obj) = value else {
            return Err(bad(
                "expected a JSON object like {\"prompt\": \"...\"}".into()
            ));
        };
        out.push(entry_of(obj, line).map_err(bad)?);
    }
    Ok(out)
}

fn entry_of(obj: Map<String, Value>, line: usize) -> Result<DatasetEntry, String> {
    if let Some(k) = obj
        .keys()
        .find(|k| !["prompt", "messages", "max_tokens", "id", "timestamp"].contains(&k.as_str()))
    {
        return Err(format!(
            "unknown key \"{k}\": use prompt or messages, and optionally max_tokens, id, timestamp"
        ));
    }
    let prompt = match (obj.get("prompt"), obj.get("messages")) {
        (Some(_), Some(_)) => return Err("give \"prompt\" or \"messages\", not both".into()),
        (None, None) => return Err("missing \"prompt\" (text) or \"messages\" (a list)".into()),
        (Some(Value::String(s)), None) if !s.is_empty() => DatasetPrompt::Text(s.clone()),
        (Some(Value::String(_)), None) => return Err("\"prompt\" is empty".into()),
        (Some(other), None) => return Err(format!("\"prompt\" must be text; got {other}")),
        (None, Some(Value::Array(m))) => {
            check_messages(m)?;
            DatasetPrompt::Messages(m.clone())
        }
        (None, Some(other)) => {
            return Err(format!(
                "\"messages\" must be a list of messages; got {other}"
            ));
        }
    };
    let max_tokens = match obj.get("max_tokens") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 => Some(n),
            _ => {
                return Err(format!(
                    "\"max_tokens\" must be a positive integer; got {v}"
                ));
            }
        },
    };
    let timestamp = match obj.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(t) if t.is_finite() && t >= 0.0 => Some(t),
            _ => {
                return Err(format!(
                    "\"timestamp\" must be seconds from the start (a number ≥ 0); got {v}"
                ));
            }
        },
    };
    Ok(DatasetEntry {
        prompt,
        max_tokens,
        answer: None,
        id: obj.get("id").cloned(),
        timestamp,
        line,
    })
}

fn check_messages(messages: &[Value]) -> Result<(), String> {
    if messages.is_empty() {
        return Err("\"messages\" is empty".into());
    }
    for (i, m) in messages.iter().enumerate() {
        let role_ok = m.get("role").is_some_and(Value::is_string);
        let content_ok = m
            .get("content")
            .is_some_and(|c| c.is_string() || c.is_array());
        if !role_ok || !content_ok {
            return Err(format!(
                "messages[{i}] must be {{\"role\": \"user\"|\"assistant\"|\"system\", \"content\": ...}}; got {m}"
            ));
        }
    }
    Ok(())
}

fn parse_sharegpt(file: &str, text: &str) -> Result<Vec<DatasetEntry>, DatasetError> {
    let value: Value = serde_json::from_str(text).map_err(|e| DatasetError::BadLine {
        file: file.into(),
        line: e.line(),
        problem: format!("not valid ShareGPT JSON ({e})"),
    })?;
    let list = value.as_array().map(Vec::as_slice).unwrap_or_default();
    let lines = element_lines(text);
    let mut out = Vec::new();
    for (index, conv) in list.iter().enumerate() {
        let bad = |problem: &str| DatasetError::BadConversation {
            file: file.into(),
            line: lines.get(index).copied().unwrap_or(1),
            index,
            problem: problem.into(),
        };
        let turns = conv
            .get("conversations")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("missing the \"conversations\" list"))?;
        let id = conv.get("id").cloned();
        for (k, turn) in turns.iter().enumerate() {
            let from = turn.get("from").and_then(Value::as_str);
            let value = turn.get("value").and_then(Value::as_str);
            let (Some(from), Some(value)) = (from, value) else {
                return Err(bad(&format!(
                    "turn {k} must be {{\"from\": \"human\"|\"gpt\", \"value\": \"...\"}}"
                )));
            };
            if from != "human" || value.is_empty() {
                continue;
            }
            let answer = turns
                .get(k + 1)
                .filter(|t| t.get("from").and_then(Value::as_str) == Some("gpt"))
                .and_then(|t| t.get("value").and_then(Value::as_str))
                .map(str::to_string);
            out.push(DatasetEntry {
                prompt: DatasetPrompt::Text(value.to_string()),
                max_tokens: None,
                answer,
                id: id.clone(),
                timestamp: None,
                line: 0,
            });
        }
    }
    Ok(out)
}

/// 1-based line on which each element of the top-level JSON array starts (the text is valid JSON).
fn element_lines(text: &str) -> Vec<usize> {
    let (mut depth, mut in_string, mut escaped, mut expect) = (0usize, false, false, false);
    let mut line = 1;
    let mut out = Vec::new();
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if expect && !c.is_whitespace() && c != ']' {
            out.push(line);
            expect = false;
        }
        match c {
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                expect = depth == 1;
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => expect = true,
            _ => {}
        }
    }
    out
}

/// The order entries are sent in: file order, or shuffled with a generator seeded with `seed`.
pub fn order(n: usize, shuffle: bool, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    if shuffle {
        PyRandom::new(seed).shuffle(&mut idx);
    }
    idx
}

/// Trace replay: every entry needs a timestamp, in non-decreasing order; returns the offsets.
pub fn timestamps(file: &str, entries: &[DatasetEntry]) -> Result<Vec<f64>, DatasetError> {
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let bad = |problem: String| DatasetError::BadLine {
            file: file.into(),
            line: e.line,
            problem,
        };
        let t = e.timestamp.ok_or_else(|| {
            bad("no \"timestamp\": --replay-timestamps needs one on every line".into())
        })?;
        if let Some(&prev) = out.last()
            && t < prev
        {
            return Err(bad(format!(
                "timestamp {t} is before the previous line's {prev}: sort the trace by timestamp"
            )));
        }
        out.push(t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_prompts_messages_and_keys() {
        let text = "{\"prompt\": \"a\", \"max_tokens\": 5, \"id\": \"x\"}\n\n{\"messages\": [{\"role\": \"user\", \"content\": \"b\"}], \"timestamp\": 1.5}\n";
        let e = parse("f", text).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].prompt, DatasetPrompt::Text("a".into()));
        assert_eq!(e[0].max_tokens, Some(5));
        assert_eq!(e[0].id, Some(Value::from("x")));
        assert_eq!(e[1].line, 3);
        assert_eq!(e[1].timestamp, Some(1.5));
    }

    #[test]
    fn bad_lines_name_the_line_and_the_problem() {
        let cases = [
            ("{\"prompt\": \"a\"}\n{oops\n", 2, "not valid JSON"),
            ("{\"prompt\": \"a\", \"max_tokens\": -1}\n", 1, "max_tokens"),
            ("{\"promt\": \"a\"}\n", 1, "unknown key \"promt\""),
            ("{\"messages\": [{\"content\": \"a\"}]}\n", 1, "messages[0]"),
            ("{\"id\": 3}\n", 1, "missing \"prompt\""),
        ];
        for (text, line, needle) in cases {
            let err = parse("d.jsonl", text).unwrap_err().to_string();
            assert!(err.contains(&format!("line {line}")), "{err}");
            assert!(err.contains(needle), "{err}");
        }
        assert!(matches!(
            parse("d.jsonl", "\n\n"),
            Err(DatasetError::Empty { .. })
        ));
    }

    #[test]
    fn sharegpt_human_turns_with_answers() {
        let text = r#"[{"id": "c1", "conversations": [{"from": "human", "value": "q1"}, {"from": "gpt", "value": "a1"},
            {"from": "human", "value": "q2"}]}]"#;
        let e = parse("s.json", text).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].answer.as_deref(), Some("a1"));
        assert_eq!(e[1].answer, None);
        assert_eq!(e[1].prompt, DatasetPrompt::Text("q2".into()));
    }

    #[test]
    fn sharegpt_errors_name_the_line_of_the_conversation() {
        let text = "[\n  {\"conversations\": [{\"from\": \"human\", \"value\": \"a, [b]\"}]},\n  {\"x\": 1}\n]";
        let err = parse("s.json", text).unwrap_err().to_string();
        assert!(err.contains("line 3 (conversation 1"), "{err}");
        assert!(err.contains("missing the \"conversations\" list"), "{err}");
        assert_eq!(element_lines("[{\"a\": \"\\\"]\"},\n{}]"), vec![1, 2]);
    }

    #[test]
    fn shuffle_is_seeded() {
        assert_eq!(order(4, false, 1), vec![0, 1, 2, 3]);
        assert_eq!(order(20, true, 7), order(20, true, 7));
        assert_ne!(order(20, true, 7), order(20, true, 8));
    }

    #[test]
    fn replay_needs_sorted_timestamps() {
        let e = parse(
            "t",
            "{\"prompt\": \"a\", \"timestamp\": 2}\n{\"prompt\": \"b\", \"timestamp\": 1}\n",
        )
        .unwrap();
        let err = timestamps("t", &e).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        let e = parse("t", "{\"prompt\": \"a\"}\n").unwrap();
        assert!(
            timestamps("t", &e)
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
    }
}
