//! The capacity search's orchestration: each step is one run of the ordinary pipeline (its prompts, its
//! client pool, its collector and result files, a [`StepSource`] as its load mode), chosen after the previous
//! step's verdict by [`Search`]; then the search's own outputs (`<base>_capacity.json`, `.svg`).
//!
//! The steps reach [`super::run_plans`] as an iterator whose `next` reads the verdict of the step that just
//! ran, so the search needs nothing of the runner beyond a plan with a source of its own.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::plans::{Plan, load_test_plan};
use super::requests::{self, Dataset};
use super::{RunOptions, run_plans};
use crate::Error;
use crate::actors::collector::Warmup;
use crate::capacity::report::{self, CapacityReport, StepRow};
use crate::capacity::search::{Search, SearchKind, SearchVerdict};
use crate::capacity::step::{StepCore, StepPlan, StepSource};
use crate::capacity::{CapacitySettings, chart};
use crate::report::{SweepKind, SweepStep};
use crate::settings::{RunSpec, Settings};
use crate::stop::StopHandle;

/// A step that ran (or is running).
struct Running {
    load: f64,
    base_name: String,
    core: Arc<Mutex<StepCore>>,
    started: Instant,
}

/// The search in progress, shared by the plans' iterator and the caller.
struct State {
    search: Search,
    rows: Vec<StepRow>,
    /// The judgements, for the capacity's interpolation.
    judgements: Vec<(f64, crate::capacity::judge::Judgement)>,
    running: Option<Running>,
    started: Instant,
    stopped_by: Option<String>,
}

impl State {
    /// Records the verdict of the step that just ran.
    fn close_step(&mut self) {
        let Some(r) = self.running.take() else {
            return;
        };
        let mut core = r.core.lock().unwrap_or_else(|p| p.into_inner());
        let j = core.finish();
        let counts = core.counts();
        let saturated = core.saturation().is_some();
        drop(core);
        let pass = j.verdict == crate::capacity::judge::Verdict::Pass;
        log::info!(
            "capacity step {} at {} {}: {}",
            self.rows.len() + 1,
            r.load,
            self.search.params().kind.unit(),
            report::one_line(&j)
        );
        self.rows.push(StepRow::new(
            self.rows.len() + 1,
            r.load,
            r.base_name,
            &j,
            &counts,
            (saturated, r.started.elapsed().as_secs_f64()),
        ));
        self.search.record(r.load, pass, j.confident || saturated);
        self.judgements.push((r.load, j));
    }
}

/// The steps, made one at a time as the search asks for them.
struct Steps {
    state: Rc<RefCell<State>>,
    settings: Settings,
    cap: CapacitySettings,
    spec: RunSpec,
    dataset: Option<Arc<Dataset>>,
    /// The runs' stop handle: once stopped, no further step starts.
    stop: StopHandle,
}

impl Iterator for Steps {
    type Item = Plan;

