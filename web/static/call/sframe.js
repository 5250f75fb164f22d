// SFrame (RFC 9605): header encoding, key derivation and frame encryption with WebCrypto.
//
// Runs unchanged in pages, workers and Node (>= 20, `globalThis.crypto.subtle`). KIDs and
// counters are up to 64 bits: they are taken as numbers or BigInts and returned as BigInts.
//
//   const ctx = await importKey(CipherSuite.AES_128_GCM_SHA256_128, kid, baseKey);
//   const frame = await encrypt(ctx, ctr, plaintext, metadata);   // header || ciphertext || tag
//   const { kid } = decodeHeader(frame);                           // pick the key by KID
//   const plaintext = await decrypt(ctx, frame, metadata);         // throws if not authentic

const subtle = globalThis.crypto.subtle;

/** Cipher suites of RFC 9605 §8.1. */
export const CipherSuite = Object.freeze({
  AES_128_CTR_HMAC_SHA256_80: 1,
  AES_128_CTR_HMAC_SHA256_64: 2,
  AES_128_CTR_HMAC_SHA256_32: 3,
  AES_128_GCM_SHA256_128: 4,
  AES_256_GCM_SHA512_128: 5,
});

/**
 * Parameters per suite: hash for HKDF, key size Nk (for CTR+HMAC: encryption key Nka plus
 * authentication key), nonce size Nn and tag size Nt, in bytes.
 */
export const SUITES = Object.freeze({
  1: { name: 'AES_128_CTR_HMAC_SHA256_80', aead: 'ctr-hmac', hash: 'SHA-256', hashLen: 32, nk: 48, nka: 16, nn: 12, nt: 10 },
  2: { name: 'AES_128_CTR_HMAC_SHA256_64', aead: 'ctr-hmac', hash: 'SHA-256', hashLen: 32, nk: 48, nka: 16, nn: 12, nt: 8 },
  3: { name: 'AES_128_CTR_HMAC_SHA256_32', aead: 'ctr-hmac', hash: 'SHA-256', hashLen: 32, nk: 48, nka: 16, nn: 12, nt: 4 },
  4: { name: 'AES_128_GCM_SHA256_128', aead: 'gcm', hash: 'SHA-256', hashLen: 32, nk: 16, nn: 12, nt: 16 },
  5: { name: 'AES_256_GCM_SHA512_128', aead: 'gcm', hash: 'SHA-512', hashLen: 64, nk: 32, nn: 12, nt: 16 },
});

const MAX_U64 = (1n << 64n) - 1n;
const EMPTY = new Uint8Array(0);
const enc = new TextEncoder();

function suiteParams(suite) {
  const p = SUITES[suite];
  if (!p) throw new Error(`unsupported SFrame cipher suite ${suite}`);
  return p;
}

function u64(value, what) {
  const v = BigInt(value);
  if (v < 0n || v > MAX_U64) throw new RangeError(`${what} out of range: ${value}`);
  return v;
}

/** Big-endian bytes of `value` in exactly `len` bytes. */
export function bigEndian(value, len) {
  let v = BigInt(value);
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v !== 0n) throw new RangeError(`${value} does not fit in ${len} bytes`);
  return out;
}

/** The fewest bytes (1–8) that hold `v`. */
function minLen(v) {
  let n = 1;
  while (v >> BigInt(8 * n) !== 0n) n++;
  return n;
}

