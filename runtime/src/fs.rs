//! Files whose reads and writes go through the worker's io_uring ring when it has one, so a
//! read that misses the page cache suspends the coroutine instead of blocking the worker (a
//! read first copies what the page cache holds, with `preadv2(RWF_NOWAIT)`, and goes to the
//! ring only for the rest). With the epoll reactor (or on a plain thread) they are ordinary
//! blocking calls.

use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::Path;

/// An open file with a cursor, like `std::fs::File`.
#[derive(Debug)]
pub struct File {
    file: std::fs::File,
    pos: u64,
}

impl File {
    /// Opens a file for reading.
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<File> {
        Ok(File::from(std::fs::File::open(path)?))
    }

    /// Creates (or truncates) a file for writing.
    pub fn create<P: AsRef<Path>>(path: P) -> io::Result<File> {
        Ok(File::from(std::fs::File::create(path)?))
    }

    /// Opens a file with `options`.
    pub fn open_with<P: AsRef<Path>>(path: P, options: &OpenOptions) -> io::Result<File> {
        Ok(File::from(options.open(path)?))
    }

    /// Reads into `buf` from `offset`, leaving the cursor alone.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        crate::io::read_at(self.file.as_fd(), buf, offset)
    }

    /// Writes `buf` at `offset`, leaving the cursor alone.
    pub fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        crate::io::write_at(self.file.as_fd(), buf, offset)
    }

    /// Writes all of `buf` at `offset`.
    pub fn write_all_at(&self, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write_at(buf, offset)? {
                0 => {
                    return Err(io::Error::new(io::ErrorKind::WriteZero, "failed to write whole buffer"));
                }
                n => {
                    buf = &buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }

    /// Flushes data and metadata to the device.
    pub fn sync_all(&self) -> io::Result<()> {
        self.file.sync_all()
    }

    /// The file's metadata.
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.file.metadata()
    }

    /// Truncates or extends the file.
    pub fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    /// The std file underneath (its cursor is not this file's cursor).
    pub fn into_std(self) -> std::fs::File {
        self.file
    }
}

impl From<std::fs::File> for File {
    fn from(file: std::fs::File) -> File {
        File { file, pos: 0 }
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.write_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.file.metadata()?.len().checked_add_signed(d),
        };
        self.pos = new
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek to a negative or overflowing position"))?;
        Ok(self.pos)
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Reads a whole file.
pub fn read<P: AsRef<Path>>(path: P) -> io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    let mut out = Vec::with_capacity(file.metadata().map_or(0, |m| m.len() as usize));
    file.read_to_end(&mut out)?;
    Ok(out)
}

/// Writes a whole file, creating or truncating it.
pub fn write<P: AsRef<Path>, C: AsRef<[u8]>>(path: P, contents: C) -> io::Result<()> {
    File::create(path)?.write_all_at(contents.as_ref(), 0)
}
