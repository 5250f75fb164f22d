//! A centre's own certificate authority (issue 30): calendar sync (reqwest) and mail (lettre)
//! trust the bundled roots, the system's CA store and `--ca-file`. Each test makes a CA with
//! the openssl command line, a server certificate for 127.0.0.1 from it, and runs the real
//! server software with it: Radicale behind TLS, aiosmtpd with STARTTLS. The connection fails
//! without the option and works with it; a CA in the system store (SSL_CERT_FILE) is trusted
//! without the option.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::http::StatusCode;
use common::booking::bookable;
use common::TestApp;
use confidant::booking::sources::{fetch, FetchError};
use confidant::config::{SmtpSettings, SmtpTls};
use confidant::tls::Trust;
use lettre::AsyncTransport;
use serde_json::json;

const USER: &str = "alice";
const PASSWORD: &str = "app-pass-1";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl command line");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.pem`) and a certificate for 127.0.0.1 signed by it (`server.pem`, `server.key`),
/// made fresh in a temporary directory; P-256 keys, valid for two days.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=Beratungsstelle Test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        );
        std::fs::write(
            d.join("server.ext"),
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
        );
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Kills and reaps a child process on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Bounded wait until `port` accepts connections.
fn wait_for(port: u16, child: &mut Child, what: &str) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what} exited at start ({status})");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not start listening on port {port}");
}

/// Radicale over https with the PKI's server certificate; one user and a calendar `work`
/// holding one event.
struct Radicale {
    _dir: tempfile::TempDir,
    port: u16,
    _child: Running,
}

impl Radicale {
    async fn start(pki: &Pki) -> Radicale {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        std::fs::write(dir.path().join("users"), format!("{USER}:{PASSWORD}\n")).unwrap();
        let config = format!(
            "[server]\nhosts = 127.0.0.1:{port}\nssl = True\ncertificate = {cert}\nkey = {key}\n\
             [auth]\ntype = htpasswd\nhtpasswd_filename = {users}\nhtpasswd_encryption = plain\n\
             [storage]\nfilesystem_folder = {store}\n[rights]\ntype = owner_only\n[logging]\nlevel = warning\n",
            cert = pki.path("server.pem").display(),
            key = pki.path("server.key").display(),
            users = dir.path().join("users").display(),
            store = dir.path().join("collections").display(),
        );
        std::fs::write(dir.path().join("config"), config).unwrap();
        let mut child = Command::new("python3")
            .args(["-m", "radicale", "--config"])
            .arg(dir.path().join("config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with radicale (the test command installs it: pip install radicale)");
        wait_for(port, &mut child, "radicale");
        let rad = Radicale {
            _dir: dir,
            port,
            _child: Running(child),
        };
        // Set up as the counsellor's own calendar program would, trusting the CA itself.
        let ca =
            reqwest::Certificate::from_pem(&std::fs::read(pki.path("ca.pem")).unwrap()).unwrap();
        let client = reqwest::Client::builder()
            .add_root_certificate(ca)
            .build()
            .unwrap();
        let r = client
            .request(
                reqwest::Method::from_bytes(b"MKCALENDAR").unwrap(),
                rad.url(&format!("/{USER}/work/")),
            )
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
        let event = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:tls@test\r\n\
                     DTSTART:20300101T100000Z\r\nDTEND:20300101T110000Z\r\nSUMMARY:Supervision\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let r = client
            .put(rad.url(&format!("/{USER}/work/tls.ics")))
            .basic_auth(USER, Some(PASSWORD))
            .header("content-type", "text/calendar")
            .body(event)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
        rad
    }

    /// The `work` calendar as a feed: Radicale serves a collection as one iCalendar file; the
    /// URL carries the credentials the way subscription links carry their secret.
    fn feed(&self) -> String {
        format!(
            "https://{USER}:{PASSWORD}@127.0.0.1:{}/{USER}/work/",
            self.port
        )
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }
}

#[tokio::test]
async fn caldav_over_tls_with_the_centres_own_ca_works_only_with_ca_file() {
    let pki = Pki::new();
    let rad = Radicale::start(&pki).await;
    let body = json!({"url": rad.url("/"), "username": USER, "password": PASSWORD});

    // Without --ca-file the certificate is not trusted: the account is refused at the URL.
    let t = TestApp::new().await;
    let b = bookable(&t, "w@example.org", "weiss", "video", json!({})).await;
    let r = t
        .post("/api/calendar/caldav", Some(&b.cookie), Some(body.clone()))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "url", "{}", r.text());
    assert!(
        r.text().contains("--ca-file"),
        "the refusal says what to do: {}",
        r.text()
    );

