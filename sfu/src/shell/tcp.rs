//! ICE-TCP (RFC 6544, passive; framing RFC 4571): the accept loop and one task per connection.
//!
//! These tasks run on the runtime that called [`start`](super::start). A connection's first
//! frame must be a STUN binding request whose USERNAME names a peer's ufrag; it picks the worker
//! the connection's frames go to from then on (its [`TcpEvent`] queue). A connection whose first
//! frame names no peer, that sends nothing for [`TCP_FIRST_FRAME_TIMEOUT`], or that sends a
//! frame longer than a datagram is closed; at most [`MAX_TCP_CONNECTIONS`] are open at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::directory::Directory;
use super::RECV_BUFFER_SIZE;
use crate::error::Error;

/// Most ICE-TCP connections open at once; further ones are closed at once.
pub const MAX_TCP_CONNECTIONS: usize = 1024;
/// An ICE-TCP connection must send its first frame (a STUN binding request) within this.
pub const TCP_FIRST_FRAME_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Frames queued towards one ICE-TCP connection; more are dropped (as UDP would lose them).
const TCP_SEND_QUEUE: usize = 512;
/// Frames from all ICE-TCP connections queued to one worker.
pub(super) const TCP_RECV_QUEUE: usize = 1024;

/// What the ICE-TCP connection tasks tell the worker that owns the connection.
pub(super) enum TcpEvent {
    Open {
        remote: SocketAddr,
        frames: mpsc::Sender<Vec<u8>>,
    },
    Frame {
        remote: SocketAddr,
        bytes: Vec<u8>,
    },
    Closed {
        remote: SocketAddr,
    },
}

/// Binds the ICE-TCP listener; port 0 means the UDP port's number, or any if it is taken.
pub(super) async fn bind_tcp(bind: SocketAddr, udp_port: u16) -> Result<TcpListener, Error> {
    if bind.port() == 0 {
        if let Ok(l) = TcpListener::bind(SocketAddr::new(bind.ip(), udp_port)).await {
            return Ok(l);
        }
    }
    TcpListener::bind(bind)
        .await
        .map_err(|source| Error::Bind { addr: bind, source })
}

/// Accepts ICE-TCP connections until the workers are gone. `workers[i]` is worker `i`'s queue.
pub(super) async fn accept_tcp(
    listener: TcpListener,
    directory: Arc<Directory>,
    workers: Arc<[mpsc::Sender<TcpEvent>]>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!("ICE-TCP accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if workers.iter().all(|w| w.is_closed()) {
            return;
        }
        if open.load(Ordering::Relaxed) >= MAX_TCP_CONNECTIONS {
            tracing::debug!("too many ICE-TCP connections: closing a new one");
            continue;
        }
        let _ = stream.set_nodelay(true);
        open.fetch_add(1, Ordering::Relaxed);
        let (directory, workers, open) = (directory.clone(), workers.clone(), open.clone());
        tokio::spawn(async move {
            let mut owner = None;
            serve_tcp(stream, remote, &directory, &workers, &mut owner).await;
            if let Some(events) = owner {
                let _ = events.send(TcpEvent::Closed { remote }).await;
            }
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Takes complete RFC 4571 frames (16-bit big-endian length, then the datagram) off the front
/// of `buf`. `Err` for a frame longer than a datagram can be.
pub(super) fn take_frames(buf: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) -> Result<(), ()> {
    let mut at = 0;
    while let Some(head) = buf.get(at..at + 2) {
        let len = usize::from(u16::from_be_bytes([head[0], head[1]]));
        if len > RECV_BUFFER_SIZE {
            return Err(());
        }
        let Some(frame) = buf.get(at + 2..at + 2 + len) else {
            break;
        };
        out.push(frame.to_vec());
        at += 2 + len;
    }
    buf.drain(..at);
    Ok(())
}

/// One ICE-TCP connection: frames in to its worker (`owner`, chosen by the first frame),
/// frames out from it.
async fn serve_tcp(
    mut stream: TcpStream,
    remote: SocketAddr,
    directory: &Directory,
    workers: &[mpsc::Sender<TcpEvent>],
    owner: &mut Option<mpsc::Sender<TcpEvent>>,
) {
    let (tx, mut outgoing) = mpsc::channel::<Vec<u8>>(TCP_SEND_QUEUE);
    let mut tx = Some(tx);
    let mut buf = Vec::with_capacity(4 * RECV_BUFFER_SIZE);
    let mut chunk = vec![0u8; 4 * RECV_BUFFER_SIZE];
    let mut frames = Vec::new();
    let first_deadline = tokio::time::Instant::now() + TCP_FIRST_FRAME_TIMEOUT;
    loop {
        tokio::select! {
            read = stream.read(&mut chunk) => {
                let n = match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                if take_frames(&mut buf, &mut frames).is_err() {
                    tracing::debug!("ICE-TCP frame too long: closing");
                    return;
                }
                for bytes in frames.drain(..) {
                    let events = match owner {
                        Some(events) => events,
                        None => {
                            let Some(events) = directory
                                .route_tcp_first_frame(&bytes)
                                .and_then(|w| workers.get(w))
                            else {
                                tracing::debug!("ICE-TCP first frame names no peer: closing");
                                return;
                            };
                            let Some(frames) = tx.take() else { return };
                            if events.send(TcpEvent::Open { remote, frames }).await.is_err() {
                                return;
                            }
                            owner.insert(events.clone())
                        }
                    };
                    if events.send(TcpEvent::Frame { remote, bytes }).await.is_err() {
                        return;
                    }
                }
            }
            out = outgoing.recv() => {
                // None: the worker closed this connection.
                let Some(bytes) = out else { return };
                let Ok(len) = u16::try_from(bytes.len()) else { continue };
                let mut framed = Vec::with_capacity(bytes.len() + 2);
                framed.extend_from_slice(&len.to_be_bytes());
                framed.extend_from_slice(&bytes);
                if stream.write_all(&framed).await.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep_until(first_deadline), if owner.is_none() => {
                tracing::debug!("ICE-TCP connection sent nothing: closing");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_at_their_length_prefix_and_partial_ones_wait() {
        let mut buf = vec![0, 3, b'a', b'b', b'c', 0, 0, 0, 2, b'x'];
        let mut out = Vec::new();
        take_frames(&mut buf, &mut out).unwrap();
        assert_eq!(out, vec![b"abc".to_vec(), Vec::new()]);
        assert_eq!(buf, vec![0, 2, b'x']);
        buf.push(b'y');
        buf.push(0);
        take_frames(&mut buf, &mut out).unwrap();
        assert_eq!(out.last().unwrap(), b"xy");
        assert_eq!(buf, vec![0]);
    }

    #[test]
    fn a_frame_longer_than_a_datagram_is_refused() {
        let len = u16::try_from(RECV_BUFFER_SIZE + 1).unwrap().to_be_bytes();
        let mut buf = vec![len[0], len[1], 1, 2, 3];
        assert!(take_frames(&mut buf, &mut Vec::new()).is_err());
    }
}
