//! Live progress on stderr — an indicatif bar as wide as the terminal, or a plain line every 5 s and one at the
//! end — and the logger that writes around the bar: each log line suspends the bar, is written, and the bar
//! is drawn again below it, so log lines never land on the bar's line. A finished bar is cleared and its last
//! state written as a plain line, so the next output starts on a line of its own.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use llmperf_actors::ProgressSnapshot;
use llmperf_actors::report::ProgressMode;

/// How often a plain progress line is written.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// The bar being drawn, for the logger.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Whether progress is drawn as a bar for `mode` here: stdout and stderr are terminals and `NO_COLOR` unset.
pub fn use_bar(mode: ProgressMode) -> bool {
    match mode {
        ProgressMode::Bar => true,
        ProgressMode::Auto => {
            std::io::stdout().is_terminal()
                && std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
        ProgressMode::Plain | ProgressMode::Off => false,
    }
}

fn current_bar() -> Option<ProgressBar> {
    BAR.lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .filter(|b| !b.is_finished())
}

/// Writes `text` on stderr, above the bar if one is drawn.
pub fn eprint(text: &str) {
    let write = || {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    };
    match current_bar() {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// The log's output: each record (env_logger writes one per call) above the bar.
struct AroundTheBar;

impl Write for AroundTheBar {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        eprint(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Installs the logger (`RUST_LOG`, default `info`), writing around the bar.
pub fn install_logger() {
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,actix_server=warn"),
    )
    .format_target(false)
    .target(env_logger::Target::Pipe(Box::new(AroundTheBar)))
    .init();
}

/// The terminal's width: stderr's, else `COLUMNS`, else 80.
fn width() -> usize {
    console::Term::stderr()
        .size_checked()
        .map(|(_, w)| w as usize)
        .or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok())
        .filter(|&w| w >= 20)
        .unwrap_or(80)
}

/// The bar's message: as much of the counters and rates as fits in `room` columns.
fn message(s: &ProgressSnapshot, room: usize) -> String {
    let remaining = s
        .remaining_s
        .map_or("?".into(), llmperf_actors::observer::clock);
    let candidates = [
        format!(
            "{} in flight, {} errors | {}",
            s.in_flight,
            s.errors,
            s.rates()
        ),
        format!(
            "{} in flight, {} err | {:.1} req/s | {remaining} left",
            s.in_flight, s.errors, s.requests_per_s
        ),
        format!("{} err | {remaining} left", s.errors),
    ];
    let fallback = candidates[2].clone();
    candidates
        .into_iter()
        .find(|c| c.chars().count() <= room)
        .unwrap_or(fallback)
}

/// One run's progress display.
#[derive(Default)]
pub enum Progress {
    /// Plain lines (also before a run starts).
    #[default]
    Plain,
    /// Plain lines, the last written then.
    PlainSince(Instant),
    /// The bar.
    Bar(ProgressBar),
}

impl Progress {
    /// A bar for the run `label` of `total` requests (a spinner when uncapped).
    pub fn bar(label: &str, total: Option<u64>) -> Progress {
        let pb = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        let template = if total.is_some() {
            "{prefix} {wide_bar} {pos}/{len} {msg}"
        } else {
            "{prefix} {spinner} {pos} {wide_msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_prefix(label.to_string());
        *BAR.lock().unwrap_or_else(|e| e.into_inner()) = Some(pb.clone());
        Progress::Bar(pb)
    }

    /// Shows `s`: the bar's position and message, or a plain line every 5 s.
    pub fn update(&mut self, s: &ProgressSnapshot, bar: bool) {
        match self {
            Progress::Bar(pb) => {
                pb.set_position(s.completed);
                // The label, the counts and at least a 10-column bar stay; the message gets the rest.
                let fixed =
                    s.label.chars().count() + 2 * (s.completed.max(1).ilog10() as usize + 2) + 14;
                pb.set_message(message(s, width().saturating_sub(fixed)));
            }
            Progress::PlainSince(last) if last.elapsed() < PLAIN_EVERY => {}
            _ if bar => {}
            _ => {
                eprint(&format!("{s}\n"));
                *self = Progress::PlainSince(Instant::now());
            }
        }
    }

    /// The run is over: clears the bar and writes the last state as a plain line.
    pub fn finish(&mut self, s: &ProgressSnapshot) {
        if let Progress::Bar(pb) = self {
            pb.finish_and_clear();
            *BAR.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        eprint(&format!("{s}\n"));
        *self = Progress::Plain;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_fits_the_room() {
        let s = ProgressSnapshot {
            label: "run".into(),
            completed: 5,
            total: Some(10),
            in_flight: 3,
            errors: 0,
            requests_per_s: 12.0,
            tokens_per_s: 500.0,
            elapsed_s: 1.0,
            remaining_s: Some(4.0),
        };
        assert!(message(&s, 200).contains("500 tok/s"));
        let narrow = message(&s, 45);
        assert!(narrow.chars().count() <= 45, "{narrow}");
        assert!(narrow.contains("00:04 left"), "{narrow}");
    }
}
