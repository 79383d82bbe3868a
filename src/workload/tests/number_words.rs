//! Number words for the correctness test: every number of 0..=10000 well-formed, and exactly Python
//! num2words' text on a sample it wrote (tests/fixtures/num2words-0.5.14-en.tsv).

use crate::workload::correctness::{MAX_NUMBER, number_to_words};

/// Reads the words back into a number, accepting only the grammar num2words uses.
fn parse(words: &str) -> Option<u32> {
    let small = |w: &str| -> Option<u32> {
        const ONES: [&str; 20] = [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ];
        const TENS: [&str; 8] = [
            "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
        ];
        if let Some(i) = ONES.iter().position(|o| *o == w) {
            return Some(i as u32);
        }
        if let Some(i) = TENS.iter().position(|t| *t == w) {
            return Some(20 + 10 * i as u32);
        }
        let (t, o) = w.split_once('-')?;
        let t = TENS.iter().position(|x| *x == t)? as u32;
        let o = ONES[1..10].iter().position(|x| *x == o)? as u32 + 1;
        Some(20 + 10 * t + o)
    };
    let hundreds = |s: &str| -> Option<u32> {
        match s.split_once(" hundred") {
            Some((h, "")) => Some(small(h).filter(|h| (1..10).contains(h))? * 100),
            Some((h, rest)) => {
                let r = small(rest.strip_prefix(" and ")?).filter(|r| (1..100).contains(r))?;
                Some(small(h).filter(|h| (1..10).contains(h))? * 100 + r)
            }
            None => small(s),
        }
    };
    match words.split_once(" thousand") {
        None => hundreds(words),
        Some((t, rest)) => {
            let t = hundreds(t).filter(|t| *t >= 1)? * 1000;
            if rest.is_empty() {
                Some(t)
            } else if let Some(r) = rest.strip_prefix(" and ") {
                Some(t + small(r).filter(|r| (1..100).contains(r))?)
            } else {
                Some(t + hundreds(rest.strip_prefix(", ")?).filter(|r| *r >= 100)?)
            }
        }
    }
}

#[test]
fn every_number_is_well_formed_and_reads_back() {
    for n in 0..=MAX_NUMBER {
        let w = number_to_words(n);
        assert_eq!(parse(&w), Some(n), "{n}: {w:?}");
        assert!(
            w.chars()
                .all(|c| c.is_ascii_lowercase() || " ,-".contains(c)),
            "{w}"
        );
        assert!(
            !w.contains("  ") && !w.starts_with(' ') && !w.ends_with(' '),
            "{w:?}"
        );
    }
}

#[test]
fn equals_python_num2words_on_the_sample() {
    let text = include_str!("../../../tests/fixtures/num2words-0.5.14-en.tsv");
    let mut count = 0;
    for line in text.lines() {
        let (n, words) = line.split_once('\t').unwrap();
        assert_eq!(number_to_words(n.parse().unwrap()), words, "{n}");
        count += 1;
    }
    assert!(count > 1600);
}
