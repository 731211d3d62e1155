//! Reading the files a configuration names, bounded: only regular files, at most
//! [`MAX_FILE_BYTES`], UTF-8 (a leading byte-order mark dropped). `--config /dev/zero`, a FIFO
//! or a directory is refused with a message instead of hanging or filling memory.

use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

use super::{ConfigError, Pos};

/// The largest configuration, target list, file_sd or credentials file read: far above any real
/// one (a 10,000-target file_sd file is under 1 MiB), far below what would hurt.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// What kind of non-regular file `t` is, for the message.
fn kind(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Why a file could not be read: where (for bad UTF-8) and what, without the path.
#[derive(Debug)]
pub(crate) struct ReadError {
    /// Position of the first bad byte, when the file is not UTF-8.
    pub pos: Option<Pos>,
    /// What is wrong.
    pub msg: String,
}

/// Read `path` (a `what`: "config", "target list", …) whole, refusing anything but a regular
/// file of at most [`MAX_FILE_BYTES`]; errors name the file.
pub(crate) fn read_source(path: &Path, what: &str) -> Result<String, ConfigError> {
    read_bounded(path, what).map_err(|e| ConfigError::located(path, e.pos, e.msg))
}

/// [`read_source`] with errors that do not name the file (the caller places them). Opened
/// non-blocking, so a FIFO swapped in after any check cannot block the caller either.
pub(crate) fn read_bounded(path: &Path, what: &str) -> Result<String, ReadError> {
    let fail = |msg: String| ReadError { pos: None, msg };
    let io = |e: std::io::Error| fail(format!("reading {what}: {e}"));
    let nonblock = i32::try_from(rustix::fs::OFlags::NONBLOCK.bits()).unwrap_or(0);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nonblock)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(fail(format!(
            "{what} is {}: scrapetop reads only regular files",
            kind(meta.file_type())
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(format!(
            "{what} is larger than {} MiB, the most scrapetop reads",
            MAX_FILE_BYTES >> 20
        )));
    }
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    match std::str::from_utf8(body) {
        Ok(s) => Ok(s.to_owned()),
        Err(e) => {
            let good = &body[..e.valid_up_to()];
            let line = good.iter().filter(|b| **b == b'\n').count() + 1;
            let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            Err(ReadError {
                pos: Some(Pos {
                    line,
                    column: good.len() - line_start + 1,
                }),
                msg: format!("{what} is not valid UTF-8"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_small_regular_file() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let big = dir.path().join("big.yml");
        std::fs::File::create(&big)?.set_len(MAX_FILE_BYTES + 1)?;
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status()?;
        assert!(status.success(), "mkfifo failed");
        let bad_utf8 = dir.path().join("bad.yml");
        std::fs::write(&bad_utf8, b"a: 1\nb: \xff\n")?;
        let cases: [(&Path, &str); 5] = [
            (
                Path::new("/dev/zero"),
                "config is a character device: scrapetop reads only regular files",
            ),
            (
                &fifo,
                "config is a FIFO: scrapetop reads only regular files",
            ),
            (
                dir.path(),
                "config is a directory: scrapetop reads only regular files",
            ),
            (
                &big,
                "config is larger than 64 MiB, the most scrapetop reads",
            ),
            (&bad_utf8, "2:4: config is not valid UTF-8"),
        ];
        for (p, want) in cases {
            let e = read_source(p, "config").expect_err(want).to_string();
            assert!(e.ends_with(want), "{e}");
        }
        let bom = dir.path().join("bom.json");
        std::fs::write(&bom, "\u{feff}[]")?;
        assert_eq!(read_source(&bom, "target list")?, "[]");
        Ok(())
    }
}
