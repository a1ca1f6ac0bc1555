//! Measurement helpers: latency percentiles, the generator's own CPU time, and a tiny JSON
//! writer (one flat object per line; serde_json is not a dependency of the crate and the
//! output is a handful of numbers and strings).

use std::fmt::Write as _;
use std::time::Duration;

/// User + system CPU seconds of this process (all threads) so far, from `/proc/self/stat`
/// (fields 14 and 15, in clock ticks; Linux's `USER_HZ` is 100 on every architecture that
/// matters here). `None` where /proc is unavailable.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let after = stat.rsplit(')').next()?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Latency samples in microseconds (u32: up to 71 minutes, 4 bytes a sample).
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples: Vec<u32>,
    sorted: bool,
}

impl Latencies {
    pub fn record(&mut self, d: Duration) {
        self.samples
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
        self.sorted = false;
    }

    pub fn merge(&mut self, other: Latencies) {
        self.samples.extend(other.samples);
        self.sorted = false;
    }

    fn sort(&mut self) {
        if !self.sorted {
            self.samples.sort_unstable();
            self.sorted = true;
        }
    }

    /// The `p`-quantile (0..=1) in milliseconds, nearest rank; 0 without samples.
    pub fn quantile_ms(&mut self, p: f64) -> f64 {
        self.sort();
        if self.samples.is_empty() {
            return 0.0;
        }
        let rank = (p * self.samples.len() as f64).ceil() as usize;
        let idx = rank.clamp(1, self.samples.len()) - 1;
        f64::from(self.samples[idx]) / 1000.0
    }

    pub fn max_ms(&mut self) -> f64 {
        self.sort();
        self.samples.last().map_or(0.0, |&v| f64::from(v) / 1000.0)
    }

    pub fn mean_ms(&self) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        let sum: u64 = self.samples.iter().map(|&v| u64::from(v)).sum();
        sum as f64 / self.samples.len() as f64 / 1000.0
    }
}

/// Builds one JSON object on one line, fields in insertion order.
#[derive(Debug, Default)]
pub struct JsonLine {
    out: String,
}

impl JsonLine {
    pub fn new() -> JsonLine {
        JsonLine::default()
    }

    fn key(&mut self, k: &str) {
        self.out.push(if self.out.is_empty() { '{' } else { ',' });
        push_str(&mut self.out, k);
        self.out.push(':');
    }

    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        push_str(&mut self.out, v);
        self
    }

    pub fn num(&mut self, k: &str, v: f64) -> &mut Self {
        self.key(k);
        if v.is_finite() {
            // Three decimals are plenty for ms and ops/s; integers print without them.
            if v.fract() == 0.0 && v.abs() < 1e15 {
                let _ = write!(self.out, "{}", v as i64);
            } else {
                let _ = write!(self.out, "{v:.3}");
            }
        } else {
            self.out.push_str("null");
        }
        self
    }

    pub fn int(&mut self, k: &str, v: u64) -> &mut Self {
        self.key(k);
        let _ = write!(self.out, "{v}");
        self
    }

    /// A value that is already JSON (an array or object built by the caller).
    pub fn raw(&mut self, k: &str, json: &str) -> &mut Self {
        self.key(k);
        self.out.push_str(json);
        self
    }

    pub fn finish(&mut self) -> String {
        if self.out.is_empty() {
            self.out.push('{');
        }
        let mut s = std::mem::take(&mut self.out);
        s.push('}');
        s
    }
}

/// A JSON string literal.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `[a,b,c]` of numbers with three decimals (`null` for NaN).
pub fn num_array(values: &[f64]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| {
            if v.is_finite() {
                format!("{v:.3}")
            } else {
                "null".to_owned()
            }
        })
        .collect();
    format!("[{}]", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let mut l = Latencies::default();
        for ms in 1..=100u64 {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.quantile_ms(0.5), 50.0);
        assert_eq!(l.quantile_ms(0.99), 99.0);
        assert_eq!(l.max_ms(), 100.0);
        assert_eq!(Latencies::default().quantile_ms(0.5), 0.0);
    }

    #[test]
    fn json_line_escapes_and_orders() {
        let line = JsonLine::new()
            .str("a", "x\"y")
            .num("b", 2.0)
            .num("c", 0.5)
            .int("d", 7)
            .raw("e", "[1]")
            .finish();
        assert_eq!(line, r#"{"a":"x\"y","b":2,"c":0.500,"d":7,"e":[1]}"#);
    }

    #[test]
    fn cpu_seconds_reads_proc() {
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(cpu_seconds().is_some());
        }
    }
}
