// Parts of the call screen and the pre-join check that hold no call state: the connection
// quality of a participant from WebRTC statistics, the elapsed-time format, the leave dialog, a
// microphone level meter, which browser this is (for the permission help) and that help.

import { t } from '../shared/i18n.js';
import { h, clear } from '../shared/ui.js';
import './i18n-call.js';

/**
 * Limits between the quality levels. Loss: video recovers from a little loss by retransmission,
 * Opus starts to sound broken from a few per cent; round-trip time: ITU-T G.114 calls one-way
 * delays up to 150 ms fine and above 400 ms unacceptable for talking (RTT is twice that);
 * jitter: the browser's jitter buffer hides some tens of ms, more makes speech choppy; bitrate:
 * below 100 kbit/s not even the smallest simulcast layer (150 kbit/s, call.js) plus Opus fits.
 */
export const QUALITY_LIMITS = {
  /** Packet loss share (0–1): from this, fair / poor. */
  loss: [0.02, 0.08],
  /** Round-trip time in ms: from this, fair / poor. */
  rttMs: [300, 600],
  /** Interarrival jitter in ms: from this, fair / poor. */
  jitterMs: [30, 80],
  /** Available bitrate in bit/s: below this, fair / poor (the order is the other way round). */
  bitrate: [300_000, 100_000],
};

/**
 * The quality level of a connection from what its statistics say: `good`, `fair` or `poor`
 * (the worst of the measures), `unknown` while nothing was measured. Each measure may be
 * missing (`null`/`undefined`).
 */
export function classifyQuality({ loss, rttMs, jitterMs, bitrate } = {}) {
  let level = -1;
  const worse = (value, [fair, poor], lowerIsWorse = false) => {
    if (value === null || value === undefined || Number.isNaN(value)) return;
    let l = 0;
    if (lowerIsWorse ? value < poor : value >= poor) l = 2;
    else if (lowerIsWorse ? value < fair : value >= fair) l = 1;
    level = Math.max(level, l);
  };
  worse(loss, QUALITY_LIMITS.loss);
  worse(rttMs, QUALITY_LIMITS.rttMs);
  worse(jitterMs, QUALITY_LIMITS.jitterMs);
  worse(bitrate, QUALITY_LIMITS.bitrate, true);
  return ['unknown', 'good', 'fair', 'poor'][level + 1];
}

