//! The original's prompts, reproduced: spec §4.2's test vector for the defaults (550/150 in, 150/80 out,
//! seed 11111), computed with the same vocabulary.

use crate::tokenizer::{TokenCount, Tokenizer};
use crate::workload::prompt::{SONNET, SonnetCounts, prefix};
use crate::workload::{
    LlamaSonnetCounts, MeasuredSonnetCounts, PromptSpec, generate_prompts, sample_prompts,
};

/// (max_tokens, P, first five line indices of the shuffled order, characters, real tokens incl. BOS)
const VECTOR: [(u64, u64, [usize; 5], usize, u64); 10] = [
    (167, 538, [39, 61, 18, 35, 28], 1723, 503),
    (92, 581, [29, 60, 14, 34, 35], 1822, 541),
    (231, 601, [44, 77, 25, 72, 58], 1941, 566),
    (173, 531, [82, 52, 64, 41, 14], 1685, 490),
    (64, 483, [1, 44, 15, 11, 5], 1514, 452),
    (32, 509, [18, 59, 36, 24, 20], 1660, 473),
    (56, 472, [69, 16, 31, 80, 2], 1453, 442),
    (98, 967, [51, 0, 83, 6, 53], 3090, 909),
    (101, 568, [77, 22, 2, 74, 50], 1804, 531),
    (155, 639, [37, 24, 6, 67, 34], 2007, 594),
];

#[test]
fn default_prompts_match_the_original_bit_for_bit() {
    let spec = PromptSpec {
        mean_input_tokens: 550.0,
        stddev_input_tokens: 150.0,
        mean_output_tokens: 150.0,
        stddev_output_tokens: 80.0,
    };
    let tok = Tokenizer::llama();
    let prompts = generate_prompts(&spec, 10, 11111, &tok).unwrap();
    let lines: Vec<&str> = SONNET.split_inclusive('\n').collect();
    for (p, (max_tokens, target, first, chars, real)) in prompts.iter().zip(VECTOR) {
        assert_eq!(p.max_tokens, max_tokens);
        assert_eq!(p.target_tokens, target);
        let expected_start: String =
            prefix(max_tokens) + &first.iter().map(|&i| lines[i]).collect::<String>();
        assert!(
            p.text.starts_with(&expected_start),
            "prompt for max_tokens {max_tokens}"
        );
        assert_eq!(p.text.chars().count(), chars);
        assert_eq!(p.actual_tokens, real);
        assert_eq!(tok.count(&p.text) as u64, real);
    }
    assert!(prompts[0].text.starts_with(
        "Randomly stream lines from the following text with 167 output tokens. Don't generate eos \
         tokens:\n\nAnd make Time's spoils despised every where.\nSince, seldom coming,"
    ));
    assert!(prompts[0].text.ends_with("\nThou art "));
}

#[test]
fn prefix_costs_24_tokens_plus_one_per_digit() {
    let tok = Tokenizer::llama();
    for (e, want) in [(7, 25), (42, 26), (150, 27), (1000, 28)] {
        assert_eq!(tok.count(&prefix(e)), want, "max_tokens {e}");
    }
}

/// The precomputed counts the default run samples with (no tokenizer before the first request) are the
/// tokenizer's own: every line, and the prefix for numbers of every length.
#[test]
fn llama_counts_match_the_tokenizer() {
    let tok = Tokenizer::llama();
    let measured = MeasuredSonnetCounts::new(&tok);
    for (i, line) in SONNET.split_inclusive('\n').enumerate() {
        assert_eq!(
            LlamaSonnetCounts.line(i),
            tok.count(line) as u64,
            "line {i}"
        );
        assert_eq!(LlamaSonnetCounts.line(i), measured.line(i), "line {i}");
    }
    let mut numbers: Vec<u64> = (1..=300).collect();
    for d in 1..=19u32 {
        let p = 10u64.pow(d);
        numbers.extend([p - 1, p, p + 7, p.saturating_mul(3).saturating_add(41)]);
    }
    numbers.push(u64::MAX);
    for n in numbers {
        assert_eq!(
            LlamaSonnetCounts.prefix(n),
            measured.prefix(n),
            "max_tokens {n}"
        );
    }
}

/// Sampling from the precomputed counts gives exactly the prompts the tokenizer-driven path gives.
#[test]
fn precomputed_and_measured_counts_sample_the_same_prompts() {
    let tok = Tokenizer::llama();
    for (seed, mi, si, mo, so) in [
        (11111, 550.0, 150.0, 150.0, 80.0),
        (7, 100.0, 60.0, 5000.0, 4000.0),
        (99, 3000.0, 500.0, 20.0, 5.0),
    ] {
        let spec = PromptSpec {
            mean_input_tokens: mi,
            stddev_input_tokens: si,
            mean_output_tokens: mo,
            stddev_output_tokens: so,
        };
        let fast = sample_prompts(&spec, 40, seed, &LlamaSonnetCounts).unwrap();
        let full = generate_prompts(&spec, 40, seed, &tok).unwrap();
        assert_eq!(fast.len(), full.len());
        for (a, b) in fast.iter().zip(&full) {
            assert_eq!(
                (&a.text, a.target_tokens, a.max_tokens),
                (&b.text, b.target_tokens, b.max_tokens)
            );
        }
    }
}
