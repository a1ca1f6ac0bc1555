//! Jute's binary encoding (ZooKeeper's `BinaryInputArchive` / `BinaryOutputArchive`) and the
//! client port's length-prefixed framing.
//!
//! Every read is bounded by what is left of the input: a length field that claims more than the
//! remaining bytes is an error *before* anything is allocated, so a lying length can cost at most
//! the bytes that actually arrived. Nothing here panics on any input.

use super::JuteError;

/// ZooKeeper's default `jute.maxbuffer` (0xfffff): the largest znode data a client may send.
pub const JUTE_MAX_BUFFER: usize = 0xfffff;

/// The largest client packet accepted (and the largest single field): `jute.maxbuffer` itself,
/// as ZooKeeper's `NIOServerCnxn` checks the length prefix (`len > maxBuffer` closes the
/// connection). So the largest znode a client can create is a little under 1 MiB: the frame
/// also carries the path, ACLs and headers.
pub const MAX_FRAME_LEN: usize = JUTE_MAX_BUFFER;

// The length prefix is a Java int.
const _: () = assert!(MAX_FRAME_LEN <= i32::MAX as usize);

/// The payload length announced by a 4-byte big-endian frame prefix.
///
/// Negative lengths (a Java `int` on the wire) and lengths above [`MAX_FRAME_LEN`] are errors, so
/// the caller can size its read buffer from the result without trusting the peer further.
pub fn frame_len(prefix: [u8; 4]) -> Result<usize, JuteError> {
    let len = i32::from_be_bytes(prefix);
    let len = usize::try_from(len).map_err(|_| JuteError::NegativeLength(len))?;
    if len > MAX_FRAME_LEN {
        return Err(JuteError::FrameTooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    Ok(len)
}

/// A cursor over one received payload. Reads consume bytes from the front.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Take exactly `n` bytes, or fail without consuming anything.
    fn take(&mut self, n: usize) -> Result<&'a [u8], JuteError> {
        if n > self.buf.len() {
            return Err(JuteError::Truncated {
                needed: n,
                remaining: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], JuteError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Jute `int`: 4 bytes, big-endian.
    pub fn int(&mut self) -> Result<i32, JuteError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    /// Jute `long`: 8 bytes, big-endian.
    pub fn long(&mut self) -> Result<i64, JuteError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// Jute `boolean`: one byte; like Java's `DataInput.readBoolean`, any non-zero byte is true.
    pub fn boolean(&mut self) -> Result<bool, JuteError> {
        let [b] = self.array::<1>()?;
        Ok(b != 0)
    }

    /// A boolean that older peers leave out at the very end of a record (the connect records'
    /// `readOnly`): `None` when the input ends here.
    pub fn trailing_boolean(&mut self) -> Result<Option<bool>, JuteError> {
        if self.remaining() == 0 {
            Ok(None)
        } else {
            self.boolean().map(Some)
        }
    }

    /// A length field for a buffer or string: -1 means null; other negative values are errors,
    /// and so is any length larger than the bytes still unread.
    fn length(&mut self) -> Result<Option<usize>, JuteError> {
        let len = self.int()?;
        if len == -1 {
            return Ok(None);
        }
        let n = usize::try_from(len).map_err(|_| JuteError::NegativeLength(len))?;
        if n > self.buf.len() {
            return Err(JuteError::Truncated {
                needed: n,
                remaining: self.buf.len(),
            });
        }
        Ok(Some(n))
    }

    /// Jute `buffer`, keeping null (-1) distinct from empty.
    pub fn opt_buffer(&mut self) -> Result<Option<Vec<u8>>, JuteError> {
        match self.length()? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n)?.to_vec())),
        }
    }

    /// Jute `buffer`, with null read as empty: zabd's tree has no null data, and ZooKeeper
    /// treats a null and an empty znode payload alike (`dataLength` 0).
    pub fn buffer(&mut self) -> Result<Vec<u8>, JuteError> {
        Ok(self.opt_buffer()?.unwrap_or_default())
    }

    /// Jute `ustring`, keeping null (-1) distinct from empty. Invalid UTF-8 is an error (Java
    /// would substitute U+FFFD, but no real client sends it and a path must never be rewritten).
    pub fn opt_ustring(&mut self) -> Result<Option<String>, JuteError> {
        match self.length()? {
            None => Ok(None),
            Some(n) => {
                let bytes = self.take(n)?;
                let s = std::str::from_utf8(bytes).map_err(|_| JuteError::InvalidUtf8)?;
                Ok(Some(s.to_owned()))
            }
        }
    }

    /// Jute `ustring`, with null read as empty. A null path then fails path validation
    /// (`BadArguments`) in the server, which is what ZooKeeper answers too.
    pub fn ustring(&mut self) -> Result<String, JuteError> {
        Ok(self.opt_ustring()?.unwrap_or_default())
    }

    /// Jute `vector<T>`, with null (-1) read as empty. Every item consumes at least one byte, so
    /// a lying count fails on truncation after at most `remaining` items; the capacity reserved
    /// up front is bounded by the remaining input, never by the count.
    ///
    /// Only for item types of at least 4 bytes (every vector in the client protocol: strings,
    /// ACLs, ids, client infos): a count above `remaining / 4` is rejected outright.
    pub fn vector<T>(
        &mut self,
        mut item: impl FnMut(&mut Reader<'a>) -> Result<T, JuteError>,
    ) -> Result<Vec<T>, JuteError> {
        let count = self.int()?;
        if count == -1 {
            return Ok(Vec::new());
        }
        let count = usize::try_from(count).map_err(|_| JuteError::NegativeLength(count))?;
        // Every item type in the protocol is at least 4 bytes long.
        if count > self.buf.len() / 4 {
            return Err(JuteError::Truncated {
                needed: count.saturating_mul(4),
                remaining: self.buf.len(),
            });
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(item(self)?);
        }
        Ok(out)
    }

    /// Fail if anything is left: a complete record followed by extra bytes is a framing or
    /// version mismatch, not something to guess about.
    pub fn finish(&self) -> Result<(), JuteError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(JuteError::TrailingBytes(self.buf.len()))
        }
    }
}