/** `m:ss`, or `h:mm:ss` from an hour on. */
export function formatElapsed(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const s = total % 60;
  const m = Math.floor(total / 60) % 60;
  const hours = Math.floor(total / 3600);
  const two = (n) => String(n).padStart(2, '0');
  return hours > 0 ? `${hours}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

/**
 * The connection-quality mark of a tile: three bars (how many are filled says the level, so
 * colour is not the only cue) and the level in words as its accessible name and tooltip.
 */
export function qualityMark() {
  const el = h(
    'span',
    { class: 'net-quality', testid: 'net-quality', dataset: { quality: 'unknown' }, attrs: { role: 'img' } },
    h('span', { class: 'net-bar', attrs: { 'aria-hidden': 'true' } }),
    h('span', { class: 'net-bar', attrs: { 'aria-hidden': 'true' } }),
    h('span', { class: 'net-bar', attrs: { 'aria-hidden': 'true' } }),
  );
  const text = h('span', { class: 'net-text visually-hidden', testid: 'net-quality-text' });
  const wrap = h('span', { class: 'net-quality-wrap' }, el, text);
  const set = (level, detail) => {
    el.dataset.quality = level;
    const words = t('cs.quality_' + level);
    el.setAttribute('aria-label', words);
    el.title = detail ? `${words} (${detail})` : words;
    text.textContent = words;
  };
  set('unknown');
  return { element: wrap, set };
}

/**
 * A modal dialog (`<dialog>` with `showModal`: the rest of the page is inert; Tab and Shift+Tab
 * go round inside it) that asks before something is done. Escape or "Stay" closes it and gives the focus back to
 * `opener`; `onConfirm` runs on the confirm button. Returns `{ element, open, close }`.
 */
export function confirmDialog({ title, text, yes, no, testid, confirmTestid, onConfirm }) {
  const titleId = `${testid}-title`;
  const textId = `${testid}-text`;
  let opener = null;
  const yesButton = h('button', { type: 'button', class: 'button button-danger', text: yes, testid: confirmTestid });
  const noButton = h('button', { type: 'button', class: 'button', text: no, testid: `${confirmTestid}-cancel` });
  const dialog = h(
    'dialog',
    { class: 'confirm-dialog', testid, attrs: { 'aria-labelledby': titleId, 'aria-describedby': textId } },
    h('h2', { id: titleId, text: title }),
    h('p', { id: textId, text }),
    h('div', { class: 'dialog-actions' }, noButton, yesButton),
  );
  const close = () => {
    if (dialog.open) dialog.close();
  };
  // Escape fires `cancel`, then `close`; every way out gives the focus back.
  dialog.addEventListener('close', () => {
    if (opener && opener.isConnected) opener.focus();
  });
  // `showModal` makes the page inert, but Tab from the last button would still leave for the
  // browser's own toolbar: wrap around inside the dialog instead.
  dialog.addEventListener('keydown', (e) => {
    if (e.key !== 'Tab') return;
    const stops = [...dialog.querySelectorAll('button:not([disabled])')];
    if (!stops.length) return;
    const first = stops[0];
    const last = stops[stops.length - 1];
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  });
  noButton.addEventListener('click', close);
  yesButton.addEventListener('click', () => {
    yesButton.disabled = true;
    opener = null;
    close();
    onConfirm();
  });
  const open = (from) => {
    opener = from || document.activeElement;
    yesButton.disabled = false;
    if (!dialog.isConnected) document.body.appendChild(dialog);
    if (!dialog.open) dialog.showModal();
    yesButton.focus();
  };
  return { element: dialog, open, close };
}

/**
 * A microphone level meter: a `<meter>` (0–1) fed from the stream's first audio track through
 * an AnalyserNode, with `data-level` for tests. The audio context may start suspended until the
 * page is touched (autoplay rules); it resumes on the first key or pointer press.
 */
export function levelMeter() {
  const meter = h('meter', {
    class: 'level-meter',
    min: 0,
    max: 1,
    low: 0.25,
    high: 0.9,
    optimum: 0.5,
    value: 0,
    testid: 'mic-level',
    attrs: { 'aria-label': t('pj.mic_level') },
  });
  meter.dataset.level = '0';
  meter.dataset.peak = '0';
  let ctx = null;
  let source = null;
  let timer = null;
  const resume = () => {
    if (ctx && ctx.state === 'suspended') ctx.resume().catch(() => {});
  };
  document.addEventListener('pointerdown', resume, true);
  document.addEventListener('keydown', resume, true);
  const stop = () => {
    clearInterval(timer);
    timer = null;
    if (source) source.disconnect();
    source = null;
    if (ctx) ctx.close().catch(() => {});
    ctx = null;
    meter.value = 0;
    meter.dataset.level = '0';
  };
  const attach = (stream) => {
    stop();
    const track = stream && stream.getAudioTracks()[0];
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!track || !AC) return;
    try {
      ctx = new AC();
      source = ctx.createMediaStreamSource(new MediaStream([track]));
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 1024;
      source.connect(analyser);
      const data = new Float32Array(analyser.fftSize);
      resume();
      // 10 times a second is smooth enough for a bar and cheap on a phone.
      timer = setInterval(() => {
        analyser.getFloatTimeDomainData(data);
        let sum = 0;
        for (const v of data) sum += v * v;
        const rms = Math.sqrt(sum / data.length);
        // speech sits around an RMS of 0.01–0.3: scale so that talking fills half to most of the bar
        const level = track.enabled ? Math.min(1, rms * 4) : 0;
        meter.value = level;
        meter.dataset.level = level.toFixed(3);
        meter.dataset.peak = Math.max(Number(meter.dataset.peak), level).toFixed(3);
      }, 100);
    } catch (e) {
      console.warn('no level meter', e);
      stop();
    }
  };
  return { element: meter, attach, stop };
}

/** The browser family for the permission help: `chromium`, `firefox`, `safari` or `other`. */
export function browserFamily(ua = navigator.userAgent) {
  if (/Firefox\/|FxiOS\//.test(ua)) return 'firefox';
  if (/Edg\/|OPR\/|Chrome\/|Chromium\/|CriOS\//.test(ua)) return 'chromium';
  if (/Safari\//.test(ua) && /Version\//.test(ua)) return 'safari';
  return 'other';
}

/**
 * Help when the browser refused camera and microphone (`NotAllowedError`): the steps for this
 * browser, and "Try again". `onRetry` asks for the devices again.
 */
export function permissionHelp({ onRetry }) {
  const family = browserFamily();
  const steps = h('ol', { class: 'permission-steps' });
  for (const n of [1, 2, 3]) steps.appendChild(h('li', { text: t(`pj.denied_${family}_${n}`) }));
  const retry = h('button', { type: 'button', class: 'button', text: t('pj.retry'), testid: 'permission-retry', onclick: () => onRetry() });
  return h(
    'section',
    {
      class: 'notice notice-warning permission-help',
      testid: 'permission-help',
      dataset: { browser: family },
      attrs: { 'aria-labelledby': 'permission-help-title' },
    },
    h('h3', { id: 'permission-help-title', text: t('pj.denied_title') }),
    h('p', { text: t('pj.denied_intro') }),
    h('p', { class: 'permission-browser', text: t('pj.browser_' + family) }),
    steps,
    h('p', { class: 'hint', text: t('pj.denied_system') }),
    retry,
  );
}

/**
 * The speaker choice, where the browser can route sound (`setSinkId`): a select of the audio
 * outputs, `null` elsewhere. `onChange(deviceId)` gets the chosen output ('' = system default).
 */
export function speakerSelect({ selected = '', onChange }) {
  if (typeof HTMLMediaElement === 'undefined' || !('setSinkId' in HTMLMediaElement.prototype)) return null;
  const id = 'spk-' + Math.random().toString(36).slice(2);
  const select = h('select', { id, testid: 'speaker-select' });
  const fill = async () => {
    let outputs = [];
    try {
      outputs = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'audiooutput');
    } catch {
      outputs = [];
    }
    clear(select);
    select.appendChild(h('option', { value: '', text: t('cs.speaker_default'), selected: !selected }));
    outputs
      .filter((d) => d.deviceId && d.deviceId !== 'default')
      .forEach((d, i) => {
        select.appendChild(h('option', { value: d.deviceId, text: d.label || t('join.device_default', { n: i + 1 }), selected: d.deviceId === selected }));
      });
  };
  select.addEventListener('change', () => {
    selected = select.value;
    onChange(selected);
  });
  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) navigator.mediaDevices.addEventListener('devicechange', fill);
  fill();
  return { element: h('div', { class: 'field' }, h('label', { for: id, text: t('cs.speaker') }), select), refresh: fill };
}

/** Routes an audio element to the chosen output (where the browser can); errors are ignored. */
export function applySink(audio, sinkId) {
  if (!audio || typeof audio.setSinkId !== 'function') return;
  if ((audio.sinkId || '') === (sinkId || '')) return;
  audio.setSinkId(sinkId || '').catch((e) => console.warn('could not route sound to the chosen speaker', e));
}

/** Remembered choices of this browser (not sent anywhere): layout and devices. */
export const prefs = {
  get(key, fallback = '') {
    try {
      const v = localStorage.getItem('confidant.' + key);
      return v === null ? fallback : v;
    } catch {
      return fallback;
    }
  },
  set(key, value) {
    try {
      localStorage.setItem('confidant.' + key, String(value));
    } catch {
      // private mode: not remembered
    }
  },
};
