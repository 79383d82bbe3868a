//! LLMPerf's sonnet-line prompts (spec §4.2), reproduced exactly.
//!
//! For request `i` the original draws `max_tokens_i` and then a prompt whose *target* length `P` (in Llama
//! tokens, BOS included) is normal-distributed. The prompt is a fixed prefix naming `max_tokens_i`, followed by
//! the 84 sonnet lines in a freshly shuffled order, appended whole while their token counts fit in the budget,
//! the last one cut by characters. `P` is reported as `number_input_tokens`; the real count is always a little
//! lower, so we record it too.

use std::cell::RefCell;
use std::collections::HashMap;

use super::pyrandom::PyRandom;
use crate::tokenizer::TokenCount;

/// The prompt corpus: six Shakespeare sonnets (18, 6, 100, 22, 52, 59), 84 lines, no trailing newline.
pub const SONNET: &str = include_str!("../../assets/sonnet.txt");

/// Token counts (BOS included) of the 84 sonnet lines under the embedded Llama tokenizer, in file order.
/// Checked against the tokenizer by `llama_counts_match_the_tokenizer` (tests/prompts.rs).
const LLAMA_LINE_TOKENS: [u8; 84] = [
    14, 13, 17, 15, 14, 14, 12, 16, 10, 12, 17, 13, 15, 13, 14, 15, 13, 18, 11, 12, 15, 14, 14, 14,
    14, 10, 16, 19, 15, 13, 16, 13, 13, 11, 14, 11, 17, 13, 12, 15, 13, 17, 13, 13, 15, 12, 11, 13,
    16, 12, 16, 14, 14, 14, 14, 17, 13, 14, 11, 15, 12, 15, 12, 13, 14, 17, 11, 12, 14, 16, 12, 16,
    13, 11, 13, 11, 12, 11, 12, 10, 13, 9, 14, 11,
];

/// Tokens of [`prefix`] under the embedded Llama tokenizer, BOS included, less the digits of `max_tokens`.
/// No merge of that vocabulary involves an ASCII digit, so each digit is one token and the text on either
/// side tokenizes the same whatever the number.
const LLAMA_PREFIX_TOKENS_WITHOUT_DIGITS: u64 = 24;

/// The token counts the prompt algorithm needs: each sonnet line's and the prefix's, BOS included.
pub trait SonnetCounts {
    /// Tokens of sonnet line `i` (in file order).
    fn line(&self, i: usize) -> u64;
    /// Tokens of [`prefix`]`(max_tokens)`.
    fn prefix(&self, max_tokens: u64) -> u64;
}

/// The embedded Llama tokenizer's counts, precomputed: sampling prompts needs no tokenizer at all, so the
/// first request is not held up by parsing one.
#[derive(Debug, Clone, Copy, Default)]
pub struct LlamaSonnetCounts;

impl SonnetCounts for LlamaSonnetCounts {
    fn line(&self, i: usize) -> u64 {
        LLAMA_LINE_TOKENS[i] as u64
    }
    fn prefix(&self, max_tokens: u64) -> u64 {
        LLAMA_PREFIX_TOKENS_WITHOUT_DIGITS + max_tokens.to_string().len() as u64
    }
}

/// Counts measured with any tokenizer (prefix counts cached per `max_tokens`).
pub struct MeasuredSonnetCounts<'a> {
    counter: &'a dyn TokenCount,
    lines: Vec<u64>,
    prefixes: RefCell<HashMap<u64, u64>>,
}

impl<'a> MeasuredSonnetCounts<'a> {
    /// Counts the 84 lines now; prefixes as they are needed.
    pub fn new(counter: &'a dyn TokenCount) -> Self {
        MeasuredSonnetCounts {
            counter,
            lines: sonnet_lines().map(|l| counter.count(l) as u64).collect(),
            prefixes: RefCell::new(HashMap::new()),
        }
    }
}

impl SonnetCounts for MeasuredSonnetCounts<'_> {
    fn line(&self, i: usize) -> u64 {
        self.lines[i]
    }
    fn prefix(&self, max_tokens: u64) -> u64 {
        *self
            .prefixes
            .borrow_mut()
            .entry(max_tokens)
            .or_insert_with(|| self.counter.count(&prefix(max_tokens)) as u64)
    }
}

fn sonnet_lines() -> impl Iterator<Item = &'static str> {
    SONNET.split_inclusive('\n')
}

