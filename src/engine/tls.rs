//! TLS for https targets: rustls with the ring provider (no C build), the system roots or a
//! job's `ca_file`, client certificates, and the facts a connection reports (handshake time,
//! protocol version, the server certificate's expiry).

use std::sync::Arc;
use std::time::Instant;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::spec::TlsSettings;
use crate::event::TlsInfo;

/// The ALPN name of HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";

/// The name to verify and send as SNI: `tls_config.server_name`, else the target's host.
pub fn server_name_for<'a>(tls: &'a TlsSettings, host: &'a str) -> &'a str {
    tls.server_name.as_deref().unwrap_or(host)
}

/// Build the client configuration of a job. Reads `ca_file`, `cert_file` and `key_file` now;
/// errors name the file, never its content. `http2` (the job's `enable_http2`) offers `h2`
/// before `http/1.1` by ALPN, as Go's transport does once Prometheus configures HTTP/2 on it;
/// without it only `http/1.1` is offered.
pub fn client_config(tls: &TlsSettings, http2: bool) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_version.as_deref() {
        Some("TLS13") => &[&rustls::version::TLS13],
        _ => &[&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS setup: {e}"))?;
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        match &tls.ca_file {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("reading ca_file {}: {e}", path.display()))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("reading ca_file {}: {e}", path.display()))?;
                if certs.is_empty() {
                    return Err(format!("no certificate in ca_file {}", path.display()));
                }
                for c in certs {
                    roots
                        .add(c)
                        .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                // Unparsable system certificates are skipped, as Go does.
                roots.add_parsable_certificates(native.certs);
                if roots.is_empty() {
                    return Err("no system root certificates found (set tls_config ca_file)".into());
                }
            }
        }
        builder.with_root_certificates(roots)
    };
    let mut cfg = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| format!("reading cert_file {}: {e}", cert.display()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("reading cert_file {}: {e}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|_| {
                format!("reading key_file {}: no usable private key", key.display())
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = if http2 {
        vec![ALPN_H2.to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(cfg))
}

/// TLS handshake over a connected stream. `server_name` is what [`server_name_for`] returns.
pub async fn handshake(
    stream: TcpStream,
    server_name: &str,
    cfg: Arc<ClientConfig>,
) -> Result<(TlsStream<TcpStream>, TlsInfo), String> {
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|_| format!("invalid TLS server name {server_name:?}"))?;
    let start = Instant::now();
    let tls = TlsConnector::from(cfg)
        .connect(name, stream)
        .await
        .map_err(|e| describe_io_error(&e))?;
    let tls_ms = start.elapsed().as_secs_f64() * 1000.0;
    let conn = tls.get_ref().1;
    let tls_version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(v) => format!("{v:?}"),
        None => "unknown".to_owned(),
    };
    let cert_expiry = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|leaf| not_after(leaf.as_ref()));
    let alpn = conn
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    Ok((
        tls,
        TlsInfo {
            tls_ms,
            tls_version,
            cert_expiry,
            alpn,
        },
    ))
}

fn describe_io_error(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(c)) => {
            format!("certificate verify failed: {}", cert_error(c))
        }
        Some(rustls::Error::AlertReceived(a)) => format!("TLS alert from server: {a:?}"),
        Some(other) => format!("TLS handshake failed: {other}"),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "TLS handshake failed: connection closed by peer".to_owned()
        }
        None => format!("TLS handshake failed: {e}"),
    }
}

fn cert_error(c: &rustls::CertificateError) -> String {
    match c {
        rustls::CertificateError::NotValidForNameContext { expected, .. } => {
            format!("NotValidForName (expected {expected:?})")
        }
        rustls::CertificateError::ExpiredContext { not_after, .. } => {
            format!(
                "Expired (notAfter {})",
                unix_to_rfc3339(not_after.as_secs())
            )
        }
        other => {
            // Keep the variant name only: "UnknownIssuer", "Expired", "BadSignature".
            let s = format!("{other:?}");
            s.split([' ', '{', '(']).next().unwrap_or("").to_owned()
        }
    }
}

/// Accepts any server certificate (`insecure_skip_verify: true`), still checking signatures so
/// the handshake itself is sound.
#[derive(Debug)]
struct AcceptAnything(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
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

/// One DER TLV: (tag, content, rest).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&l0, rest) = rest.split_first()?;
    let (len, rest) = if l0 < 0x80 {
        (usize::from(l0), rest)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &x| (acc << 8) | usize::from(x));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The notAfter of an X.509 certificate (DER), as RFC 3339, by walking just enough DER:
/// Certificate → tbsCertificate → \[version\] serial signature issuer validity.notAfter.
pub fn not_after(der: &[u8]) -> Option<String> {
    let (0x30, cert, _) = tlv(der)? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(cert)? else {
        return None;
    };
    let mut rest = tbs;
    let (tag, _, r) = tlv(rest)?;
    if tag == 0xa0 {
        rest = r; // explicit version
    }
    let (_, _, r) = tlv(rest)?; // serialNumber
    let (_, _, r) = tlv(r)?; // signature
    let (_, _, r) = tlv(r)?; // issuer
    let (0x30, validity, _) = tlv(r)? else {
        return None;
    };
    let (_, _, r) = tlv(validity)?; // notBefore
    let (tag, t, _) = tlv(r)?;
    let t = std::str::from_utf8(t).ok()?;
    let full = match tag {
        0x17 if t.len() == 13 => {
            let yy: u32 = t[..2].parse().ok()?;
            let century = if yy >= 50 { "19" } else { "20" };
            format!("{century}{t}")
        }
        0x18 if t.len() == 15 => t.to_owned(),
        _ => return None,
    };
    if !full.ends_with('Z') || !full[..14].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!(
        "{}-{}-{}T{}:{}:{}Z",
        &full[0..4],
        &full[4..6],
        &full[6..8],
        &full[8..10],
        &full[10..12],
        &full[12..14]
    ))
}

