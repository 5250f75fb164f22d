// The browser client's SFrame implementation (web/static/call/sframe.js) against the RFC 9605 test
// vectors (tests/data/sframe-rfc9605-test-vectors.json, Appendix C of the RFC). Runs in Node
// (WebCrypto at globalThis.crypto.subtle); no browser, no server.
//
//   node --test tests/e2e/sframe-vectors.test.mjs

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  SUITES,
  encodeHeader,
  decodeHeader,
  deriveKeyAndSalt,
  keyLabel,
  saltLabel,
  nonceFor,
  importAeadKey,
  aeadEncrypt,
  aeadDecrypt,
  importKey,
  encrypt,
  decrypt,
  concat,
} from '../../web/static/call/sframe.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const VECTORS = path.resolve(here, '../data/sframe-rfc9605-test-vectors.json');

// KIDs and counters go up to 2^64 - 1: read every number as a string, then as a BigInt.
const raw = fs.readFileSync(VECTORS, 'utf8').replace(/("(?:kid|ctr|cipher_suite)"\s*:\s*)(\d+)/g, '$1"$2"');
const vectors = JSON.parse(raw);

const hex = (s) => Uint8Array.from(s.match(/../g) || [], (b) => parseInt(b, 16));
const toHex = (b) => Buffer.from(b).toString('hex');

// What the file holds (so nothing is skipped silently if it changes).
const EXPECTED = { header: 289, aes_ctr_hmac: 3, sframe: 5 };
const SUPPORTED = [1, 2, 3, 4, 5];

describe('SFrame (RFC 9605) test vectors', () => {
  it('the vector file has the expected sections and counts', () => {
    for (const [section, n] of Object.entries(EXPECTED)) {
      assert.ok(Array.isArray(vectors[section]), `section ${section}`);
      assert.equal(vectors[section].length, n, `${section} vectors`);
    }
    assert.deepEqual(Object.keys(SUITES).map(Number), SUPPORTED);
  });

  it('header: every KID/CTR encodes to the vector and decodes back', () => {
    let n = 0;
    for (const v of vectors.header) {
      const kid = BigInt(v.kid);
      const ctr = BigInt(v.ctr);
      const encoded = encodeHeader(kid, ctr);
      assert.equal(toHex(encoded), v.encoded, `encode kid=${kid} ctr=${ctr}`);
      // decoding ignores what follows the header
      const decoded = decodeHeader(concat(hex(v.encoded), Uint8Array.of(0xaa, 0xbb)));
      assert.equal(decoded.kid, kid);
      assert.equal(decoded.ctr, ctr);
      assert.equal(decoded.length, encoded.length);
      n++;
    }
    assert.equal(n, EXPECTED.header);
  });

  it('header: truncated headers and out-of-range values are refused', () => {
    assert.throws(() => decodeHeader(new Uint8Array(0)), /truncated/);
    assert.throws(() => decodeHeader(hex('99012345')), /truncated/);
    assert.throws(() => encodeHeader(1n << 64n, 0), RangeError);
    assert.throws(() => encodeHeader(0, -1), RangeError);
  });

  it('aes_ctr_hmac: the AES-CTR + HMAC AEAD of suites 1–3', async () => {
    let n = 0;
    for (const v of vectors.aes_ctr_hmac) {
      const suite = Number(v.cipher_suite);
      assert.ok(SUPPORTED.includes(suite));
      assert.equal(toHex(hex(v.key).slice(0, SUITES[suite].nka)), v.enc_key);
      assert.equal(toHex(hex(v.key).slice(SUITES[suite].nka)), v.auth_key);
      const key = await importAeadKey(suite, hex(v.key));
      const ct = await aeadEncrypt(key, hex(v.nonce), hex(v.aad), hex(v.pt));
      assert.equal(toHex(ct), v.ct, `suite ${suite} encrypt`);
      const pt = await aeadDecrypt(key, hex(v.nonce), hex(v.aad), hex(v.ct));
      assert.equal(toHex(pt), v.pt, `suite ${suite} decrypt`);
      const bad = hex(v.ct);
      bad[bad.length - 1] ^= 1;
      await assert.rejects(aeadDecrypt(key, hex(v.nonce), hex(v.aad), bad), `suite ${suite} tampered tag`);
      n++;
    }
    assert.equal(n, EXPECTED.aes_ctr_hmac);
  });

  it('sframe: key schedule, nonce, AAD, encryption and decryption for every suite', async () => {
    const seen = [];
    for (const v of vectors.sframe) {
      const suite = Number(v.cipher_suite);
      assert.ok(SUPPORTED.includes(suite), `suite ${suite} supported`);
      const kid = BigInt(v.kid);
      const ctr = BigInt(v.ctr);
      assert.equal(toHex(keyLabel(kid, suite)), v.sframe_key_label, `suite ${suite} key label`);
      assert.equal(toHex(saltLabel(kid, suite)), v.sframe_salt_label, `suite ${suite} salt label`);
      const { secret, key, salt } = await deriveKeyAndSalt(suite, kid, hex(v.base_key));
      assert.equal(toHex(secret), v.sframe_secret, `suite ${suite} secret`);
      assert.equal(toHex(key), v.sframe_key, `suite ${suite} key`);
      assert.equal(toHex(salt), v.sframe_salt, `suite ${suite} salt`);
      assert.equal(toHex(nonceFor(salt, ctr)), v.nonce, `suite ${suite} nonce`);
      assert.equal(toHex(concat(encodeHeader(kid, ctr), hex(v.metadata))), v.aad, `suite ${suite} aad`);

      const ctx = await importKey(suite, kid, hex(v.base_key));
      const ct = await encrypt(ctx, ctr, hex(v.pt), hex(v.metadata));
      assert.equal(toHex(ct), v.ct, `suite ${suite} ciphertext`);
      const pt = await decrypt(ctx, hex(v.ct), hex(v.metadata));
      assert.equal(toHex(pt), v.pt, `suite ${suite} plaintext`);

      // tampering with the header, the metadata or the ciphertext is detected
      const badCt = hex(v.ct);
      badCt[badCt.length - 3] ^= 0x40;
      await assert.rejects(decrypt(ctx, badCt, hex(v.metadata)), `suite ${suite} tampered ciphertext`);
      const badMeta = hex(v.metadata);
      badMeta[0] ^= 1;
      await assert.rejects(decrypt(ctx, hex(v.ct), badMeta), `suite ${suite} tampered metadata`);
      const otherCtr = concat(encodeHeader(kid, ctr + 1n), hex(v.ct).subarray(encodeHeader(kid, ctr).length));
      await assert.rejects(decrypt(ctx, otherCtr, hex(v.metadata)), `suite ${suite} tampered counter`);
      const otherKid = concat(encodeHeader(kid + 1n, ctr), hex(v.ct).subarray(encodeHeader(kid, ctr).length));
      await assert.rejects(decrypt(ctx, otherKid, hex(v.metadata)), /does not match/);
      seen.push(suite);
    }
    assert.deepEqual(seen.sort(), SUPPORTED);
  });
});