/// Normal-distribution parameters of one run's prompts and outputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PromptSpec {
    /// Mean target prompt length, in tokens.
    pub mean_input_tokens: f64,
    /// Its standard deviation.
    pub stddev_input_tokens: f64,
    /// Mean `max_tokens`.
    pub mean_output_tokens: f64,
    /// Its standard deviation.
    pub stddev_output_tokens: f64,
}

/// One request's prompt, built before the timed section.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedPrompt {
    /// The full prompt text sent as the user message.
    pub text: String,
    /// `P`, the sampled target length: what LLMPerf reports as `number_input_tokens`.
    pub target_tokens: u64,
    /// The real token count of `text` (BOS included), always at most `target_tokens`.
    pub actual_tokens: u64,
    /// The sampled `max_tokens`, also written into the prompt text.
    pub max_tokens: u64,
}

/// Why prompts cannot be built.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PromptError {
    #[error(
        "cannot sample a positive {what} from mean {mean} and stddev {stddev}: raise --mean-{what}"
    )]
    /// No positive length can be drawn from these parameters.
    NoPositiveValue {
        /// Which length (`input-tokens` or `output-tokens`).
        what: &'static str,
        /// The mean given.
        mean: f64,
        /// The standard deviation given.
        stddev: f64,
    },
    /// The drawn prompt lengths never cover the fixed prefix.
    #[error(
        "mean-input-tokens {mean} (stddev {stddev}) is below the prompt prefix, which alone takes {prefix} tokens; \
         raise --mean-input-tokens to at least {prefix}"
    )]
    InputBelowPrefix {
        /// The mean given.
        mean: f64,
        /// The standard deviation given.
        stddev: f64,
        /// Tokens the prefix alone takes.
        prefix: u64,
    },
}

/// The fixed instruction every prompt starts with.
pub fn prefix(max_tokens: u64) -> String {
    format!(
        "Randomly stream lines from the following text with {max_tokens} output tokens. Don't generate eos tokens:\n\n"
    )
}

/// A prompt as sampled, before its real token count is known.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledPrompt {
    /// The full prompt text sent as the user message.
    pub text: String,
    /// `P`, the sampled target length: what LLMPerf reports as `number_input_tokens`.
    pub target_tokens: u64,
    /// The sampled `max_tokens`, also written into the prompt text.
    pub max_tokens: u64,
}

/// Generates `n` prompts in the original's draw order, from a generator seeded with `seed`, with their real
/// token counts.
pub fn generate_prompts(
    spec: &PromptSpec,
    n: usize,
    seed: u64,
    counter: &dyn TokenCount,
) -> Result<Vec<GeneratedPrompt>, PromptError> {
    let sampled = sample_prompts(spec, n, seed, &MeasuredSonnetCounts::new(counter))?;
    Ok(sampled
        .into_iter()
        .map(|p| GeneratedPrompt {
            actual_tokens: counter.count(&p.text) as u64,
            text: p.text,
            target_tokens: p.target_tokens,
            max_tokens: p.max_tokens,
        })
        .collect())
}

/// Samples `n` prompts in the original's draw order, from a generator seeded with `seed`; `counts` gives the
/// line and prefix token counts of the run's tokenizer.
pub fn sample_prompts(
    spec: &PromptSpec,
    n: usize,
    seed: u64,
    counts: &dyn SonnetCounts,
) -> Result<Vec<SampledPrompt>, PromptError> {
    let lines: Vec<&str> = sonnet_lines().collect();
    let mut rng = PyRandom::new(seed);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let max_tokens = rng
            .sample_random_positive_int(spec.mean_output_tokens, spec.stddev_output_tokens)
            .ok_or(PromptError::NoPositiveValue {
                what: "output-tokens",
                mean: spec.mean_output_tokens,
                stddev: spec.stddev_output_tokens,
            })?;
        let mut text = prefix(max_tokens);
        let prefix_len = counts.prefix(max_tokens);
        let target = sample_target(&mut rng, spec, prefix_len)?;
        let mut order: Vec<usize> = (0..lines.len()).collect();
        rng.shuffle(&mut order);
        let mut remaining = target - prefix_len;
        'fill: loop {
            for &i in &order {
                let cost = counts.line(i);
                if remaining < cost {
                    text.extend(lines[i].chars().take(remaining as usize));
                    break 'fill;
                }
                text.push_str(lines[i]);
                remaining -= cost;
            }
        }
        out.push(SampledPrompt {
            text,
            target_tokens: target,
            max_tokens,
        });
    }
    Ok(out)
}