    fn next(&mut self) -> Option<Plan> {
        let mut st = self.state.borrow_mut();
        st.close_step();
        if self.stop.is_stopped() {
            st.stopped_by = Some("signal".into());
            return None;
        }
        let load = st.search.next_load()?;
        let left = self.cap.time_budget.saturating_sub(st.started.elapsed());
        let kind = self.cap.search.kind;
        // The least time in which the step could decide anything: its warm-up and 20 judged requests at its
        // rate (over concurrency, unknown: a second).
        let least = match kind {
            SearchKind::Rate => (self.cap.step_warmup + 20) as f64 / load,
            SearchKind::Concurrency => 1.0,
        };
        if left.as_secs_f64() < least {
            st.stopped_by = Some("time_budget".into());
            log::warn!(
                "capacity: {:.1} s of the time budget left, too little for a step at {load}; the search stops",
                left.as_secs_f64()
            );
            return None;
        }
        let step = SweepStep {
            group: format!("{}_capacity", self.spec.base_name),
            kind: match kind {
                SearchKind::Rate => SweepKind::Rate,
                SearchKind::Concurrency => SweepKind::Concurrency,
            },
            value: load,
        };
        let mut plan = load_test_plan(
            &self.settings,
            self.spec.clone(),
            Some(step),
            self.dataset.clone(),
        );
        let core = StepCore::shared(StepPlan {
            kind,
            load,
            seed: self.settings.seed,
            warmup: self.cap.step_warmup,
            min_requests: self.cap.step_requests,
            max_requests: self.cap.max_step_requests,
            rules: self.cap.rules.clone(),
        });
        let for_source = core.clone();
        plan.source = Some(Box::new(move |pool| {
            Box::new(StepSource::attach(pool, for_source))
        }));
        plan.warmup = Warmup {
            requests: self.cap.step_warmup as u64,
            seconds: 0.0,
        };
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        plan.shape.schedule = None;
        plan.shape.limit = self.cap.max_step_requests;
        plan.shape.timeout = self.cap.max_step_time.min(left);
        (plan.shape.concurrency, plan.shape.clients) = match kind {
            SearchKind::Rate => (usize::MAX, cores),
            SearchKind::Concurrency => (load as usize, load as usize),
        };
        log::info!(
            "capacity step {}: {load} {} (bracket {:?})",
            st.rows.len() + 1,
            kind.unit(),
            st.search.bracket()
        );
        st.running = Some(Running {
            load,
            base_name: plan.description.base_name.clone(),
            core,
            started: Instant::now(),
        });
        Some(plan)
    }
}

/// Load-test keys a capacity search cannot honour, with the reason.
fn refuse_load_modes(settings: &Settings) -> Result<(), Error> {
    let load = &settings.load;
    let w = &settings.workload;
    let refused = [
        (
            load.sweep.is_some(),
            "--sweep-rates / --sweep-concurrency: the search picks the loads",
        ),
        (
            load.request_rate.is_some(),
            "--request-rate: the search picks the rates",
        ),
        (
            load.duration.is_some(),
            "--duration: steps are sized by --step-requests and --max-step-requests",
        ),
        (w.multi_turn > 1, "--multi-turn"),
        (
            w.replay_timestamps,
            "--replay-timestamps: the search draws its own arrivals",
        ),
        (settings.shard.is_sharded(), "--shard-count"),
    ];
    match refused.iter().find(|(on, _)| *on) {
        Some((_, what)) => Err(Error::Config(format!(
            "llmperf-actors capacity does not take {what}; remove it"
        ))),
        None => Ok(()),
    }
}

/// Runs the capacity search `settings.capacity` describes against the endpoint, one step after another, and
/// writes its outputs; returns the result and the files written (each step's own files are printed as they
/// are written). Blocks; starts its own actix system.
pub fn run_capacity_search(
    settings: &Settings,
    options: &RunOptions,
) -> Result<(CapacityReport, Vec<PathBuf>), Error> {
    let cap = settings.capacity.clone().ok_or_else(|| {
        Error::Config(
            "the capacity search needs an SLO: --slo ttft_p99=500ms,tpot_p99=50ms (or capacity.slo)".into(),
        )
    })?;
    refuse_load_modes(settings)?;
    let runs = settings.runs();
    let [spec] = runs.as_slice() else {
        return Err(Error::Config(format!(
            "llmperf-actors capacity searches one model and one input/output length at a time; the settings \
             give {} runs (models × token_confs): pass one --model, --mean-input-tokens, --mean-output-tokens",
            runs.len()
        )));
    };
    let mut step_settings = settings.clone();
    step_settings.max_num_completed_requests = cap.max_step_requests as u64;
    step_settings.load.warmup_requests = cap.step_warmup as u64;
    step_settings.load.warmup_seconds = 0.0;
    step_settings.load.max_concurrency = None;
    let dataset = requests::load_dataset(&settings.workload)?;
    let state = Rc::new(RefCell::new(State {
        search: Search::new(cap.search),
        rows: Vec::new(),
        judgements: Vec::new(),
        running: None,
        started: Instant::now(),
        stopped_by: None,
    }));
    let steps = Steps {
        state: state.clone(),
        settings: step_settings,
        cap: cap.clone(),
        spec: spec.clone(),
        dataset,
        stop: options.stop.clone(),
    };
    run_plans(settings, steps, options)?;
    let mut st = state.borrow_mut();
    st.close_step();
    let report = build_report(&st, &cap, settings.seed);
    let mut files = Vec::new();
    if let Some(dir) = &settings.results_dir {
        let io = |what: &str, e: std::io::Error| Error::Io {
            what: format!("writing the capacity {what} into {}", dir.display()),
            source: e,
        };
        files.push(report::write_json(&report, dir, &spec.base_name).map_err(|e| io("JSON", e))?);
        // The chart is an extra: a failure to draw it is logged, the JSON stays.
        match chart::write_svg(&report, dir, &spec.base_name) {
            Ok(p) => files.push(p),
            Err(e) => log::warn!("capacity chart not written: {e}"),
        }
    }
    Ok((report, files))
}

