//! Durations as people type them, for every time-valued flag and config key: `500ms`, `30s`, `5m`, `1h`,
//! combined (`1h30m`, `2m30s`), with decimals (`1.5s`), and plain numbers in the key's own unit — seconds for
//! `--timeout 600` (as LLMPerf's `--timeout`), milliseconds for the simulator's `*_ms` keys.
//!
//! Units: `us` (or `µs`), `ms`, `s` (`sec`), `m` (`min`), `h` (`hr`). Negative values are refused.
//!
//! The clap value parsers ([`seconds_arg`], [`millis_arg`]) make clap's error name the flag; the serde
//! helpers ([`serde_seconds`], [`serde_millis`]) let the config file and the `LLMPERF_*` environment give the
//! same text, and always write a plain number back (the layers are merged through JSON).
//!
//! ```text
//! assert_eq!(parse("5m", Unit::Seconds), Ok(300.0));
//! assert_eq!(parse("600", Unit::Seconds), Ok(600.0));
//! assert_eq!(parse("1.5s", Unit::Milliseconds), Ok(1500.0));
//! assert!(parse("5 parsecs", Unit::Seconds).is_err());
//! ```

/// The unit a plain number is in, and the unit [`parse`] answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Seconds (`--timeout`, `--duration`, the per-request timeouts).
    Seconds,
    /// Milliseconds (the simulator's `ttft_ms`, `itl_ms`, …).
    Milliseconds,
}

impl Unit {
    fn seconds(self) -> f64 {
        match self {
            Unit::Seconds => 1.0,
            Unit::Milliseconds => 1e-3,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Unit::Seconds => "seconds",
            Unit::Milliseconds => "milliseconds",
        }
    }
}

/// Seconds in one `unit` suffix, `None` if it is not a unit.
fn suffix_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" | "hr" | "hrs" => 3600.0,
        _ => return None,
    })
}

/// What a bad duration is told: the forms accepted, in the key's unit.
fn explain(text: &str, plain: Unit) -> String {
    format!(
        "'{text}' is not a duration: write a number of {} or a number with a unit, e.g. 500ms, 30s, 5m, 1h \
         (or combined, 1h30m)",
        plain.name()
    )
}

/// Parses `text` into a number of `plain` units (a plain number is already in them). Errors say which forms
/// are accepted; the caller adds the flag or key.
pub fn parse(text: &str, plain: Unit) -> Result<f64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(explain(text, plain));
    }
    if let Ok(v) = t.parse::<f64>() {
        return if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(explain(text, plain))
        };
    }
    // A sequence of <number><unit>.
    let mut total = 0.0;
    let mut rest = t;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| explain(text, plain))?;
        let unit_end = rest[num_end..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .map_or(rest.len(), |i| num_end + i);
        let number: f64 = rest[..num_end].parse().map_err(|_| explain(text, plain))?;
        let unit =
            suffix_seconds(rest[num_end..unit_end].trim()).ok_or_else(|| explain(text, plain))?;
        total += number * unit;
        rest = &rest[unit_end..];
    }
    let v = total / plain.seconds();
    if v.is_finite() {
        Ok(v)
    } else {
        Err(explain(text, plain))
    }
}

/// Seconds from text: a plain number is seconds.
pub fn parse_seconds(text: &str) -> Result<f64, String> {
    parse(text, Unit::Seconds)
}

/// clap value parser for a seconds flag (`--timeout 600`, `--timeout 10m`): seconds.
pub fn seconds_arg(text: &str) -> Result<f64, String> {
    parse(text, Unit::Seconds)
}

/// clap value parser for a milliseconds flag (`--ttft-ms 100`, `--ttft-ms 0.1s`): milliseconds.
pub fn millis_arg(text: &str) -> Result<f64, String> {
    parse(text, Unit::Milliseconds)
}

/// clap value parser for a whole number of milliseconds (`--close-delay-ms 5`, `--idle-close-ms 2s`).
pub fn whole_millis_arg(text: &str) -> Result<u64, String> {
    let ms = parse(text, Unit::Milliseconds)?;
    Ok(ms.round() as u64)
}

/// A number or a duration's text from a config layer, into `plain` units.
fn from_value<E: serde::de::Error>(v: serde_json::Value, plain: Unit) -> Result<Option<f64>, E> {
    use serde_json::Value;
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_f64() {
            Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
            _ => Err(E::custom(explain(&n.to_string(), plain))),
        },
        Value::String(s) => parse(&s, plain).map(Some).map_err(E::custom),
        other => Err(E::custom(explain(&other.to_string(), plain))),
    }
}

/// Serde for an `Option<f64>` of seconds that also reads `"5m"` (config file, environment): written back as a
/// number.
pub mod serde_seconds {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Unit;

    /// Reads a number (seconds) or a duration's text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        super::from_value(serde_json::Value::deserialize(d)?, Unit::Seconds)
    }

    /// Writes the number of seconds.
    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) => s.serialize_some(x),
            None => s.serialize_none(),
        }
    }
}

