//! File offsets of the functions to probe, from the ELF symbol table.
//!
//! CPython 3.2–3.13 takes and releases its GIL in `take_gil` and `drop_gil`
//! (`Python/ceval_gil.c`): `static` functions, so *local* symbols (`nm` shows
//! `t take_gil`), present in pyenv's unstripped builds and absent from
//! distribution binaries, whose symbols live in a separate debug file named by
//! the build id (`/usr/lib/debug/.build-id/ab/cdef….debug`, from the
//! `python3.X-dbg` package). Python 2.7 has no such pair: its GIL is a plain
//! `PyThread_type_lock` taken with the exported `PyThread_acquire_lock` and
//! released with `PyThread_release_lock`.
//!
//! A uprobe wants a *file offset*; a symbol gives a virtual address. The
//! offset is the address's place in the `PT_LOAD` segment holding it, taken from
//! the file itself (a debug file's segments are empty).

use object::{Object, ObjectSegment, ObjectSymbol};
use std::path::{Path, PathBuf};

/// How this interpreter's GIL is taken and released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// 3.2+: `take_gil` / `drop_gil`.
    TakeDrop,
    /// 2.7: `PyThread_acquire_lock` / `PyThread_release_lock` (on every lock;
    /// the GIL is the one taken most, see `spans`).
    Legacy,
}

/// Where to put the probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GilSymbols {
    /// Which pair was found.
    pub flavour: Flavour,
    /// File offset of the take function.
    pub take: u64,
    /// File offset of the drop function.
    pub drop: u64,
    /// The file the offsets are of.
    pub file: PathBuf,
}

/// Why no symbols were found.
#[derive(Debug, thiserror::Error)]
pub enum SymbolError {
    /// The file could not be read or is no ELF.
    #[error("cannot read {path}: {why}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// Neither pair is there (a stripped build).
    #[error("{path} has no take_gil/drop_gil symbols (stripped)")]
    Stripped {
        /// The file.
        path: PathBuf,
    },
}

/// Finds the GIL functions of `library` (its own symbols, else its debug file's).
pub fn find(library: &Path) -> Result<GilSymbols, SymbolError> {
    let unreadable = |why: String| SymbolError::Unreadable {
        path: library.to_path_buf(),
        why,
    };
    let data = std::fs::read(library).map_err(|e| unreadable(e.to_string()))?;
    let file = object::File::parse(&*data).map_err(|e| unreadable(e.to_string()))?;
    let segments: Vec<(u64, u64, u64)> = file
        .segments()
        .map(|s| (s.address(), s.size(), s.file_range().0))
        .collect();
    let from = |addresses: Option<(Flavour, u64, u64)>| {
        let (flavour, take, drop) = addresses?;
        Some(GilSymbols {
            flavour,
            take: file_offset(&segments, take)?,
            drop: file_offset(&segments, drop)?,
            file: library.to_path_buf(),
        })
    };
    if let Some(found) = from(addresses(&file)) {
        return Ok(found);
    }
    if let Some(debug) = file
        .build_id()
        .ok()
        .flatten()
        .and_then(debug_file_for)
        .and_then(|p| std::fs::read(p).ok())
    {
        if let Ok(debug) = object::File::parse(&*debug) {
            if let Some(found) = from(addresses(&debug)) {
                return Ok(found);
            }
        }
    }
    Err(SymbolError::Stripped {
        path: library.to_path_buf(),
    })
}

/// The addresses of the take/drop pair in `file`'s symbol tables.
fn addresses(file: &object::File<'_>) -> Option<(Flavour, u64, u64)> {
    let mut found: [Option<u64>; 4] = [None; 4];
    const NAMES: [&str; 4] = [
        "take_gil",
        "drop_gil",
        "PyThread_acquire_lock",
        "PyThread_release_lock",
    ];
    for symbol in file.symbols().chain(file.dynamic_symbols()) {
        if symbol.address() == 0 || !symbol.is_definition() {
            continue;
        }
        if let Some(i) = symbol
            .name()
            .ok()
            .and_then(|n| NAMES.iter().position(|w| *w == n))
        {
            found[i].get_or_insert(symbol.address());
        }
    }
    match found {
        [Some(take), Some(drop), ..] => Some((Flavour::TakeDrop, take, drop)),
        [_, _, Some(take), Some(drop)] => Some((Flavour::Legacy, take, drop)),
        _ => None,
    }
}

/// The file offset of virtual address `address`, from (address, size, offset) segments.
fn file_offset(segments: &[(u64, u64, u64)], address: u64) -> Option<u64> {
    segments
        .iter()
        .find(|(start, size, _)| address >= *start && address < start + size)
        .map(|(start, _, offset)| address - start + offset)
}

/// `/usr/lib/debug/.build-id/ab/cdef….debug`, if it exists.
fn debug_file_for(id: &[u8]) -> Option<PathBuf> {
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    if hex.len() < 3 {
        return None;
    }
    let path = PathBuf::from(format!(
        "/usr/lib/debug/.build-id/{}/{}.debug",
        &hex[..2],
        &hex[2..]
    ));
    path.is_file().then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_come_from_the_segment_holding_the_address() {
        let segments = [(0, 0x1000, 0), (0x2000, 0x3000, 0x1000)];
        assert_eq!(file_offset(&segments, 0x2010), Some(0x1010));
        assert_eq!(file_offset(&segments, 0x10), Some(0x10));
        assert_eq!(file_offset(&segments, 0x9000), None);
    }

    #[test]
    fn a_file_without_the_symbols_is_stripped_and_garbage_is_unreadable() {
        // gilbench's own test binary has neither pair.
        let me = std::env::current_exe().unwrap();
        assert!(matches!(find(&me), Err(SymbolError::Stripped { .. })));
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"not an elf").unwrap();
        assert!(matches!(find(&junk), Err(SymbolError::Unreadable { .. })));
        assert!(debug_file_for(&[0xab]).is_none());
    }
}
