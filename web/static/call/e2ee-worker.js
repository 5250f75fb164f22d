// Media encryption worker: SFrame (RFC 9605, AES_128_GCM_SHA256_128) on every outgoing audio
// and video frame, decryption of every incoming one. Frames reach it through
// RTCRtpScriptTransform (`rtctransform` events) or, in older Chromium, as streams from
// createEncodedStreams() posted by the page. Keys come from the page (e2ee.js); see
// docs/E2EE.md for the frame layout.

import { CipherSuite, importKey, encrypt, decrypt, decodeHeader } from './sframe.js';

const SUITE = CipherSuite.AES_128_GCM_SHA256_128;
/** Keys kept per sender: the current one and earlier ones for frames still in flight. */
const KEEP_KEYS = 3;
/** Earlier keys of a sender are forgotten this long after a newer one arrived. */
const OLD_KEY_MS = 10_000;

/**
 * Bytes at the start of a frame that stay in clear (and are authenticated as SFrame metadata):
 * for VP8 the payload header the RTP packetizer/depacketizer and the SFU read (10 bytes of a key
 * frame: frame tag, start code, size; 3 of a delta frame: the frame tag); nothing for audio.
 */
export function clearBytes(kind, data) {
  if (kind !== 'video' || data.length === 0) return 0;
  return (data[0] & 0x01) === 0 ? 10 : 3;
}

/** A VP8 key frame: bit 0 of the frame tag is 0. */
function isKeyFrame(data) {
  return data.length > 0 && (data[0] & 0x01) === 0;
}

/**
 * The first plaintext bytes (after the clear prefix) of the first few outgoing frames, so the
 * browser tests can check that none of them ever reaches the SFU. A handful of bytes of the
 * page's own media, kept inside the page; nothing is sent anywhere.
 */
const PLAIN_SAMPLES = 40;
const SAMPLE_BYTES = 16;

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

const state = {
  plainSamples: [],
  /** Test hook: decrypt with wrong keys from now on (proves a wrong key decodes nothing). */
  wrongKeys: false,
  /**
   * Someone in the room cannot encrypt (their counsellor allowed it): frames pass unchanged in
   * both directions until they leave. The page shows the room as not end-to-end encrypted.
   */
  plain: false,
  send: null, // { kid, ctx, ctr }
  recv: new Map(), // participant id -> Map(kid -> { ctx, added, expires })
  transforms: new Map(), // id -> { id, side, kind, participant, transformer }
  nextId: 1,
  stats: {
    encrypted: 0,
    decrypted: 0,
    droppedNoSendKey: 0,
    passedPlain: 0,
    droppedUnknownKid: 0,
    droppedFailed: 0,
    droppedMalformed: 0,
    keyframesGenerated: 0,
    keyframesRequested: 0,
    keyFrameApi: null,
    byParticipant: {}, // pid -> { decrypted, unknownKid, failed, lastKid }
  },
};

function pstats(pid) {
  let s = state.stats.byParticipant[pid];
  if (!s) {
    s = { decrypted: 0, unknownKid: 0, failed: 0, lastKid: null };
    state.stats.byParticipant[pid] = s;
  }
  return s;
}

// ------------------------------------------------------------------ frames

async function encryptFrame(frame, controller, t) {
  if (state.plain) {
    state.stats.passedPlain++;
    controller.enqueue(frame);
    return;
  }
  const s = state.send;
  if (!s) {
    // never send media in clear: without a key the frame is dropped
    state.stats.droppedNoSendKey++;
    return;
  }
  const data = new Uint8Array(frame.data);
  const n = Math.min(clearBytes(t.kind, data), data.length);
  if (state.plainSamples.length < PLAIN_SAMPLES && data.length >= n + SAMPLE_BYTES) {
    state.plainSamples.push({ kind: t.kind, hex: toHex(data.subarray(n, n + SAMPLE_BYTES)) });
  }
  const ctr = s.ctr++;
  const sframe = await encrypt(s.ctx, ctr, data.subarray(n), data.subarray(0, n));
  const out = new Uint8Array(n + sframe.length);
  out.set(data.subarray(0, n));
  out.set(sframe, n);
  frame.data = out.buffer;
  state.stats.encrypted++;
  controller.enqueue(frame);
}

