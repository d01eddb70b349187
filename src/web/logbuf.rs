//! The last log lines, kept in memory for the console: a tracing layer that formats each
//! event as one line (level, message, fields) into a ring of [`KEEP`] lines. Log lines never
//! carry a secret (a project rule), so showing them to the logged-in operator is safe.

use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::Mutex;
use tracing::field::{Field, Visit};

pub const KEEP: usize = 200;

static LINES: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// The last `n` lines, oldest first.
pub fn last(n: usize) -> Vec<String> {
    let lines = LINES.lock().unwrap_or_else(|p| p.into_inner());
    lines
        .iter()
        .skip(lines.len().saturating_sub(n))
        .cloned()
        .collect()
}

fn push(line: String) {
    let mut lines = LINES.lock().unwrap_or_else(|p| p.into_inner());
    if lines.len() == KEEP {
        lines.pop_front();
    }
    lines.push_back(line);
}

/// Add to the subscriber (`main` does) to keep the last lines.
pub struct Layer;

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value}");
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Layer {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let meta = event.metadata();
        if !meta.target().starts_with("postbooth") || *meta.level() > tracing::Level::INFO {
            return;
        }
        let stamp = time::OffsetDateTime::now_utc();
        let mut line = Line(format!(
            "{:02}:{:02}:{:02} {}",
            stamp.hour(),
            stamp.minute(),
            stamp.second(),
            meta.level()
        ));
        event.record(&mut line);
        push(line.0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_last_lines_in_order() {
        for i in 0..(super::KEEP + 5) {
            super::push(format!("line {i}"));
        }
        let last = super::last(2);
        assert_eq!(
            last,
            vec![
                format!("line {}", super::KEEP + 3),
                format!("line {}", super::KEEP + 4)
            ]
        );
        assert_eq!(super::last(10_000).len(), super::KEEP);
    }
}
