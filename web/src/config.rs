//! Command line and environment configuration.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::ratelimit::RateLimitConfig;

pub use confidant_signaling_server::LINK_TTL_MINUTES;

/// Allowed values of `--signature-tsa-retry-seconds` (a second to an hour).
pub const SIGNATURE_TSA_RETRY_SECONDS: std::ops::RangeInclusive<u32> = 1..=3600;

pub use confidant_signature_server::TsaSettings;

/// Allowed values of `--signature-live-days` (a day to ten years).
pub const SIGNATURE_LIVE_DAYS: std::ops::RangeInclusive<u32> = 1..=3650;

/// Allowed values of `--max-participants` and `--max-lobby`.
pub const ROOM_LIMITS: std::ops::RangeInclusive<u32> = 1..=1000;

/// Confidant: private online counselling with instant end-to-end encrypted video sessions.
#[derive(Debug, Parser)]
#[command(name = "confidant", version, about)]
pub struct Cli {
    /// Configuration shared by all subcommands.
    #[command(flatten)]
    pub config: Config,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Administration.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Signature evidence: verify offline, open the escrowed time series.
    #[command(subcommand)]
    Signature(SignatureCommand),
}

/// `confidant signature …`.
#[derive(Debug, Clone, Subcommand)]
pub enum SignatureCommand {
    /// Verify a signed document against its evidence file (from the dashboard's download):
    /// exit status 0 if valid, 1 if invalid (the reason is printed), 2 on a usage or I/O error.
    ///
    /// Trusts the sealing key of the data directory, or the public keys given with
    /// `--public-key`.
    Verify {
        /// The exact document bytes that were signed.
        document: PathBuf,
        /// The evidence file (JSON: sealed bundle, form data, audit chain, image).
        bundle: PathBuf,
        /// A trusted sealing public key (32 bytes: raw, hex or base64) or a published key
        /// document (`/.well-known/confidant-signature-keys.json`); repeatable. Default: the
        /// keys in DATA_DIR.
        #[arg(long = "public-key")]
        public_keys: Vec<PathBuf>,
        /// Fetch the key document to trust from this URL (http or https), e.g.
        /// `https://centre.example/.well-known/confidant-signature-keys.json`.
        #[arg(long = "keys-url")]
        keys_url: Option<String>,
        /// PEM (or DER) certificate(s) a seal time-stamp's TSA must chain to. Without it a
        /// time-stamp is checked fully except for its certificate chain (`tsa_chain`:
        /// `not_checked`).
        #[arg(long = "tsa-ca")]
        tsa_ca: Option<PathBuf>,
    },
    /// Retire the sealing key and create a new one (run while the server is stopped): the old
    /// public key stays published and trusted, so the evidence it sealed keeps verifying.
    RotateSealingKey,
    /// Make an escrow key pair on this (offline) machine: writes the private key to a new file
    /// (0600) and prints the public key to configure on the server with
    /// `--signature-escrow-public-key-file`.
    EscrowKeygen {
        /// Where to write the private key (must not exist).
        #[arg(long = "private-key-out")]
        private_key_out: PathBuf,
    },
    /// Decrypt the biometric time series of an evidence file (or a bare sealed bundle) with
    /// the escrow private key, and print it as JSON.
    EscrowOpen {
        /// The escrow private key file (32 bytes: raw, hex or base64).
        #[arg(long)]
        key: PathBuf,
        /// The evidence file or sealed bundle JSON.
        bundle: PathBuf,
    },
}

