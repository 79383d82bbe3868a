//! The correctness test's workload (spec §7): numbers written in English words, the prompt that asks for
//! them in digits, and the rule that decides whether an answer matches. Pure.

/// The largest number drawn (the original's MAX_RANDOM_NUMBER).
pub const MAX_NUMBER: u32 = 10_000;

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
const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

fn below_hundred(n: u32) -> String {
    match n {
        0..=19 => ONES[n as usize].to_string(),
        _ if n.is_multiple_of(10) => TENS[(n / 10) as usize].to_string(),
        _ => format!("{}-{}", TENS[(n / 10) as usize], ONES[(n % 10) as usize]),
    }
}

fn below_thousand(n: u32) -> String {
    match (n / 100, n % 100) {
        (0, r) => below_hundred(r),
        (h, 0) => format!("{} hundred", ONES[h as usize]),
        (h, r) => format!("{} hundred and {}", ONES[h as usize], below_hundred(r)),
    }
}

/// `n` in English words, exactly as Python's `num2words(n)` (0.5.14) writes it for `0 <= n < 1_000_000`:
/// "twenty-one", "one hundred and one", "one thousand and ninety-nine", "one thousand, two hundred and
/// thirty-four", "ten thousand". " and " joins a remainder below 100 to hundreds or thousands; ", " follows
/// "thousand" when hundreds follow.
///
/// ```text
/// assert_eq!(number_to_words(1234), "one thousand, two hundred and thirty-four");
/// assert_eq!(number_to_words(1099), "one thousand and ninety-nine");
/// ```
pub fn number_to_words(n: u32) -> String {
    assert!(n < 1_000_000, "number_to_words covers 0..1_000_000");
    let (thousands, rest) = (n / 1000, n % 1000);
    match (thousands, rest) {
        (0, r) => below_thousand(r),
        (t, 0) => format!("{} thousand", below_thousand(t)),
        (t, r) if r < 100 => format!("{} thousand and {}", below_thousand(t), below_hundred(r)),
        (t, r) => format!("{} thousand, {}", below_thousand(t), below_thousand(r)),
    }
}

/// The original's prompt text, exactly (the code's, not its README's).
pub fn prompt(words: &str) -> String {
    format!(
        "Convert the following sequence of words into a number: {words}.\nPrint the number first."
    )
}

/// Whether `text` answers `expected`: commas between digits are removed (`1,234` → `1234`), then the answer
/// matches if any maximal run of digits equals `expected` in decimal. `1 234` and `1.234` do not match.
///
/// ```text
/// assert!(answer_matches("The answer is 1,234.", 1234));
/// assert!(!answer_matches("1 234", 1234));
/// ```
pub fn answer_matches(text: &str, expected: u32) -> bool {
    let want = expected.to_string();
    digit_runs(text).any(|run| run == want)
}

/// Maximal runs of ASCII digits, after removing every comma that has a digit on both sides.
pub fn digit_runs(text: &str) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<char> = text.chars().collect();
    let mut runs = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_digit() {
            cur.push(c);
        } else if c == ','
            && !cur.is_empty()
            && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())
        {
            // A comma between digit groups joins them.
        } else if !cur.is_empty() {
            runs.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        runs.push(cur);
    }
    runs.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_examples_hold() {
        assert_eq!(
            number_to_words(1234),
            "one thousand, two hundred and thirty-four"
        );
        assert_eq!(number_to_words(1099), "one thousand and ninety-nine");
        assert!(answer_matches("The answer is 1,234.", 1234));
        assert!(!answer_matches("1 234", 1234));
    }

    #[test]
    fn spec_examples() {
        let cases = [
            (0, "zero"),
            (21, "twenty-one"),
            (101, "one hundred and one"),
            (1001, "one thousand and one"),
            (1099, "one thousand and ninety-nine"),
            (1100, "one thousand, one hundred"),
            (1234, "one thousand, two hundred and thirty-four"),
            (5005, "five thousand and five"),
            (9999, "nine thousand, nine hundred and ninety-nine"),
            (10000, "ten thousand"),
            (100, "one hundred"),
            (2000, "two thousand"),
            (7019, "seven thousand and nineteen"),
        ];
        for (n, w) in cases {
            assert_eq!(number_to_words(n), w);
        }
    }

    #[test]
    fn prompt_text() {
        assert_eq!(
            prompt("twenty-one"),
            "Convert the following sequence of words into a number: twenty-one.\nPrint the number first."
        );
    }

    #[test]
    fn matching_rules() {
        assert!(answer_matches("1234", 1234));
        assert!(answer_matches("1,234", 1234));
        assert!(answer_matches("The answer is 1234.", 1234));
        assert!(answer_matches("The number is 1,234.\nDone", 1234));
        assert!(answer_matches("10,000", 10000));
        assert!(answer_matches("It is 0.", 0));
        assert!(answer_matches("first 12 then 1234", 1234));
        assert!(!answer_matches("1 234", 1234));
        assert!(!answer_matches("1.234", 1234));
        assert!(!answer_matches("12345", 1234));
        assert!(!answer_matches("01234", 1234));
        assert!(!answer_matches("one thousand", 1000));
        assert!(!answer_matches("", 0));
        assert!(!answer_matches("1, 234", 1234));
        assert!(
            answer_matches("1,2,3,4", 1234),
            "every comma between digits goes, as the regex does"
        );
    }
}
