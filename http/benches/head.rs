//! oc's request head parser (`http/src/head.rs`) against httparse on the same bytes.
//!
//! Three heads: TechEmpower's plaintext request, a browser's navigation request (12 fields)
//! and a long-URL request (a 1 KiB query). Three parsers: oc's, which also notes the fields
//! the server acts on (`Host`, `Content-Length`, `Transfer-Encoding`, `Connection`,
//! `Expect`) in the same pass; httparse alone (into uninitialised field slots, as hyper calls
//! it, so no 64-slot array is cleared per head); and httparse followed by the scan of its
//! fields for those five names, which is what a server built on httparse has to add.
//!
//!   cargo bench -p oc-http --bench head              median ns per head, parsers alternated
//!   target/release/deps/head-* count HEAD PARSER N   parse N times (for callgrind: run two
//!                                                    counts and divide the difference)
//!
//! `benches/http/head_parser.sh` runs both and prints the table of `docs/benchmarks.md`.

use std::hint::black_box;
use std::mem::MaybeUninit;
use std::time::Instant;

use oc_http::HeadProbe;

const MAX_FIELDS: usize = 64;

const PLAINTEXT: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: tfb-server:8080\r\n\
Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7\r\n\
Connection: keep-alive\r\n\r\n";

const BROWSER: &[u8] = b"GET /docs/guide/index.html?lang=en HTTP/1.1\r\n\
Host: www.example.com\r\n\
Connection: keep-alive\r\n\
Cache-Control: max-age=0\r\n\
sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-GB,en;q=0.9,de;q=0.8\r\n\
Cookie: session=3f9a1c2e7b6d4e8fa0b1c2d3e4f5a6b7; theme=dark; consent=1\r\n\r\n";

/// A search request with a 1 KiB query string.
fn long_url() -> Vec<u8> {
    let mut head = b"GET /search?q=".to_vec();
    while head.len() < 1024 {
        head.extend_from_slice(b"coroutine+runtime+io_uring%20");
    }
    head.extend_from_slice(b"&page=2 HTTP/1.1\r\nHost: search.example.com\r\nAccept: */*\r\n\r\n");
    head
}

fn heads() -> Vec<(&'static str, Vec<u8>)> {
    vec![("plaintext", PLAINTEXT.to_vec()), ("browser", BROWSER.to_vec()), ("long-url", long_url())]
}

/// A parser under test: parses the head and returns its length.
trait Parser {
    const NAME: &'static str;
    fn parse(&mut self, head: &[u8]) -> usize;
}

struct Oc(HeadProbe);

impl Parser for Oc {
    const NAME: &'static str = "oc";
    #[inline(never)]
    fn parse(&mut self, head: &[u8]) -> usize {
        match self.0.parse(head, MAX_FIELDS) {
            Ok(true) => self.0.end(),
            other => panic!("{other:?}"),
        }
    }
}

struct Httparse;

impl Parser for Httparse {
    const NAME: &'static str = "httparse";
    #[inline(never)]
    fn parse(&mut self, head: &[u8]) -> usize {
        let mut fields = [const { MaybeUninit::uninit() }; MAX_FIELDS];
        let mut req = httparse::Request::new(&mut []);
        match req.parse_with_uninit_headers(head, &mut fields) {
            Ok(httparse::Status::Complete(end)) => end,
            other => panic!("{other:?}"),
        }
    }
}

/// httparse, then the scan for the fields the server acts on.
struct HttparseScan;

impl Parser for HttparseScan {
    const NAME: &'static str = "httparse+scan";
    #[inline(never)]
    fn parse(&mut self, head: &[u8]) -> usize {
        let mut fields = [const { MaybeUninit::uninit() }; MAX_FIELDS];
        let mut req = httparse::Request::new(&mut []);
        let end = match req.parse_with_uninit_headers(head, &mut fields) {
            Ok(httparse::Status::Complete(end)) => end,
            other => panic!("{other:?}"),
        };
        let mut seen = [0usize; 5];
        for field in req.headers.iter() {
            let name = field.name.as_bytes();
            let which = match name.len() {
                4 if name.eq_ignore_ascii_case(b"host") => 0,
                6 if name.eq_ignore_ascii_case(b"expect") => 1,
                10 if name.eq_ignore_ascii_case(b"connection") => 2,
                14 if name.eq_ignore_ascii_case(b"content-length") => 3,
                17 if name.eq_ignore_ascii_case(b"transfer-encoding") => 4,
                _ => continue,
            };
            seen[which] += field.value.len() + 1;
        }
        black_box(seen);
        end
    }
}

/// Nanoseconds per head over `n` parses.
fn time<P: Parser>(parser: &mut P, head: &[u8], n: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        black_box(parser.parse(black_box(head)));
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn count(head: &str, parser: &str, n: u32) {
    let (_, bytes) = heads().into_iter().find(|(name, _)| *name == head).expect("head: plaintext, browser, long-url");
    let mut total = 0;
    let mut oc = Oc(HeadProbe::default());
    for _ in 0..n {
        total += match parser {
            Oc::NAME => oc.parse(black_box(&bytes)),
            Httparse::NAME => Httparse.parse(black_box(&bytes)),
            HttparseScan::NAME => HttparseScan.parse(black_box(&bytes)),
            _ => panic!("parser: oc, httparse, httparse+scan"),
        };
    }
    black_box(total);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [mode, head, parser, n] = &args[..]
        && mode == "count"
    {
        return count(head, parser, n.parse().expect("a count"));
    }
    // `cargo bench` passes `--bench`; anything else is ignored. Many short rounds, so that
    // the load of a shared machine drifting during the run hits the parsers alike.
    const ROUNDS: usize = 101;
    const N: u32 = 20_000;
    println!("{:<10} {:>6} {:>10} {:>10} {:>15}", "head", "bytes", "oc", "httparse", "httparse+scan");
    for (name, head) in heads() {
        let (mut oc, mut plain, mut scan) = (Vec::new(), Vec::new(), Vec::new());
        let mut probe = Oc(HeadProbe::default());
        // Warm up, then alternate the parsers round by round.
        time(&mut probe, &head, N);
        time(&mut Httparse, &head, N);
        for _ in 0..ROUNDS {
            oc.push(time(&mut probe, &head, N));
            plain.push(time(&mut Httparse, &head, N));
            scan.push(time(&mut HttparseScan, &head, N));
        }
        println!(
            "{name:<10} {:>6} {:>8.1}ns {:>8.1}ns {:>13.1}ns",
            head.len(),
            median(oc),
            median(plain),
            median(scan)
        );
    }
}
