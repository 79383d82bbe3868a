//! Exact token counts by cached word pieces, for SentencePiece-style BPE tokenizers (the Llama tokenizer).
//!
//! Such a tokenizer has no pre-tokenizer: it normalizes the whole text (`▁` prepended, spaces replaced by
//! `▁`) and runs BPE over all of it as one word, about 1 µs per token, with nothing its own cache can reuse.
//! But a BPE merge only ever makes a token of the vocabulary, and when no token of the vocabulary has a `▁`
//! right after another character, no merge can join the pieces on either side of such a `▁`. Cutting the
//! normalized text before every `▁` that follows another character therefore gives pieces whose tokens are
//! exactly the tokens of the whole; each piece is a word (with its leading `▁`), and a run's texts repeat
//! their words, so the count of each piece is cached.
//!
//! [`Segments::for_tokenizer`] checks every condition that argument needs (the normalizer, no pre-tokenizer,
//! no truncation or padding, a BPE without dropout, suffixes or `ignore_merges`, the vocabulary), and then
//! that both ways agree on a sample; a tokenizer that fails any is counted the plain way. A text holding an added token's content
//! (`<s>`, `</s>`, which the tokenizer matches before normalizing) is counted the plain way too.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::json;
use tokenizers::{Model, ModelWrapper, PostProcessor};

/// Most pieces whose counts are kept; the cache is emptied when it is full (memory stays bounded whatever
/// the texts).
const CACHE_PIECES: usize = 1 << 16;

/// Counts by cached pieces; see the module's documentation.
#[derive(Debug)]
pub(super) struct Segments {
    /// Tokens the post-processor adds to a single sequence (the BOS).
    specials: usize,
    /// The added tokens' contents.
    added: Vec<String>,
    /// Token count of each piece seen.
    cache: Mutex<HashMap<Box<str>, u32>>,
}

/// A text with a bit of everything the pieces must get right: words, repeated and leading spaces, a
/// newline, punctuation, digits, a literal `▁`, characters outside ASCII and byte-fallback ones.
const SAMPLE: &str = "  Shall I compare thee to a summer's day?\nThou art more lovely  and more temperate: \
                      1234 ▁x ▁▁y été 日本語 🙂 end ";

impl Segments {
    /// `Some` when counting by pieces gives exactly `tokenizer`'s counts.
    pub(super) fn for_tokenizer(tokenizer: &tokenizers::Tokenizer) -> Option<Segments> {
        // Truncation or padding (set in some `tokenizer.json` files) change the count of a whole text.
        if tokenizer.get_pre_tokenizer().is_some()
            || tokenizer.get_truncation().is_some()
            || tokenizer.get_padding().is_some()
        {
            return None;
        }
        let normalizer = serde_json::to_value(tokenizer.get_normalizer()?).ok()?;
        let sentencepiece = json!({"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
        ]});
        if normalizer != sentencepiece {
            return None;
        }
        let ModelWrapper::BPE(bpe) = tokenizer.get_model() else {
            return None;
        };
        if bpe.dropout.is_some_and(|d| d > 0.0)
            || bpe.continuing_subword_prefix.is_some()
            || bpe.end_of_word_suffix.is_some()
            || bpe.ignore_merges
        {
            return None;
        }
        let joins_words = |token: &str| {
            let mut prev = None;
            token.chars().any(|c| {
                let joins = c == '▁' && prev.is_some_and(|p| p != '▁');
                prev = Some(c);
                joins
            })
        };
        if bpe.get_vocab().keys().any(|t| joins_words(t)) {
            return None;
        }
        let segments = Segments {
            specials: tokenizer
                .get_post_processor()
                .map_or(0, |p| p.added_tokens(false)),
            added: tokenizer
                .get_added_tokens_decoder()
                .into_values()
                .map(|t| t.content)
                .filter(|c| !c.is_empty())
                .collect(),
            cache: Mutex::new(HashMap::new()),
        };
        let plain = tokenizer.encode(SAMPLE, true).ok()?.len();
        (segments.count(tokenizer, SAMPLE, true) == Some(plain)).then_some(segments)
    }

    /// The tokens of `text` (with the special tokens when `specials`); `None`: count it the plain way.
    pub(super) fn count(
        &self,
        tokenizer: &tokenizers::Tokenizer,
        text: &str,
        specials: bool,
    ) -> Option<usize> {
        if text.is_empty() {
            return None;
        }
        let mut normalized = String::with_capacity(text.len() + 3 * (1 + text.len() / 4));
        normalized.push('▁');
        for c in text.chars() {
            normalized.push(if c == ' ' { '▁' } else { c });
        }
        // Added tokens are matched in the text, or in the normalized text for those marked `normalized`.
        if self
            .added
            .iter()
            .any(|a| text.contains(a.as_str()) || normalized.contains(a.as_str()))
        {
            return None;
        }
        let model = tokenizer.get_model();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut total = 0usize;
        for piece in pieces(&normalized) {
            let n = match cache.get(piece) {
                Some(&n) => n,
                None => {
                    let n = model.tokenize(piece).ok()?.len() as u32;
                    if cache.len() >= CACHE_PIECES {
                        cache.clear();
                    }
                    cache.insert(piece.into(), n);
                    n
                }
            };
            total += n as usize;
        }
        Some(total + if specials { self.specials } else { 0 })
    }
}

