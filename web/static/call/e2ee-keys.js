// End-to-end key management for media (see docs/E2EE.md).
//
// Every participant has an ECDH P-256 identity key pair (made per call, never leaves the page)
// and its own SFrame sending key (16 random bytes, with a KID). Sending keys travel only inside
// `e2ee` signalling messages, wrapped per recipient with AES-256-GCM under a key derived by
// HKDF-SHA256 from the ECDH shared secret of sender and recipient; the server relays opaque
// base64 and never holds a media key. The safety code is a hash over every participant's id and
// public key: identical on every screen when nobody swapped keys in between.
//
// Pure logic (WebCrypto only): runs in pages and in Node (tests/e2e/e2ee-keys.test.mjs).

const subtle = globalThis.crypto.subtle;
const te = new TextEncoder();
const td = new TextDecoder();

/** Version of the payload format (`v`). */
export const E2EE_VERSION = 1;
/** Byte length of a sending (SFrame base) key. */
export const SEND_KEY_BYTES = 16;
/** The largest payload the signalling relay accepts. */
export const MAX_PAYLOAD = 16 * 1024;

const WRAP_LABEL = 'confidant e2ee v1 key wrap';
const SAFETY_LABEL = 'confidant e2ee v1 safety code';

// ------------------------------------------------------------------ bytes

export function b64encode(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

export function b64decode(str) {
  if (typeof str !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(str)) throw new Error('not base64');
  const s = atob(str);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** 4-byte big-endian length, then the bytes (strings as UTF-8): unambiguous concatenation. */
function lp(x) {
  const b = typeof x === 'string' ? te.encode(x) : x;
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, b.length);
  return concat(len, b);
}

function equalBytes(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ------------------------------------------------------------------ identity and wrapping

/** A new ECDH P-256 identity: `{ privateKey, publicKey, publicRaw }` (raw = 65-byte point). */
export async function generateIdentity() {
  const pair = await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
  const publicRaw = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
  return { privateKey: pair.privateKey, publicKey: pair.publicKey, publicRaw };
}

/** Imports a peer's raw public key; throws unless it is a valid uncompressed P-256 point. */
export async function importPublicKey(raw) {
  if (!(raw instanceof Uint8Array) || raw.length !== 65 || raw[0] !== 4) throw new Error('bad public key');
  return subtle.importKey('raw', raw, { name: 'ECDH', namedCurve: 'P-256' }, true, []);
}

/** A fresh sending key: 16 random bytes. */
export function randomSendKey() {
  return globalThis.crypto.getRandomValues(new Uint8Array(SEND_KEY_BYTES));
}

/** HKDF info (also the AES-GCM AAD) binding room, both ids and both public keys. */
function wrapInfo({ room, senderId, recipientId, senderPublicRaw, recipientPublicRaw }) {
  return concat(te.encode(WRAP_LABEL), lp(room), lp(senderId), lp(recipientId), lp(senderPublicRaw), lp(recipientPublicRaw));
}

async function wrapKeyFor(ownPrivateKey, peerPublicKey, info) {
  const shared = await subtle.deriveBits({ name: 'ECDH', public: peerPublicKey }, ownPrivateKey, 256);
  const ikm = await subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey']);
  return subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(32), info },
    ikm,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/**
 * Wraps sending key `key` with KID `kid` for one recipient: base64(iv(12) || AES-GCM(kid(8) ||
 * key)). Only the holder of the recipient's private key (or the sender's) can unwrap it, and
 * only for this room and these two participant ids.
 */
export async function wrapKey({ identity, senderId, recipientId, recipientPublicRaw, room, kid, key }) {
  const peer = await importPublicKey(recipientPublicRaw);
  const info = wrapInfo({ room, senderId, recipientId, senderPublicRaw: identity.publicRaw, recipientPublicRaw });
  const aes = await wrapKeyFor(identity.privateKey, peer, info);
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const pt = new Uint8Array(8 + key.length);
  new DataView(pt.buffer).setBigUint64(0, BigInt(kid));
  pt.set(key, 8);
  const ct = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: info }, aes, pt));
  return b64encode(concat(iv, ct));
}

/** Unwraps a blob from `wrapKey`: `{ kid, key }` (kid a Number); throws if it is not for us. */
export async function unwrapKey({ identity, senderId, senderPublicRaw, recipientId, room, blob }) {
  const raw = b64decode(blob);
  if (raw.length !== 12 + 8 + SEND_KEY_BYTES + 16) throw new Error('bad wrapped key');
  const peer = await importPublicKey(senderPublicRaw);
  const info = wrapInfo({ room, senderId, recipientId, senderPublicRaw, recipientPublicRaw: identity.publicRaw });
  const aes = await wrapKeyFor(identity.privateKey, peer, info);
  const pt = new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: raw.subarray(0, 12), additionalData: info }, aes, raw.subarray(12)));
  const kid = new DataView(pt.buffer).getBigUint64(0);
  if (kid > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('KID out of range');
  return { kid: Number(kid), key: pt.slice(8) };
}

