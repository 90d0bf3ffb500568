//! A throw-away PostgreSQL cluster in a temporary directory, on a free port, with the
//! `pg_hba.conf` a test asks for; stopped and removed on drop. Run as the `postgres` user
//! when the test runs as root (initdb refuses root).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) struct Cluster {
    pub(crate) dir: PathBuf,
    pub(crate) port: u16,
    bin: PathBuf,
    /// Keeps `port` for the cluster (see `reserve_port`).
    _port: socket2::Socket,
}

/// A loopback port kept for as long as the returned socket lives: bound with `SO_REUSEADDR`
/// and never listening. PostgreSQL binds with `SO_REUSEADDR` too, so it can still listen
/// there; but the kernel gives the port to no socket that asks for any free one (a bind to
/// port 0, an outgoing connection's local port), so no other test takes it between its
/// choice and the server's start, nor while the server is stopped. A port merely bound and
/// freed again is not kept.
fn reserve_port() -> (u16, socket2::Socket) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    // Held: a socket without `SO_REUSEADDR` cannot bind it now.
    let other = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    assert!(
        other.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into()).is_err(),
        "127.0.0.1:{port} can be taken while held"
    );
    (port, socket)
}

fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries in /usr/lib/postgresql/<version>/bin (apt-get install postgresql)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("an initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn run(bin: &Path, args: &[&str]) {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let out = cmd.args(args).output().expect("run a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{} {:?} failed: {}{}",
        bin.display(),
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    /// Creates and starts a cluster whose `pg_hba.conf` is `hba`.
    pub(crate) fn start(hba: &str) -> Cluster {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(crate::support::unique("oc-pg-cluster"));
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let ok = Command::new("chown").arg("postgres:").arg(&dir).status().unwrap().success();
            assert!(ok, "chown the cluster directory to postgres");
        }
        let data = dir.join("data");
        let (port, held) = reserve_port();
        let cluster = Cluster { dir: dir.clone(), port, bin: bin.clone(), _port: held };
        run(&bin.join("initdb"), &["-D", data.to_str().unwrap(), "-U", "postgres", "--auth=trust", "-N"]);
        let hba_path = data.join("pg_hba.conf");
        std::fs::write(&hba_path, hba).unwrap();
        cluster.resume();
        cluster
    }

    /// Starts the (stopped) server again, on the same port.
    pub(crate) fn resume(&self) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off -c max_connections=20",
            self.port,
            self.dir.display()
        );
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        run(
            &self.bin.join("pg_ctl"),
            &["-D", data.to_str().unwrap(), "-w", "-t", "60", "-l", log.to_str().unwrap(), "-o", &opts, "start"],
        );
    }

    /// Stops the server (fast mode: sessions are terminated, as in a real restart).
    pub(crate) fn stop(&self) {
        let data = self.dir.join("data");
        run(&self.bin.join("pg_ctl"), &["-D", data.to_str().unwrap(), "-w", "-t", "60", "-m", "fast", "stop"]);
    }

    /// A TCP URL for `user` (trust) on this cluster.
    pub(crate) fn url(&self, user: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let bin = self.bin.join("pg_ctl");
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        let _ = cmd.args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
