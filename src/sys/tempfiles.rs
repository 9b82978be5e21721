//! The temporary files output is written to before it is renamed into place
//! (`output::atomic`), and the sweep that removes the ones a killed gilbench
//! left beside their target.
//!
//! Such a file sits beside a path the user chose, among files gilbench knows
//! nothing about, so it is removed only when it is provably gilbench's and its
//! creator provably dead, as [`super::tempdirs`] does for directories. A file
//! holds no marker of its own (its bytes are the output), so the creator is
//! written into its name:
//!
//! ```text
//! .TARGET.gilbench-PID-START-PIDNS-BOOT-RANDOM.gilbench-tmp
//! ```
//!
//! PID the creating process, START its start time (`/proc/PID/stat` field 22),
//! PIDNS its pid namespace's inode number, BOOT the first 8 hex digits of the
//! boot id, RANDOM tempfile's alphanumerics. (A target name too long for all
//! that is cut, and a hash of the whole name added: see [`stem`].)
//!
//! [`sweep`] runs when gilbench is about to write TARGET again, and looks only
//! beside TARGET, only at names for TARGET. It removes one only when all of
//! these hold: the name has exactly that shape; it is a regular file (not a
//! symlink, not a directory) owned by this user, with one link; and its creator
//! is dead — another boot, or, in this boot and this pid namespace, no process
//! with that pid and start time. Anything else — another target's file, a live
//! creator, another pid namespace, a name in any other form — is left alone.
//! Without `/proc` no owner can be written or proved dead: the name then holds
//! no owner, and is never swept. No `unsafe` here.

use super::tempdirs::Owner;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// How every temporary output file's name ends.
pub const SUFFIX: &str = ".gilbench-tmp";

/// The longest file name most filesystems take (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// What a name needs beyond [`stem`]: `gilbench-` and the owner (pid, start
/// time and namespace at most 10, 20 and 20 digits, 8 of boot, 4 dashes), 6
/// random characters (tempfile's default) and [`SUFFIX`], with room to spare.
const OWNER_ROOM: usize = 100;

/// How many hex digits of the boot id a name holds.
const BOOT_DIGITS: usize = 8;

/// `.TARGET.`: how the temporary files for `target_name` start, before the
/// owner. A target name that would leave no room for the rest is cut (on a
/// character boundary) and followed by an FNV-1a hash of the whole name, so
/// two long names that share their start still have their own files.
pub fn stem(target_name: &str) -> String {
    let room = NAME_MAX - OWNER_ROOM - 2;
    if target_name.len() <= room {
        return format!(".{target_name}.");
    }
    let mut cut = room - 17;
    while !target_name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(".{}.{:016x}.", &target_name[..cut], fnv1a(target_name))
}

/// FNV-1a, 64 bits: stable across builds, unlike std's hasher.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The prefix to give tempfile for a temporary file of `target_name` made by
/// this process: [`stem`], then `gilbench-PID-START-PIDNS-BOOT-` (nothing of
/// the owner without `/proc`).
pub fn prefix(target_name: &str) -> String {
    let stem = stem(target_name);
    match Owner::of(std::process::id()) {
        Some(owner) if owner.boot.len() >= BOOT_DIGITS => format!(
            "{stem}gilbench-{}-{}-{}-{}-",
            owner.pid,
            owner.start,
            owner.pidns,
            owner.boot[..BOOT_DIGITS].to_ascii_lowercase()
        ),
        _ => stem,
    }
}

