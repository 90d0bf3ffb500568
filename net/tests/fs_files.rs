//! Files through the reactor (io_uring reads and writes; blocking calls with epoll).

mod support;

use std::io::{Read, Seek, SeekFrom, Write};

use oc_runtime::fs::File;

#[test]
fn files_round_trip_on_both_backends() {
    support::on_each_backend(2, |backend| {
        let dir = std::env::temp_dir().join(format!("oc-fs-{}-{backend:?}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Many coroutines write and read their own files at once.
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let path = dir.join(format!("f{i}"));
                oc_runtime::spawn(move || {
                    let data: Vec<u8> = (0..100_000u32).map(|x| (x * 7 + i) as u8).collect();
                    let mut f = File::create(&path).unwrap();
                    f.write_all(&data[..60_000]).unwrap();
                    f.write_all(&data[60_000..]).unwrap();
                    drop(f);
                    assert_eq!(oc_runtime::fs::read(&path).unwrap(), data);
                    let mut f = File::open(&path).unwrap();
                    f.seek(SeekFrom::Start(99_990)).unwrap();
                    let mut tail = Vec::new();
                    f.read_to_end(&mut tail).unwrap();
                    assert_eq!(tail, &data[99_990..]);
                    let mut one = [0u8; 4];
                    assert_eq!(f.read_at(&mut one, 10).unwrap(), 4);
                    assert_eq!(one, data[10..14]);
                    assert_eq!(f.read_at(&mut one, 100_000).unwrap(), 0, "end of file");
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let err = File::open(dir.join("missing")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
