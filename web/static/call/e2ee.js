// End-to-end encryption of the call's media, page side: the key manager (e2ee-keys.js) on the
// signalling `e2ee` relay, and the worker (e2ee-worker.js) that encrypts and decrypts frames.
// See docs/E2EE.md.

import { KeyManager } from './e2ee-keys.js';

/** After a key change, the new sending key is used this much later, so peers have it by then. */
const SWITCH_DELAY_MS = 500;

/** 'script-transform' (RTCRtpScriptTransform), 'encoded-streams' (older Chromium), or null. */
export function e2eeSupport() {
  if (typeof window === 'undefined' || typeof Worker === 'undefined') return null;
  if (typeof window.RTCRtpScriptTransform === 'function') return 'script-transform';
  if (
    window.RTCRtpSender &&
    typeof window.RTCRtpSender.prototype.createEncodedStreams === 'function' &&
    window.RTCRtpReceiver &&
    typeof window.RTCRtpReceiver.prototype.createEncodedStreams === 'function'
  ) {
    return 'encoded-streams';
  }
  return null;
}

export class MediaEncryption {
  /**
   * @param {object} opts
   * @param {function} opts.send sends a signalling message
   * @param {function} opts.onStatus called with `{ state, code, complete, participants }`
   */
  constructor({ send, onStatus }) {
    this.mode = e2eeSupport();
    if (!this.mode) throw new Error('e2ee unsupported');
    this.onStatus = onStatus || (() => {});
    this.worker = new Worker('/static/call/e2ee-worker.js', { type: 'module', name: 'confidant-e2ee' });
    this.worker.addEventListener('message', (e) => this.onWorkerMessage(e.data));
    this.worker.addEventListener('error', (e) => console.error('e2ee worker error', e.message || e));
    this.statsWaiters = new Map();
    this.seq = 0;
    this.nextId = 1;
    this.receivers = new WeakMap(); // RTCRtpReceiver -> transform id
    this.senders = new WeakSet();
    this.switchTimers = new Set();
    this.status = { state: 'pending', code: null, complete: false, participants: 1 };
    this.keys = new KeyManager({
      send: (payload, to) => send(to ? { type: 'e2ee', to, payload } : { type: 'e2ee', payload }),
      onSendKey: (kid, key) => this.useSendKey(kid, key),
      onPeerKey: (participant, kid, key) => this.post({ type: 'peerKey', participant, kid, key: key.buffer.slice(0) }),
      onPeerGone: (participant) => this.post({ type: 'peerGone', participant }),
      onChange: (s) => this.setStatus(s),
      onError: (e) => console.warn('e2ee key exchange:', e && e.message ? e.message : e),
    });
  }

  /** RTCPeerConnection options this mode needs. */
  pcConfig() {
    return this.mode === 'encoded-streams' ? { encodedInsertableStreams: true } : {};
  }

  post(msg, transfer) {
    this.worker.postMessage(msg, transfer || []);
  }

  useSendKey(kid, key) {
    const msg = { type: 'sendKey', kid, key: key.buffer.slice(0) };
    if (kid === 0) {
      this.post(msg);
      return;
    }
    const timer = setTimeout(() => {
      this.switchTimers.delete(timer);
      this.post(msg);
    }, SWITCH_DELAY_MS);
    this.switchTimers.add(timer);
  }

  setStatus(s) {
    this.status = { state: s.complete ? 'on' : 'pending', code: s.code, complete: s.complete, participants: s.participants };
    this.onStatus(this.status);
  }

  // -------------------------------------------------------------- roster and relay
  // (failures are reported by the key manager's onError; the returned promises never reject)

  start(selfId, room, memberIds) {
    return this.keys.start(selfId, room, memberIds).catch(() => {});
  }

  memberJoined(id) {
    return this.keys.memberJoined(id).catch(() => {});
  }

  memberLeft(id) {
    return this.keys.memberLeft(id).catch(() => {});
  }

  handleMessage(msg) {
    if (!msg || typeof msg.payload !== 'string' || !msg.from) return Promise.resolve();
    return this.keys.handleMessage(msg.from, msg.payload).catch(() => {});
  }

  // -------------------------------------------------------------- transforms

  attach(endpoint, options) {
    if (this.mode === 'script-transform') {
      endpoint.transform = new window.RTCRtpScriptTransform(this.worker, options);
    } else {
      const { readable, writable } = endpoint.createEncodedStreams();
      this.post({ type: 'streams', readable, writable, options }, [readable, writable]);
    }
  }

  /** Encrypts everything `sender` sends (call before negotiating). */
  attachSender(sender, kind) {
    if (this.senders.has(sender)) return;
    this.senders.add(sender);
    this.attach(sender, { side: 'send', kind, id: `s${this.nextId++}` });
  }

  /** Decrypts what `receiver` gets, with the keys of `participant`. */
  attachReceiver(receiver, kind, participant) {
    const known = this.receivers.get(receiver);
    if (known) {
      if (known.participant !== participant) {
        known.participant = participant;
        this.post({ type: 'bind', id: known.id, participant });
      }
      return;
    }
    const id = `r${this.nextId++}`;
    this.receivers.set(receiver, { id, participant });
    this.attach(receiver, { side: 'receive', kind, participant, id });
  }

  /** Frames pass unencrypted both ways while `on` (someone in the room cannot encrypt). */
  setPlain(on) {
    this.post({ type: 'plain', on: !!on });
  }

  /**
   * Test hook: from now on this page decrypts with random keys of the right KIDs, as if it had
   * been given wrong keys. It can only break this page's own decryption.
   */
  testOnlyUseWrongKeys() {
    this.post({ type: 'testOnlyUseWrongKeys' });
  }

  /** The worker's counters (frames encrypted, decrypted, dropped …). */
  stats(timeoutMs = 2000) {
    const seq = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.statsWaiters.delete(seq);
        resolve(null);
      }, timeoutMs);
      this.statsWaiters.set(seq, (s) => {
        clearTimeout(timer);
        resolve(s);
      });
      this.post({ type: 'stats', seq });
    });
  }

  onWorkerMessage(msg) {
    if (!msg) return;
    if (msg.type === 'stats') {
      const w = this.statsWaiters.get(msg.seq);
      if (w) {
        this.statsWaiters.delete(msg.seq);
        w(msg.stats);
      }
    } else if (msg.type === 'error') {
      console.warn('e2ee worker:', msg.message);
    }
  }

  close() {
    for (const t of this.switchTimers) clearTimeout(t);
    this.switchTimers.clear();
    this.worker.terminate();
  }
}
