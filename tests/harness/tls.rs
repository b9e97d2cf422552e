//! Certificates for TLS tests, made at test time with the `openssl` command: a CA, a server
//! certificate it signed for `127.0.0.1`/`localhost`, and a second CA that signed nothing the
//! server holds (a client that trusts only it must refuse the server).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use tempfile::TempDir;

/// The files, in a temporary directory removed on drop.
pub struct TestCertificates {
    dir: TempDir,
}

impl TestCertificates {
    /// Makes a fresh CA, a server certificate signed by it, and an unrelated CA.
    pub fn generate() -> anyhow::Result<TestCertificates> {
        let dir = tempfile::Builder::new()
            .prefix("templesync-tls-")
            .tempdir()
            .context("a directory for the certificates")?;
        let p = |name: &str| dir.path().join(name).display().to_string();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for (ca, key, cn) in [
            ("ca.pem", "ca.key", "TempleSync test CA"),
            ("other-ca.pem", "other-ca.key", "Some other CA"),
        ] {
            openssl(
                &[&["req", "-x509"][..], &ec[..], &["-days", "2", "-subj"]].concat(),
                &[&format!("/CN={cn}"), "-keyout", &p(key), "-out", &p(ca)],
            )?;
        }
        openssl(
            &[&["req"][..], &ec[..], &["-subj", "/CN=127.0.0.1"]].concat(),
            &["-keyout", &p("server.key"), "-out", &p("server.csr")],
        )?;
        std::fs::write(
            dir.path().join("server.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )?;
        openssl(
            &["x509", "-req", "-days", "2", "-CAcreateserial"],
            &[
                "-in",
                &p("server.csr"),
                "-CA",
                &p("ca.pem"),
                "-CAkey",
                &p("ca.key"),
                "-extfile",
                &p("server.ext"),
                "-out",
                &p("server.pem"),
            ],
        )?;
        Ok(TestCertificates { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The CA that signed the server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// A CA that did not sign the server's certificate.
    pub fn other_ca(&self) -> PathBuf {
        self.path("other-ca.pem")
    }

    pub fn server_cert(&self) -> PathBuf {
        self.path("server.pem")
    }

    pub fn server_key(&self) -> PathBuf {
        self.path("server.key")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn openssl(args: &[&str], more: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .args(more)
        .output()
        .context("running openssl (the TLS tests need the openssl command)")?;
    if !out.status.success() {
        bail!(
            "openssl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
