// Every visible text exists in both languages, and every key the client uses exists.
// Pure: reads the dictionaries and the modules' sources, no browser.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dictionaries } from '../../web/static/i18n.js';
import '../../web/static/i18n-booking.js';
import '../../web/static/i18n-signature.js';
import '../../web/static/i18n-walkin.js';
import '../../web/static/i18n-mail.js';

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
  for (const file of fs.readdirSync(STATIC).filter((f) => f.endsWith('.js'))) {
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
