//! The spill file's record format: a little-endian length (u32), then every field of the [`RunRecord`] in a
//! fixed order — numbers as their bits (a value read back equals the one written, bit for bit), strings with
//! their length, JSON values as JSON text. Only this process reads it, so it has no version. Both functions
//! name every field of [`Metrics`] without `..`: a field added to the record fails to compile here until it
//! is written and read.

use serde_json::Value;

use crate::backend::RequestConfig;
use crate::metrics::Metrics;
use crate::report::records::{Outcome, RunRecord, ScoredAnswer};

/// Appends `r`, with its length, to `out`.
pub(super) fn encode(r: &RunRecord, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut w = Writer(out);
    w.u64(r.index);
    w.opt_u64(r.max_tokens);
    metrics(&mut w, &r.metrics);
    match &r.answer {
        None => w.u8(0),
        Some(a) => {
            w.u8(1);
            w.str(&a.generated_text);
            w.json(&serde_json::to_value(&a.request_config).unwrap_or(Value::Null));
            w.u8(match a.outcome {
                Outcome::Match => 0,
                Outcome::Mismatch => 1,
                Outcome::Error => 2,
            });
        }
    }
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

fn metrics(w: &mut Writer<'_>, m: &Metrics) {
    let Metrics {
        error_code,
        error_msg,
        inter_token_latency_s,
        ttft_s,
        end_to_end_latency_s,
        request_output_throughput_token_per_s,
        number_total_tokens,
        number_output_tokens,
        number_input_tokens,
        number_input_tokens_actual,
        tpot_s,
        number_stream_events,
        server_prompt_tokens,
        server_completion_tokens,
        scheduled_start_s,
        actual_start_s,
        dispatch_delay_s,
        scheduled_ttft_s,
        scheduled_end_to_end_latency_s,
        warmup,
        ttft_any_s,
        number_reasoning_tokens,
        output_tokens_source,
        server_reasoning_tokens,
        dataset_id,
        conversation_id,
        turn,
        error_kind,
        generated_tokens,
        prompt_tokens,
        token_counts_source,
        generation_throughput_token_per_s,
        tokenizer_generated_tokens,
        new_connection,
        connect_s,
        pre_send_s,
    } = m;
    w.opt_json(error_code.as_ref());
    w.str(error_msg);
    for &x in [
        inter_token_latency_s,
        ttft_s,
        end_to_end_latency_s,
        request_output_throughput_token_per_s,
        scheduled_start_s,
        actual_start_s,
        dispatch_delay_s,
        generation_throughput_token_per_s,
    ] {
        w.f64(x);
    }
    for &x in [
        number_total_tokens,
        number_output_tokens,
        number_input_tokens,
        number_input_tokens_actual,
        number_stream_events,
        number_reasoning_tokens,
        generated_tokens,
        prompt_tokens,
    ] {
        w.u64(x);
    }
    for &x in [
        tpot_s,
        scheduled_ttft_s,
        scheduled_end_to_end_latency_s,
        ttft_any_s,
        connect_s,
        pre_send_s,
    ] {
        w.opt_f64(x);
    }
    for &x in [
        server_prompt_tokens,
        server_completion_tokens,
        server_reasoning_tokens,
        conversation_id,
        turn,
        tokenizer_generated_tokens,
    ] {
        w.opt_u64(x);
    }
    w.u8(u8::from(*warmup));
    w.u8(match new_connection {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    });
    w.source(output_tokens_source);
    w.source(token_counts_source);
    w.opt_str(error_kind.as_deref());
    w.opt_json(dataset_id.as_ref());
}

/// Reads a record [`encode`] wrote (without its length).
pub(super) fn decode(bytes: &[u8]) -> Result<RunRecord, String> {
    let mut r = Reader { bytes, pos: 0 };
    let index = r.u64()?;
    let max_tokens = r.opt_u64()?;
    let error_code = r.opt_json()?;
    let error_msg = r.string()?;
    let [
        inter_token_latency_s,
        ttft_s,
        end_to_end_latency_s,
        request_output_throughput_token_per_s,
        scheduled_start_s,
        actual_start_s,
        dispatch_delay_s,
        generation_throughput_token_per_s,
    ] = r.array(Reader::f64)?;
    let [
        number_total_tokens,
        number_output_tokens,
        number_input_tokens,
        number_input_tokens_actual,
        number_stream_events,
        number_reasoning_tokens,
        generated_tokens,
        prompt_tokens,
    ] = r.array(Reader::u64)?;
    let [
        tpot_s,
        scheduled_ttft_s,
        scheduled_end_to_end_latency_s,
        ttft_any_s,
        connect_s,
        pre_send_s,
    ] = r.array(Reader::opt_f64)?;
    let [
        server_prompt_tokens,
        server_completion_tokens,
        server_reasoning_tokens,
        conversation_id,
        turn,
        tokenizer_generated_tokens,
    ] = r.array(Reader::opt_u64)?;
    let warmup = r.u8()? != 0;
    let new_connection = match r.u8()? {
        0 => None,
        n => Some(n == 2),
    };
    let output_tokens_source = r.source()?;
    let token_counts_source = r.source()?;
    let error_kind = r.opt_string()?;
    let dataset_id = r.opt_json()?;
    let metrics = Metrics {
        error_code,
        error_msg,
        inter_token_latency_s,
        ttft_s,
        end_to_end_latency_s,
        request_output_throughput_token_per_s,
        number_total_tokens,
        number_output_tokens,
        number_input_tokens,
        number_input_tokens_actual,
        tpot_s,
        number_stream_events,
        server_prompt_tokens,
        server_completion_tokens,
        scheduled_start_s,
        actual_start_s,
        dispatch_delay_s,
        scheduled_ttft_s,
        scheduled_end_to_end_latency_s,
        warmup,
        ttft_any_s,
        number_reasoning_tokens,
        output_tokens_source,
        server_reasoning_tokens,
        dataset_id,
        conversation_id,
        turn,
        error_kind,
        generated_tokens,
        prompt_tokens,
        token_counts_source,
        generation_throughput_token_per_s,
        tokenizer_generated_tokens,
        new_connection,
        connect_s,
        pre_send_s,
    };
    let answer = match r.u8()? {
        0 => None,
        _ => {
            let generated_text = r.string()?;
            let request_config: RequestConfig =
                serde_json::from_value(r.json()?).map_err(|e| e.to_string())?;
            let outcome = match r.u8()? {
                0 => Outcome::Match,
                1 => Outcome::Mismatch,
                _ => Outcome::Error,
            };
            Some(Box::new(ScoredAnswer {
                generated_text,
                request_config,
                outcome,
            }))
        }
    };
    if r.pos != bytes.len() {
        return Err(format!("{} bytes left after a record", bytes.len() - r.pos));
    }
    Ok(RunRecord {
        index,
        max_tokens,
        metrics,
        answer,
    })
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn u8(&mut self, x: u8) {
        self.0.push(x);
    }

    fn u64(&mut self, x: u64) {
        self.0.extend_from_slice(&x.to_le_bytes());
    }

    fn f64(&mut self, x: f64) {
        self.u64(x.to_bits());
    }

    fn opt_u64(&mut self, x: Option<u64>) {
        match x {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                self.u64(x);
            }
        }
    }

    fn opt_f64(&mut self, x: Option<f64>) {
        self.opt_u64(x.map(f64::to_bits));
    }

    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }

    /// `tokenizer` and `server` as one byte, anything else as text.
    fn source(&mut self, s: &str) {
        match s {
            "tokenizer" => self.u8(0),
            "server" => self.u8(1),
            other => {
                self.u8(2);
                self.str(other);
            }
        }
    }

    fn json(&mut self, v: &Value) {
        self.str(&v.to_string());
    }

    fn opt_json(&mut self, v: Option<&Value>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.json(v);
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("a record ends early, at byte {}", self.pos))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn f64(&mut self) -> Result<f64, String> {
        self.u64().map(f64::from_bits)
    }

    fn opt_u64(&mut self) -> Result<Option<u64>, String> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(self.u64()?),
        })
    }

    fn opt_f64(&mut self) -> Result<Option<f64>, String> {
        Ok(self.opt_u64()?.map(f64::from_bits))
    }

    fn array<T: Copy + Default, const N: usize>(
        &mut self,
        read: impl Fn(&mut Self) -> Result<T, String>,
    ) -> Result<[T; N], String> {
        let mut out = [T::default(); N];
        for x in &mut out {
            *x = read(self)?;
        }
        Ok(out)
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.u64()? as usize;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())
    }

    fn opt_string(&mut self) -> Result<Option<String>, String> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(self.string()?),
        })
    }

    fn source(&mut self) -> Result<String, String> {
        Ok(match self.u8()? {
            0 => "tokenizer".to_string(),
            1 => "server".to_string(),
            _ => self.string()?,
        })
    }

    fn json(&mut self) -> Result<Value, String> {
        let text = self.string()?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }

    fn opt_json(&mut self) -> Result<Option<Value>, String> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(self.json()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::stats::testing::record;

    #[test]
    fn every_field_comes_back_bit_for_bit() {
        let mut m = record(0.1234567890123, 2.5, 42, Some(503));
        m.error_msg = "Service Unavailable: «busy»".into();
        m.tpot_s = Some(1.0 / 3.0);
        m.scheduled_ttft_s = Some(-0.0);
        m.ttft_any_s = Some(0.1);
        m.connect_s = Some(1e-300);
        m.pre_send_s = Some(0.0002);
        m.server_prompt_tokens = Some(7);
        m.server_completion_tokens = Some(0);
        m.server_reasoning_tokens = Some(u64::MAX);
        m.conversation_id = Some(3);
        m.turn = Some(2);
        m.tokenizer_generated_tokens = Some(41);
        m.warmup = true;
        m.new_connection = Some(false);
        m.output_tokens_source = "server".into();
        m.token_counts_source = "custom".into();
        m.error_kind = Some("http".into());
        m.dataset_id = Some(serde_json::json!({"id": [1, "x"]}));
        let mut r = RunRecord::new(9, m, Some(128));
        r.answer = Some(Box::new(ScoredAnswer {
            generated_text: "one two 3".into(),
            request_config: RequestConfig::new("m", "prompt", 5),
            outcome: Outcome::Mismatch,
        }));
        for r in [
            r.clone(),
            RunRecord::new(0, record(0.0, 0.0, 0, None), None),
        ] {
            let mut bytes = Vec::new();
            encode(&r, &mut bytes);
            let len = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
            assert_eq!(len + 4, bytes.len());
            let back = decode(&bytes[4..]).unwrap();
            assert_eq!(
                format!("{back:?}"),
                format!("{r:?}"),
                "bit for bit, -0.0 included"
            );
            assert!(decode(&bytes[4..bytes.len() - 1]).is_err());
        }
    }
}
