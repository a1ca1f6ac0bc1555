//! SNAP off the peer loop.
//!
//! A SNAP is the whole tree: encoding a large one takes a second or more. On the peer loop (and
//! zabd runs every task on one thread) that would stall client pings, reads and the other
//! learners' proposals for as long. Instead the leader takes an O(1) clone of the tree at the
//! sync point and encodes it on a blocking thread into a bounded channel of `SnapChunk`s,
//! which the learner's link writes ([`crate::net::link::Link::send_stream`]) before anything
//! queued after it (the DIFF tail, NEWLEADER, live proposals). The bound keeps memory at a few
//! chunks per learner being synced instead of two copies of the whole image.

use crate::net::link::StreamItem;
use crate::tree::DataTree;
use crate::zab::QuorumMessage;
use tokio::sync::mpsc;

/// Chunks that may wait in a stream before its encoder waits for the link to write them.
const STREAM_DEPTH: usize = 4;

/// Start encoding `tree` as `SnapChunk`s of `chunk_bytes` (the last one flagged, possibly
/// empty); the receiver yields them, or an `Err` if encoding failed.
pub(super) fn spawn(tree: DataTree, chunk_bytes: usize) -> mpsc::Receiver<StreamItem> {
    #[cfg(not(feature = "sim"))]
    {
        let (tx, rx) = mpsc::channel(STREAM_DEPTH);
        drop(tokio::task::spawn_blocking(move || {
            encode(&tree, chunk_bytes, tx, true);
        }));
        rx
    }
    #[cfg(feature = "sim")]
    {
        // Simulated runs must replay exactly: encode right here, into a channel with room for
        // every chunk (the image's length is known up front).
        let image = usize::try_from(tree.snapshot_len().unwrap_or(0)).unwrap_or(usize::MAX);
        let chunks = (image / chunk_bytes.max(1)).saturating_add(2);
        let (tx, rx) = mpsc::channel(chunks.max(STREAM_DEPTH));
        encode(&tree, chunk_bytes, tx, false);
        rx
    }
}

/// Encode `tree` into `tx`. `blocking`: wait for room (on a blocking thread); otherwise the
/// channel must have room for every chunk.
fn encode(tree: &DataTree, chunk_bytes: usize, tx: mpsc::Sender<StreamItem>, blocking: bool) {
    let mut out = ChunkWriter {
        tx,
        blocking,
        chunk_bytes: chunk_bytes.max(1),
        buf: Vec::with_capacity(chunk_bytes),
    };
    let last = match tree.write_snapshot(&mut out) {
        Ok(()) => Ok(QuorumMessage::SnapChunk {
            data: std::mem::take(&mut out.buf),
            last: true,
        }),
        Err(err) => Err(format!("cannot encode SNAP: {err}")),
    };
    // If the link is gone nobody waits for the rest.
    let _ = out.push(last);
}

/// `std::io::Write` into a stream of full-size chunks.
struct ChunkWriter {
    tx: mpsc::Sender<StreamItem>,
    blocking: bool,
    chunk_bytes: usize,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn push(&self, item: StreamItem) -> std::io::Result<()> {
        let sent = if self.blocking {
            self.tx.blocking_send(item).map_err(|_| "link gone")
        } else {
            self.tx
                .try_send(item)
                .map_err(|_| "stream full or link gone")
        };
        sent.map_err(|why| std::io::Error::new(std::io::ErrorKind::BrokenPipe, why))
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        while self.buf.len() >= self.chunk_bytes {
            let rest = self.buf.split_off(self.chunk_bytes);
            let full = std::mem::replace(&mut self.buf, rest);
            self.buf
                .reserve(self.chunk_bytes.saturating_sub(self.buf.len()));
            self.push(Ok(QuorumMessage::SnapChunk {
                data: full,
                last: false,
            }))?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Zxid;
    use crate::tree::Txn;

    fn tree_with(nodes: usize, data_len: usize) -> DataTree {
        let mut tree = DataTree::new();
        for i in 0..nodes {
            let txn = Txn::test_create(
                &format!("/n{i}"),
                &vec![i as u8; data_len],
                Zxid(i as u64 + 1),
            );
            tree.apply(&txn).expect("applies");
        }
        tree
    }

    /// Drain a stream the way the learner does: concatenate until the chunk flagged last.
    fn collect(mut rx: mpsc::Receiver<StreamItem>) -> (Vec<u8>, usize) {
        let mut image = Vec::new();
        let mut chunks = 0;
        while let Some(item) = rx.blocking_recv() {
            match item.expect("encodes") {
                QuorumMessage::SnapChunk { data, last } => {
                    chunks += 1;
                    image.extend_from_slice(&data);
                    if last {
                        assert!(rx.blocking_recv().is_none(), "nothing after the last chunk");
                        return (image, chunks);
                    }
                }
                other => panic!("unexpected {}", other.kind()),
            }
        }
        panic!("stream ended without its last chunk");
    }

    #[test]
    fn the_chunks_concatenate_to_the_snapshot_image() {
        for (nodes, data_len, chunk) in [(0, 0, 1024), (50, 100, 1000), (200, 3000, 4096)] {
            let tree = tree_with(nodes, data_len);
            let (tx, rx) = mpsc::channel(STREAM_DEPTH);
            let encoder = {
                let tree = tree.clone();
                std::thread::spawn(move || encode(&tree, chunk, tx, true))
            };
            let (image, chunks) = collect(rx);
            encoder.join().expect("encoder");
            let expected = tree.serialize_snapshot().expect("serializes");
            assert_eq!(image, expected, "{nodes} nodes");
            assert_eq!(
                chunks,
                expected.len() / chunk + 1,
                "full chunks, then the rest"
            );
            let back = DataTree::from_snapshot(&image).expect("decodes");
            assert_eq!(back.digest(), tree.digest());
        }
    }

    #[test]
    fn a_dropped_receiver_stops_the_encoder() {
        let tree = tree_with(300, 2000);
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        // Returns (instead of blocking forever on a full channel) because every send fails.
        encode(&tree, 1024, tx, true);
    }
}
