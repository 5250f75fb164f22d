//! The HTTP session to one account's calendar server: basic auth, one pinned client, and
//! every request to the origin the counsellor entered and nowhere else.

use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::super::sources::{parse_url, pinned_client, without_url, FetchError};
use super::SyncError;
use crate::BookingState;
use confidant_booking::caldav as dav;

/// Redirects followed during discovery (each target is checked again).
const MAX_REDIRECTS: usize = 3;
/// Largest answer read, in bytes.
const MAX_BODY: usize = confidant_booking::busy::MAX_BYTES;

#[derive(Serialize, Deserialize)]
pub(super) struct Secret {
    pub(super) url: String,
    pub(super) username: String,
    pub(super) password: String,
}

/// An answer from the calendar server.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) etag: Option<String>,
    pub(super) location: Option<String>,
    pub(super) body: String,
}

/// Where one account's requests may go.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reach {
    /// `--calendar-fetch-private`: loopback and private addresses too.
    allow_private: bool,
    /// `--caldav-allow-http`: `http://` too.
    allow_http: bool,
}

impl Reach {
    pub(super) fn of(state: &BookingState) -> Self {
        Reach {
            allow_private: state.config.calendar_fetch_private,
            allow_http: state.config.caldav_allow_http,
        }
    }
}

/// HTTP for one account during one sync: basic auth, one pinned client. Every request goes to
/// the origin (scheme, host and port) of the URL the counsellor entered, and nowhere else: a
/// redirect or a discovered address elsewhere is refused before anything is sent there.
pub(super) struct Dav {
    username: String,
    password: String,
    /// `scheme://host:port` of the entered URL.
    origin: String,
    reach: Reach,
    /// Trust anchors for TLS (bundled, system, `--ca-file`).
    trust: confidant_kit::tls::Trust,
    client: Option<reqwest::Client>,
}

impl Dav {
    /// A session for `secret`; refuses `http://` unless allowed.
    pub(super) fn new(
        secret: &Secret,
        reach: Reach,
        trust: &confidant_kit::tls::Trust,
    ) -> Result<Self, SyncError> {
        let entered =
            Url::parse(&secret.url).map_err(|_| SyncError::Answer("bad server URL".into()))?;
        if entered.scheme() != "https" && !reach.allow_http {
            return Err(SyncError::Insecure);
        }
        Ok(Dav {
            username: secret.username.clone(),
            password: secret.password.clone(),
            origin: entered.origin().ascii_serialization(),
            reach,
            trust: trust.clone(),
            client: None,
        })
    }

    /// Refuses a URL outside the entered origin.
    fn check_origin(&self, url: &Url) -> Result<(), SyncError> {
        let origin = url.origin().ascii_serialization();
        if origin == self.origin {
            Ok(())
        } else {
            Err(SyncError::CrossOrigin {
                target: Some(origin),
            })
        }
    }

    pub(super) async fn send(
        &mut self,
        method: &'static str,
        url: &Url,
        depth: Option<&str>,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, SyncError> {
        // The one place credentials leave: only ever to the entered origin.
        self.check_origin(url)?;
        let client = match &self.client {
            Some(c) => c.clone(),
            None => {
                let c = pinned_client(url, self.reach.allow_private, &self.trust).await?;
                self.client = Some(c.clone());
                c
            }
        };
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| SyncError::Answer(e.to_string()))?;
        let mut req = client
            .request(m, url.clone())
            .basic_auth(&self.username, Some(&self.password));
        if let Some(d) = depth {
            req = req.header("Depth", d);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            let ct = if method == "PUT" {
                "text/calendar; charset=utf-8"
            } else {
                "application/xml; charset=utf-8"
            };
            req = req.header("Content-Type", ct).body(b);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| FetchError::Network(without_url(&e)))?;
        let status = resp.status().as_u16();
        if status == 401 {
            return Err(SyncError::Auth);
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (etag, location) = (header("etag"), header("location"));
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| FetchError::Network(without_url(&e)))?
        {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(FetchError::TooLarge.into());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status,
            etag,
            location,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    /// A PROPFIND that must answer 207; follows redirects (discovery goes through
    /// `/.well-known/caldav`). Returns the entries and the URL that answered.
    pub(super) async fn propfind(
        &mut self,
        url: &Url,
        depth: &str,
        body: &str,
    ) -> Result<(dav::Multistatus, Url), SyncError> {
        let mut url = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let r = self
                .send("PROPFIND", &url, Some(depth), Some(body.to_owned()), &[])
                .await?;
            if (300..400).contains(&r.status) {
                let next = r
                    .location
                    .as_deref()
                    .and_then(|l| url.join(l).ok())
                    .ok_or(SyncError::Status(r.status, "PROPFIND"))?;
                url = parse_url(next.as_str())?;
                self.check_origin(&url)?;
                continue;
            }
            if r.status != 207 {
                return Err(SyncError::Status(r.status, "PROPFIND"));
            }
            let ms =
                dav::parse_multistatus(&r.body).map_err(|e| SyncError::Answer(e.to_string()))?;
            return Ok((ms, url));
        }
        Err(FetchError::Network("too many redirects".into()).into())
    }

    pub(super) async fn report(
        &mut self,
        url: &Url,
        depth: &str,
        body: String,
    ) -> Result<Reply, SyncError> {
        self.send("REPORT", url, Some(depth), Some(body), &[]).await
    }
}
