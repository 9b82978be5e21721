//! Files as the OS sees them: what kind of thing a path names, for messages that
//! refuse a device, a FIFO or a directory where a regular file belongs. No `unsafe`
//! here; it sits in `sys` so every layer may use it.

use std::os::unix::fs::FileTypeExt;

/// "a directory", "a character device", … for a message.
pub fn kind(t: &std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}