/// `normalized` cut before every `▁` that follows another character.
fn pieces(normalized: &str) -> impl Iterator<Item = &str> {
    let mut rest = normalized;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut prev = None;
        let cut = rest
            .char_indices()
            .find(|&(_, c)| {
                let cut = c == '▁' && prev.is_some_and(|p| p != '▁');
                prev = Some(c);
                cut
            })
            .map_or(rest.len(), |(i, _)| i);
        let (piece, after) = rest.split_at(cut);
        rest = after;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn llama() -> &'static tokenizers::Tokenizer {
        static T: std::sync::OnceLock<tokenizers::Tokenizer> = std::sync::OnceLock::new();
        T.get_or_init(|| {
            tokenizers::Tokenizer::from_bytes(super::super::LLAMA_TOKENIZER_JSON).unwrap()
        })
    }

    fn segments() -> &'static Segments {
        static S: std::sync::OnceLock<Segments> = std::sync::OnceLock::new();
        S.get_or_init(|| Segments::for_tokenizer(llama()).expect("the Llama tokenizer qualifies"))
    }

    #[test]
    fn pieces_start_at_each_word() {
        let got: Vec<&str> = pieces("▁a▁bc▁▁d\ne▁").collect();
        assert_eq!(got, ["▁a", "▁bc", "▁▁d\ne", "▁"]);
        assert_eq!(pieces("▁▁").collect::<Vec<_>>(), ["▁▁"]);
    }

    #[test]
    fn the_sample_and_the_sonnets_count_as_the_tokenizer_does() {
        let sonnets = include_str!("../../assets/sonnet.txt");
        for text in [SAMPLE, sonnets, "x", " ", "\n", "a  b"] {
            for specials in [true, false] {
                let plain = llama().encode(text, specials).unwrap().len();
                assert_eq!(
                    segments().count(llama(), text, specials),
                    Some(plain),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn texts_with_added_tokens_are_left_to_the_tokenizer() {
        assert_eq!(segments().count(llama(), "a </s> b", true), None);
        assert_eq!(segments().count(llama(), "", true), None);
    }

    #[test]
    fn a_tokenizer_with_a_pre_tokenizer_or_truncation_is_not_counted_by_pieces() {
        let mut t = llama().clone();
        t.with_pre_tokenizer(Some(tokenizers::pre_tokenizers::whitespace::Whitespace {}));
        assert!(Segments::for_tokenizer(&t).is_none());
        let mut t = llama().clone();
        t.with_truncation(Some(tokenizers::TruncationParams {
            max_length: 8,
            ..Default::default()
        }))
        .unwrap();
        assert!(Segments::for_tokenizer(&t).is_none());
        // What the check guards against: truncation caps the whole text's count.
        assert_eq!(t.encode(SAMPLE, true).unwrap().len(), 8);
    }

    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::sample::select(vec![
                "the", "Thou", "summer's", "day", "lovely", "ing", "un", "art", "1", "42", ",", ".", "?", "'",
                "é", "日本", "🙂", "▁", "<", "s>", "\t", "Ω",
            ])
            .prop_map(str::to_string),
            3 => prop::sample::select(vec![" ", "  ", "\n", " \n ", "   "]).prop_map(str::to_string),
            1 => "[a-zA-Z]{1,12}",
            1 => any::<char>().prop_map(|c| c.to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn any_text_counts_as_the_tokenizer_does(parts in prop::collection::vec(piece(), 0..40)) {
            let text: String = parts.concat();
            let plain = llama().encode(text.as_str(), true).unwrap().len();
            let by_pieces = segments().count(llama(), &text, true).unwrap_or(plain);
            prop_assert_eq!(by_pieces, plain, "{:?}", text);
        }
    }
}
