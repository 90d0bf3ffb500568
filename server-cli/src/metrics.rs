//! Request statistics by route (kept across reloads, by route name) and their rendering in the
//! Prometheus text format, with the server's and the runtime's own figures.
//!
//! # Invariants
//!
//! Counters are plain relaxed atomics, written by whichever coroutine answered the request: a
//! scrape may see one request's status counted and its latency not yet, never a torn value.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Statuses counted one by one: 100 to 999 (what oc-http lets a handler answer).
const STATUSES: usize = 900;

/// Shards of a route's counters: threads that answer requests at once add to different
/// cache lines instead of passing one line between their cores.
const SHARDS: usize = 8;

/// One shard of a route's counters.
#[repr(align(128))]
struct Shard {
    /// By status, from 100.
    statuses: Box<[AtomicU64]>,
    /// Requests per bucket (not cumulative; the last is `+Inf`).
    latency: [AtomicU64; BUCKETS.len() + 1],
    latency_sum_ns: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl Shard {
    fn new() -> Shard {
        Shard {
            statuses: (0..STATUSES).map(|_| AtomicU64::new(0)).collect(),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_sum_ns: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
        }
    }
}

/// The shard the calling thread adds to: threads take shards in turn as they first count.
/// (A coroutine that moves to another thread between two requests just adds to another
/// shard: every shard is summed when read.)
fn my_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.try_with(|s| *s).unwrap_or(0)
}

/// One route's figures.
pub(crate) struct RouteStats {
    pub(crate) name: String,
    shards: Box<[Shard]>,
}

impl RouteStats {
    fn new(name: String) -> RouteStats {
        RouteStats { name, shards: (0..SHARDS).map(|_| Shard::new()).collect() }
    }

    /// Counts one answered request.
    pub(crate) fn record(&self, status: u16, took: Duration, bytes_in: u64, bytes_out: u64) {
        let shard = &self.shards[my_shard()];
        if let Some(slot) = (status as usize).checked_sub(100).and_then(|i| shard.statuses.get(i)) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
        let secs = took.as_secs_f64();
        let bucket = BUCKETS.iter().position(|&le| secs <= le).unwrap_or(BUCKETS.len());
        shard.latency[bucket].fetch_add(1, Ordering::Relaxed);
        shard.latency_sum_ns.fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        shard.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
        shard.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
    }

    /// A counter summed over the shards.
    fn sum(&self, counter: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards.iter().map(|s| counter(s).load(Ordering::Relaxed)).sum()
    }
}

/// Every route's figures, by name, for the life of the process.
#[derive(Default)]
pub(crate) struct StatsRegistry {
    routes: Mutex<Vec<Arc<RouteStats>>>,
}

impl StatsRegistry {
    /// The figures of the route named `name`, made on first use.
    pub(crate) fn route(&self, name: &str) -> Arc<RouteStats> {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = routes.iter().find(|r| r.name == name) {
            return found.clone();
        }
        let made = Arc::new(RouteStats::new(name.to_owned()));
        routes.push(made.clone());
        made
    }

