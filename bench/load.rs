//! Drives the external load generator, `oha`, and reads its JSON summary.

use crate::procs::Error;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// One fixed-duration, fixed-concurrency run.
pub struct Load<'a> {
    pub url: &'a str,
    pub connections: usize,
    pub duration: Duration,
    pub headers: &'a [String],
}

/// What one run measured. Latencies in milliseconds.
#[derive(Clone, Debug)]
pub struct Measured {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Answers with a 2xx status.
    pub ok: u64,
    /// Answers with any other status, plus transport errors (requests cut
    /// off by the end of the run are not counted).
    pub failed: u64,
}

impl Load<'_> {
    /// Runs `oha` (no TUI, JSON output) and parses its summary.
    pub fn run(&self, oha: &Path) -> Result<Measured, Error> {
        let mut command = Command::new(oha);
        command
            .arg("--no-tui")
            .arg("--output-format")
            .arg("json")
            .arg("-z")
            .arg(format!("{}ms", self.duration.as_millis()))
            .arg("-c")
            .arg(self.connections.to_string());
        for header in self.headers {
            command.arg("-H").arg(header);
        }
        command.arg(self.url);
        let output = command.output()?;
        if !output.status.success() {
            return Err(format!(
                "oha failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        parse(&output.stdout)
    }
}

fn parse(json: &[u8]) -> Result<Measured, Error> {
    let v: serde_json::Value = serde_json::from_slice(json)?;
    let number = |pointer: &str| -> Result<f64, Error> {
        v.pointer(pointer)
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| format!("oha's JSON has no number at {pointer}").into())
    };
    let mut ok = 0;
    let mut failed = 0;
    if let Some(codes) = v["statusCodeDistribution"].as_object() {
        for (code, count) in codes {
            let count = count.as_u64().unwrap_or(0);
            if code.starts_with('2') {
                ok += count;
            } else {
                failed += count;
            }
        }
    }
    if let Some(errors) = v["errorDistribution"].as_object() {
        for (error, count) in errors {
            if !error.contains("deadline") {
                failed += count.as_u64().unwrap_or(0);
            }
        }
    }
    Ok(Measured {
        rps: number("/summary/requestsPerSec")?,
        p50_ms: number("/latencyPercentiles/p50")? * 1000.0,
        p99_ms: number("/latencyPercentiles/p99")? * 1000.0,
        max_ms: number("/summary/slowest")? * 1000.0,
        ok,
        failed,
    })
}

/// `oha --version`.
pub fn version(oha: &Path) -> String {
    Command::new(oha)
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|_| "oha (version unknown)".into())
}
