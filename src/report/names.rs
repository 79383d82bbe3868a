//! The original's file-name rule (spec §6.5).

/// Replaces every run of characters other than word characters (Unicode letters, digits, `_`) and `-` with
/// `-`, then collapses runs of `-`: `meta-llama/Llama-2-7b-chat-hf_550_150` → `meta-llama-Llama-2-7b-chat-hf_550_150`.
///
/// ```
/// use llmperf_actors::report::sanitize_base_name;
/// assert_eq!(sanitize_base_name("gpt-3.5-turbo_550_150"), "gpt-3-5-turbo_550_150");
/// ```
pub fn sanitize_base_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let keep = c.is_alphanumeric() || c == '_' || c == '-';
        let c = if keep { c } else { '-' };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_from_the_spec() {
        let cases = [
            (
                "meta-llama/Llama-2-7b-chat-hf_550_150",
                "meta-llama-Llama-2-7b-chat-hf_550_150",
            ),
            ("llama2:7b_150_50", "llama2-7b_150_50"),
            ("gpt-3.5-turbo_550_150", "gpt-3-5-turbo_550_150"),
            (
                "Qwen/Qwen2.5-7B-Instruct_550_150",
                "Qwen-Qwen2-5-7B-Instruct_550_150",
            ),
            ("/lead_550_150", "-lead_550_150"),
            ("a--b__c  d_1_2", "a-b__c-d_1_2"),
            ("modèle/日本_1_2", "modèle-日本_1_2"),
            ("gpt-3.5-turbo_correctness", "gpt-3-5-turbo_correctness"),
        ];
        for (input, want) in cases {
            assert_eq!(sanitize_base_name(input), want, "{input}");
        }
    }
}
