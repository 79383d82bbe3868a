//! The scraper: an actor on an arbiter of its own (never a client's), which GETs the metrics URL with the
//! project's HTTP client every interval, from a baseline scrape just before the first request to a last one
//! just after the last reply. Each scrape is bounded by a timeout (90% of the interval); a scrape that fails —
//! refused, timed out, an HTTP error, a body that is not the text format — is a gap in the record, and a tick
//! that comes while a scrape is still out is skipped, so a slow endpoint never piles requests up. Nothing here
//! touches the clients: a scrape can only cost the run its own data.
//!
//! The runner drives it through [`ScraperHandle`]: [`ScraperHandle::start`] (and the baseline scrape),
//! [`ScraperHandle::begin`] (the run's clock starts), [`ScraperHandle::finish`] (the last scrape; the
//! [`ServerRun`]). These messages are the scraper's own and go nowhere else, so they live here rather than in
//! `messages.rs`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::prom;
use super::samples::{Attempt, write_attempt};
use super::view::ServerRun;
use crate::backend::http::{Endpoint, EndpointKnowledge, HttpClient};

/// The largest metrics body read; a longer one is a gap.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// What to scrape and where the samples go.
#[derive(Debug, Clone)]
pub struct ScrapeSpec {
    /// The metrics URL.
    pub url: String,
    /// Time between scrapes.
    pub interval: Duration,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Extra request headers (the run's `--header`s: a gateway in front of the server wants them too).
    pub headers: Vec<(String, String)>,
    /// Skip TLS verification.
    pub insecure: bool,
    /// `<base>_server_metrics.jsonl`, when the run writes files.
    pub file: Option<PathBuf>,
}

impl ScrapeSpec {
    /// How long one scrape may take.
    fn timeout(&self) -> Duration {
        self.interval.mul_f64(0.9).max(Duration::from_millis(10))
    }
}

/// The scraper actor.
pub struct Scraper {
    spec: ScrapeSpec,
    client: Option<Rc<HttpClient>>,
    view: ServerRun,
    file: Option<BufWriter<File>>,
    /// The run's start; attempts made before it wait in `pending`.
    epoch: Option<Instant>,
    pending: Vec<(Instant, Result<Vec<prom::PromSample>, String>)>,
    in_flight: bool,
    timer: Option<SpawnHandle>,
    finished: bool,
}

impl Actor for Scraper {
    type Context = Context<Self>;
}

/// Scrape once and record it (the baseline, before the run's clock starts). Replies when it is recorded.
struct Baseline;
impl Message for Baseline {
    type Result = ();
}

/// The run's clock starts at `epoch`: record times from it, scrape every interval.
struct Begin {
    epoch: Instant,
}
impl Message for Begin {
    type Result = ();
}

/// The run is over: scrape a last time, stop, reply with the view of the run.
struct Finish;
impl Message for Finish {
    type Result = ServerRun;
}

/// Every scrape is one GET, bounded by `timeout`.
async fn scrape(
    client: Option<Rc<HttpClient>>,
    headers: Vec<(String, String)>,
    timeout: Duration,
) -> Result<Vec<prom::PromSample>, String> {
    let client = client.ok_or_else(|| "the metrics URL is not usable".to_string())?;
    let get = async move {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let mut resp = client.get(&h).await.map_err(|f| format!("{:?}", f.error))?;
        let status = resp.head.status;
        let body = resp
            .read_to_end(MAX_BODY)
            .await
            .map_err(|e| format!("reading the body: {e:?}"))?;
        if status != 200 {
            return Err(format!("HTTP {status}"));
        }
        if body.len() >= MAX_BODY {
            return Err(format!("the body is larger than {MAX_BODY} bytes"));
        }
        let text = String::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
        prom::parse(&text).map_err(|e| format!("not the Prometheus text format: {e}"))
    };
    match actix_rt::time::timeout(timeout, get).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {:.3} s", timeout.as_secs_f64())),
    }
}

