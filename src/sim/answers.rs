//! The simulator's answers to the correctness test's questions. Its own words parser: the simulator must not
//! share the client's code, so a bug in one cannot hide the same bug in the other.

const QUESTION: &str = "Convert the following sequence of words into a number: ";
const SUFFIX: &str = ".\nPrint the number first.";

/// The number asked for, if `text` is a correctness-test question.
pub fn correctness_question(text: &str) -> Option<u32> {
    let words = text.strip_prefix(QUESTION)?.strip_suffix(SUFFIX)?;
    words_to_number(words)
}

/// Tolerant reader of English number words up to the thousands ("one thousand, two hundred and one").
pub fn words_to_number(words: &str) -> Option<u32> {
    const SMALL: [&str; 20] = [
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
    let (mut total, mut current, mut seen) = (0u32, 0u32, false);
    for w in words.split([' ', ',', '-']).filter(|w| !w.is_empty()) {
        if let Some(i) = SMALL.iter().position(|s| *s == w) {
            current += i as u32;
        } else if let Some(i) = TENS.iter().position(|s| *s == w) {
            current += 20 + 10 * i as u32;
        } else if w == "hundred" {
            current *= 100;
        } else if w == "thousand" {
            total += current * 1000;
            current = 0;
        } else if w != "and" {
            return None;
        }
        seen = true;
    }
    seen.then_some(total + current)
}

/// The answer to the `k`-th question (1-based): the number, as plain digits or in a sentence with thousands
/// separators (alternating, so both shapes are exercised); wrong (`n + 1`) for an even spread of
/// `wrong_fraction` of the questions.
pub fn answer_number(n: u32, k: u64, wrong_fraction: f64) -> String {
    let wrong = (k as f64 * wrong_fraction).floor() > ((k - 1) as f64 * wrong_fraction).floor();
    let shown = if wrong { n + 1 } else { n };
    if k.is_multiple_of(2) {
        shown.to_string()
    } else {
        let digits = shown.to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        format!("The number is {grouped}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_questions() {
        let q = "Convert the following sequence of words into a number: one thousand, two hundred and \
                 thirty-four.\nPrint the number first.";
        assert_eq!(correctness_question(q), Some(1234));
        assert_eq!(words_to_number("ten thousand"), Some(10000));
        assert_eq!(words_to_number("zero"), Some(0));
        assert_eq!(words_to_number("nine thousand and ninety-nine"), Some(9099));
        assert_eq!(correctness_question("Randomly stream lines"), None);
    }

    #[test]
    fn wrong_answers_are_spread_exactly() {
        let wrong = (1..=20)
            .filter(|&k| answer_number(500, k, 0.25) != answer_number(500, k, 0.0))
            .count();
        assert_eq!(wrong, 5);
        assert_eq!(answer_number(1234, 1, 0.0), "The number is 1,234.");
        assert_eq!(answer_number(1234, 2, 0.0), "1234");
        assert_eq!(answer_number(10000, 3, 0.0), "The number is 10,000.");
        assert_eq!(answer_number(7, 2, 1.0), "8");
    }
}
