// The call screen's pure parts (web/static/call/call-screen.js), in Node: the connection-quality
// levels from statistics, the elapsed-time format and which browser's permission steps to show.
// The browser test (call-screen.test.mjs) shows them on the real call screen.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { QUALITY_LIMITS, browserFamily, classifyQuality, formatElapsed } from '../../web/static/call/call-screen.js';

it('connection quality is the worst of loss, round-trip time, jitter and bitrate', () => {
  assert.equal(classifyQuality({}), 'unknown', 'nothing measured yet');
  assert.equal(classifyQuality({ loss: 0, rttMs: 20, jitterMs: 2, bitrate: 2_000_000 }), 'good');
  assert.equal(classifyQuality({ loss: QUALITY_LIMITS.loss[0] }), 'fair');
  assert.equal(classifyQuality({ loss: QUALITY_LIMITS.loss[1] }), 'poor');
  assert.equal(classifyQuality({ loss: 0, rttMs: 350 }), 'fair');
  assert.equal(classifyQuality({ loss: 0, rttMs: 700 }), 'poor');
  assert.equal(classifyQuality({ jitterMs: 40 }), 'fair');
  assert.equal(classifyQuality({ jitterMs: 100 }), 'poor');
  assert.equal(classifyQuality({ bitrate: 200_000 }), 'fair', 'little bandwidth');
  assert.equal(classifyQuality({ bitrate: 50_000 }), 'poor');
  assert.equal(classifyQuality({ loss: 0, rttMs: 20, jitterMs: 100 }), 'poor', 'one bad measure is enough');
  assert.equal(classifyQuality({ loss: null, rttMs: undefined, jitterMs: NaN }), 'unknown', 'missing measures are skipped');
});

it('elapsed time reads m:ss, and h:mm:ss from an hour on', () => {
  assert.equal(formatElapsed(0), '0:00');
  assert.equal(formatElapsed(59_999), '0:59');
  assert.equal(formatElapsed(61_000), '1:01');
  assert.equal(formatElapsed(3_600_000), '1:00:00');
  assert.equal(formatElapsed(3_723_000), '1:02:03');
  assert.equal(formatElapsed(-5), '0:00');
});

it('the permission help picks the steps of the browser in use', () => {
  const ua = {
    chrome: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    edge: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
    firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    safari: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
    iphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
    chromeIos: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0 Mobile/15E148 Safari/604.1',
  };
  assert.equal(browserFamily(ua.chrome), 'chromium');
  assert.equal(browserFamily(ua.edge), 'chromium');
  assert.equal(browserFamily(ua.firefox), 'firefox');
  assert.equal(browserFamily(ua.safari), 'safari');
  assert.equal(browserFamily(ua.iphone), 'safari');
  assert.equal(browserFamily(ua.chromeIos), 'chromium');
  assert.equal(browserFamily('curl/8'), 'other');
});
