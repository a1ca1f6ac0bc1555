//! A framed connection on the quorum port (leader <-> learner), run by its own task so that a
//! slow or stopped peer can never block the peer loop: messages out go through a bounded queue,
//! messages in (and the reason the link ended) come back as [`LinkEvent`]s tagged with the
//! link's id.
//!
//! A message too costly to build on the peer loop (a SNAP: the whole tree) can be queued as a
//! *stream*: its chunks are produced elsewhere (a blocking thread) and written, in order, before
//! anything queued after the stream, so the loop never waits for the encoding.

use super::codec::{self, QUORUM_FRAME_LIMIT};
use super::PeerStream;
use crate::zab::QuorumMessage;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Messages that may wait to be written before the link counts as stuck (a learner that far
/// behind is dropped and resyncs). Twice the largest DIFF, so that a sync (queued in one batch)
/// plus the proposals made while it drains always fit. tokio's channel allocates as it fills,
/// so an idle link costs nothing for this.
const OUTBOX: usize = 2 * crate::zab::sync::MAX_DIFF_TXNS;
/// At most this many queued messages are written per flush, so reading is never starved.
const WRITE_BATCH: usize = 256;

pub type LinkId = u64;

#[derive(Debug)]
pub enum LinkEvent {
    Message(LinkId, QuorumMessage),
    Closed(LinkId, String),
}

/// One item of a stream queued with [`Link::send_stream`]: a message to write, or the reason
/// its producer failed (the link then ends: the peer must not see a partial stream as whole).
pub type StreamItem = Result<QuorumMessage, String>;

/// What the link task writes, in queue order.
#[derive(Debug)]
enum Outgoing {
    One(QuorumMessage),
    /// Every item of this channel until it closes, before the next queued item.
    Stream(mpsc::Receiver<StreamItem>),
}

/// The sending half of a running link. Dropping it ends the link.
#[derive(Debug)]
pub struct Link {
    id: LinkId,
    /// `None` once [`Link::close`] began.
    outbox: Option<mpsc::Sender<Outgoing>>,
    task: Option<JoinHandle<()>>,
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Link {
    /// Run a link over `stream` (already set up: Nagle off, authenticated where required).
    pub fn spawn(id: LinkId, stream: PeerStream, events: mpsc::Sender<LinkEvent>) -> Link {
        let (outbox, rx) = mpsc::channel(OUTBOX);
        let task = tokio::spawn(run(id, stream, rx, events));
        Link {
            id,
            outbox: Some(outbox),
            task: Some(task),
        }
    }

    pub fn id(&self) -> LinkId {
        self.id
    }

    /// Write what is queued, then close (waiting at most `within`): the last messages of a
    /// server that is leaving must reach their peers.
    pub async fn close(&mut self, within: std::time::Duration) {
        self.outbox = None;
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(within, task).await;
        }
    }

    /// Queue a message. Fails when the peer has stopped reading (the queue is full) or the
    /// link has ended; the caller then treats the peer as gone.
    pub fn send(&self, msg: QuorumMessage) -> Result<(), String> {
        self.queue(Outgoing::One(msg))
    }

    /// Queue a stream: everything `items` yields is written, in order, before whatever is
    /// queued after this call. The producer ends the stream by dropping its sender, or fails
    /// it (and the link) with an `Err` item.
    pub fn send_stream(&self, items: mpsc::Receiver<StreamItem>) -> Result<(), String> {
        self.queue(Outgoing::Stream(items))
    }

    fn queue(&self, item: Outgoing) -> Result<(), String> {
        let outbox = self.outbox.as_ref().ok_or("link closed")?;
        outbox.try_send(item).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => "peer stopped reading".to_string(),
            mpsc::error::TrySendError::Closed(_) => "link closed".to_string(),
        })
    }
}

async fn feed<S>(sink: &mut S, msg: &QuorumMessage) -> Result<(), String>
where
    S: futures_util::Sink<bytes::Bytes, Error = std::io::Error> + Unpin,
{
    let frame = codec::encode::<_, QUORUM_FRAME_LIMIT>(msg)
        .map_err(|err| format!("cannot encode {}: {err}", msg.kind()))?;
    sink.feed(frame)
        .await
        .map_err(|err| format!("send failed: {err}"))
}

async fn flush<S>(sink: &mut S) -> Result<(), String>
where
    S: futures_util::Sink<bytes::Bytes, Error = std::io::Error> + Unpin,
{
    sink.flush()
        .await
        .map_err(|err| format!("send failed: {err}"))
}

/// Write a batch of queued items, then flush once. A stream is written item by item as its
/// producer yields them (each flushed: they are large, and the producer waits for room).
async fn write_batch<S>(sink: &mut S, batch: Vec<Outgoing>) -> Result<(), String>
where
    S: futures_util::Sink<bytes::Bytes, Error = std::io::Error> + Unpin,
{
    for item in batch {
        match item {
            Outgoing::One(msg) => feed(sink, &msg).await?,
            Outgoing::Stream(mut items) => {
                flush(sink).await?;
                while let Some(item) = items.recv().await {
                    feed(sink, &item?).await?;
                    flush(sink).await?;
                }
            }
        }
    }
    flush(sink).await
}

async fn run(
    id: LinkId,
    stream: PeerStream,
    mut outbox: mpsc::Receiver<Outgoing>,
    events: mpsc::Sender<LinkEvent>,
) {
    let (mut sink, mut frames) = codec::framed(stream, QUORUM_FRAME_LIMIT).split();
    let reason = loop {
        tokio::select! {
            biased;
            msg = outbox.recv() => {
                let Some(msg) = msg else { break "closed locally".to_string() };
                // Write everything already queued, then flush once: one syscall per burst, not
                // per message.
                let mut batch = vec![msg];
                while batch.len() < WRITE_BATCH {
                    match outbox.try_recv() {
                        Ok(more) => batch.push(more),
                        Err(_) => break,
                    }
                }
                if let Err(reason) = write_batch(&mut sink, batch).await {
                    break reason;
                }
            }
            frame = frames.next() => match frame {
                None => break "closed by peer".to_string(),
                Some(Err(err)) => break format!("bad frame: {err}"),
                Some(Ok(frame)) => match codec::decode::<QuorumMessage, QUORUM_FRAME_LIMIT>(&frame) {
                    Ok(msg) => {
                        if events.send(LinkEvent::Message(id, msg)).await.is_err() {
                            break "node gone".to_string();
                        }
                    }
                    Err(err) => break format!("malformed message: {err}"),
                },
            },
        }
    };
    let _ = events.send(LinkEvent::Closed(id, reason)).await;
}