/// Serde for milliseconds keys (the simulator's `*_ms`) that also read `"2s"`: `f64`, `u64` and their
/// `Option`s; written back as numbers.
pub mod serde_millis {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Unit;

    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        super::from_value(serde_json::Value::deserialize(d)?, Unit::Milliseconds)
    }

    fn missing<E: serde::de::Error>() -> E {
        E::custom("a duration is required here, e.g. 100 (milliseconds) or 0.1s")
    }

    /// `f64` milliseconds.
    pub mod f64 {
        use super::*;

        /// Reads a number (milliseconds) or a duration's text.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
            read(d)?.ok_or_else(missing)
        }

        /// Writes the number.
        pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
            v.serialize(s)
        }
    }

    /// `Option<f64>` milliseconds.
    pub mod option_f64 {
        use super::*;

        /// Reads a number (milliseconds) or a duration's text.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            read(d)
        }

        /// Writes the number.
        pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            v.serialize(s)
        }
    }

    /// `u64` milliseconds (rounded).
    pub mod u64 {
        use super::*;

        /// Reads a number (milliseconds) or a duration's text.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
            Ok(read(d)?.ok_or_else(missing)?.round() as u64)
        }

        /// Writes the number.
        pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
            v.serialize(s)
        }
    }

    /// `Option<u64>` milliseconds (rounded).
    pub mod option_u64 {
        use super::*;

        /// Reads a number (milliseconds) or a duration's text.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
            Ok(read(d)?.map(|ms| ms.round() as u64))
        }

        /// Writes the number.
        pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
            v.serialize(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_examples_hold() {
        assert_eq!(parse("5m", Unit::Seconds), Ok(300.0));
        assert_eq!(parse("600", Unit::Seconds), Ok(600.0));
        assert_eq!(parse("1.5s", Unit::Milliseconds), Ok(1500.0));
        assert!(parse("5 parsecs", Unit::Seconds).is_err());
    }

    #[test]
    fn units_and_plain_numbers() {
        let s = |t: &str| parse(t, Unit::Seconds);
        assert_eq!(s("600"), Ok(600.0));
        assert_eq!(s("1.5"), Ok(1.5));
        assert_eq!(s("0"), Ok(0.0));
        assert_eq!(s("500ms"), Ok(0.5));
        assert_eq!(s("30s"), Ok(30.0));
        assert_eq!(s("5m"), Ok(300.0));
        assert_eq!(s("5min"), Ok(300.0));
        assert_eq!(s("1h"), Ok(3600.0));
        assert_eq!(s("1h30m"), Ok(5400.0));
        assert_eq!(s("2m30s"), Ok(150.0));
        assert_eq!(s(" 1.5s "), Ok(1.5));
        assert_eq!(s("250us"), Ok(0.00025));
        let ms = |t: &str| parse(t, Unit::Milliseconds);
        assert_eq!(ms("100"), Ok(100.0));
        assert_eq!(ms("0.1s"), Ok(100.0));
        assert_eq!(ms("2m"), Ok(120_000.0));
        assert_eq!(whole_millis_arg("1.5s"), Ok(1500));
    }

    #[test]
    fn bad_text_is_refused_with_the_forms_accepted() {
        for bad in [
            "",
            "abc",
            "5x",
            "-5",
            "-5s",
            "m",
            "5m3",
            "s5",
            "1..2s",
            "inf",
            "NaN",
            "5 parsecs",
        ] {
            let e = parse(bad, Unit::Seconds).expect_err(bad);
            assert!(e.contains("500ms, 30s, 5m, 1h"), "{bad}: {e}");
            assert!(e.contains("number of seconds"), "{bad}: {e}");
        }
        let e = parse("x", Unit::Milliseconds).unwrap_err();
        assert!(e.contains("number of milliseconds"), "{e}");
    }

    #[derive(Debug, serde::Deserialize, serde::Serialize)]
    struct Keys {
        #[serde(default, with = "serde_seconds")]
        timeout: Option<f64>,
        #[serde(default, with = "serde_millis::u64")]
        delay_ms: u64,
    }

    #[test]
    fn config_values_take_numbers_or_text_and_write_numbers() {
        let k: Keys = serde_json::from_str(r#"{"timeout": "5m", "delay_ms": "1s"}"#).unwrap();
        assert_eq!((k.timeout, k.delay_ms), (Some(300.0), 1000));
        assert_eq!(
            serde_json::to_string(&k).unwrap(),
            r#"{"timeout":300.0,"delay_ms":1000}"#
        );
        let k: Keys = serde_json::from_str(r#"{"timeout": 90, "delay_ms": 5}"#).unwrap();
        assert_eq!((k.timeout, k.delay_ms), (Some(90.0), 5));
        let e = serde_json::from_str::<Keys>(r#"{"timeout": "soon"}"#).unwrap_err();
        assert!(e.to_string().contains("'soon' is not a duration"), "{e}");
        let e = serde_json::from_str::<Keys>(r#"{"timeout": -1}"#).unwrap_err();
        assert!(e.to_string().contains("not a duration"), "{e}");
    }
}
