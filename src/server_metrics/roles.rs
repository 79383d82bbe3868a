//! What the known servers call the few series a benchmark compares with its own view: requests running and
//! waiting, KV-cache usage, the TTFT / inter-token / per-request TPOT / queue-time histograms, and the
//! prompt, generation and request counters. Every other series is kept raw (in the samples file) but not
//! interpreted. Sources of each name: `docs/server-metrics.md`.

/// A series' meaning, whatever the server calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Gauge: requests in the running batch.
    Running,
    /// Gauge: requests waiting to be scheduled (the queue depth).
    Waiting,
    /// Gauge: KV-cache usage, 0 to 1.
    KvUsage,
    /// Histogram, seconds: time to first token.
    Ttft,
    /// Histogram, seconds: the gap between consecutive output tokens.
    Itl,
    /// Histogram, seconds: a request's mean time per output token.
    Tpot,
    /// Histogram, seconds: time spent waiting before being scheduled.
    QueueTime,
    /// Counter: prompt tokens processed.
    PromptTokens,
    /// Counter: tokens generated.
    GenerationTokens,
    /// Counter: requests finished.
    Requests,
}

/// How a role's series is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value at each scrape (summed over label sets).
    Gauge,
    /// A counter; its increase over the run counts.
    Counter,
    /// A histogram (`_bucket{le}`, `_sum`, `_count`); its increase over the run is the distribution.
    Histogram,
    /// A histogram read only for its `_sum` as a counter (TGI's token-length histograms).
    HistogramSum,
}

impl Role {
    /// Every role, in report order.
    pub const ALL: [Role; 10] = [
        Role::Running,
        Role::Waiting,
        Role::KvUsage,
        Role::Ttft,
        Role::Itl,
        Role::Tpot,
        Role::QueueTime,
        Role::PromptTokens,
        Role::GenerationTokens,
        Role::Requests,
    ];

    /// Its short name (in summary keys and the report).
    pub fn name(self) -> &'static str {
        match self {
            Role::Running => "requests_running",
            Role::Waiting => "requests_waiting",
            Role::KvUsage => "kv_cache_usage",
            Role::Ttft => "ttft_s",
            Role::Itl => "itl_s",
            Role::Tpot => "tpot_s",
            Role::QueueTime => "queue_time_s",
            Role::PromptTokens => "prompt_tokens",
            Role::GenerationTokens => "generation_tokens",
            Role::Requests => "requests",
        }
    }
}

/// The servers whose names are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// vLLM (and the built-in simulator).
    Vllm,
    /// SGLang.
    Sglang,
    /// Hugging Face Text Generation Inference.
    Tgi,
    /// llama.cpp's `llama-server --metrics`.
    LlamaCpp,
}

impl Server {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Server::Vllm => "vllm",
            Server::Sglang => "sglang",
            Server::Tgi => "tgi",
            Server::LlamaCpp => "llama.cpp",
        }
    }
}

