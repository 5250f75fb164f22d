// Key management for end-to-end encrypted media (web/static/call/e2ee-keys.js), in Node: wrapping
// per recipient, the safety code, and three KeyManagers talking through a simulated relay.
//
//   node --test tests/e2e/e2ee-keys.test.mjs

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import {
  generateIdentity,
  wrapKey,
  unwrapKey,
  randomSendKey,
  safetyCode,
  encodePayload,
  decodePayload,
  b64decode,
  KeyManager,
} from '../../web/static/call/e2ee-keys.js';

const ROOM = '5f0c1b8e-3c1a-4f6e-9d0b-2a7e8f7c1d22';
const hex = (b) => Buffer.from(b).toString('hex');

describe('e2ee key wrapping', () => {
  it('round trip: the recipient unwraps the sender key and KID', async () => {
    const a = await generateIdentity();
    const b = await generateIdentity();
    assert.equal(a.publicRaw.length, 65);
    const key = randomSendKey();
    const blob = await wrapKey({ identity: a, senderId: '1', recipientId: '2', recipientPublicRaw: b.publicRaw, room: ROOM, kid: 7, key });
    assert.equal(typeof blob, 'string');
    assert.ok(!blob.includes(Buffer.from(key).toString('base64')), 'the key is not in clear');
    const out = await unwrapKey({ identity: b, senderId: '1', senderPublicRaw: a.publicRaw, recipientId: '2', room: ROOM, blob });
    assert.equal(out.kid, 7);
    assert.equal(hex(out.key), hex(key));
    // two wraps of the same key differ (random IV)
    const again = await wrapKey({ identity: a, senderId: '1', recipientId: '2', recipientPublicRaw: b.publicRaw, room: ROOM, kid: 7, key });
    assert.notEqual(again, blob);
  });

  it('fails for another recipient, another sender id, recipient id or room, or a tampered blob', async () => {
    const a = await generateIdentity();
    const b = await generateIdentity();
    const c = await generateIdentity();
    const key = randomSendKey();
    const blob = await wrapKey({ identity: a, senderId: '1', recipientId: '2', recipientPublicRaw: b.publicRaw, room: ROOM, kid: 3, key });
    const good = { identity: b, senderId: '1', senderPublicRaw: a.publicRaw, recipientId: '2', room: ROOM, blob };
    await assert.rejects(unwrapKey({ ...good, identity: c }), 'another participant cannot unwrap');
    await assert.rejects(unwrapKey({ ...good, identity: c, recipientId: '3' }), 'not even under its own id');
    await assert.rejects(unwrapKey({ ...good, senderId: '9' }), 'sender id is bound');
    await assert.rejects(unwrapKey({ ...good, recipientId: '9' }), 'recipient id is bound');
    await assert.rejects(unwrapKey({ ...good, room: 'other-room' }), 'room is bound');
    await assert.rejects(unwrapKey({ ...good, senderPublicRaw: c.publicRaw }), 'sender key is bound');
    const raw = b64decode(blob);
    raw[20] ^= 1;
    await assert.rejects(unwrapKey({ ...good, blob: Buffer.from(raw).toString('base64') }), 'tampering is detected');
    await assert.rejects(unwrapKey({ ...good, blob: 'AAAA' }), /bad wrapped key/);
  });

  it('payloads are base64 JSON with a version; other versions and types are refused', () => {
    const p = encodePayload({ t: 'hello', pub: 'BAAA' });
    assert.match(p, /^[A-Za-z0-9+/]+=*$/);
    assert.deepEqual(decodePayload(p), { v: 1, t: 'hello', pub: 'BAAA' });
    const v2 = Buffer.from(JSON.stringify({ v: 2, t: 'hello', pub: 'BAAA' })).toString('base64');
    assert.throws(() => decodePayload(v2), /version/);
    const odd = Buffer.from(JSON.stringify({ v: 1, t: 'other', pub: 'BAAA' })).toString('base64');
    assert.throws(() => decodePayload(odd), /type/);
    assert.throws(() => decodePayload('not base64!'), /base64/);
  });
});

describe('safety code', () => {
  it('is identical regardless of order and changes on join, leave and key change', async () => {
    const ids = await Promise.all([1, 2, 3, 4].map(() => generateIdentity()));
    const entries = ids.map((idn, i) => ({ id: String(1000 + i), publicRaw: idn.publicRaw }));
    const code = await safetyCode(entries.slice(0, 3));
    assert.match(code, /^\d{5} \d{5} \d{5} \d{5} \d{5} \d{5}$/);
    assert.equal(await safetyCode([entries[2], entries[0], entries[1]]), code);
    assert.equal(await safetyCode([entries[1], entries[2], entries[0]]), code);
    const joined = await safetyCode(entries);
    assert.notEqual(joined, code, 'a join changes it');
    const left = await safetyCode([entries[0], entries[2]]);
    assert.notEqual(left, code, 'a leave changes it');
    const swapped = await safetyCode([entries[0], entries[1], { id: entries[2].id, publicRaw: ids[3].publicRaw }]);
    assert.notEqual(swapped, code, 'a substituted key changes it');
    const renamed = await safetyCode([entries[0], entries[1], { id: '9999', publicRaw: entries[2].publicRaw }]);
    assert.notEqual(renamed, code, 'another id changes it');
    await assert.rejects(safetyCode([entries[0], entries[0]]), /twice/);
  });
});

