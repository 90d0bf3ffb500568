//! Choosing the IO backend: forcing io_uring where the kernel refuses it is a clear error,
//! `auto` falls back to epoll.
//!
//! The refusing kernel is simulated in a child process with a seccomp filter that makes
//! `io_uring_setup` fail with `EPERM` (as `kernel.io_uring_disabled=2` or a container
//! profile would).

use std::process::Command;

use oc_runtime::{IoBackend, Runtime};

fn refuse_io_uring() {
    const SYS_IO_URING_SETUP: u32 = 425; // the same on x86_64 and aarch64
    const SECCOMP_DATA_NR: u32 = 0;
    let filter = [
        libc::sock_filter {
            code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: SECCOMP_DATA_NR,
        },
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: SYS_IO_URING_SETUP,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        },
        libc::sock_filter { code: (libc::BPF_RET | libc::BPF_K) as u16, jt: 0, jf: 0, k: libc::SECCOMP_RET_ALLOW },
    ];
    let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr().cast_mut() };
    // SAFETY: standard seccomp installation with a valid program that outlives the call.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog as *const _ as usize, 0, 0), 0);
    }
}

#[test]
#[ignore = "run as a child process by forcing_io_uring_on_a_refusing_kernel_is_a_clear_error"]
fn child_refusing_kernel() {
    if std::env::var_os("OC_TEST_CHILD").is_none() {
        return;
    }
    refuse_io_uring();
    let err = Runtime::builder().workers(1).io_backend(IoBackend::Uring).build().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("io_uring") && msg.contains("refused") && msg.contains("epoll"), "{msg}");
    let rt = Runtime::builder().workers(1).io_backend(IoBackend::Auto).build().unwrap();
    assert_eq!(rt.io_backend(), IoBackend::Epoll);
    // The fallback runtime does IO.
    let echoed = rt.block_on(|| {
        let (mut a, mut b) = oc_net::UnixStream::pair().unwrap();
        std::io::Write::write_all(&mut a, b"ok").unwrap();
        let mut buf = [0u8; 2];
        std::io::Read::read_exact(&mut b, &mut buf).unwrap();
        buf
    });
    assert_eq!(&echoed, b"ok");
    println!("CHILD-OK");
}

#[test]
fn forcing_io_uring_on_a_refusing_kernel_is_a_clear_error() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_refusing_kernel", "--ignored", "--nocapture", "--test-threads=1"])
        .env("OC_TEST_CHILD", "1")
        .env_remove("OC_IO_BACKEND")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("CHILD-OK"), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
#[ignore = "run as a child process by the environment variable chooses the backend"]
fn child_env_backend() {
    let Ok(want) = std::env::var("OC_TEST_CHILD") else {
        return;
    };
    match want.as_str() {
        "epoll" => assert_eq!(Runtime::builder().workers(1).build().unwrap().io_backend(), IoBackend::Epoll),
        "bogus" => {
            let err = Runtime::builder().workers(1).build().unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains("OC_IO_BACKEND"), "{err}");
        }
        _ => unreachable!(),
    }
    // The builder wins over the environment.
    if want == "epoll" {
        match Runtime::builder().workers(1).io_backend(IoBackend::Uring).build() {
            Ok(rt) => assert_eq!(rt.io_backend(), IoBackend::Uring),
            // A kernel without io_uring (a failure where CI requires it).
            Err(e) => assert!(
                std::env::var_os("OC_REQUIRE_IO_URING").is_none_or(|v| v != "1"),
                "io_uring required (OC_REQUIRE_IO_URING=1) but unavailable: {e}"
            ),
        }
    }
    println!("CHILD-OK");
}

#[test]
fn the_environment_variable_chooses_the_backend() {
    for value in ["epoll", "bogus"] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_env_backend", "--ignored", "--nocapture", "--test-threads=1"])
            .env("OC_TEST_CHILD", value)
            .env("OC_IO_BACKEND", value)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("CHILD-OK"),
            "{value}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