impl Scraper {
    fn new(spec: ScrapeSpec) -> Scraper {
        let client = Endpoint::parse(&spec.url).ok().map(|ep| {
            Rc::new(HttpClient::new(
                ep,
                &EndpointKnowledge::default(),
                spec.connect_timeout
                    .min(spec.interval.max(Duration::from_millis(100))),
                spec.insecure,
                true,
            ))
        });
        let file = spec.file.as_ref().and_then(|p| match File::create(p) {
            Ok(f) => Some(BufWriter::new(f)),
            Err(e) => {
                log::warn!("server metrics: cannot write {}: {e}", p.display());
                None
            }
        });
        Scraper {
            view: ServerRun::new(&spec.url),
            spec,
            client,
            file,
            epoch: None,
            pending: Vec::new(),
            in_flight: false,
            timer: None,
            finished: false,
        }
    }

    /// One scrape as a future of this actor, recorded when it ends.
    fn scrape_once(&mut self) -> impl ActorFuture<Self, Output = ()> + use<> {
        self.in_flight = true;
        let at = Instant::now();
        scrape(
            self.client.clone(),
            self.spec.headers.clone(),
            self.spec.timeout(),
        )
        .into_actor(self)
        .map(move |result, act: &mut Scraper, _| {
            act.in_flight = false;
            act.record(at, result);
        })
    }

    fn record(&mut self, at: Instant, result: Result<Vec<prom::PromSample>, String>) {
        if let Err(e) = &result {
            log::debug!("server metrics: scrape of {} failed: {e}", self.spec.url);
        }
        match self.epoch {
            None => self.pending.push((at, result)),
            Some(epoch) => self.write(epoch, at, result),
        }
    }

    fn write(
        &mut self,
        epoch: Instant,
        at: Instant,
        result: Result<Vec<prom::PromSample>, String>,
    ) {
        let t = if at >= epoch {
            (at - epoch).as_secs_f64()
        } else {
            -(epoch - at).as_secs_f64()
        };
        let attempt = Attempt { t, result };
        if let Some(f) = self.file.as_mut() {
            let written = write_attempt(f, &self.spec.url, &attempt).and_then(|_| f.flush());
            if let Err(e) = written {
                log::warn!("server metrics: writing the samples failed: {e}");
                self.file = None;
            }
        }
        self.view.add(&attempt);
    }
}

impl Handler<Baseline> for Scraper {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: Baseline, _: &mut Context<Self>) -> Self::Result {
        Box::pin(self.scrape_once())
    }
}

impl Handler<Begin> for Scraper {
    type Result = ();
    fn handle(&mut self, msg: Begin, ctx: &mut Context<Self>) {
        self.epoch = Some(msg.epoch);
        for (at, result) in std::mem::take(&mut self.pending) {
            self.write(msg.epoch, at, result);
        }
        self.timer = Some(ctx.run_interval(self.spec.interval, |act, ctx| {
            if !act.in_flight && !act.finished {
                ctx.spawn(act.scrape_once());
            }
        }));
    }
}

impl Handler<Finish> for Scraper {
    type Result = ResponseActFuture<Self, ServerRun>;
    fn handle(&mut self, _: Finish, ctx: &mut Context<Self>) -> Self::Result {
        self.finished = true;
        if let Some(t) = self.timer.take() {
            ctx.cancel_future(t);
        }
        Box::pin(self.scrape_once().map(|(), act: &mut Scraper, _| {
            if let Some(mut f) = act.file.take() {
                let _ = f.flush();
            }
            std::mem::take(&mut act.view)
        }))
    }
}

/// The runner's handle on a run's scraper and its arbiter.
pub struct ScraperHandle {
    addr: Addr<Scraper>,
    arbiter: Arbiter,
}

impl ScraperHandle {
    /// Starts the scraper on an arbiter of its own and takes the baseline scrape (waiting at most one scrape
    /// timeout: before the run's clock starts).
    pub async fn start(spec: ScrapeSpec) -> ScraperHandle {
        let arbiter = Arbiter::new();
        let addr = Scraper::start_in_arbiter(&arbiter.handle(), move |_| Scraper::new(spec));
        let _ = addr.send(Baseline).await;
        ScraperHandle { addr, arbiter }
    }

    /// The run's clock starts now.
    pub fn begin(&self, epoch: Instant) {
        self.addr.do_send(Begin { epoch });
    }

    /// The last scrape; stops the scraper and its arbiter. `None` if the scraper died.
    pub async fn finish(self) -> Option<ServerRun> {
        let run = self.addr.send(Finish).await.ok();
        self.arbiter.stop();
        run
    }
}
