//! The summary table, CSV and charts for a scripted set of records: exact numbers, snapshots, valid SVG.

use llmperf_actors::metrics::{StartTimes, compute_metrics};
use llmperf_actors::report::export::sweep::{self, SweepStepRow};
use llmperf_actors::report::{RecordStore, RunRecord, charts, csv, summarize, table};
use llmperf_actors::{Measured, StreamTimings, Usage};
use serde_json::Value;

/// Four successful requests (TTFT 0.1…0.4 s, e2e 1…4 s, 10…40 generated tokens, 10 ms apart in start) and one
/// that failed with HTTP 500. Each asked for max_tokens = 100.
fn records() -> Vec<RunRecord> {
    let mut out = Vec::new();
    for i in 1..=4u64 {
        let f = i as f64;
        let m = Measured {
            timings: StreamTimings {
                first_content_s: Some(0.1 * f),
                first_token_s: None,
                last_content_s: Some(f - 0.05),
                end_s: f,
                data_events: 10 * i,
                ..StreamTimings::default()
            },
            usage: Usage::default(),
            error: None,
            error_kind: None,
        };
        // 10·i generated tokens + BOS.
        let metrics = compute_metrics(&m, 10 * i + 1, 100, 101, StartTimes::unscheduled(0.01 * f));
        out.push(RunRecord::new(i - 1, metrics, Some(100)));
    }
    let failed = Measured {
        timings: StreamTimings::default(),
        usage: Usage::default(),
        error: Some((Value::from(500), "boom, \"quoted\"".into())),
        error_kind: None,
    };
    out.push(RunRecord::new(
        4,
        compute_metrics(&failed, 0, 100, 101, StartTimes::unscheduled(0.05)),
        Some(100),
    ));
    out
}

/// The records as the report pipeline holds them.
fn store(records: &[RunRecord]) -> RecordStore {
    RecordStore::from(records.to_vec())
}

fn stats(records: &[RunRecord]) -> llmperf_actors::report::Stats {
    let metrics: Vec<_> = records.iter().map(|r| r.metrics.clone()).collect();
    summarize(&metrics, 5.0)
}

#[test]
fn table_snapshot_with_fixed_numbers() {
    let r = records();
    let text = table::summary_tables("run", &stats(&r), &store(&r));
    let want = "
run: 5 requests, 1 errors (20.0 %), 5.00 s | 0.8 req/s, 20 output tok/s, 80.8 input tok/s | 0 new connections
| Metric (successful requests)  |    p50 |    p90 |    p95 |    p99 |   mean |    max |
|-------------------------------|--------|--------|--------|--------|--------|--------|
| TTFT (ms)                     |  250.0 |  370.0 |  385.0 |  397.0 |  250.0 |  400.0 |
| ITL (ms)                      |   97.9 |   98.6 |   98.7 |   98.7 |   97.4 |   98.8 |
| TPOT (ms)                     |   93.9 |   98.4 |   99.2 |   99.8 |   95.0 |  100.0 |
| E2E latency (ms)              | 2500.0 | 3700.0 | 3850.0 | 3970.0 | 2500.0 | 4000.0 |
| Output throughput (tok/s/req) |   10.0 |   10.0 |   10.0 |   10.0 |   10.0 |   10.0 |
| Input tokens                  |  101.0 |  101.0 |  101.0 |  101.0 |  101.0 |  101.0 |
| Output tokens                 |   25.0 |   37.0 |   38.5 |   39.7 |   25.0 |   40.0 |
Token counts: the tokenizer (the server sent no usage)
Warning: error rate 20.0 % (1 of 5 requests failed, codes {500: 1}); HTTP 500, body: boom, \"quoted\" — check the endpoint's logs, --timeout, or lower the concurrency / request rate
";
    assert_eq!(text, want, "got:\n{text}");
    assert!(!text.contains('\x1b'));
}

#[test]
fn a_run_where_every_request_failed_explains_itself_in_a_line() {
    let r: Vec<RunRecord> = records()
        .into_iter()
        .filter(|x| !x.metrics.is_ok())
        .collect();
    let text = table::summary_tables("run", &stats(&r), &store(&r));
    assert!(!text.contains("nan") && !text.contains("| TTFT"), "{text}");
    assert!(
        text.contains("Every request failed (codes {500: 1}"),
        "{text}"
    );
    assert!(text.lines().count() < 6, "{text}");
}

#[test]
fn http_errors_name_the_url_and_show_the_body() {
    let r = records();
    let context = table::WarningContext {
        url: Some("http://h:1/v1/chat/completions".into()),
        ..Default::default()
    };
    let w = table::warnings(&stats(&r), &store(&r), &context);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("HTTP 500 from POST http://h:1/v1/chat/completions, body: boom"),
        "{w:?}"
    );
}

