//! LLMPerf's sonnet-line prompts (spec §4.2), reproduced exactly.
//!
//! For request `i` the original draws `max_tokens_i` and then a prompt whose *target* length `P` (in Llama
//! tokens, BOS included) is normal-distributed. The prompt is a fixed prefix naming `max_tokens_i`, followed by
//! the 84 sonnet lines in a freshly shuffled order, appended whole while their token counts fit in the budget,
//! the last one cut by characters. `P` is reported as `number_input_tokens`; the real count is always a little
//! lower, so we record it too.

use std::collections::HashMap;

use super::pyrandom::PyRandom;
use crate::tokenizer::TokenCount;

/// The prompt corpus: six Shakespeare sonnets (18, 6, 100, 22, 52, 59), 84 lines, no trailing newline.
pub const SONNET: &str = include_str!("../../assets/sonnet.txt");

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

/// Generates `n` prompts in the original's draw order, from a generator seeded with `seed`.
pub fn generate_prompts(
    spec: &PromptSpec,
    n: usize,
    seed: u64,
    counter: &dyn TokenCount,
) -> Result<Vec<GeneratedPrompt>, PromptError> {
    let lines: Vec<&str> = SONNET.split_inclusive('\n').collect();
    let line_tokens: Vec<u64> = lines.iter().map(|l| counter.count(l) as u64).collect();
    let mut prefix_tokens: HashMap<u64, u64> = HashMap::new();
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
        let prefix_len = *prefix_tokens
            .entry(max_tokens)
            .or_insert_with(|| counter.count(&text) as u64);
        let target = sample_target(&mut rng, spec, prefix_len)?;
        let mut order: Vec<usize> = (0..lines.len()).collect();
        rng.shuffle(&mut order);
        let mut remaining = target - prefix_len;
        'fill: loop {
            for &i in &order {
                if remaining < line_tokens[i] {
                    text.extend(lines[i].chars().take(remaining as usize));
                    break 'fill;
                }
                text.push_str(lines[i]);
                remaining -= line_tokens[i];
            }
        }
        let actual_tokens = counter.count(&text) as u64;
        out.push(GeneratedPrompt {
            text,
            target_tokens: target,
            actual_tokens,
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