    // With it, discovery goes through TLS and finds the calendar.
    let t = TestApp::with(|c| c.ca_file = Some(pki.path("ca.pem"))).await;
    let b = bookable(&t, "w@example.org", "weiss", "video", json!({})).await;
    let r = t
        .post("/api/calendar/caldav", Some(&b.cookie), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let acc = r.json();
    assert_eq!(acc["last_error"], serde_json::Value::Null, "{acc}");
    let names: Vec<&str> = acc["calendars"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["alice/work"], "{acc}");
}

#[tokio::test]
async fn calendar_feed_over_tls_with_the_centres_own_ca_is_fetched_only_with_ca_file() {
    let pki = Pki::new();
    let rad = Radicale::start(&pki).await;
    let feed = rad.feed();

    match fetch(&feed, true, &Trust::load(None).unwrap()).await {
        Err(FetchError::Network(e)) => assert!(e.to_lowercase().contains("certificate"), "{e}"),
        other => panic!("fetched without trusting the CA: {other:?}"),
    }
    let ics = fetch(
        &feed,
        true,
        &Trust::load(Some(&pki.path("ca.pem"))).unwrap(),
    )
    .await
    .unwrap();
    assert!(ics.contains("UID:tls@test"), "{ics}");
}

/// aiosmtpd requiring STARTTLS with the PKI's server certificate, writing mail to a maildir.
fn smtp_with_starttls(pki: &Pki, maildir: &Path) -> (u16, Running) {
    let port = free_port();
    let mut child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .arg("--tlscert")
        .arg(pki.path("server.pem"))
        .arg("--tlskey")
        .arg(pki.path("server.key"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m aiosmtpd (the test command installs aiosmtpd)");
    wait_for(port, &mut child, "aiosmtpd");
    (port, Running(child))
}

fn mails_in(maildir: &Path) -> Vec<String> {
    let new = maildir.join("new");
    let Ok(entries) = std::fs::read_dir(&new) else {
        return Vec::new();
    };
    entries
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect()
}

#[tokio::test]
async fn mail_over_starttls_with_the_centres_own_ca_is_sent_only_with_ca_file() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let (port, _smtp) = smtp_with_starttls(&pki, &maildir);
    let smtp = SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::Starttls,
        credentials: None,
    };
    let message = |subject: &str| {
        lettre::Message::builder()
            .from("Beratungsstelle <termine@confidant.test>".parse().unwrap())
            .to("client@example.org".parse().unwrap())
            .subject(subject)
            .body("Termin bestätigt".to_owned())
            .unwrap()
    };

    let without = confidant::mail::transport(&smtp, &Trust::load(None).unwrap()).unwrap();
    let e = without.send(message("without")).await.unwrap_err();
    assert!(
        format!("{e:?}").to_lowercase().contains("certificate"),
        "{e:?}"
    );
    assert!(
        mails_in(&maildir).is_empty(),
        "a mail got through an untrusted STARTTLS"
    );

    let with = confidant::mail::transport(&smtp, &Trust::load(Some(&pki.path("ca.pem"))).unwrap())
        .unwrap();
    with.send(message("with")).await.unwrap();
    let mails = mails_in(&maildir);
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("Subject: with"), "{}", mails[0]);
}

/// Run by [`a_ca_in_the_system_store_is_trusted_without_ca_file`] in a child process whose
/// SSL_CERT_FILE names the test CA (the system store is read once per process).
#[tokio::test]
#[ignore = "run by a_ca_in_the_system_store_is_trusted_without_ca_file"]
async fn child_fetches_with_the_system_store() {
    let feed = std::env::var("CONFIDANT_TEST_FEED").unwrap();
    let ics = fetch(&feed, true, &Trust::load(None).unwrap())
        .await
        .unwrap();
    assert!(ics.contains("UID:tls@test"), "{ics}");
}

#[tokio::test]
async fn a_ca_in_the_system_store_is_trusted_without_ca_file() {
    let pki = Pki::new();
    let rad = Radicale::start(&pki).await;
    let feed = rad.feed();
    let out = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_fetches_with_the_system_store",
            "--include-ignored",
            "--nocapture",
        ])
        .env("SSL_CERT_FILE", pki.path("ca.pem"))
        .env_remove("SSL_CERT_DIR")
        .env("CONFIDANT_TEST_FEED", &feed)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
