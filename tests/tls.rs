//! HTTPS against a local TLS server with a self-signed certificate generated here: certificate verification is
//! on by default (the request fails and the failure is recorded), and `--insecure` accepts the certificate.
#![cfg(feature = "sim")] // starts the built-in simulator

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use llmperf_actors::backend::openai::{OpenAiClient, OpenAiConfig};
use llmperf_actors::backend::{HttpOptions, LlmClient, RequestConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;

const SSE: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\n\
data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
data: [DONE]\n\n";

/// Serves an OpenAI-style stream over TLS to every connection, on its own threads; returns the port.
fn tls_server() -> u16 {
    tls_server_stalling(Duration::ZERO)
}

/// [`tls_server`], waiting `stall` after accepting each connection before the TLS handshake (a slow
/// handshake: the client's connecting takes at least that long), then answering at once.
fn tls_server_stalling(stall: Duration) -> u16 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("self-signed certificate");
    let cert = CertificateDer::from(ck.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let config = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("server config"),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                std::thread::sleep(stall);
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                // Handshake failures (a client that rejects the certificate, a bare TCP probe) end here.
                let _ = serve_one(&mut tls);
            });
        }
    });
    port
}

fn serve_one<S: Read + Write>(stream: &mut S) -> std::io::Result<()> {
    let mut reader = BufReader::new(&mut *stream);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        SSE.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(SSE.as_bytes())?;
    stream.flush()
}

fn request() -> RequestConfig {
    RequestConfig {
        model: "m".into(),
        prompt: ("hi".into(), 2),
        sampling_params: Default::default(),
        llm_api: "openai".into(),
        metadata: Default::default(),
        messages: None,
    }
}

fn client(port: u16, insecure: bool) -> OpenAiClient {
    let http = HttpOptions {
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
        insecure,
        ..HttpOptions::default()
    };
    OpenAiClient::new(OpenAiConfig::chat(
        format!("https://localhost:{port}/v1"),
        None,
        http,
    ))
}

#[actix::test]
async fn certificate_verification_is_on_by_default() {
    let port = tls_server();
    let r = client(port, false).llm_request(request()).await;
    let (code, msg) = r
        .measured
        .error
        .expect("a self-signed certificate is rejected");
    assert_eq!(code, Value::from(-1));
    assert!(msg.to_lowercase().contains("certificate"), "{msg}");
    assert_eq!(r.generated_text, "");
}

#[actix::test]
async fn insecure_accepts_a_self_signed_certificate() {
    let port = tls_server();
    let r = client(port, true).llm_request(request()).await;
    assert_eq!(r.measured.error, None);
    assert_eq!(r.generated_text, "Hello");
    assert!(r.measured.timings.first_content_s.is_some());
}

/// The binary against the TLS server on `port`, with no endpoint settings from the environment.
fn binary(port: u16) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_llmperf-actors"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OPENAI_") || k.starts_with("LLMPERF_") {
            c.env_remove(k);
        }
    }
    c.env("RUST_LOG", "warn")
        .env("OPENAI_API_BASE", format!("https://127.0.0.1:{port}/v1"));
    c
}

#[test]
fn through_the_binary_errors_are_recorded_unless_insecure() {
    let port = tls_server();
    for insecure in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = binary(port);
        c.args([
            "--model",
            "m",
            "--max-num-completed-requests",
            "2",
            "--num-concurrent-requests",
            "1",
            "--results-dir",
            ".",
        ])
        .current_dir(dir.path());
        if insecure {
            c.arg("--insecure");
        }
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Without --insecure every request fails: exit status 4 (docs/exit-codes.md), files written.
        let want = if insecure { 0 } else { 4 };
        assert_eq!(out.status.code(), Some(want), "{stderr}");
        let s: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("m_550_150_summary.json")).unwrap(),
        )
        .unwrap();
        if insecure {
            assert!(
                stderr.contains("TLS CERTIFICATE VERIFICATION IS DISABLED"),
                "{stderr}"
            );
            assert_eq!(s["results_num_completed_requests"], 2);
            assert_eq!(s["results_number_errors"], 0);
        } else {
            assert!(!stderr.contains("VERIFICATION IS DISABLED"));
            assert_eq!(s["results_number_errors"], 2);
            assert_eq!(s["results_error_code_counts"], serde_json::json!({"-1": 2}));
        }
    }
}

/// The clock starts where the request leaves (issue 20): with a handshake that takes 1 s and an answer that
/// comes at once, every record shows the connect and the time before the first byte apart (`connect_s` ≤
/// `pre_send_s`, both ≥ 1 s), and its TTFT and end-to-end latency — measured from the first byte written —
/// hold none of it.
#[test]
fn connecting_is_recorded_apart_and_not_on_the_requests_clock() {
    let stall = Duration::from_secs(1);
    let port = tls_server_stalling(stall);
    let dir = tempfile::tempdir().unwrap();
    let out = binary(port)
        .args([
            "--model",
            "m",
            "--max-num-completed-requests",
            "2",
            "--num-concurrent-requests",
            "1",
            "--connection-reuse",
            "off",
            "--insecure",
            "--results-dir",
            ".",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("m_550_150_individual_responses.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(records.len(), 2);
    let secs = |m: &Value, k: &str| m[k].as_f64().unwrap_or_else(|| panic!("{k}: {m}"));
    for m in &records {
        assert_eq!(m["new_connection"], true, "{m}");
        let (connect, pre) = (secs(m, "connect_s"), secs(m, "pre_send_s"));
        assert!(connect >= stall.as_secs_f64() && pre >= connect, "{m}");
        // The answer follows the handshake at once: its clock holds none of the second spent connecting.
        assert!(secs(m, "ttft_s") < connect, "{m}");
        assert!(secs(m, "end_to_end_latency_s") < connect, "{m}");
        // Nothing is hidden: from the request being due, the latency holds the connect again, and the
        // client's lateness (its dispatch delay) is not its connecting.
        let due = secs(m, "dispatch_delay_s") + pre + secs(m, "ttft_s");
        assert!((secs(m, "scheduled_ttft_s") - due).abs() < 1e-6, "{m}");
        assert!(secs(m, "dispatch_delay_s") < connect, "{m}");
    }
}
