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

/// What a peer connection is once set up (authenticated or not): a boxed byte stream, so that
/// the links and the election transport do not care whether it is a plain socket, a socket
/// with bytes replayed in front of it (`crate::auth::prefixed`), or later a TLS session.
pub type PeerStream = Box<dyn PeerIo>;

/// The byte stream a peer connection needs.
pub trait PeerIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> PeerIo for T {}

/// Turn Nagle off: every frame we send is latency-sensitive (votes, pings, acks).
pub fn set_nodelay(stream: &TcpStream) {
    #[cfg(not(feature = "sim"))]
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(%err, "could not set TCP_NODELAY");
    }
    #[cfg(feature = "sim")]
    let _ = stream;
}
