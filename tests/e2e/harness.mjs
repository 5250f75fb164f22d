// Small helpers shared by the browser tests that start their own servers; `suite()` (at the end)
// is the set-up and teardown every browser suite shares.

import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import zlib from 'node:zlib';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const BIN = process.env.CONFIDANT_BIN
  ? path.resolve(process.cwd(), process.env.CONFIDANT_BIN)
  : path.resolve(here, '../../target/debug/confidant');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const ARTIFACTS = path.join(here, 'artifacts');

/** Flags verified on these machines (see shared WEBRTC-NOTES). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freeTcpPort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    sock.on('error', reject);
    sock.bind(0, '127.0.0.1', () => {
      const { port } = sock.address();
      sock.close(() => resolve(port));
    });
  });
}

/**
 * The steps of one browser scenario, which build on each other: `step(name, fn)` is a test that is
 * skipped once an earlier step of the same scenario failed (its failure would only repeat),
 * `fail()` marks the scenario failed from a hook (a server that did not start), and `failed()`
 * says whether it failed (to keep screenshots, logs and data in `after`). Each step is bounded by
 * `timeout` ms.
 */
export function scenarioSteps({ timeout = 5 * 60_000 } = {}) {
  let failed = false;
  const step = (name, fn) =>
    it(name, { timeout }, async (t) => {
      if (failed) {
        t.skip('an earlier step failed');
        return;
      }
      try {
        await fn(t);
      } catch (e) {
        failed = true;
        throw e;
      }
    });
  return {
    step,
    fail: () => {
      failed = true;
    },
    failed: () => failed,
  };
}

/** Polls `fn` until it returns a truthy value or the deadline passes; returns the value. An
 * error with `fatal: true` thrown by `fn` ends the wait at once. */
export async function until(what, fn, { timeout = 60_000, interval = 250 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  let lastError;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      // A condition that can never become true (the server process is gone) ends the wait.
      if (e?.fatal) throw e;
      lastError = e;
    }
    if (Date.now() > deadline) {
      const detail = lastError ? `; last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${detail}`);
    }
    await sleep(interval);
  }
}

/** Keeps the last `max` lines of a process stream. */
export function collect(stream, sink, prefix, max = 4000) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buf += chunk;
    const lines = buf.split('\n');
    buf = lines.pop();
    for (const line of lines) {
      sink.push(prefix + line);
      if (sink.length > max) sink.shift();
    }
  });
  stream.on('end', () => {
    if (buf) sink.push(prefix + buf);
  });
}

/**
 * Starts `confidant serve` on free loopback ports with `dataDir`, logging into `log`, and waits
 * (bounded) until /readyz answers. Returns `{ server, base, port, udpPort, exit }` where
 * `exit()` is the exit status once the process ended (null while it runs).
 */
export async function startServer({ dataDir, extraArgs = [], env = {}, log }) {
  const { spawn } = await import('node:child_process');
  const port = await freeTcpPort();
  const udpPort = await freeUdpPort();
  const base = `http://127.0.0.1:${port}`;
  const args = [
    'serve',
    '--listen', `127.0.0.1:${port}`,
    '--data-dir', dataDir,
    '--sfu-bind', `127.0.0.1:${udpPort}`,
    // extraArgs may advertise another SFU address (then it replaces the default).
    ...(extraArgs.includes('--sfu-advertise') ? [] : ['--sfu-advertise', '127.0.0.1']),
    '--public-url', base,
    ...extraArgs,
  ];
  log.push(`$ ${BIN} ${args.join(' ')}`);
  const server = spawn(BIN, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info', RUST_BACKTRACE: '1', NO_COLOR: '1', ...env },
  });
  let exitStatus = null;
  collect(server.stdout, log, '[out] ');
  collect(server.stderr, log, '[err] ');
  server.on('exit', (code, signal) => {
    exitStatus = { code, signal };
    log.push(`server exited: code=${code} signal=${signal}`);
  });
  server.on('error', (e) => {
    exitStatus = { error: e.message };
    log.push(`server failed to start: ${e.message}`);
  });
  await until(
    'GET /readyz to answer 200',
    async () => {
      if (exitStatus) {
        throw Object.assign(new Error(`server exited early: ${JSON.stringify(exitStatus)}`), {
          fatal: true,
        });
      }
      const res = await fetch(`${base}/readyz`).catch(() => null);
      return res && res.status === 200;
    },
    { timeout: 60_000, interval: 200 },
  );
  return { server, base, port, udpPort, exit: () => exitStatus };
}

