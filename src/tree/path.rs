//! znode path rules, as ZooKeeper's `PathUtils.validatePath`.
//!
//! ZooKeeper checks Java `char`s, i.e. UTF-16 code units. A Rust `&str` cannot hold lone
//! surrogates, and every character outside the Basic Multilingual Plane is a surrogate *pair*
//! in Java, which the `\ud800..\uf8ff` rule rejects; so any char above U+FFFF is refused here
//! too. The result is that exactly the same strings are accepted as by ZooKeeper.

/// The largest znode data ZooKeeper accepts: `jute.maxbuffer`'s default, 0xfffff bytes.
/// Larger data is refused with `BADARGUMENTS` (ZooKeeper would drop the connection while
/// reading the oversized packet; at apply time a code is the only thing we can return).
pub const MAX_DATA_LEN: usize = 0xfffff;

/// Why a path is not a valid znode path. Positions are char indices, as ZooKeeper reports them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path must not be empty")]
    Empty,
    #[error("path must start with '/'")]
    NotAbsolute,
    #[error("path must not end with '/'")]
    TrailingSlash,
    #[error("empty node name at {0}")]
    EmptyName(usize),
    #[error("relative path component ('.' or '..') at {0}")]
    Relative(usize),
    #[error("invalid character at {0}")]
    InvalidChar(usize),
}

/// The paths ZooKeeper owns: they cannot be deleted (ZooKeeper's `DataTree.isSpecialPath`).
pub const SPECIAL_PATHS: [&str; 4] = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];

pub fn is_special(path: &str) -> bool {
    SPECIAL_PATHS.contains(&path)
}

/// Validate a znode path exactly as ZooKeeper's `PathUtils.validatePath(String)`.
pub fn validate_path(path: &str) -> Result<(), PathError> {
    let mut chars = path.chars();
    match chars.next() {
        None => return Err(PathError::Empty),
        Some('/') => {}
        Some(_) => return Err(PathError::NotAbsolute),
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(PathError::TrailingSlash);
    }
    let mut prev = '/';
    for (i, c) in chars.enumerate() {
        let at = i + 1;
        if c == '/' && prev == '/' {
            return Err(PathError::EmptyName(at));
        }
        if is_disallowed(c) {
            return Err(PathError::InvalidChar(at));
        }
        prev = c;
    }
    // A component that is exactly "." or ".." is a relative reference.
    let mut at = 1;
    for component in path[1..].split('/') {
        if component == "." || component == ".." {
            return Err(PathError::Relative(at));
        }
        at += component.chars().count() + 1;
    }
    Ok(())
}

/// Validate the path a sequential create was asked for: ZooKeeper appends the counter later,
/// so a trailing '/' is fine ("/queue/" becomes "/queue/0000000007"); this is
/// `validatePath(path, true)`, which checks `path + "1"`.
pub fn validate_sequential_prefix(path: &str) -> Result<(), PathError> {
    validate_path(&format!("{path}1"))
}

fn is_disallowed(c: char) -> bool {
    let u = u32::from(c);
    matches!(u, 0x0000..=0x001f | 0x007f..=0x009f | 0xd800..=0xf8ff | 0xfff0..=0xffff) || u > 0xffff
}

/// Split a path into its parent path and last name: "/a/b" → ("/a", "b"), "/a" → ("/", "a").
/// `None` for the root (or anything without a '/').
pub fn split(path: &str) -> Option<(&str, &str)> {
    if path == "/" {
        return None;
    }
    let i = path.rfind('/')?;
    let parent = if i == 0 { "/" } else { &path[..i] };
    Some((parent, &path[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_zookeeper_accepts() {
        for p in [
            "/",
            "/a",
            "/a/b",
            "/a.b",
            "/...",
            "/.a",
            "/a..",
            "/zookeeper/quota",
            "/ünïcode",
            "/a b",
            "/a-b_c",
        ] {
            assert_eq!(validate_path(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn refuses_what_zookeeper_refuses() {
        assert_eq!(validate_path(""), Err(PathError::Empty));
        assert_eq!(validate_path("a"), Err(PathError::NotAbsolute));
        assert_eq!(validate_path("/a/"), Err(PathError::TrailingSlash));
        assert_eq!(validate_path("//a"), Err(PathError::EmptyName(1)));
        assert_eq!(validate_path("/a//b"), Err(PathError::EmptyName(3)));
        assert_eq!(validate_path("/."), Err(PathError::Relative(1)));
        assert_eq!(validate_path("/a/.."), Err(PathError::Relative(3)));
        assert_eq!(validate_path("/a/./b"), Err(PathError::Relative(3)));
        assert_eq!(validate_path("/a\0"), Err(PathError::InvalidChar(2)));
        assert_eq!(validate_path("/a\u{1}"), Err(PathError::InvalidChar(2)));
        assert_eq!(validate_path("/\u{7f}"), Err(PathError::InvalidChar(1)));
        assert_eq!(validate_path("/\u{9f}"), Err(PathError::InvalidChar(1)));
        assert_eq!(validate_path("/\u{e000}"), Err(PathError::InvalidChar(1)));
        assert_eq!(validate_path("/\u{fff0}"), Err(PathError::InvalidChar(1)));
        // Outside the BMP: a surrogate pair in Java, refused by ZooKeeper.
        assert_eq!(validate_path("/\u{1f600}"), Err(PathError::InvalidChar(1)));
    }

    #[test]
    fn sequential_prefix_may_end_with_a_slash() {
        assert_eq!(validate_sequential_prefix("/q/"), Ok(()));
        assert_eq!(validate_sequential_prefix("/"), Ok(()));
        assert_eq!(
            validate_sequential_prefix("/q//"),
            Err(PathError::EmptyName(3))
        );
    }

    #[test]
    fn split_finds_parent_and_name() {
        assert_eq!(split("/"), None);
        assert_eq!(split("/a"), Some(("/", "a")));
        assert_eq!(split("/a/b"), Some(("/a", "b")));
        assert_eq!(split("/a/"), Some(("/a", "")));
    }
}
