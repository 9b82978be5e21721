//! Variable-length results from a worker to the parent, through the shared region.
//!
//! A workload's `outcome` runs in the parent after every worker is done — possibly
//! in another process — so whatever a worker wants to report (a histogram of GC
//! pauses, allocator statistics) must be written into the shared region. A blob
//! slot is a run of words: the first holds the length plus one (0 = nothing
//! written), the rest the bytes, eight to a word. Values are postcard-encoded.

use serde::{de::DeserializeOwned, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `value` into `slot`. Fails if it does not fit.
pub fn put<T: Serialize>(slot: &[AtomicU64], value: &T) -> std::io::Result<()> {
    let bytes = postcard::to_stdvec(value).map_err(std::io::Error::other)?;
    if bytes.len().div_ceil(8) + 1 > slot.len() {
        return Err(std::io::Error::other(format!(
            "a {}-byte result does not fit its {}-byte slot",
            bytes.len(),
            (slot.len() - 1) * 8
        )));
    }
    for (word, chunk) in slot[1..].iter().zip(bytes.chunks(8)) {
        let mut buf = [0u8; 8];
        buf[..chunk.len()].copy_from_slice(chunk);
        word.store(u64::from_le_bytes(buf), Ordering::Relaxed);
    }
    // Release: a reader that sees the length sees the bytes.
    slot[0].store(bytes.len() as u64 + 1, Ordering::Release);
    Ok(())
}

/// Reads what [`put`] wrote, if anything (and if it decodes).
pub fn get<T: DeserializeOwned>(slot: &[AtomicU64]) -> Option<T> {
    let len = slot.first()?.load(Ordering::Acquire).checked_sub(1)? as usize;
    let mut bytes = Vec::with_capacity(len + 8);
    for word in slot.get(1..=len.div_ceil(8))? {
        bytes.extend_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
    }
    bytes.truncate(len);
    postcard::from_bytes(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_does_not_fit() {
        let slot: Vec<AtomicU64> = (0..4).map(|_| AtomicU64::new(0)).collect();
        assert_eq!(get::<Vec<u8>>(&slot), None);
        put(&slot, &vec![1u8, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap();
        assert_eq!(get::<Vec<u8>>(&slot), Some(vec![1, 2, 3, 4, 5, 6, 7, 8, 9]));
        assert!(put(&slot, &vec![0u8; 100]).is_err());
    }
}
