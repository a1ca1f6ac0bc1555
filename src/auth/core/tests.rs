//! The challenge-response rules, without I/O.

use super::*;

fn policy(secret: &[u8], require: bool) -> Policy {
    Policy {
        secret: Some(Arc::new(Secret::from_bytes(secret))),
        require,
        tls: None,
    }
}

const GOOD: &[u8] = b"the ensemble's shared secret";

fn members(ids: &[u64]) -> Arc<BTreeSet<Sid>> {
    Arc::new(ids.iter().map(|&i| Sid(i)).collect())
}

/// Server 1 accepting on the election port from servers 2 and 3.
fn acceptor(p: Policy, nonce: u8) -> Acceptor {
    Acceptor::new(p, PortKind::Election, Sid(1), members(&[2, 3]), [nonce; 32])
}

/// Server `me` dialling server 1.
fn dialler(p: &Policy, me: u64, nonce: u8) -> Dialler {
    Dialler::new(p, PortKind::Election, Sid(me), Sid(1), [nonce; 32]).expect("enabled")
}

/// Runs a full exchange in memory; returns what each side ended with.
fn run(
    d: &mut Dialler,
    a: &mut Acceptor,
) -> (Result<DialStep, Refusal>, Result<AcceptStep, Refusal>) {
    let hello = d.hello().expect("hello");
    let challenge = match a.on_frame(&hello) {
        Ok(AcceptStep::Send(f)) => f,
        Ok(AcceptStep::Off(f)) => return (d.on_frame(&f), Ok(AcceptStep::Off(f))),
        other => return (Err(Refusal::Unexpected("(test) no challenge")), other),
    };
    let proof = match d.on_frame(&challenge) {
        Ok(DialStep::Send(f)) => f,
        other => return (other, Err(Refusal::Unexpected("(test) no proof"))),
    };
    match a.on_frame(&proof) {
        Ok(AcceptStep::Authenticated { peer, welcome }) => (
            d.on_frame(&welcome),
            Ok(AcceptStep::Authenticated { peer, welcome }),
        ),
        Err(refusal) => {
            let reply = a
                .refusal_frame()
                .expect("a refusal frame after a challenge");
            (d.on_frame(&reply), Err(refusal))
        }
        other => (Err(Refusal::Unexpected("(test) odd")), other),
    }
}

#[test]
fn the_right_secret_is_accepted_both_ways() {
    let p = policy(GOOD, true);
    let (d, a) = run(&mut dialler(&p, 2, 7), &mut acceptor(p.clone(), 9));
    assert_eq!(d, Ok(DialStep::Authenticated));
    assert!(matches!(
        a,
        Ok(AcceptStep::Authenticated { peer: Sid(2), .. })
    ));
}

#[test]
fn a_wrong_secret_is_refused_by_the_acceptor() {
    // The dialler has the wrong secret: it refuses the acceptor's proof before proving
    // anything itself.
    let (d, _) = run(
        &mut dialler(&policy(b"not the ensemble secret", true), 2, 7),
        &mut acceptor(policy(GOOD, true), 9),
    );
    assert_eq!(d, Err(Refusal::BadProof(Sid(1))));
}

#[test]
fn a_dialler_without_the_secret_cannot_forge_a_proof() {
    // An intruder that got the challenge sends some proof of its own making.
    let mut a = acceptor(policy(GOOD, true), 9);
    let intruder = dialler(&policy(b"guessed secret, quite long", false), 2, 7);
    let hello = intruder.hello().expect("hello");
    assert!(matches!(a.on_frame(&hello), Ok(AcceptStep::Send(_))));
    assert_eq!(a.claimed(), Some(Sid(2)));
    let forged = encode(&AuthMessage::Proof { proof: [0xab; 32] }).expect("enc");
    assert_eq!(a.on_frame(&forged), Err(Refusal::BadProof(Sid(2))));
    assert!(a.refusal_frame().is_none(), "done after the refusal");
}

