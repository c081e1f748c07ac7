//! TLS for connections, with rustls (ring provider) and libpq's `sslmode` meanings.
//!
//! What each mode verifies, as in libpq:
//! - `disable`: no TLS.
//! - `allow`, `prefer`, `require`: encryption without verification — unless a root certificate
//!   is given (`sslrootcert`, or an existing `~/.postgresql/root.crt`): then the chain is
//!   verified as with `verify-ca`.
//! - `verify-ca`: the chain must lead to a root of `sslrootcert`; the host name is not checked.
//! - `verify-full`: chain and host name (`host`, not `hostaddr`) are checked.
//!
//! `sslrootcert=system` uses the operating system's trust store (and, as in libpq 16, only goes
//! with `verify-full`). This module never disables verification that the mode asks for, and never
//! sees or logs a password.

use super::SslMode;
use crate::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Roots {
    /// No root certificate: nothing to verify against.
    None,
    /// A PEM bundle (e.g. the RDS global bundle).
    File(PathBuf),
    /// The operating system's trust store.
    System,
}

/// The TLS part of a resolved connection spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    pub mode: SslMode,
    pub roots: Roots,
    /// Client certificate chain and key (PEM files), when both are given.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// How much of the server certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    Nothing,
    Chain,
    ChainAndName,
}

impl TlsSettings {
    pub(crate) fn verify(&self) -> Verify {
        match (self.mode, &self.roots) {
            (SslMode::VerifyFull, _) => Verify::ChainAndName,
            (SslMode::VerifyCa, _) => Verify::Chain,
            (_, Roots::None) => Verify::Nothing,
            (_, _) => Verify::Chain,
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Build the tokio-postgres TLS connector for `settings`.
pub(crate) fn connector(settings: &TlsSettings) -> Result<MakeRustlsConnect> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS setup: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match settings.verify() {
        Verify::Nothing => Arc::new(NoVerification(provider)),
        level => {
            let roots = load_roots(&settings.roots, settings.mode)?;
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| Error::Config(format!("TLS setup: {e}")))?;
            if level == Verify::Chain {
                Arc::new(ChainOnly(webpki))
            } else {
                webpki
            }
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match &settings.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = read_certs(cert, "client certificate")?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                Error::Config(format!(
                    "could not read private key file \"{}\": {e}",
                    key.display()
                ))
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::Config(format!("client certificate: {e}")))?
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

fn load_roots(roots: &Roots, mode: SslMode) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::None => {
            return Err(Error::Config(format!(
                "sslmode={mode} needs a root certificate: give sslrootcert=FILE (a PEM bundle), \
                 use the system's trusted roots with sslrootcert=system, or use sslmode=require"
            )))
        }
        Roots::File(path) => {
            let (added, _) = store.add_parsable_certificates(read_certs(path, "root certificate")?);
            if added == 0 {
                return Err(Error::Config(format!(
                    "root certificate file \"{}\" holds no usable certificate",
                    path.display()
                )));
            }
        }
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(Error::Config(
                    "sslrootcert=system: no trusted root certificates found on this system".into(),
                ));
            }
        }
    }
    Ok(store)
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let fail = |e: &dyn std::fmt::Display| {
        Error::Config(format!(
            "could not read {what} file \"{}\": {e}",
            path.display()
        ))
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(&e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| fail(&e))?;
    if certs.is_empty() {
        return Err(fail(&"no PEM certificate in it"));
    }
    Ok(certs)
}

/// A plainer wording for the certificate errors users meet most, when `e` (a link of a
/// tokio-postgres error's source chain) is one; else `None`.
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let rustls_err = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .or_else(|| e.downcast_ref::<rustls::Error>())?;
    let text = match rustls_err {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the server certificate is not signed by a trusted root certificate (check sslrootcert)"
        }
        rustls::Error::InvalidCertificate(CertificateError::BadSignature) => {
            "the server certificate's signature does not verify against the trusted root \
             certificates (check sslrootcert)"
        }
        _ => return None,
    };
    Some(text.into())
}

/// `sslmode=require` (and allow/prefer) without a root certificate: the server's certificate is
/// not checked, but the handshake signatures still are (so the session is encrypted to whoever
/// holds the presented key, as with libpq).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the full WebPKI check, except that a certificate valid for another name passes.
/// (webpki checks the chain before the name, so a name error means the chain was good.)
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_levels_follow_libpq() {
        let file = Roots::File("/ca.pem".into());
        let cases = [
            (SslMode::Require, Roots::None, Verify::Nothing),
            (SslMode::Prefer, Roots::None, Verify::Nothing),
            (SslMode::Allow, Roots::None, Verify::Nothing),
            (SslMode::Require, file.clone(), Verify::Chain),
            (SslMode::Prefer, file.clone(), Verify::Chain),
            (SslMode::VerifyCa, file.clone(), Verify::Chain),
            (SslMode::VerifyFull, file.clone(), Verify::ChainAndName),
            (SslMode::VerifyFull, Roots::System, Verify::ChainAndName),
        ];
        for (mode, roots, want) in cases {
            let s = TlsSettings {
                mode,
                roots: roots.clone(),
                client_cert: None,
            };
            assert_eq!(s.verify(), want, "{mode} {roots:?}");
        }
    }

    #[test]
    fn verify_modes_without_roots_or_with_bad_files_are_config_errors() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        for (mode, roots, want) in [
            (SslMode::VerifyFull, Roots::None, "needs a root certificate"),
            (SslMode::VerifyCa, Roots::None, "needs a root certificate"),
            (
                SslMode::VerifyCa,
                Roots::File(dir.path().join("missing.pem")),
                "could not read root certificate file",
            ),
            (SslMode::VerifyCa, Roots::File(empty), "no PEM certificate"),
        ] {
            let e = connector(&TlsSettings {
                mode,
                roots,
                client_cert: None,
            })
            .err()
            .expect("should fail");
            assert!(matches!(e, Error::Config(_)), "{e:?}");
            assert!(e.to_string().contains(want), "{e}");
        }
    }
}
