//! The embedded Llama tokenizer counts like LlamaTokenizerFast (BOS included) and agrees with llama.cpp's
//! reference tokenizations of this vocabulary (tests/fixtures, MIT).
#![cfg(feature = "sim")] // starts the built-in simulator

use llmperf_actors::{TokenCount, Tokenizer};

#[test]
fn counts_include_bos_like_llama_tokenizer_fast() {
    let t = Tokenizer::llama();
    assert_eq!(t.encode("Hello world!"), [1, 15043, 3186, 29991]);
    assert_eq!(t.encode("\n"), [1, 29871, 13]);
    assert_eq!(t.count(""), 1);
    assert_eq!(t.count("hello_world"), 4);
    assert_eq!(t.count(&"tok ".repeat(10)), 22);
}

#[test]
fn simulator_words_are_one_token_each() {
    let t = Tokenizer::llama();
    for n in [1u64, 2, 5, 17, 100] {
        let text: Vec<&str> = (0..n)
            .map(|i| llmperf_actors::sim::WORDS[(i % 16) as usize])
            .collect();
        assert_eq!(t.count(&text.join(" ")) as u64, n + 1, "{n} words");
    }
}

#[test]
fn agrees_with_llama_cpp_reference_vectors() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let inp = std::fs::read_to_string(format!("{dir}/ggml-vocab-llama-spm.gguf.inp")).unwrap();
    let out = std::fs::read_to_string(format!("{dir}/ggml-vocab-llama-spm.gguf.out")).unwrap();
    let inputs: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
    let inputs = &inputs[..inputs.len() - 1]; // the file ends with the separator
    let outputs: Vec<&str> = out.lines().collect();
    assert_eq!(inputs.len(), outputs.len());
    assert!(inputs.len() >= 40, "{} cases", inputs.len());
    let t = Tokenizer::llama();
    let mut failures = Vec::new();
    for (text, ids) in inputs.iter().zip(&outputs) {
        let want: Vec<u32> = ids.split_whitespace().map(|s| s.parse().unwrap()).collect();
        let got = t.encode(text);
        // llama.cpp's vectors have no BOS; ours always starts with it.
        if got.first() != Some(&1) || got[1..] != want[..] {
            failures.push(format!("{text:?}: want {want:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The hand-written WordLevel fixture: one token per word or punctuation run, no BOS.
fn wordlevel() -> Tokenizer {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/wordlevel-tokenizer.json"
    );
    Tokenizer::from_file(std::path::Path::new(path)).expect("fixture loads")
}

#[test]
fn a_tokenizer_file_changes_the_counts() {
    let w = wordlevel();
    let l = Tokenizer::llama();
    let line = "Shall I compare thee to a summer's day?";
    // Shall | I | compare | thee | to | a | summer | ' | s | day | ?
    assert_eq!(w.count(line), 11);
    assert_ne!(w.count(line), l.count(line));
    assert_eq!((w.count(""), w.special_tokens()), (0, 0));
    assert_eq!((l.special_tokens(), l.count_plain("Hello world!")), (1, 3));
    // n simulator words: n tokens here, n + 1 (BOS) with Llama.
    let text: Vec<&str> = (0..40)
        .map(|i| llmperf_actors::sim::WORDS[i % 16])
        .collect();
    assert_eq!(w.count(&text.join(" ")), 40);
    assert_eq!(l.count(&text.join(" ")), 41);
    // Unknown words still count one each.
    assert_eq!(w.count("zebra quagga"), 2);
}

#[test]
fn missing_or_invalid_tokenizer_files_are_clear_errors() {
    let e = Tokenizer::from_file(std::path::Path::new("/nonexistent/tokenizer.json"))
        .err()
        .expect("missing file");
    assert!(
        e.contains("/nonexistent/tokenizer.json") && e.contains("--tokenizer"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("tokenizer.json");
    std::fs::write(&bad, "{\"model\": 42}").unwrap();
    let e = Tokenizer::from_file(&bad).err().expect("invalid file");
    assert!(e.contains("not a valid Hugging Face tokenizer.json"), "{e}");
}