export function concat(...parts) {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function bytes(x) {
  if (x instanceof Uint8Array) return x;
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  if (x == null) return EMPTY;
  throw new TypeError('expected bytes');
}

// ------------------------------------------------------------------ header (§4.3)

/**
 * Encodes the SFrame header: config byte |X|K(3)|Y|C(3)|, then the KID and CTR when they do
 * not fit in K / C (values < 8 are stored in the config byte itself), big-endian, minimal length.
 */
export function encodeHeader(kid, ctr) {
  const k = u64(kid, 'KID');
  const c = u64(ctr, 'CTR');
  let config = 0;
  const parts = [];
  if (k < 8n) {
    config |= Number(k) << 4;
  } else {
    const len = minLen(k);
    config |= 0x80 | ((len - 1) << 4);
    parts.push(bigEndian(k, len));
  }
  if (c < 8n) {
    config |= Number(c);
  } else {
    const len = minLen(c);
    config |= 0x08 | (len - 1);
    parts.push(bigEndian(c, len));
  }
  return concat(Uint8Array.of(config), ...parts);
}

/**
 * Decodes the header at `offset` of `data`: `{ kid, ctr, length }` (KID and CTR as BigInts,
 * `length` = header bytes). Throws on a truncated header.
 */
export function decodeHeader(data, offset = 0) {
  const b = bytes(data);
  if (b.length < offset + 1) throw new Error('SFrame header truncated');
  const config = b[offset];
  let pos = offset + 1;
  const read = (len) => {
    if (b.length < pos + len) throw new Error('SFrame header truncated');
    let v = 0n;
    for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(b[pos + i]);
    pos += len;
    return v;
  };
  const kid = config & 0x80 ? read(((config >> 4) & 0x07) + 1) : BigInt((config >> 4) & 0x07);
  const ctr = config & 0x08 ? read((config & 0x07) + 1) : BigInt(config & 0x07);
  return { kid, ctr, length: pos - offset };
}

// ------------------------------------------------------------------ key schedule (§4.4.2)

async function hmac(hash, key, data) {
  const k = await subtle.importKey('raw', key, { name: 'HMAC', hash }, false, ['sign']);
  return new Uint8Array(await subtle.sign('HMAC', k, data));
}

/** HKDF-Extract (RFC 5869); an empty salt means HashLen zero bytes. */
export async function hkdfExtract(hash, salt, ikm) {
  const hashLen = hash === 'SHA-512' ? 64 : hash === 'SHA-384' ? 48 : 32;
  const s = salt && salt.length ? bytes(salt) : new Uint8Array(hashLen);
  return hmac(hash, s, bytes(ikm));
}

/** HKDF-Expand (RFC 5869). */
export async function hkdfExpand(hash, prk, info, length) {
  const k = await subtle.importKey('raw', bytes(prk), { name: 'HMAC', hash }, false, ['sign']);
  const out = new Uint8Array(length);
  let prev = EMPTY;
  let off = 0;
  for (let i = 1; off < length; i++) {
    prev = new Uint8Array(await subtle.sign('HMAC', k, concat(prev, bytes(info), Uint8Array.of(i))));
    out.set(prev.subarray(0, Math.min(prev.length, length - off)), off);
    off += prev.length;
  }
  return out;
}

/** "SFrame 1.0 Secret key " || KID (8 bytes) || cipher suite (2 bytes). */
export function keyLabel(kid, suite) {
  return concat(enc.encode('SFrame 1.0 Secret key '), bigEndian(u64(kid, 'KID'), 8), bigEndian(suite, 2));
}

/** "SFrame 1.0 Secret salt " || KID (8 bytes) || cipher suite (2 bytes). */
export function saltLabel(kid, suite) {
  return concat(enc.encode('SFrame 1.0 Secret salt '), bigEndian(u64(kid, 'KID'), 8), bigEndian(suite, 2));
}

/** `{ secret, key, salt }` for a base key (RFC 9605 §4.4.2). */
export async function deriveKeyAndSalt(suite, kid, baseKey) {
  const p = suiteParams(suite);
  const secret = await hkdfExtract(p.hash, EMPTY, bytes(baseKey));
  const key = await hkdfExpand(p.hash, secret, keyLabel(kid, suite), p.nk);
  const salt = await hkdfExpand(p.hash, secret, saltLabel(kid, suite), p.nn);
  return { secret, key, salt };
}

// ------------------------------------------------------------------ AEAD (§4.4.3, §4.5)

/**
 * An AEAD key for `suite` from raw key bytes (Nk long). For the CTR+HMAC suites the key is split
 * into the AES-CTR key (first Nka bytes) and the HMAC key (the rest).
 */
export async function importAeadKey(suite, rawKey) {
  const p = suiteParams(suite);
  const raw = bytes(rawKey);
  if (raw.length !== p.nk) throw new Error(`suite ${suite} needs a ${p.nk}-byte key`);
  if (p.aead === 'gcm') {
    return { suite, gcm: await subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']) };
  }
  return {
    suite,
    ctr: await subtle.importKey('raw', raw.slice(0, p.nka), 'AES-CTR', false, ['encrypt', 'decrypt']),
    auth: await subtle.importKey('raw', raw.slice(p.nka), { name: 'HMAC', hash: p.hash }, false, ['sign']),
  };
}

async function ctrHmacTag(p, aeadKey, nonce, aad, ct) {
  const authData = concat(bigEndian(aad.length, 8), bigEndian(ct.length, 8), bigEndian(p.nt, 8), nonce, aad, ct);
  const tag = new Uint8Array(await subtle.sign('HMAC', aeadKey.auth, authData));
  return tag.subarray(0, p.nt);
}

/** AEAD.Encrypt(key, nonce, aad, pt) → ct || tag. */
export async function aeadEncrypt(aeadKey, nonce, aad, pt) {
  const p = suiteParams(aeadKey.suite);
  const n = bytes(nonce);
  const a = bytes(aad);
  if (p.aead === 'gcm') {
    return new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: n, additionalData: a, tagLength: p.nt * 8 }, aeadKey.gcm, bytes(pt)));
  }
  const counter = concat(n, new Uint8Array(4));
  const ct = new Uint8Array(await subtle.encrypt({ name: 'AES-CTR', counter, length: 32 }, aeadKey.ctr, bytes(pt)));
  return concat(ct, await ctrHmacTag(p, aeadKey, n, a, ct));
}

