//! `confidant admin …` subcommands.

use std::io::{BufRead, IsTerminal, Write};

use crate::config::{CentreSet, Settings};
use crate::error::AppError;

/// Random bytes of a generated password (base64url: 24 characters, 144 bits).
const GENERATED_PASSWORD_BYTES: usize = 18;

/// Errors of admin commands, worded for a terminal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The database could not be opened.
    #[error(transparent)]
    Start(#[from] crate::StartError),
    /// Reading the password failed.
    #[error("reading the password: {0}")]
    Io(#[from] std::io::Error),
    /// The two passwords typed differ.
    #[error("the passwords do not match")]
    Mismatch,
    /// A value was refused.
    #[error("{0}")]
    Refused(String),
}

impl From<AppError> for AdminError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Validation {
                field: Some(field),
                message,
                ..
            } => AdminError::Refused(format!("invalid {field}: {message}")),
            other => AdminError::Refused(other.to_string()),
        }
    }
}

/// Where the password comes from.
enum PasswordSource {
    /// Given (stdin line or prompt).
    Given(String),
    /// Generated; printed once after the account exists.
    Generated(String),
}

fn read_line_from_stdin() -> Result<String, AdminError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Prompts on the terminal with echo off (through `stty`, restored afterwards).
fn prompt_hidden(prompt: &str) -> Result<String, AdminError> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
            .map(|s| s.success())
    };
    let echo_off = stty("-echo").unwrap_or(false);
    let line = read_line_from_stdin();
    if echo_off {
        let _ = stty("echo");
    }
    eprintln!();
    line
}

fn password_source(password_stdin: bool) -> Result<PasswordSource, AdminError> {
    if password_stdin {
        return Ok(PasswordSource::Given(read_line_from_stdin()?));
    }
    if std::io::stdin().is_terminal() {
        let first = prompt_hidden("Password: ")?;
        let second = prompt_hidden("Repeat password: ")?;
        if first != second {
            return Err(AdminError::Mismatch);
        }
        return Ok(PasswordSource::Given(first));
    }
    Ok(PasswordSource::Generated(confidant_vault::random_token(
        GENERATED_PASSWORD_BYTES,
    )))
}

/// `confidant admin create-counsellor`: creates the account and prints its id (and the
/// password, if it was generated). A duplicate e-mail address is an error.
pub async fn create_counsellor(
    settings: &Settings,
    email: &str,
    name: &str,
    password_stdin: bool,
) -> Result<(), AdminError> {
    // Check what can be checked before asking for a password.
    crate::auth::normalize_email(email)?;
    crate::auth::normalize_name(name)?;
    let source = password_source(password_stdin)?;
    let password = match &source {
        PasswordSource::Given(p) | PasswordSource::Generated(p) => p.as_str(),
    };
    let db = crate::open_database(settings).await?;
    let id = crate::auth::create_counsellor(&db.pool, email, name, password).await?;
    db.pool.close().await;
    println!("Created counsellor {id}.");
    if let PasswordSource::Generated(p) = &source {
        println!("Generated password (shown only now, store it safely): {p}");
    }
    Ok(())
}

/// Most recent errors `confidant admin mail-queue` lists.
const MAIL_QUEUE_ERRORS: i64 = 20;

/// `confidant admin mail-queue`: the queue's counts by state and its last errors, for the
/// operator. Never a recipient, subject or body (they are sealed; this does not open them).
pub async fn mail_queue(settings: &Settings, json: bool) -> Result<(), AdminError> {
    let db = crate::open_database(settings).await?;
    let now = crate::db::now_ms();
    let stats = crate::mail::queue_stats(&db.pool, now).await?;
    let errors = crate::mail::recent_errors(&db.pool, MAIL_QUEUE_ERRORS).await?;
    db.pool.close().await;
    if json {
        let doc = serde_json::json!({ "counts": stats, "last_errors": errors });
        println!("{doc}");
        return Ok(());
    }
    println!("due (waiting to be sent):    {}", stats.due);
    println!("oldest due, seconds:         {}", stats.oldest_due_age_secs);
    println!("scheduled (later):           {}", stats.scheduled);
    println!("sent:                        {}", stats.sent);
    println!("failed, open:                {}", stats.failed_open);
    println!("failed, resolved:            {}", stats.failed_resolved);
    if !errors.is_empty() {
        println!();
        println!("last errors (newest first):");
        for e in errors {
            println!(
                "  {}  {:<22} {:<7} attempts {:<3} {}",
                e.id,
                e.kind,
                e.state,
                e.attempts,
                e.last_error.as_deref().unwrap_or("")
            );
        }
    }
    Ok(())
}