#[test]
fn a_replayed_proof_is_refused() {
    // Record a full good exchange, then replay the dialler's frames to a new acceptor: its
    // nonce differs, so the old proof is worthless.
    let p = policy(GOOD, true);
    let mut d = dialler(&p, 2, 7);
    let mut a = acceptor(p.clone(), 9);
    let hello = d.hello().expect("hello");
    let Ok(AcceptStep::Send(challenge)) = a.on_frame(&hello) else {
        panic!("challenge expected")
    };
    let Ok(DialStep::Send(proof)) = d.on_frame(&challenge) else {
        panic!("proof expected")
    };
    let mut fresh = acceptor(p, 10);
    assert!(matches!(fresh.on_frame(&hello), Ok(AcceptStep::Send(_))));
    assert_eq!(fresh.on_frame(&proof), Err(Refusal::BadProof(Sid(2))));
}

#[test]
fn a_reflected_proof_is_refused() {
    // An intruder claiming to be server 2 gets the acceptor's proof in the challenge and sends
    // it straight back as its own: the role byte makes it invalid.
    let mut a = acceptor(policy(GOOD, true), 9);
    let hello = dialler(&policy(GOOD, true), 2, 7).hello().expect("hello");
    let Ok(AcceptStep::Send(challenge)) = a.on_frame(&hello) else {
        panic!("challenge expected")
    };
    let Ok(AuthMessage::Challenge { proof, .. }) = decode(&challenge) else {
        panic!("a challenge")
    };
    let reflected = encode(&AuthMessage::Proof { proof }).expect("enc");
    assert_eq!(a.on_frame(&reflected), Err(Refusal::BadProof(Sid(2))));
}

#[test]
fn a_proof_for_the_other_port_or_another_id_is_refused() {
    let p = policy(GOOD, true);
    // The same nonces on the quorum port give other proofs.
    let e = Exchange {
        secret: &Secret::from_bytes(GOOD),
        port: PortKind::Election,
        dialler: Sid(2),
        acceptor: Sid(1),
        dialler_nonce: &[7; 32],
        acceptor_nonce: &[9; 32],
    };
    let q = Exchange {
        port: PortKind::Quorum,
        ..e
    };
    let other_id = Exchange {
        dialler: Sid(3),
        ..e
    };
    let proof = e.prove(Role::Dialler).expect("prove");
    assert!(e.verify(Role::Dialler, &proof, Sid(2)).is_ok());
    assert!(q.verify(Role::Dialler, &proof, Sid(2)).is_err());
    assert!(other_id.verify(Role::Dialler, &proof, Sid(3)).is_err());
    assert!(e.verify(Role::Acceptor, &proof, Sid(2)).is_err());
    // An election hello on the quorum port is refused outright.
    let mut quorum = Acceptor::new(p.clone(), PortKind::Quorum, Sid(1), members(&[2]), [1; 32]);
    let hello = dialler(&p, 2, 7).hello().expect("hello");
    assert!(matches!(
        quorum.on_frame(&hello),
        Err(Refusal::WrongPort { .. })
    ));
}

#[test]
fn ids_are_checked() {
    let p = policy(GOOD, false);
    let unknown = dialler(&p, 9, 7).hello().expect("hello");
    assert_eq!(
        acceptor(p.clone(), 1).on_frame(&unknown),
        Err(Refusal::UnknownId(Sid(9)))
    );
    let own = Dialler::new(&p, PortKind::Election, Sid(1), Sid(1), [7; 32])
        .expect("enabled")
        .hello()
        .expect("hello");
    assert_eq!(
        acceptor(p.clone(), 1).on_frame(&own),
        Err(Refusal::OwnId(Sid(1)))
    );
    // The dialler meant server 3 but server 1 answered.
    let mut d = Dialler::new(&p, PortKind::Election, Sid(2), Sid(3), [7; 32]).expect("enabled");
    let mut a = acceptor(p.clone(), 1);
    let Ok(AcceptStep::Send(challenge)) = a.on_frame(&d.hello().expect("hello")) else {
        panic!("challenge expected")
    };
    assert_eq!(
        d.on_frame(&challenge),
        Err(Refusal::WrongPeer {
            expected: Sid(3),
            got: Sid(1)
        })
    );
}

