//! What gets sent: prompt construction and the random draws behind it. Pure: numbers and text in, numbers and
//! text out — no actors, sockets or files.

pub mod correctness;
pub mod dataset;
pub mod prefix;
pub mod prompt;
pub mod pyrandom;
pub mod schedule;

pub use prompt::{
    GeneratedPrompt, LlamaSonnetCounts, MeasuredSonnetCounts, PromptError, PromptSpec,
    SampledPrompt, SonnetCounts, generate_prompts, sample_prompts,
};
