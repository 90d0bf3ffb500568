//! `/metrics` read by a real Prometheus text-format parser (the `prometheus-parse` crate),
//! with the counters matching the requests sent; through the real binary on each IO backend.

mod support;

use prometheus_parse::{Sample, Scrape, Value};
use serde_json::json;
use support::{BACKENDS, Client, TempDir, config, start, start_with_env};

fn scrape(c: &mut Client<std::net::TcpStream>) -> Scrape {
    let page = c.get("/metrics").unwrap();
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    Scrape::parse(page.text().lines().map(|l| Ok(l.to_owned()))).expect("the page parses")
}

/// The samples of `metric` whose labels include every pair of `labels`.
fn find<'a>(s: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    s.samples.iter().filter(|x| x.metric == metric && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v))).collect()
}

fn number(s: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found = find(s, metric, labels);
    assert_eq!(found.len(), 1, "{metric} {labels:?}: {found:?}");
    match &found[0].value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{metric}: {other:?}"),
    }
}

#[test]
fn counters_match_the_requests_sent() {
    for backend in BACKENDS {
        let dir = TempDir::new("metrics");
        let routes = json!([
            { "kind": "fixed", "path": "/a", "name": "route a", "body": "0123456789" },
            { "kind": "fixed", "path": "/teapot", "status": 418, "body": "no" },
            { "kind": "metrics", "path": "/metrics" },
        ]);
        let mut config = config(backend, routes);
        config["runtime"]["stack_high_water"] = json!(true);
        config["runtime"]["stuck_threshold_ms"] = json!(500);
        let server = start(&dir, &config);
        let mut c = Client::connect(server.addr()).unwrap();
        for _ in 0..7 {
            assert_eq!(c.get("/a").unwrap().status, 200);
        }
        for _ in 0..2 {
            assert_eq!(c.get("/teapot").unwrap().status, 418);
        }
        for _ in 0..3 {
            assert_eq!(c.get("/nowhere").unwrap().status, 404);
        }
        c.send("POST", "x", "/a", "", &[b'x'; 1000]).unwrap();
        assert_eq!(c.read_response(false).unwrap().status, 200);

        let s = scrape(&mut c);
        assert_eq!(number(&s, "oc_http_requests_total", &[("route", "route a"), ("status", "200")]), 8.0, "{backend}");
        assert_eq!(number(&s, "oc_http_requests_total", &[("route", "fixed /teapot"), ("status", "418")]), 2.0);
        assert_eq!(number(&s, "oc_http_requests_total", &[("route", "unmatched"), ("status", "404")]), 3.0);
        // The scrape itself is counted after it is answered.
        assert!(find(&s, "oc_http_requests_total", &[("route", "metrics /metrics")]).is_empty());
        assert_eq!(number(&s, "oc_http_response_body_bytes_total", &[("route", "route a")]), 80.0);
        let bytes_in = number(&s, "oc_http_request_bytes_total", &[("route", "route a")]);
        assert!((1000.0..2000.0).contains(&bytes_in), "{bytes_in}");

        let hist = find(&s, "oc_http_request_duration_seconds", &[("route", "route a")]);
        assert_eq!(hist.len(), 1, "{hist:?}");
        let Value::Histogram(buckets) = &hist[0].value else { panic!("{hist:?}") };
        assert_eq!(buckets.last().unwrap().count, 8.0, "every request is in +Inf: {buckets:?}");
        assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count), "cumulative: {buckets:?}");
        assert!(buckets.iter().any(|b| b.less_than == 0.0005));

        assert!(number(&s, "oc_http_open_connections", &[]) >= 1.0);
        assert_eq!(number(&s, "oc_server_ready", &[]), 1.0);
        assert_eq!(number(&s, "oc_runtime_workers", &[]), 2.0);
        assert!(number(&s, "oc_runtime_switches_total", &[]) > 0.0);
        let migrations = number(&s, "oc_runtime_migrations_total", &[]);
        assert!(migrations <= number(&s, "oc_runtime_switches_total", &[]), "{migrations}");
        assert!(number(&s, "oc_runtime_coroutines_spawned_total", &[]) >= 1.0);
        let io = if backend == "uring" { "io_uring" } else { "epoll" };
        assert_eq!(number(&s, "oc_runtime_io_backend", &[("backend", io)]), 1.0, "{backend}");

        // The runtime's observability: stack high-water marks of finished coroutines (the
        // start-up coroutine at least), and no stuck coroutine.
        let hwm = find(&s, "oc_runtime_stack_high_water_bytes", &[]);
        assert_eq!(hwm.len(), 1, "{hwm:?}");
        let Value::Histogram(buckets) = &hwm[0].value else { panic!("{hwm:?}") };
        assert!(buckets.last().unwrap().count >= 1.0, "{buckets:?}");
        let max = number(&s, "oc_runtime_stack_high_water_max_bytes", &[]);
        assert!(max > 0.0 && max < 1024.0 * 1024.0, "{max}");
        assert_eq!(number(&s, "oc_runtime_stuck_reports_total", &[]), 0.0);

        // A second scrape counts the first.
        let s = scrape(&mut c);
        assert_eq!(number(&s, "oc_http_requests_total", &[("route", "metrics /metrics"), ("status", "200")]), 1.0);
        server.stop();
    }
}

/// `OC_IO_BACKEND` chooses the backend when the configuration leaves it to `auto` (as
/// `config/README.md` says), and a backend the configuration names wins over it.
#[test]
fn oc_io_backend_applies_when_the_configuration_says_auto() {
    let routes = json!([{ "kind": "metrics", "path": "/metrics" }]);
    for (configured, env, used) in [
        ("auto", "epoll", "epoll"),
        ("auto", "uring", "io_uring"),
        ("epoll", "uring", "epoll"),
        ("uring", "epoll", "io_uring"),
    ] {
        let dir = TempDir::new("backend-env");
        let path = dir.write("oc-server.json", serde_json::to_vec_pretty(&config(configured, routes.clone())).unwrap());
        let server = start_with_env(&path, &[], 1, &[("OC_IO_BACKEND", env)]);
        let mut c = Client::connect(server.addr()).unwrap();
        let s = scrape(&mut c);
        let what = format!("io_backend {configured}, OC_IO_BACKEND={env}");
        assert_eq!(number(&s, "oc_runtime_io_backend", &[("backend", used)]), 1.0, "{what}");
        assert_eq!(find(&s, "oc_runtime_io_backend", &[]).len(), 1, "{what}");
        drop(c);
        server.stop();
    }
}

#[test]
fn proxied_body_bytes_are_counted() {
    let upstream = support::counting_upstream();
    for backend in BACKENDS {
        let dir = TempDir::new("metrics-proxy");
        let routes = json!([
            { "kind": "proxy", "path": "/p", "name": "proxied", "upstreams": [upstream.to_string()] },
            { "kind": "metrics", "path": "/metrics" },
        ]);
        let server = start(&dir, &config(backend, routes));
        let mut c = Client::connect(server.addr()).unwrap();
        for _ in 0..3 {
            let r = c.get("/p").unwrap();
            assert_eq!((r.status, r.text().as_str()), (200, "got 0 bytes"), "{backend}");
        }
        let s = scrape(&mut c);
        assert_eq!(number(&s, "oc_http_response_body_bytes_total", &[("route", "proxied")]), 33.0, "{backend}");
        server.stop();
    }
}
