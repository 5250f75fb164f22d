//! The `confidant` binary's `admin create-counsellor`, end to end: create accounts with the
//! built binary, then log in over HTTP.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{config, TestApp};

fn confidant(data_dir: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_confidant"));
    for var in [
        "DATABASE_URL",
        "CONFIDANT_DATA_DIR",
        "CONFIDANT_LISTEN",
        "CONFIDANT_PUBLIC_URL",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    let mut child = cmd
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn create(data_dir: &std::path::Path, email: &str, name: &str, stdin: Option<&str>) -> Output {
    let mut args = vec![
        "admin",
        "create-counsellor",
        "--email",
        email,
        "--name",
        name,
    ];
    if stdin.is_some() {
        args.push("--password-stdin");
    }
    confidant(data_dir, &args, stdin.unwrap_or(""))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn create_counsellor_then_log_in_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    // Password from stdin.
    let out = create(
        &data,
        "Anna@Example.org",
        "Anna Berg",
        Some("a long enough password\n"),
    );
    assert!(
        out.status.success(),
        "stdout: {} stderr: {}",
        stdout(&out),
        stderr(&out)
    );
    let id = stdout(&out)
        .trim()
        .strip_prefix("Created counsellor ")
        .unwrap()
        .trim_end_matches('.')
        .to_owned();
    uuid::Uuid::parse_str(&id).unwrap();
    assert!(!stdout(&out).contains("a long enough password"));

    // Generated password: stdin is not a terminal and no --password-stdin.
    let out = create(&data, "ben@example.org", "Ben", None);
    assert!(out.status.success(), "{}", stderr(&out));
    let generated = stdout(&out)
        .lines()
        .find_map(|l| {
            l.split_once("Generated password")
                .map(|(_, rest)| rest.rsplit(' ').next().unwrap().to_owned())
        })
        .expect("generated password printed");
    assert!(generated.len() >= 24, "{generated}");

    // Duplicate e-mail (in any case): a clear error and a failure exit code.
    let out = create(
        &data,
        "anna@EXAMPLE.org",
        "Other Anna",
        Some("another long password\n"),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    // Neither e-mail nor password ends up in the output.
    assert!(!stderr(&out).to_lowercase().contains("anna@example.org"));

    // A short password or a bad e-mail is refused, naming what is wrong.
    let out = create(&data, "cleo@example.org", "Cleo", Some("short\n"));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("password"), "{}", stderr(&out));
    // Long enough but common, or made of the account's own name: refused too (zxcvbn).
    for common in [
        "password1234567\n",
        "cleo.example.org\n",
        "qwertyuiop1234\n",
    ] {
        let out = create(&data, "cleo@example.org", "Cleo", Some(common));
        assert!(!out.status.success(), "{common:?} accepted");
        assert!(
            stderr(&out).contains("too easy to guess"),
            "{common:?}: {}",
            stderr(&out)
        );
    }
    let out = create(
        &data,
        "not-an-email",
        "Cleo",
        Some("a long enough password\n"),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("email"), "{}", stderr(&out));

    // The server on the same data directory lets both log in.
    let state = confidant::start(config(data.clone()).resolve().unwrap())
        .await
        .unwrap();
    let t = TestApp {
        dir,
        state: state.clone(),
        app: confidant::app(state),
    };
    let cookie = t.login("anna@example.org", "a long enough password").await;
    let me = t.get("/api/me", Some(&cookie)).await.json();
    assert_eq!(
        me,
        serde_json::json!({"id": id, "email": "anna@example.org", "name": "Anna Berg", "allow_unencrypted_join": false})
    );
    t.login("ben@example.org", &generated).await;
}

#[test]
fn help_lists_subcommands_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let out = confidant(dir.path(), &["--help"], "");
    assert!(out.status.success());
    let help = stdout(&out);
    for word in [
        "serve",
        "admin",
        "--listen",
        "--data-dir",
        "--public-url",
        "--database-url",
        "--jwt-key-file",
        "--dek-file",
        "--sfu-bind",
        "--sfu-advertise",
        "--link-ttl-minutes",
        "--log-format",
        "CONFIDANT_LISTEN",
    ] {
        assert!(help.contains(word), "{word} missing in --help");
    }
}

#[test]
fn bad_configuration_exits_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = confidant(dir.path(), &["--link-ttl-minutes", "0", "serve"], "");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("link-ttl-minutes"),
        "{}",
        stderr(&out)
    );
}

/// A data directory open to others that the server may not correct (another user owns it) is
/// refused with an error that names it and says what to do; nothing is opened or created.
#[test]
fn a_data_dir_that_cannot_be_made_private_is_refused_clearly() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let (data, as_other_user): (std::path::PathBuf, bool) = if rustix::process::geteuid().is_root()
    {
        // Root owns it; the server runs as nobody.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        (data, true)
    } else {
        // Not root: a system directory (0755, root's) is such a directory already.
        ("/usr/share".into(), false)
    };
    let mut cmd = if as_other_user {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_confidant"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_confidant"))
    };
    for var in ["DATABASE_URL", "CONFIDANT_DATA_DIR", "RUST_LOG"] {
        cmd.env_remove(var);
    }
    let out = cmd
        .arg("--data-dir")
        .arg(&data)
        .args([
            "admin",
            "create-counsellor",
            "--email",
            "a@example.org",
            "--name",
            "A",
            "--password-stdin",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{} has mode 0755 but must be 0700",
            data.display()
        )) && err.contains("change its owner or mode yourself"),
        "{err}"
    );
    assert_eq!(
        std::fs::metadata(&data).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert!(!data.join("confidant.db").exists());
}
