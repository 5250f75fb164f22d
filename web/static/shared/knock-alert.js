// A knock is noticed: whenever more clients wait than before, a short tone (Web Audio, no sound
// file; the counsellor can turn it off, remembered in localStorage), the count in the page title
// ("(2) …", blinking while the tab is in the background), and a desktop notification when the
// counsellor allowed them. Permission is asked for only when the counsellor presses "Notify me
// of knocks", never on load. Notifications never name the client (special-category data): they
// say that someone is waiting.
//
// Used by the call page (the session's waiting room) and the dashboard (walk-in rings).

import { t } from './i18n.js';
import { h } from './ui.js';

/** Where the "sound off" choice is kept. */
const SOUND_KEY = 'confidant.knock-sound';
/** How often the title blinks while the tab is hidden and someone waits, in ms. */
const BLINK_MS = 1000;
/** The knock tone: two short rising beeps (Hz), each BEEP_S long. */
const TONE_HZ = [660, 880];
const BEEP_S = 0.18;
/** One notification at a time: a newer knock replaces the older one. */
const NOTIFY_TAG = 'confidant-knock';

let audio = null;
/** The page's AudioContext, resumed (browsers start it suspended before a user gesture). */
export function audioContext() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return null;
  if (!audio) audio = new Ctx();
  if (audio.state === 'suspended') audio.resume().catch(() => {});
  return audio;
}
// Any click on the page counts as the gesture that lets the tone play later.
document.addEventListener('click', () => audioContext(), { capture: true });

/** Whether the knock tone is on (the default). */
export function knockSoundOn() {
  try {
    return localStorage.getItem(SOUND_KEY) !== 'off';
  } catch {
    return true;
  }
}

function setKnockSound(on) {
  try {
    if (on) localStorage.removeItem(SOUND_KEY);
    else localStorage.setItem(SOUND_KEY, 'off');
  } catch {
    // Storage blocked: the choice lasts for this page only.
  }
}

/** Short sine beeps, one after the other, at `hz` (each `seconds` long, with a short pause). */
export function playTone(hz, seconds) {
  const ctx = audioContext();
  if (!ctx) return;
  hz.forEach((f, i) => {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'sine';
    osc.frequency.value = f;
    const start = ctx.currentTime + i * (seconds + 0.03);
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.3, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + seconds);
    osc.connect(gain).connect(ctx.destination);
    osc.start(start);
    osc.stop(start + seconds + 0.02);
  });
}

/** Plays the knock tone once, unless the counsellor turned it off. */
export function knockTone() {
  if (knockSoundOn()) playTone(TONE_HZ, BEEP_S);
}

const notificationsSupported = () => typeof window.Notification === 'function';

/** Every knock alert of the page: the title shows their sum (the dashboard has two sources). */
const alerts = [];
let blink = null;
let blinkOn = false;

/** The title: "(n) title" while n clients wait, blinking while the tab is hidden. */
function renderTitle() {
  if (!alerts.length) return;
  const total = alerts.reduce((n, a) => n + a.count, 0);
  const base = alerts[0].title();
  const blinking = total > 0 && document.hidden;
  if (blinking && !blink) {
    blink = setInterval(() => {
      blinkOn = !blinkOn;
      const n = alerts.reduce((sum, a) => sum + a.count, 0);
      document.title = blinkOn ? `(${n}) ${t('knock.title_waiting')}` : `(${n}) ${alerts[0].title()}`;
    }, BLINK_MS);
  } else if (!blinking && blink) {
    clearInterval(blink);
    blink = null;
    blinkOn = false;
  }
  if (!blinkOn) document.title = total > 0 ? `(${total}) ${base}` : base;
}
document.addEventListener('visibilitychange', renderTitle);

/** The page's knock controls: the tone on/off and "Notify me of knocks". */
export function knockControls() {
  const sound = h('button', { type: 'button', class: 'button button-quiet', testid: 'knock-sound' });
  const renderSound = () => {
    const on = knockSoundOn();
    sound.textContent = t(on ? 'knock.sound_on' : 'knock.sound_off');
    sound.setAttribute('aria-pressed', String(on));
  };
  sound.addEventListener('click', () => {
    setKnockSound(!knockSoundOn());
    renderSound();
    if (knockSoundOn()) knockTone();
  });
  renderSound();

  const state = h('span', { class: 'hint', testid: 'knock-notify-state', attrs: { role: 'status' } });
  const ask = h('button', { type: 'button', class: 'button button-quiet', text: t('knock.notify_ask'), testid: 'knock-notify' });
  const renderNotify = () => {
    const p = notificationsSupported() ? Notification.permission : 'unsupported';
    ask.hidden = p !== 'default';
    state.textContent = p === 'default' ? '' : t('knock.notify_' + p);
  };
  ask.addEventListener('click', async () => {
    // Asked for on this click only: browsers (and people) refuse prompts on load.
    try {
      await Notification.requestPermission();
    } catch {
      // An old browser with the callback form only: it asked anyway.
    }
    renderNotify();
  });
  renderNotify();
  return h('div', { class: 'knock-controls', testid: 'knock-controls' }, sound, ask, state);
}

/**
 * One source of knocks on a page (the session's waiting room, the walk-in ring, the sessions
 * listed on the dashboard).
 * @param {object} opts
 * @param {() => string} opts.title the page's own title (without the count)
 * @param {string} opts.notifyText key of the notification's text for one waiting client
 * @param {boolean} opts.tone play the knock tone (false where the page rings by itself)
 */
export class KnockAlert {
  constructor({ title, notifyText = 'knock.notify_one', tone = true }) {
    this.title = title;
    this.notifyText = notifyText;
    this.tone = tone;
    this.count = 0;
    alerts.push(this);
  }

  /** `n` clients wait now: the title, and the tone and a notification when more than before. */
  update(n) {
    const more = n > this.count;
    this.count = n;
    if (more) {
      if (this.tone) knockTone();
      this.notify(n);
    }
    renderTitle();
  }

  notify(n) {
    if (!notificationsSupported() || Notification.permission !== 'granted') return;
    try {
      const note = new Notification(t('app.name'), {
        body: n === 1 ? t(this.notifyText) : t('knock.notify_many', { n }),
        tag: NOTIFY_TAG,
        renotify: true,
      });
      note.onclick = () => {
        window.focus();
        note.close();
      };
    } catch {
      // Some browsers allow notifications only from a service worker: the title still shows it.
    }
  }
}