/// `confidant admin …`.
#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Create a counsellor account.
    ///
    /// The password is prompted for when stdin is a terminal, read as one line from stdin with
    /// `--password-stdin`, and otherwise generated and printed once.
    CreateCounsellor {
        /// Login e-mail address (stored lower-cased).
        #[arg(long)]
        email: String,
        /// Display name, shown to clients in calls.
        #[arg(long)]
        name: String,
        /// Read the password as one line from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// The centre's profile shown on every public page (name, logo, address, links, emergency
    /// line); values set here override the `--centre-*` flags and take effect on the next page.
    #[command(subcommand)]
    Centre(CentreCommand),
    /// The audit log: verify its chain, list entries (see docs/AUDIT.md).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Show the mail queue: counts by state and the last errors (kind, SMTP status, times;
    /// never a recipient or content).
    MailQueue {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `confidant admin audit …`.
#[derive(Debug, Clone, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and check every entry's MAC. Exits 0 when intact, 1 (naming the
    /// first broken entry) when not.
    Verify {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List entries, newest first.
    List {
        /// Only entries at or after this time (RFC 3339, e.g. 2026-01-31T00:00:00Z).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Only this action (its code, e.g. login_failed).
        #[arg(long)]
        action: Option<String>,
        /// Only entries by this person's (or client's) id.
        #[arg(long)]
        actor: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON (one array).
        #[arg(long)]
        json: bool,
    },
}

/// `confidant admin centre …`.
#[derive(Debug, Clone, Subcommand)]
pub enum CentreCommand {
    /// Print the effective profile (flags overridden by stored values).
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Store values (each is checked; nothing is stored if one is refused) or clear them.
    Set(Box<CentreSet>),
}

/// The values of `confidant admin centre set`.
#[derive(Debug, Clone, Args)]
pub struct CentreSet {
    /// The centre's name (pages at once; mails from the next start).
    #[arg(long)]
    pub name: Option<String>,
    /// A PNG, JPEG or SVG file (at most 256 KiB).
    #[arg(long)]
    pub logo: Option<PathBuf>,
    /// Postal address; `\n` separates lines.
    #[arg(long)]
    pub address: Option<String>,
    /// Imprint (Impressum) page, http(s) URL.
    #[arg(long)]
    pub imprint_url: Option<String>,
    /// Privacy policy, http(s) URL.
    #[arg(long)]
    pub privacy_url: Option<String>,
    /// Name of the emergency line ("TelefonSeelsorge").
    #[arg(long)]
    pub emergency_label: Option<String>,
    /// Phone number of the emergency line ("0800 111 0 111").
    #[arg(long)]
    pub emergency_phone: Option<String>,
    /// Short text about the emergency line ("In an acute crisis, call now.").
    #[arg(long)]
    pub emergency_text: Option<String>,
    /// Opening hours.
    #[arg(long)]
    pub opening_hours: Option<String>,
    /// Contact e-mail address.
    #[arg(long)]
    pub contact_email: Option<String>,
    /// Remove a stored value so the flag's (if any) applies again: a field name (`name`,
    /// `logo`, `address`, `imprint_url`, `privacy_url`, `emergency_label`, `emergency_phone`,
    /// `emergency_text`, `opening_hours`, `contact_email`); repeatable.
    #[arg(long)]
    pub clear: Vec<String>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Options as given on the command line or in the environment.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(
        long,
        env = "CONFIDANT_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,
    /// Directory for the database and secrets (created if missing).
    #[arg(
        long,
        env = "CONFIDANT_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Public base URL, used in join links and for the cookie `Secure` flag
    /// [default: http://LISTEN].
    #[arg(long, env = "CONFIDANT_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Database URL: `sqlite://PATH?mode=rwc` (embedded) or `postgres://USER:PASS@HOST/DB`
    /// (for several nodes) [default: sqlite://DATA_DIR/confidant.db?mode=rwc].
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// File with the 32-byte join-token signing key [default: DATA_DIR/secrets/jwt.key,
    /// created if missing].
    #[arg(long, env = "CONFIDANT_JWT_KEY_FILE", global = true)]
    pub jwt_key_file: Option<PathBuf>,
    /// File with the 32-byte data-encryption key [default: DATA_DIR/secrets/dek.key, created
    /// if missing].
    #[arg(long, env = "CONFIDANT_DEK_FILE", global = true)]
    pub dek_file: Option<PathBuf>,
    /// UDP address the SFU binds for media.
    #[arg(
        long,
        env = "CONFIDANT_SFU_BIND",
        default_value = "0.0.0.0:50000",
        global = true
    )]
    pub sfu_bind: SocketAddr,
    /// Address browsers send media to: an IP (the bind port is used) or IP:port.
    #[arg(
        long,
        env = "CONFIDANT_SFU_ADVERTISE",
        default_value = "127.0.0.1",
        global = true
    )]
    pub sfu_advertise: String,
    /// ICE-TCP fallback for networks that block UDP (RFC 6544, passive): `on` listens on TCP at
    /// the SFU's bind address and the same port number (another free port if that one is
    /// taken), `off` turns it off, or an IP:port to listen on. The TCP candidate advertises
    /// `--sfu-advertise`'s IP and the bound TCP port.
    #[arg(long, env = "CONFIDANT_SFU_TCP", default_value = "on", global = true)]
    pub sfu_tcp: String,
    /// SFU worker threads: each owns a share of the rooms (a room never spans two) and they
    /// share the one UDP port. 0: one per CPU core.
    #[arg(
        long,
        env = "CONFIDANT_SFU_WORKERS",
        default_value_t = 0,
        global = true
    )]
    pub sfu_workers: usize,
    /// Audio each room forwards: the voices of the N participants who spoke loudest most
    /// recently (rooms with at most N forward everyone's). 0: every participant's, whatever
    /// the room's size.
    #[arg(
        long,
        env = "CONFIDANT_SFU_LOUDEST_AUDIO",
        default_value_t = confidant_sfu::DEFAULT_LOUDEST_AUDIO,
        global = true
    )]
    pub sfu_loudest_audio: usize,
    /// Reverse proxies whose `X-Forwarded-For` is believed for the client address of rate
    /// limits: IP addresses or networks (`10.0.0.0/8`), repeatable or comma-separated. Without
    /// it, every client behind a proxy shares the proxy's limit.
    #[arg(
        long = "trusted-proxy",
        env = "CONFIDANT_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<String>,
    /// Default lifetime of join links, in minutes (5..=10080).
    #[arg(
        long,
        env = "CONFIDANT_LINK_TTL_MINUTES",
        default_value_t = 1440,
        global = true
    )]
    pub link_ttl_minutes: u32,
    /// Log format.
    #[arg(long, env = "CONFIDANT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,
    /// TURN server URL offered to browsers (`turn:host:3478?transport=udp`, `turns:host:5349`);
    /// repeat the flag, or separate with commas in the environment variable.
    #[arg(
        long = "turn-url",
        env = "CONFIDANT_TURN_URLS",
        value_delimiter = ',',
        global = true
    )]
    pub turn_url: Vec<String>,
    /// File with the secret shared with the TURN server (coturn `static-auth-secret`); needed
    /// with `--turn-url`.
    #[arg(long, env = "CONFIDANT_TURN_SECRET_FILE", global = true)]
    pub turn_secret_file: Option<PathBuf>,
    /// SMTP server for outgoing mail (booking confirmations, reminders, cancellations). Without
    /// it mail is queued in the database and sent once a server is configured.
    #[arg(long, env = "CONFIDANT_SMTP_HOST", global = true)]
    pub smtp_host: Option<String>,
    /// SMTP port [default: 587 for starttls, 465 for tls, 25 for none].
    #[arg(long, env = "CONFIDANT_SMTP_PORT", global = true)]
    pub smtp_port: Option<u16>,
    /// SMTP transport security.
    #[arg(long, env = "CONFIDANT_SMTP_TLS", value_enum, default_value_t = SmtpTls::Starttls, global = true)]
    pub smtp_tls: SmtpTls,
    /// SMTP user name (with `--smtp-password-file`).
    #[arg(long, env = "CONFIDANT_SMTP_USER", global = true)]
    pub smtp_user: Option<String>,
    /// File holding the SMTP password.
    #[arg(long, env = "CONFIDANT_SMTP_PASSWORD_FILE", global = true)]
    pub smtp_password_file: Option<PathBuf>,
    /// Sender of outgoing mail, e.g. `Beratungsstelle <termine@example.org>`
    /// [default: Confidant <noreply@HOST of the public URL>].
    #[arg(long, env = "CONFIDANT_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,
    /// How long a mail that fails temporarily (SMTP 4xx, no connection, a timeout) is retried
    /// before it is marked failed, in hours. Permanent failures (SMTP 5xx) fail at once.
    #[arg(long, env = "CONFIDANT_MAIL_RETRY_HOURS", default_value_t = 72,
        value_parser = clap::value_parser!(u32).range(1..=720), global = true)]
    pub mail_retry_hours: u32,
    /// Mails sent per minute at most (a backlog goes out through one pooled SMTP connection
    /// at this rate).
    #[arg(long, env = "CONFIDANT_MAIL_RATE_PER_MINUTE", default_value_t = 240,
        value_parser = clap::value_parser!(u32).range(1..=60_000), global = true)]
    pub mail_rate_per_minute: u32,
    /// Seconds an SMTP command may take before the attempt counts as a temporary failure.
    #[arg(long, env = "CONFIDANT_SMTP_TIMEOUT_SECS", default_value_t = 20,
        value_parser = clap::value_parser!(u32).range(1..=300), global = true)]
    pub smtp_timeout_secs: u32,
    /// Minutes before an appointment that the reminder mail is sent (0: no reminders).
    #[arg(
        long,
        env = "CONFIDANT_REMINDER_MINUTES",
        default_value_t = 1440,
        global = true
    )]
    pub reminder_minutes: u32,
    /// Public form submissions (booking, contact) a network (IPv4 /24, IPv6 /48) may make at
    /// once; one more is allowed each minute.
    #[arg(long, env = "CONFIDANT_FORM_BURST", default_value_t = 5, global = true)]
    pub form_burst: u32,
    /// Let calendar sync fetch from loopback, private and link-local addresses (a calendar
    /// server inside your network, or tests). Off: only public hosts are fetched.
    #[arg(long, env = "CONFIDANT_CALENDAR_FETCH_PRIVATE", global = true)]
    pub calendar_fetch_private: bool,
    /// Let CalDAV accounts use `http://` (a test server on loopback). Off: only `https://`,
    /// since the app password is sent with every request.
    #[arg(long, env = "CONFIDANT_CALDAV_ALLOW_HTTP", global = true)]
    pub caldav_allow_http: bool,
    /// A PEM file with CA certificates that calendar sync and mail trust in addition to the
    /// bundled Mozilla roots and the system's CA store (a centre's own CA).
    #[arg(long, env = "CONFIDANT_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// Most participants in one room, the counsellor included (1..=1000); one more is refused
    /// with `room_full`.
    #[arg(
        long,
        env = "CONFIDANT_MAX_PARTICIPANTS",
        default_value_t = 16,
        global = true
    )]
    pub max_participants: u32,
    /// Most clients waiting in one room's lobby (1..=1000); one more is refused with
    /// `room_full`.
    #[arg(long, env = "CONFIDANT_MAX_LOBBY", default_value_t = 50, global = true)]
    pub max_lobby: u32,
    /// Chat messages stored per session (1..=100000); one more is refused with `chat_full`.
    #[arg(
        long,
        env = "CONFIDANT_CHAT_MAX_MESSAGES",
        default_value_t = confidant_signaling::DEFAULT_CHAT_CAP.max_messages,
        global = true
    )]
    pub chat_max_messages: u32,
    /// Bytes of (sealed) chat stored per session (65536..=67108864); a message beyond is
    /// refused with `chat_full`.
    #[arg(
        long,
        env = "CONFIDANT_CHAT_MAX_BYTES",
        default_value_t = confidant_signaling::DEFAULT_CHAT_CAP.max_bytes,
        global = true
    )]
    pub chat_max_bytes: u64,
    /// Days a session's chat is kept after the session ended or expired (0..=3650); 0 deletes
    /// it at the retention job's next round.
    #[arg(
        long,
        env = "CONFIDANT_CHAT_RETENTION_DAYS",
        default_value_t = 0,
        global = true
    )]
    pub chat_retention_days: u32,
    /// Days entries of the audit log are kept (30..=3650); older ones are removed hourly,
    /// leaving a checkpoint from which the rest still verifies.
    #[arg(
        long,
        env = "CONFIDANT_AUDIT_RETENTION_DAYS",
        default_value_t = DEFAULT_AUDIT_RETENTION_DAYS,
        global = true
    )]
    pub audit_retention_days: u32,
    /// Open signalling websockets per client address (IPv6: per /64) at most (1..=100000);
    /// one more is closed with 1013 `too_many_connections`.
    #[arg(
        long,
        env = "CONFIDANT_WS_MAX_PER_ADDRESS",
        default_value_t = 64,
        global = true
    )]
    pub ws_max_per_address: u32,
    /// Open signalling websockets in total at most (1..=1000000); one more is closed with 1013
    /// `too_many_connections`.
    #[arg(
        long,
        env = "CONFIDANT_WS_MAX_CONNECTIONS",
        default_value_t = 10_000,
        global = true
    )]
    pub ws_max_connections: u32,
    /// File with the X25519 public key the signatures' biometric data is encrypted to (32
    /// bytes: raw, hex or base64) [default: generated on first start; the private key is
    /// written once to DATA_DIR/escrow-private-key.MOVE-OFF-THIS-SERVER].
    #[arg(
        long,
        env = "CONFIDANT_SIGNATURE_ESCROW_PUBLIC_KEY_FILE",
        global = true
    )]
    pub signature_escrow_public_key_file: Option<PathBuf>,
    /// Days signed evidence stays in the live tables before it moves to the archive (1..=3650).
    #[arg(
        long,
        env = "CONFIDANT_SIGNATURE_LIVE_DAYS",
        default_value_t = 7,
        global = true
    )]
    pub signature_live_days: u32,
    /// URL of an RFC 3161 time-stamping authority: each seal is time-stamped there
    /// (`signature/FORMAT.md` §10). Needs --signature-tsa-ca-file. [default: no time-stamps]
    #[arg(long, env = "CONFIDANT_SIGNATURE_TSA_URL", global = true)]
    pub signature_tsa_url: Option<String>,
    /// PEM (or DER) file with the certificate(s) the TSA's certificate must chain to (its CA, or
    /// the TSA certificate itself); every response is checked against it before it is stored.
    #[arg(long, env = "CONFIDANT_SIGNATURE_TSA_CA_FILE", global = true)]
    pub signature_tsa_ca_file: Option<PathBuf>,
    /// Seconds between attempts to time-stamp a seal whose TSA was unreachable (1..=3600;
    /// doubles per failed attempt up to an hour; gives up 24 hours after sealing).
    #[arg(
        long,
        env = "CONFIDANT_SIGNATURE_TSA_RETRY_SECONDS",
        default_value_t = 60,
        global = true
    )]
    pub signature_tsa_retry_seconds: u32,
    /// Seconds a walk-in ring waits for accept or pass before it moves on to the next
    /// counsellor (5..=300).
    #[arg(
        long,
        env = "CONFIDANT_WALKIN_RING_SECONDS",
        default_value_t = 30,
        global = true
    )]
    pub walkin_ring_seconds: u32,
    /// Minutes a walk-in may wait (estimated or actually) before the talk-now page offers the
    /// booking page and the contact form instead (1..=240).
    #[arg(
        long,
        env = "CONFIDANT_WALKIN_MAX_WAIT_MINUTES",
        default_value_t = 30,
        global = true
    )]
    pub walkin_max_wait_minutes: u32,
    /// The centre's talk-now page shows how many counsellors are available, not only whether
    /// anyone is.
    #[arg(long, env = "CONFIDANT_WALKIN_SHOW_COUNT", global = true)]
    pub walkin_show_count: bool,
    /// The centre's name, as clients' mails name it and sign off with it
    /// [default: the display name of `--mail-from`, else "Confidant"].
    #[arg(long, env = "CONFIDANT_CENTRE_NAME", global = true)]
    pub centre_name: Option<String>,
    // ---- The centre's profile (kit/src/centre.rs). `confidant admin centre set` overrides
    // ---- each of these in the database, without a restart.
    /// The centre's logo shown on every public page: a PNG, JPEG or SVG file (at most 256 KiB).
    #[arg(long, env = "CONFIDANT_CENTRE_LOGO", global = true)]
    pub centre_logo: Option<PathBuf>,
    /// The centre's postal address, shown in every public page's footer (lines separated by
    /// `\n` or a real line break).
    #[arg(long, env = "CONFIDANT_CENTRE_ADDRESS", global = true)]
    pub centre_address: Option<String>,
    /// The centre's imprint (Impressum) page, an http(s) URL linked from every public page.
    #[arg(long, env = "CONFIDANT_CENTRE_IMPRINT_URL", global = true)]
    pub centre_imprint_url: Option<String>,
    /// The centre's privacy policy, an http(s) URL linked from every public page.
    #[arg(long, env = "CONFIDANT_CENTRE_PRIVACY_URL", global = true)]
    pub centre_privacy_url: Option<String>,
    /// The name of the emergency line shown on every public page (e.g. "TelefonSeelsorge").
    #[arg(long, env = "CONFIDANT_CENTRE_EMERGENCY_LABEL", global = true)]
    pub centre_emergency_label: Option<String>,
    /// The emergency line's phone number (e.g. "0800 111 0 111"), a `tel:` link on every public
    /// page.
    #[arg(long, env = "CONFIDANT_CENTRE_EMERGENCY_PHONE", global = true)]
    pub centre_emergency_phone: Option<String>,
    /// A short text about the emergency line (e.g. "In an acute crisis, call now: free, day
    /// and night.").
    #[arg(long, env = "CONFIDANT_CENTRE_EMERGENCY_TEXT", global = true)]
    pub centre_emergency_text: Option<String>,
    /// The centre's opening hours, shown in every public page's footer.
    #[arg(long, env = "CONFIDANT_CENTRE_OPENING_HOURS", global = true)]
    pub centre_opening_hours: Option<String>,
    /// The centre's contact e-mail address, shown in every public page's footer.
    #[arg(long, env = "CONFIDANT_CENTRE_CONTACT_EMAIL", global = true)]
    pub centre_contact_email: Option<String>,
    /// The title of the client's calendar entry (mail invitation, `.ics` download, Google and
    /// Outlook links) [default: the appointment as booked, "Videotermin mit {centre}" /
    /// "Video appointment with {centre}"]; a neutral "Termin" keeps a shared family calendar
    /// from showing more.
    #[arg(long, env = "CONFIDANT_CLIENT_CALENDAR_TITLE", global = true)]
    pub client_calendar_title: Option<String>,
}

