//! Which worker owns which room, peer, ICE username fragment and remote address.
//!
//! Shared by the [`SfuHandle`](super::SfuHandle) (placing rooms and peers, routing commands)
//! and by the workers (routing datagrams, forgetting peers that leave). Signalling-rate state
//! (rooms, peers, ufrags) sits behind one mutex; the per-datagram address table behind a
//! read-write lock that is written only when a STUN binding request shows a new address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};

use crate::error::Error;
use crate::types::{PeerId, RoomId};

/// STUN message type of a binding request (RFC 5389 §6).
const STUN_BINDING_REQUEST: u16 = 0x0001;
/// STUN magic cookie (RFC 5389 §6).
const STUN_MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
/// STUN USERNAME attribute type (RFC 5389 §15.3).
const STUN_USERNAME: u16 = 0x0006;
/// STUN header length in bytes.
const STUN_HEADER: usize = 20;

/// Where datagrams for one remote address go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Route {
    /// Index of the owning worker.
    pub(super) worker: usize,
    /// The peer the address belongs to (so the route goes when the peer does).
    pub(super) peer: PeerId,
}

#[derive(Debug)]
struct PeerSlot {
    worker: usize,
    room: RoomId,
    /// Our ICE ufrag in this peer's session; `None` until the answer is known.
    ufrag: Option<String>,
}

#[derive(Debug)]
struct RoomSlot {
    worker: usize,
    peers: usize,
}

#[derive(Debug)]
struct Placement {
    /// Peers (including ones being added) per worker.
    load: Vec<usize>,
    rooms: HashMap<RoomId, RoomSlot>,
    peers: HashMap<PeerId, PeerSlot>,
    ufrags: HashMap<String, Route>,
}

/// See the [module docs](self).
#[derive(Debug)]
pub(super) struct Directory {
    placement: Mutex<Placement>,
    routes: RwLock<HashMap<SocketAddr, Route>>,
    /// UDP datagrams from an address no peer owns, that were not a STUN binding request for a
    /// known ufrag: dropped before any core saw them.
    pub(super) unrouted: AtomicU64,
    /// Datagrams dropped because the owning worker's inbound queue was full.
    pub(super) overflow: AtomicU64,
}

impl Directory {
    pub(super) fn new(workers: usize) -> Directory {
        Directory {
            placement: Mutex::new(Placement {
                load: vec![0; workers.max(1)],
                rooms: HashMap::new(),
                peers: HashMap::new(),
                ufrags: HashMap::new(),
            }),
            routes: RwLock::new(HashMap::new()),
            unrouted: AtomicU64::new(0),
            overflow: AtomicU64::new(0),
        }
    }

    fn placement(&self) -> MutexGuard<'_, Placement> {
        // The maps stay consistent across every mutation below (no panics in between), so a
        // poisoned lock still holds usable state.
        self.placement
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Places a new peer: on its room's worker, or for a new room on the worker with the fewest
    /// peers. Undo with [`Directory::forget`].
    pub(super) fn reserve(&self, room: RoomId, peer: PeerId) -> Result<usize, Error> {
        let mut p = self.placement();
        if p.peers.contains_key(&peer) {
            return Err(Error::DuplicatePeer(peer));
        }
        let worker = match p.rooms.get(&room) {
            Some(r) => r.worker,
            None => p
                .load
                .iter()
                .enumerate()
                .min_by_key(|(_, load)| **load)
                .map_or(0, |(i, _)| i),
        };
        p.rooms
            .entry(room)
            .or_insert(RoomSlot { worker, peers: 0 })
            .peers += 1;
        if let Some(load) = p.load.get_mut(worker) {
            *load += 1;
        }
        p.peers.insert(
            peer,
            PeerSlot {
                worker,
                room,
                ufrag: None,
            },
        );
        Ok(worker)
    }