/// `confidant admin centre set`: checks every value given (nothing is stored if one is
/// refused, and the error names the field), stores them, and prints the effective profile.
pub async fn centre_set(settings: &Settings, set: &CentreSet) -> Result<(), AdminError> {
    use confidant_kit::centre::{check, check_logo, Field};
    let mut values: Vec<(Field, Option<String>)> = Vec::new();
    for (field, value) in [
        (Field::Name, &set.name),
        (Field::Address, &set.address),
        (Field::ImprintUrl, &set.imprint_url),
        (Field::PrivacyUrl, &set.privacy_url),
        (Field::EmergencyLabel, &set.emergency_label),
        (Field::EmergencyPhone, &set.emergency_phone),
        (Field::EmergencyText, &set.emergency_text),
        (Field::OpeningHours, &set.opening_hours),
        (Field::ContactEmail, &set.contact_email),
    ] {
        if let Some(v) = value {
            values.push((field, Some(check(field, &v.replace("\\n", "\n"))?)));
        }
    }
    let mut clear_logo = false;
    for key in &set.clear {
        match (key.as_str(), Field::from_key(key)) {
            ("logo", _) => clear_logo = true,
            (_, Some(field)) => values.push((field, None)),
            (_, None) => {
                return Err(AdminError::Refused(format!(
                    "invalid clear: no field {key:?} (one of logo, {})",
                    Field::ALL.map(Field::key).join(", ")
                )))
            }
        }
    }
    let logo = match &set.logo {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                AdminError::Refused(format!("invalid logo: cannot read {}: {e}", path.display()))
            })?;
            Some(check_logo(bytes)?)
        }
        None => None,
    };
    if values.is_empty() && logo.is_none() && !clear_logo {
        return Err(AdminError::Refused(
            "nothing to set: give at least one value or --clear FIELD".into(),
        ));
    }
    let db = crate::open_database(settings).await?;
    for (field, value) in &values {
        confidant_kit::centre::store(&db.pool, *field, value.as_deref()).await?;
    }
    if clear_logo {
        confidant_kit::centre::store_logo(&db.pool, None).await?;
    }
    if let Some(logo) = &logo {
        confidant_kit::centre::store_logo(&db.pool, Some(logo)).await?;
    }
    // Which fields changed (their keys), never their values: the log holds no content.
    let mut changed: Vec<&str> = values.iter().map(|(f, _)| f.key()).collect();
    if clear_logo || logo.is_some() {
        changed.push("logo");
    }
    let key = audit_key(settings)?;
    confidant_kit::audit::record(
        &db.pool,
        &key,
        confidant_kit::audit::NewEntry::new(
            crate::db::now_ms(),
            confidant_kit::audit::Actor::System,
            confidant_kit::audit::Action::CentreProfileChanged,
        )
        .object(confidant_kit::audit::Object::new(
            "centre_profile",
            changed.join(","),
        )),
    )
    .await?;
    let profile =
        confidant_kit::centre::load(&db.pool, &settings.centre_name, &settings.centre).await?;
    db.pool.close().await;
    print_profile(&profile, false);
    Ok(())
}

/// `confidant admin centre show`: the effective profile.
pub async fn centre_show(settings: &Settings, json: bool) -> Result<(), AdminError> {
    let db = crate::open_database(settings).await?;
    let profile =
        confidant_kit::centre::load(&db.pool, &settings.centre_name, &settings.centre).await?;
    db.pool.close().await;
    print_profile(&profile, json);
    Ok(())
}