/// Allowed values of `--chat-max-messages`.
pub const CHAT_MAX_MESSAGES: std::ops::RangeInclusive<u32> = 1..=100_000;
/// Allowed values of `--chat-max-bytes` (64 KiB, a page's worth, to 64 MiB).
pub const CHAT_MAX_BYTES: std::ops::RangeInclusive<u64> = 65_536..=67_108_864;
/// Default of `--audit-retention-days`: two years, long enough to answer a data subject's or
/// supervisory authority's question about the last year and a half.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 730;
/// Allowed values of `--audit-retention-days` (a month to ten years: a log kept for less
/// could not answer for last month's incident).
pub const AUDIT_RETENTION_DAYS: std::ops::RangeInclusive<u32> = 30..=3650;
/// Allowed values of `--chat-retention-days` (none to ten years).
pub const CHAT_RETENTION_DAYS: std::ops::RangeInclusive<u32> = 0..=3650;
/// Allowed values of `--ws-max-per-address`.
pub const WS_MAX_PER_ADDRESS: std::ops::RangeInclusive<u32> = 1..=100_000;
/// Allowed values of `--ws-max-connections`.
pub const WS_MAX_CONNECTIONS: std::ops::RangeInclusive<u32> = 1..=1_000_000;

/// Allowed values of `--walkin-ring-seconds`.
pub const WALKIN_RING_SECONDS: std::ops::RangeInclusive<u32> = 5..=300;
/// Allowed values of `--walkin-max-wait-minutes`.
pub const WALKIN_MAX_WAIT_MINUTES: std::ops::RangeInclusive<u32> = 1..=240;

