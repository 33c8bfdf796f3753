//! Settings: command-line flags, then `PEYVAND_*` environment variables, then an optional
//! TOML file (`--config`, default `peyvand.toml` in the working directory if present), then
//! defaults. Unknown keys in the file are errors, so a typo is not silently ignored.

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The settings file, every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub database_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub log_format: Option<String>,
    pub secure_cookies: Option<String>,
    pub body_limit_bytes: Option<usize>,
    pub session_ttl_hours: Option<u64>,
    pub display_offset: Option<String>,
    pub trusted_proxies: Option<Vec<String>>,
    pub sso_issuer: Option<String>,
    pub sso_client_id: Option<String>,
    pub sso_client_secret: Option<String>,
    pub sso_public_url: Option<String>,
    pub sso_create_role: Option<String>,
    pub sso_label: Option<String>,
    pub sso_trust_email: Option<bool>,
    pub takeover_seconds: Option<u64>,
}

/// Flags every command that touches data takes.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Settings file (TOML); default: peyvand.toml in the working directory, if present
    #[arg(long, env = "PEYVAND_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER@HOST/DB; default: sqlite in the data directory
    #[arg(long, env = "PEYVAND_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Where the default SQLite database lives (default: ./data)
    #[arg(long, env = "PEYVAND_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

/// Flags of the commands that serve.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on (default: 127.0.0.1:8080)
    #[arg(long, env = "PEYVAND_LISTEN")]
    pub listen: Option<String>,
    /// Mark the session cookie Secure: auto (unless the browser talks to a loopback host), always, never
    #[arg(long, env = "PEYVAND_SECURE_COOKIES")]
    pub secure_cookies: Option<String>,
    /// Largest request body in bytes (default: 1048576)
    #[arg(long, env = "PEYVAND_BODY_LIMIT_BYTES")]
    pub body_limit_bytes: Option<usize>,
    /// Hours a web session lasts (default: 12)
    #[arg(long, env = "PEYVAND_SESSION_TTL_HOURS")]
    pub session_ttl_hours: Option<u64>,
    /// UTC offset in which times are shown, such as +03:30 (default)
    #[arg(long, env = "PEYVAND_DISPLAY_OFFSET")]
    pub display_offset: Option<String>,
    /// Reverse proxies whose Forwarded / X-Forwarded-For headers name the client, comma-separated addresses or networks (e.g. 127.0.0.1,10.0.0.0/8); default: none
    #[arg(long, env = "PEYVAND_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<String>>,
    /// Single sign-on: the OpenID provider's issuer URL (e.g. https://login.example.com/realms/staff); off when absent
    #[arg(long, env = "PEYVAND_SSO_ISSUER")]
    pub sso_issuer: Option<String>,
    /// Single sign-on: this application's client id at the provider
    #[arg(long, env = "PEYVAND_SSO_CLIENT_ID")]
    pub sso_client_id: Option<String>,
    /// Single sign-on: the client secret (none for a public client)
    #[arg(long, env = "PEYVAND_SSO_CLIENT_SECRET", hide_env_values = true)]
    pub sso_client_secret: Option<String>,
    /// Single sign-on: Peyvand's address as browsers reach it; the provider must allow PUBLIC_URL/login/sso/callback
    #[arg(long, env = "PEYVAND_SSO_PUBLIC_URL")]
    pub sso_public_url: Option<String>,
    /// Single sign-on: the role of users created at their first sign-in (agent, read_only, …); default: only existing users
    #[arg(long, env = "PEYVAND_SSO_CREATE_ROLE")]
    pub sso_create_role: Option<String>,
    /// Single sign-on: the sign-in button's words
    #[arg(long, env = "PEYVAND_SSO_LABEL")]
    pub sso_label: Option<String>,
    /// Single sign-on: match users by an e-mail the provider sends without saying it verified it (only for a provider that vouches for every address it sends)
    #[arg(long, env = "PEYVAND_SSO_TRUST_EMAIL")]
    pub sso_trust_email: Option<bool>,
    /// Seconds after which another instance takes over the event consumers and scheduled jobs of one that stopped answering (default: 30 for consumers, 120 for a job)
    #[arg(long, env = "PEYVAND_TAKEOVER_SECONDS")]
    pub takeover_seconds: Option<u64>,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub listen: String,
    pub log_format: String,
    pub web: peyvand_web::WebConfig,
}

fn read_file(explicit: Option<&Path>) -> anyhow::Result<FileSettings> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if Path::new("peyvand.toml").exists() => PathBuf::from("peyvand.toml"),
        None => return Ok(FileSettings::default()),
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("cannot read settings file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid settings file {}", path.display()))
}

fn parse_offset(text: &str) -> anyhow::Result<time::UtcOffset> {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let (h, m): (i8, i8) = (h.parse().context("offset hours")?, m.parse().context("offset minutes")?);
    Ok(time::UtcOffset::from_hms(sign * h, sign * m, 0)?)
}