/** AEAD.Decrypt(key, nonce, aad, ct || tag) → pt; throws when the tag does not verify. */
export async function aeadDecrypt(aeadKey, nonce, aad, ctAndTag) {
  const p = suiteParams(aeadKey.suite);
  const n = bytes(nonce);
  const a = bytes(aad);
  const c = bytes(ctAndTag);
  if (c.length < p.nt) throw new Error('SFrame ciphertext too short');
  if (p.aead === 'gcm') {
    return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: n, additionalData: a, tagLength: p.nt * 8 }, aeadKey.gcm, c));
  }
  const ct = c.subarray(0, c.length - p.nt);
  const tag = c.subarray(c.length - p.nt);
  const expect = await ctrHmacTag(p, aeadKey, n, a, ct);
  let diff = 0;
  for (let i = 0; i < p.nt; i++) diff |= expect[i] ^ tag[i];
  if (diff !== 0) throw new Error('SFrame authentication failed');
  const counter = concat(n, new Uint8Array(4));
  return new Uint8Array(await subtle.decrypt({ name: 'AES-CTR', counter, length: 32 }, aeadKey.ctr, ct));
}

/** nonce = sframe_salt XOR CTR (big-endian, Nn bytes). */
export function nonceFor(salt, ctr) {
  const s = bytes(salt);
  const c = bigEndian(u64(ctr, 'CTR'), s.length);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s[i] ^ c[i];
  return out;
}

// ------------------------------------------------------------------ frames

/**
 * A sending/receiving context for one KID: derives sframe_key and sframe_salt from `baseKey`.
 * The base key bytes are not kept.
 */
export async function importKey(suite, kid, baseKey) {
  const { key, salt } = await deriveKeyAndSalt(suite, kid, baseKey);
  return { suite, kid: u64(kid, 'KID'), salt, aead: await importAeadKey(suite, key) };
}

/** SFrame ciphertext = header || AEAD.Encrypt(key, salt ^ CTR, header || metadata, plaintext). */
export async function encrypt(ctx, ctr, plaintext, metadata = EMPTY) {
  const header = encodeHeader(ctx.kid, ctr);
  const aad = concat(header, bytes(metadata));
  const ct = await aeadEncrypt(ctx.aead, nonceFor(ctx.salt, ctr), aad, plaintext);
  return concat(header, ct);
}

/** Decrypts an SFrame ciphertext (header first) with `ctx`; throws if the KID differs or it fails. */
export async function decrypt(ctx, sframe, metadata = EMPTY) {
  const b = bytes(sframe);
  const { kid, ctr, length } = decodeHeader(b);
  if (kid !== ctx.kid) throw new Error(`SFrame KID ${kid} does not match the key's ${ctx.kid}`);
  const aad = concat(b.subarray(0, length), bytes(metadata));
  return aeadDecrypt(ctx.aead, nonceFor(ctx.salt, ctr), aad, b.subarray(length));
}
