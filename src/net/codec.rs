//! One frame codec for every peer port: a 4-byte big-endian length, then a bincode 2 payload
//! (big-endian, fixed-width integers) of a serde type.
//!
//! The frame limit is enforced twice: `LengthDelimitedCodec` refuses a frame whose declared
//! length is over the port's limit before reading it, and bincode's decode limit is the same
//! number, so a lying length inside a payload can never allocate. Trailing bytes after a message
//! are an error: a frame holds exactly one message.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// ZooKeeper's election-port limit: notifications are tiny, anything bigger is an attack or a bug.
pub const ELECTION_FRAME_LIMIT: usize = 512 * 1024;
/// The quorum port carries a 1 MiB znode (`jute.maxbuffer`) plus headroom; larger state moves
/// in bounded chunks, never in one giant frame.
pub const QUORUM_FRAME_LIMIT: usize = 2 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("frame of {0} bytes exceeds the limit of {1} bytes")]
    TooLarge(usize, usize),
    #[error("malformed payload: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    #[error("cannot encode message: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
}

fn config<const LIMIT: usize>() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
        .with_limit::<LIMIT>()
}

/// Encode one message for a port whose frame limit is `LIMIT`.
pub fn encode<T: Serialize, const LIMIT: usize>(msg: &T) -> Result<Bytes, CodecError> {
    let bytes = bincode::serde::encode_to_vec(msg, config::<LIMIT>())?;
    if bytes.len() > LIMIT {
        return Err(CodecError::TooLarge(bytes.len(), LIMIT));
    }
    Ok(Bytes::from(bytes))
}

/// Decode exactly one message from one frame.
pub fn decode<T: DeserializeOwned, const LIMIT: usize>(frame: &[u8]) -> Result<T, CodecError> {
    if frame.len() > LIMIT {
        return Err(CodecError::TooLarge(frame.len(), LIMIT));
    }
    let (msg, used) = bincode::serde::decode_from_slice(frame, config::<LIMIT>())?;
    if used != frame.len() {
        return Err(CodecError::TrailingBytes(frame.len() - used));
    }
    Ok(msg)
}

/// Length-prefixed framing with the port's limit.
pub fn framed<S: AsyncRead + AsyncWrite>(io: S, limit: usize) -> Framed<S, LengthDelimitedCodec> {
    Framed::new(io, frame_codec(limit))
}

/// The framing [`framed`] uses: a 4-byte big-endian length, frames over `limit` refused. Public
/// so that the fuzz targets (`crate::fuzz_entry`) split byte streams exactly as a peer port does.
pub fn frame_codec(limit: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(limit)
        .new_codec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Msg {
        Hello { id: u64, name: String },
        Blob(Vec<u8>),
    }

    const SMALL: usize = 64;

    #[test]
    fn round_trip() {
        let msg = Msg::Hello {
            id: 7,
            name: "x".into(),
        };
        let bytes = encode::<_, SMALL>(&msg).expect("encodes");
        assert_eq!(decode::<Msg, SMALL>(&bytes).expect("decodes"), msg);
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = encode::<_, SMALL>(&Msg::Blob(vec![1]))
            .expect("encodes")
            .to_vec();
        bytes.push(0);
        assert!(matches!(
            decode::<Msg, SMALL>(&bytes),
            Err(CodecError::TrailingBytes(1))
        ));
    }

    #[test]
    fn a_lying_inner_length_cannot_allocate() {
        // Variant 1 (Blob) claiming 2^60 bytes follow.
        let mut bytes = vec![0, 0, 0, 1];
        bytes.extend_from_slice(&(1u64 << 60).to_be_bytes());
        assert!(matches!(
            decode::<Msg, SMALL>(&bytes),
            Err(CodecError::Decode(_))
        ));
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        for junk in [
            &[][..],
            &[0xff; 3][..],
            &[0, 0, 0, 9, 1, 2][..],
            &[0, 0, 0, 0][..],
        ] {
            assert!(decode::<Msg, SMALL>(junk).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn oversized_messages_are_refused_on_encode() {
        let big = Msg::Blob(vec![0; 1000]);
        assert!(encode::<_, SMALL>(&big).is_err());
    }

    #[tokio::test]
    async fn an_oversized_frame_header_ends_the_stream_with_an_error() {
        let (a, b) = tokio::io::duplex(1024);
        let mut reader = framed(b, SMALL);
        let mut raw = a;
        use tokio::io::AsyncWriteExt;
        raw.write_all(&[0, 0, 1, 0]).await.expect("write"); // declares 256 bytes > 64
        let next = reader.next().await;
        assert!(matches!(next, Some(Err(_))), "{next:?}");
    }

    #[tokio::test]
    async fn frames_cross_a_stream() {
        let (a, b) = tokio::io::duplex(1024);
        let mut w = framed(a, SMALL);
        let mut r = framed(b, SMALL);
        let msg = Msg::Blob(vec![1, 2, 3]);
        w.send(encode::<_, SMALL>(&msg).expect("enc"))
            .await
            .expect("send");
        let frame = r.next().await.expect("a frame").expect("ok");
        assert_eq!(decode::<Msg, SMALL>(&frame).expect("dec"), msg);
    }
}
