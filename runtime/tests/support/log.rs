//! A process-wide `tracing` subscriber that keeps every event of the runtime, so that tests
//! can read what was logged from any thread (the runtime logs some reports from threads of
//! its own). Each test picks out its own lines by a name only it uses.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture {
    next_span: AtomicU64,
}

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("oc_runtime")
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line(format!("{} {}: ", event.metadata().level(), event.metadata().target()));
        event.record(&mut line);
        LINES.lock().unwrap().push(line.0);
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

/// Installs the capturing subscriber (once per process).
pub(crate) fn capture() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::subscriber::set_global_default(Capture { next_span: AtomicU64::new(1) })
            .expect("no other global subscriber in this test binary");
    });
}

/// The lines logged so far that contain `needle`.
pub(crate) fn lines_with(needle: &str) -> Vec<String> {
    LINES.lock().unwrap().iter().filter(|l| l.contains(needle)).cloned().collect()
}

/// Waits up to `limit` until `count` lines containing `needle` were logged; returns them.
pub(crate) fn wait_for(needle: &str, count: usize, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    loop {
        let lines = lines_with(needle);
        if lines.len() >= count || Instant::now() >= deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes every line logged so far to standard error: a child process's report, for a parent
/// that reads the child's standard error as a user reads a log written there.
pub(crate) fn replay_to_stderr() {
    for line in LINES.lock().unwrap().iter() {
        eprintln!("{line}");
    }
}