    /// Records our ICE ufrag from the SDP answer made for `peer`, so that its STUN binding
    /// requests find its worker.
    pub(super) fn confirm(&self, peer: PeerId, answer_sdp: &str) {
        let Some(ufrag) = ufrag_of(answer_sdp) else {
            tracing::warn!(%peer, "SDP answer without ice-ufrag: the peer cannot be routed");
            return;
        };
        let mut p = self.placement();
        let Some(slot) = p.peers.get_mut(&peer) else {
            return;
        };
        let route = Route {
            worker: slot.worker,
            peer,
        };
        if let Some(old) = slot.ufrag.replace(ufrag.clone()) {
            p.ufrags.remove(&old);
        }
        p.ufrags.insert(ufrag, route);
    }

    /// Forgets a peer: its place, its room's claim on a worker once the room is empty, its
    /// ufrag and its address routes. Idempotent.
    pub(super) fn forget(&self, peer: PeerId) {
        {
            let mut p = self.placement();
            let Some(slot) = p.peers.remove(&peer) else {
                return;
            };
            if let Some(load) = p.load.get_mut(slot.worker) {
                *load = load.saturating_sub(1);
            }
            if let Some(room) = p.rooms.get_mut(&slot.room) {
                room.peers = room.peers.saturating_sub(1);
                if room.peers == 0 {
                    p.rooms.remove(&slot.room);
                }
            }
            if let Some(ufrag) = slot.ufrag {
                p.ufrags.remove(&ufrag);
            }
        }
        self.routes_mut().retain(|_, r| r.peer != peer);
    }

    /// The worker that owns `peer`.
    pub(super) fn worker_of(&self, peer: PeerId) -> Option<usize> {
        self.placement().peers.get(&peer).map(|s| s.worker)
    }

    /// The worker that owns `room`, if it has peers.
    #[cfg(test)]
    pub(super) fn worker_of_room(&self, room: RoomId) -> Option<usize> {
        self.placement().rooms.get(&room).map(|r| r.worker)
    }

    /// Remote UDP addresses currently routed.
    pub(super) fn route_count(&self) -> usize {
        self.routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn routes_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<SocketAddr, Route>> {
        self.routes.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The worker for a UDP datagram from `source`. A STUN binding request whose USERNAME
    /// names a known ufrag goes to that peer's worker and (re)binds `source` to it, so an
    /// address freed by one peer and reused by another follows the new one; anything else goes
    /// by the address table. `None`: nobody's, drop it.
    pub(super) fn route_udp(&self, source: SocketAddr, datagram: &[u8]) -> Option<usize> {
        if let Some(route) =
            stun_local_ufrag(datagram).and_then(|ufrag| self.placement().ufrags.get(ufrag).copied())
        {
            let known = self
                .routes
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&source)
                .copied();
            if known != Some(route) {
                self.routes_mut().insert(source, route);
            }
            return Some(route.worker);
        }
        let known = self
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&source)
            .map(|r| r.worker);
        if known.is_none() {
            self.unrouted.fetch_add(1, Ordering::Relaxed);
        }
        known
    }

    /// The worker for an ICE-TCP connection whose first frame is `frame`: it must be a STUN
    /// binding request for a known ufrag.
    pub(super) fn route_tcp_first_frame(&self, frame: &[u8]) -> Option<usize> {
        let ufrag = stun_local_ufrag(frame)?;
        self.placement().ufrags.get(ufrag).map(|r| r.worker)
    }
}

/// Our ufrag (`a=ice-ufrag:`) in an SDP we made.
fn ufrag_of(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=ice-ufrag:"))
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
}