pub use confidant_kit::mail::{SmtpSettings, SmtpTls};

pub use confidant_kit::ConfigError;

/// The effective configuration, with defaults filled in and values checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Public base URL without trailing slash.
    pub public_url: String,
    /// SQLite URL.
    pub database_url: String,
    /// Join-token signing key file.
    pub jwt_key_file: PathBuf,
    /// Data-encryption key file.
    pub dek_file: PathBuf,
    /// SFU UDP bind address.
    pub sfu_bind: SocketAddr,
    /// SFU advertised IP.
    pub sfu_advertise_ip: IpAddr,
    /// SFU advertised port; `None` means the port actually bound.
    pub sfu_advertise_port: Option<u16>,
    /// ICE-TCP listen address (port 0: the UDP port's number, or any free one); `None`: off.
    pub sfu_tcp_bind: Option<SocketAddr>,
    /// SFU worker threads; 0: one per CPU core.
    pub sfu_workers: usize,
    /// Audio forwarded per room: the N loudest; 0: all.
    pub sfu_loudest_audio: usize,
    /// Default join-link lifetime in minutes.
    pub link_ttl_minutes: u32,
    /// Log format.
    pub log_format: LogFormat,
    /// Login attempts per anonymised network.
    pub login_rate_limit: RateLimitConfig,
    /// Failed login attempts per account (and per browser that logged in to it before; see
    /// `auth::login`).
    pub login_account_rate_limit: RateLimitConfig,
    /// Proxies whose `X-Forwarded-For` is believed (see `extract::ClientIp`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// TURN URLs offered to browsers (empty: none).
    pub turn_urls: Vec<String>,
    /// The TURN shared secret's file (set whenever `turn_urls` is not empty).
    pub turn_secret_file: Option<PathBuf>,
    /// Outgoing mail server (`None`: mail stays queued).
    pub smtp: Option<SmtpSettings>,
    /// Sender address of outgoing mail (`Name <addr>`).
    pub mail_from: String,
    /// Minutes before an appointment the reminder goes out (0: none).
    pub reminder_minutes: u32,
    /// How the mail queue retries and paces delivery.
    pub mail_delivery: crate::mail::DeliverySettings,
    /// Whether calendar sync may fetch from non-public addresses.
    pub calendar_fetch_private: bool,
    /// Whether CalDAV accounts may use `http://`.
    pub caldav_allow_http: bool,
    /// Trust anchors of outgoing TLS (calendar sync, mail): bundled, system, `--ca-file`.
    pub trust: crate::tls::Trust,
    /// Submissions of public forms (booking, contact) per anonymised network.
    pub public_form_rate_limit: RateLimitConfig,
    /// Most participants in one room, the host included.
    pub max_participants: usize,
    /// Most clients waiting in one room's lobby.
    pub max_lobby: usize,
    /// The cap on each session's stored chat.
    pub chat_cap: confidant_signaling::ChatCap,
    /// How long a session's chat is kept after the session ended or expired.
    pub chat_retention: std::time::Duration,
    /// Days entries of the audit log are kept.
    pub audit_retention_days: u32,
    /// Open signalling websockets per client address (IPv6 /64) and in total.
    pub ws_limits: crate::ws::ConnectionLimits,
    /// The escrow public key file for signatures' biometric data (`None`: the generated one in
    /// the data directory).
    pub signature_escrow_public_key_file: Option<PathBuf>,
    /// Days signed evidence stays live before the retention job archives it.
    pub signature_live_days: u32,
    /// The time-stamping authority for seals, if one is configured.
    pub signature_tsa: Option<TsaSettings>,
    /// Walk-in ring timeout, wait limit and queue size.
    pub walkin: crate::walkin::core::WalkinConfig,
    /// The centre's talk-now page shows the number of available counsellors.
    pub walkin_show_count: bool,
    /// The centre's name in client mails.
    pub centre_name: String,
    /// The centre's profile as configured (`--centre-*`; the database overrides it).
    pub centre: confidant_kit::centre::Defaults,
    /// The title of the client's calendar entry (`None`: medium and centre, "Videotermin mit …").
    pub client_calendar_title: Option<String>,
}

