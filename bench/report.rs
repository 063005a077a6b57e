//! The results file: the machine, the summary table (pixgate's figure, the
//! reference measured in the same run, their ratio, the target) and every
//! run's numbers.

use std::fmt::Write as _;

/// One line of the summary table.
pub struct Row {
    pub scenario: &'static str,
    pub metric: String,
    pub gateway: String,
    /// `-` when the scenario has no reference.
    pub reference: String,
    /// `-` when there is nothing to divide.
    pub ratio: String,
    pub target: String,
    /// `None` for a figure shown for context, with no target.
    pub met: Option<bool>,
}

impl Row {
    pub fn new(scenario: &'static str, metric: impl Into<String>) -> Self {
        Self {
            scenario,
            metric: metric.into(),
            gateway: "-".into(),
            reference: "-".into(),
            ratio: "-".into(),
            target: "-".into(),
            met: None,
        }
    }

    pub fn gateway(mut self, value: impl Into<String>) -> Self {
        self.gateway = value.into();
        self
    }

    pub fn reference(mut self, value: impl Into<String>) -> Self {
        self.reference = value.into();
        self
    }

    /// Sets the ratio column to `gateway / reference`.
    pub fn ratio_of(mut self, gateway: f64, reference: f64) -> Self {
        self.ratio = if reference > 0.0 {
            format!("{:.2}x", gateway / reference)
        } else {
            "-".into()
        };
        self
    }

    pub fn ratio_text(mut self, text: impl Into<String>) -> Self {
        self.ratio = text.into();
        self
    }

    pub fn target(mut self, target: impl Into<String>, met: bool) -> Self {
        self.target = target.into();
        self.met = Some(met);
        self
    }
}

/// Facts about the machine and the tools, for the header.
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub memory: String,
    pub kernel: String,
}

impl Machine {
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|info| {
                let kib: f64 = info
                    .lines()
                    .find_map(|line| line.strip_prefix("MemTotal:"))?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()?;
                Some(format!("{:.1} GiB", kib / 1024.0 / 1024.0))
            })
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| k.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        Self {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            memory,
            kernel,
        }
    }
}

/// Everything the results file says.
pub struct Report {
    pub title: String,
    pub machine: Machine,
    pub date: String,
    pub commit: Option<String>,
    pub mode: String,
    pub tools: Vec<String>,
    pub method: Vec<String>,
    pub rows: Vec<Row>,
    /// Per scenario: a heading and the raw figures of every run.
    pub details: Vec<(String, Vec<String>)>,
    /// Hand-written notes appended verbatim (the profile of missed targets).
    pub notes: Option<String>,
    pub elapsed_secs: f64,
    /// `/proc/loadavg` before and after the run (other work on the machine).
    pub load_before: String,
    pub load_after: String,
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" / "))
        .unwrap_or_else(|_| "unknown".into())
}

impl Report {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(out, "# {}\n", self.title);
        let _ = writeln!(
            out,
            "Written by `bench/run.sh{}`; do not edit by hand (hand-written notes live in `bench/PROFILE.md` and are copied in below).\n",
            if self.mode.starts_with("quick") {
                " --quick"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "| | |\n|---|---|");
        let _ = writeln!(out, "| date (UTC) | {} |", self.date);
        let _ = writeln!(
            out,
            "| machine | {} cores, {}, {} RAM, Linux {} |",
            m.cores, m.cpu_model, m.memory, m.kernel
        );
        if let Some(commit) = &self.commit {
            let _ = writeln!(out, "| pixgate commit | `{commit}` |");
        }
        let _ = writeln!(out, "| mode | {} |", self.mode);
        for tool in &self.tools {
            let _ = writeln!(out, "| tool | {tool} |");
        }
        let _ = writeln!(out, "| harness run time | {:.0} s |", self.elapsed_secs);
        let _ = writeln!(
            out,
            "| load average (1/5/15 min) | before {}; after {} |",
            self.load_before, self.load_after
        );
        let _ = writeln!(out, "\n## Method\n");
        for line in &self.method {
            let _ = writeln!(out, "- {line}");
        }
        let _ = writeln!(out, "\n## Results\n");
        let _ = writeln!(
            out,
            "| scenario | metric | pixgate | reference (same run) | ratio | target | met |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        for row in &self.rows {
            let met = match row.met {
                Some(true) => "yes",
                Some(false) => "**NO**",
                None => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                row.scenario, row.metric, row.gateway, row.reference, row.ratio, row.target, met
            );
        }
        let missed: Vec<&Row> = self.rows.iter().filter(|r| r.met == Some(false)).collect();
        let judged = self.rows.iter().filter(|r| r.met.is_some()).count();
        let _ = writeln!(
            out,
            "\n{} of {judged} targets met{}.",
            judged - missed.len(),
            if missed.is_empty() {
                String::new()
            } else {
                format!(
                    "; missed: {}",
                    missed
                        .iter()
                        .map(|r| format!("{} ({})", r.scenario, r.metric))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        let _ = writeln!(out, "\n## Every run\n");
        for (heading, lines) in &self.details {
            let _ = writeln!(out, "**{heading}**\n");
            for line in lines {
                let _ = writeln!(out, "- {line}");
            }
            let _ = writeln!(out);
        }
        if let Some(notes) = &self.notes {
            let _ = writeln!(out, "{}", notes.trim_end());
        }
        out
    }

    pub fn missed(&self) -> usize {
        self.rows.iter().filter(|r| r.met == Some(false)).count()
    }
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// `values` as a short list for the per-run lines.
pub fn list(values: &[f64], decimals: usize) -> String {
    values
        .iter()
        .map(|v| format!("{v:.decimals$}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
