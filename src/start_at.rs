//! A shared wall-clock start (`--start-at`, config key `start_at`, `LLMPERF_START_AT`): the shards of a split
//! run start whenever their pods are scheduled, so each process may be told one time to begin at. The process
//! does all its setup (settings, dataset, tokenizer, endpoint check, simulator), then waits until that time
//! before the first request; a time already past starts at once, with a warning.
//!
//! Accepted forms: RFC 3339 (`2026-05-01T12:00:00Z`, `2026-05-01T14:00:00.5+02:00`; `T` or a space between
//! date and time) or Unix seconds (`1777636800`, `1777636800.25`). The wait compares against the system's
//! wall clock, so hosts that should start together need synchronised clocks (NTP keeps them within
//! milliseconds).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Error;

/// How the key is named in errors.
const KEY: &str = "start_at (--start-at, LLMPERF_START_AT)";

/// Parses `text` as RFC 3339 or Unix seconds; errors name the key and show both forms.
pub(crate) fn parse(text: &str) -> Result<SystemTime, Error> {
    let t = text.trim();
    let bad = |why: &str| {
        Error::Config(format!(
            "{KEY} '{t}' {why}: give an RFC 3339 time such as 2026-05-01T12:00:00Z (UTC; or with an offset, \
             +02:00) or Unix seconds such as 1777636800"
        ))
    };
    if t.is_empty() {
        return Err(bad("is empty"));
    }
    let seconds = if t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        t.parse::<f64>()
            .ok()
            .filter(|s| s.is_finite())
            .ok_or_else(|| bad("is not a number of seconds"))?
    } else {
        rfc3339_seconds(t).map_err(&bad)?
    };
    if seconds < 0.0 {
        return Err(bad("is before 1970"));
    }
    UNIX_EPOCH
        .checked_add(Duration::from_secs_f64(seconds))
        .ok_or_else(|| bad("is too far in the future"))
}

/// Seconds since the Unix epoch of an RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`).
fn rfc3339_seconds(t: &str) -> Result<f64, &'static str> {
    let b = t.as_bytes();
    let digits = |from: usize, n: usize| -> Result<i64, &'static str> {
        let s = b
            .get(from..from + n)
            .ok_or("is too short for a date and time")?;
        if !s.iter().all(u8::is_ascii_digit) {
            return Err("is not a date and time (YYYY-MM-DDTHH:MM:SSZ)");
        }
        Ok(s.iter().fold(0, |acc, d| acc * 10 + i64::from(d - b'0')))
    };
    let sep = |at: usize, allowed: &[u8]| -> Result<(), &'static str> {
        match b.get(at) {
            Some(c) if allowed.contains(c) => Ok(()),
            _ => Err("is not a date and time (YYYY-MM-DDTHH:MM:SSZ)"),
        }
    };
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    sep(4, b"-")?;
    sep(7, b"-")?;
    sep(10, b"Tt ")?;
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    sep(13, b":")?;
    sep(16, b":")?;
    let mut i = 19;
    let mut fraction = 0.0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Err("has a '.' without fraction digits");
        }
        fraction = format!("0.{}", &t[start..i])
            .parse()
            .map_err(|_| "has a bad fraction")?;
    }
    let offset_s = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() => {
            sep(i + 3, b":")?;
            let (h, m) = (digits(i + 1, 2)?, digits(i + 4, 2)?);
            if h > 23 || m > 59 {
                return Err("has an offset out of range");
            }
            let s = h * 3600 + m * 60;
            if *sign == b'+' { s } else { -s }
        }
        None => {
            return Err("has no time zone: end it with Z for UTC (or an offset such as +02:00)");
        }
        _ => return Err("is not a date and time (YYYY-MM-DDTHH:MM:SSZ)"),
    };
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return Err("has a month out of range"),
    };
    // Second 60 is RFC 3339's leap second; it is taken as the next second's start.
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return Err("has a field out of range");
    }
    let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Ok((local - offset_s) as f64 + fraction)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Waits until the wall clock reads `at`, or until `stop` is stopped (then the caller's signal handling skips
/// the runs). Re-reads the wall clock at least every 250 ms, so a clock stepped by NTP during a long wait is
/// followed; it never returns before `at` unless stopped.
pub(crate) async fn wait_until(at: SystemTime, stop: &crate::stop::StopHandle) {
    match at.duration_since(SystemTime::now()) {
        Err(late) => log::warn!(
            "start_at {:.3} (Unix seconds) was {:.1} s ago: starting now, not in step with the other shards; \
             give a later --start-at",
            unix(at),
            late.duration().as_secs_f64()
        ),
        Ok(left) => {
            log::info!(
                "set up; waiting {:.1} s for start_at {:.3} (Unix seconds) before the first request",
                left.as_secs_f64(),
                unix(at)
            );
            while !stop.is_stopped() {
                match at.duration_since(SystemTime::now()) {
                    Ok(left) if !left.is_zero() => {
                        actix_rt::time::sleep(left.min(Duration::from_millis(250))).await;
                    }
                    _ => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> f64 {
        unix(parse(text).unwrap_or_else(|e| panic!("{text}: {e}")))
    }

    fn err(text: &str) -> String {
        parse(text).expect_err(text).to_string()
    }

    #[test]
    fn rfc3339_in_utc_and_with_offsets() {
        assert_eq!(secs("1970-01-01T00:00:00Z"), 0.0);
        // `date -u -d 2026-05-01T12:00:00Z +%s`
        assert_eq!(secs("2026-05-01T12:00:00Z"), 1_777_636_800.0);
        assert_eq!(secs("2026-05-01t12:00:00z"), 1_777_636_800.0);
        assert_eq!(secs("2026-05-01 12:00:00Z"), 1_777_636_800.0);
        assert_eq!(secs("2026-05-01T14:00:00+02:00"), 1_777_636_800.0);
        assert_eq!(secs("2026-05-01T07:30:00-04:30"), 1_777_636_800.0);
        assert_eq!(secs("2026-05-01T12:00:00.25Z"), 1_777_636_800.25);
        // Leap days, the 400-year rule, and the leap second.
        assert_eq!(secs("2000-02-29T00:00:00Z"), 951_782_400.0);
        assert_eq!(secs("2016-12-31T23:59:60Z"), 1_483_228_800.0);
    }

    #[test]
    fn unix_seconds() {
        assert_eq!(secs("1777636800"), 1_777_636_800.0);
        assert_eq!(secs(" 1777636800.5 "), 1_777_636_800.5);
    }

    #[test]
    fn bad_values_name_the_key_and_the_forms() {
        for (text, why) in [
            ("tomorrow", "not a date and time"),
            ("2026-05-01T12:00:00", "no time zone"),
            ("2026-05-01", "not a date and time"),
            ("2026-05-01T12:00", "too short"),
            ("2026-02-29T12:00:00Z", "out of range"),
            ("2026-13-01T12:00:00Z", "month out of range"),
            ("2026-05-01T24:00:00Z", "out of range"),
            ("2026-05-01T12:00:00.Z", "without fraction digits"),
            ("2026-05-01T12:00:00+2:00", "not a date and time"),
            ("1.2.3", "not a number"),
            ("", "is empty"),
        ] {
            let e = err(text);
            assert!(e.contains(why), "{text}: {e}");
            assert!(e.contains("--start-at"), "{e}");
            assert!(
                e.contains("2026-05-01T12:00:00Z") && e.contains("Unix seconds"),
                "{e}"
            );
        }
    }
}