impl Config {
    /// Fills in defaults and checks values.
    pub fn resolve(&self) -> Result<Settings, ConfigError> {
        let public_url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned();
        let lower = public_url.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"));
        if rest.is_none_or(|r| r.is_empty() || r.contains(['?', '#', ' '])) {
            return Err(ConfigError {
                option: "public-url",
                message: "must be an http:// or https:// URL without query or fragment".into(),
            });
        }
        let database_url = self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("confidant.db").display()
            )
        });
        if crate::db::Dialect::of_url(&database_url).is_none() {
            return Err(ConfigError {
                option: "database-url",
                message: "must start with sqlite: or postgres://".into(),
            });
        }
        let (sfu_advertise_ip, sfu_advertise_port) = parse_advertise(&self.sfu_advertise)?;
        let mut trusted_proxies = Vec::new();
        for t in self
            .trusted_proxies
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
        {
            let net = t
                .parse::<ipnet::IpNet>()
                .or_else(|_| t.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| ConfigError {
                    option: "trusted-proxy",
                    message: format!("{t} is not an IP address or network (10.0.0.0/8)"),
                })?;
            trusted_proxies.push(net);
        }
        let sfu_tcp_bind = match self.sfu_tcp.trim() {
            t if t.eq_ignore_ascii_case("on") => Some(SocketAddr::new(self.sfu_bind.ip(), 0)),
            t if t.eq_ignore_ascii_case("off") => None,
            t => Some(t.parse::<SocketAddr>().map_err(|_| ConfigError {
                option: "sfu-tcp",
                message: "must be on, off or IP:port".into(),
            })?),
        };
        if !LINK_TTL_MINUTES.contains(&self.link_ttl_minutes) {
            return Err(ConfigError {
                option: "link-ttl-minutes",
                message: format!(
                    "must be within {}..={}",
                    LINK_TTL_MINUTES.start(),
                    LINK_TTL_MINUTES.end()
                ),
            });
        }
        for (option, value) in [
            ("max-participants", self.max_participants),
            ("max-lobby", self.max_lobby),
        ] {
            if !ROOM_LIMITS.contains(&value) {
                return Err(ConfigError {
                    option,
                    message: format!(
                        "must be within {}..={}",
                        ROOM_LIMITS.start(),
                        ROOM_LIMITS.end()
                    ),
                });
            }
        }
        if !CHAT_MAX_BYTES.contains(&self.chat_max_bytes) {
            return Err(ConfigError {
                option: "chat-max-bytes",
                message: format!(
                    "must be within {}..={}",
                    CHAT_MAX_BYTES.start(),
                    CHAT_MAX_BYTES.end()
                ),
            });
        }
        if !SIGNATURE_TSA_RETRY_SECONDS.contains(&self.signature_tsa_retry_seconds) {
            return Err(ConfigError {
                option: "signature-tsa-retry-seconds",
                message: format!(
                    "must be within {}..={}",
                    SIGNATURE_TSA_RETRY_SECONDS.start(),
                    SIGNATURE_TSA_RETRY_SECONDS.end()
                ),
            });
        }
        match (&self.signature_tsa_url, &self.signature_tsa_ca_file) {
            (Some(url), Some(_)) if url.starts_with("https://") || url.starts_with("http://") => {}
            (Some(_), Some(_)) => {
                return Err(ConfigError {
                    option: "signature-tsa-url",
                    message: "must be an http:// or https:// URL".into(),
                })
            }
            (Some(_), None) => {
                return Err(ConfigError {
                    option: "signature-tsa-ca-file",
                    message: "is required with --signature-tsa-url (the TSA's responses are \
                              checked against it)"
                        .into(),
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError {
                    option: "signature-tsa-url",
                    message: "is required with --signature-tsa-ca-file".into(),
                })
            }
            (None, None) => {}
        }
        if !SIGNATURE_LIVE_DAYS.contains(&self.signature_live_days) {
            return Err(ConfigError {
                option: "signature-live-days",
                message: format!(
                    "must be within {}..={}",
                    SIGNATURE_LIVE_DAYS.start(),
                    SIGNATURE_LIVE_DAYS.end()
                ),
            });
        }
        for (option, value, range) in [
            (
                "walkin-ring-seconds",
                self.walkin_ring_seconds,
                WALKIN_RING_SECONDS,
            ),
            (
                "walkin-max-wait-minutes",
                self.walkin_max_wait_minutes,
                WALKIN_MAX_WAIT_MINUTES,
            ),
            (
                "chat-max-messages",
                self.chat_max_messages,
                CHAT_MAX_MESSAGES,
            ),
            (
                "chat-retention-days",
                self.chat_retention_days,
                CHAT_RETENTION_DAYS,
            ),
            (
                "audit-retention-days",
                self.audit_retention_days,
                AUDIT_RETENTION_DAYS,
            ),
            (
                "ws-max-per-address",
                self.ws_max_per_address,
                WS_MAX_PER_ADDRESS,
            ),
            (
                "ws-max-connections",
                self.ws_max_connections,
                WS_MAX_CONNECTIONS,
            ),
        ] {
            if !range.contains(&value) {
                return Err(ConfigError {
                    option,
                    message: format!("must be within {}..={}", range.start(), range.end()),
                });
            }
        }
        let turn_urls: Vec<String> = self
            .turn_url
            .iter()
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect();
        if let Some(bad) = turn_urls
            .iter()
            .find(|u| !(u.starts_with("turn:") || u.starts_with("turns:")))
        {
            return Err(ConfigError {
                option: "turn-url",
                message: format!("{bad:?} is not a turn: or turns: URL"),
            });
        }
        if !turn_urls.is_empty() && self.turn_secret_file.is_none() {
            return Err(ConfigError {
                option: "turn-secret-file",
                message: "is needed with --turn-url (the secret shared with the TURN server)"
                    .into(),
            });
        }
        let smtp = match &self.smtp_host {
            Some(host) if !host.trim().is_empty() => {
                let credentials = match (&self.smtp_user, &self.smtp_password_file) {
                    (Some(user), Some(file)) => Some((user.clone(), file.clone())),
                    (None, None) => None,
                    _ => {
                        return Err(ConfigError {
                            option: "smtp-user",
                            message: "--smtp-user and --smtp-password-file go together".into(),
                        })
                    }
                };
                Some(SmtpSettings {
                    host: host.trim().to_owned(),
                    port: self.smtp_port.unwrap_or(match self.smtp_tls {
                        SmtpTls::Starttls => 587,
                        SmtpTls::Tls => 465,
                        SmtpTls::None => 25,
                    }),
                    tls: self.smtp_tls,
                    credentials,
                })
            }
            _ => None,
        };
        let mail_from = match &self.mail_from {
            Some(from) => {
                if from.parse::<lettre::message::Mailbox>().is_err() {
                    return Err(ConfigError {
                        option: "mail-from",
                        message: "must be an address, optionally with a name: Name <addr@host>"
                            .into(),
                    });
                }
                from.clone()
            }
            None => {
                let host = rest
                    .unwrap_or("localhost")
                    .split(['/', ':'])
                    .next()
                    .filter(|h| h.contains('.'))
                    .unwrap_or("localhost.localdomain");
                format!("Confidant <noreply@{host}>")
            }
        };
        let centre_name = match self.centre_name.as_deref().map(str::trim) {
            Some(name) => mail_text("--centre-name", name)?,
            None => mail_from
                .split_once('<')
                .map(|(name, _)| name.trim().trim_matches('"').trim())
                .filter(|name| !name.is_empty())
                .unwrap_or("Confidant")
                .to_owned(),
        };
        let client_calendar_title = self
            .client_calendar_title
            .as_deref()
            .map(|t| mail_text("--client-calendar-title", t.trim()))
            .transpose()?;
        let centre = self.centre_defaults()?;
        let secrets = self.data_dir.join("secrets");
        Ok(Settings {
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            public_url,
            database_url,
            jwt_key_file: self
                .jwt_key_file
                .clone()
                .unwrap_or_else(|| secrets.join("jwt.key")),
            dek_file: self
                .dek_file
                .clone()
                .unwrap_or_else(|| secrets.join("dek.key")),
            sfu_bind: self.sfu_bind,
            sfu_advertise_ip,
            sfu_advertise_port,
            sfu_tcp_bind,
            sfu_workers: self.sfu_workers,
            sfu_loudest_audio: self.sfu_loudest_audio,
            link_ttl_minutes: self.link_ttl_minutes,
            log_format: self.log_format,
            login_rate_limit: RateLimitConfig::default(),
            login_account_rate_limit: crate::auth::ACCOUNT_RATE_LIMIT,
            trusted_proxies,
            turn_urls,
            turn_secret_file: self.turn_secret_file.clone(),
            smtp,
            mail_from,
            reminder_minutes: self.reminder_minutes,
            mail_delivery: crate::mail::DeliverySettings {
                retry_for: std::time::Duration::from_secs(u64::from(self.mail_retry_hours) * 3600),
                rate_per_minute: self.mail_rate_per_minute,
                smtp_timeout: std::time::Duration::from_secs(u64::from(self.smtp_timeout_secs)),
            },
            calendar_fetch_private: self.calendar_fetch_private,
            caldav_allow_http: self.caldav_allow_http,
            trust: crate::tls::Trust::load(self.ca_file.as_deref())?,
            public_form_rate_limit: RateLimitConfig {
                burst: self.form_burst.max(1),
                refill_every: std::time::Duration::from_secs(60),
            },
            // Checked above to be within 1..=1000.
            max_participants: self.max_participants as usize,
            max_lobby: self.max_lobby as usize,
            chat_cap: confidant_signaling::ChatCap {
                max_messages: self.chat_max_messages,
                max_bytes: self.chat_max_bytes,
            },
            chat_retention: std::time::Duration::from_secs(
                u64::from(self.chat_retention_days) * 24 * 60 * 60,
            ),
            audit_retention_days: self.audit_retention_days,
            // Checked above to be within their ranges.
            ws_limits: crate::ws::ConnectionLimits {
                per_address: self.ws_max_per_address as usize,
                total: self.ws_max_connections as usize,
            },
            signature_escrow_public_key_file: self.signature_escrow_public_key_file.clone(),
            signature_live_days: self.signature_live_days,
            signature_tsa: self.signature_tsa_url.clone().map(|url| TsaSettings {
                url,
                // Checked above: present with a URL.
                ca_file: self.signature_tsa_ca_file.clone().unwrap_or_default(),
                retry: std::time::Duration::from_secs(u64::from(self.signature_tsa_retry_seconds)),
            }),
            walkin: crate::walkin::core::WalkinConfig {
                ring_timeout: chrono::Duration::seconds(i64::from(self.walkin_ring_seconds)),
                max_wait: chrono::Duration::minutes(i64::from(self.walkin_max_wait_minutes)),
                ..crate::walkin::core::WalkinConfig::default()
            },
            walkin_show_count: self.walkin_show_count,
            centre_name,
            centre,
            client_calendar_title,
        })
    }
}

