//! The plain view: one line per step event around the engine's usual output (banners, host
//! lines, PLAY RECAP per step), for logs, pipes and CI.

use super::{fmt_duration, summary_lines, Outcome, Row, View};
use crate::plan::Decision;
use kplay_engine::output::console::ConsoleOutput;
use kplay_engine::output::{Output, OutputOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub struct PlainView {
    opts: OutputOptions,
}

impl PlainView {
    pub fn new(opts: OutputOptions) -> PlainView {
        PlainView { opts }
    }

    fn line(&self, text: &str) {
        kplay_engine::output::sink::line(text);
    }
}

impl View for PlainView {
    fn plan(&self, rows: &[(&'static str, Decision)], state_path: &Path) {
        self.line(&format!("kplay deploy (state: {})", state_path.display()));
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        for (name, what) in rows {
            self.line(&format!("  {name:<width$}  {}", what.describe()));
        }
    }

    fn step_started(&self, name: &'static str, n: usize, of: usize, playbooks: &[PathBuf]) {
        let files: Vec<String> = playbooks.iter().map(|p| p.display().to_string()).collect();
        self.line(&format!("\n==> [{n}/{of}] {name}: {}", files.join(", ")));
    }

    fn engine_output(&self) -> Arc<dyn Output> {
        Arc::new(ConsoleOutput::new(self.opts))
    }

    fn step_finished(&self, name: &'static str, outcome: &Outcome) {
        if let Outcome::Ran { code, elapsed, .. } = outcome {
            let word = if *code == 0 {
                "done".to_string()
            } else {
                format!("FAILED (exit {code})")
            };
            self.line(&format!("<== {name}: {word} in {}", fmt_duration(*elapsed)));
        }
    }

    fn finish(&self, rows: &[Row], total: Duration, notes: &[String]) {
        self.line("");
        for l in summary_lines(rows, total) {
            self.line(&l);
        }
        for n in notes {
            self.line(n);
        }
    }
}