/** Participants with KeyManagers connected by a relay that delivers in order, like the server. */
function makeRoom() {
  const parts = new Map(); // id -> { km, keys: Map(pid -> Map(kid -> hex)), sendKeys: [] }
  const queue = [];
  let pumping = null;

  function deliver(from, payload, to) {
    for (const [id, p] of parts) {
      if (id === from || (to && to !== id)) continue;
      queue.push(() => p.km.handleMessage(from, payload));
    }
  }

  async function settle() {
    // run until no messages are left and every manager's queue is idle
    for (let round = 0; round < 100; round++) {
      await Promise.all([...parts.values()].map((p) => p.km.queue));
      if (!queue.length) return;
      while (queue.length) queue.shift()();
    }
    throw new Error('relay did not settle');
  }

  async function join(id) {
    const p = { id, keys: new Map(), sendKeys: [], status: null, gone: [] };
    p.km = new KeyManager({
      send: (payload, to) => deliver(id, payload, to),
      onSendKey: (kid, key) => p.sendKeys.push({ kid, key: hex(key) }),
      onPeerKey: (pid, kid, key) => {
        if (!p.keys.has(pid)) p.keys.set(pid, new Map());
        p.keys.get(pid).set(kid, hex(key));
      },
      onPeerGone: (pid) => {
        p.keys.delete(pid);
        p.gone.push(pid);
      },
      onChange: (s) => {
        p.status = s;
      },
      onError: (e) => {
        throw e;
      },
    });
    await p.km.init();
    const others = [...parts.keys()];
    parts.set(id, p);
    // the server tells the others first (participant_joined), then the newcomer is `joined`
    for (const o of others) parts.get(o).km.memberJoined(id);
    p.km.start(id, ROOM, others);
    await settle();
    return p;
  }

  async function leave(id) {
    parts.delete(id);
    for (const p of parts.values()) p.km.memberLeft(id);
    await settle();
  }

  return { parts, join, leave, settle };
}

function currentKey(p) {
  return p.sendKeys[p.sendKeys.length - 1];
}

/** Everyone holds everyone else's current sending key, and the safety codes agree. */
function assertConsistent(room) {
  const list = [...room.parts.values()];
  for (const p of list) {
    assert.ok(p.status && p.status.complete, `${p.id} knows everyone's public key`);
    assert.equal(p.status.code, list[0].status.code, `${p.id} shows the same safety code`);
    assert.equal(p.status.participants, list.length);
    for (const q of list) {
      if (q === p) continue;
      const cur = currentKey(q);
      const held = p.keys.get(q.id);
      assert.ok(held, `${p.id} has keys of ${q.id}`);
      assert.equal(held.get(cur.kid), cur.key, `${p.id} has ${q.id}'s current key (KID ${cur.kid})`);
    }
  }
  return list[0].status.code;
}

describe('KeyManager: three participants through a relay', () => {
  it('exchange keys, agree on the safety code, rotate on join and leave', async () => {
    const room = makeRoom();
    const a = await room.join('100');
    assert.equal(a.sendKeys.length, 1);
    assert.equal(a.status.participants, 1);
    const b = await room.join('200');
    const code2 = assertConsistent(room);
    assert.equal(a.sendKeys.length, 2, 'A made a new key when B joined');
    const c = await room.join('300');
    const code3 = assertConsistent(room);
    assert.notEqual(code3, code2, 'the code changed when C joined');
    assert.equal(a.sendKeys.length, 3);
    assert.equal(b.sendKeys.length, 2);
    assert.equal(c.sendKeys.length, 1);
    // C never saw keys that A and B used before it joined
    for (const old of a.sendKeys.slice(0, -1)) assert.ok(![...c.keys.get('100').values()].includes(old.key));
    // KIDs of one sender are distinct
    assert.equal(new Set(a.sendKeys.map((k) => k.kid)).size, a.sendKeys.length);

    const cKeysBefore = new Map([...c.keys].map(([pid, m]) => [pid, new Map(m)]));
    await room.leave('300');
    const codeAfter = assertConsistent(room);
    assert.notEqual(codeAfter, code3, 'the code changed when C left');
    assert.equal(codeAfter, code2, 'same people, same keys, same code as before C joined');
    assert.deepEqual(a.gone, ['300']);
    assert.deepEqual(b.gone, ['300']);
    // C (gone) got neither A's nor B's new key
    for (const [pid, p] of [['100', a], ['200', b]]) {
      assert.ok(![...cKeysBefore.get(pid).values()].includes(currentKey(p).key), `C does not have ${pid}'s new key`);
    }
    assert.equal(a.sendKeys.length, 4, 'A rotated when C left');
    assert.equal(b.sendKeys.length, 3, 'B rotated when C left');

    // a late message from C (already gone) changes nothing
    const sentBefore = a.sendKeys.length;
    await a.km.handleMessage('300', encodePayload({ t: 'hello', pub: Buffer.from(c.km.identity.publicRaw).toString('base64') }));
    assert.equal(a.sendKeys.length, sentBefore);
    assert.equal(a.status.code, codeAfter);
    assert.equal(a.status.participants, 2);
  });

  it('a resumed participant re-announces itself and gets the keys again', async () => {
    const room = makeRoom();
    const a = await room.join('1');
    const b = await room.join('2');
    assertConsistent(room);
    // B lost its state for A's keys (e.g. a restart of its worker) and sends hello again
    b.keys.clear();
    b.km.start('2', ROOM, ['1']);
    await room.settle();
    assertConsistent(room);
    assert.equal(b.sendKeys.length, 1, 'the same roster keeps the key');
    assert.ok(a.status.complete);
  });
});
