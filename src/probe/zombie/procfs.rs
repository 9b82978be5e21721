//! stub
pub struct Room { pub available: u64, pub why: String }
pub fn process_room() -> Room { Room { available: 100000, why: String::new() } }
