//! The usual OpenAI chunk, read by hand (issue 20: per-chunk work a raw reader would recognise).
//!
//! `{"id":"…","object":"chat.completion.chunk","created":…,"model":"…","choices":[{"index":0,
//! "delta":{"content":"…"},"finish_reason":null}]}` is most of a stream. [`scan_with`] reads exactly that
//! family in one pass over the bytes, borrowing the text, and gives up (`None`) on anything else: an escape in
//! a string, a control character, a nested value in a field it does not read, more than one choice, a `usage`
//! or `error` that is not `null`, a field named twice, anything after the object. The caller then reads the
//! chunk with serde, as before, so every other shape and every error is handled where it always was. What
//! it accepts it reads exactly as serde does (a property test in this module holds it to that).
//!
//! A stream's chunks differ mostly in their text: once a chunk with exactly one text (`content`,
//! `reasoning_content`, `reasoning` or `text`) has been read, the next chunk that has the same bytes before
//! and after that text, and a text with neither escapes nor control characters, is read without walking it
//! ([`Known`]): the walk would read the same bytes the same way. A second property test holds that to the
//! reading without it.

use std::borrow::Cow;
use std::ops::Range;

use serde::de::IgnoredAny;

use super::{Choice, Choices, Chunk, Delta};

/// Reads `data` if it is a chunk of the usual shape; `None` sends it to serde.
#[cfg(test)]
pub(super) fn scan(data: &str) -> Option<Chunk<'_>> {
    scan_with(data, &mut Known::default())
}

/// The last chunk read that had exactly one text, and what it was read as, less its text.
#[derive(Debug, Default)]
pub(super) struct Known {
    bytes: String,
    /// Where the text lies in `bytes` (between its quotes).
    text: Range<usize>,
    field: Option<TextField>,
    /// Whether the chunk's choice had a `delta` object (it may, with a `text`).
    delta: bool,
    /// Whether its `finish_reason` was other than `null`.
    finish: bool,
}

/// Which field the one text was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextField {
    Content,
    ReasoningContent,
    Reasoning,
    Text,
}

impl Known {
    /// The text of `data`, and which field it is, when `data` is the known chunk with another text of
    /// neither escapes nor control characters.
    fn text_in<'a>(&self, data: &'a str) -> Option<(TextField, &'a str)> {
        let field = self.field?;
        let (before, after) = (&self.bytes[..self.text.start], &self.bytes[self.text.end..]);
        let text = data.strip_prefix(before)?.strip_suffix(after)?;
        text.bytes()
            .all(|c| c != b'"' && c != b'\\' && c >= 0x20)
            .then_some((field, text))
    }

    /// The known chunk with `text` for its text.
    fn chunk<'a>(&self, field: TextField, text: &'a str) -> Chunk<'a> {
        let text = Some(Cow::Borrowed(text));
        let mut delta = Delta {
            content: None,
            reasoning_content: None,
            reasoning: None,
        };
        let mut choice_text = None;
        match field {
            TextField::Content => delta.content = text,
            TextField::ReasoningContent => delta.reasoning_content = text,
            TextField::Reasoning => delta.reasoning = text,
            TextField::Text => choice_text = text,
        }
        Chunk {
            choices: Some(Choices {
                any: true,
                first: Some(Choice {
                    delta: self.delta.then_some(delta),
                    text: choice_text,
                    finish_reason: self.finish.then_some(IgnoredAny),
                }),
            }),
            usage: None,
            error: None,
        }
    }

    /// Keeps `data`, just read as `chunk`, when it has exactly one text.
    fn learn(&mut self, data: &str, chunk: &Chunk) {
        let Some(first) = chunk.choices.as_ref().and_then(|c| c.first.as_ref()) else {
            return;
        };
        let d = first.delta.as_ref();
        let texts = [
            (TextField::Content, d.and_then(|d| d.content.as_ref())),
            (
                TextField::ReasoningContent,
                d.and_then(|d| d.reasoning_content.as_ref()),
            ),
            (TextField::Reasoning, d.and_then(|d| d.reasoning.as_ref())),
            (TextField::Text, first.text.as_ref()),
        ];
        let mut found = texts.iter().filter_map(|(f, t)| Some((*f, t.as_ref()?)));
        let (Some((field, text)), None) = (found.next(), found.next()) else {
            return;
        };
        // The scanner borrows every text from `data`: where it lies there.
        let Cow::Borrowed(text) = text else {
            return;
        };
        let Some(start) = (text.as_ptr() as usize)
            .checked_sub(data.as_ptr() as usize)
            .filter(|start| start + text.len() <= data.len())
        else {
            return;
        };
        self.bytes.clear();
        self.bytes.push_str(data);
        self.text = start..start + text.len();
        self.field = Some(field);
        self.delta = first.delta.is_some();
        self.finish = first.finish_reason.is_some();
    }
}