async function decryptFrame(frame, controller, t) {
  if (state.plain) {
    state.stats.passedPlain++;
    controller.enqueue(frame);
    return;
  }
  const data = new Uint8Array(frame.data);
  const pid = t.participant;
  if (data.length === 0) return;
  const n = Math.min(clearBytes(t.kind, data), data.length);
  let header;
  try {
    header = decodeHeader(data, n);
  } catch {
    state.stats.droppedMalformed++;
    return;
  }
  const keys = pid ? state.recv.get(pid) : null;
  const entry = keys && keys.get(Number(header.kid));
  const ps = pstats(pid);
  if (!entry) {
    // a key we do not (yet, or any more) have: drop, never pass ciphertext to the decoder
    state.stats.droppedUnknownKid++;
    ps.unknownKid++;
    t.needKeyFrame = true;
    return;
  }
  let plain = null;
  let prefix = n;
  try {
    plain = await decrypt(entry.ctx, data.subarray(n), data.subarray(0, n));
  } catch {
    // a frame shorter than its clear prefix was sent with a shorter one
    for (let k = n - 1; k >= 0 && !plain; k--) {
      try {
        plain = await decrypt(entry.ctx, data.subarray(k), data.subarray(0, k));
        prefix = k;
      } catch {
        // keep trying shorter prefixes
      }
    }
  }
  if (!plain) {
    state.stats.droppedFailed++;
    ps.failed++;
    t.needKeyFrame = true;
    return;
  }
  // The sender switched keys, or frames were dropped before: a delta frame alone may not
  // decode, so ask the sender (through the SFU) for a keyframe.
  const kid = Number(header.kid);
  if (t.kind === 'video' && (t.needKeyFrame || (t.lastKid !== null && t.lastKid !== kid))) {
    if (!isKeyFrame(prefix ? data : plain)) requestKeyFrame(t);
    t.needKeyFrame = false;
  }
  t.lastKid = kid;
  const out = new Uint8Array(prefix + plain.length);
  out.set(data.subarray(0, prefix));
  out.set(plain, prefix);
  frame.data = out.buffer;
  state.stats.decrypted++;
  ps.decrypted++;
  ps.lastKid = kid;
  controller.enqueue(frame);
}

function setup(readable, writable, options, transformer) {
  const t = {
    id: options.id || `w${state.nextId++}`,
    side: options.side,
    kind: options.kind,
    participant: options.participant ? String(options.participant) : null,
    transformer: transformer || null,
    lastKid: null,
    needKeyFrame: false,
  };
  state.transforms.set(t.id, t);
  const fn = t.side === 'send' ? encryptFrame : decryptFrame;
  const stream = new TransformStream({
    transform: (frame, controller) =>
      fn(frame, controller, t).catch(() => {
        state.stats.droppedFailed++;
      }),
  });
  readable
    .pipeThrough(stream)
    .pipeTo(writable)
    .catch(() => {})
    .finally(() => state.transforms.delete(t.id));
  if (t.side === 'receive' && t.kind === 'video' && t.participant && state.recv.has(t.participant)) requestKeyFrame(t);
}

// RTCRtpScriptTransform
self.addEventListener('rtctransform', (event) => {
  const tr = event.transformer;
  state.stats.keyFrameApi = {
    generateKeyFrame: typeof tr.generateKeyFrame === 'function',
    sendKeyFrameRequest: typeof tr.sendKeyFrameRequest === 'function',
  };
  setup(tr.readable, tr.writable, tr.options || {}, tr);
});

// ------------------------------------------------------------------ keyframes

function requestKeyFrame(t) {
  const tr = t.transformer;
  if (!tr) return;
  try {
    if (t.side === 'send' && typeof tr.generateKeyFrame === 'function') {
      state.stats.keyframesGenerated++;
      Promise.resolve(tr.generateKeyFrame()).catch(() => {});
    } else if (t.side === 'receive' && typeof tr.sendKeyFrameRequest === 'function') {
      state.stats.keyframesRequested++;
      Promise.resolve(tr.sendKeyFrameRequest()).catch(() => {});
    }
  } catch {
    // not supported here: the SFU asks the sender for keyframes after loss anyway
  }
}