/** Every mail in `maildir`, parsed by tests/mail/inspect_mail.py (Python's own e-mail parser). */
export function inspectMails(maildir) {
  const out = spawnSync('python3', [path.resolve(here, '../mail/inspect_mail.py'), maildir], { encoding: 'utf8', timeout: 30_000 });
  if (out.status !== 0) throw new Error(`inspect_mail.py failed: ${out.stderr}`);
  return JSON.parse(out.stdout);
}

/** Creates a counsellor with the admin CLI; throws with its stderr on failure. */
export async function createCounsellor(dataDir, { email, name, password }) {
  const { spawnSync } = await import('node:child_process');
  const admin = spawnSync(BIN, ['admin', 'create-counsellor', '--data-dir', dataDir, '--email', email, '--name', name, '--password-stdin'], {
    input: password + '\n',
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  if (admin.status !== 0) throw new Error(`create-counsellor failed: ${admin.stderr || admin.error}`);
}

/** Ends a child process: SIGTERM, then SIGKILL after 5 s (bounded). */
export async function stopProcess(p) {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGTERM');
  await Promise.race([new Promise((r) => p.once('exit', r)), sleep(5_000)]);
  if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}

/**
 * A page in a fresh browser context, allowed camera and microphone on `base` (fake devices), with
 * page errors collected into `logs`.
 */
export async function mediaPage(browser, base, { logs, width = 1024, height = 700, timeout = 90_000 }) {
  const context = await browser.newContext({ viewport: { width, height }, locale: 'en-US' });
  await context.grantPermissions(['camera', 'microphone'], { origin: base });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on('pageerror', (e) => logs.push(`[page] ${e.message}`));
  return page;
}

/**
 * The usual start of a call: the counsellor (`email`, `password`) logs in on a new page, starts
 * an instant session; a client on another page joins with the link as `name` and is admitted.
 * `newPage()` makes the pages (with camera and microphone granted). Returns both pages.
 */
export async function callWithClient({ base, newPage, email, password, name = 'Robin' }) {
  const host = await newPage();
  await host.goto(`${base}/login`);
  await host.getByTestId('email-input').fill(email);
  await host.getByTestId('password-input').fill(password);
  await host.getByTestId('login-button').click();
  await host.waitForURL(/\/dashboard$/);
  await host.getByTestId('start-session-button').click();
  await host.waitForURL(/\/s\/[^/?#]+$/);
  const link = host.getByTestId('join-link');
  await link.waitFor({ state: 'visible' });
  const url = await link.inputValue();

  const client = await newPage();
  await client.goto(url);
  await client.getByTestId('name-input').fill(name);
  await client.getByTestId('join-button').click();
  await client.getByTestId('lobby-waiting').waitFor({ state: 'visible' });
  await host.locator(`[data-testid="admit-button"][data-lobby-name="${name}"]`).click();
  return { host, client };
}

/** Turns the page's microphone on or off in the call, with its own button. */
export async function setMic(page, on) {
  const muted = await page.evaluate(() => window.confidant.call.audioMuted);
  if (muted === on) await page.getByTestId('mic-toggle').click();
}

/** mulberry32: a seeded PRNG, so a failing run can be repeated. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A UDP link between the browsers and the SFU, made here on loopback (like a NAT on a bad or
 * broken line; this kernel has no `tc netem`): listens on `port` and forwards to the SFU at
 * `target`, each browser through its own socket so the SFU sees one address per browser.
 * `loss` drops that share of the datagrams each way (seeded), `delayMs` = [min, max] delays
 * the rest (so some arrive out of order); `block(true)` drops everything until `block(false)`,
 * a path that broke while the websocket (TCP) stays up.
 */
export function udpRelay(port, target, { loss = 0, delayMs = [0, 0], seed = 1 } = {}) {
  const random = prng(seed);
  const front = dgram.createSocket('udp4');
  const backs = new Map(); // "ip:port" of a browser → its socket towards the SFU
  const counts = { forwarded: 0, dropped: 0, blocked: 0 };
  let open = true;
  let blocked = false;
  const later = (fn) => {
    if (blocked) {
      counts.blocked += 1;
      return;
    }
    if (loss > 0 && random() < loss) {
      counts.dropped += 1;
      return;
    }
    counts.forwarded += 1;
    const delay = delayMs[0] + random() * (delayMs[1] - delayMs[0]);
    if (delay > 0) setTimeout(() => open && fn(), delay);
    else fn();
  };
  front.on('message', (msg, from) => {
    const key = `${from.address}:${from.port}`;
    let back = backs.get(key);
    if (!back) {
      if (backs.size >= 64) return; // bounded
      back = dgram.createSocket('udp4');
      back.on('message', (reply) => later(() => open && front.send(reply, from.port, from.address)));
      back.bind(0, '127.0.0.1');
      backs.set(key, back);
    }
    later(() => open && back.send(msg, target.port, target.address));
  });
  front.bind(port, '127.0.0.1');
  return {
    counts,
    block(on) {
      blocked = on;
    },
    close() {
      open = false;
      front.close();
      for (const b of backs.values()) b.close();
    },
  };
}

/**
 * A server whose SFU the browsers reach only through a `udpRelay` made here (`relayOptions`):
 * the SFU advertises the relay's port, and ICE-TCP is off. What `startServer` returns, plus
 * `relay`.
 */
export async function startServerBehindRelay({ dataDir, log, extraArgs = [], env = {}, relayOptions = {} }) {
  const relayPort = await freeUdpPort();
  const started = await startServer({
    dataDir,
    log,
    extraArgs: ['--sfu-advertise', `127.0.0.1:${relayPort}`, '--sfu-tcp', 'off', ...extraArgs],
    env,
  });
  const relay = udpRelay(relayPort, { address: '127.0.0.1', port: started.udpPort }, relayOptions);
  return { ...started, relay };
}

/** The value of one Prometheus sample (`name` with its labels, if any) from `/metrics`; NaN if absent. */
export async function metric(base, name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

// ------------------------------------------------------------------ either browser (puppeteer-core)

export const FIREFOX = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr';

/**
 * Firefox prefs for calls to an SFU on 127.0.0.1 (verified on these machines, see shared
 * WEBRTC-NOTES): fake camera and microphone with permissions granted. Without the two
 * `permissions.default.*` prefs Firefox does not count fake capture as capturing, gathers only its
 * default-route address, never 127.0.0.1, and ICE to a loopback SFU fails.
 */
export const FIREFOX_PREFS = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'permissions.default.camera': 1,
  'permissions.default.microphone': 1,
  'media.peerconnection.ice.loopback': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'media.peerconnection.ice.default_address_only': false,
  // a quiet start: no connections to the outside
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'browser.safebrowsing.update.enabled': false,
  'app.update.enabled': false,
};

/** The browsers `launchBrowser` knows. */
export const BROWSER_KINDS = ['chromium', 'firefox'];

/**
 * Launches the system's Chromium (`CHROMIUM_PATH`, over CDP) or Firefox ESR (`FIREFOX_PATH`, over
 * WebDriver BiDi) through puppeteer-core, with fake camera and microphone allowed, so a test picks
 * either browser with one line: `const browser = await launchBrowser('firefox')`. Pages come
 * from `browserPage`. Headless unless `E2E_HEADFUL=1`.
 */
export async function launchBrowser(kind, { timeout = 90_000 } = {}) {
  const { default: puppeteer } = await import('puppeteer-core');
  const headless = process.env.E2E_HEADFUL !== '1';
  let launched;
  if (kind === 'chromium') {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
    launched = puppeteer.launch({ browser: 'chrome', executablePath: CHROMIUM, headless, args: CHROMIUM_ARGS, timeout, protocolTimeout: timeout });
  } else if (kind === 'firefox') {
    if (!fs.existsSync(FIREFOX)) throw new Error(`firefox not found at ${FIREFOX} (apt-get install firefox-esr, or set FIREFOX_PATH)`);
    launched = puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, headless, extraPrefsFirefox: FIREFOX_PREFS, timeout, protocolTimeout: timeout });
  } else {
    throw new Error(`unknown browser ${kind}; one of ${BROWSER_KINDS.join(', ')}`);
  }
  const browser = await launched;
  browser.kind = kind;
  return browser;
}

/**
 * Closes a `launchBrowser` browser, bounded: a browser that has not exited 15 s after being asked
 * is killed, so no test run leaves one behind.
 */
export async function closeBrowser(browser) {
  await Promise.race([browser.close().catch(() => {}), sleep(15_000)]);
  const proc = browser.process();
  if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
}

/**
 * A page in a fresh browser context (own cookies) of a `launchBrowser` browser, allowed camera
 * and microphone on `base`, its console and errors collected into `logs` prefixed with `name`;
 * `init` (a function) runs in every document before the page's scripts.
 */
export async function browserPage(browser, base, { logs, name = browser.kind, width = 1024, height = 700, timeout = 90_000, init = null }) {
  const context = await browser.createBrowserContext();
  // Firefox grants through FIREFOX_PREFS; Chromium through its flags, and here per origin too.
  if (browser.kind === 'chromium') await context.overridePermissions(base, ['camera', 'microphone']);
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  await page.setViewport({ width, height });
  if (init) await page.evaluateOnNewDocument(init);
  page.on('console', (msg) => logs.push(`[${name}] ${msg.type()}: ${msg.text()}`));
  page.on('pageerror', (e) => logs.push(`[${name}] pageerror: ${e.message}`));
  return page;
}

/** The CSS selector of an element by its `data-testid` (and optional extra attribute filter). */
/** A JSON request from inside `page` (its cookies, its origin): `{ status, body }`. */
export async function pageApi(page, method, url, body) {
  return page.evaluate(
    async ([method, url, body]) => {
      const r = await fetch(url, { method, headers: { 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : null };
    },
    [method, url, body],
  );
}

export const tid = (id, extra = '') => `[data-testid="${id}"]${extra}`;

/** The sections of the counsellor's workspace (web/static/dashboard/workspace.js), in order. */
export const DASHBOARD_SECTIONS = ['today', 'sessions', 'walkins', 'bookings', 'calendars', 'signatures', 'settings'];

/** A counsellor logs in on a Playwright `page` and lands on the dashboard (its "today" view). */
export async function loginCounsellor(page, base, { email, password }) {
  await page.goto(`${base}/login`);
  await page.getByTestId('email-input').fill(email);
  await page.getByTestId('password-input').fill(password);
  await page.getByTestId('login-button').click();
  await page.waitForURL(`${base}/dashboard`);
}

/**
 * Opens section `id` of the counsellor's workspace (the dashboard) through its navigation, as a
 * person would: on a narrow screen through the menu button first. For Playwright pages.
 */
export async function openSection(page, id) {
  const link = page.getByTestId(`nav-${id}`);
  await page.getByTestId('ws-nav').waitFor();
  if (!(await link.isVisible())) await page.getByTestId('nav-menu').click();
  await link.click();
  await page.getByTestId(`section-${id}`).waitFor();
}

/**
 * A counsellor's `launchBrowser` page logs in and starts an instant session; returns the join
 * link once the counsellor is in the (still empty) call.
 */
export async function startInstantSession(page, base, { email, password }) {
  await page.goto(`${base}/login`);
  await page.locator(tid('email-input')).fill(email);
  await page.locator(tid('password-input')).fill(password);
  await page.locator(tid('login-button')).click();
  await until('the dashboard after login', () => new URL(page.url()).pathname === '/dashboard');
  await page.locator(tid('start-session-button')).click();
  await until('the session page', () => /^\/s\/[^/?#]+$/.test(new URL(page.url()).pathname));
  const link = await page.waitForSelector(tid('join-link'), { visible: true });
  const url = await link.evaluate((el) => el.value);
  await page.waitForFunction(() => window.confidant && window.confidant.state === 'in-call');
  return url;
}

/**
 * What a call page shows and measures (works with Playwright and puppeteer pages), or null before
 * it has a peer connection: the transports and the selected ICE candidate pair (state, remote
 * end), per remote participant its tracks, the video frames decoded, the video's width and the
 * audio packets and bytes received, and the end-to-end encryption badge, safety code, the
 * encryption worker's counters and mode, and the video codecs in use.
 */
export async function callSnapshot(page) {
  return page.evaluate(async () => {
    const c = window.confidant;
    if (!c || !c.pc) return null;
    const pc = c.pc;
    const stats = await pc.getStats();
    const byTrack = new Map();
    const codecs = new Set();
    let pairId = null;
    let fallbackPair = null;
    let transports = 0;
    stats.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.trackIdentifier) byTrack.set(r.trackIdentifier, r);
      if ((r.type === 'inbound-rtp' || r.type === 'outbound-rtp') && r.kind === 'video' && r.codecId) {
        const codec = stats.get(r.codecId);
        if (codec) codecs.add(codec.mimeType);
      }
      if (r.type === 'transport') transports += 1;
      if (r.type === 'transport' && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
      // Firefox marks the pair in use on the pair itself
      if (r.type === 'candidate-pair' && r.selected === true) fallbackPair = r.id;
    });
    const pair = stats.get(pairId || fallbackPair);
    const rc = pair ? stats.get(pair.remoteCandidateId) : null;
    const participants = {};
    for (const [pid, tile] of Object.entries(c.tiles || {})) {
      const stream = tile.stream;
      const sum = (tracks, field) => tracks.map((tr) => byTrack.get(tr.id)).reduce((n, r) => n + ((r && r[field]) || 0), 0);
      const video = tile.element && tile.element.querySelector('video');
      const videoTracks = stream ? stream.getVideoTracks() : [];
      const audioTracks = stream ? stream.getAudioTracks() : [];
      participants[pid] = {
        name: tile.name,
        videoTracks: videoTracks.length,
        audioTracks: audioTracks.length,
        framesDecoded: sum(videoTracks, 'framesDecoded'),
        audioPackets: sum(audioTracks, 'packetsReceived'),
        audioBytes: sum(audioTracks, 'bytesReceived'),
        videoWidth: video ? video.videoWidth : 0,
      };
    }
    const badge = document.querySelector('[data-testid="e2ee-status"]');
    const code = document.querySelector('[data-testid="safety-code"]');
    return {
      participantId: c.participantId,
      connectionState: pc.connectionState,
      // peer connections the page made (counted where a test's init script wraps the constructor)
      pcCount: (window.__pcs || []).length,
      transports,
      pairState: pair ? pair.state : null,
      remote: rc ? { address: rc.address || rc.ip, port: rc.port, protocol: rc.protocol, type: rc.candidateType } : null,
      participants,
      e2ee: {
        state: badge ? badge.dataset.e2ee : null,
        participants: badge ? Number(badge.dataset.participants) : 0,
        code: code && code.offsetParent !== null ? code.textContent : '',
        mode: c.call && c.call.e2ee ? c.call.e2ee.mode : null,
        stats: c.e2ee ? await c.e2ee.stats() : null,
      },
      videoCodecs: [...codecs],
    };
  });
}

/**
 * Checks the SFU's test capture (`CONFIDANT_SFU_CAPTURE`, server built with `--features
 * test-capture`) for the frames of `publishers` (participant id → `{ name, stats }`, stats from
 * that page's encryption worker): every one is SFrame after the VP8 clear prefix (video) or from
 * the first byte (audio), under a KID and counter the publisher used, long enough for a tag, never
 * with a nonce seen before, and none holds plaintext the publisher sampled before encrypting. A
 * frame from any other publisher fails the check. Returns the counts per publisher name and kind,
 * the frames checked and the plaintext samples looked for.
 */
export async function checkCapturedFrames(capturePath, publishers) {
  const { decodeHeader } = await import('../../web/static/call/sframe.js');
  if (!fs.existsSync(capturePath)) throw new Error(`the SFU wrote no capture file at ${capturePath}: build the server with --features test-capture`);
  const frames = fs
    .readFileSync(capturePath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const counts = {};
  const nonces = new Set();
  for (const f of frames) {
    if (!publishers[f.publisher]) throw new Error(`a frame from an unknown publisher ${f.publisher}`);
    const { name, stats } = publishers[f.publisher];
    counts[name] ??= { audio: 0, video: 0 };
    counts[name][f.kind]++;
    const head = Buffer.from(f.head, 'hex');
    // video keeps its VP8 clear prefix (docs/E2EE.md); audio is SFrame from the first byte
    const prefix = f.kind === 'video' ? ((head[0] & 1) === 0 ? 10 : 3) : 0;
    const h = decodeHeader(head, prefix);
    if (h.kid > BigInt(stats.sendKid)) throw new Error(`${name}'s ${f.kind} frame has KID ${h.kid}, beyond its keys (${stats.sendKid})`);
    if (h.ctr >= BigInt(stats.encrypted + 1000)) throw new Error(`${name}'s ${f.kind} frame has CTR ${h.ctr}, more than it encrypted (${stats.encrypted})`);
    if (f.len < prefix + h.length + 16 + 1) throw new Error(`${name}'s ${f.kind} frame is too short for SFrame (${f.len} bytes)`);
    const nonce = `${f.publisher}/${h.kid}/${h.ctr}`;
    if (nonces.has(nonce)) throw new Error(`nonce reused: ${nonce}`);
    nonces.add(nonce);
  }
  let samples = 0;
  for (const { name, stats } of Object.values(publishers)) {
    for (const p of stats.plainSamples) {
      samples++;
      if (frames.some((f) => f.head.includes(p.hex))) throw new Error(`${name}'s plaintext ${p.kind} bytes reached the SFU`);
    }
  }
  return { counts, frames: frames.length, samples };
}

/** A real SMTP server (aiosmtpd) on `port` that delivers into `maildir`; its stderr into `log`. */
export async function startSmtp(port, maildir, log) {
  const { spawn } = await import('node:child_process');
  const smtp = spawn('python3', ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Mailbox', maildir], { stdio: ['ignore', 'ignore', 'pipe'] });
  collect(smtp.stderr, log, '[smtp] ');
  return smtp;
}

// ------------------------------------------------------------------ one suite's set-up and teardown

/**
 * The set-up every browser suite shares, and its teardown, guaranteed: call it at the top of a
 * `describe`. It registers the suite's `before` and `after` hooks and returns the suite's context
 * `ctx`, whose fields `before` fills in:
 *
 * - `ctx.dir`: a fresh temporary folder `confidant-<name>-…`, removed at the end (kept, with the
 *   data, when a step of `steps` failed); `ctx.dataDir` (`ctx.dir/data`): the server's data folder.
 * - `ctx.logs`: the output of the server and the services; `ctx.browserLog`: the browsers' console
 *   (the same array unless `browserArtifact` is given); both are written to ARTIFACTS at the end.
 * - `ctx.smtpPort`, `ctx.maildir` (with `smtp`): an aiosmtpd that delivers into `ctx.dir/maildir`.
 * - `ctx.server`, `ctx.base`, `ctx.port`, `ctx.udpPort`, `ctx.exit()` (what `startServer` returns), and
 *   `ctx.relay` (with `relay`).
 * - `ctx.browser` (the first browser), `ctx.browsers` (by kind).
 * - `ctx.step` (with `steps`): the scenario's step function.
 * - `ctx.pages`: name → page; on failure each gets a screenshot `<name>-failure-<page>.png`.
 *   `ctx.newPage(name, options)` makes a logged Playwright page and puts it there.
 * - `ctx.own(process)`: a process the suite started itself (in `services`, say), stopped at the end.
 *
 * Options (all but `name` optional):
 * - `name`: names the folder, the screenshots and the log artefact (`<name>-server.log`; `artifact`
 *   names it otherwise, `null`: none); `browserArtifact`: a separate file for the browsers' console.
 * - `logs`: an array to collect the output into (a suite inside another shares its log).
 * - `smtp`: start aiosmtpd and give the server `--smtp-host/--smtp-port/--smtp-tls none` and
 *   `--mail-from <mailFrom>`.
 * - `services(ctx)`: starts what the server needs before it runs (Radicale, coturn, a TSA, another
 *   SMTP server); `ctx.own` each process.
 * - `server`: `{ extraArgs, env }` for `startServer`, or a function of `ctx` that returns them (for
 *   ports `services` chose); `false`: no server. `relay`: options of a `udpRelay` in front of the
 *   SFU (`startServerBehindRelay`).
 * - `counsellors`: `{ email, name, password }`s made with the admin CLI once the server runs.
 * - `browser`: `'playwright'` (the default: Chromium through Playwright, headless unless
 *   `E2E_HEADFUL=1`, with `chromiumArgs` added to CHROMIUM_ARGS), `'chromium'`/`'firefox'` or a
 *   list of them (`launchBrowser`, puppeteer-core), or `null`.
 * - `steps`: the options of `scenarioSteps()` (or `true`) for a suite of steps: `ctx.step` is its
 *   step function. A failed set-up fails the scenario; once it failed, the pages get screenshots,
 *   the last log lines are printed and the folder is kept.
 * - `teardown(ctx, { failed })`: runs at the end, after the screenshots and before the browsers
 *   and processes are ended (close what the suite's tests opened).
 * - `finish(ctx, { failed })`: runs last at the end, after the artefacts are written.
 */
export function suite({
  name,
  logs = [],
  artifact = `${name}-server.log`,
  browserArtifact = null,
  smtp = false,
  mailFrom = 'Beratungsstelle <termine@centre.example>',
  services = null,
  server = {},
  relay = null,
  counsellors = [],
  browser = 'playwright',
  chromiumArgs = [],
  steps = null,
  teardown = null,
  finish = null,
}) {
  const s = {
    logs,
    browserLog: browserArtifact ? [] : logs,
    pages: {},
    browsers: {},
    owned: [],
    own(p) {
      s.owned.push(p);
      return p;
    },
    /**
     * A page `name` in a fresh context of the suite's Playwright browser (`options` go to
     * `newContext`; `grant`: camera and microphone on `ctx.base`; `init`: a script run in every
     * document first), its console, errors, crash and failed responses logged into
     * `ctx.browserLog`, and kept in `ctx.pages` (for the screenshots on failure).
     */
    async newPage(name, { grant = false, init = null, timeout = 60_000, ...options } = {}) {
      const context = await s.browser.newContext(options);
      if (grant) await context.grantPermissions(['camera', 'microphone'], { origin: s.base });
      if (init) await context.addInitScript(init);
      const page = await context.newPage();
      page.setDefaultTimeout(timeout);
      page.on('console', (msg) => s.browserLog.push(`[${name}] ${msg.type()}: ${msg.text()}`));
      page.on('pageerror', (err) => s.browserLog.push(`[${name}] pageerror: ${err.message}`));
      page.on('crash', () => s.browserLog.push(`[${name}] page crashed`));
      page.on('response', (res) => {
        if (res.status() >= 400) s.browserLog.push(`[${name}] HTTP ${res.status()} ${res.request().method()} ${res.url()}`);
      });
      s.pages[name] = page;
      return page;
    },
  };
  const scenario = steps ? scenarioSteps(steps === true ? {} : steps) : null;
  s.step = scenario ? scenario.step : null;
  const failed = () => (scenario ? scenario.failed() : false);

  before(async () => {
    try {
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      if (server !== false) assert.ok(fs.existsSync(BIN), `server binary not found at ${BIN} (set CONFIDANT_BIN or run cargo build)`);
      s.dir = fs.mkdtempSync(path.join(os.tmpdir(), `confidant-${name}-`));
      s.dataDir = path.join(s.dir, 'data');
      const smtpArgs = [];
      if (smtp) {
        s.maildir = path.join(s.dir, 'maildir');
        s.smtpPort = await freeTcpPort();
        s.own(await startSmtp(s.smtpPort, s.maildir, logs));
        smtpArgs.push('--smtp-host', '127.0.0.1', '--smtp-port', String(s.smtpPort), '--smtp-tls', 'none', '--mail-from', mailFrom);
      }
      if (services) await services(s);
      if (server !== false) {
        const { extraArgs = [], env = {} } = typeof server === 'function' ? await server(s) : server;
        const opts = { dataDir: s.dataDir, log: logs, extraArgs: [...smtpArgs, ...extraArgs], env };
        Object.assign(s, relay ? await startServerBehindRelay({ ...opts, relayOptions: relay }) : await startServer(opts));
        for (const c of counsellors) await createCounsellor(s.dataDir, c);
      }
      const kinds = browser === null ? [] : Array.isArray(browser) ? browser : [browser];
      // one after the other: two browsers starting at once on two cores only slow each other
      for (const kind of kinds) {
        if (kind === 'playwright') assert.ok(fs.existsSync(CHROMIUM), `chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
        s.browsers[kind] =
          kind === 'playwright'
            ? await (await import('playwright-core')).chromium.launch({
                executablePath: CHROMIUM,
                headless: process.env.E2E_HEADFUL !== '1',
                args: [...CHROMIUM_ARGS, ...chromiumArgs],
                timeout: 60_000,
              })
            : await launchBrowser(kind);
      }
      s.browser = kinds.length ? s.browsers[kinds[0]] : null;
    } catch (e) {
      if (scenario) scenario.fail();
      throw e;
    }
  });

  after(async () => {
    const bad = failed();
    // Every part is ended even when an earlier one throws: nothing is left running.
    const attempt = async (what, fn) => {
      try {
        await fn();
      } catch (e) {
        logs.push(`teardown: ${what} failed: ${e.message}`);
      }
    };
    if (bad) {
      for (const [page, p] of Object.entries(s.pages)) {
        await attempt(`screenshot of ${page}`, () => p.screenshot({ path: path.join(ARTIFACTS, `${name}-failure-${page}.png`), fullPage: true, timeout: 10_000 }));
      }
    }
    if (teardown) await attempt('the suite\'s own teardown', () => teardown(s, { failed: bad }));
    for (const b of Object.values(s.browsers)) await attempt('closing a browser', () => (b.kind ? closeBrowser(b) : Promise.race([b.close().catch(() => {}), sleep(15_000)])));
    await attempt('stopping the server', () => stopProcess(s.server));
    if (s.relay) await attempt('closing the relay', () => s.relay.close());
    for (const p of s.owned.reverse()) await attempt('stopping a service', () => stopProcess(p));
    try {
      if (artifact) fs.writeFileSync(path.join(ARTIFACTS, artifact), logs.join('\n') + '\n');
      if (browserArtifact) fs.writeFileSync(path.join(ARTIFACTS, browserArtifact), s.browserLog.join('\n') + '\n');
    } catch {
      // artefacts are best effort
    }
    if (bad) {
      console.error(`\n==================== ${name}: server output (last lines) ====================`);
      console.error(logs.slice(-300).join('\n'));
      if (browserArtifact) {
        console.error(`\n==================== ${name}: browser console (last lines) ====================`);
        console.error(s.browserLog.slice(-200).join('\n'));
      }
      console.error(`\nartefacts: ${ARTIFACTS}${s.dir ? `; data kept in ${s.dir}` : ''}`);
    }
    if (finish) await attempt('the suite\'s own finish', () => finish(s, { failed: bad }));
    if (s.dir && !bad) fs.rmSync(s.dir, { recursive: true, force: true });
  });

  return s;
}

/** A real PNG of `w`×`h` solid colour (what a logo file is), made with zlib. */
export function solidPng(w, h, [r, g, b]) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: w }, () => [r, g, b]).flat())]);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/**
 * `--centre-*` flags of a full centre profile (tests/e2e/centre.test.mjs sets one with the CLI):
 * for suites that check every public page with the header, footer and next steps a centre shows.
 * `dir`: where the logo file is written.
 */
export function centreProfileArgs(dir) {
  const logo = path.join(dir, 'centre-logo.png');
  fs.writeFileSync(logo, solidPng(64, 32, [11, 92, 112]));
  return [
    '--centre-name', 'Beratungsstelle Nord',
    '--centre-logo', logo,
    '--centre-address', 'Hauptstraße 1\\n12345 Musterstadt',
    '--centre-imprint-url', 'https://centre.example/impressum',
    '--centre-privacy-url', 'https://centre.example/datenschutz',
    '--centre-emergency-label', 'TelefonSeelsorge',
    '--centre-emergency-phone', '0800 111 0 111',
    '--centre-emergency-text', 'In an acute crisis, call now: free of charge, day and night.',
    '--centre-opening-hours', 'Mon–Fri 9–17',
    '--centre-contact-email', 'hallo@centre.example',
  ];
}

/**
 * On a signing page: fills the signer's name, ticks the consent and draws a stroke on the pad
 * with the mouse (a handwritten signature), ready to submit.
 */
export async function fillSignature(page, name = 'Alex Muster') {
  const pad = page.getByTestId('signature-pad');
  await pad.waitFor();
  await page.getByTestId('signer-name').fill(name);
  await page.getByTestId('sign-consent').check();
  await pad.scrollIntoViewIfNeeded();
  const box = await pad.boundingBox();
  await page.mouse.move(box.x + 30, box.y + box.height * 0.6);
  await page.mouse.down();
  for (let i = 1; i <= 24; i++) await page.mouse.move(box.x + 30 + i * 9, box.y + box.height * (0.6 - 0.25 * Math.sin(i / 2)));
  await page.mouse.up();
}