fn print_profile(profile: &confidant_kit::centre::Profile, json: bool) {
    if json {
        println!("{}", serde_json::json!(profile));
        return;
    }
    let value = serde_json::json!(profile);
    if let Some(map) = value.as_object() {
        for (k, v) in map {
            println!(
                "{k:<16} {}",
                v.as_str().unwrap_or_default().replace('\n', " / ")
            );
        }
    }
}

/// The audit log's key: derived from the data directory's vault key (made on first use, as
/// the server does on start).
fn audit_key(settings: &Settings) -> Result<confidant_kit::audit::AuditKey, AdminError> {
    let dek = confidant_vault::load_or_create_secret(&settings.dek_file, confidant_vault::KEY_LEN)
        .map_err(|e| AdminError::Refused(format!("cannot read the vault key: {e}")))?;
    let mut bytes = [0u8; confidant_vault::KEY_LEN];
    bytes.copy_from_slice(&dek);
    let vault = confidant_vault::Vault::new(bytes);
    bytes.fill(0);
    Ok(confidant_kit::audit::AuditKey::from_vault(&vault))
}

/// `confidant admin audit verify`: walks the chain; prints what it covered, or fails naming
/// the first broken entry (the error, and so exit status 1).
pub async fn audit_verify(settings: &Settings, json: bool) -> Result<(), AdminError> {
    let db = crate::open_database(settings).await?;
    let key = audit_key(settings)?;
    let result = confidant_kit::audit::verify(&db.pool, &key).await?;
    db.pool.close().await;
    match result {
        Ok(v) => {
            if json {
                println!("{}", serde_json::json!({ "ok": true, "verified": v }));
            } else {
                println!(
                    "audit log intact: {} entries, {} to {} (the chain starts at entry {}{})",
                    v.entries,
                    v.first_seq,
                    v.last_seq,
                    v.first_seq,
                    if v.first_seq > 1 {
                        "; older entries were removed by retention"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
        Err(broken) => {
            if json {
                println!("{}", serde_json::json!({ "ok": false, "broken": broken }));
            }
            Err(AdminError::Refused(broken.to_string()))
        }
    }
}

/// `confidant admin audit list`: entries newest first, as a table or JSON.
pub async fn audit_list(
    settings: &Settings,
    since: Option<chrono::DateTime<chrono::Utc>>,
    action: Option<String>,
    actor: Option<String>,
    limit: u32,
    json: bool,
) -> Result<(), AdminError> {
    use confidant_kit::audit::{Action, Filter};
    let action = match action {
        Some(code) => Some(Action::from_code(&code).ok_or_else(|| {
            AdminError::Refused(format!(
                "invalid action: {code:?} (one of {})",
                Action::ALL.map(Action::code).join(", ")
            ))
        })?),
        None => None,
    };
    let db = crate::open_database(settings).await?;
    let filter = Filter {
        since_ms: since.map(|t| t.timestamp_millis()),
        action,
        actor_id: actor,
        limit,
    };
    let entries = confidant_kit::audit::list(&db.pool, &filter).await?;
    db.pool.close().await;
    if json {
        println!("{}", serde_json::to_string(&entries).unwrap_or_default());
        return Ok(());
    }
    for e in entries {
        let at = chrono::DateTime::from_timestamp_millis(e.at_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        let actor = match &e.actor {
            confidant_kit::audit::Actor::Person { id, role } => format!("{role}:{id}"),
            confidant_kit::audit::Actor::Client { id } => {
                format!("client:{}", id.as_deref().unwrap_or("-"))
            }
            confidant_kit::audit::Actor::System => "system".into(),
            confidant_kit::audit::Actor::Anonymous => "anonymous".into(),
        };
        let object = e
            .object
            .as_ref()
            .map(|o| format!("{}:{}", o.kind, o.id))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:>6}  {at}  {:<24} {actor:<50} {object:<50} {}",
            e.seq,
            e.action,
            e.ip_network.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}