/// [`scan`], reading a chunk that is the [`Known`] one with another text without walking it, and learning
/// from the chunks it walks.
pub(super) fn scan_with<'a>(data: &'a str, known: &mut Known) -> Option<Chunk<'a>> {
    if let Some((field, text)) = known.text_in(data) {
        return Some(known.chunk(field, text));
    }
    let mut s = Scanner {
        src: data,
        b: data.as_bytes(),
        i: 0,
    };
    let chunk = s.chunk()?;
    s.ws();
    if s.i != s.b.len() {
        return None;
    }
    known.learn(data, &chunk);
    Some(chunk)
}

struct Scanner<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
}

/// A field read once: a second one is serde's "duplicate field" error, so the scanner gives up.
fn once<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value?);
    Some(())
}

impl<'a> Scanner<'a> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn literal(&mut self, lit: &[u8]) -> Option<()> {
        self.b[self.i..]
            .starts_with(lit)
            .then(|| self.i += lit.len())
    }

    /// Consumes a `null` if one is next.
    fn null(&mut self) -> bool {
        self.peek() == Some(b'n') && self.literal(b"null").is_some()
    }

    /// A string with neither escapes nor control characters, borrowed. One pass over its bytes: most are a
    /// few bytes long (keys, ids, one token of text), too short for a vectorised search to pay.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let len = self.b[start..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        let end = start + len;
        if self.b[end] != b'"' {
            return None;
        }
        self.i = end + 1;
        // Both ends are ASCII quotes, so both are character boundaries.
        Some(&self.src[start..end])
    }

    /// `null`, or what `read` reads (an `Option` field, as serde reads one).
    fn or_null<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.null() {
            return Some(None);
        }
        read(self).map(Some)
    }

    /// A string or `null`.
    fn text(&mut self) -> Option<Option<Cow<'a, str>>> {
        self.or_null(|s| s.string().map(Cow::Borrowed))
    }

    /// A number, as JSON writes them.
    fn number(&mut self) -> Option<()> {
        let b = self.b;
        let digits = |mut i: usize| {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        let mut i = self.i;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        i = match b.get(i)? {
            b'0' => i + 1,
            b'1'..=b'9' => digits(i + 1),
            _ => return None,
        };
        if b.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            if end == i + 1 {
                return None;
            }
            i = end;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let end = digits(i);
            if end == i {
                return None;
            }
            i = end;
        }
        self.i = i;
        Some(())
    }

    /// Skips a field that is not read: a string, number, `true`, `false` or `null` (objects and arrays: give
    /// up).
    fn scalar(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// Walks an object, calling `member` with each key and the scanner at its value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            member(self, key)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn chunk(&mut self) -> Option<Chunk<'a>> {
        let (mut choices, mut usage, mut error) = (None, None, None);
        self.object(|s, key| match key {
            "choices" => once(&mut choices, s.or_null(Self::choices)),
            // Read by serde: they come once a stream, if at all.
            "usage" => once(&mut usage, s.null().then_some(())),
            "error" => once(&mut error, s.null().then_some(())),
            _ => s.scalar(),
        })?;
        Some(Chunk {
            choices: choices.flatten(),
            usage: None,
            error: None,
        })
    }

    /// `[]` or `[choice]` (a server that sends more choices goes to serde, which skips the others).
    fn choices(&mut self) -> Option<Choices<'a>> {
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.i += 1;
            return Some(Choices {
                any: false,
                first: None,
            });
        }
        let first = self.choice()?;
        self.eat(b']')?;
        Some(Choices {
            any: true,
            first: Some(first),
        })
    }

    fn choice(&mut self) -> Option<Choice<'a>> {
        let (mut delta, mut text, mut finish) = (None, None, None);
        self.object(|s, key| match key {
            "delta" => once(&mut delta, s.or_null(Self::delta)),
            "text" => once(&mut text, s.text()),
            // Any value but `null` ends the answer.
            "finish_reason" => once(&mut finish, s.or_null(Self::scalar)),
            _ => s.scalar(),
        })?;
        Some(Choice {
            delta: delta.flatten(),
            text: text.flatten(),
            finish_reason: finish.flatten().map(|()| IgnoredAny),
        })
    }

    fn delta(&mut self) -> Option<Delta<'a>> {
        let (mut content, mut reasoning_content, mut reasoning) = (None, None, None);
        self.object(|s, key| match key {
            "content" => once(&mut content, s.text()),
            "reasoning_content" => once(&mut reasoning_content, s.text()),
            "reasoning" => once(&mut reasoning, s.text()),
            _ => s.scalar(),
        })?;
        Some(Delta {
            content: content.flatten(),
            reasoning_content: reasoning_content.flatten(),
            reasoning: reasoning.flatten(),
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    use super::*;

    /// What the stream reader takes from a chunk, comparable.
    type View = (
        Option<(bool, Option<(View2, Option<String>, bool)>)>,
        bool,
        bool,
    );
    type View2 = Option<(Option<String>, Option<String>, Option<String>)>;

    fn view(c: &Chunk) -> View {
        let s = |t: &Option<Cow<str>>| t.as_ref().map(|t| t.to_string());
        (
            c.choices.as_ref().map(|cs| {
                (
                    cs.any,
                    cs.first.as_ref().map(|f| {
                        (
                            f.delta
                                .as_ref()
                                .map(|d| (s(&d.content), s(&d.reasoning_content), s(&d.reasoning))),
                            s(&f.text),
                            f.finish_reason.is_some(),
                        )
                    }),
                )
            }),
            c.usage.is_some(),
            c.error.is_some(),
        )
    }

    fn serde_view(data: &str) -> Option<View> {
        serde_json::from_str::<Chunk>(data).ok().map(|c| view(&c))
    }

    #[test]
    fn the_usual_chunks_are_read_by_hand_as_serde_reads_them() {
        for data in [
            // The simulator's.
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"content":" thee"},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            // vLLM's, with logprobs and stop_reason.
            r#"{"id":"cmpl-9","object":"chat.completion.chunk","created":1733000000,"model":"llama","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}"#,
            // Reasoning, completions' text, whitespace, no choices.
            r#" { "choices" : [ { "delta" : { "reasoning_content" : "hm" , "content" : null } } ] } "#,
            r#"{"choices":[{"text":"once upon","index":0,"finish_reason":null,"logprobs":null}],"created":-1.5e3}"#,
            r#"{"id":"x","choices":[]}"#,
            r#"{"choices":null}"#,
            r#"{}"#,
        ] {
            let hand = scan(data).map(|c| view(&c));
            assert!(hand.is_some(), "the scanner gave up on {data}");
            assert_eq!(hand, serde_view(data), "{data}");
        }
    }

    #[test]
    fn anything_else_goes_to_serde() {
        for data in [
            r#"{"choices":[{"delta":{"content":"a\nb"}}]}"#,
            r#"{"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}]}"#,
            r#"{"choices":[{"delta":{"content":"a","tool_calls":[]}}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#,
            r#"{"error":{"message":"overloaded","code":503}}"#,
            r#"{"choices":[],"choices":[]}"#,
            r#"{"choices":[{"delta":{"content":"a","content":"b"}}]}"#,
            r#"{"created":01}"#,
            r#"{"choices":[]} x"#,
            r#"{"choices":[],}"#,
            r#"["choices"]"#,
            "{\"id\":\"a\u{1}b\"}",
        ] {
            assert!(scan(data).is_none(), "the scanner read {data}");
        }
    }

    /// Chunk-like JSON and near-JSON: the fields the reader looks at, with every kind of value, others, escapes,
    /// bad numbers, nesting, duplicates, stray whitespace and trailing bytes.
    fn chunkish() -> impl Strategy<Value = String> {
        let s = |v: &str| Just(v.to_string());
        let ws = prop_oneof![6 => s(""), 1 => s(" "), 1 => s("\n"), 1 => s("\t "), 1 => s("\r")];
        let string = prop_oneof![
            40 => "\"[a-z ✓]{0,6}\"",
            1 => s("\"a\\nb\""),
            1 => s("\"\\u00e9\""),
            1 => s("\"a\u{1}\""),
            1 => s("\"\\q\""),
            1 => s("\"open"),
        ];
        let number = prop_oneof![
            6 => "-?[0-9]{1,4}",
            1 => "-?[0-9]{1,3}\\.[0-9]{0,3}",
            1 => "[0-9]{1,2}[eE][+-]?[0-9]{0,2}",
            1 => s("-"),
            1 => s("1."),
        ];
        let scalar = prop_oneof![
            4 => string.clone(),
            4 => number,
            1 => s("true"),
            1 => s("false"),
            2 => s("null"),
            1 => s("nul"),
        ];
        let value = prop_oneof![
            40 => scalar,
            1 => s("[]"),
            1 => s("{}"),
            1 => s("{\"a\":[1,{\"b\":null}]}"),
        ];
        let text = prop_oneof![6 => string.clone(), 2 => s("null"), 1 => s("5")];
        type Members = proptest::strategy::Union<BoxedStrategy<(String, String)>>;
        // Named members (weight 3 each) and others (weight 2).
        let member = |keys: Vec<(&'static str, BoxedStrategy<String>)>,
                      other: BoxedStrategy<String>| {
            let mut options: Vec<(u32, BoxedStrategy<(String, String)>)> = keys
                .into_iter()
                .map(|(k, v)| (3, v.prop_map(move |v| (k.to_string(), v)).boxed()))
                .collect();
            options.push((2, ("[a-z_]{1,8}", other).boxed()));
            Members::new_weighted(options)
        };
        // An object of up to `most` members, usually with `usual` among them (at a random place).
        let object =
            move |members: Members, most: usize, usual: BoxedStrategy<(String, String)>| {
                (
                    proptest::collection::vec((members, ws.clone(), ws.clone()), 0..most),
                    proptest::option::weighted(0.8, (usual, ws.clone(), ws.clone())),
                    any::<prop::sample::Index>(),
                    proptest::bool::weighted(0.05),
                )
                    .prop_map(|(mut ms, usual, at, trailing_comma)| {
                        if let Some(u) = usual {
                            let at = at.index(ms.len() + 1);
                            ms.insert(at, u);
                        }
                        let body: Vec<String> = ms
                            .into_iter()
                            .map(|((k, v), a, b)| format!("{a}\"{k}\"{b}:{a}{v}{b}"))
                            .collect();
                        let comma = if trailing_comma && !body.is_empty() {
                            ","
                        } else {
                            ""
                        };
                        format!("{{{}{comma}}}", body.join(","))
                    })
                    .boxed()
            };
        let delta = object(
            member(
                vec![
                    ("content", text.clone().boxed()),
                    ("reasoning_content", text.clone().boxed()),
                    ("reasoning", text.clone().boxed()),
                    ("role", s("\"assistant\"").boxed()),
                ],
                value.clone().boxed(),
            ),
            3,
            text.clone()
                .prop_map(|t| ("content".to_string(), t))
                .boxed(),
        );
        let choice = object(
            member(
                vec![
                    (
                        "delta",
                        prop_oneof![6 => delta.clone(), 1 => s("null"), 1 => s("\"d\"")].boxed(),
                    ),
                    ("text", text.boxed()),
                    ("finish_reason", value.clone().boxed()),
                    ("index", s("0").boxed()),
                ],
                value.clone().boxed(),
            ),
            4,
            delta.clone().prop_map(|d| ("delta".to_string(), d)).boxed(),
        );
        let choices = prop_oneof![
            8 => choice.clone().prop_map(|c| format!("[{c}]")),
            1 => proptest::collection::vec(choice, 0..3).prop_map(|cs| format!("[{}]", cs.join(","))),
            1 => s("null"),
            1 => s("[null]"),
            1 => s("7"),
        ];
        let chunk = object(
            member(
                vec![
                    ("choices", choices.clone().boxed()),
                    (
                        "usage",
                        prop_oneof![3 => s("null"), 1 => s("{\"completion_tokens\":3}")].boxed(),
                    ),
                    (
                        "error",
                        prop_oneof![3 => s("null"), 1 => s("{\"message\":\"m\"}")].boxed(),
                    ),
                    ("id", string.boxed()),
                ],
                value.boxed(),
            ),
            5,
            choices
                .clone()
                .prop_map(|c| ("choices".to_string(), c))
                .boxed(),
        );
        let tail = prop_oneof![12 => s(""), 1 => s(" "), 1 => s("\n"), 1 => s("x"), 1 => s("}")];
        (chunk, tail).prop_map(|(c, tail)| format!("{c}{tail}"))
    }

    /// Runs of chunk-like inputs that share their bytes, as a stream's chunks do: each after the first is the
    /// one before it again, that one with the bytes between two of its quotes replaced (another text, often
    /// with an escape, a quote or a control character), or its bytes up to some point followed by another
    /// input's from some point on (another value for a field, or broken JSON).
    fn runs() -> impl Strategy<Value = Vec<String>> {
        let s = |v: &str| Just(v.to_string());
        let text = prop_oneof![
            8 => "[a-z ✓]{0,6}",
            1 => s("a\\nb"),
            1 => s("\u{1}"),
            1 => s("x\"y"),
            1 => s("\\"),
            1 => s("\"],\"z\":\""),
        ];
        let next = (
            chunkish(),
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            0..3u8,
            text,
        );
        let first = prop_oneof![chunkish(), usual()];
        (first, proptest::collection::vec(next, 1..6)).prop_map(|(first, rest)| {
            let mut run = vec![first];
            for (other, cut, from, how, text) in rest {
                let prev = run.last().expect("one").clone();
                // The strings' values (a quote after a colon), where the texts are.
                let quotes: Vec<usize> = prev.match_indices('"').map(|(i, _)| i).collect();
                let values: Vec<usize> = (0..quotes.len().saturating_sub(1))
                    .filter(|&k| prev[..quotes[k]].trim_end().ends_with(':'))
                    .collect();
                let next = match how {
                    0 => prev,
                    1 if !values.is_empty() => {
                        let k = values[cut.index(values.len())];
                        format!("{}{text}{}", &prev[..=quotes[k]], &prev[quotes[k + 1]..])
                    }
                    _ => {
                        let boundary = |s: &str, mut i: usize| {
                            while !s.is_char_boundary(i) {
                                i -= 1;
                            }
                            i
                        };
                        let a = boundary(&prev, cut.index(prev.len() + 1));
                        let b = boundary(&other, from.index(other.len() + 1));
                        format!("{}{}", &prev[..a], &other[b..])
                    }
                };
                run.push(next);
            }
            run
        })
    }

    /// Chunks as servers send them: one text field among others, in any order.
    fn usual() -> impl Strategy<Value = String> {
        let field = prop_oneof![
            Just("content"),
            Just("reasoning_content"),
            Just("reasoning")
        ];
        let finish = prop_oneof![3 => Just("null"), 1 => Just("\"stop\"")];
        let extra = prop_oneof![Just(""), Just(r#","usage":null"#), Just(r#","created":17"#)];
        (field, "[a-z ✓]{0,4}", finish, extra, any::<bool>(), any::<bool>()).prop_map(
            |(field, text, finish, extra, role, completions)| {
                let choice = if completions {
                    format!(r#"{{"text":"{text}","index":0,"finish_reason":{finish}}}"#)
                } else {
                    let role = if role { r#""role":"assistant","# } else { "" };
                    format!(
                        r#"{{"index":0,"delta":{{{role}"{field}":"{text}"}},"finish_reason":{finish}}}"#
                    )
                };
                format!(r#"{{"id":"c-1","object":"chat.completion.chunk","choices":[{choice}]{extra}}}"#)
            },
        )
    }

    /// The text a chunk is read as.
    fn content(c: &Chunk) -> Option<String> {
        let first = c.choices.as_ref()?.first.as_ref()?;
        let d = first.delta.as_ref();
        d.and_then(|d| d.content.as_ref().or(d.reasoning_content.as_ref()))
            .or(first.text.as_ref())
            .map(|t| t.to_string())
    }

    #[test]
    fn a_chunk_is_known_when_it_has_exactly_one_text() {
        let mut known = Known::default();
        let usual = |text: &str, finish: &str| {
            format!(
                r#"{{"id":"x","choices":[{{"delta":{{"content":"{text}"}},"finish_reason":{finish}}}]}}"#
            )
        };
        // Read by walking, then known: the next with another text is read without walking.
        let first = usual("a", "null");
        assert_eq!(
            scan_with(&first, &mut known)
                .as_ref()
                .and_then(content)
                .as_deref(),
            Some("a")
        );
        let next = usual("bc d", "null");
        assert_eq!(known.text_in(&next), Some((TextField::Content, "bc d")));
        let read = scan_with(&next, &mut known).expect("read");
        assert_eq!(view(&read), view(&scan(&next).expect("walked")));
        // Not the known chunk: another finish reason, an escape or a quote in the text.
        for other in [
            usual("e", "\"stop\""),
            usual("a\\nb", "null"),
            usual("a\"", "null"),
        ] {
            assert_eq!(known.text_in(&other), None, "{other}");
        }
        assert!(scan_with(&usual("a\\nb", "null"), &mut known).is_none());
        // Two texts, or none: read, and not learned (the known chunk stays).
        for other in [
            r#"{"choices":[{"delta":{"reasoning_content":"r","content":"c"}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"choices":[]}"#,
        ] {
            assert!(scan_with(other, &mut known).is_some(), "{other}");
            assert_eq!(
                known.text_in(&next),
                Some((TextField::Content, "bc d")),
                "{other}"
            );
        }
        // The field is remembered: a reasoning chunk's text stays reasoning.
        let reasoning = r#"{"choices":[{"delta":{"reasoning":"hm"},"finish_reason":null}]}"#;
        scan_with(reasoning, &mut known).expect("read");
        let again = reasoning.replace("hm", "so");
        let read = scan_with(&again, &mut known).expect("read");
        assert_eq!(view(&read), view(&scan(&again).expect("walked")));
        assert_eq!(known.text_in(&again), Some((TextField::Reasoning, "so")));
    }

    #[test]
    fn the_runs_reach_the_known_chunk() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = runs();
        let (mut known_read, mut new_text) = (0, 0);
        for _ in 0..1000 {
            let mut known = Known::default();
            let mut last = None;
            for data in strategy.new_tree(&mut runner).unwrap().current() {
                if let Some((_, text)) = known.text_in(&data) {
                    known_read += 1;
                    new_text += usize::from(last.as_deref() != Some(text));
                }
                last = scan_with(&data, &mut known).as_ref().and_then(content);
            }
        }
        assert!(
            known_read >= 200 && new_text >= 80,
            "read as known {known_read}, of which with a new text {new_text}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        #[test]
        fn the_known_chunk_never_changes_what_is_read(run in runs()) {
            let mut known = Known::default();
            for data in &run {
                let with = scan_with(data, &mut known).map(|c| view(&c));
                prop_assert_eq!(with, scan(data).map(|c| view(&c)), "{}", data);
            }
        }
    }

    /// The property below is only as good as its inputs: they must reach both ways, often.
    #[test]
    fn the_generated_chunks_reach_both_the_scanner_and_serde() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = chunkish();
        let (mut read, mut given_up, mut with_text) = (0, 0, 0);
        for _ in 0..2000 {
            let data = strategy.new_tree(&mut runner).unwrap().current();
            match scan(&data) {
                Some(c) => {
                    read += 1;
                    let first = c.choices.and_then(|cs| cs.first);
                    if first.is_some_and(|f| {
                        f.text.is_some() || f.delta.is_some_and(|d| d.content.is_some())
                    }) {
                        with_text += 1;
                    }
                }
                None => given_up += 1,
            }
        }
        assert!(
            read >= 200 && given_up >= 200 && with_text >= 30,
            "read {read}, gave up {given_up}, with text {with_text}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        #[test]
        fn what_the_scanner_reads_serde_reads_the_same(data in chunkish()) {
            if let Some(hand) = scan(&data) {
                prop_assert_eq!(Some(view(&hand)), serde_view(&data), "{}", data);
            }
        }
    }
}