// ------------------------------------------------------------------ payloads

/** `e2ee` payload: base64 of the JSON object (with `v`). */
export function encodePayload(obj) {
  return b64encode(te.encode(JSON.stringify({ v: E2EE_VERSION, ...obj })));
}

/** Parses a payload; throws on anything but a version-1 object of a known type. */
export function decodePayload(payload) {
  const obj = JSON.parse(td.decode(b64decode(payload)));
  if (!obj || typeof obj !== 'object' || obj.v !== E2EE_VERSION) throw new Error('unsupported e2ee payload version');
  if (obj.t !== 'hello' && obj.t !== 'key') throw new Error('unknown e2ee payload type');
  if (typeof obj.pub !== 'string') throw new Error('e2ee payload without public key');
  if (obj.t === 'key' && (!obj.keys || typeof obj.keys !== 'object')) throw new Error('key payload without keys');
  return obj;
}

// ------------------------------------------------------------------ safety code

/**
 * The safety code for a set of participants `[{ id, publicRaw }]`: SHA-256 over the label and
 * the entries sorted by id (each length-prefixed id and public key); shown as 6 groups of 5
 * digits (each group = 5 bytes of the hash, big-endian, modulo 100000). Order of the input does
 * not matter; any id or key added, removed or changed gives another code.
 */
export async function safetyCode(entries) {
  const sorted = [...entries].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].id === sorted[i - 1].id) throw new Error(`participant ${sorted[i].id} twice`);
  }
  const data = concat(te.encode(SAFETY_LABEL), lp(String(sorted.length)), ...sorted.flatMap((e) => [lp(String(e.id)), lp(e.publicRaw)]));
  const hash = new Uint8Array(await subtle.digest('SHA-256', data));
  const groups = [];
  for (let g = 0; g < 6; g++) {
    let v = 0;
    for (let i = 0; i < 5; i++) v = v * 256 + hash[g * 5 + i];
    groups.push(String(v % 100000).padStart(5, '0'));
  }
  return groups.join(' ');
}

// ------------------------------------------------------------------ the manager

/**
 * Keys of one call. The caller feeds it the roster and `e2ee` messages and gets callbacks:
 *
 * - `send(payload, to)` — send an `e2ee` message (`to` undefined: to all others);
 * - `onSendKey(kid, key)` — a new sending key to encrypt with from now on;
 * - `onPeerKey(participantId, kid, key)` — a participant's sending key, for decryption;
 * - `onPeerGone(participantId)` — forget that participant's keys;
 * - `onChange()` — the safety code or the completeness changed (read `status()`).
 *
 * Policy: a new sending key (new KID) whenever someone joins or leaves; a newcomer's key arrives
 * once its public key is known (its `hello`). Operations run one at a time, in arrival order.
 */
export class KeyManager {
  constructor({ send, onSendKey, onPeerKey, onPeerGone, onChange, onError } = {}) {
    this.sendFn = send || (() => {});
    this.onSendKey = onSendKey || (() => {});
    this.onPeerKey = onPeerKey || (() => {});
    this.onPeerGone = onPeerGone || (() => {});
    this.onChange = onChange || (() => {});
    this.onError = onError || ((e) => console.warn('e2ee:', e));
    this.identity = null;
    this.selfId = null;
    this.room = null;
    this.members = new Set(); // the others in the room (server roster)
    this.peers = new Map(); // participant id -> { publicRaw, newestKid }
    this.gone = new Set(); // ids that left: late messages from them are ignored
    this.sendKey = null; // { kid, key }
    this.nextKid = 0;
    this.queue = Promise.resolve();
    this.code = null;
    this.complete = false;
    this.rotations = 0;
  }

  run(task) {
    const p = this.queue.then(task);
    this.queue = p.catch((e) => this.onError(e));
    return p;
  }

  /** Our identity (made once per manager); await before anything else. */
  async init() {
    if (!this.identity) this.identity = await generateIdentity();
    return this.identity;
  }

  /**
   * We are in the room as `selfId` with the others `memberIds` (after `joined`; again after a
   * resume). Makes the first sending key, or a new one if the roster changed meanwhile, and
   * announces our public key to everyone.
   */
  start(selfId, room, memberIds) {
    return this.run(async () => {
      await this.init();
      const first = !this.sendKey;
      this.selfId = String(selfId);
      this.room = String(room);
      const next = new Set([...memberIds].map(String).filter((id) => id !== this.selfId));
      let changed = false;
      for (const id of [...this.members]) {
        if (!next.has(id)) {
          this.dropPeer(id);
          changed = true;
        }
      }
      for (const id of next) if (!this.members.has(id)) changed = true;
      this.members = next;
      if (first || changed) await this.newSendKey(!first);
      this.send({ t: 'hello', pub: b64encode(this.identity.publicRaw) });
      await this.updateCode();
    });
  }

