//! HTTP/1.1 semantics with raw sockets: routing, methods, keep-alive, pipelining, HEAD,
//! Expect: 100-continue, chunked bodies both ways.

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use oc_http::{Request, Response};
use support::{connect, exchange, read_response};

#[test]
fn plaintext_and_json_with_the_required_headers() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server();
        let r = exchange(addr, b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "Hello, World!");
        assert_eq!(r.header("Content-Length"), Some("13"));
        assert_eq!(r.header("Content-Type"), Some("text/plain"));
        assert_eq!(r.header("Server"), Some("oc"));
        let date = r.header("Date").unwrap();
        assert_eq!(date.len(), 29, "{date}");
        assert!(date.ends_with(" GMT"));
        let r = exchange(addr, b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.text(), r#"{"message":"Hello, World!"}"#);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn routing_params_wildcards_404_and_405() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server();
        assert_eq!(exchange(addr, b"GET /users/42 HTTP/1.1\r\nHost: x\r\n\r\n").text(), "user 42");
        assert_eq!(exchange(addr, b"GET /users/a%20b HTTP/1.1\r\nHost: x\r\n\r\n").text(), "user a b");
        assert_eq!(
            exchange(addr, b"GET /users/a+b HTTP/1.1\r\nHost: x\r\n\r\n").text(),
            "user a+b",
            "`+` is itself in a path"
        );
        assert_eq!(exchange(addr, b"GET /files/a/b/c.txt HTTP/1.1\r\nHost: x\r\n\r\n").text(), "file a/b/c.txt");
        assert_eq!(exchange(addr, b"PUT /users/7 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").text(), "put 7");
        assert_eq!(exchange(addr, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
        let r = exchange(addr, b"DELETE /users/7 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.status, 405);
        let allow = r.header("Allow").unwrap();
        assert!(allow.contains("GET") && allow.contains("PUT") && allow.contains("HEAD"), "{allow}");
        assert_eq!(exchange(addr, b"GET /query?q=a+b%21&x=1 HTTP/1.1\r\nHost: x\r\n\r\n").text(), "Some(\"a b!\")");
        assert_eq!(exchange(addr, b"GET /query HTTP/1.1\r\nHost: x\r\n\r\n").text(), "None");
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn unknown_methods_and_connect_are_not_implemented() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server();
        // A method HTTP does not define and no route names: 501, and the connection goes on.
        let mut s = connect(addr);
        s.write_all(b"BREW /plaintext HTTP/1.1\r\nHost: x\r\n\r\nBREW /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 501);
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 501);
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().text(), "Hello, World!");
        // A defined method without a route for the path stays a 405.
        assert_eq!(exchange(addr, b"PATCH /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").status, 405);
        // CONNECT: no tunnels here (501), and the connection ends; a CONNECT target that is
        // not `host:port` is malformed (400).
        let mut s = connect(addr);
        s.write_all(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n").unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        let text = String::from_utf8_lossy(&all);
        assert!(text.starts_with("HTTP/1.1 501 "), "{text}");
        assert_eq!(text.matches("HTTP/1.1").count(), 1, "{text}");
        assert_eq!(exchange(addr, b"CONNECT /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").status, 400);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn head_has_the_get_headers_and_no_body() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server();
        let mut s = connect(addr);
        s.write_all(b"HEAD /plaintext HTTP/1.1\r\nHost: x\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        let head = read_response(&mut s, &mut buf, true).unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.header("Content-Length"), Some("13"));
        assert!(head.body.is_empty());
        // The next response starts right after the head: no body bytes were sent.
        let get = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!(get.text(), "Hello, World!");
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn keep_alive_close_and_http_1_0() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server();
        let mut s = connect(addr);
        let mut buf = Vec::new();
        for _ in 0..3 {
            s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let r = read_response(&mut s, &mut buf, false).unwrap();
            assert_eq!(r.status, 200);
            assert_eq!(r.header("Connection"), None);
        }
        s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let r = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!(r.header("Connection"), Some("close"));
        assert!(support::closed(&mut s));
        // HTTP/1.0: closed after the response unless keep-alive is asked for.
        let mut s = connect(addr);
        s.write_all(b"GET /plaintext HTTP/1.0\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().header("Connection"), Some("close"));
        assert!(support::closed(&mut s));
        let mut s = connect(addr);
        s.write_all(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().header("Connection"), Some("keep-alive"));
        s.write_all(b"GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 200);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server();
        let mut s = connect(addr);
        let mut batch = Vec::new();
        for i in 0..50 {
            batch.extend_from_slice(format!("GET /users/{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        }
        // A slow one in the middle must not reorder anything.
        batch.extend_from_slice(
            b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        );
        s.write_all(&batch).unwrap();
        let mut buf = Vec::new();
        for i in 0..50 {
            assert_eq!(read_response(&mut s, &mut buf, false).unwrap().text(), format!("user {i}"));
        }
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().text(), "slow done");
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().text(), "hello");
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn expect_100_continue() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server();
        let mut s = connect(addr);
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        let interim = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!(interim.status, 100);
        s.write_all(b"ping").unwrap();
        let r = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "ping"));
        // An expectation we cannot meet.
        assert_eq!(
            exchange(addr, b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 0\r\n\r\n").status,
            417
        );
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn chunked_request_bodies_with_trailers_and_chunked_responses() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server();
        let r = exchange(
            addr,
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n",
        );
        assert_eq!(r.text(), "hello, world");
        let r = exchange(addr, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
        assert_eq!(r.text(), "part 0;part 1;part 2;part 3;part 4;");
        // HTTP/1.0 gets the stream delimited by the close.
        let r = exchange(addr, b"GET /stream HTTP/1.0\r\n\r\n");
        assert_eq!(r.header("Transfer-Encoding"), None);
        assert_eq!(r.text(), "part 0;part 1;part 2;part 3;part 4;");
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

/// A streamed body of announced length goes with `Content-Length` (to HTTP/1.1 and 1.0 alike,
/// and to `HEAD` without calling the writer), and the connection stays open; a writer that
/// falls short of the length or goes past it ends the connection after what it wrote.
#[test]
fn sized_streams_go_with_their_length_and_a_wrong_length_ends_the_connection() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server();
        let alphabet = |n: usize| (0..n).map(|i| (b'a' + (i % 26) as u8) as char).collect::<String>();
        let mut s = connect(addr);
        let mut buf = Vec::new();
        s.write_all(b"GET /sized/10/10 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /sized/7/7 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let r = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!((r.header("Content-Length"), r.header("Transfer-Encoding")), (Some("10"), None));
        assert_eq!(r.text(), alphabet(10));
        let r = read_response(&mut s, &mut buf, true).unwrap();
        assert_eq!((r.status, r.header("Content-Length")), (200, Some("7")));
        assert!(r.body.is_empty());
        // The same connection goes on.
        s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().text(), "Hello, World!");
        let r = exchange(addr, b"GET /sized/4/4 HTTP/1.0\r\n\r\n");
        assert_eq!((r.header("Content-Length"), r.text()), (Some("4"), alphabet(4)));
        // Short and long writers: the head announced the length, the connection then ends.
        for (target, written) in [("/sized/10/5", 5), ("/sized/10/12", 9)] {
            let mut s = connect(addr);
            s.write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            let text = String::from_utf8_lossy(&got).into_owned();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.contains("Content-Length: 10"), "{target}: {head}");
            assert_eq!(body, alphabet(written), "{target}");
        }
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn a_panicking_handler_gives_500_and_the_server_lives_on() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server();
        let mut s = connect(addr);
        s.write_all(b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 500);
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 200);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn responses_of_different_endpoints_on_one_connection_keep_their_own_headers() {
    support::each_backend(|_backend| {
        // Heads are encoded once per connection and reused while the handler's headers stay the
        // same: alternating endpoints, statuses and owned header values must each get their own.
        let router = support::test_router()
            .get("/owned", |r: &Request| Response::text("owned").header("X-Echo", r.query().unwrap_or("").to_owned()))
            .get("/created", |_: &Request| {
                Response::new(201).header("Content-Type", "text/plain").static_body(b"made")
            });
        let (rt, server, addr) = support::server_with(router, oc_http::Limits::default());
        let mut s = connect(addr);
        let targets =
            ["/plaintext", "/json", "/plaintext", "/owned?a", "/owned?b", "/created", "/nowhere", "/plaintext"];
        let mut pipeline = Vec::new();
        for t in targets {
            write!(pipeline, "GET {t} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        }
        s.write_all(&pipeline).unwrap();
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for _ in targets {
            let r = read_response(&mut s, &mut buf, false).expect("a response");
            got.push((r.status, r.header("Content-Type").map(str::to_owned), r.header("X-Echo").map(str::to_owned)));
        }
        let text = Some("text/plain".to_owned());
        assert_eq!(
            got,
            [
                (200, text.clone(), None),
                (200, Some("application/json".to_owned()), None),
                (200, text.clone(), None),
                (200, text.clone(), Some("a".to_owned())),
                (200, text.clone(), Some("b".to_owned())),
                (201, text.clone(), None),
                (404, text.clone(), None),
                (200, text, None),
            ]
        );
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn a_response_larger_than_the_socket_buffers_is_followed_by_the_next_one() {
    // The client reads each response whole before it sends the next request, through a small
    // receive buffer: the server's sends come back short and it must go on sending while it
    // also waits for the next request.
    const BIG: usize = 4 << 20;
    support::each_backend(|backend| {
        let router = oc_http::Router::new()
            .get("/big", |_: &oc_http::Request| {
                oc_http::Response::new(200).body((0..BIG).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
            })
            .get("/plaintext", |_: &oc_http::Request| oc_http::Response::text("Hello, World!"));
        let (rt, server, addr) = support::server_with(router, oc_http::Limits::default());
        let mut s = connect(addr);
        socket2::SockRef::from(&s).set_recv_buffer_size(32 << 10).unwrap();
        let mut buf = Vec::new();
        let start = std::time::Instant::now();
        for _ in 0..3 {
            s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let r = read_response(&mut s, &mut buf, false).expect("the large response");
            assert_eq!(r.status, 200);
            assert!(r.body.len() == BIG && r.body.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
            s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            assert_eq!(read_response(&mut s, &mut buf, false).expect("the next response").text(), "Hello, World!");
        }
        // Well under the write time-out (which would also end a stalled send).
        assert!(start.elapsed() < Duration::from_secs(5), "{backend:?}: {:?}", start.elapsed());
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn handler_header_values_cannot_forge_fields_and_content_type_is_one() {
    support::each_backend(|_backend| {
        let router = oc_http::Router::new()
            .get("/echo-header", |r: &Request| {
                Response::text("ok").header("X-Value", r.query_param("v").unwrap_or_default())
            })
            .get("/typed", |_: &Request| Response::text("{}").header("Content-Type", "application/json"))
            .get("/bad-name", |_: &Request| Response::text("x").header("Bad Name", "v"))
            .get("/", |_: &Request| Response::text("root"));
        let (rt, server, addr) = support::server_with(router, oc_http::Limits::default());
        let r = exchange(addr, b"GET /echo-header?v=plain HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!((r.status, r.header("X-Value")), (200, Some("plain")));
        // CR LF in a value (from the query, percent-decoded) would start a new field.
        for v in ["a%0d%0aSet-Cookie:%20evil=1", "a%0aX-Evil:%201", "a%00b"] {
            let r = exchange(addr, format!("GET /echo-header?v={v} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
            assert_eq!(r.status, 500, "{v}");
            assert!(r.header("Set-Cookie").is_none() && r.header("X-Evil").is_none() && r.header("X-Value").is_none());
        }
        assert_eq!(exchange(addr, b"GET /bad-name HTTP/1.1\r\nHost: x\r\n\r\n").status, 500);
        // A later Content-Type replaces the builder's.
        let r = exchange(addr, b"GET /typed HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("content-type")).count(), 1);
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        // The absolute form without a path is the root; Host values must be hosts.
        assert_eq!(exchange(addr, b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n").text(), "root");
        assert_eq!(exchange(addr, b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n").status, 400);
        assert_eq!(exchange(addr, b"GET / HTTP/1.1\r\nHost: exa/mple@x\r\n\r\n").status, 400);
        assert_eq!(exchange(addr, b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n").status, 400);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn host_values_follow_the_host_and_port_grammar() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server();
        // RFC 9112 §3.2: uri-host [ ":" port ], the port digits only, brackets only around an
        // IP literal.
        for bad in ["a:b", "a:1:2", "[::1", "a]b[", "[::1]x", "a:80x", "user@a", "a%zz"] {
            let r = exchange(addr, format!("GET /plaintext HTTP/1.1\r\nHost: {bad}\r\n\r\n").as_bytes());
            assert_eq!(r.status, 400, "Host: {bad}");
            assert_eq!(r.header("Connection"), Some("close"), "Host: {bad}");
        }
        for good in [
            "example.com",
            "example.com:8080",
            "example.com:",
            "[::1]:80",
            "[::1]",
            "127.0.0.1",
            "127.0.0.1:80",
            "a%41b",
            "sub-delims!$&'()*+,;=.example",
            "",
        ] {
            let r = exchange(addr, format!("GET /plaintext HTTP/1.1\r\nHost: {good}\r\n\r\n").as_bytes());
            assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!"), "Host: {good}");
        }
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn absolute_form_targets_need_a_valid_authority() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server();
        // An empty host (RFC 9110 §4.2.1), user information (§4.2.4) or a malformed port.
        for target in ["http:///echo", "http://:80/echo", "https:///echo", "http://u@x/echo", "http://x:y/echo"] {
            let r =
                exchange(addr, format!("POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi").as_bytes());
            assert_eq!(r.status, 400, "{target}");
        }
        for target in ["http://x/echo", "http://example.com:8080/echo", "HTTPS://[::1]:443/echo", "http://x:/echo"] {
            let r =
                exchange(addr, format!("POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi").as_bytes());
            assert_eq!((r.status, r.text().as_str()), (200, "hi"), "{target}");
        }
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn the_authority_of_an_absolute_form_target_overrides_host() {
    support::each_backend(|_backend| {
        let router = support::test_router().get("/authority", |r: &oc_http::Request| {
            oc_http::Response::text(format!("{:?} {:?}", r.authority(), r.header("host")))
        });
        let (rt, server, addr) = support::server_with(router, oc_http::Limits::default());
        let ask = |target: &str, host: Option<&str>| {
            let host = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
            let version = if host.is_empty() { "1.0" } else { "1.1" };
            exchange(addr, format!("GET {target} HTTP/{version}\r\n{host}Connection: close\r\n\r\n").as_bytes()).text()
        };
        // RFC 9112 §3.2.2: the target's authority, whatever Host says (the field as sent).
        assert_eq!(ask("http://a.example/authority", Some("b.example")), r#"Some("a.example") Some("b.example")"#);
        assert_eq!(ask("HTTPS://A.example:8443/authority?q", Some("b")), r#"Some("A.example:8443") Some("b")"#);
        assert_eq!(ask("http://[::1]:80/authority", Some("b")), r#"Some("[::1]:80") Some("b")"#);
        // Origin form: the Host field; none in HTTP/1.0 without one.
        assert_eq!(ask("/authority", Some("b.example:81")), r#"Some("b.example:81") Some("b.example:81")"#);
        assert_eq!(ask("/authority", None), "None None");
        assert_eq!(ask("http://a/authority", None), r#"Some("a") None"#);
        // Pipelined on one connection: a repeated head (read from the connection's memo of
        // it), then an origin-form one, each with its own authority.
        let mut s = support::connect(addr);
        let absolute = "GET http://a.example/authority HTTP/1.1\r\nHost: b.example\r\n\r\n";
        let origin = "GET /authority HTTP/1.1\r\nHost: b.example\r\n\r\n";
        s.write_all(format!("{absolute}{absolute}{origin}{absolute}").as_bytes()).unwrap();
        let mut buf = Vec::new();
        for want in ["a.example", "a.example", "b.example", "a.example"] {
            let text = read_response(&mut s, &mut buf, false).unwrap().text();
            assert_eq!(text, format!(r#"Some("{want}") Some("b.example")"#));
        }
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn a_1xx_status_from_a_handler_becomes_500() {
    // The same static header text for a valid response and an interim one: the second is
    // checked even though this connection has sent its fields before.
    static UPGRADE: &str = "Upgrade";
    static WEBSOCKET: &str = "websocket";
    support::each_backend(|_backend| {
        let router = support::test_router()
            .get("/fine", |_: &Request| Response::new(200).header(UPGRADE, WEBSOCKET))
            .get("/switch", |_: &Request| Response::new(101).header(UPGRADE, WEBSOCKET))
            .get("/early", |_: &Request| Response::new(103).header("Link", "</a.css>; rel=preload").body("x"))
            .get("/continue", |_: &Request| Response::new(100));
        let (rt, server, addr) = support::server_with(router, oc_http::Limits::default());
        let mut s = connect(addr);
        let mut pipeline = Vec::new();
        for target in ["/fine", "/switch", "/early", "/continue", "/plaintext"] {
            write!(pipeline, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        }
        s.write_all(&pipeline).unwrap();
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for _ in 0..5 {
            let r = read_response(&mut s, &mut buf, false).expect("a final response");
            got.push((r.status, r.header("Upgrade").map(str::to_owned)));
        }
        assert_eq!(got, [(200, Some("websocket".to_owned())), (500, None), (500, None), (500, None), (200, None)]);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn reset_content_is_sent_with_a_zero_length_and_no_content() {
    support::each_backend(|_backend| {
        let router = support::test_router()
            .post("/form", |_: &Request| Response::new(205).header("Content-Type", "text/plain").body("cleared"))
            .get("/form", |_: &Request| Response::stream(|w| w.write_all(b"streamed content")).status(205));
        let (rt, server, addr) = support::server_with(router, oc_http::Limits::default());
        let mut s = connect(addr);
        // Pipelined: any content sent after a 205 would be read as the next response.
        s.write_all(
            b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nGET /form HTTP/1.1\r\nHost: x\r\n\r\n\
              HEAD /form HTTP/1.1\r\nHost: x\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .unwrap();
        let mut buf = Vec::new();
        for head in [false, false, true] {
            let r = read_response(&mut s, &mut buf, head).expect("a 205");
            assert_eq!(r.status, 205);
            assert_eq!(r.header("Content-Length"), Some("0"));
            assert_eq!(r.header("Transfer-Encoding"), None);
            assert!(r.body.is_empty());
        }
        let r = read_response(&mut s, &mut buf, false).expect("the next response");
        assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!"));
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

/// The test client itself: a server that sends a body after a response that must have none
/// (HEAD, 204, 304) is caught, not read past. Without this, every HEAD/204/304 test above
/// would pass against such a server.
#[test]
fn the_test_client_refuses_a_body_after_head_204_and_304() {
    for (request_is_head, response) in [
        (true, &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"[..]),
        (false, &b"HTTP/1.1 204 No Content\r\n\r\nhello"[..]),
        (false, &b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nhello"[..]),
    ] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut request = [0u8; 256];
            let _ = s.read(&mut request).unwrap();
            s.write_all(response).unwrap();
            // Held open, as a keep-alive connection would be.
            std::thread::sleep(Duration::from_millis(300));
        });
        let mut s = connect(addr);
        s.write_all(if request_is_head {
            b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
        } else {
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        })
        .unwrap();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut buf = Vec::new();
            read_response(&mut s, &mut buf, request_is_head)
        }));
        let message = match caught {
            Ok(r) => panic!("the client accepted a body after a bodiless response: {r:?}"),
            Err(payload) => payload.downcast_ref::<String>().cloned().unwrap_or_default(),
        };
        assert!(message.contains("must have none"), "{message}");
        server.join().unwrap();
    }
    // And a well-framed bodiless response followed by the next pipelined one is accepted.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut request = [0u8; 256];
        let _ = s.read(&mut request).unwrap();
        s.write_all(b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap();
    });
    let mut s = connect(addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 204);
    assert_eq!(read_response(&mut s, &mut buf, false).unwrap().text(), "ok");
    server.join().unwrap();
}