/// Draws `P` until it covers the prefix, as the original does (with a bound instead of an endless loop).
fn sample_target(
    rng: &mut PyRandom,
    spec: &PromptSpec,
    prefix_len: u64,
) -> Result<u64, PromptError> {
    let below = || PromptError::InputBelowPrefix {
        mean: spec.mean_input_tokens,
        stddev: spec.stddev_input_tokens,
        prefix: prefix_len,
    };
    for _ in 0..100_000 {
        let p = rng
            .sample_random_positive_int(spec.mean_input_tokens, spec.stddev_input_tokens)
            .ok_or_else(below)?;
        if p >= prefix_len {
            return Ok(p);
        }
        if spec.stddev_input_tokens == 0.0 {
            break;
        }
    }
    Err(below())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts characters plus one, so budgets are easy to follow by hand.
    struct CharCount;
    impl TokenCount for CharCount {
        fn count(&self, text: &str) -> usize {
            text.chars().count() + 1
        }
    }

    fn spec(mi: f64, si: f64, mo: f64, so: f64) -> PromptSpec {
        PromptSpec {
            mean_input_tokens: mi,
            stddev_input_tokens: si,
            mean_output_tokens: mo,
            stddev_output_tokens: so,
        }
    }

    #[test]
    fn corpus_is_the_84_sonnet_lines() {
        let lines: Vec<&str> = SONNET.split_inclusive('\n').collect();
        assert_eq!(lines.len(), 84);
        assert_eq!(SONNET.len(), 3641);
        assert_eq!(lines[0], "Shall I compare thee to a summer's day?\n");
        assert_eq!(lines[83], "To subjects worse have given admiring praise.");
    }

    #[test]
    fn prompt_starts_with_prefix_naming_max_tokens() {
        let p = generate_prompts(&spec(300.0, 50.0, 150.0, 80.0), 20, 7, &CharCount).unwrap();
        for g in &p {
            assert!(g.text.starts_with(&prefix(g.max_tokens)));
            assert!(g.max_tokens >= 1);
        }
    }

    #[test]
    fn budget_is_spent_exactly_and_last_line_cut_by_characters() {
        // With one token per character, whole lines cost their length and the cut line costs the characters
        // kept, so every prompt is exactly P characters long.
        struct OnePerChar;
        impl TokenCount for OnePerChar {
            fn count(&self, text: &str) -> usize {
                text.chars().count()
            }
        }
        let p = generate_prompts(&spec(900.0, 200.0, 10.0, 0.0), 20, 1, &OnePerChar).unwrap();
        for g in &p {
            assert_eq!(g.text.chars().count() as u64, g.target_tokens);
            assert_eq!(g.actual_tokens, g.target_tokens);
        }
        let cut = p.iter().filter(|g| !g.text.ends_with('\n')).count();
        assert!(cut > 10, "most prompts end in a line cut mid-way");
    }

    #[test]
    fn same_seed_same_prompts_other_seed_other_prompts() {
        let s = spec(550.0, 150.0, 150.0, 80.0);
        let a = generate_prompts(&s, 5, 11111, &CharCount).unwrap();
        let b = generate_prompts(&s, 5, 11111, &CharCount).unwrap();
        let c = generate_prompts(&s, 5, 11112, &CharCount).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn long_prompts_wrap_around_the_corpus() {
        let p = generate_prompts(&spec(8000.0, 0.0, 10.0, 0.0), 1, 3, &CharCount).unwrap();
        assert!(p[0].text.len() > 2 * SONNET.len());
    }

    #[test]
    fn impossible_lengths_are_errors_not_hangs() {
        let err = generate_prompts(&spec(5.0, 0.0, 10.0, 0.0), 1, 3, &CharCount).unwrap_err();
        assert!(matches!(err, PromptError::InputBelowPrefix { .. }), "{err}");
        let err = generate_prompts(&spec(500.0, 0.0, 0.0, 0.0), 1, 3, &CharCount).unwrap_err();
        assert!(matches!(err, PromptError::NoPositiveValue { .. }), "{err}");
    }
}