impl Config {
    /// The `--centre-*` flags, each checked by the one check of the centre's profile.
    fn centre_defaults(&self) -> Result<confidant_kit::centre::Defaults, ConfigError> {
        use confidant_kit::centre::{check, check_logo, Field};
        let refused = |option: &'static str, e: crate::error::AppError| ConfigError {
            option,
            message: e.to_string(),
        };
        let mut fields = Vec::new();
        for (option, field, value) in [
            ("centre-address", Field::Address, &self.centre_address),
            (
                "centre-imprint-url",
                Field::ImprintUrl,
                &self.centre_imprint_url,
            ),
            (
                "centre-privacy-url",
                Field::PrivacyUrl,
                &self.centre_privacy_url,
            ),
            (
                "centre-emergency-label",
                Field::EmergencyLabel,
                &self.centre_emergency_label,
            ),
            (
                "centre-emergency-phone",
                Field::EmergencyPhone,
                &self.centre_emergency_phone,
            ),
            (
                "centre-emergency-text",
                Field::EmergencyText,
                &self.centre_emergency_text,
            ),
            (
                "centre-opening-hours",
                Field::OpeningHours,
                &self.centre_opening_hours,
            ),
            (
                "centre-contact-email",
                Field::ContactEmail,
                &self.centre_contact_email,
            ),
        ] {
            if let Some(v) = value {
                // A literal `\n` in an environment variable is a line break.
                let v = v.replace("\\n", "\n");
                fields.push((field, check(field, &v).map_err(|e| refused(option, e))?));
            }
        }
        let logo = match &self.centre_logo {
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|e| ConfigError {
                    option: "centre-logo",
                    message: format!("cannot read {}: {e}", path.display()),
                })?;
                Some(check_logo(bytes).map_err(|e| refused("centre-logo", e))?)
            }
            None => None,
        };
        Ok(confidant_kit::centre::Defaults { fields, logo })
    }
}

