// Websocket client for /ws: JSON messages with a `type` tag (see signaling/src/protocol.rs).
// Pings every 10 s; after an unexpected drop it reconnects and sends `resume` for up to 30 s.

const PING_INTERVAL_MS = 10_000;
const RESUME_WINDOW_MS = 30_000;
/** Server messages after which the server closes the connection for good. */
const FINAL_TYPES = new Set(['session_ended', 'rejected', 'removed']);
/** Error codes after which reconnecting makes no sense. */
const FINAL_ERRORS = new Set(['unsupported_version', 'replaced', 'resume_failed', 'too_large', 'link_invalid']);

/** The websocket URL: the server's `data-ws-url` (from its public URL), else derived from location. */
export function wsUrl(path = '/ws') {
  const fromServer = document.body && document.body.dataset.wsUrl;
  if (fromServer && /^wss?:\/\//.test(fromServer)) return fromServer;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${path}`;
}

/**
 * Events: every server message under its `type`, and under `message`; `state` with one of
 * `idle`, `connecting`, `open`, `reconnecting`, `closed`; `lost` when the connection is gone and
 * cannot be resumed; `resumed` after a successful resume (the server's `joined` follows as a
 * normal message).
 */
export class Signaling {
  constructor({ url = wsUrl(), version = 1 } = {}) {
    this.url = url;
    this.version = version;
    this.ws = null;
    this.state = 'idle';
    this.listeners = new Map();
    this.participantId = null;
    this.resumeToken = null;
    this.final = false; // closed on purpose or by a final server message: never reconnect
    this.pingTimer = null;
    this.reconnectTimer = null;
    this.dropAt = 0;
    this.attempt = 0;
    this.resuming = false;
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) {
    const set = this.listeners.get(type);
    if (set) set.delete(fn);
  }

  emit(type, payload) {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(payload);
      } catch (e) {
        console.error('signaling listener failed', type, e);
      }
    }
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  /** Opens the websocket; resolves once it is open, rejects if it cannot be opened. */
  connect() {
    if (this.ws && (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)) {
      return this.openPromise;
    }
    this.final = false;
    this.setState('connecting');
    this.openPromise = new Promise((resolve, reject) => {
      this.openSocket(resolve, reject);
    });
    return this.openPromise;
  }

  openSocket(resolve, reject) {
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      if (reject) reject(e);
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.addEventListener('open', () => {
      if (this.ws !== ws) return;
      opened = true;
      this.attempt = 0;
      this.startPing();
      if (this.resuming) {
        this.send({
          type: 'resume',
          v: this.version,
          participant_id: this.participantId,
          resume_token: this.resumeToken,
        });
      } else {
        this.setState('open');
      }
      if (resolve) resolve();
    });
    ws.addEventListener('message', (event) => {
      if (this.ws !== ws) return;
      if (typeof event.data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        console.warn('signaling: ignoring a frame that is not JSON');
        return;
      }
      if (!msg || typeof msg.type !== 'string') return;
      this.handleMessage(msg);
    });
    ws.addEventListener('close', (event) => {
      if (this.ws !== ws) return;
      this.stopPing();
      if (!opened && reject) reject(new Error('websocket could not be opened'));
      this.handleClose(event);
    });
    ws.addEventListener('error', () => {
      // a close event always follows
    });
  }

  handleMessage(msg) {
    if (msg.type === 'joined') {
      this.participantId = msg.participant_id;
      this.resumeToken = msg.resume_token;
      if (this.resuming) {
        this.resuming = false;
        this.setState('open');
        this.emit('resumed', msg);
      }
    }
    if (FINAL_TYPES.has(msg.type)) this.final = true;
    if (msg.type === 'error') {
      if (FINAL_ERRORS.has(msg.code)) this.final = true;
      if (this.resuming && msg.code === 'resume_failed') {
        this.resuming = false;
      }
    }
    this.emit('message', msg);
    this.emit(msg.type, msg);
  }

  handleClose() {
    this.ws = null;
    const canResume = !this.final && this.participantId && this.resumeToken;
    if (!canResume) {
      this.resuming = false;
      this.setState('closed');
      if (!this.final) this.emit('lost', { reason: 'closed' });
      return;
    }
    if (!this.resuming) {
      this.resuming = true;
      this.dropAt = Date.now();
    }
    if (Date.now() - this.dropAt > RESUME_WINDOW_MS) {
      this.resuming = false;
      this.setState('closed');
      this.emit('lost', { reason: 'timeout' });
      return;
    }
    this.setState('reconnecting');
    const delay = Math.min(500 * 2 ** this.attempt, 4000);
    this.attempt += 1;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      if (this.final) return;
      this.openSocket(null, null);
    }, delay);
  }

  startPing() {
    this.stopPing();
    this.pingTimer = setInterval(() => this.send({ type: 'ping' }), PING_INTERVAL_MS);
  }

  stopPing() {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  /** Sends a message; returns false if the socket is not open. */
  send(msg) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  /** Closes for good (no reconnect). */
  close() {
    this.final = true;
    this.resuming = false;
    clearTimeout(this.reconnectTimer);
    this.stopPing();
    const ws = this.ws;
    this.ws = null;
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) {
      try {
        ws.close(1000, 'bye');
      } catch {
        // ignore
      }
    }
    this.setState('closed');
  }

  /** The websocket's readyState (3 = CLOSED when there is none), for tests. */
  get readyState() {
    return this.ws ? this.ws.readyState : WebSocket.CLOSED;
  }
}
