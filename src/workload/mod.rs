//! What gets sent: prompt construction and the random draws behind it. Pure: numbers and text in, numbers and
//! text out — no actors, sockets or files.

pub mod correctness;
pub mod dataset;
pub mod prefix;
pub mod prompt;
pub mod pyrandom;
pub mod schedule;
#[cfg(test)]
mod tests;

pub use prompt::{
    LlamaSonnetCounts, MeasuredSonnetCounts, PromptError, PromptSpec, generate_prompts,
    sample_prompts,
};