/// The owner a temporary file's name says made it, given the name after its
/// [`stem`]: `gilbench-PID-START-PIDNS-BOOT-RANDOM.gilbench-tmp`, exactly.
fn owner_in(rest: &str) -> Option<Owner> {
    let rest = rest.strip_suffix(SUFFIX)?;
    let parts: Vec<&str> = rest.split('-').collect();
    let ["gilbench", pid, start, pidns, boot, random] = parts.as_slice() else {
        return None;
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    let hex = |s: &str| {
        s.len() == BOOT_DIGITS
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let alnum = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if !(digits(pid) && digits(start) && digits(pidns) && hex(boot) && alnum(random)) {
        return None;
    }
    Some(Owner {
        pid: pid.parse().ok()?,
        start: start.parse().ok()?,
        boot: (*boot).to_owned(),
        pidns: pidns.parse().ok()?,
    })
}

/// Whether `path`, named `name`, is a temporary file for a target whose
/// [`stem`] is `stem`, left by a dead gilbench.
fn is_stale(path: &Path, name: &str, stem: &str) -> bool {
    let Some(owner) = name.strip_prefix(stem).and_then(owner_in) else {
        return false;
    };
    let uid = nix::unistd::geteuid().as_raw();
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() && m.uid() == uid && m.nlink() == 1 => {}
        _ => return false,
    }
    owner.is_dead()
}

/// Removes the temporary files for `target_name` in `dir` that a dead gilbench
/// left (see the module documentation); returns those removed. Errors are
/// ignored: what cannot be read or removed is left as it is.
pub fn sweep(dir: &Path, target_name: &str) -> Vec<PathBuf> {
    let stem = stem(target_name);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let path = entry.path();
        if is_stale(&path, name, &stem) && std::fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name as gilbench gives it, for `owner` (boot cut to 8 digits).
    fn named(target: &str, owner: &Owner, random: &str) -> String {
        format!(
            "{}gilbench-{}-{}-{}-{}-{random}{SUFFIX}",
            stem(target),
            owner.pid,
            owner.start,
            owner.pidns,
            &owner.boot[..BOOT_DIGITS]
        )
    }

    fn me() -> Owner {
        Owner::of(std::process::id()).unwrap()
    }

    #[test]
    fn the_name_says_who_made_it() {
        let made = tempfile::Builder::new()
            .prefix(&prefix("t.json"))
            .suffix(SUFFIX)
            .tempfile_in(std::env::temp_dir())
            .unwrap();
        let name = made.path().file_name().unwrap().to_str().unwrap();
        let owner = owner_in(name.strip_prefix(".t.json.").unwrap()).unwrap();
        let me = me();
        assert_eq!(
            (owner.pid, owner.start, owner.pidns),
            (me.pid, me.start, me.pidns)
        );
        assert!(me.boot.starts_with(&owner.boot));
        assert!(!owner.is_dead());
        for bad in [
            "gilbench-1-2-3-0123abcd-xyz",
            "gilbench-1-2-3-0123abcd-.gilbench-tmp",
            "gilbench-1-2-3-0123abcg-xyz.gilbench-tmp",
            "gilbench-1-2-3-0123abc-xyz.gilbench-tmp",
            "gilbench-1-2-x-0123abcd-xyz.gilbench-tmp",
            "gilbench-1-2-3-0123abcd-x-y.gilbench-tmp",
            "gilbench-1-2-3-4-0123abcd-xyz.gilbench-tmp",
            "other-1-2-3-0123abcd-xyz.gilbench-tmp",
        ] {
            assert_eq!(owner_in(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_long_target_name_is_cut_and_hashed_and_still_fits() {
        let long = "é".repeat(120);
        let other = format!("{}x", "é".repeat(119));
        let stem_long = stem(&long);
        assert!(stem_long.len() + OWNER_ROOM <= NAME_MAX);
        assert_ne!(stem_long, stem(&other));
        assert_eq!(stem_long, stem(&long));
        assert_eq!(stem("t.json"), ".t.json.");
    }

    #[test]
    fn only_a_dead_creators_file_for_this_target_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let me = me();
        let reused = Owner {
            start: me.start + 1,
            ..me.clone()
        };
        let earlier_boot = Owner {
            boot: "ffffffff".into(),
            ..me.clone()
        };
        let elsewhere = Owner {
            pidns: me.pidns + 1,
            ..reused.clone()
        };
        let file = |name: &str| {
            std::fs::write(dir.path().join(name), "partial").unwrap();
            name.to_owned()
        };
        let mut stale = vec![file(&named("t.json", &reused, "aaaaaa"))];
        if !me.boot.starts_with("ffffffff") {
            stale.push(file(&named("t.json", &earlier_boot, "bbbbbb")));
        }
        let kept = [
            file("t.json"),
            file(&named("t.json", &me, "cccccc")),
            file(&named("t.json", &elsewhere, "dddddd")),
            file(&named("other.json", &reused, "eeeeee")),
            file(&named("t.json", &reused, "ffffff").replace(SUFFIX, ".tmp")),
            file(&format!(".t.json.gggggg{SUFFIX}")),
        ];
        let dir_named = named("t.json", &reused, "hhhhhh");
        std::fs::create_dir(dir.path().join(&dir_named)).unwrap();
        let link = named("t.json", &reused, "iiiiii");
        std::os::unix::fs::symlink(dir.path().join("t.json"), dir.path().join(&link)).unwrap();
        let linked = file(&named("t.json", &reused, "jjjjjj"));
        std::fs::hard_link(dir.path().join(&linked), dir.path().join("hard")).unwrap();

        let removed = sweep(dir.path(), "t.json");
        assert_eq!(removed.len(), stale.len(), "{removed:?}");
        for name in &stale {
            assert!(!dir.path().join(name).exists(), "{name} was kept");
        }
        for name in kept.iter().chain([&dir_named, &link, &linked]) {
            assert!(
                dir.path().join(name).symlink_metadata().is_ok(),
                "{name} was removed"
            );
        }
        assert_eq!(
            std::fs::read(dir.path().join("t.json")).unwrap(),
            b"partial"
        );
    }
}
