//! Request extractors whose rejections use the contract's JSON error shape.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// Largest JSON body accepted by the API, in bytes.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// A JSON request body. Unlike `axum::Json`, every failure is an [`AppError`]: a body that is
/// not JSON (or not declared as JSON) is a 400, a JSON value of the wrong shape is a 422 naming
/// the field at fault.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

/// Like [`Json`], but an empty body (with or without a content type) gives `T::default()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonOrEmpty<T>(pub T);

fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn body_bytes(req: Request) -> Result<(HeaderMap, Bytes), AppError> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_JSON_BODY_BYTES)
        .await
        .map_err(|_| AppError::Validation {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            field: None,
            message: format!("request body is larger than {MAX_JSON_BODY_BYTES} bytes"),
        })?;
    Ok((parts.headers, bytes))
}

/// Parses `bytes` as `T`, naming the field at fault on error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() || inner.is_io() {
            return AppError::bad_request(format!("request body is not valid JSON: {inner}"));
        }
        let path = e.path().to_string();
        let message = inner.to_string();
        // A missing field is reported at its parent; serde names it in the message.
        let field = if path == "." {
            message
                .split('`')
                .nth(1)
                .filter(|_| {
                    message.starts_with("missing field") || message.starts_with("unknown field")
                })
                .map(str::to_owned)
        } else {
            Some(path)
        };
        // serde_json appends " at line L column C", which says nothing useful to an API client.
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_owned(),
            None => message,
        };
        AppError::Validation {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field,
            message,
        }
    })?;
    // Trailing characters after the value.
    de.end()
        .map_err(|e| AppError::bad_request(format!("request body is not valid JSON: {e}")))?;
    Ok(value)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(req.headers()) {
            return Err(AppError::bad_request(
                "expected Content-Type: application/json",
            ));
        }
        let (_, bytes) = body_bytes(req).await?;
        parse_json(&bytes).map(Json)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for JsonOrEmpty<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (headers, bytes) = body_bytes(req).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonOrEmpty(T::default()));
        }
        if !is_json_content_type(&headers) {
            return Err(AppError::bad_request(
                "expected Content-Type: application/json",
            ));
        }
        parse_json(&bytes).map(JsonOrEmpty)
    }
}

/// The client's IP address, for rate limits (always anonymised to its network there).
///
/// It is the connection's peer (`ConnectInfo`; requests without connection info, in-process
/// tests, count as `0.0.0.0`), unless that peer is one of the `--trusted-proxy` networks: then
/// it is the rightmost address in `X-Forwarded-For` that is not itself a trusted proxy (the
/// left part of the header is whatever the client claimed and is never believed).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    crate::Base: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Ok(ClientIp(client_ip(
            peer,
            forwarded,
            &crate::Base::from_ref(state).site.trusted_proxies,
        )))
    }
}

/// See [`ClientIp`]: `forwarded` are the `X-Forwarded-For` header lines in order.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a str>,
    trusted: &[ipnet::IpNet],
) -> IpAddr {
    let canonical = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&canonical(ip)));
    let peer = canonical(peer);
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded
        .flat_map(|line| line.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // `[v6]:port`, `v4:port` and bare addresses all occur in the wild.
        let bare = hop
            .strip_prefix('[')
            .and_then(|h| h.split(']').next())
            .unwrap_or(hop);
        let ip = bare
            .parse::<IpAddr>()
            .ok()
            .or_else(|| bare.parse::<SocketAddr>().ok().map(|a| a.ip()));
        let Some(ip) = ip.map(canonical) else {
            // Garbage in the chain: stop at the last address we could trust.
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let trusted: Vec<ipnet::IpNet> =
            vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        // Not from a proxy: the header is the client's claim and ignored.
        assert_eq!(
            client_ip(ip("203.0.113.9"), ["198.51.100.1"].into_iter(), &trusted),
            ip("203.0.113.9")
        );
        // From a proxy: the rightmost address that is not a proxy.
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                ["1.2.3.4, 198.51.100.7"].into_iter(),
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                ["1.2.3.4", "198.51.100.7, 10.0.0.5"].into_iter(),
                &trusted
            ),
            ip("198.51.100.7")
        );
        // Ports and brackets, IPv4-mapped peers.
        assert_eq!(
            client_ip(
                ip("::ffff:10.0.0.2"),
                ["[2001:db8::7]:5555"].into_iter(),
                &trusted
            ),
            ip("2001:db8::7")
        );
        assert_eq!(
            client_ip(ip("::1"), ["198.51.100.7:443"].into_iter(), &trusted),
            ip("198.51.100.7")
        );
        // A proxy without the header, or garbage: the last address we could trust.
        assert_eq!(
            client_ip(ip("10.0.0.2"), std::iter::empty(), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                ["1.2.3.4, junk, 10.0.0.9"].into_iter(),
                &trusted
            ),
            ip("10.0.0.9")
        );
        // Nothing trusted (the default): always the peer.
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["198.51.100.7"].into_iter(), &[]),
            ip("10.0.0.2")
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        password: String,
    }

    fn field_of(e: AppError) -> (StatusCode, Option<String>) {
        match e {
            AppError::Validation { status, field, .. } => (status, field),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn missing_field_is_named() {
        let e = parse_json::<Login>(br#"{"email":"a@b.c"}"#).unwrap_err();
        assert_eq!(
            field_of(e),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("password".into()))
        );
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = parse_json::<Login>(br#"{"email":5,"password":"x"}"#).unwrap_err();
        assert_eq!(
            field_of(e),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("email".into()))
        );
    }

    #[test]
    fn syntax_error_is_400_without_field() {
        let e = parse_json::<Login>(br#"{"email":"#).unwrap_err();
        assert_eq!(field_of(e), (StatusCode::BAD_REQUEST, None));
        let e = parse_json::<Login>(br#"{"email":"a","password":"b"} x"#).unwrap_err();
        assert_eq!(field_of(e), (StatusCode::BAD_REQUEST, None));
    }

    #[test]
    fn json_content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json_content_type(&h));
        h.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(is_json_content_type(&h));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!is_json_content_type(&h));
    }
}
