//! The facts some four-letter words report that live outside the node: file descriptors,
//! directory sizes, host and process details. Blocking std I/O (mostly /proc on Linux); run it
//! off the async threads. Anything unreadable is `None` (or size 0), never an error: a
//! monitoring word must answer even on a system that hides some of this.

use super::fourlw::{DirFacts, EnvFacts, Facts, Needs};
use crate::config::Config;
use std::fs;
use std::path::{Path, PathBuf};

/// Gather what `needs` asks for.
pub fn collect(needs: Needs, config: &Config) -> Facts {
    let mut facts = Facts::default();
    if needs.fds {
        facts.open_fds = open_fds();
        facts.max_fds = max_fds();
    }
    if needs.dirs {
        facts.data_dir = Some(dir_facts(&config.data_dir));
        facts.log_dir = Some(dir_facts(&config.data_log_dir));
    }
    if needs.env {
        facts.env = Some(env_facts());
    }
    facts
}

/// Entries of /proc/self/fd (ZooKeeper's UnixOperatingSystemMXBean counts the same way).
fn open_fds() -> Option<u64> {
    let entries = fs::read_dir("/proc/self/fd").ok()?;
    Some(entries.count() as u64)
}

/// The soft `RLIMIT_NOFILE`, from /proc/self/limits (`None` when unlimited or unreadable).
fn max_fds() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    parse_max_open_files(&limits)
}

fn parse_max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .strip_prefix("Max open files")?
        .split_whitespace()
        .next()?;
    soft.parse().ok()
}

/// `<dir>/version-2`, absolute, and the bytes of the files under it.
fn dir_facts(dir: &Path) -> DirFacts {
    let version_dir = dir.join("version-2");
    let path = std::path::absolute(&version_dir).unwrap_or(version_dir);
    let size = dir_size(&path);
    DirFacts { path, size }
}

/// Total length of the regular files under `path` (recursively, symlinks not followed;
/// unreadable entries count 0, as ZooKeeper's getDirSize).
pub fn dir_size(path: &Path) -> u64 {
    let mut total = 0u64;
    let mut stack: Vec<PathBuf> = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = fs::read_dir(&p) {
                stack.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
            }
        } else if meta.is_file() {
            total = total.saturating_add(meta.len());
        }
    }
    total
}

fn read_trimmed(path: &str) -> Option<String> {
    let s = fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn env_facts() -> EnvFacts {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid =
        status_field(&status, "Uid:").and_then(|v| v.split_whitespace().next().map(str::to_string));
    let passwd = uid.as_deref().and_then(passwd_entry);
    EnvFacts {
        host_name: read_trimmed("/proc/sys/kernel/hostname")
            .or_else(|| std::env::var("HOSTNAME").ok()),
        os_name: read_trimmed("/proc/sys/kernel/ostype")
            .or_else(|| Some(std::env::consts::OS.to_string())),
        os_arch: Some(java_arch(std::env::consts::ARCH).to_string()),
        os_version: read_trimmed("/proc/sys/kernel/osrelease"),
        user_name: passwd
            .as_ref()
            .map(|(name, _)| name.clone())
            .or_else(|| std::env::var("USER").ok()),
        user_home: passwd
            .map(|(_, home)| home)
            .or_else(|| std::env::var("HOME").ok()),
        user_dir: std::env::current_dir()
            .ok()
            .map(|d| d.display().to_string()),
        rss_bytes: status_kib(&status, "VmRSS:"),
        peak_rss_bytes: status_kib(&status, "VmHWM:"),
    }
}

/// Java's `os.arch` names for the common targets.
fn java_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "x86" => "i386",
        other => other,
    }
}

fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
}

/// A `VmRSS:   1234 kB` line of /proc/self/status, in bytes.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let value = status_field(status, key)?;
    let kib: u64 = value.split_whitespace().next()?.parse().ok()?;
    kib.checked_mul(1024)
}

/// (name, home) of `uid` in /etc/passwd, as Java's user.name/user.home (getpwuid).
fn passwd_entry(uid: &str) -> Option<(String, String)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    parse_passwd(&passwd, uid)
}

fn parse_passwd(passwd: &str, uid: &str) -> Option<(String, String)> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [name, _pw, u, _gid, _gecos, home, ..] if *u == uid => {
                Some((name.to_string(), home.to_string()))
            }
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_soft_open_files_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_max_open_files(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_max_open_files(unlimited), None);
    }

    #[test]
    fn parses_passwd_and_status() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nzk:x:1000:1000::/home/zk:/bin/sh\n";
        assert_eq!(
            parse_passwd(passwd, "1000"),
            Some(("zk".to_string(), "/home/zk".to_string()))
        );
        assert_eq!(parse_passwd(passwd, "7"), None);
        let status =
            "Name:\tzabd\nUid:\t1000\t1000\t1000\t1000\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(1024 * 1024));
        assert_eq!(status_kib(status, "VmHWM:"), Some(2048 * 1024));
        assert_eq!(status_field(status, "Uid:"), Some("1000\t1000\t1000\t1000"));
    }

    #[test]
    fn live_facts_are_read() {
        let fds = open_fds();
        if cfg!(target_os = "linux") {
            assert!(fds.is_some_and(|n| n >= 3), "{fds:?}");
            assert!(env_facts().os_version.is_some());
        }
    }

    #[test]
    fn dir_size_sums_files_recursively() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("version-2");
        fs::create_dir_all(sub.join("nested")).expect("mkdir");
        fs::write(sub.join("a"), [0u8; 10]).expect("write");
        fs::write(sub.join("nested").join("b"), [0u8; 32]).expect("write");
        assert_eq!(dir_size(&sub), 42);
        assert_eq!(dir_size(&dir.path().join("missing")), 0);
        let facts = dir_facts(dir.path());
        assert_eq!(facts.size, 42);
        assert!(facts.path.is_absolute());
        assert!(facts.path.ends_with("version-2"));
    }
}