/// Builds one outgoing payload. Writing cannot fail; a length that does not fit a Java `int`
/// cannot occur for values that fit in memory below `i32::MAX` and is saturated otherwise (the
/// frame limit rejects such a packet long before).
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    /// A writer whose first 4 bytes are a placeholder for the frame length ([`Writer::into_frame`]).
    pub fn framed() -> Writer {
        Writer { buf: vec![0; 4] }
    }

    pub fn int(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn long(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn boolean(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    fn len(&mut self, n: usize) {
        self.int(i32::try_from(n).unwrap_or(i32::MAX));
    }

    pub fn buffer(&mut self, v: &[u8]) {
        self.len(v.len());
        self.buf.extend_from_slice(v);
    }

    /// A null buffer (-1), as ZooKeeper sends for absent data.
    pub fn null(&mut self) {
        self.int(-1);
    }

    pub fn ustring(&mut self, v: &str) {
        self.buffer(v.as_bytes());
    }

    pub fn vector<T>(&mut self, items: &[T], mut item: impl FnMut(&mut Writer, &T)) {
        self.len(items.len());
        for it in items {
            item(self, it);
        }
    }

    /// The unframed bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Fill in the length placeholder of a [`Writer::framed`] writer and return the frame.
    pub fn into_frame(mut self) -> Vec<u8> {
        let n = self.buf.len().saturating_sub(4);
        let prefix = i32::try_from(n).unwrap_or(i32::MAX).to_be_bytes();
        if let Some(head) = self.buf.get_mut(..4) {
            head.copy_from_slice(&prefix);
        }
        self.buf
    }
}

/// Prepend the 4-byte big-endian length to an unframed payload.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut w = Writer::framed();
    w.buf.extend_from_slice(payload);
    w.into_frame()
}