/// Single sign-on's settings: all of issuer, client id and public URL, or none of them.
fn sso_settings(serve: &ServeArgs, file: &FileSettings) -> anyhow::Result<Option<peyvand_web::html::sso::SsoConfig>> {
    let pick =
        |flag: &Option<String>, key: &Option<String>| flag.clone().or(key.clone()).filter(|v| !v.trim().is_empty());
    let issuer = pick(&serve.sso_issuer, &file.sso_issuer);
    let client_id = pick(&serve.sso_client_id, &file.sso_client_id);
    let public_url = pick(&serve.sso_public_url, &file.sso_public_url);
    let (issuer, client_id, public_url) = match (issuer, client_id, public_url) {
        (None, None, None) => return Ok(None),
        (Some(i), Some(c), Some(p)) => (i, c, p),
        _ => bail!("single sign-on needs sso_issuer, sso_client_id and sso_public_url together"),
    };
    let create_role = match pick(&serve.sso_create_role, &file.sso_create_role) {
        None => None,
        Some(text) => Some(
            peyvand_records::access::Role::parse(text.trim())
                .with_context(|| format!("sso_create_role: no role {text}"))?,
        ),
    };
    Ok(Some(peyvand_web::html::sso::SsoConfig {
        issuer,
        client_id,
        client_secret: pick(&serve.sso_client_secret, &file.sso_client_secret),
        public_url,
        create_role,
        label: pick(&serve.sso_label, &file.sso_label),
        trust_email: serve.sso_trust_email.or(file.sso_trust_email).unwrap_or(false),
    }))
}

impl Settings {
    /// Resolves settings; `default_db` names the SQLite file used when no URL is given.
    pub fn resolve(data: &DataArgs, serve: &ServeArgs, default_db: &str) -> anyhow::Result<Settings> {
        let file = read_file(data.config.as_deref())?;
        let sso = sso_settings(serve, &file)?;
        let data_dir = data.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("data"));
        let database_url = match data.database_url.clone().or(file.database_url) {
            Some(url) => url,
            None => {
                std::fs::create_dir_all(&data_dir)
                    .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
                format!("sqlite://{}", data_dir.join(default_db).display())
            }
        };
        let secure_cookies = match serve.secure_cookies.clone().or(file.secure_cookies).as_deref().unwrap_or("auto") {
            "auto" => None,
            "always" => Some(true),
            "never" => Some(false),
            other => bail!("secure_cookies must be auto, always or never, not {other}"),
        };
        let log_format = std::env::var("PEYVAND_LOG_FORMAT").ok().or(file.log_format).unwrap_or_else(|| "text".into());
        if log_format != "text" && log_format != "json" {
            bail!("log_format must be text or json, not {log_format}");
        }
        let defaults = peyvand_web::WebConfig::default();
        let web = peyvand_web::WebConfig {
            body_limit: serve.body_limit_bytes.or(file.body_limit_bytes).unwrap_or(defaults.body_limit),
            session_ttl: serve
                .session_ttl_hours
                .or(file.session_ttl_hours)
                .map(|h| Duration::from_secs(h * 3600))
                .unwrap_or(defaults.session_ttl),
            secure_cookies,
            display_offset: match serve.display_offset.clone().or(file.display_offset) {
                Some(text) => parse_offset(&text)?,
                None => defaults.display_offset,
            },
            trusted_proxies: serve
                .trusted_proxies
                .clone()
                .or(file.trusted_proxies)
                .unwrap_or_default()
                .iter()
                .filter(|p| !p.trim().is_empty())
                .map(|p| p.parse().map_err(|e: String| anyhow::anyhow!("trusted_proxies: {e}")))
                .collect::<anyhow::Result<_>>()?,
            upload_dir: data_dir.join("uploads"),
            upload_quota_bytes: defaults.upload_quota_bytes,
            admission: defaults.admission,
            sso,
            takeover: match serve.takeover_seconds.or(file.takeover_seconds) {
                Some(0) => bail!("takeover_seconds must be at least 1"),
                Some(s) => Some(Duration::from_secs(s)),
                None => None,
            },
        };
        Ok(Settings {
            database_url,
            listen: serve.listen.clone().or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".into()),
            log_format,
            web,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+03:30").ok(), time::UtcOffset::from_hms(3, 30, 0).ok());
        assert_eq!(parse_offset("-05:00").ok(), time::UtcOffset::from_hms(-5, 0, 0).ok());
        assert!(parse_offset("x").is_err());
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = std::env::temp_dir().join(format!("peyvand-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("peyvand.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9999\"\nsession_ttl_hours = 2\ndatabase_url = \"sqlite://from-file.db\"\n\
             trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n",
        )
        .expect("write");
        let data = DataArgs { config: Some(file.clone()), database_url: None, data_dir: Some(dir.clone()) };
        let s = Settings::resolve(&data, &ServeArgs::default(), "x.db").expect("resolve");
        assert_eq!(s.listen, "127.0.0.1:9999");
        assert_eq!(s.database_url, "sqlite://from-file.db");
        assert_eq!(s.web.session_ttl, Duration::from_secs(7200));
        assert_eq!(s.web.trusted_proxies, ["127.0.0.1".parse().expect("net"), "10.0.0.0/8".parse().expect("net")]);
        let serve = ServeArgs { listen: Some("127.0.0.1:7000".into()), ..ServeArgs::default() };
        let data = DataArgs { database_url: Some("sqlite://flag.db".into()), ..data };
        let s = Settings::resolve(&data, &serve, "x.db").expect("resolve");
        assert_eq!(s.listen, "127.0.0.1:7000");
        assert_eq!(s.database_url, "sqlite://flag.db");
        std::fs::write(&file, "lisen = \"typo\"\n").expect("write");
        assert!(
            Settings::resolve(
                &DataArgs { config: Some(file), database_url: None, data_dir: None },
                &ServeArgs::default(),
                "x.db"
            )
            .is_err()
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
