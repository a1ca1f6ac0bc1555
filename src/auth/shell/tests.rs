//! The exchange over an in-memory duplex stream: the connection is handed on intact.

use super::*;
use crate::auth::{Policy, Secret};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

fn auth(me: u64, policy: Policy) -> PeerAuth {
    PeerAuth {
        policy,
        me: Sid(me),
        members: Arc::new(
            [1, 2, 3]
                .into_iter()
                .filter(|&s| s != me)
                .map(Sid)
                .collect::<BTreeSet<_>>(),
        ),
    }
}

fn secret(s: &[u8], require: bool) -> Policy {
    Policy {
        secret: Some(Arc::new(Secret::from_bytes(s))),
        require,
        tls: None,
    }
}

const GOOD: &[u8] = b"0123456789abcdef-good";

/// Server 2 dials server 1; after the exchange each side sends a frame and reads the other's.
async fn exchange(
    dialler: Policy,
    acceptor: Policy,
) -> (Result<Authenticated, String>, Result<Authenticated, String>) {
    let (a, b) = tokio::io::duplex(4096);
    let d = auth(2, dialler);
    let acc = auth(1, acceptor);
    let dial_side = tokio::spawn(async move {
        let (s, who) = dial(a, &d, PortKind::Election, Sid(1))
            .await
            .map_err(|e| e.to_string())?;
        let mut s = codec::framed(s, 64);
        s.send(Bytes::from_static(b"from dialler"))
            .await
            .map_err(|e| e.to_string())?;
        let got = s.next().await.ok_or("closed")?.map_err(|e| e.to_string())?;
        assert_eq!(&got[..], b"from acceptor");
        Ok(who)
    });
    let accept_side = tokio::spawn(async move {
        let (s, who) = accept(b, &acc, PortKind::Election)
            .await
            .map_err(|e| e.to_string())?;
        let mut s = codec::framed(s, 64);
        let got = s.next().await.ok_or("closed")?.map_err(|e| e.to_string())?;
        assert_eq!(&got[..], b"from dialler");
        s.send(Bytes::from_static(b"from acceptor"))
            .await
            .map_err(|e| e.to_string())?;
        Ok(who)
    });
    (
        dial_side.await.expect("dialler task"),
        accept_side.await.expect("acceptor task"),
    )
}

#[tokio::test]
async fn authenticated_connections_carry_on() {
    let (d, a) = exchange(secret(GOOD, true), secret(GOOD, true)).await;
    assert_eq!(d, Ok(Some(Sid(1))));
    assert_eq!(a, Ok(Some(Sid(2))));
}

#[tokio::test]
async fn a_wrong_secret_is_refused_on_both_sides() {
    let (d, a) = exchange(secret(b"some other secret 123", false), secret(GOOD, true)).await;
    assert!(
        d.as_ref().is_err_and(|e| e.contains("does not verify")),
        "{d:?}"
    );
    // The acceptor proved itself, the dialler refused that and went away.
    assert!(a.is_err(), "{a:?}");
}

#[tokio::test]
async fn plain_connections_where_allowed() {
    assert_eq!(
        exchange(Policy::off(), Policy::off()).await,
        (Ok(None), Ok(None))
    );
    // An enabled acceptor takes a plain dialler; the first bytes it read are replayed.
    assert_eq!(
        exchange(Policy::off(), secret(GOOD, false)).await,
        (Ok(None), Ok(None))
    );
    // An enabled dialler is told "off" and carries on in the clear.
    assert_eq!(
        exchange(secret(GOOD, false), Policy::off()).await,
        (Ok(None), Ok(None))
    );
}

#[tokio::test]
async fn required_authentication_refuses_plain_peers() {
    let (_, a) = exchange(Policy::off(), secret(GOOD, true)).await;
    assert!(
        a.as_ref()
            .is_err_and(|e| e.contains("did not authenticate")),
        "{a:?}"
    );
    let (d, _) = exchange(secret(GOOD, true), Policy::off()).await;
    assert!(
        d.as_ref()
            .is_err_and(|e| e.contains("has quorum authentication off")),
        "{d:?}"
    );
}

#[tokio::test]
async fn a_plain_first_frame_reaches_the_next_reader_whole() {
    // A plain peer writes two length-prefixed frames at once; the enabled acceptor consumes the
    // first to look at it, and the handed-on stream must still yield both.
    let (mut a, b) = tokio::io::duplex(4096);
    let frames = [&b"first frame"[..], &b"second"[..]];
    for f in frames {
        a.write_all(&(f.len() as u32).to_be_bytes())
            .await
            .expect("w");
        a.write_all(f).await.expect("w");
    }
    let (s, who) = accept(b, &auth(1, secret(GOOD, false)), PortKind::Quorum)
        .await
        .expect("plain allowed");
    assert_eq!(who, None);
    let mut framed = codec::framed(s, 64);
    for f in frames {
        let got = framed.next().await.expect("a frame").expect("ok");
        assert_eq!(&got[..], f);
    }
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_times_out() {
    let (_a, b) = tokio::io::duplex(64);
    let err = accept(b, &auth(1, secret(GOOD, true)), PortKind::Election)
        .await
        .err()
        .expect("times out");
    assert!(matches!(err, AuthError::Timeout), "{err}");
}
