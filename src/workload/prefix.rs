//! Shared prompt prefixes (`--shared-prefix-tokens N`, `--prefix-groups G`): G texts of exactly N tokens (no
//! special tokens, with the run's tokenizer, whenever the tokenizer allows it) built from the sonnet corpus.
//! Request `i` belongs to group `i mod G`: its prompt is the group's prefix followed by its own part, so a
//! server with prefix caching can reuse the prefix. Pure: text in, text out.

use super::prompt::SONNET;
use super::pyrandom::PyRandom;

/// Builds `groups` prefixes of `tokens` tokens each. `count` counts tokens without special tokens.
///
/// Group `g` takes the corpus lines in an order shuffled with `seed + g` (so groups differ from their first
/// line), whole lines while they fit, then characters of the next line while the count stays within
/// `tokens`.
pub fn build_prefixes(
    tokens: u64,
    groups: u64,
    seed: u64,
    count: &dyn Fn(&str) -> usize,
) -> Vec<String> {
    let lines: Vec<&str> = SONNET.split_inclusive('\n').collect();
    (0..groups)
        .map(|g| {
            let mut order: Vec<usize> = (0..lines.len()).collect();
            PyRandom::new(seed.wrapping_add(g)).shuffle(&mut order);
            build_one(tokens as usize, &lines, &order, count)
        })
        .collect()
}

fn build_one(
    tokens: usize,
    lines: &[&str],
    order: &[usize],
    count: &dyn Fn(&str) -> usize,
) -> String {
    let mut text = String::new();
    if tokens == 0 {
        return text;
    }
    for &i in order.iter().cycle() {
        let candidate = format!("{text}{}", lines[i]);
        if count(&candidate) <= tokens {
            text = candidate;
            continue;
        }
        // Characters of this line while they fit; stop at the first that would overshoot.
        for c in lines[i].chars() {
            text.push(c);
            if count(&text) > tokens {
                text.pop();
                break;
            }
        }
        break;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_have_the_length_and_differ_by_group() {
        let count = |t: &str| t.chars().count();
        let p = build_prefixes(500, 3, 1, &count);
        assert_eq!(p.len(), 3);
        for x in &p {
            assert_eq!(x.chars().count(), 500);
        }
        assert_ne!(p[0], p[1]);
        assert_eq!(p, build_prefixes(500, 3, 1, &count));
        // Longer than the corpus: it wraps.
        assert_eq!(build_prefixes(9000, 1, 1, &count)[0].chars().count(), 9000);
    }
}
