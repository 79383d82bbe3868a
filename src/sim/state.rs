//! What all the simulator's connections share ([`SimState`]): the configuration, the request counters that
//! drive faults, the generation slots or the engine, the metrics, the timing log and the record of what each
//! request carried ([`ReceivedRequest`]). The routes (`server`) and the timing (`generate`) both read it.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::SimConfig;
use super::engine::Engine;
use super::http::Request;
use super::metrics::Metrics;
use crate::tokenizer::Tokenizer;

/// How many received requests the simulator remembers (the oldest are dropped first).
const RECORDED_REQUESTS: usize = 1_000;

/// What one request carried, as the simulator received it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedRequest {
    /// The request path, e.g. `/v1/messages`.
    pub path: String,
    /// Header names (lower-case) and values, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The JSON body (`null` if it was not JSON, or there was none).
    pub body: Value,
}

impl ReceivedRequest {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What all the simulator's connections share.
pub(super) struct SimState {
    pub cfg: SimConfig,
    /// API requests so far (their 1-based arrival numbers drive the faults).
    pub(super) requests: AtomicU64,
    pub(super) correctness_requests: AtomicU64,
    received: Mutex<VecDeque<ReceivedRequest>>,
    /// Connections accepted so far.
    pub connections: AtomicU64,
    /// Generation slots (`capacity`); requests beyond them wait, like a busy server's queue.
    pub(super) slots: Option<Arc<tokio::sync::Semaphore>>,
    /// The saturating engine (`batch_slots`), if on.
    pub(super) engine: Option<Engine>,
    /// What `GET /metrics` shows.
    pub(super) metrics: Arc<Metrics>,
    /// `timing_log`, opened for appending (each response writes its line in one call).
    pub(super) timing_log: Option<Arc<std::fs::File>>,
}

impl SimState {
    pub fn new(cfg: SimConfig) -> std::io::Result<SimState> {
        // Prompt counts (usage, Messages, non-streaming replies) need the tokenizer: parse it before listening,
        // so no request's simulated timings include the parse.
        Tokenizer::llama().preload();
        let slots = cfg
            .capacity
            .map(|n| Arc::new(tokio::sync::Semaphore::new(n)));
        let timing_log = match &cfg.timing_log {
            Some(path) => Some(Arc::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            )),
            None => None,
        };
        let engine = cfg.engine_params().map(Engine::start).transpose()?;
        Ok(SimState {
            engine,
            metrics: Arc::default(),
            cfg,
            requests: AtomicU64::new(0),
            correctness_requests: AtomicU64::new(0),
            received: Mutex::new(VecDeque::new()),
            connections: AtomicU64::new(0),
            slots,
            timing_log,
        })
    }

    /// Records what a request read in full and matched to a route carried.
    pub(super) fn record(&self, req: &Request, body: &Value) {
        let Ok(mut log) = self.received.lock() else {
            return;
        };
        if log.len() == RECORDED_REQUESTS {
            log.pop_front();
        }
        log.push_back(ReceivedRequest {
            path: req.path.clone(),
            headers: req.headers.clone(),
            body: body.clone(),
        });
    }

    /// The requests recorded so far, oldest first.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.received
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }
}