function forTransforms(pred, fn) {
  for (const t of state.transforms.values()) if (pred(t)) fn(t);
}

// ------------------------------------------------------------------ keys

function pruneKeys(pid) {
  const keys = state.recv.get(pid);
  if (!keys) return;
  const now = Date.now();
  const newest = Math.max(...keys.keys());
  for (const [kid, e] of [...keys]) {
    if (kid !== newest && e.expires && e.expires < now) keys.delete(kid);
  }
  const kids = [...keys.keys()].sort((a, b) => a - b);
  while (kids.length > KEEP_KEYS) keys.delete(kids.shift());
}

async function onMessage(msg) {
  switch (msg.type) {
    case 'sendKey': {
      if (state.send && msg.kid < state.send.kid) return; // a later key is already in use
      const ctx = await importKey(SUITE, msg.kid, new Uint8Array(msg.key));
      if (state.send && msg.kid < state.send.kid) return;
      // a new key starts a new counter (the nonce is salt XOR CTR, and the salt is per key)
      state.send = { kid: msg.kid, ctx, ctr: 0 };
      forTransforms((t) => t.side === 'send' && t.kind === 'video', requestKeyFrame);
      break;
    }
    case 'peerKey': {
      const pid = String(msg.participant);
      const key = state.wrongKeys ? crypto.getRandomValues(new Uint8Array(msg.key.byteLength)) : new Uint8Array(msg.key);
      const ctx = await importKey(SUITE, msg.kid, key);
      let keys = state.recv.get(pid);
      if (!keys) {
        keys = new Map();
        state.recv.set(pid, keys);
      }
      const now = Date.now();
      for (const e of keys.values()) if (!e.expires) e.expires = now + OLD_KEY_MS;
      keys.set(msg.kid, { ctx, added: now, expires: 0 });
      pruneKeys(pid);
      forTransforms((t) => t.side === 'receive' && t.kind === 'video' && t.participant === pid, requestKeyFrame);
      break;
    }
    case 'plain': {
      const was = state.plain;
      state.plain = !!msg.on;
      if (was !== state.plain) {
        // the other side switches at about the same time: start both directions on a keyframe
        forTransforms((t) => t.kind === 'video', requestKeyFrame);
      }
      break;
    }
    case 'testOnlyUseWrongKeys': {
      // Replace every key received so far (and any later one) by a random key of the same KID.
      state.wrongKeys = true;
      for (const keys of state.recv.values()) {
        for (const [kid, entry] of keys) {
          entry.ctx = await importKey(SUITE, kid, crypto.getRandomValues(new Uint8Array(16)));
        }
      }
      break;
    }
    case 'peerGone':
      state.recv.delete(String(msg.participant));
      break;
    case 'bind': {
      const t = state.transforms.get(msg.id);
      if (t) {
        t.participant = String(msg.participant);
        if (t.kind === 'video') requestKeyFrame(t);
      }
      break;
    }
    case 'streams':
      // createEncodedStreams() fallback: the page transferred the streams
      setup(msg.readable, msg.writable, msg.options || {}, null);
      break;
    case 'stats':
      self.postMessage({
        type: 'stats',
        seq: msg.seq,
        stats: {
          ...state.stats,
          sendKid: state.send ? state.send.kid : null,
          plainSamples: state.plainSamples,
          transforms: [...state.transforms.values()].map(({ id, side, kind, participant }) => ({ id, side, kind, participant })),
          keys: Object.fromEntries([...state.recv].map(([pid, m]) => [pid, [...m.keys()]])),
        },
      });
      break;
    default:
      break;
  }
}

// earlier keys expire even when no newer key arrives for a while
setInterval(() => {
  for (const pid of state.recv.keys()) pruneKeys(pid);
}, OLD_KEY_MS / 2);

// messages are handled one after another (key imports are async)
let chain = Promise.resolve();
self.addEventListener('message', (event) => {
  chain = chain.then(() => onMessage(event.data)).catch((e) => self.postMessage({ type: 'error', message: String(e && e.message) }));
});
