//! A real SMTP server that misbehaves on purpose (tests/mail/smtp_server.py, aiosmtpd): refuses
//! one recipient with 550, answers 451 first, is slow per message, or is not there at all.
#![allow(dead_code)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use confidant::config::{SmtpSettings, SmtpTls};

/// How the server misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// RCPT TO of an address containing this is answered 550.
    pub reject: Option<String>,
    /// The first N messages are answered 451.
    pub tempfail: u32,
    /// Seconds each message is held before the answer.
    pub sleep_secs: f64,
}

/// The server; killed on drop.
pub struct Smtp {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Smtp {
    /// Starts it on `port`, writing into `dir/maildir` and `dir/received.log`.
    pub fn start(port: u16, dir: &Path, b: &Behaviour) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/mail/smtp_server.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .args(["--port", &port.to_string()])
            .arg("--maildir")
            .arg(dir.join("maildir"))
            .args(["--tempfail", &b.tempfail.to_string()])
            .args(["--sleep", &b.sleep_secs.to_string()]);
        if let Some(r) = &b.reject {
            cmd.args(["--reject", r]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 tests/mail/smtp_server.py (aiosmtpd)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "smtp_server.py did not start");
        Self {
            child,
            port,
            dir: dir.to_owned(),
        }
    }

    /// Message-IDs received, in order (duplicates included).
    pub fn received(&self) -> Vec<String> {
        received(&self.dir)
    }

    /// The maildir, for tests/mail/inspect_mail.py.
    pub fn maildir(&self) -> PathBuf {
        self.dir.join("maildir")
    }

    /// Stops it (connections are refused from now on).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Message-IDs received into `dir` by any server started on it.
pub fn received(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("received.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every mail in `maildir`, parsed by the independent inspector.
pub fn mails(maildir: &Path) -> Vec<serde_json::Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/mail/inspect_mail.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(maildir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "inspect_mail.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A plain (no TLS) transport to `port` on loopback.
pub fn transport(port: u16) -> lettre::AsyncSmtpTransport<lettre::Tokio1Executor> {
    confidant::mail::transport(
        &SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            tls: SmtpTls::None,
            credentials: None,
        },
        &confidant::tls::Trust::load(None).unwrap(),
    )
    .unwrap()
}
