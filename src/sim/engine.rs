//! The saturating engine at work: one per simulator (one simulated accelerator), on a thread of its own,
//! running the [`Scheduler`]'s steps in real time. Each step's times are offsets from the engine's start
//! (`epoch`); the thread sleeps until a step's end (a deadline already past skips the wait, so a late thread
//! never shifts the schedule) and then hands each request its new tokens, stamped with the engine time they
//! were produced at. Shares no timing code with the client.
//!
//! A request is submitted with its prompt and output lengths ([`Engine::submit`]) and followed through its
//! [`Ticket`]: admitted, one event per token, finished. Dropping the ticket (the stream ended, or its client
//! went away) takes the request out of the queue or the batch before the next step, freeing its slot and its
//! KV reservation. The gauges (`running`, `waiting`, KV usage) are published for `GET /metrics` at each step's
//! start and end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::metrics::GaugeValues;
use super::scheduler::{EngineParams, Job, Left, Scheduler};

/// What happens to a request in the engine, with the engine time it happened at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    Admitted(Instant),
    Token(Instant),
    Finished(Instant),
}

/// A request submitted to the engine, as the engine thread takes it.
struct Submission {
    job: Job,
    tx: UnboundedSender<Progress>,
}

/// What the request handlers and the engine thread share.
struct Shared {
    inbox: Mutex<Inbox>,
    wake: Condvar,
    /// Engine time 0.
    epoch: Instant,
    running: AtomicUsize,
    waiting: AtomicUsize,
    reserved: AtomicU64,
}

#[derive(Default)]
struct Inbox {
    jobs: Vec<Submission>,
    next_id: u64,
    stop: bool,
}

