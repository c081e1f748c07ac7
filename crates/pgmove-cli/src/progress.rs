//! Progress on a terminal: objects done/total, the current one, elapsed time. Silent when
//! stderr is not a terminal or with --quiet, so scripts and logs stay clean.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub struct Bar(Option<ProgressBar>);

impl Bar {
    pub fn new(total: usize, title: &str, quiet: bool) -> Bar {
        if quiet || !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let pb = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb.set_prefix(title.to_string());
        Bar(Some(pb))
    }
    pub fn tick(&self, done: usize, _total: usize, name: &str) {
        if let Some(pb) = &self.0 {
            pb.set_position(done as u64);
            pb.set_message(name.to_string());
        }
    }
    /// What long-running work is doing now (e.g. index builds), in place of the item name.
    pub fn detail(&self, what: &str) {
        if let (Some(pb), false) = (&self.0, what.is_empty()) {
            pb.set_message(format!("building {what}"));
        }
    }
    pub fn finish(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}