/// Most characters of a text that goes into mail subjects and calendar titles.
const MAX_MAIL_TEXT_CHARS: usize = 100;

/// A short one-line text for mails (`--centre-name`, `--client-calendar-title`): 1–100
/// characters, no control characters (they would break a header or a calendar line).
fn mail_text(option: &'static str, s: &str) -> Result<String, ConfigError> {
    confidant_text::check_name(s, MAX_MAIL_TEXT_CHARS).map_err(|_| ConfigError {
        option,
        message: format!(
            "must be 1 to {MAX_MAIL_TEXT_CHARS} characters without control characters"
        ),
    })
}

fn parse_advertise(s: &str) -> Result<(IpAddr, Option<u16>), ConfigError> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    match s.parse::<SocketAddr>() {
        Ok(addr) => Ok((addr.ip(), Some(addr.port()))),
        Err(_) => Err(ConfigError {
            option: "sfu-advertise",
            message: "must be an IP address or IP:port".into(),
        }),
    }
}

impl Settings {
    /// The rooms capability's part of the configuration.
    pub fn rooms_config(&self) -> confidant_signaling_server::RoomsConfig {
        confidant_signaling_server::RoomsConfig {
            public_url: self.public_url.clone(),
            link_ttl_minutes: self.link_ttl_minutes,
            chat_retention: self.chat_retention,
        }
    }

    /// The booking capability's part of the configuration.
    pub fn booking_config(&self) -> confidant_booking_server::BookingConfig {
        confidant_booking_server::BookingConfig {
            public_url: self.public_url.clone(),
            centre_name: self.centre_name.clone(),
            trust: self.trust.clone(),
            calendar_fetch_private: self.calendar_fetch_private,
            caldav_allow_http: self.caldav_allow_http,
            reminder_minutes: self.reminder_minutes,
            client_calendar_title: self.client_calendar_title.clone(),
            public_form_rate_limit: self.public_form_rate_limit,
        }
    }

    /// The signature capability's part of the configuration.
    pub fn signature_config(&self) -> confidant_signature_server::SignatureConfig {
        confidant_signature_server::SignatureConfig {
            public_url: self.public_url.clone(),
            data_dir: self.data_dir.clone(),
            signature_escrow_public_key_file: self.signature_escrow_public_key_file.clone(),
            signature_live_days: self.signature_live_days,
            signature_tsa: self.signature_tsa.clone(),
        }
    }

    /// The accounts capability's part of the configuration.
    pub fn accounts_config(&self) -> crate::auth::AccountsConfig {
        crate::auth::AccountsConfig {
            secure_cookies: self.secure_cookies(),
            login_rate_limit: self.login_rate_limit,
            account_rate_limit: self.login_account_rate_limit,
        }
    }

    /// The walk-in capability's part of the configuration.
    pub fn walkin_config(&self) -> crate::walkin::WalkinServerConfig {
        crate::walkin::WalkinServerConfig {
            core: self.walkin.clone(),
            queue_rate_limit: self.public_form_rate_limit,
            show_count: self.walkin_show_count,
            link_ttl_minutes: self.link_ttl_minutes,
        }
    }

    /// Whether cookies get the `Secure` flag (the public URL is https).
    pub fn secure_cookies(&self) -> bool {
        self.public_url.to_ascii_lowercase().starts_with("https://")
    }

    /// The websocket URL browsers connect to.
    pub fn ws_url(&self) -> String {
        let url = &self.public_url;
        let (scheme, rest) = if url.len() >= 8 && url[..8].eq_ignore_ascii_case("https://") {
            ("wss://", &url[8..])
        } else {
            ("ws://", &url[7..])
        };
        format!("{scheme}{rest}/ws")
    }

    /// The join URL for a link token.
    pub fn join_url(&self, link_token: &str) -> String {
        format!("{}/j/{link_token}", self.public_url)
    }

    /// Logs the effective configuration. Secrets are never part of it; key files are named by
    /// path only.
    pub fn log(&self) {
        tracing::info!(
            listen = %self.listen,
            data_dir = %self.data_dir.display(),
            public_url = %self.public_url,
            database_url = %redact_url(&self.database_url),
            jwt_key_file = %self.jwt_key_file.display(),
            dek_file = %self.dek_file.display(),
            sfu_bind = %self.sfu_bind,
            sfu_advertise_ip = %self.sfu_advertise_ip,
            sfu_advertise_port = ?self.sfu_advertise_port,
            sfu_tcp_bind = ?self.sfu_tcp_bind,
            sfu_workers = self.sfu_workers,
            sfu_loudest_audio = self.sfu_loudest_audio,
            trusted_proxies = ?self.trusted_proxies.iter().map(ToString::to_string).collect::<Vec<_>>(),
            link_ttl_minutes = self.link_ttl_minutes,
            log_format = ?self.log_format,
            turn_urls = ?self.turn_urls,
            max_participants = self.max_participants,
            max_lobby = self.max_lobby,
            chat_max_messages = self.chat_cap.max_messages,
            chat_max_bytes = self.chat_cap.max_bytes,
            chat_retention_days = self.chat_retention.as_secs() / (24 * 60 * 60),
            audit_retention_days = self.audit_retention_days,
            ws_max_per_address = self.ws_limits.per_address,
            ws_max_connections = self.ws_limits.total,
            signature_live_days = self.signature_live_days,
            signature_tsa = self.signature_tsa.is_some(),
            walkin_ring_seconds = self.walkin.ring_timeout.num_seconds(),
            walkin_max_wait_minutes = self.walkin.max_wait.num_minutes(),
            walkin_show_count = self.walkin_show_count,
            calendar_fetch_private = self.calendar_fetch_private,
            caldav_allow_http = self.caldav_allow_http,
            signature_escrow_public_key_file = ?self
                .signature_escrow_public_key_file
                .as_ref()
                .map(|p| p.display().to_string()),
            turn_secret_file = ?self.turn_secret_file.as_ref().map(|p| p.display().to_string()),
            "effective configuration"
        );
    }
}

