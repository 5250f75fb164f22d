// Every visible text exists in both languages, and every key the client uses exists.
// Pure: reads the dictionaries and the modules' sources, no browser.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dictionaries } from '../../web/static/shared/i18n.js';
import '../../web/static/booking/i18n-booking.js';
import '../../web/static/signature/i18n-signature.js';
import '../../web/static/walkin/i18n-walkin.js';
import '../../web/static/booking/i18n-mail.js';
import '../../web/static/call/i18n-call.js';
import '../../web/static/dashboard/i18n-dashboard.js';
import '../../web/static/shared/i18n-centre.js';

const STATIC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web/static');

it('German and English have the same keys', () => {
  const en = Object.keys(dictionaries.en).sort();
  const de = Object.keys(dictionaries.de).sort();
  assert.deepEqual(en.filter((k) => !de.includes(k)), [], 'keys missing in German');
  assert.deepEqual(de.filter((k) => !en.includes(k)), [], 'keys missing in English');
  for (const k of en) assert.ok(dictionaries.de[k].trim() && dictionaries.en[k].trim(), `empty text for ${k}`);
});

it('every literal t() key in web/static exists', () => {
  const missing = [];
  // one folder per capability: every module below web/static
  const files = fs.readdirSync(STATIC, { recursive: true }).filter((f) => f.endsWith('.js'));
  assert.ok(files.includes(path.join('shared', 'i18n.js')), `the modules were found: ${files}`);
  for (const file of files) {
    const src = fs.readFileSync(path.join(STATIC, file), 'utf8');
    for (const m of src.matchAll(/\bt\('([a-z0-9_.]+)'\s*([,)+])/g)) {
      const [, key, next] = m;
      // `t('status.' + s)`: a prefix; some key must start with it.
      const known = next === '+' ? Object.keys(dictionaries.en).some((k) => k.startsWith(key)) : key in dictionaries.en;
      if (!known) missing.push(`${file}: ${key}`);
    }
  }
  assert.deepEqual(missing, []);
});

const ROOT = path.resolve(STATIC, '../..');
const read = (rel) => fs.readFileSync(path.join(ROOT, rel), 'utf8');

/** Every error code a client can receive, read from the sources that send them. */
function errorCodesFromSources() {
  const codes = new Set();
  // The signalling protocol: `ErrorCode::X => "code"` in `as_str`.
  for (const m of read('signaling/src/protocol.rs').matchAll(/ErrorCode::\w+ => "([a-z0-9_]+)"/g)) codes.add(m[1]);
  // The HTTP edge: `(StatusCode::…, "code")` in `status_and_code`.
  for (const m of read('kit/src/error.rs').matchAll(/\(\s*(?:\*status|StatusCode::\w+),\s*"([a-z0-9_]+)"\)/g)) codes.add(m[1]);
  // What the client makes up itself (api.js: no connection, an unknown status).
  codes.add('network');
  codes.add('generic');
  return [...codes].sort();
}

it('every error code the HTTP API and the signalling protocol can return has a text in both languages', () => {
  const codes = errorCodesFromSources();
  // The enumeration itself is checked, so that a changed source layout cannot make it empty.
  for (const known of ['bad_json', 'link_invalid', 'too_many_connections', 'validation_failed', 'slot_taken', 'cross_origin', 'internal']) {
    assert.ok(codes.includes(known), `the sources name ${known}`);
  }
  assert.ok(codes.length >= 35, `found only ${codes.length} codes`);
  const missing = [];
  for (const code of codes) {
    for (const lang of ['en', 'de']) {
      const text = dictionaries[lang]['err.' + code];
      if (!text) missing.push(`${lang}: err.${code}`);
      else {
        // A text a person can act on: a sentence, and not the code itself.
        assert.ok(!text.includes(code), `${lang} err.${code} repeats the code`);
        assert.match(text, /[.!?]$/, `${lang} err.${code} is a sentence`);
      }
    }
  }
  assert.deepEqual(missing, []);
});

it('the codes documented in PROTOCOL.md and HTTP-API.md are the ones with texts', () => {
  const documented = new Set();
  const protocol = read('signaling/PROTOCOL.md');
  const table = protocol.slice(protocol.indexOf('| `bad_json`') - 1);
  for (const m of table.matchAll(/^\| `([a-z0-9_]+)`/gm)) documented.add(m[1]);
  assert.ok(documented.size >= 20, `read ${documented.size} codes from PROTOCOL.md`);
  const api = read('docs/HTTP-API.md');
  const codesLine = api.slice(api.indexOf('Codes: `validation_failed`'), api.indexOf('| method + path |'));
  const apiCodes = [...codesLine.matchAll(/`([a-z0-9_]+)` \(\d{3}/g)].map((m) => m[1]);
  assert.ok(apiCodes.length >= 10, `read ${apiCodes.length} codes from HTTP-API.md`);
  for (const code of [...documented, ...apiCodes, 'slot_taken']) {
    for (const lang of ['en', 'de']) assert.ok(dictionaries[lang]['err.' + code], `the documented ${code} has a ${lang} text`);
  }
});

it('browser media error names become sentences with a next step', async () => {
  globalThis.document = { documentElement: { lang: 'de' } };
  const { mediaErrorText } = await import('../../web/static/shared/i18n.js');
  for (const name of ['NotAllowedError', 'NotFoundError', 'NotReadableError', 'OverconstrainedError', 'SecurityError', 'AbortError', 'TypeError', 'mediaDevices unavailable', 'Whatever']) {
    const text = mediaErrorText(name);
    assert.ok(!/Error|unavailable/.test(text), `${name} → ${text}`);
    assert.equal(text, dictionaries.de[Object.keys(dictionaries.de).find((k) => k.startsWith('media.') && dictionaries.de[k] === text)], `${name} has a German text`);
  }
  delete globalThis.document;
});

// docs/GLOSSARY.md, "Not used": words the German texts must not contain.
const NOT_USED_DE = [/Sitzung/, /Beratungsperson/, /Beratende/, /\bbzw\./, /Klientin\s*\/|Klienten\s*\//, /Fingerabdruck/, /Login-E-Mail/, /Begründung/, /Dashboard/, /Bitte bitten/, /Steuerzeichen/];

it('German texts follow the glossary', () => {
  const bad = [];
  for (const [key, text] of Object.entries(dictionaries.de)) {
    for (const re of NOT_USED_DE) if (re.test(text)) bad.push(`${key}: ${text.match(re)[0]}`);
  }
  assert.deepEqual(bad, []);
});

it('English texts follow the glossary', () => {
  const bad = [];
  for (const [key, text] of Object.entries(dictionaries.en)) {
    if (/\bor microphone are\b/.test(text)) bad.push(`${key}: "are" after "or"`);
    // One word for moving an appointment: "reschedule" (staff texts about calendars may say "moved").
    if (!key.startsWith('dash.caldav') && !key.startsWith('dsig.') && /\bmove\b|\bMove\b/.test(text)) bad.push(`${key}: move`);
    if (/fingerprint/i.test(text)) bad.push(`${key}: fingerprint`);
  }
  assert.deepEqual(bad, []);
});
