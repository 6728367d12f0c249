//! The pack: every new object, undeltified, in one version-2 pack with its version-2 `.idx`.
#![deny(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};
use flate2::{Compress, FlushCompress, Status};
use git2::Oid;
use sha1::{Digest, Sha1};

use super::unsupported;
use super::Object;
/// Blobs below this many bytes in all are compressed on one thread: a second one costs more to
/// start than it saves.
pub(super) const PARALLEL_BYTES: usize = 256 * 1024;

// Hand-written, not mempack + `Odb::packwriter`: libgit2's packbuilder searches for deltas and
// compresses at the default level, then its indexer re-reads the pack; 1,888 ms against 49 ms for
// the objects of 1,000 changed files (bench/results.md, #15). `git fsck --strict` and
// `git verify-pack` check the pack in `differential.rs`.
/// Writes `objects` (compressed) as `pack-<checksum>.pack` and `.idx` in `dir`, and returns the
/// checksum.
pub(super) fn write_pack(dir: &Path, objects: &[Object]) -> Result<String> {
    let count = u32::try_from(objects.len()).context("too many objects for one pack")?;
    let size = objects.iter().map(|o| o.zlib.len() + 10).sum::<usize>();
    let mut pack = Vec::with_capacity(12 + size + 20);
    pack.extend_from_slice(b"PACK");
    pack.extend_from_slice(&2u32.to_be_bytes());
    pack.extend_from_slice(&count.to_be_bytes());
    let mut index: Vec<(Oid, u32, usize)> = Vec::with_capacity(objects.len());
    for o in objects {
        let start = pack.len();
        // Type in bits 4-6 of the first byte, the size in its low four bits and then seven bits
        // a byte, least significant first; the high bit says another byte follows.
        let mut size = o.data.len();
        let mut byte = ((o.kind as u8) << 4) | low_bits(size, 0x0f);
        size >>= 4;
        while size != 0 {
            pack.push(byte | 0x80);
            byte = low_bits(size, 0x7f);
            size >>= 7;
        }
        pack.push(byte);
        pack.extend_from_slice(&o.zlib);
        index.push((o.id, crc32fast::hash(&pack[start..]), start));
    }
    if pack.len() > 0x7fff_ffff {
        return unsupported("a pack over 2 GiB (the index would need 64-bit offsets)");
    }
    let checksum: [u8; 20] = Sha1::digest(&pack).into();
    pack.extend_from_slice(&checksum);

    index.sort_by_key(|&(id, _, _)| id);
    let mut idx = Vec::with_capacity(8 + 256 * 4 + index.len() * 28 + 40);
    idx.extend_from_slice(b"\xfftOc");
    idx.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for (id, _, _) in &index {
        fanout[usize::from(id.as_bytes()[0])] += 1;
    }
    let mut running = 0;
    for n in fanout {
        running += n;
        idx.extend_from_slice(&running.to_be_bytes());
    }
    for (id, _, _) in &index {
        idx.extend_from_slice(id.as_bytes());
    }
    for (_, crc, _) in &index {
        idx.extend_from_slice(&crc.to_be_bytes());
    }
    for &(_, _, offset) in &index {
        // Below 2 GiB, checked above.
        let offset = u32::try_from(offset).expect("a pack offset below 2 GiB");
        idx.extend_from_slice(&offset.to_be_bytes());
    }
    idx.extend_from_slice(&checksum);
    let own: [u8; 20] = Sha1::digest(&idx).into();
    idx.extend_from_slice(&own);

    let name = format!("pack-{}", hex(&checksum));
    // git finds a pack by its .idx: the .pack must be complete, under its name, first.
    let tmp_pack = TempFile::write(dir, "tmp_pack_", &pack)?;
    let tmp_idx = TempFile::write(dir, "tmp_idx_", &idx)?;
    tmp_pack.persist(&dir.join(format!("{name}.pack")))?;
    tmp_idx.persist(&dir.join(format!("{name}.idx")))?;
    crate::ui::trace("gitwrite: pack written");
    Ok(name)
}

/// `value & mask` for a mask below 256: the bits of a size field in a pack object's header.
fn low_bits(value: usize, mask: u8) -> u8 {
    u8::try_from(value & usize::from(mask)).expect("masked to 8 bits")
}

/// The zlib stream of `input`.
pub(super) fn compress(z: &mut Compress, input: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    z.reset();
    deflate(z, input, &mut out)?;
    Ok(out)
}

/// Appends the zlib stream of `input` to `out`.
fn deflate(z: &mut Compress, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    loop {
        // zlib's bound for incompressible input is a few bytes more than the input.
        out.reserve(input.len() + input.len() / 64 + 64);
        let (before_in, before_out) = (z.total_in(), z.total_out());
        let status = z
            .compress_vec(input, out, FlushCompress::Finish)
            .context("zlib failed")?;
        let used = usize::try_from(z.total_in() - before_in).expect("at most the input's length");
        input = &input[used..];
        match status {
            Status::StreamEnd => return Ok(()),
            _ if used == 0 && z.total_out() == before_out => bail!("zlib made no progress"),
            _ => {}
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A file written under a temporary name (`tmp_*`, which `git gc` cleans up if a crash leaves
/// one), removed unless it is renamed into place.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl TempFile {
    fn write(dir: &Path, prefix: &str, bytes: &[u8]) -> Result<TempFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{prefix}{}_{nanos}_{n}", std::process::id()));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        // git's pack files are read-only.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o444);
        let mut file = options
            .open(&path)
            .with_context(|| format!("cannot create `{}`", path.display()))?;
        let temp = TempFile { path, keep: false };
        file.write_all(bytes)
            .with_context(|| format!("cannot write `{}`", temp.path.display()))?;
        Ok(temp)
    }

    fn persist(mut self, to: &Path) -> Result<()> {
        fs::rename(&self.path, to).with_context(|| format!("cannot create `{}`", to.display()))?;
        self.keep = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}
