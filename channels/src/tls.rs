//! HTTPS and WSS: the endpoint's `https:` configuration, as Phoenix has it.
//!
//! A certificate chain and its private key (PEM files, given with
//! `--tls-cert` / `--tls-key` or `TLS_CERT_FILE` / `TLS_KEY_FILE`) turn on a
//! second listener, `--https-port` (`HTTPS_PORT`, default 4443), served by
//! rustls (no OpenSSL): the same endpoint, sockets and routes as the plain
//! HTTP listener, which keeps serving beside it unless `--https-only`. In
//! production mode HTTPS responses carry `Strict-Transport-Security`
//! (Plug.SSL's default, one year), which browsers ignore over plain HTTP.
//!
//! `gen-cert` makes a self-signed certificate for development, like
//! `mix phx.gen.cert`: `selfsigned.pem` and `selfsigned_key.pem` (mode 0600)
//! in `priv/cert/` or the folder given.
//!
//! The TLS handshake counts as the start of the request head: it is bounded
//! by the header timeout and by the cap on connections in their handshake
//! (`http_connection`), so a client that opens TLS and stalls is cut like a
//! slowloris.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// Plug.SSL's default HSTS header: one year, this host only.
pub const HSTS: &str = "max-age=31536000";

/// The HTTPS settings of an app binary.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "HTTPS")]
pub struct TlsArgs {
    /// The certificate chain (PEM, server certificate first): with
    /// --tls-key, serve HTTPS and WSS on --https-port.
    #[arg(
        long,
        env = "TLS_CERT_FILE",
        value_name = "FILE",
        requires = "tls_key",
        global = true
    )]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(
        long,
        env = "TLS_KEY_FILE",
        value_name = "FILE",
        requires = "tls_cert",
        global = true
    )]
    pub tls_key: Option<PathBuf>,
    /// Port of the HTTPS server; 0 picks a free one.
    #[arg(long, env = "HTTPS_PORT", default_value_t = 4443, global = true)]
    pub https_port: u16,
    /// With a certificate, serve HTTPS only (no plain HTTP listener).
    #[arg(long, env = "HTTPS_ONLY", requires = "tls_cert", global = true)]
    pub https_only: bool,
}

impl TlsArgs {
    /// The TLS acceptor for the configured certificate and key, or `None`
    /// when none is configured.
    pub fn acceptor(&self) -> Result<Option<TlsAcceptor>, TlsError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(acceptor(cert, key)?)),
            _ => Ok(None),
        }
    }
}

/// Why the certificate or key cannot be used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { path: PathBuf },
    #[error("the certificate {cert} and the key {key} cannot be used together: {reason}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot make a certificate: {0}")]
    Generate(String),
}

/// A rustls acceptor serving `cert` (a PEM chain) with `key`, speaking
/// HTTP/1.1 (the endpoint's protocol; WebSocket upgrades need it).
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let cert_pem = read(cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_path_buf(),
        });
    }
    let key_pem = read(key)?;
    let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey {
        path: key.to_path_buf(),
    })?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|err| TlsError::Mismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            reason: err.to_string(),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A self-signed certificate and its key, both PEM, for `hosts` (names or
/// IP addresses; `localhost`, 127.0.0.1 and ::1 are always included).
pub fn self_signed(hosts: &[String]) -> Result<(String, String), TlsError> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for host in hosts {
        if !names.contains(host) {
            names.push(host.clone());
        }
    }
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|err| TlsError::Generate(err.to_string()))?;
    Ok((certified.cert.pem(), certified.key_pair.serialize_pem()))
}

/// `gen-cert`'s arguments.
#[derive(Args, Debug, Clone)]
pub struct GenCertArgs {
    /// Folder to write selfsigned.pem and selfsigned_key.pem into.
    #[arg(long, default_value = "priv/cert", value_name = "DIR")]
    pub out: PathBuf,
    /// More host names or addresses the certificate is valid for.
    #[arg(value_name = "HOST")]
    pub hosts: Vec<String>,
}

/// Writes a self-signed certificate and its key (mode 0600) into `args.out`;
/// returns the two paths.
pub fn gen_cert(args: &GenCertArgs) -> Result<(PathBuf, PathBuf), TlsError> {
    let (cert, key) = self_signed(&args.hosts)?;
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Write { path, source }
    };
    std::fs::create_dir_all(&args.out).map_err(write_err(&args.out))?;
    let cert_path = args.out.join("selfsigned.pem");
    let key_path = args.out.join("selfsigned_key.pem");
    std::fs::write(&cert_path, cert).map_err(write_err(&cert_path))?;
    write_private(&key_path, key.as_bytes()).map_err(write_err(&key_path))?;
    Ok((cert_path, key_path))
}

