//! The peer SFU: the same participants and media through Janus (videoroom plugin), driven
//! through Janus's own HTTP API.
//!
//! With `--janus-url http://IP:PORT/janus` every room is a videoroom room made by the
//! generator (`create`, Opus + VP8, up to 256 publishers). Each simulated participant has a
//! Janus session with one handle per PeerConnection, because Janus publishes and subscribes
//! on separate PeerConnections:
//!
//! * a publisher joins as `ptype: publisher`, publishes with str0m's `sendonly` offer and
//!   applies Janus's answer; once it is connected, it waits (polling `listparticipants`) until
//!   every other publisher of its room publishes, then subscribes to them on a second handle;
//! * a receive-only participant only subscribes, to every publisher of its room;
//! * subscribing is one multistream `join` (`ptype: subscriber`, `streams: [{feed}, …]`):
//!   Janus offers, str0m answers `recvonly`, `start` carries the answer.
//!
//! It is the same participant as through Confidant ([`crate::participant`]) with Janus as its
//! transport (`transport`: the session, the handles, the long-poll), so media is made and
//! measured by the same code (frames, stamps, counting of RTP datagrams at the receivers'
//! sockets, loss by frames, latency by stamps) and the numbers compare. Each PeerConnection is a `str0m::Rtc` with one UDP socket
//! bound to the local address that routes to Janus (in the benchmark: the generator's end of a
//! veth pair, since Janus never uses loopback for ICE); datagrams for any other destination
//! than Janus's address or loopback are dropped. Events come by long-poll, one poller task per
//! session, which also keeps the session alive. Leaving destroys the session.
//!
//! Churn is not run against Janus (the generator's churn is built on Confidant's lobby).

pub mod api;
mod transport;

pub use api::{Client, Target};
pub use transport::run;

use std::net::{IpAddr, SocketAddr, UdpSocket};

use crate::Error;

/// The local address the kernel would use to reach `remote` (no packet is sent: connecting a
/// UDP socket only picks a route).
pub fn local_ip_towards(remote: SocketAddr) -> Result<IpAddr, Error> {
    let bind = if remote.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let s = UdpSocket::bind(bind).map_err(|e| Error::Media(format!("binding UDP: {e}")))?;
    s.connect(remote)
        .map_err(|e| Error::Media(format!("no route to Janus at {remote}: {e}")))?;
    Ok(s.local_addr()
        .map_err(|e| Error::Media(format!("UDP address: {e}")))?
        .ip())
}

/// Creates the run's rooms (ids `base`, `base + 1`, …) on one session of its own, which
/// [`destroy_rooms`] ends.
pub async fn create_rooms(client: &Client, base: u64, rooms: u32) -> Result<(u64, u64), Error> {
    let session = client.create_session().await?;
    let handle = client.attach(session).await?;
    for r in 0..u64::from(rooms) {
        let (_, answer) = client
            .message(session, handle, api::create_room(base + r), None)
            .await?;
        if answer
            .pointer("/plugindata/data/videoroom")
            .and_then(|v| v.as_str())
            != Some("created")
        {
            return Err(Error::Server(format!(
                "janus did not create room {}: {answer}",
                base + r
            )));
        }
    }
    Ok((session, handle))
}

/// Destroys the rooms and their session; true if Janus agreed to everything.
pub async fn destroy_rooms(
    client: &Client,
    (session, handle): (u64, u64),
    base: u64,
    rooms: u32,
) -> bool {
    let mut ok = true;
    for r in 0..u64::from(rooms) {
        ok &= client
            .message(session, handle, api::destroy_room(base + r), None)
            .await
            .is_ok();
    }
    ok && client.destroy(session).await.is_ok()
}
