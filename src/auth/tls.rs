//! Mutual TLS on the election and quorum ports (ZooKeeper's `sslQuorum`), with rustls and its
//! `ring` provider.
//!
//! Both sides present a certificate, and each must chain to the trust store
//! (`ssl.quorum.trustStore.location`); a peer whose certificate comes from another CA, or
//! that has none, fails the TLS handshake and the connection is refused. Files are PEM only
//! (ZooKeeper's `ssl.quorum.keyStore.type=PEM`): the key store holds this server's
//! certificate chain and its unencrypted private key, the trust store the CA certificates.
//!
//! Deliberately left out: host name verification (any certificate the trust store vouches for
//! is a member; ZooKeeper's `ssl.quorum.hostnameVerification=false`), reloading changed files
//! (`sslQuorumReloadCertFiles`), JKS/PKCS12 stores, encrypted keys, revocation lists, and
//! binding a certificate to a server id (as in ZooKeeper, a certificate says "member of this
//! ensemble", not "server 3"; add the shared secret for the id binding it gives).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The name a dialler puts in its TLS hello. Names are not verified (see the module docs), so
/// one fixed, valid DNS name does.
pub const PEER_NAME: &str = "zabd-quorum-peer";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TlsError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path} holds no PEM `CERTIFICATE`; {hint}")]
    NoCertificate { path: String, hint: &'static str },
    #[error(
        "{path} holds no unencrypted PEM private key (`PRIVATE KEY`, `RSA PRIVATE KEY` or \
         `EC PRIVATE KEY`); encrypted keys are not supported"
    )]
    NoKey { path: String },
    #[error("{path}: {reason}")]
    Unusable { path: String, reason: String },
}

/// The TLS side of this server: both ends of a peer connection, built once from the files.
pub struct QuorumTls {
    key_store: PathBuf,
    trust_store: PathBuf,
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) connector: TlsConnector,
}

impl PartialEq for QuorumTls {
    fn eq(&self, other: &QuorumTls) -> bool {
        self.key_store == other.key_store && self.trust_store == other.trust_store
    }
}

impl Eq for QuorumTls {}

impl std::fmt::Debug for QuorumTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuorumTls")
            .field("key_store", &self.key_store)
            .field("trust_store", &self.trust_store)
            .finish()
    }
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

fn certificates(path: &Path, hint: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let unreadable = |reason: String| TlsError::Unreadable {
        path: shown(path),
        reason,
    };
    // Read first so that a missing file says so (not "no certificate").
    std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: shown(path),
            hint,
        });
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoKey { path: shown(path) },
        other => TlsError::Unreadable {
            path: shown(path),
            reason: format!("bad PEM: {other}"),
        },
    })
}

impl QuorumTls {
    /// Load `key_store` (this server's certificate chain and private key, PEM) and
    /// `trust_store` (CA certificates, PEM), and build both TLS ends. Every problem with the
    /// files is reported here, at start-up.
    pub fn load(key_store: &Path, trust_store: &Path) -> Result<QuorumTls, TlsError> {
        let chain = certificates(
            key_store,
            "the key store holds this server's certificate (chain) and its private key",
        )?;
        let key = private_key(key_store)?;
        let mut roots = RootCertStore::empty();
        for ca in certificates(
            trust_store,
            "the trust store holds the certificates of the CA(s) that sign the servers' certificates",
        )? {
            roots.add(ca).map_err(|e| TlsError::Unusable {
                path: shown(trust_store),
                reason: format!("not a usable CA certificate: {e}"),
            })?;
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let unusable = |path: &Path, e: rustls::Error| TlsError::Unusable {
            path: shown(path),
            reason: e.to_string(),
        };

        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| TlsError::Unusable {
                    path: shown(trust_store),
                    reason: e.to_string(),
                })?;
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| unusable(key_store, e))?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| unusable(key_store, e))?;

        let server_verifier = TrustStoreOnly {
            roots,
            algorithms: provider.signature_verification_algorithms,
        };
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| unusable(key_store, e))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(server_verifier))
            .with_client_auth_cert(chain, key)
            .map_err(|e| unusable(key_store, e))?;

        Ok(QuorumTls {
            key_store: key_store.to_path_buf(),
            trust_store: trust_store.to_path_buf(),
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        })
    }

    pub(crate) fn peer_name() -> Result<ServerName<'static>, String> {
        ServerName::try_from(PEER_NAME).map_err(|e| e.to_string())
    }
}

/// The dialler's check of the acceptor's certificate: the chain must lead to the trust store
/// and the handshake signatures must verify — everything webpki checks except the host name
/// (see the module docs for why).
#[derive(Debug)]
struct TrustStoreOnly {
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for TrustStoreOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