    fn all(&self) -> Vec<Arc<RouteStats>> {
        self.routes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What the page shows besides the route statistics.
pub(crate) struct Snapshot {
    pub(crate) open_connections: usize,
    pub(crate) ready: bool,
    pub(crate) reloads_ok: u64,
    pub(crate) reloads_failed: u64,
    pub(crate) access_log_dropped: u64,
    /// (route name, its proxy's counters) for each proxy route of the running configuration
    /// (they start again from zero when a reload makes the route anew).
    pub(crate) proxies: Vec<(String, oc_http::proxy::ProxyStats)>,
    pub(crate) runtime: Option<oc_runtime::RuntimeMetrics>,
}

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The metrics page.
pub(crate) fn render(stats: &StatsRegistry, snap: &Snapshot) -> String {
    let mut out = String::with_capacity(8192);
    let routes = stats.all();

    header(&mut out, "oc_http_requests_total", "counter", "Requests answered, by route and status.");
    for r in &routes {
        let name = label(&r.name);
        for i in 0..STATUSES {
            let n = r.sum(|s| &s.statuses[i]);
            if n > 0 {
                let _ = writeln!(out, "oc_http_requests_total{{route=\"{name}\",status=\"{}\"}} {n}", i + 100);
            }
        }
    }

    header(
        &mut out,
        "oc_http_request_duration_seconds",
        "histogram",
        "Time from a request's arrival at its route to its response's head, by route.",
    );
    for r in &routes {
        let name = label(&r.name);
        let mut cumulative = 0;
        for (i, le) in BUCKETS.iter().enumerate() {
            cumulative += r.sum(|s| &s.latency[i]);
            let _ =
                writeln!(out, "oc_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"{le}\"}} {cumulative}");
        }
        cumulative += r.sum(|s| &s.latency[BUCKETS.len()]);
        let _ = writeln!(out, "oc_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"+Inf\"}} {cumulative}");
        let sum = r.sum(|s| &s.latency_sum_ns) as f64 / 1e9;
        let _ = writeln!(out, "oc_http_request_duration_seconds_sum{{route=\"{name}\"}} {sum}");
        let _ = writeln!(out, "oc_http_request_duration_seconds_count{{route=\"{name}\"}} {cumulative}");
    }

    header(&mut out, "oc_http_request_bytes_total", "counter", "Bytes of request heads and bodies, by route.");
    for r in &routes {
        let _ = writeln!(out, "oc_http_request_bytes_total{{route=\"{}\"}} {}", label(&r.name), r.sum(|s| &s.bytes_in));
    }
    header(&mut out, "oc_http_response_body_bytes_total", "counter", "Bytes of response bodies, by route.");
    for r in &routes {
        let _ = writeln!(
            out,
            "oc_http_response_body_bytes_total{{route=\"{}\"}} {}",
            label(&r.name),
            r.sum(|s| &s.bytes_out)
        );
    }

    header(&mut out, "oc_http_open_connections", "gauge", "Client connections open now.");
    let _ = writeln!(out, "oc_http_open_connections {}", snap.open_connections);
    header(&mut out, "oc_server_ready", "gauge", "1 while the server takes traffic, 0 once a shutdown started.");
    let _ = writeln!(out, "oc_server_ready {}", u8::from(snap.ready));
    header(&mut out, "oc_server_config_reloads_total", "counter", "Configuration reloads (SIGHUP), by result.");
    let _ = writeln!(out, "oc_server_config_reloads_total{{result=\"ok\"}} {}", snap.reloads_ok);
    let _ = writeln!(out, "oc_server_config_reloads_total{{result=\"error\"}} {}", snap.reloads_failed);
    header(&mut out, "oc_access_log_dropped_lines_total", "counter", "Access log lines dropped (output too slow).");
    let _ = writeln!(out, "oc_access_log_dropped_lines_total {}", snap.access_log_dropped);

    render_proxies(&mut out, &snap.proxies);

    if let Some(rt) = &snap.runtime {
        render_runtime(&mut out, rt);
    }
    out
}

fn render_proxies(out: &mut String, proxies: &[(String, oc_http::proxy::ProxyStats)]) {
    header(out, "oc_proxy_requests_total", "counter", "Requests a proxy route forwarded, by route.");
    for (route, p) in proxies {
        let _ = writeln!(out, "oc_proxy_requests_total{{route=\"{}\"}} {}", label(route), p.requests);
    }
    header(out, "oc_proxy_upstream_errors_total", "counter", "Failed exchanges with upstreams, by route and kind.");
    for (route, p) in proxies {
        let e = &p.errors;
        for (kind, n) in
            [("connect", e.connect), ("timeout", e.timeout), ("io", e.io), ("bad_response", e.bad_response)]
        {
            let _ = writeln!(out, "oc_proxy_upstream_errors_total{{route=\"{}\",kind=\"{kind}\"}} {n}", label(route));
        }
    }
    header(out, "oc_proxy_gateway_errors_total", "counter", "Requests answered 502 or 504 by a proxy route.");
    for (route, p) in proxies {
        let _ = writeln!(
            out,
            "oc_proxy_gateway_errors_total{{route=\"{}\",status=\"502\"}} {}",
            label(route),
            p.bad_gateway
        );
        let _ = writeln!(
            out,
            "oc_proxy_gateway_errors_total{{route=\"{}\",status=\"504\"}} {}",
            label(route),
            p.gateway_timeout
        );
    }
    header(
        out,
        "oc_proxy_retries_total",
        "counter",
        "Requests sent again after a pooled connection turned out closed.",
    );
    for (route, p) in proxies {
        let _ = writeln!(out, "oc_proxy_retries_total{{route=\"{}\"}} {}", label(route), p.retries);
    }
    type Figure = fn(&oc_http::proxy::UpstreamStats) -> u64;
    let per_upstream: [(&str, &str, &str, Figure); 6] = [
        ("oc_proxy_upstream_requests_total", "counter", "Requests sent to an upstream.", |u| u.requests),
        ("oc_proxy_upstream_failures_total", "counter", "Failed exchanges with an upstream.", |u| u.errors),
        ("oc_proxy_upstream_connections_total", "counter", "Connections opened to an upstream.", |u| u.connections),
        ("oc_proxy_upstream_reused_total", "counter", "Requests sent on a pooled connection.", |u| u.reused),
        ("oc_proxy_upstream_idle_connections", "gauge", "Idle pooled connections to an upstream.", |u| u.idle as u64),
        ("oc_proxy_upstream_skipped", "gauge", "1 while an upstream is skipped after a failure.", |u| {
            u64::from(u.failed)
        }),
    ];
    for (name, kind, help, figure) in per_upstream {
        header(out, name, kind, help);
        for (route, p) in proxies {
            for u in &p.upstreams {
                let _ =
                    writeln!(out, "{name}{{route=\"{}\",upstream=\"{}\"}} {}", label(route), label(&u.name), figure(u));
            }
        }
    }
}

fn render_runtime(out: &mut String, rt: &oc_runtime::RuntimeMetrics) {
    let gauges: [(&str, &str, u64); 11] = [
        ("oc_runtime_workers", "Worker threads.", rt.workers as u64),
        ("oc_runtime_coroutines_alive", "Coroutines spawned and not finished.", rt.alive),
        ("oc_runtime_injector_depth", "Tasks in the global queue.", rt.injector_depth as u64),
        ("oc_runtime_priority_depth", "Tasks with a non-default priority waiting.", rt.priority_depth as u64),
        ("oc_runtime_stacks_mapped", "Coroutine stacks mapped (in use or pooled).", rt.stacks_mapped as u64),
        ("oc_runtime_stacks_pooled", "Coroutine stacks pooled for reuse.", rt.stacks_pooled as u64),
        ("oc_runtime_stack_segments", "maybe_grow stack segments in use.", rt.stack_segments as u64),
        ("oc_runtime_timers", "Timers armed.", rt.timers as u64),
        ("oc_runtime_carriers_alive", "Threads driving workers or waiting to.", rt.carriers_alive as u64),
        ("oc_runtime_io_in_flight", "IO operations or descriptor waits in flight.", rt.io_in_flight as u64),
        (
            "oc_runtime_local_queue_depth",
            "Tasks in the workers' local queues.",
            rt.per_worker.iter().map(|w| w.queue_depth as u64).sum(),
        ),
    ];
    for (name, help, value) in gauges {
        header(out, name, "gauge", help);
        let _ = writeln!(out, "{name} {value}");
    }
    let counters: [(&str, &str, u64); 11] = [
        ("oc_runtime_coroutines_spawned_total", "Coroutines spawned.", rt.spawned),
        ("oc_runtime_coroutines_finished_total", "Coroutines finished.", rt.finished),
        ("oc_runtime_switches_total", "Switches into coroutines.", rt.switches),
        ("oc_runtime_steals_total", "Successful steals of work.", rt.steals),
        (
            "oc_runtime_migrations_total",
            "Coroutines resumed on another worker than the one that last ran them.",
            rt.migrations,
        ),
        ("oc_runtime_parks_total", "Times a worker went to sleep for lack of work.", rt.parks),
        ("oc_runtime_wakeups_total", "Times a sleeping worker was woken to take queued work.", rt.wakeups),
        ("oc_runtime_handoffs_total", "Workers handed to another thread past the time slice.", rt.handoffs),
        ("oc_runtime_handoffs_refused_total", "Hand-offs refused at the carrier limit.", rt.handoffs_refused),
        (
            "oc_runtime_signal_preemptions_total",
            "Coroutines switched out by a preemption signal.",
            rt.signal_preemptions,
        ),
        (
            "oc_runtime_signal_preemptions_deferred_total",
            "Preemption signals left for a later safe point.",
            rt.signal_preemptions_deferred,
        ),
    ];
    for (name, help, value) in counters {
        header(out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
    header(
        out,
        "oc_runtime_stuck_reports_total",
        "counter",
        "Coroutines that held their thread past the stuck threshold.",
    );
    let _ = writeln!(out, "oc_runtime_stuck_reports_total {}", rt.stuck_reports);
    header(out, "oc_runtime_stuck_longest_seconds", "gauge", "The longest such hold so far.");
    let _ = writeln!(out, "oc_runtime_stuck_longest_seconds {}", rt.stuck_longest.as_secs_f64());
    let hwm = &rt.stack_high_water;
    if !hwm.counts.is_empty() {
        header(
            out,
            "oc_runtime_stack_high_water_bytes",
            "histogram",
            "Stack used by each finished coroutine (its high-water mark), to size stack_size from.",
        );
        let mut cumulative = 0;
        for (bound, n) in hwm.buckets() {
            cumulative += n;
            match bound {
                Some(b) => {
                    let _ = writeln!(out, "oc_runtime_stack_high_water_bytes_bucket{{le=\"{b}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(out, "oc_runtime_stack_high_water_bytes_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        // The marks themselves are not kept: the sum is unknown, the largest is its own gauge.
        let _ = writeln!(out, "oc_runtime_stack_high_water_bytes_count {cumulative}");
        header(out, "oc_runtime_stack_high_water_max_bytes", "gauge", "The highest stack high-water mark measured.");
        let _ = writeln!(out, "oc_runtime_stack_high_water_max_bytes {}", hwm.max);
    }
    header(out, "oc_runtime_worker_switches_total", "counter", "Switches into coroutines, by worker.");
    for (i, w) in rt.per_worker.iter().enumerate() {
        let _ = writeln!(out, "oc_runtime_worker_switches_total{{worker=\"{i}\"}} {}", w.switches);
    }
    header(out, "oc_runtime_io_backend", "gauge", "The IO backend the workers use (1 for the one in use).");
    let backend = match rt.io_backend {
        oc_runtime::IoBackend::Uring => "io_uring",
        oc_runtime::IoBackend::Epoll => "epoll",
        oc_runtime::IoBackend::Auto => "auto",
    };
    let _ = writeln!(out, "oc_runtime_io_backend{{backend=\"{backend}\"}} 1");
    header(out, "oc_runtime_stack_guard", "gauge", "How stack guard pages are made (1 for the one in use).");
    let guard = match rt.stack_guard {
        oc_runtime::StackGuard::Marker => "marker",
        oc_runtime::StackGuard::Protect => "protect",
    };
    let _ = writeln!(out, "oc_runtime_stack_guard{{kind=\"{guard}\"}} 1");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_histogram_are_counted() {
        let stats = StatsRegistry::default();
        let r = stats.route("fixed \"/\"");
        r.record(200, Duration::from_micros(300), 10, 5);
        r.record(200, Duration::from_millis(3), 10, 5);
        r.record(404, Duration::from_secs(20), 10, 0);
        assert!(Arc::ptr_eq(&r, &stats.route("fixed \"/\"")));
        let snap = Snapshot {
            open_connections: 3,
            ready: true,
            reloads_ok: 0,
            reloads_failed: 0,
            access_log_dropped: 0,
            proxies: Vec::new(),
            runtime: None,
        };
        let page = render(&stats, &snap);
        assert!(page.contains("oc_http_requests_total{route=\"fixed \\\"/\\\"\",status=\"200\"} 2\n"), "{page}");
        assert!(page.contains("status=\"404\"} 1\n"));
        assert!(page.contains("le=\"0.0005\"} 1\n"));
        assert!(page.contains("le=\"0.005\"} 2\n"));
        assert!(page.contains("le=\"10\"} 2\n"));
        assert!(page.contains("le=\"+Inf\"} 3\n"));
        assert!(page.contains("oc_http_request_bytes_total{route=\"fixed \\\"/\\\"\"} 30\n"));
        assert!(page.contains("oc_http_open_connections 3\n"));
    }
}
