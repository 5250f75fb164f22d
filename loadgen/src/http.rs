//! A minimal HTTP/1.1 client for the few calls the load generator makes (login, sessions,
//! host tokens, probes, metrics): one TCP connection per request, plain HTTP to loopback.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::Error;

/// Longest any single HTTP request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The server's base address and, after [`Http::login`], the session cookie.
#[derive(Debug, Clone)]
pub struct Http {
    /// `host:port`.
    authority: String,
    cookie: Option<String>,
}

/// A response: status and body.
#[derive(Debug)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body as text.
    pub body: String,
}

impl Http {
    /// `server` is `http://host:port` (a trailing slash is fine).
    pub fn new(server: &str) -> Result<Http, Error> {
        let authority = server
            .strip_prefix("http://")
            .ok_or_else(|| Error::Config("--server must start with http://".into()))?
            .trim_end_matches('/')
            .to_owned();
        if authority.is_empty() || authority.contains('/') {
            return Err(Error::Config("--server must be http://HOST:PORT".into()));
        }
        if !is_loopback_authority(&authority) {
            return Err(Error::Config(
                "--server must be on this machine (127.0.0.0/8, [::1] or localhost)".into(),
            ));
        }
        Ok(Http {
            authority,
            cookie: None,
        })
    }

    /// `host:port` of the server.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// One request; `body` is sent as JSON.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, Error> {
        Ok(self.request_with_cookie(method, path, body).await?.0)
    }

    /// One request; also returns the session cookie the response set, if any.
    async fn request_with_cookie(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(Response, Option<String>), Error> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.request_inner(method, path, body))
            .await
            .map_err(|_| Error::Http(format!("{method} {path}: timed out")))?
    }

    async fn request_inner(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(Response, Option<String>), Error> {
        let what = |e: &dyn std::fmt::Display| Error::Http(format!("{method} {path}: {e}"));
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| what(&e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| what(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.authority);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let payload = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(payload)).map_err(|e| what(&e))?;
        let res = sender.send_request(req).await.map_err(|e| what(&e))?;
        let status = res.status().as_u16();
        let cookie = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|c| c.starts_with("confidant_session="))
            .map(str::to_owned);
        let bytes = res
            .into_body()
            .collect()
            .await
            .map_err(|e| what(&e))?
            .to_bytes();
        let body = String::from_utf8_lossy(&bytes).into_owned();
        Ok((Response { status, body }, cookie))
    }

    /// Logs in (once: the login endpoint is rate limited) and keeps the session cookie.
    pub async fn login(&mut self, email: &str, password: &str) -> Result<(), Error> {
        let body = serde_json::json!({"email": email, "password": password});
        let (res, cookie) = self
            .request_with_cookie("POST", "/api/auth/login", Some(&body))
            .await?;
        if !(200..300).contains(&res.status) {
            return Err(Error::Http(format!(
                "login refused: {} {}",
                res.status, res.body
            )));
        }
        self.cookie = Some(cookie.ok_or_else(|| Error::Http("login set no cookie".into()))?);
        Ok(())
    }

    /// A request whose answer must be 2xx JSON.
    pub async fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let res = self.request(method, path, body).await?;
        if !(200..300).contains(&res.status) {
            return Err(Error::Http(format!(
                "{method} {path}: {} {}",
                res.status, res.body
            )));
        }
        serde_json::from_str(&res.body)
            .map_err(|e| Error::Http(format!("{method} {path}: bad JSON: {e}")))
    }

    /// `GET /metrics`, parsed into `name → value` for the unlabelled samples.
    pub async fn metrics(&self) -> Result<std::collections::BTreeMap<String, f64>, Error> {
        let res = self.request("GET", "/metrics", None).await?;
        if res.status != 200 {
            return Err(Error::Http(format!("GET /metrics: {}", res.status)));
        }
        Ok(parse_metrics(&res.body))
    }
}

/// Whether `host:port` names this machine: a loopback IP or `localhost`.
pub fn is_loopback_authority(authority: &str) -> bool {
    if let Ok(addr) = authority.parse::<std::net::SocketAddr>() {
        return addr.ip().is_loopback();
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => host.eq_ignore_ascii_case("localhost") && port.parse::<u16>().is_ok(),
        None => authority.eq_ignore_ascii_case("localhost"),
    }
}

/// Parses OpenMetrics text: `name value` lines (comments and labelled samples skipped).
pub fn parse_metrics(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next()?;
            let value: f64 = it.next()?.parse().ok()?;
            (!name.contains('{')).then(|| (name.to_owned(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_lines() {
        let m = parse_metrics(
            "# HELP x y\n# TYPE confidant_sfu_peers gauge\nconfidant_sfu_peers 3\nconfidant_sfu_forwarded_frames_total 12\nfoo{a=\"b\"} 1\n# EOF\n",
        );
        assert_eq!(m.get("confidant_sfu_peers"), Some(&3.0));
        assert_eq!(m.get("confidant_sfu_forwarded_frames_total"), Some(&12.0));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn server_url() {
        assert_eq!(
            Http::new("http://127.0.0.1:8080/").unwrap().authority(),
            "127.0.0.1:8080"
        );
        assert!(Http::new("https://x").is_err());
        assert!(Http::new("http://localhost:8080").is_ok());
        assert!(Http::new("http://[::1]:8080").is_ok());
        assert!(Http::new("http://192.0.2.1:8080").is_err());
        assert!(Http::new("http://example.org:80").is_err());
    }
}