/// If `datagram` is a STUN binding request, the first half of its USERNAME
/// (`<receiver's ufrag>:<sender's ufrag>`, RFC 8445 §7.2.2): our ufrag. Never panics.
pub(super) fn stun_local_ufrag(datagram: &[u8]) -> Option<&str> {
    let header = datagram.get(..STUN_HEADER)?;
    if u16::from_be_bytes([header[0], header[1]]) != STUN_BINDING_REQUEST
        || header[4..8] != STUN_MAGIC_COOKIE
    {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let mut body = datagram.get(STUN_HEADER..STUN_HEADER + len)?;
    while let Some(head) = body.get(..4) {
        let kind = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let value = body.get(4..4 + len)?;
        if kind == STUN_USERNAME {
            let username = std::str::from_utf8(value).ok()?;
            return username.split(':').next().filter(|u| !u.is_empty());
        }
        // Attributes are padded to a multiple of 4 bytes.
        body = body.get(4 + len.div_ceil(4) * 4..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(username: &[u8]) -> Vec<u8> {
        let mut attrs = Vec::new();
        // A PRIORITY attribute first, so the parser has to skip one.
        attrs.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 1, 2, 3, 4]);
        attrs.extend_from_slice(&STUN_USERNAME.to_be_bytes());
        attrs.extend_from_slice(&u16::try_from(username.len()).unwrap().to_be_bytes());
        attrs.extend_from_slice(username);
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        let mut d = vec![0x00, 0x01];
        d.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
        d.extend_from_slice(&STUN_MAGIC_COOKIE);
        d.extend_from_slice(&[7; 12]);
        d.extend_from_slice(&attrs);
        d
    }

    #[test]
    fn the_local_ufrag_is_read_from_a_binding_request() {
        assert_eq!(
            stun_local_ufrag(&binding_request(b"ours:theirs")),
            Some("ours")
        );
        assert_eq!(stun_local_ufrag(&binding_request(b"abc")), Some("abc"));
        assert_eq!(stun_local_ufrag(&binding_request(b":x")), None);
    }

    #[test]
    fn truncated_or_foreign_datagrams_have_no_ufrag_and_do_not_panic() {
        let good = binding_request(b"ours:theirs");
        for n in 0..good.len() {
            let _ = stun_local_ufrag(&good[..n]);
        }
        let mut response = good.clone();
        response[1] = 0x01;
        response[0] = 0x01; // binding success response
        assert_eq!(stun_local_ufrag(&response), None);
        assert_eq!(stun_local_ufrag(&[0x80, 0x60, 0, 1, 0, 0, 0, 0]), None);
        let mut lying = good;
        lying[3] = 0xff; // length beyond the datagram
        assert_eq!(stun_local_ufrag(&lying), None);
    }

    #[test]
    fn rooms_stay_on_one_worker_and_new_rooms_go_to_the_least_loaded() {
        let d = Directory::new(3);
        let a = d.reserve(RoomId(1), PeerId(1)).unwrap();
        assert_eq!(d.reserve(RoomId(1), PeerId(2)).unwrap(), a);
        let b = d.reserve(RoomId(2), PeerId(3)).unwrap();
        let c = d.reserve(RoomId(3), PeerId(4)).unwrap();
        assert!(a != b && b != c && a != c);
        assert!(matches!(
            d.reserve(RoomId(2), PeerId(3)),
            Err(Error::DuplicatePeer(_))
        ));
        d.forget(PeerId(1));
        d.forget(PeerId(2));
        assert_eq!(d.worker_of_room(RoomId(1)), None);
        assert_eq!(
            d.reserve(RoomId(9), PeerId(5)).unwrap(),
            a,
            "a's worker is empty again"
        );
    }

    #[test]
    fn addresses_follow_the_ufrag_and_go_with_the_peer() {
        let d = Directory::new(2);
        let src: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let w1 = d.reserve(RoomId(1), PeerId(1)).unwrap();
        d.confirm(PeerId(1), "v=0\r\na=ice-ufrag:aaaa\r\n");
        assert_eq!(d.route_udp(src, b"garbage"), None);
        assert_eq!(
            d.route_udp(src, &binding_request(b"zzzz:c")),
            None,
            "unknown ufrag"
        );
        assert_eq!(d.route_udp(src, &binding_request(b"aaaa:c")), Some(w1));
        assert_eq!(d.route_udp(src, b"media"), Some(w1));
        d.forget(PeerId(1));
        assert_eq!(d.route_count(), 0);
        assert_eq!(d.route_udp(src, b"media"), None);
        assert_eq!(d.unrouted.load(Ordering::Relaxed), 3);
    }
}
