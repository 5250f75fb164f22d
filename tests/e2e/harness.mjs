// Small helpers shared by the browser tests that start their own servers.

import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
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

/** Polls `fn` until it returns a truthy value or the deadline passes; returns the value. */
export async function until(what, fn, { timeout = 60_000, interval = 250 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  let lastError;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
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
      if (exitStatus) throw new Error(`server exited early: ${JSON.stringify(exitStatus)}`);
      const res = await fetch(`${base}/readyz`).catch(() => null);
      return res && res.status === 200;
    },
    { timeout: 60_000, interval: 200 },
  );
  return { server, base, port, udpPort, exit: () => exitStatus };
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
 * The usual start of a call: the counsellor (`email`, `password`) logs in on a new page, starts
 * an instant session; a client on another page joins with the link as `name` and is admitted.
 * `newPage()` makes the pages (with camera and microphone granted). Returns both pages.
 */
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
 * The usual end of a browser suite: closes the browser (bounded), stops the server, writes the
 * collected log to ARTIFACTS/`artifact` (best effort) and removes the suite's folder.
 */
export async function endSuite({ browser, server, logs, artifact, dir }) {
  if (browser) await Promise.race([browser.close().catch(() => {}), sleep(15_000)]);
  await stopProcess(server);
  try {
    fs.writeFileSync(path.join(ARTIFACTS, artifact), logs.join('\n') + '\n');
  } catch {
    // artefacts are best effort
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

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
export async function startServerBehindRelay({ dataDir, log, relayOptions = {} }) {
  const relayPort = await freeUdpPort();
  const started = await startServer({
    dataDir,
    log,
    extraArgs: ['--sfu-advertise', `127.0.0.1:${relayPort}`, '--sfu-tcp', 'off'],
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