#[test]
fn the_rolling_switch_states_interoperate() {
    let off = Policy::off();
    let enabled = policy(GOOD, false);
    let required = policy(GOOD, true);
    // A plain dialler's first frame (any non-magic bytes).
    let plain = [0u8, 0, 0, 1, 0, 0, 0, 0];
    assert_eq!(
        acceptor(off.clone(), 1).on_frame(&plain),
        Ok(AcceptStep::Plain)
    );
    assert_eq!(
        acceptor(enabled.clone(), 1).on_frame(&plain),
        Ok(AcceptStep::Plain)
    );
    assert_eq!(
        acceptor(required.clone(), 1).on_frame(&plain),
        Err(Refusal::NotAuthenticated(None))
    );
    // An authenticating dialler and an acceptor with authentication off.
    let (d, a) = run(&mut dialler(&enabled, 2, 7), &mut acceptor(off.clone(), 1));
    assert_eq!(d, Ok(DialStep::Plain));
    assert!(matches!(a, Ok(AcceptStep::Off(_))));
    let (d, _) = run(&mut dialler(&required, 2, 7), &mut acceptor(off, 1));
    assert_eq!(d, Err(Refusal::PeerAuthOff));
    // Enabled and required, both directions.
    for (dp, ap) in [
        (&enabled, &required),
        (&required, &enabled),
        (&enabled, &enabled),
    ] {
        let (d, a) = run(&mut dialler(dp, 2, 7), &mut acceptor(ap.clone(), 1));
        assert_eq!(d, Ok(DialStep::Authenticated));
        assert!(matches!(a, Ok(AcceptStep::Authenticated { .. })));
    }
    // A server with authentication off dials in the clear.
    assert!(Dialler::new(&Policy::off(), PortKind::Quorum, Sid(2), Sid(1), [0; 32]).is_none());
}

#[test]
fn truncated_and_garbage_frames_are_errors_not_panics() {
    let p = policy(GOOD, true);
    let hello = dialler(&p, 2, 7).hello().expect("hello");
    for cut in 0..hello.len() {
        let piece = &hello[..cut];
        let result = acceptor(p.clone(), 1).on_frame(piece);
        assert!(result.is_err(), "{cut} bytes of the hello: {result:?}");
    }
    let mut trailing = hello.to_vec();
    trailing.push(0);
    assert!(acceptor(p.clone(), 1).on_frame(&trailing).is_err());
    // Garbage after the magic; garbage as a challenge; garbage as a proof.
    let mut junk = MAGIC.to_vec();
    junk.extend_from_slice(&[0xff; 40]);
    assert!(matches!(
        acceptor(p.clone(), 1).on_frame(&junk),
        Err(Refusal::Malformed(_))
    ));
    let mut d = dialler(&p, 2, 7);
    assert!(d.on_frame(&[0xff; 5]).is_err());
    let mut a = acceptor(p.clone(), 1);
    assert!(matches!(a.on_frame(&hello), Ok(AcceptStep::Send(_))));
    assert!(a.on_frame(&[0, 0, 0, 3, 1]).is_err());
    // Frames out of order.
    let welcome = encode(&AuthMessage::Welcome).expect("enc");
    assert_eq!(
        dialler(&p, 2, 7).on_frame(&welcome),
        Err(Refusal::Unexpected("Welcome"))
    );
    let mut hello_as_body = MAGIC.to_vec();
    hello_as_body.extend_from_slice(&welcome);
    assert_eq!(
        acceptor(p, 1).on_frame(&hello_as_body),
        Err(Refusal::Unexpected("Welcome"))
    );
}

#[test]
fn the_magic_is_not_a_plain_first_frame() {
    // The election handshake starts with protocol version 1, a quorum message with a small
    // variant index; neither can start with the magic.
    let first = u32::from_be_bytes([MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3]]);
    assert!(first > 1_000_000);
}
