//! Build metadata for the version string the four-letter words print
//! (`3.8.0-zabd-<crate version>-<commit>, built on <date> UTC`).
//!
//! Sets `ZABD_GIT_COMMIT` (`git rev-parse --short HEAD`, or `unknown` without git, without a
//! commit, or in a directory that git does not track, such as an unpacked source tarball)
//! and `ZABD_BUILD_DATE` (`YYYY-MM-DD HH:MM` in UTC, from `SOURCE_DATE_EPOCH` when set so that
//! builds are reproducible, else now). Reruns only when HEAD or the branch it points to moves,
//! not on every source change.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    // A source tarball unpacked inside some other git checkout must not claim that
    // checkout's commit: only a repository that tracks this crate's Cargo.toml counts.
    let tracked = git(
        &manifest_dir,
        &["ls-files", "--error-unmatch", "--", "Cargo.toml"],
    )
    .is_some();
    let commit = git(&manifest_dir, &["rev-parse", "--short", "HEAD"])
        .filter(|c| tracked && !c.is_empty() && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| "unknown".to_string());
    watch_git_head(&manifest_dir);

    let secs = env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });

    println!("cargo:rustc-env=ZABD_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=ZABD_BUILD_DATE={}", utc_minutes(secs));
}

/// Output of a git command run in `dir`, trimmed; `None` if git is missing or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Ask cargo to rerun when HEAD or the ref it names changes. Only existing paths are named:
/// cargo reruns a build script every time for a path that does not exist.
fn watch_git_head(dir: &Path) {
    let absolute = |p: String| {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            dir.join(p)
        }
    };
    let Some(git_dir) = git(dir, &["rev-parse", "--git-dir"]).map(absolute) else {
        return;
    };
    let common_dir = git(dir, &["rev-parse", "--git-common-dir"])
        .map(absolute)
        .unwrap_or_else(|| git_dir.clone());

    let head = git_dir.join("HEAD");
    if !head.is_file() {
        return;
    }
    println!("cargo:rerun-if-changed={}", head.display());
    let Ok(content) = std::fs::read_to_string(&head) else {
        return;
    };
    let Some(reference) = content.trim().strip_prefix("ref:").map(str::trim) else {
        return; // detached HEAD: the HEAD file itself holds the commit
    };
    for base in [&git_dir, &common_dir] {
        let loose = base.join(reference);
        if loose.is_file() {
            println!("cargo:rerun-if-changed={}", loose.display());
            return;
        }
    }
    // Packed, or not created yet (no commit on the branch): watch where it will appear.
    let packed = common_dir.join("packed-refs");
    if packed.is_file() {
        println!("cargo:rerun-if-changed={}", packed.display());
    }
    if let Some(parent) = common_dir.join(reference).parent() {
        if parent.is_dir() {
            println!("cargo:rerun-if-changed={}", parent.display());
        }
    }
}

/// `YYYY-MM-DD HH:MM` for seconds since the Unix epoch, in UTC (Howard Hinnant's
/// civil-from-days, so no date crate is needed).
fn utc_minutes(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3_600,
        rem % 3_600 / 60
    )
}
