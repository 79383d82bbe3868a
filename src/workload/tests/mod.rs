//! Test vectors of the pure workload code: the original's prompts for the default seed, and number words
//! against Python num2words' own text.

mod number_words;
mod prompts;