/// The search's result from its steps.
fn build_report(st: &State, cap: &CapacitySettings, seed: u64) -> CapacityReport {
    let verdict = st.search.verdict();
    let (lo, hi) = st.search.bracket();
    let (sure_lo, sure_hi) = st.search.interval();
    let judged = |load: Option<f64>| {
        load.and_then(|l| {
            st.judgements
                .iter()
                .rev()
                .find(|(x, _)| *x == l)
                .map(|(_, j)| j)
        })
    };
    let limiting = judged(hi).and_then(|j| {
        let name = j.limiting.clone()?;
        let label = j
            .criteria
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.label.clone())?;
        Some((name, label))
    });
    let capacity = match (verdict, lo, hi) {
        (SearchVerdict::Found, Some(lo), Some(hi)) => {
            fn crit<'a>(
                j: Option<&'a crate::capacity::judge::Judgement>,
                name: Option<&str>,
            ) -> Option<&'a crate::capacity::judge::Criterion> {
                j?.criteria.iter().find(|c| Some(c.name.as_str()) == name)
            }
            let name = limiting.as_ref().map(|l| l.0.as_str());
            let point = report::interpolate(
                cap.search.kind,
                (lo, crit(judged(Some(lo)), name)),
                (hi, crit(judged(Some(hi)), name)),
            );
            // Inside the conclusive interval (it always is, unless a step beyond it disagreed by chance).
            Some(
                point
                    .max(sure_lo.unwrap_or(point))
                    .min(sure_hi.unwrap_or(point)),
            )
        }
        _ => None,
    };
    let stopped_by = match verdict {
        SearchVerdict::Incomplete => st.stopped_by.clone().or(Some("time_budget".into())),
        _ => st.stopped_by.clone(),
    };
    CapacityReport {
        search: cap.search.kind,
        unit: cap.search.kind.unit().into(),
        slo: cap.rules.slo.to_string(),
        goodput_target: cap.rules.goodput,
        confidence: cap.rules.confidence,
        verdict,
        capacity,
        ci_low: sure_lo,
        ci_high: sure_hi,
        limited_by: limiting.as_ref().map(|l| l.0.clone()),
        limited_by_label: limiting.map(|l| l.1),
        requests_used: st.rows.iter().map(|r| r.sent).sum(),
        sweep_10_requests: 10
            * st.rows
                .iter()
                .map(|r| r.sent)
                .max()
                .unwrap_or(cap.step_requests + cap.step_warmup),
        elapsed_s: st.started.elapsed().as_secs_f64(),
        time_budget_s: cap.time_budget.as_secs_f64(),
        stopped_by,
        min_load: cap.search.min,
        max_load: cap.search.max,
        seed,
        steps: st.rows.clone(),
    }
}