/// Drops a `user:password@` part from a URL, should anyone put one in.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}<redacted>@{}", &url[..s + 3], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("confidant").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn defaults_derive_from_listen_and_data_dir() {
        let cli = parse(&[
            "--listen",
            "127.0.0.1:9000",
            "--data-dir",
            "/tmp/x",
            "--database-url",
            "sqlite::memory:",
        ]);
        let s = cli.config.resolve().unwrap();
        assert_eq!(s.public_url, "http://127.0.0.1:9000");
        assert_eq!(s.jwt_key_file, PathBuf::from("/tmp/x/secrets/jwt.key"));
        assert_eq!(s.dek_file, PathBuf::from("/tmp/x/secrets/dek.key"));
        assert_eq!(s.ws_url(), "ws://127.0.0.1:9000/ws");
        assert!(!s.secure_cookies());
        assert!(cli.command.is_none());
    }

    #[test]
    fn https_public_url_means_secure_cookies_and_wss() {
        let cli = parse(&["--public-url", "https://counsel.example/", "serve"]);
        let s = cli.config.resolve().unwrap();
        assert_eq!(s.public_url, "https://counsel.example");
        assert!(s.secure_cookies());
        assert_eq!(s.ws_url(), "wss://counsel.example/ws");
        assert_eq!(s.join_url("abc"), "https://counsel.example/j/abc");
    }

    #[test]
    fn advertise_takes_ip_or_ip_and_port() {
        assert_eq!(
            parse_advertise("203.0.113.5").unwrap(),
            ("203.0.113.5".parse().unwrap(), None)
        );
        assert_eq!(
            parse_advertise("203.0.113.5:4000").unwrap(),
            ("203.0.113.5".parse().unwrap(), Some(4000))
        );
        assert!(parse_advertise("example.org").is_err());
    }

    #[test]
    fn global_options_work_after_the_subcommand() {
        let cli = parse(&[
            "admin",
            "create-counsellor",
            "--email",
            "a@b.c",
            "--name",
            "A",
            "--data-dir",
            "/d",
        ]);
        assert_eq!(cli.config.data_dir, PathBuf::from("/d"));
        assert!(matches!(
            cli.command,
            Some(Command::Admin(AdminCommand::CreateCounsellor { .. }))
        ));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["--link-ttl-minutes", "1"])
            .config
            .resolve()
            .is_err());
        assert!(parse(&["--public-url", "ftp://x"])
            .config
            .resolve()
            .is_err());
    }

    #[test]
    fn room_limits_default_and_are_checked() {
        let s = parse(&[]).config.resolve().unwrap();
        assert_eq!((s.max_participants, s.max_lobby), (16, 50));
        let s = parse(&["--max-participants", "1000", "--max-lobby", "1"])
            .config
            .resolve()
            .unwrap();
        assert_eq!((s.max_participants, s.max_lobby), (1000, 1));
        for bad in [
            ["--max-participants", "0"],
            ["--max-participants", "1001"],
            ["--max-lobby", "0"],
            ["--max-lobby", "1001"],
        ] {
            let e = parse(&bad).config.resolve().unwrap_err();
            assert_eq!(e.option, &bad[0][2..], "{bad:?}");
        }
    }

    #[test]
    fn chat_and_connection_limits_default_and_are_checked() {
        let s = parse(&[]).config.resolve().unwrap();
        assert_eq!(
            (s.chat_cap.max_messages, s.chat_cap.max_bytes),
            (1000, 1024 * 1024)
        );
        assert_eq!(s.chat_retention, std::time::Duration::ZERO);
        assert_eq!((s.ws_limits.per_address, s.ws_limits.total), (64, 10_000));
        let s = parse(&[
            "--chat-max-messages",
            "5",
            "--chat-max-bytes",
            "65536",
            "--chat-retention-days",
            "2",
            "--ws-max-per-address",
            "1",
            "--ws-max-connections",
            "3",
        ])
        .config
        .resolve()
        .unwrap();
        assert_eq!((s.chat_cap.max_messages, s.chat_cap.max_bytes), (5, 65536));
        assert_eq!(s.chat_retention, std::time::Duration::from_secs(2 * 86_400));
        assert_eq!((s.ws_limits.per_address, s.ws_limits.total), (1, 3));
        for bad in [
            ["--chat-max-messages", "0"],
            ["--chat-max-bytes", "1000"],
            ["--chat-retention-days", "3651"],
            ["--ws-max-per-address", "0"],
            ["--ws-max-connections", "0"],
        ] {
            let e = parse(&bad).config.resolve().unwrap_err();
            assert_eq!(e.option, &bad[0][2..], "{bad:?}");
        }
    }

    #[test]
    fn audit_retention_defaults_to_two_years_and_is_bounded() {
        let s = parse(&[]).config.resolve().unwrap();
        assert_eq!(s.audit_retention_days, 730);
        let s = parse(&["--audit-retention-days", "30"])
            .config
            .resolve()
            .unwrap();
        assert_eq!(s.audit_retention_days, 30);
        for bad in ["29", "3651"] {
            let e = parse(&["--audit-retention-days", bad])
                .config
                .resolve()
                .unwrap_err();
            assert_eq!(e.option, "audit-retention-days");
        }
    }

    #[test]
    fn walkin_options_default_and_are_checked() {
        let s = parse(&[]).config.resolve().unwrap();
        assert_eq!(s.walkin.ring_timeout, chrono::Duration::seconds(30));
        assert_eq!(s.walkin.max_wait, chrono::Duration::minutes(30));
        assert!(!s.walkin_show_count);
        let s = parse(&[
            "--walkin-ring-seconds",
            "5",
            "--walkin-max-wait-minutes",
            "240",
            "--walkin-show-count",
        ])
        .config
        .resolve()
        .unwrap();
        assert_eq!(s.walkin.ring_timeout, chrono::Duration::seconds(5));
        assert!(s.walkin_show_count);
        for bad in [
            ["--walkin-ring-seconds", "4"],
            ["--walkin-ring-seconds", "301"],
            ["--walkin-max-wait-minutes", "0"],
            ["--walkin-max-wait-minutes", "241"],
        ] {
            let e = parse(&bad).config.resolve().unwrap_err();
            assert_eq!(e.option, &bad[0][2..], "{bad:?}");
        }
    }

    #[test]
    fn centre_name_and_client_calendar_title_default_and_are_checked() {
        let s = parse(&[]).config.resolve().unwrap();
        assert_eq!(s.centre_name, "Confidant");
        assert_eq!(s.client_calendar_title, None);
        let s = parse(&[
            "--mail-from",
            "\"Beratungsstelle Nord\" <termine@example.org>",
        ])
        .config
        .resolve()
        .unwrap();
        assert_eq!(s.centre_name, "Beratungsstelle Nord", "the sender's name");
        let s = parse(&[
            "--centre-name",
            " Familienberatung Süd ",
            "--client-calendar-title",
            "Termin Süd",
        ])
        .config
        .resolve()
        .unwrap();
        assert_eq!(s.centre_name, "Familienberatung Süd");
        assert_eq!(s.client_calendar_title.as_deref(), Some("Termin Süd"));
        let long = "x".repeat(101);
        for bad in [
            ["--centre-name", ""],
            ["--centre-name", long.as_str()],
            ["--client-calendar-title", "a\u{7}b"],
        ] {
            let e = parse(&bad).config.resolve().unwrap_err();
            assert_eq!(e.option, bad[0], "{bad:?}");
        }
    }

    #[test]
    fn credentials_in_database_url_are_redacted() {
        assert_eq!(
            redact_url("sqlite://u:p@host/db"),
            "sqlite://<redacted>@host/db"
        );
        assert_eq!(
            redact_url("sqlite://./data/confidant.db?mode=rwc"),
            "sqlite://./data/confidant.db?mode=rwc"
        );
    }
}