#[test]
fn warnings_for_max_tokens_and_server_counts() {
    let mut r = records();
    r.pop(); // no errors
    for x in &mut r {
        x.max_tokens = Some(x.metrics.number_output_tokens - 1);
        // The server counted 10 % more tokens than the tokenizer.
        x.metrics.server_completion_tokens = Some((x.metrics.number_output_tokens - 1) * 11 / 10);
    }
    // Every response reached the max_tokens asked for: the lengths the user asked for, no warning …
    let asked = table::WarningContext::default();
    let w = table::warnings(&stats(&r), &store(&r), &asked);
    assert_eq!(w.len(), 1, "{w:?}");
    // … unless max_tokens capped answers of their own length (dataset prompts).
    let capped = table::WarningContext {
        lengths_are_caps: true,
        ..Default::default()
    };
    let w = table::warnings(&stats(&r), &store(&r), &capped);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains("-9.1 %") && w[0].contains("--tokenizer PATH"),
        "{w:?}"
    );
    assert!(
        w[1].contains("all 4 responses stopped at max_tokens"),
        "{w:?}"
    );
    // With a tokenizer of the user's own, the warning does not advise one.
    let metrics: Vec<_> = r.iter().map(|x| x.metrics.clone()).collect();
    let opts = llmperf_actors::report::LoadOptions {
        custom_tokenizer: true,
        ..Default::default()
    };
    let s = llmperf_actors::report::summarize_with(&metrics, 5.0, &opts);
    let w = table::warnings(&s, &store(&r), &asked);
    assert!(
        w[0].contains("-9.1 %") && !w[0].contains("--tokenizer"),
        "{w:?}"
    );
    // The BOS the Llama tokenizer adds is not a disagreement: the server counting T − 1 is agreement.
    for x in &mut r {
        x.metrics.server_completion_tokens = Some(x.metrics.number_output_tokens - 1);
    }
    let w = table::warnings(&stats(&r), &store(&r), &asked);
    assert!(
        w.iter().all(|w| !w.contains("output tokens against")),
        "{w:?}"
    );
}

#[test]
fn csv_snapshot() {
    let r = records();
    let text = csv::requests_csv(&store(&r));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(
        lines[0],
        "index,error_code,error_msg,inter_token_latency_s,ttft_s,end_to_end_latency_s,\
         request_output_throughput_token_per_s,number_total_tokens,number_output_tokens,number_input_tokens,\
         number_input_tokens_actual,tpot_s,number_stream_events,server_prompt_tokens,server_completion_tokens,\
         scheduled_start_s,actual_start_s,dispatch_delay_s,scheduled_ttft_s,scheduled_end_to_end_latency_s,\
         warmup,ttft_any_s,number_reasoning_tokens,output_tokens_source,server_reasoning_tokens,error_kind,\
         generated_tokens,prompt_tokens,token_counts_source,generation_throughput_token_per_s,\
         tokenizer_generated_tokens,new_connection,connect_s,pre_send_s,max_tokens"
    );
    assert_eq!(
        lines[1],
        "0,,,0.095,0.1,1.0,11.0,111,11,100,101,0.1,10,,,0.01,0.01,0.0,0.1,1.0,false,0.1,0,tokenizer,,,\
         10,101,tokenizer,10.0,10,,,,100"
    );
    assert_eq!(
        lines[5],
        "4,500,\"boom, \"\"quoted\"\"\",0.0,0.0,0.0,0.0,100,0,100,101,,0,,,0.05,0.05,0.0,,,false,,0,tokenizer,,http_status,\
         0,101,tokenizer,0.0,0,,,,100"
    );
    let summary = csv::summary_csv(&stats(&r));
    let rows: Vec<&str> = summary.lines().collect();
    assert_eq!(
        rows[0],
        "metric,p25,p50,p75,p90,p95,p99,p999,mean,min,max,stddev"
    );
    assert_eq!(
        rows[2],
        "ttft_s,0.17500000000000002,0.25,0.32500000000000007,0.37000000000000005,0.385,0.397,0.3997,0.25,0.1,0.4,\
         0.12909944487358058"
    );
    // Every row has as many cells as the header.
    for row in &rows {
        assert_eq!(row.split(',').count(), 12, "{row}");
    }
}

/// Parses an SVG, and returns its text elements' contents.
fn svg_texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("valid XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect()
}

fn count_tag(svg: &str, tag: &str) -> usize {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants().filter(|n| n.has_tag_name(tag)).count()
}