/// Creates (or truncates) `path` readable by its owner only, then writes.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// One address the endpoint listens on, plain or with TLS.
#[derive(Clone)]
pub struct Listen {
    /// Where to bind.
    pub address: SocketAddr,
    /// `Some` for HTTPS.
    pub tls: Option<TlsAcceptor>,
    /// Add `Strict-Transport-Security` to every response (HTTPS in production).
    pub hsts: bool,
}

impl Listen {
    /// Plain HTTP at `address`.
    pub fn http(address: SocketAddr) -> Listen {
        Listen {
            address,
            tls: None,
            hsts: false,
        }
    }

    /// HTTPS at `address`.
    pub fn https(address: SocketAddr, acceptor: TlsAcceptor, hsts: bool) -> Listen {
        Listen {
            address,
            tls: Some(acceptor),
            hsts,
        }
    }

    /// `http` or `https`, for the log line scripts read ports from.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// The listeners of a binary's web server: plain HTTP at `host:http_port`
/// (unless `--https-only`) and, with a certificate, HTTPS at
/// `host:https_port`; HSTS on HTTPS when `production`.
pub fn listeners(
    host: IpAddr,
    http_port: u16,
    tls: &TlsArgs,
    production: bool,
) -> Result<Vec<Listen>, TlsError> {
    let mut listen = Vec::new();
    let acceptor = tls.acceptor()?;
    if acceptor.is_none() || !tls.https_only {
        listen.push(Listen::http(SocketAddr::new(host, http_port)));
    }
    if let Some(acceptor) = acceptor {
        listen.push(Listen::https(
            SocketAddr::new(host, tls.https_port),
            acceptor,
            production,
        ));
    }
    Ok(listen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tls-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn gen_cert_writes_a_pair_the_acceptor_takes_with_a_private_key_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("gen");
        let (cert, key) = gen_cert(&GenCertArgs {
            out: dir.clone(),
            hosts: vec!["shop.test".into()],
        })
        .unwrap();
        assert!(acceptor(&cert, &key).is_ok());
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key is readable by its owner only");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_bad_certificate_or_key_is_refused_naming_the_file() {
        let dir = temp_dir("bad");
        std::fs::create_dir_all(&dir).unwrap();
        let (cert_pem, key_pem) = self_signed(&[]).unwrap();
        let (_, other_key_pem) = self_signed(&[]).unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let cert = file("cert.pem", &cert_pem);
        let key = file("key.pem", &key_pem);
        let other_key = file("other_key.pem", &other_key_pem);
        let garbage = file("garbage.pem", "not a pem file");

        let err = |r: Result<TlsAcceptor, TlsError>| r.err().expect("refused").to_string();
        assert!(err(acceptor(&dir.join("missing.pem"), &key)).contains("missing.pem"));
        assert!(err(acceptor(&garbage, &key)).contains("no PEM certificate"));
        assert!(err(acceptor(&cert, &garbage)).contains("no PEM private key"));
        assert!(err(acceptor(&key, &key)).contains("no PEM certificate"));
        let mismatch = err(acceptor(&cert, &other_key));
        assert!(mismatch.contains("cannot be used together"), "{mismatch}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn listeners_serve_http_beside_https_unless_https_only() {
        let dir = temp_dir("listen");
        let (cert, key) = gen_cert(&GenCertArgs {
            out: dir.clone(),
            hosts: vec![],
        })
        .unwrap();
        let host: IpAddr = "127.0.0.1".parse().unwrap();
        let plain = listeners(host, 4000, &TlsArgs::default(), true).unwrap();
        assert_eq!(plain.len(), 1);
        assert_eq!(plain[0].scheme(), "http");

        let mut tls = TlsArgs {
            tls_cert: Some(cert),
            tls_key: Some(key),
            https_port: 4443,
            https_only: false,
        };
        let both = listeners(host, 4000, &tls, true).unwrap();
        let described: Vec<_> = both
            .iter()
            .map(|l| (l.scheme(), l.address.port(), l.hsts))
            .collect();
        assert_eq!(
            described,
            vec![("http", 4000, false), ("https", 4443, true)]
        );
        assert!(
            !listeners(host, 4000, &tls, false).unwrap()[1].hsts,
            "no HSTS in development"
        );

        tls.https_only = true;
        let only = listeners(host, 4000, &tls, true).unwrap();
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].scheme(), "https");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
