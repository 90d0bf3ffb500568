//! Blocking-style sockets on oc coroutines: `TcpListener`, `TcpStream`, `UdpSocket`,
//! `UnixListener`, `UnixStream`, with the API of their `std::net` namesakes.
//!
//! Inside a coroutine a call that would block suspends only that coroutine, through the
//! worker's io_uring ring or epoll instance; on a plain thread it blocks the thread. Read and
//! write time-outs fail with `ErrorKind::TimedOut`, and the connection stays usable.
//!
//! ```
//! use std::io::{Read, Write};
//!
//! let rt = oc_runtime::Runtime::builder().workers(2).build()?;
//! rt.block_on(|| -> std::io::Result<()> {
//!     let listener = oc_net::TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     let server = oc_runtime::spawn(move || -> std::io::Result<()> {
//!         let (mut conn, _) = listener.accept()?;
//!         let mut buf = [0u8; 5];
//!         conn.read_exact(&mut buf)?;
//!         conn.write_all(&buf)
//!     });
//!     let mut client = oc_net::TcpStream::connect(addr)?;
//!     client.write_all(b"hello")?;
//!     let mut echo = [0u8; 5];
//!     client.read_exact(&mut echo)?;
//!     assert_eq!(&echo, b"hello");
//!     server.join().unwrap()
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod exchange;
mod lookup;
mod socket;
mod tcp;
mod udp;
mod unix;

pub use exchange::Exchange;
pub use lookup::lookup_host;
pub use tcp::{Incoming, TcpListener, TcpListenerBuilder, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
