//! Where a run's shared objects live, written in the shared region's header.
//!
//! Under every model but `manager` the header stays all zero: the objects are in
//! the region itself. The `manager` model writes its server's [`Endpoint`] there
//! before any worker starts, so every worker finds it the same way however it was
//! started — inherited by `fork`, or mapped from the memory file by a `spawn` or
//! `forkserver` worker — the way CPython hands the authkey to its children as part
//! of their process data. The region is private to the run's processes, like the
//! key itself.
//!
//! | words  | what                                         |
//! |--------|----------------------------------------------|
//! | 0      | [`MANAGER`] when a manager holds the objects |
//! | 1      | length of the socket path in bytes           |
//! | 2..16  | the socket path (112 bytes)                  |
//! | 16..20 | the authkey (32 bytes)                       |

use super::auth::{AuthKey, KEY_LENGTH};
use super::Endpoint;
use crate::runtime::shm::SharedRegion;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

/// Word 0 when a manager holds the objects ("manager" in ASCII).
pub const MANAGER: u64 = u64::from_le_bytes(*b"manager\0");

const PATH_WORDS: usize = 14;
const KEY_AT: usize = 2 + PATH_WORDS;

/// Records in `region` that its objects live in the manager at `endpoint`.
pub fn install(region: &SharedRegion, endpoint: &Endpoint) -> std::io::Result<()> {
    let words = region.header();
    let path = endpoint.path.as_os_str().as_bytes();
    if path.len() > PATH_WORDS * 8 {
        return Err(std::io::Error::other(format!(
            "manager socket path too long: {}",
            endpoint.path.display()
        )));
    }
    words[1].store(path.len() as u64, Ordering::Relaxed);
    store_bytes(&words[2..KEY_AT], path);
    store_bytes(
        &words[KEY_AT..KEY_AT + KEY_LENGTH / 8],
        endpoint.key.as_bytes(),
    );
    // Release: a worker that sees the tag sees the rest.
    words[0].store(MANAGER, Ordering::Release);
    Ok(())
}

/// The manager holding `region`'s objects, if one does.
pub fn endpoint(region: &SharedRegion) -> Option<Endpoint> {
    let words = region.header();
    if words[0].load(Ordering::Acquire) != MANAGER {
        return None;
    }
    let len = (words[1].load(Ordering::Relaxed) as usize).min(PATH_WORDS * 8);
    let path = load_bytes(&words[2..KEY_AT]);
    let key: [u8; KEY_LENGTH] = load_bytes(&words[KEY_AT..KEY_AT + KEY_LENGTH / 8])
        .try_into()
        .expect("KEY_LENGTH bytes");
    Some(Endpoint {
        path: PathBuf::from(std::ffi::OsStr::from_bytes(&path[..len])),
        key: AuthKey::from_bytes(key),
    })
}

fn store_bytes(words: &[std::sync::atomic::AtomicU64], bytes: &[u8]) {
    for (word, chunk) in words.iter().zip(bytes.chunks(8)) {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        word.store(u64::from_le_bytes(b), Ordering::Relaxed);
    }
}

fn load_bytes(words: &[std::sync::atomic::AtomicU64]) -> Vec<u8> {
    words
        .iter()
        .flat_map(|w| w.load(Ordering::Relaxed).to_le_bytes())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_header() {
        let region = SharedRegion::new(crate::runtime::shm::Sizer::default().bytes()).unwrap();
        assert!(
            endpoint(&region).is_none(),
            "zeroed: objects live in the region"
        );
        let written = Endpoint {
            path: PathBuf::from("/tmp/gilbench-manager-0123456789abcdef/manager.sock"),
            key: AuthKey::random().unwrap(),
        };
        install(&region, &written).unwrap();
        let read = endpoint(&region.clone()).unwrap();
        assert_eq!(read.path, written.path);
        assert_eq!(read.key, written.key);
        let long = Endpoint {
            path: PathBuf::from("/".repeat(200)),
            key: written.key,
        };
        assert!(install(&region, &long).is_err());
    }
}