impl Shared {
    fn inbox(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The engine: its thread, stopped and joined when dropped.
pub(super) struct Engine {
    params: EngineParams,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Engine {
    /// Starts the engine's thread.
    pub fn start(params: EngineParams) -> std::io::Result<Engine> {
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Inbox::default()),
            wake: Condvar::new(),
            epoch: Instant::now(),
            running: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            reserved: AtomicU64::new(0),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("llmperf-sim-engine".into())
            .spawn(move || run(&s, params))?;
        Ok(Engine {
            params,
            shared,
            thread: Some(thread),
        })
    }

    /// Queues a request of `prompt` tokens that generates `output` tokens, arriving now; `Err` with the KV
    /// budget if its reservation (`prompt + output`) could never fit.
    pub fn submit(&self, prompt: u64, output: u64) -> Result<Ticket, u64> {
        if !self.params.fits(prompt, output) {
            return Err(self.params.kv_cache_tokens.unwrap_or(0));
        }
        let (tx, rx) = unbounded_channel();
        let mut inbox = self.shared.inbox();
        let id = inbox.next_id;
        inbox.next_id += 1;
        // Taken under the lock: submissions reach the engine in the order of their arrival times (FIFO).
        let arrival = self.shared.epoch.elapsed();
        inbox.jobs.push(Submission {
            job: Job {
                id,
                arrival,
                prompt,
                output,
            },
            tx,
        });
        self.shared.waiting.fetch_add(1, Ordering::Relaxed);
        drop(inbox);
        self.shared.wake.notify_one();
        Ok(Ticket {
            rx,
            admitted: None,
            tokens: Vec::new(),
            finished: None,
        })
    }

    /// The gauges as last published: the batch, the queue (submissions not yet admitted included), and the
    /// KV tokens reserved over the budget (0 without a budget).
    pub fn gauges(&self) -> GaugeValues {
        let reserved = self.shared.reserved.load(Ordering::Relaxed);
        GaugeValues {
            running: self.shared.running.load(Ordering::Relaxed),
            waiting: self.shared.waiting.load(Ordering::Relaxed),
            kv_usage: match self.params.kv_cache_tokens {
                Some(k) if k > 0 => reserved as f64 / k as f64,
                _ => 0.0,
            },
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shared.inbox().stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The engine thread: takes submissions (waiting for one when idle), drops requests whose ticket is gone,
/// runs one step, sleeps until its end, hands out its tokens; until the engine is dropped.
fn run(shared: &Shared, params: EngineParams) {
    let mut sched = Scheduler::new(params);
    let mut streams: HashMap<u64, UnboundedSender<Progress>> = HashMap::new();
    let publish = |running: usize, reserved: u64| {
        shared.running.store(running, Ordering::Relaxed);
        shared.reserved.store(reserved, Ordering::Relaxed);
    };
    loop {
        {
            let mut inbox = shared.inbox();
            while inbox.jobs.is_empty() && sched.is_idle() && !inbox.stop {
                inbox = shared
                    .wake
                    .wait(inbox)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if inbox.stop {
                return;
            }
            for s in inbox.jobs.drain(..) {
                sched.submit(s.job);
                streams.insert(s.job.id, s.tx);
            }
        }
        streams.retain(|id, tx| {
            let gone = tx.is_closed();
            if gone {
                leave(shared, &mut sched, *id);
            }
            !gone
        });
        let Some(step) = sched.next_step() else {
            continue;
        };
        let at = |d: Duration| shared.epoch + d;
        for id in &step.admitted {
            shared.waiting.fetch_sub(1, Ordering::Relaxed);
            send(
                &mut streams,
                &mut sched,
                shared,
                *id,
                Progress::Admitted(at(step.start)),
            );
        }
        publish(step.running, step.reserved);
        if !sleep_until(shared, at(step.end)) {
            return;
        }
        for id in &step.tokens {
            send(
                &mut streams,
                &mut sched,
                shared,
                *id,
                Progress::Token(at(step.end)),
            );
        }
        for id in &step.finished {
            send(
                &mut streams,
                &mut sched,
                shared,
                *id,
                Progress::Finished(at(step.end)),
            );
            streams.remove(id);
        }
        publish(sched.running(), sched.reserved());
    }
}

/// Takes request `id` out of the engine (its ticket is gone).
fn leave(shared: &Shared, sched: &mut Scheduler, id: u64) {
    if sched.cancel(id) == Some(Left::Waiting) {
        shared.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Hands `event` to request `id`'s ticket; a ticket that is gone takes the request out of the engine.
fn send(
    streams: &mut HashMap<u64, UnboundedSender<Progress>>,
    sched: &mut Scheduler,
    shared: &Shared,
    id: u64,
    event: Progress,
) {
    let Some(tx) = streams.get(&id) else {
        return;
    };
    if tx.send(event).is_err() {
        streams.remove(&id);
        leave(shared, sched, id);
    }
}

/// Waits until `deadline` (at once if it has passed); `false` if the engine is stopping.
fn sleep_until(shared: &Shared, deadline: Instant) -> bool {
    let mut inbox = shared.inbox();
    loop {
        if inbox.stop {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        // Submissions wake the condition variable too: the wait goes on until the deadline.
        inbox = shared
            .wake
            .wait_timeout(inbox, deadline - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// A request's progress in the engine, read by its handler.
pub(super) struct Ticket {
    rx: UnboundedReceiver<Progress>,
    admitted: Option<Instant>,
    tokens: Vec<Instant>,
    finished: Option<Instant>,
}

impl Ticket {
    fn note(&mut self, p: Progress) {
        match p {
            Progress::Admitted(t) => self.admitted = Some(t),
            Progress::Token(t) => self.tokens.push(t),
            Progress::Finished(t) => self.finished = Some(t),
        }
    }

    /// Takes the events already sent, without waiting.
    fn drain(&mut self) {
        while let Ok(p) = self.rx.try_recv() {
            self.note(p);
        }
    }

    /// When the `n`-th token was produced (for `n = 0`: when the request finished), if it has been.
    pub fn produced_now(&mut self, n: u64) -> Option<Instant> {
        self.drain();
        self.known(n)
    }

    fn known(&self, n: u64) -> Option<Instant> {
        match n {
            0 => self.finished,
            n => self.tokens.get(usize::try_from(n - 1).ok()?).copied(),
        }
    }

    /// Waits until the `n`-th token is produced (for `n = 0`: until the request finished) and says when;
    /// `None` if the engine stopped first.
    pub async fn produced(&mut self, n: u64) -> Option<Instant> {
        loop {
            if let Some(t) = self.known(n) {
                return Some(t);
            }
            let p = self.rx.recv().await?;
            self.note(p);
        }
    }

    /// When the request was admitted into the batch, if it has been.
    pub fn admitted(&mut self) -> Option<Instant> {
        self.drain();
        self.admitted
    }

    /// When each token was produced, so far.
    pub fn token_times(&mut self) -> &[Instant] {
        self.drain();
        &self.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(slots: usize) -> EngineParams {
        EngineParams {
            slots,
            prefill_ms: 30.0,
            prefill_ms_per_token: 0.0,
            decode_step_ms: 10.0,
            decode_ms_per_running: 0.0,
            kv_cache_tokens: Some(100),
        }
    }

    #[tokio::test]
    async fn tokens_come_at_their_engine_times_and_queued_requests_wait() {
        let engine = Engine::start(params(1)).expect("engine");
        let mut a = engine.submit(10, 3).expect("fits");
        let mut b = engine.submit(10, 1).expect("fits");
        assert_eq!(engine.submit(90, 11).err(), Some(100));
        let last = a.produced(3).await.expect("three tokens");
        let first = a.produced(1).await.expect("a first token");
        let admitted = a.admitted().expect("admitted");
        // Engine times: the first token one prefill after admission, then one per decode step.
        assert_eq!(first - admitted, Duration::from_millis(30));
        assert_eq!(last - first, Duration::from_millis(20));
        let b_first = b.produced(1).await.expect("b's token");
        assert!(
            b.admitted().expect("b admitted") >= last,
            "b waited for the slot"
        );
        assert_eq!(
            b.produced(0).await,
            Some(b_first),
            "N = 1: done with its prefill"
        );
        assert!(Instant::now() >= b_first, "never handed out early");
    }

    #[tokio::test]
    async fn a_dropped_ticket_frees_its_slot() {
        let engine = Engine::start(params(1)).expect("engine");
        // 90 tokens: 30 + 89 × 10 ms if it ran to its end.
        let mut long = engine.submit(0, 90).expect("fits");
        long.produced(1).await.expect("running");
        let mut next = engine.submit(0, 1).expect("fits");
        assert_eq!(engine.gauges().waiting, 1);
        let dropped = Instant::now();
        drop(long);
        next.produced(1)
            .await
            .expect("admitted once the slot is free");
        let admitted = next.admitted().expect("admitted");
        assert!(
            admitted.saturating_duration_since(dropped) < Duration::from_millis(500),
            "the slot was freed at the next step, not at the end"
        );
        let g = engine.gauges();
        assert!(g.waiting == 0 && g.running <= 1, "{g:?}");
    }
}
