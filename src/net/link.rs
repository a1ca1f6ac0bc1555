//! A framed connection on the quorum port (leader <-> learner), run by its own task so that a
//! slow or stopped peer can never block the peer loop: messages out go through a bounded queue,
//! messages in (and the reason the link ended) come back as [`LinkEvent`]s tagged with the
//! link's id.

use super::codec::{self, QUORUM_FRAME_LIMIT};
use super::{set_nodelay, TcpStream};
use crate::zab::QuorumMessage;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Messages that may wait to be written before the link counts as stuck.
const OUTBOX: usize = 1024;

pub type LinkId = u64;

#[derive(Debug)]
pub enum LinkEvent {
    Message(LinkId, QuorumMessage),
    Closed(LinkId, String),
}

/// The sending half of a running link. Dropping it ends the link.
#[derive(Debug)]
pub struct Link {
    id: LinkId,
    outbox: mpsc::Sender<QuorumMessage>,
    task: JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Link {
    pub fn spawn(id: LinkId, stream: TcpStream, events: mpsc::Sender<LinkEvent>) -> Link {
        set_nodelay(&stream);
        let (outbox, rx) = mpsc::channel(OUTBOX);
        let task = tokio::spawn(run(id, stream, rx, events));
        Link { id, outbox, task }
    }

    pub fn id(&self) -> LinkId {
        self.id
    }

    /// Queue a message. Fails when the peer has stopped reading (the queue is full) or the
    /// link has ended; the caller then treats the peer as gone.
    pub fn send(&self, msg: QuorumMessage) -> Result<(), String> {
        self.outbox.try_send(msg).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => "peer stopped reading".to_string(),
            mpsc::error::TrySendError::Closed(_) => "link closed".to_string(),
        })
    }
}

async fn run(
    id: LinkId,
    stream: TcpStream,
    mut outbox: mpsc::Receiver<QuorumMessage>,
    events: mpsc::Sender<LinkEvent>,
) {
    let (mut sink, mut frames) = codec::framed(stream, QUORUM_FRAME_LIMIT).split();
    let reason = loop {
        tokio::select! {
            biased;
            msg = outbox.recv() => {
                let Some(msg) = msg else { break "closed locally".to_string() };
                let frame = match codec::encode::<_, QUORUM_FRAME_LIMIT>(&msg) {
                    Ok(f) => f,
                    Err(err) => break format!("cannot encode {}: {err}", msg.kind()),
                };
                if let Err(err) = sink.send(frame).await {
                    break format!("send failed: {err}");
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