fn unix_to_rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd,
    };
    use std::path::PathBuf;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    type BoxErr = Box<dyn std::error::Error + Send + Sync>;

    struct Pki {
        dir: tempfile::TempDir,
        ca_pem: PathBuf,
        server: Arc<rustls::ServerConfig>,
    }

    fn pki() -> Result<Pki, BoxErr> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "scrapetop test CA");
        let ca = ca_params.self_signed(&ca_key)?;
        let leaf_key = KeyPair::generate()?;
        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        leaf_params.not_after = date_time_ymd(2041, 6, 15);
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;
        let dir = tempfile::tempdir()?;
        let ca_pem = dir.path().join("ca.pem");
        std::fs::write(&ca_pem, ca.pem())?;
        let server =
            rustls::ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(
                    vec![leaf.der().clone()],
                    PrivateKeyDer::try_from(leaf_key.serialize_der())?,
                )?;
        Ok(Pki {
            dir,
            ca_pem,
            server: Arc::new(server),
        })
    }

    /// A TLS server on loopback that answers one line per connection.
    async fn serve(cfg: Arc<rustls::ServerConfig>) -> Result<std::net::SocketAddr, BoxErr> {
        let l = TcpListener::bind("127.0.0.1:0").await?;
        let addr = l.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(s).await {
                        let _ = tls.write_all(b"hello\n").await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        Ok(addr)
    }

    #[tokio::test]
    async fn handshake_with_ca_file_and_failure_without() -> Result<(), BoxErr> {
        let p = pki()?;
        let addr = serve(p.server.clone()).await?;

        let tls = TlsSettings {
            ca_file: Some(p.ca_pem.clone()),
            ..TlsSettings::default()
        };
        let cfg = client_config(&tls, true)?;
        let s = TcpStream::connect(addr).await?;
        let (mut stream, info) = handshake(s, server_name_for(&tls, "localhost"), cfg).await?;
        let mut buf = String::new();
        stream.read_to_string(&mut buf).await?;
        assert_eq!(buf, "hello\n");
        assert_eq!(info.tls_version, "TLSv1.3");
        assert_eq!(info.cert_expiry.as_deref(), Some("2041-06-15T00:00:00Z"));
        assert!(info.tls_ms >= 0.0);

        // An IP address as the name works too (the certificate has it as a SAN).
        let s = TcpStream::connect(addr).await?;
        handshake(s, "127.0.0.1", client_config(&tls, true)?).await?;

        // Wrong name.
        let s = TcpStream::connect(addr).await?;
        let e = handshake(s, "other.example", client_config(&tls, true)?)
            .await
            .err()
            .ok_or("accepted a wrong name")?;
        assert!(
            e.starts_with("certificate verify failed: NotValidForName"),
            "{e}"
        );

        // Without the CA: system roots do not know it.
        let no_ca = TlsSettings::default();
        if let Ok(cfg) = client_config(&no_ca, true) {
            let s = TcpStream::connect(addr).await?;
            let e = handshake(s, "localhost", cfg)
                .await
                .err()
                .ok_or("accepted")?;
            assert_eq!(e, "certificate verify failed: UnknownIssuer");
        }
        let empty = p.dir.path().join("empty.pem");
        std::fs::write(&empty, "")?;
        let e = client_config(
            &TlsSettings {
                ca_file: Some(empty),
                ..TlsSettings::default()
            },
            true,
        )
        .err()
        .ok_or("empty CA accepted")?;
        assert!(e.starts_with("no certificate in ca_file"), "{e}");

        // insecure_skip_verify accepts it.
        let insecure = TlsSettings {
            insecure_skip_verify: true,
            ..TlsSettings::default()
        };
        let s = TcpStream::connect(addr).await?;
        let (_, info) = handshake(s, "whatever.example", client_config(&insecure, true)?).await?;
        assert_eq!(info.tls_version, "TLSv1.3");
        Ok(())
    }

    #[test]
    fn alpn_offers_h2_first_only_with_enable_http2() -> Result<(), BoxErr> {
        let tls = TlsSettings {
            insecure_skip_verify: true,
            ..TlsSettings::default()
        };
        let h2: Vec<&[u8]> = vec![b"h2", b"http/1.1"];
        assert_eq!(client_config(&tls, true)?.alpn_protocols, h2);
        let h1: Vec<&[u8]> = vec![b"http/1.1"];
        assert_eq!(client_config(&tls, false)?.alpn_protocols, h1);
        Ok(())
    }

    #[test]
    fn not_after_of_generalized_time() -> Result<(), BoxErr> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec!["x".to_owned()])?;
        params.not_after = date_time_ymd(2061, 1, 2);
        let cert = params.self_signed(&key)?;
        assert_eq!(
            not_after(cert.der()).as_deref(),
            Some("2061-01-02T00:00:00Z")
        );
        assert_eq!(not_after(b"\x30\x03\x02\x01\x00"), None);
        Ok(())
    }
}
