//! zoo.cfg as a `config::Format`: Java-properties `key=value` lines, read the way
//! `java.util.Properties.load` reads them (which is what ZooKeeper uses), then trimmed as
//! ZooKeeper's `QuorumPeerConfig` trims keys and values.
//!
//! Supported: `#` and `!` comment lines, blank lines, `=`, `:` or whitespace between key and
//! value, a trailing `\` continuing a line, and the escapes `\t \n \r \f \uXXXX` (any other
//! `\x` is `x`, so `C:\zk` reads as `C:zk`, exactly as in ZooKeeper).
//!
//! [`parse_entries`] keeps each key's line number; `load` uses it as a side table for
//! messages and duplicate detection, while the values themselves go through the `config` crate.

use config::{FileStoredFormat, Format, Map, Value};
use std::collections::HashMap;
use std::error::Error;
use std::fmt;

/// One `key=value` line of a zoo.cfg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// 1-based line number where the (possibly continued) line starts.
    pub line: usize,
    pub key: String,
    pub value: String,
}

/// A line that `java.util.Properties` would refuse (only a malformed `\uXXXX` escape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl Error for SyntaxError {}

/// zoo.cfg for the `config` crate: `config::File::from_str(text, ZooCfgFormat)`.
///
/// Keys are handed over as written; the `config` crate then nests dotted keys (`server.1`
/// becomes table `server`, key `1`), which `load` flattens back. Keys containing `[` are left
/// out (none of ours has one, and the crate would read `x[99999999]` as an array index and
/// allocate for it), and so are keys of more than 16 dotted parts (see [`path_safe`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ZooCfgFormat;

impl Format for ZooCfgFormat {
    fn parse(
        &self,
        uri: Option<&String>,
        text: &str,
    ) -> Result<Map<String, Value>, Box<dyn Error + Send + Sync>> {
        let entries = parse_entries(text)?;
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut map = Map::new();
        for entry in &entries {
            if let Some(first) = seen.insert(entry.key.as_str(), entry.line) {
                return Err(Box::new(SyntaxError {
                    line: entry.line,
                    message: format!(
                        "{} is set twice (lines {first} and {})",
                        entry.key, entry.line
                    ),
                }));
            }
            if !path_safe(&entry.key) {
                tracing::warn!(line = entry.line, key = %entry.key, "zoo.cfg key ignored");
                continue;
            }
            map.insert(entry.key.clone(), Value::new(uri, entry.value.clone()));
        }
        Ok(map)
    }
}

impl FileStoredFormat for ZooCfgFormat {
    fn file_extensions(&self) -> &'static [&'static str] {
        &["cfg", "properties"]
    }
}

/// Keys with more dot-separated parts than this are left out like unsafe ones: none of ours
/// has more than three, and the `config` crate nests one table per part and clones the nest
/// recursively, so a key of some thousands of parts overflowed the stack (found by fuzzing).
const MAX_KEY_PARTS: usize = 16;

/// Whether the `config` crate may safely treat `key` as a path expression.
pub(crate) fn path_safe(key: &str) -> bool {
    !key.contains('[') && !key.contains(']') && key.split('.').nth(MAX_KEY_PARTS).is_none()
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// Splits zoo.cfg text into entries, in file order, duplicates included.
pub(crate) fn parse_entries(text: &str) -> Result<Vec<Entry>, SyntaxError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut entries = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start = i + 1;
        let first = lines
            .get(i)
            .copied()
            .unwrap_or("")
            .trim_start_matches(is_blank);
        i += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        // Join continuation lines: an odd number of trailing backslashes continues.
        let mut logical = String::from(first);
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match lines.get(i) {
                Some(next) => {
                    logical.push_str(next.trim_start_matches(is_blank));
                    i += 1;
                }
                None => break,
            }
        }
        let (raw_key, raw_value) = split_key_value(&logical);
        let key = unescape(raw_key).map_err(|message| SyntaxError {
            line: start,
            message,
        })?;
        let value = unescape(raw_value).map_err(|message| SyntaxError {
            line: start,
            message,
        })?;
        entries.push(Entry {
            line: start,
            key: key.trim().to_string(),
            value: value.trim().to_string(),
        });
    }
    Ok(entries)
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Java's rule: the key ends at the first unescaped `=`, `:` or blank; blanks, then one
/// optional `=` or `:`, then blanks separate it from the value.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut key_end = line.len();
    for (pos, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || is_blank(c) {
            key_end = pos;
            break;
        }
    }
    let key = line.get(..key_end).unwrap_or(line);
    let mut rest = line.get(key_end..).unwrap_or("");
    rest = rest.trim_start_matches(is_blank);
    if let Some(stripped) = rest.strip_prefix(['=', ':']) {
        rest = stripped.trim_start_matches(is_blank);
    }
    (key, rest)
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = if hex.len() == 4 {
                    u32::from_str_radix(&hex, 16).ok()
                } else {
                    None
                };
                match code.and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => {
                        return Err(format!(
                            "malformed \\uXXXX escape \"\\u{hex}\"; write four hex digits, or \\\\ for a backslash"
                        ))
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(usize, String, String)> {
        parse_entries(text)
            .unwrap()
            .into_iter()
            .map(|e| (e.line, e.key, e.value))
            .collect()
    }

    #[test]
    fn properties_lines() {
        let text =
            "# comment\n! also comment\n\n  tickTime = 2000  \nserver.1=127.0.0.1:2888:3888\n\
                    dataDir /var/zk\nclientPort:2181\nempty\nlong=a\\\n   b\\\\\nc=\\u0041\\:x\r\n";
        assert_eq!(
            kv(text),
            vec![
                (4, "tickTime".into(), "2000".into()),
                (5, "server.1".into(), "127.0.0.1:2888:3888".into()),
                (6, "dataDir".into(), "/var/zk".into()),
                (7, "clientPort".into(), "2181".into()),
                (8, "empty".into(), "".into()),
                (9, "long".into(), "ab\\".into()),
                (11, "c".into(), "A:x".into()),
            ]
        );
    }

    #[test]
    fn bad_unicode_escape_names_the_line() {
        let err = parse_entries("a=1\nb=\\u12\n").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn format_rejects_duplicates_and_skips_index_keys() {
        let err = ZooCfgFormat.parse(None, "a=1\na=2\n").unwrap_err();
        assert!(err.to_string().contains("lines 1 and 2"));
        let map = ZooCfgFormat.parse(None, "a[9999999999]=1\nb=2\n").unwrap();
        assert_eq!(map.len(), 1);
        assert!(map.contains_key("b"));
    }
}
