//! [`StreamTimer`]: records one streamed response's timings the way the built-in clients do, so a custom
//! client fills every [`StreamTimings`] field right by calling it at each event.

use std::time::Instant;

use super::StreamTimings;

/// Records a streamed response's [`StreamTimings`] as events happen: start it when the request is sent,
/// call [`data_event`](Self::data_event) for each event of the stream, [`content`](Self::content) for
/// answer text and [`reasoning`](Self::reasoning) for reasoning text as it arrives, and
/// [`finish`](Self::finish) at the end of the stream (or at the failure). The built-in clients record
/// through it too, so a custom client's records mean what theirs do.
///
/// ```
/// use llmperf_actors::StreamTimer;
///
/// let mut timer = StreamTimer::start(); // the request is being sent
/// // … a server-sent event with reasoning text arrives:
/// timer.data_event();
/// timer.reasoning("Let me think.", timer.now_s());
/// // … then events with answer text:
/// for word in ["Hello", " world"] {
///     timer.data_event();
///     timer.content(word, timer.now_s());
/// }
/// let timings = timer.finish();
/// assert_eq!(timings.data_events, 3);
/// assert!(timings.first_token_s <= timings.first_content_s);
/// assert!(timings.first_content_s <= timings.last_content_s);
/// assert_eq!(timings.chunk_gaps_s.len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct StreamTimer {
    taken: Instant,
    started: Instant,
    timings: StreamTimings,
}

impl StreamTimer {
    /// Starts timing now: call it when the client takes the request, then [`sent`](Self::sent) when its first
    /// byte is written (without that call, the start stays here, before connecting, as LLMPerf's).
    pub fn start() -> Self {
        Self::started_at(Instant::now())
    }

    /// Times a request that started at `started`.
    pub fn started_at(started: Instant) -> Self {
        StreamTimer {
            taken: started,
            started,
            timings: StreamTimings::default(),
        }
    }

    /// Where the clock starts: the first byte written once [`sent`](Self::sent) was called, else the start.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// When the client took the request (the start before any [`sent`](Self::sent)): what
    /// [`ClientResponse::started`](crate::ClientResponse) takes.
    pub fn taken(&self) -> Instant {
        self.taken
    }

    /// Seconds since the start, now.
    pub fn now_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Seconds from the start to `at` (0 for an instant before it): the time of a network read that
    /// completed at `at`.
    pub fn since_start(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.started).as_secs_f64()
    }

    /// One data event of the stream (an SSE `data:` line, a chunk), with or without text: K, the divisor of
    /// LLMPerf's inter-token latency. A terminator such as `[DONE]` is not one.
    #[inline]
    pub fn data_event(&mut self) {
        self.timings.data_events += 1;
    }

    /// Answer text that arrived `at` seconds after the start (empty text is ignored, as LLMPerf does): the
    /// first sets `first_content_s` (TTFT) and, if no reasoning came before, `first_token_s`; each sets
    /// `last_content_s`; the gap since the previous answer text that arrived in a later read goes into
    /// `chunk_gaps_s`. Several pieces from one read share its `at`.
    #[inline]
    pub fn content(&mut self, text: &str, at: f64) {
        if text.is_empty() {
            return;
        }
        let t = &mut self.timings;
        t.first_content_s.get_or_insert(at);
        t.first_token_s.get_or_insert(at);
        if let Some(prev) = t.last_content_s
            && at > prev
        {
            t.chunk_gaps_s.push((at - prev) as f32);
        }
        t.last_content_s = Some(at);
    }

    /// Reasoning text that arrived `at` seconds after the start (empty text is ignored): it counts for the
    /// first token of any kind (`first_token_s`) only.
    #[inline]
    pub fn reasoning(&mut self, text: &str, at: f64) {
        if !text.is_empty() {
            self.timings.first_token_s.get_or_insert(at);
        }
    }

    /// The request's first byte is about to be written, at `at` (its body built, a connection in hand): the
    /// clock restarts there, so every later time — TTFT, the end-to-end latency — excludes what came before,
    /// and that time (building the body, a pool checkout, connecting) is recorded apart as `pre_send_s`. Call
    /// it once, before any event; a client that does not call it keeps its start (LLMPerf's clock).
    ///
    /// ```
    /// use llmperf_actors::StreamTimer;
    /// use std::time::{Duration, Instant};
    ///
    /// let taken = Instant::now() - Duration::from_millis(30); // the client took the request 30 ms ago
    /// let mut timer = StreamTimer::started_at(taken);
    /// let written = Instant::now(); // … connected, and writes the request now
    /// timer.sent(written);
    /// assert_eq!((timer.taken(), timer.started()), (taken, written));
    /// assert!(timer.timings().pre_send_s.unwrap() >= 0.03);
    /// ```
    pub fn sent(&mut self, at: Instant) {
        let at = at.max(self.taken);
        self.timings.pre_send_s = Some(at.duration_since(self.taken).as_secs_f64());
        self.started = at;
    }

    /// Whether the request opened a new connection, and the seconds spent connecting when it did.
    pub fn connection(&mut self, new_connection: bool, connect_s: Option<f64>) {
        self.timings.new_connection = Some(new_connection);
        self.timings.connect_s = connect_s;
    }

    /// What has been recorded so far.
    pub fn timings(&self) -> &StreamTimings {
        &self.timings
    }

    /// The stream ended (or failed) now: the timings, with `end_s` set.
    pub fn finish(self) -> StreamTimings {
        let end = self.now_s();
        self.finish_at(end)
    }

    /// The stream ended (or failed) `end_s` seconds after the start.
    pub fn finish_at(mut self, end_s: f64) -> StreamTimings {
        self.timings.end_s = end_s;
        self.timings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_from_a_scripted_stream() {
        let mut t = StreamTimer::start();
        t.data_event(); // role chunk, no text
        t.content("", 0.05);
        t.data_event();
        t.reasoning("hmm", 0.1);
        t.data_event();
        t.content("a", 0.3);
        t.data_event();
        t.content("b", 0.3); // same read: no gap
        t.data_event();
        t.content("c", 0.5);
        t.connection(true, Some(0.01));
        let timings = t.finish_at(0.6);
        assert_eq!(timings.data_events, 5);
        assert_eq!(timings.first_token_s, Some(0.1));
        assert_eq!(timings.first_content_s, Some(0.3));
        assert_eq!(timings.last_content_s, Some(0.5));
        assert_eq!(timings.chunk_gaps_s, vec![0.2f32]);
        assert_eq!(timings.end_s, 0.6);
        assert_eq!(
            (timings.new_connection, timings.connect_s),
            (Some(true), Some(0.01))
        );
    }

    #[test]
    fn without_reasoning_the_first_token_is_the_first_content() {
        let mut t = StreamTimer::start();
        t.reasoning("", 0.1);
        t.content("x", 0.2);
        let timings = t.finish_at(0.2);
        assert_eq!(timings.first_token_s, Some(0.2));
        assert_eq!(timings.first_content_s, Some(0.2));
        assert!(timings.chunk_gaps_s.is_empty());
    }
}
