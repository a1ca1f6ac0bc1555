//! Networking facade: the one place that decides whose sockets the node uses.
//!
//! Normally tokio's; under the `sim` feature turmoil's, so that the very same node code runs on
//! turmoil's simulated network and clock. Everything else in the crate imports sockets from
//! here and is generic over `AsyncRead + AsyncWrite` where it can be.

pub mod codec;
pub mod election;
pub mod link;

#[cfg(not(feature = "sim"))]
pub use tokio::net::{TcpListener, TcpStream};
#[cfg(feature = "sim")]
pub use turmoil::net::{TcpListener, TcpStream};

/// Turn Nagle off: every frame we send is latency-sensitive (votes, pings, acks).
pub fn set_nodelay(stream: &TcpStream) {
    #[cfg(not(feature = "sim"))]
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(%err, "could not set TCP_NODELAY");
    }
    #[cfg(feature = "sim")]
    let _ = stream;
}
