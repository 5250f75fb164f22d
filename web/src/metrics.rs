//! Prometheus metrics at `/metrics`: counts only, never names, ids or addresses.
//!
//! Each scrape takes a snapshot of the hub's and the SFU's counters and of the mail queue (counts
//! from the database) and encodes it in the
//! OpenMetrics text format; nothing is kept between scrapes.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::AppState;

/// Content type of the OpenMetrics text exposition format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn gauge(registry: &mut Registry, name: &str, help: &str, value: usize) {
    let g: Gauge = Gauge::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    registry.register(name, help, g);
}

fn gauge64(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g: Gauge = Gauge::default();
    g.set(value);
    registry.register(name, help, g);
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c: Counter = Counter::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

/// Metrics in the OpenMetrics text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text: rooms, participants, lobby, connections, SFU peers, tracks, forwarded media, mail queue (length, oldest age, failures temporary/permanent)",
        content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let hub = state.hub.stats();
    let sfu = state.sfu().stats().await;
    let mut r = Registry::default();
    counter(
        &mut r,
        "confidant_mail_sent",
        "Mails accepted by the SMTP server",
        crate::mail::MAIL_SENT.load(std::sync::atomic::Ordering::Relaxed),
    );
    counter(
        &mut r,
        "confidant_mail_failed_attempts",
        "Failed mail delivery attempts (retried with backoff)",
        crate::mail::MAIL_FAILED.load(std::sync::atomic::Ordering::Relaxed),
    );
    counter(
        &mut r,
        "confidant_mail_temporary_failures",
        "Mail delivery attempts that failed temporarily (SMTP 4xx, no connection, timeout)",
        crate::mail::MAIL_TEMPORARY_FAILURES.load(std::sync::atomic::Ordering::Relaxed),
    );
    counter(
        &mut r,
        "confidant_mail_permanent_failures",
        "Mail delivery attempts that failed permanently (SMTP 5xx: the mail is failed at once)",
        crate::mail::MAIL_PERMANENT_FAILURES.load(std::sync::atomic::Ordering::Relaxed),
    );
    match crate::mail::queue_stats(&state.db, crate::db::now_ms()).await {
        Ok(q) => {
            gauge64(
                &mut r,
                "confidant_mail_queue_length",
                "Mails due and not yet sent",
                q.due,
            );
            gauge64(
                &mut r,
                "confidant_mail_queue_oldest_age_seconds",
                "Age of the oldest due, unsent mail (0: none)",
                q.oldest_due_age_secs,
            );
            gauge64(
                &mut r,
                "confidant_mail_failed_open",
                "Failed mails no counsellor has dealt with yet",
                q.failed_open,
            );
        }
        Err(e) => tracing::warn!(error = %e, "mail queue metrics unavailable"),
    }
    gauge(
        &mut r,
        "confidant_rooms",
        "Rooms with participants or waiting clients",
        hub.rooms,
    );
    gauge(
        &mut r,
        "confidant_participants",
        "Participants, connected or within their resume grace",
        hub.participants,
    );
    gauge(
        &mut r,
        "confidant_lobby_waiting",
        "Clients waiting in lobbies",
        hub.waiting,
    );
    let (walkin_queue, walkin_available) = {
        let core = state.walkin.core();
        (
            core.queue_len(),
            core.offer(None, chrono::Utc::now()).available_count,
        )
    };
    gauge(
        &mut r,
        "confidant_walkin_queue",
        "Walk-in clients in the queue (waiting, rung or being connected)",
        walkin_queue,
    );
    gauge(
        &mut r,
        "confidant_walkin_available",
        "Counsellors available for walk-ins",
        walkin_available,
    );
    gauge(
        &mut r,
        "confidant_ws_connections",
        "Open signalling websockets",
        hub.connections,
    );
    gauge(
        &mut r,
        "confidant_sfu_rooms",
        "Rooms known to the SFU",
        sfu.rooms,
    );
    gauge(
        &mut r,
        "confidant_sfu_peers",
        "Peer connections held by the SFU",
        sfu.peers,
    );
    gauge(
        &mut r,
        "confidant_sfu_tracks",
        "Tracks published to the SFU",
        sfu.tracks,
    );
    gauge(
        &mut r,
        "confidant_sfu_subscriptions",
        "Forwarded (track, subscriber) pairs",
        sfu.subscriptions,
    );
    counter(
        &mut r,
        "confidant_sfu_forwarded_packets",
        "RTP packets forwarded to subscribers",
        sfu.forwarded_packets,
    );
    counter(
        &mut r,
        "confidant_sfu_forwarded_bytes",
        "Media payload bytes forwarded to subscribers",
        sfu.forwarded_bytes,
    );
    counter(
        &mut r,
        "confidant_sfu_layer_switches",
        "Simulcast layer switches of forwarded video (at keyframes)",
        sfu.layer_switches,
    );
    counter(
        &mut r,
        "confidant_sfu_audio_not_forwarded_packets",
        "Audio packets not forwarded: their publisher was not among the room's loudest",
        sfu.audio_not_forwarded,
    );
    gauge(
        &mut r,
        "confidant_sfu_estimated_bitrate_bps_sum",
        "Sum over peers of the bandwidth estimated towards each (TWCC), bit/s",
        usize::try_from(sfu.estimated_bitrate_bps).unwrap_or(usize::MAX),
    );
    gauge(
        &mut r,
        "confidant_sfu_estimated_bitrate_peers",
        "Peers with a bandwidth estimate (divide the sum by this for the mean)",
        sfu.estimated_peers,
    );
    counter(
        &mut r,
        "confidant_sfu_dropped_datagrams",
        "UDP datagrams no peer accepted",
        sfu.dropped_datagrams,
    );
    counter(
        &mut r,
        "confidant_sfu_nacks_received",
        "NACKs subscribers sent about forwarded streams",
        sfu.nacks_received,
    );
    counter(
        &mut r,
        "confidant_sfu_plis_received",
        "PLIs subscribers sent",
        sfu.plis_received,
    );
    counter(
        &mut r,
        "confidant_sfu_firs_received",
        "FIRs subscribers sent",
        sfu.firs_received,
    );
    counter(
        &mut r,
        "confidant_sfu_keyframe_requests_sent",
        "Keyframe requests (PLI/FIR) sent to publishers, throttled",
        sfu.keyframe_requests_sent,
    );
    let mut body = String::new();
    if let Err(e) = encode(&mut body, &r) {
        tracing::error!(error = %e, "encoding metrics failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(header::CONTENT_TYPE, OPENMETRICS)], body).into_response()
}