#[test]
fn charts_are_svg_with_labels_and_series() {
    let r = records();
    let cdf = charts::latency_cdf_svg(&store(&r), false).unwrap();
    let texts = svg_texts(&cdf);
    for want in [
        "Latency (s)",
        "Requests at or below (%)",
        "TTFT",
        "End-to-end latency",
        "Latency distribution (4 successful requests)",
    ] {
        assert!(texts.iter().any(|t| t == want), "{want} not in {texts:?}");
    }
    // Two series plus their two legend samples.
    assert!(count_tag(&cdf, "polyline") >= 4);
    let open = svg_texts(&charts::latency_cdf_svg(&store(&r), true).unwrap());
    assert!(open.iter().any(|t| t == "TTFT from scheduled send"));

    let itl = charts::itl_histogram_svg(&store(&r)).unwrap();
    let texts = svg_texts(&itl);
    assert!(texts.iter().any(|t| t == "Inter-token latency (ms)"));
    assert!(texts.iter().any(|t| t == "Requests"));

    let timeline = charts::timeline_svg(&store(&r)).unwrap();
    let texts = svg_texts(&timeline);
    for want in [
        "Time since start (s)",
        "Output tokens/s",
        "Requests in flight",
        "In flight",
    ] {
        assert!(texts.iter().any(|t| t == want), "{want} not in {texts:?}");
    }

    let steps: Vec<SweepStepRow> = (1..=3)
        .map(|i| {
            let f = f64::from(i);
            SweepStepRow {
                output_token_throughput_token_per_s: Some(100.0 * f),
                ttft_s_p50: Some(0.1 * f),
                ttft_s_p99: Some(0.2 * f),
                end_to_end_latency_s_p50: Some(f),
                end_to_end_latency_s_p99: Some(2.0 * f),
                ..SweepStepRow::default()
            }
        })
        .collect();
    let sweep = sweep::sweep_svg(&steps, "concurrency").unwrap();
    let texts = svg_texts(&sweep);
    for want in [
        "Output throughput (tokens/s)",
        "Latency (s)",
        "TTFT p50",
        "E2E p99",
        "Latency vs throughput (sweep by concurrency)",
    ] {
        assert!(texts.iter().any(|t| t == want), "{want} not in {texts:?}");
    }
    // One marker per step and series.
    assert_eq!(count_tag(&sweep, "circle"), 12);
}

#[test]
fn timeline_series_come_from_the_records() {
    let r = records();
    // In flight: starts at 0.01…0.04 (and the failed one at 0.05, ending at once); the 4th ends at 4.04.
    let steps = charts::in_flight_steps(&store(&r));
    let max = steps.iter().map(|p| p.1).fold(0.0, f64::max);
    assert_eq!(max, 4.0);
    assert_eq!(steps.last().unwrap().1, 0.0);
    // Averaged per bin, the same requests: the area under the line is the time spent in flight.
    let bins = charts::in_flight_bins(&store(&r), 5.0, 0.25);
    let area: f64 = bins.iter().map(|(_, n)| n * 0.25).sum();
    let busy: f64 = r
        .iter()
        .map(|x| x.metrics.ended_s() - x.metrics.actual_start_s)
        .sum();
    assert!((area - busy).abs() < 1e-9, "{area} vs {busy}");
    assert!(bins.iter().all(|(_, n)| *n <= 4.0 + 1e-9));
    // Throughput bins hold every output token once.
    let bins = charts::throughput_bins(&store(&r), 5.0, 0.5);
    let total: f64 = bins.iter().map(|(_, tps)| tps * 0.5).sum();
    assert!(
        (total - (11.0 + 21.0 + 31.0 + 41.0)).abs() < 1e-9,
        "{total}"
    );
}

/// One successful request of 10 tokens, due at `scheduled_s` and sent `late_s` after.
fn paced(k: u64, scheduled_s: f64, late_s: f64) -> RunRecord {
    let m = Measured {
        timings: StreamTimings {
            first_content_s: Some(0.1),
            first_token_s: None,
            last_content_s: Some(0.95),
            end_s: 1.0,
            data_events: 10,
            ..StreamTimings::default()
        },
        usage: Usage::default(),
        error: None,
        error_kind: None,
    };
    let start = StartTimes {
        scheduled_s,
        actual_s: scheduled_s + late_s,
    };
    RunRecord::new(k, compute_metrics(&m, 11, 100, 101, start), Some(100))
}

#[test]
fn the_pacing_warning_needs_lags_a_busy_machine_does_not_have() {
    let opts = llmperf_actors::report::LoadOptions {
        target_request_rate: Some(5.0),
        ..Default::default()
    };
    let check = |r: &[RunRecord]| {
        let metrics: Vec<_> = r.iter().map(|x| x.metrics.clone()).collect();
        let s = llmperf_actors::report::summarize_with(&metrics, 4.0, &opts);
        table::warnings(&s, &store(r), &table::WarningContext::default())
    };
    // 20 requests at 5 req/s (due every 200 ms), every one 4 ms late: nothing to say.
    let r: Vec<RunRecord> = (0..20).map(|k| paced(k, 0.2 * k as f64, 0.004)).collect();
    assert!(check(&r).is_empty(), "{:?}", check(&r));
    // A quarter of them 80 ms late, past max(20 ms, 200 ms / 4): one warning, with its numbers.
    let r: Vec<RunRecord> = (0..20)
        .map(|k| paced(k, 0.2 * k as f64, if k % 4 == 0 { 0.080 } else { 0.004 }))
        .collect();
    let w = check(&r);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("5 of 20 requests went out more than 50 ms late (max 80.0 ms)")
            && w[0].contains("5 req/s is too high"),
        "{w:?}"
    );
}