  /** Someone joined: new sending key for all (the newcomer gets it after its hello). */
  memberJoined(id) {
    return this.run(async () => {
      id = String(id);
      if (id === this.selfId || !this.sendKey) return;
      if (!this.members.has(id)) this.members.add(id);
      await this.newSendKey(true);
      await this.updateCode();
    });
  }

  /** Someone left: forget its keys, new sending key for the rest. */
  memberLeft(id) {
    return this.run(async () => {
      id = String(id);
      this.gone.add(id);
      if (!this.members.has(id) && !this.peers.has(id)) return;
      this.members.delete(id);
      this.dropPeer(id);
      if (this.sendKey) await this.newSendKey(true);
      await this.updateCode();
    });
  }

  /** An `e2ee` message relayed from participant `from`. */
  handleMessage(from, payload) {
    return this.run(async () => {
      if (!this.sendKey) return; // not started: the sender hears our hello later and resends
      from = String(from);
      if (from === this.selfId || this.gone.has(from)) return;
      const msg = decodePayload(payload);
      const publicRaw = b64decode(msg.pub);
      await importPublicKey(publicRaw); // validates the point
      if (!this.members.has(from)) this.members.add(from); // the server relays only from the room
      const known = this.peers.get(from);
      const isNew = !known || !equalBytes(known.publicRaw, publicRaw);
      if (isNew) {
        if (known) this.onPeerGone(from); // a new identity for the same id: old keys are void
        this.peers.set(from, { publicRaw, newestKid: -1 });
      }
      if (msg.t === 'key') {
        const blob = msg.keys[this.selfId];
        if (typeof blob === 'string') {
          const { kid, key } = await unwrapKey({
            identity: this.identity,
            senderId: from,
            senderPublicRaw: publicRaw,
            recipientId: this.selfId,
            room: this.room,
            blob,
          });
          const peer = this.peers.get(from);
          if (kid >= peer.newestKid) {
            peer.newestKid = kid;
            this.onPeerKey(from, kid, key);
          }
        }
      }
      // A hello asks for our key; a key message from a public key new to us is answered with
      // ours (which carries our public key), so both sides end up with each other's keys.
      if (msg.t === 'hello' || isNew) await this.sendKeyTo([from]);
      await this.updateCode();
    });
  }

  /** `{ code, complete, participants }`; `complete` once every member's public key is known. */
  status() {
    return { code: this.code, complete: this.complete, participants: this.members.size + 1, kid: this.sendKey ? this.sendKey.kid : null };
  }

  // -------------------------------------------------------------- internals

  send(obj, to) {
    const payload = encodePayload(obj);
    if (payload.length > MAX_PAYLOAD) throw new Error('e2ee payload too large');
    this.sendFn(payload, to);
  }

  dropPeer(id) {
    if (this.peers.delete(id)) this.onPeerGone(id);
  }

  async newSendKey(distribute) {
    const kid = this.nextKid++;
    const key = randomSendKey();
    this.sendKey = { kid, key };
    if (kid > 0) this.rotations++;
    this.onSendKey(kid, key);
    if (distribute) await this.sendKeyTo([...this.members].filter((id) => this.peers.has(id)), true);
  }

  /** Sends our current key wrapped for `ids` (one message; to everyone when `broadcast`). */
  async sendKeyTo(ids, broadcast = false) {
    if (!ids.length || !this.sendKey) return;
    const keys = {};
    for (const id of ids) {
      const peer = this.peers.get(id);
      if (!peer) continue;
      keys[id] = await wrapKey({
        identity: this.identity,
        senderId: this.selfId,
        recipientId: id,
        recipientPublicRaw: peer.publicRaw,
        room: this.room,
        kid: this.sendKey.kid,
        key: this.sendKey.key,
      });
    }
    const msg = { t: 'key', pub: b64encode(this.identity.publicRaw), keys };
    if (broadcast || ids.length > 1) this.send(msg);
    else this.send(msg, ids[0]);
  }

  async updateCode() {
    const entries = [{ id: this.selfId, publicRaw: this.identity.publicRaw }];
    let complete = true;
    for (const id of this.members) {
      const peer = this.peers.get(id);
      if (peer) entries.push({ id, publicRaw: peer.publicRaw });
      else complete = false;
    }
    const code = await safetyCode(entries);
    if (code !== this.code || complete !== this.complete) {
      this.code = code;
      this.complete = complete;
      this.onChange(this.status());
    }
  }
}