/// One known series: server, role, family name (without `_bucket` etc.; counters with their `_total`), kind.
/// Where a role has several names (renamed across versions), the first one a scrape has is used.
pub const NAMES: &[(Server, Role, &str, Kind)] = &[
    (
        Server::Vllm,
        Role::Running,
        "vllm:num_requests_running",
        Kind::Gauge,
    ),
    (
        Server::Vllm,
        Role::Waiting,
        "vllm:num_requests_waiting",
        Kind::Gauge,
    ),
    (
        Server::Vllm,
        Role::KvUsage,
        "vllm:kv_cache_usage_perc",
        Kind::Gauge,
    ),
    (
        Server::Vllm,
        Role::KvUsage,
        "vllm:gpu_cache_usage_perc",
        Kind::Gauge,
    ),
    (
        Server::Vllm,
        Role::Ttft,
        "vllm:time_to_first_token_seconds",
        Kind::Histogram,
    ),
    (
        Server::Vllm,
        Role::Itl,
        "vllm:inter_token_latency_seconds",
        Kind::Histogram,
    ),
    (
        Server::Vllm,
        Role::Itl,
        "vllm:time_per_output_token_seconds",
        Kind::Histogram,
    ),
    (
        Server::Vllm,
        Role::Tpot,
        "vllm:request_time_per_output_token_seconds",
        Kind::Histogram,
    ),
    (
        Server::Vllm,
        Role::QueueTime,
        "vllm:request_queue_time_seconds",
        Kind::Histogram,
    ),
    (
        Server::Vllm,
        Role::PromptTokens,
        "vllm:prompt_tokens_total",
        Kind::Counter,
    ),
    (
        Server::Vllm,
        Role::GenerationTokens,
        "vllm:generation_tokens_total",
        Kind::Counter,
    ),
    (
        Server::Vllm,
        Role::Requests,
        "vllm:request_success_total",
        Kind::Counter,
    ),
    (
        Server::Sglang,
        Role::Running,
        "sglang:num_running_reqs",
        Kind::Gauge,
    ),
    (
        Server::Sglang,
        Role::Waiting,
        "sglang:num_queue_reqs",
        Kind::Gauge,
    ),
    (
        Server::Sglang,
        Role::KvUsage,
        "sglang:token_usage",
        Kind::Gauge,
    ),
    (
        Server::Sglang,
        Role::Ttft,
        "sglang:time_to_first_token_seconds",
        Kind::Histogram,
    ),
    (
        Server::Sglang,
        Role::Itl,
        "sglang:inter_token_latency_seconds",
        Kind::Histogram,
    ),
    (
        Server::Sglang,
        Role::Itl,
        "sglang:time_per_output_token_seconds",
        Kind::Histogram,
    ),
    (
        Server::Sglang,
        Role::QueueTime,
        "sglang:queue_time_seconds",
        Kind::Histogram,
    ),
    (
        Server::Sglang,
        Role::PromptTokens,
        "sglang:prompt_tokens_total",
        Kind::Counter,
    ),
    (
        Server::Sglang,
        Role::GenerationTokens,
        "sglang:generation_tokens_total",
        Kind::Counter,
    ),
    (
        Server::Sglang,
        Role::Requests,
        "sglang:num_requests_total",
        Kind::Counter,
    ),
    (
        Server::Tgi,
        Role::Running,
        "tgi_batch_current_size",
        Kind::Gauge,
    ),
    (Server::Tgi, Role::Waiting, "tgi_queue_size", Kind::Gauge),
    (
        Server::Tgi,
        Role::Tpot,
        "tgi_request_mean_time_per_token_duration",
        Kind::Histogram,
    ),
    (
        Server::Tgi,
        Role::QueueTime,
        "tgi_request_queue_duration",
        Kind::Histogram,
    ),
    (
        Server::Tgi,
        Role::PromptTokens,
        "tgi_request_input_length",
        Kind::HistogramSum,
    ),
    (
        Server::Tgi,
        Role::GenerationTokens,
        "tgi_request_generated_tokens",
        Kind::HistogramSum,
    ),
    (
        Server::Tgi,
        Role::Requests,
        "tgi_request_success",
        Kind::Counter,
    ),
    (
        Server::LlamaCpp,
        Role::Running,
        "llamacpp:requests_processing",
        Kind::Gauge,
    ),
    (
        Server::LlamaCpp,
        Role::Waiting,
        "llamacpp:requests_deferred",
        Kind::Gauge,
    ),
    (
        Server::LlamaCpp,
        Role::KvUsage,
        "llamacpp:kv_cache_usage_ratio",
        Kind::Gauge,
    ),
    (
        Server::LlamaCpp,
        Role::PromptTokens,
        "llamacpp:prompt_tokens_total",
        Kind::Counter,
    ),
    (
        Server::LlamaCpp,
        Role::GenerationTokens,
        "llamacpp:tokens_predicted_total",
        Kind::Counter,
    ),
];

/// The known series among `families` (the metric family names of a scrape): for each role, the first name of
/// [`NAMES`] present, with the server it belongs to.
pub fn pick(families: &dyn Fn(&str) -> bool) -> Vec<(Role, &'static str, Kind, Server)> {
    let mut out: Vec<(Role, &'static str, Kind, Server)> = Vec::new();
    for &(server, role, name, kind) in NAMES {
        if out.iter().all(|(r, ..)| *r != role) && families(name) {
            out.push((role, name, kind, server));
        }
    }
    out
}

/// The family a sample name belongs to for `kind`: a histogram's `_bucket`, `_sum` and `_count` lines belong
/// to its name.
pub fn sample_of(name: &str, family: &str, kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Gauge | Kind::Counter => (name == family).then_some(""),
        Kind::Histogram | Kind::HistogramSum => {
            let suffix = name.strip_prefix(family)?;
            ["_bucket", "_sum", "_count"]
                .into_iter()
                .find(|s| *s == suffix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_first_name_present_for_each_role() {
        let present = ["vllm:gpu_cache_usage_perc", "vllm:num_requests_waiting"];
        let picked = pick(&|n| present.contains(&n));
        assert_eq!(picked.len(), 2);
        assert_eq!(picked[0].1, "vllm:num_requests_waiting");
        assert_eq!(picked[1].0, Role::KvUsage);
        let both = ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"];
        assert_eq!(
            pick(&|n| both.contains(&n))[0].1,
            "vllm:kv_cache_usage_perc"
        );
        assert_eq!(
            sample_of("x_seconds_bucket", "x_seconds", Kind::Histogram),
            Some("_bucket")
        );
        assert_eq!(
            sample_of("x_seconds_bucketz", "x_seconds", Kind::Histogram),
            None
        );
        assert_eq!(sample_of("a_total", "a_total", Kind::Counter), Some(""));
    }
}
