// The call: one RTCPeerConnection to the server's SFU, the video grid, controls and chat.
//
// Media model: this page sends its microphone and camera on two sendonly transceivers in its
// own offer (sent after `joined`); the SFU adds the others' tracks by sending `offer`s, which
// are answered here. Every remote track's stream id is the publisher's participant id, so the
// tracks of one participant end up in one tile.
//
// Media is end-to-end encrypted (docs/E2EE.md): every sender and receiver gets a frame transform
// running in the e2ee worker; keys are exchanged over the signalling `e2ee` relay (e2ee.js).

import { t, errorText, formatTime, mediaErrorText } from '../shared/i18n.js';
import { h, clear, notice, announce, confirmButton } from '../shared/ui.js';
import { devicePicker, stopStream } from './media.js';
import { MediaEncryption, e2eeSupport } from './e2ee.js';
import { applySink, classifyQuality, confirmDialog, formatElapsed, levelMeter, prefs, qualityMark, speakerSelect } from './call-screen.js';

/**
 * Simulcast: the camera is sent in up to three layers (RIDs `q`, `h`, `f`, lowest first), and
 * the SFU forwards to each viewer the one that fits the size it shows the video at and the
 * bandwidth towards it (sfu/src/core/layers.rs). The browser enables the upper layers only
 * when the capture is large enough (three from about 960 × 540) and its own bandwidth estimate
 * allows them.
 */
const SIMULCAST_LAYERS = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];
/** Quiet time before size changes of video tiles are sent (a window being resized). */
const VIDEO_SIZE_DEBOUNCE_MS = 250;
/** Largest width or height the signalling accepts in `video_size`. */
const MAX_VIDEO_DIMENSION = 16384;
/** How often the statistics are read for connection quality and who speaks. */
const STATS_INTERVAL_MS = 1000;
/**
 * Audio level (RMS from `totalAudioEnergy`, 0–1) above which a remote participant counts as
 * speaking: the fake microphone's beep and normal speech are far above it, the silence a muted
 * microphone sends is 0.
 */
const SPEAKING_LEVEL = 0.01;
/** Readings in a row someone must be the loudest before the main tile moves to them (no flicker). */
const SPEAKER_HOLD_READINGS = 2;
/** How long "Reconnected" stays on screen. */
const RECONNECTED_SHOW_MS = 4000;

/** State for tests and debugging: `window.confidant`. */
export const confidant = {
  pc: null,
  participantId: null,
  role: null,
  room: null,
  state: 'idle',
  tiles: {},
  signaling: null,
  call: null,
  /** Times the server said it lost our media connection (`media_lost`). */
  mediaLost: 0,
  /** End-to-end encryption: `{ state, code, complete, participants }`; `stats()` asks the worker. */
  e2ee: { state: 'off', code: null, complete: false, participants: 0, stats: async () => null },
};
window.confidant = confidant;

/** Errors from the server that end an attempt to join. */
const JOIN_FATAL = new Set([
  'invalid_token',
  'token_expired',
  'wrong_room',
  'room_full',
  'unsupported_version',
  'resume_failed',
  'replaced',
  'e2ee_required',
  'link_invalid',
  // a join the server could not even parse is a client bug: say so instead of waiting forever
  'invalid_message',
]);

const ANSWER_TIMEOUT_MS = 15_000;

function forceRelay() {
  try {
    return localStorage.getItem('confidant.forceRelay') === '1';
  } catch {
    return false;
  }
}

/**
 * Sends video as VP8 (with its retransmission format): the encrypted frame layout keeps the VP8
 * payload header in clear (docs/E2EE.md); H.264 would need its NAL units kept apart.
 */
function preferVp8(transceiver) {
  try {
    if (!transceiver.setCodecPreferences || !window.RTCRtpReceiver || !RTCRtpReceiver.getCapabilities) return;
    const caps = RTCRtpReceiver.getCapabilities('video');
    if (!caps) return;
    const vp8 = caps.codecs.filter((c) => c.mimeType.toLowerCase() === 'video/vp8');
    const rtx = caps.codecs.filter((c) => c.mimeType.toLowerCase() === 'video/rtx');
    if (vp8.length) transceiver.setCodecPreferences([...vp8, ...rtx]);
  } catch (e) {
    console.warn('could not prefer VP8', e);
  }
}

function deferred() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * Marks a video whose picture is upright (a phone held upright sends portrait video) with
 * `data-orientation="portrait"`, which the stylesheet shows whole (`object-fit: contain`)
 * instead of cropping it to a third in a 16:9 tile.
 */
function watchOrientation(video) {
  const update = () => {
    if (!video.videoWidth || !video.videoHeight) return;
    video.dataset.orientation = video.videoHeight > video.videoWidth ? 'portrait' : 'landscape';
  };
  video.addEventListener('loadedmetadata', update);
  video.addEventListener('resize', update);
}

export class Call {
  /**
   * @param {object} opts
   * @param {import('./signaling.js').Signaling} opts.signaling an open signalling connection
   * @param {MediaStream|null} opts.localStream camera + microphone (may be null)
   * @param {string} opts.role 'host' | 'guest'
   * @param {function} [opts.onFinished] called with 'ended' | 'left' | 'lost' | 'error'
   * @param {function} [opts.finishedExtras] returns elements to show on the final screen
   * @param {boolean} [opts.audioMuted] join with the microphone off (chosen before joining)
   * @param {boolean} [opts.videoMuted] join with the camera off
   * @param {string} [opts.sinkId] the speaker to play the others on ('' = system default)
   */
  constructor({ signaling, localStream, role, onFinished, finishedExtras, audioMuted = false, videoMuted = false, sinkId = '' }) {
    this.signaling = signaling;
    this.localStream = localStream;
    this.role = role;
    this.onFinished = onFinished;
    this.finishedExtras = finishedExtras;
    this.pc = null;
    this.participantId = null;
    this.name = '';
    this.participants = new Map();
    this.departed = new Set();
    this.tiles = {};
    /** Last `video_size` sent per participant ("WxH"), so only changes are sent. */
    this.sentSizes = new Map();
    this.sizeTimer = null;
    this.audioMuted = !!audioMuted;
    this.videoMuted = !!videoMuted;
    this.sinkId = sinkId || '';
    /** `speaker` (the one who speaks large, the others small) or `grid` (all the same size). */
    this.layout = prefs.get('layout', 'speaker') === 'grid' ? 'grid' : 'speaker';
    /** The remote participant shown large in the speaker layout. */
    this.mainPid = null;
    /** Who was the loudest in the last readings: { pid, count }. */
    this.loudest = { pid: null, count: 0 };
    /** The last statistics per participant, for deltas: pid → { lost, received, energy, duration }. */
    this.lastStats = new Map();
    this.joinedAt = null;
    /** What the reconnecting notice shows: '', 'reconnecting', 'reconnected'. */
    this.reconnect = '';
    this.queue = Promise.resolve();
    this.answerWaiter = null;
    this.chatIds = new Set();
    /** Whether the server has chat older than the first message shown (`chat_history.more`). */
    this.chatMore = false;
    /** The `before` of the older page asked for and not yet answered, if any. */
    this.chatPaging = null;
    this.unsubscribe = [];
    this.state = 'idle';
    this.blockedAudio = new Set();
    this.e2ee = null;
    /**
     * The media connection: `connecting` (first one, not up yet), `up` (connected, and the SFU
     * did not say it lost it) or `down` (ICE failed or disconnected, or `media_lost`; stays so
     * while a new connection is being made, until that one is up).
     */
    this.media = 'connecting';
    this.e2eeStatus = { state: e2eeSupport() ? 'pending' : 'unsupported', code: null, complete: false, participants: 1 };
    // The session's counsellor lets browsers that cannot encrypt join unencrypted.
    this.allowUnencrypted = document.body.dataset.allowUnencrypted === 'true';
    confidant.signaling = signaling;
    confidant.call = this;
    confidant.role = role;
    confidant.tiles = this.tiles;
    this.subscribe();
  }

  setState(state) {
    this.state = state;
    confidant.state = state;
    if (this.root) this.root.dataset.state = state;
  }

  // ---------------------------------------------------------------- UI

  /** Builds the call UI into `container`. */
  mount(container, { sidePanels = [], extraControls = [] } = {}) {
    this.container = container;
    // The page's one h1 (hidden: the video says what it is); focus starts here, so a keyboard or
    // screen-reader user who came from the waiting room is not left on a button that is gone.
    this.heading = h('h1', { class: 'visually-hidden', text: t('call.heading'), attrs: { tabindex: '-1' }, testid: 'call-heading' });
    this.wsIndicator = h('span', { class: 'conn-item', testid: 'ws-state' });
    this.pcIndicator = h('span', { class: 'conn-item', testid: 'pc-state' });
    this.connection = h(
      'div',
      { class: 'connection-state', testid: 'connection-state', attrs: { 'aria-label': t('conn.label') } },
      this.wsIndicator,
      this.pcIndicator,
    );
    this.banner = h('div', { class: 'call-banner', attrs: { 'aria-live': 'assertive' } });
    // "Reconnecting…" and "Reconnected": a live region that is on the page from the start, so
    // screen readers read out its changes.
    this.reconnectText = h('span', { class: 'reconnect-text' });
    this.reconnectStatus = h(
      'div',
      { class: 'reconnect-status', testid: 'reconnect-status', dataset: { state: '' }, attrs: { role: 'status', 'aria-live': 'polite' } },
      h('span', { class: 'spinner spinner-small', attrs: { 'aria-hidden': 'true' } }),
      this.reconnectText,
    );
    // The time since this participant joined (a timer: read when asked, not announced each second).
    this.elapsed = h('time', { class: 'call-elapsed-time', testid: 'call-elapsed', text: '0:00' });
    this.elapsedWrap = h(
      'span',
      { class: 'call-elapsed', attrs: { role: 'timer', 'aria-live': 'off' } },
      h('span', { class: 'visually-hidden', text: t('cs.elapsed') + ': ' }),
      this.elapsed,
    );
    this.e2eeLabel = h('span', { class: 'e2ee-label', testid: 'e2ee-label' });
    this.safetyCode = h('code', { class: 'safety-code', testid: 'safety-code' });
    // The explanation is a tap-to-open help, not a tooltip: phones never show a tooltip.
    this.safetyWrap = h(
      'details',
      { class: 'safety', testid: 'safety' },
      h(
        'summary',
        { testid: 'safety-summary' },
        h('span', { class: 'safety-label', text: t('e2ee.code_label') + ':' }),
        ' ',
        this.safetyCode,
        h('span', { class: 'safety-more', text: t('e2ee.code_what') }),
      ),
      h('p', { class: 'safety-help', testid: 'safety-help', text: t('e2ee.code_help') }),
    );
    this.e2eeBadge = h(
      'div',
      { class: 'e2ee-status', testid: 'e2ee-status', attrs: { role: 'status' } },
      h('span', { class: 'e2ee-lock', attrs: { 'aria-hidden': 'true' } }),
      this.e2eeLabel,
      this.safetyWrap,
    );

    this.localVideo = h('video', { autoplay: true, playsInline: true, muted: true, testid: 'local-video', class: 'mirror' });
    this.localVideo.muted = true;
    watchOrientation(this.localVideo);
    this.localLabel = h('span', { class: 'tile-name', text: t('call.you') });
    this.localBadges = h('span', { class: 'tile-badges' });
    this.localQuality = qualityMark();
    this.localTile = h(
      'div',
      { class: 'tile local-tile', testid: 'local-tile' },
      this.localVideo,
      h('div', { class: 'tile-label' }, this.localLabel, this.localBadges, this.localQuality.element),
    );
    this.grid = h(
      'div',
      { class: 'video-grid layout-' + this.layout, testid: 'video-grid', dataset: { layout: this.layout }, attrs: { 'aria-label': t('call.videos'), role: 'region' } },
      this.localTile,
    );
    this.emptyHint = h('p', { class: 'empty-hint', testid: 'waiting-for-others', text: t('call.waiting_for_others') });

    this.micButton = h('button', {
      type: 'button',
      class: 'button control',
      testid: 'mic-toggle',
      onclick: () => this.toggleMute('audio'),
    });
    this.camButton = h('button', {
      type: 'button',
      class: 'button control',
      testid: 'camera-toggle',
      onclick: () => this.toggleMute('video'),
    });
    this.soundButton = h('button', {
      type: 'button',
      class: 'button control',
      testid: 'enable-sound',
      hidden: true,
      text: t('call.enable_sound'),
      onclick: () => this.retryAudio(),
    });
    // Grid or speaker view; remembered in this browser.
    this.layoutButton = h('button', {
      type: 'button',
      class: 'button control',
      testid: 'layout-toggle',
      text: t('cs.layout_grid'),
      title: t('cs.layout_grid_label'),
      onclick: () => this.setLayout(this.layout === 'grid' ? 'speaker' : 'grid'),
    });
    // Full screen: the videos and the controls (the chat stays on the page). Also with "F" while
    // the focus is in the call (not while typing), and Escape leaves it, as everywhere.
    this.fullscreenButton = h('button', {
      type: 'button',
      class: 'button control',
      testid: 'fullscreen-toggle',
      hidden: !document.fullscreenEnabled,
      attrs: { 'aria-keyshortcuts': 'F' },
      onclick: () => this.toggleFullscreen(),
    });
    // Leaving asks first in a dialog (a slip of the finger must not hang up) and sits apart
    // from the other controls (`.control-leave`).
    this.leaveDialog = confirmDialog({
      title: t('cs.leave_title'),
      text: t(this.role === 'host' ? 'cs.leave_text_host' : 'cs.leave_text'),
      yes: t('call.leave_yes'),
      no: t('cs.leave_stay'),
      testid: 'leave-dialog',
      confirmTestid: 'leave-confirm',
      onConfirm: () => this.leave(),
    });
    const leave = h('button', {
      type: 'button',
      class: 'button button-danger',
      text: t('call.leave'),
      testid: 'leave-button',
      attrs: { 'aria-haspopup': 'dialog' },
      onclick: () => this.leaveDialog.open(leave),
    });
    this.leaveButton = h('span', { class: 'control-leave' }, leave);
    const picker = devicePicker({
      getStream: () => this.localStream,
      onStream: (stream) => this.setLocalStream(stream),
      onError: (err) => this.showBanner(t('join.no_media', { detail: mediaErrorText(err) }), 'error'),
    });
    const speaker = speakerSelect({ selected: this.sinkId, onChange: (id) => this.setSink(id) });
    // The device check in the call (the counsellor's too, who joins at once so that the waiting
    // room works): the microphone level while the panel is open.
    this.meter = levelMeter();
    this.devices = h(
      'details',
      {
        class: 'devices',
        testid: 'call-devices',
        ontoggle: () => (this.devices.open ? this.meter.attach(this.localStream) : this.meter.stop()),
      },
      h('summary', { text: t('call.devices') }),
      picker.element,
      speaker ? speaker.element : null,
      h('div', { class: 'mic-level' }, h('span', { class: 'mic-level-label', attrs: { 'aria-hidden': 'true' }, text: t('pj.mic_level') }), this.meter.element),
    );
    const controls = h(
      'div',
      { class: 'controls', attrs: { role: 'toolbar', 'aria-label': t('call.controls') } },
      this.micButton,
      this.camButton,
      this.layoutButton,
      this.fullscreenButton,
      this.soundButton,
      this.leaveButton,
      ...extraControls,
    );

    // chat
    this.chatList = h('ol', { class: 'chat-messages', testid: 'chat-messages', attrs: { 'aria-live': 'polite' } });
    this.chatEmpty = h('p', { class: 'empty-hint', text: t('call.chat_empty') });
    this.chatOlder = h('button', {
      type: 'button',
      class: 'button button-quiet chat-older',
      text: t('call.chat_older'),
      testid: 'chat-older',
      hidden: true,
      onclick: () => this.loadOlderChat(),
    });
    const chatInputId = 'chat-input';
    this.chatInput = h('input', {
      id: chatInputId,
      type: 'text',
      maxLength: 4000,
      autocomplete: 'off',
      placeholder: t('call.chat_placeholder'),
      testid: 'chat-input',
    });
    this.chatSend = h('button', { type: 'submit', class: 'button', text: t('call.chat_send'), testid: 'chat-send' });
    const chatForm = h(
      'form',
      {
        class: 'chat-form',
        onsubmit: (e) => {
          e.preventDefault();
          this.sendChat();
        },
      },
      h('label', { for: chatInputId, class: 'visually-hidden', text: t('call.chat_label') }),
      this.chatInput,
      this.chatSend,
    );
    // Chat is not end-to-end encrypted (the server stores it sealed with its own key and can
    // read it): said plainly where the chat is, so the media badge is never taken for it.
    const chatPrivacy = h('p', {
      class: 'chat-privacy',
      testid: 'chat-privacy',
      text: t(this.role === 'host' ? 'call.chat_privacy_host' : 'call.chat_privacy'),
    });
    // What happened to the history (shared by the counsellor) is told in the panel itself.
    this.chatNote = h('p', { class: 'chat-note', testid: 'chat-note', hidden: true, attrs: { role: 'status' } });
    // The counsellor may show clients admitted later what was written before they came.
    this.chatShare =
      this.role === 'host'
        ? h('button', {
            type: 'button',
            class: 'button button-quiet chat-share',
            text: t('call.chat_share'),
            testid: 'chat-share',
            onclick: () => this.shareChatHistory(),
          })
        : null;
    const chatPanel = h(
      'section',
      { class: 'panel chat-panel', testid: 'chat-panel', attrs: { 'aria-labelledby': 'chat-heading' } },
      h('h2', { id: 'chat-heading', text: t('call.chat') }),
      chatPrivacy,
      ...(this.chatShare ? [this.chatShare] : []),
      this.chatNote,
      this.chatEmpty,
      this.chatOlder,
      this.chatList,
      chatForm,
    );

    this.main = h(
      'div',
      { class: 'call-main', testid: 'call-main' },
      this.heading,
      h('div', { class: 'call-topline' }, this.e2eeBadge, this.elapsedWrap, this.connection),
      this.banner,
      this.reconnectStatus,
      this.grid,
      this.emptyHint,
      controls,
      this.devices,
    );
    this.main.addEventListener('keydown', (e) => this.onKey(e));
    this.onFullscreenChange = () => this.updateFullscreen();
    document.addEventListener('fullscreenchange', this.onFullscreenChange);
    this.root = h(
      'section',
      { class: 'call', testid: 'call', dataset: { state: this.state } },
      this.main,
      h('aside', { class: 'call-side' }, ...sidePanels, chatPanel),
      // a modal dialog shows in the top layer wherever it sits; here it stays in the page's main
      this.leaveDialog.element,
    );
    clear(container);
    container.appendChild(this.root);
    if (!container.contains(document.activeElement) || document.activeElement === document.body) this.heading.focus();
    this.updateLocal();
    this.updateControls();
    this.updateConnection();
    this.updateEmptyHint();
    this.updateE2ee();
    this.updateLayout();
    this.updateFullscreen();
  }

  // ---------------------------------------------------------------- layout, full screen, time

  /** `speaker` or `grid`; remembered in this browser for the next call. */
  setLayout(layout) {
    this.layout = layout === 'grid' ? 'grid' : 'speaker';
    prefs.set('layout', this.layout);
    this.updateLayout();
    announce(this.layout === 'grid' ? t('cs.layout_grid') : t('cs.main_tile', { name: this.mainName() }));
  }

  mainName() {
    const info = this.mainPid && this.participants.get(this.mainPid);
    return (info && info.name) || t('call.participant');
  }

  /**
   * Puts the main tile in place: in the speaker layout the one remote participant who spoke last
   * (or the first one there is) is large, the others and this browser's own video small.
   */
  updateLayout() {
    if (!this.grid) return;
    const remote = Object.keys(this.tiles).filter((pid) => this.participants.has(pid) || this.tiles[pid].stream);
    if (!this.mainPid || !this.tiles[this.mainPid]) this.mainPid = remote[0] || null;
    this.grid.className = 'video-grid layout-' + this.layout + (this.mainPid ? '' : ' alone');
    this.grid.dataset.layout = this.layout;
    this.grid.dataset.main = this.mainPid || '';
    for (const [pid, tile] of Object.entries(this.tiles)) {
      const main = this.layout === 'speaker' && pid === this.mainPid;
      tile.element.classList.toggle('main-tile', main);
      tile.element.dataset.main = String(main);
    }
    this.layoutButton.setAttribute('aria-pressed', String(this.layout === 'grid'));
    this.scheduleVideoSizes();
  }

  /** The main tile follows who speaks (remote participants only: one's own face is not news). */
  focusSpeaker(pid) {
    if (!pid || pid === this.participantId || !this.tiles[pid] || pid === this.mainPid) return;
    this.mainPid = pid;
    this.updateLayout();
  }

  toggleFullscreen() {
    if (document.fullscreenElement) {
      document.exitFullscreen().catch(() => {});
    } else if (this.main && this.main.requestFullscreen) {
      this.main.requestFullscreen().catch((e) => console.warn('no full screen', e));
    }
  }

  updateFullscreen() {
    if (!this.fullscreenButton) return;
    const on = !!document.fullscreenElement && document.fullscreenElement === this.main;
    this.fullscreenButton.textContent = on ? t('cs.fullscreen_exit') : t('cs.fullscreen');
    this.fullscreenButton.setAttribute('aria-pressed', String(on));
    if (this.main) this.main.classList.toggle('is-fullscreen', on);
    this.scheduleVideoSizes();
  }

  /** "F" toggles full screen while the focus is in the call, but never while typing. */
  onKey(e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    const tag = (e.target && e.target.tagName) || '';
    if (['INPUT', 'TEXTAREA', 'SELECT'].includes(tag) || (e.target && e.target.isContentEditable)) return;
    if (e.key === 'f' || e.key === 'F') {
      e.preventDefault();
      this.toggleFullscreen();
    }
  }

  /** The others' sound goes to the chosen speaker. */
  setSink(id) {
    this.sinkId = id || '';
    prefs.set('speaker', this.sinkId);
    for (const tile of Object.values(this.tiles)) applySink(tile.audio, this.sinkId);
  }

  tickElapsed() {
    if (!this.elapsed || !this.joinedAt) return;
    const ms = Date.now() - this.joinedAt;
    this.elapsed.textContent = formatElapsed(ms);
    this.elapsed.dateTime = `PT${Math.floor(ms / 1000)}S`;
  }

  /**
   * "Reconnecting…" while the websocket is being resumed or the media connection is down in a
   * call; "Reconnected." once both are back, for a few seconds.
   */
  updateReconnect() {
    if (!this.reconnectStatus) return;
    const inCall = this.state === 'in-call';
    const ws = this.signaling.state;
    const wsDown = inCall && ws === 'reconnecting';
    const mediaDown = inCall && this.media === 'down';
    let state = this.reconnect;
    if (wsDown || mediaDown) state = 'reconnecting';
    else if (state === 'reconnecting') state = 'reconnected';
    if (state === this.reconnect && !(state === 'reconnecting' && this.reconnectWhat !== (wsDown ? 'ws' : 'media'))) return;
    this.reconnect = state;
    this.reconnectWhat = wsDown ? 'ws' : 'media';
    this.reconnectStatus.dataset.state = state;
    clearTimeout(this.reconnectedTimer);
    if (state === 'reconnecting') {
      this.reconnectText.textContent = t(wsDown ? 'cs.reconnecting' : 'cs.reconnecting_media');
    } else if (state === 'reconnected') {
      this.reconnectText.textContent = t('cs.reconnected');
      this.reconnectedTimer = setTimeout(() => {
        this.reconnect = '';
        this.reconnectStatus.dataset.state = '';
        this.reconnectText.textContent = '';
      }, RECONNECTED_SHOW_MS);
    } else {
      this.reconnectText.textContent = '';
    }
  }

  // ---------------------------------------------------------------- statistics

  startStats() {
    if (this.statsTimer) return;
    this.statsTimer = setInterval(() => {
      this.tickElapsed();
      this.readStats().catch((e) => console.warn('statistics failed', e));
    }, STATS_INTERVAL_MS);
  }

  stopStats() {
    clearInterval(this.statsTimer);
    this.statsTimer = null;
  }

  /**
   * One reading of the peer connection's statistics: per remote participant the loss and
   * jitter of what arrives from it and how loud it is; for this browser the loss and delay
   * the SFU reports back about what it sends, and the bitrate the browser thinks it can send.
   * The round-trip time to the SFU is part of every participant's path.
   */
  async readStats() {
    const pc = this.pc;
    if (!pc || this.state !== 'in-call' || pc.connectionState === 'closed') return;
    const report = await pc.getStats();
    const trackOwner = new Map();
    for (const [pid, tile] of Object.entries(this.tiles)) {
      if (!tile.stream) continue;
      for (const tr of tile.stream.getTracks()) trackOwner.set(tr.id, pid);
    }
    const per = new Map();
    const get = (pid) => {
      if (!per.has(pid)) per.set(pid, { lost: 0, received: 0, jitter: null, energy: 0, duration: 0, audio: false });
      return per.get(pid);
    };
    let rttMs = null;
    let outBitrate = null;
    let pairId = null;
    let selected = null;
    const own = { lost: null, rtt: null, jitter: null };
    report.forEach((r) => {
      if (r.type === 'transport' && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
      if (r.type === 'candidate-pair' && r.selected === true) selected = r;
      if (r.type === 'inbound-rtp' && r.trackIdentifier && trackOwner.has(r.trackIdentifier)) {
        const p = get(trackOwner.get(r.trackIdentifier));
        p.lost += r.packetsLost || 0;
        p.received += r.packetsReceived || 0;
        if (r.kind === 'audio') {
          p.audio = true;
          if (typeof r.jitter === 'number') p.jitter = r.jitter * 1000;
          p.energy += r.totalAudioEnergy || 0;
          p.duration += r.totalSamplesDuration || 0;
        }
      }
      if (r.type === 'remote-inbound-rtp') {
        if (typeof r.fractionLost === 'number') own.lost = Math.max(own.lost || 0, r.fractionLost);
        if (typeof r.roundTripTime === 'number') own.rtt = Math.max(own.rtt || 0, r.roundTripTime * 1000);
        // Audio only: a video frame's packets leave paced over the frame's time, which reads as
        // jitter of the video stream without hurting anyone.
        if (r.kind === 'audio' && typeof r.jitter === 'number') own.jitter = Math.max(own.jitter || 0, r.jitter * 1000);
      }
    });
    const pair = report.get(pairId) || selected;
    if (pair) {
      if (typeof pair.currentRoundTripTime === 'number') rttMs = pair.currentRoundTripTime * 1000;
      if (typeof pair.availableOutgoingBitrate === 'number') outBitrate = pair.availableOutgoingBitrate;
    }
    const connected = pc.connectionState === 'connected';

    let loudestPid = null;
    let loudestLevel = SPEAKING_LEVEL;
    for (const [pid, tile] of Object.entries(this.tiles)) {
      const now = per.get(pid);
      const before = this.lastStats.get(pid);
      if (now) this.lastStats.set(pid, now);
      if (!tile.quality) continue;
      if (!now || !before || !connected) {
        tile.quality.set('unknown');
        continue;
      }
      const dReceived = now.received - before.received;
      const dLost = Math.max(0, now.lost - before.lost);
      const loss = dReceived + dLost > 0 ? dLost / (dReceived + dLost) : null;
      const level = classifyQuality({ loss, rttMs, jitterMs: now.jitter });
      tile.quality.set(level, this.qualityDetail(loss, rttMs, now.jitter));
      // Loudness over the last interval: RMS from the energy the browser summed up.
      const dDuration = now.duration - before.duration;
      const rms = dDuration > 0 ? Math.sqrt(Math.max(0, now.energy - before.energy) / dDuration) : 0;
      tile.element.dataset.level = rms.toFixed(4);
      const info = this.participants.get(pid);
      if (rms > loudestLevel && !(info && info.audio_muted)) {
        loudestLevel = rms;
        loudestPid = pid;
      }
    }
    if (this.localQuality) {
      const level = connected ? classifyQuality({ loss: own.lost, rttMs: own.rtt ?? rttMs, jitterMs: own.jitter, bitrate: outBitrate }) : 'unknown';
      this.localQuality.set(level, connected ? this.qualityDetail(own.lost, own.rtt ?? rttMs, own.jitter) : '');
    }
    // The main tile moves to whoever was the loudest for a couple of readings in a row.
    if (loudestPid && loudestPid === this.loudest.pid) this.loudest.count += 1;
    else this.loudest = { pid: loudestPid, count: loudestPid ? 1 : 0 };
    if (this.loudest.pid && this.loudest.count >= SPEAKER_HOLD_READINGS) this.focusSpeaker(this.loudest.pid);
  }

  qualityDetail(loss, rttMs, jitterMs) {
    const n = (v) => (v === null || v === undefined ? '–' : String(Math.round(v)));
    return t('cs.quality_detail', { loss: loss === null || loss === undefined ? '–' : (loss * 100).toFixed(1), rtt: n(rttMs), jitter: n(jitterMs) });
  }

  /** The lock badge and the safety code. */
  /** Someone in the room (maybe this browser) cannot encrypt: nobody's media is encrypted. */
  roomPlain() {
    if (!e2eeSupport()) return true;
    for (const p of this.participants.values()) if (p.e2ee === false) return true;
    return false;
  }

  /** Tells the worker whether to encrypt, and the badge what to show. */
  syncPlain() {
    if (this.e2ee) this.e2ee.setPlain(this.roomPlain());
    this.updateE2ee();
  }

  updateE2ee() {
    const plain = this.state !== 'idle' && this.roomPlain() && this.e2eeStatus.state !== 'unsupported';
    let s = plain ? { ...this.e2eeStatus, state: 'off', code: null, plain: true } : this.e2eeStatus;
    // "Encrypted" only while encrypted media actually flows: with the media connection down
    // (ICE failed, the SFU lost it, not connected yet) the badge does not reassure.
    if (s.state === 'on' && this.media !== 'up') s = { ...s, state: this.media === 'down' ? 'no_media' : 'connecting' };
    s = { ...s, keys: this.e2eeStatus.state, media: this.media };
    if (this.e2eeBadge) this.e2eeBadge.title = plain ? t('e2ee.room_plain') : '';
    confidant.e2ee = {
      ...s,
      stats: () => (this.e2ee ? this.e2ee.stats() : Promise.resolve(null)),
      testOnlyUseWrongKeys: () => this.e2ee && this.e2ee.testOnlyUseWrongKeys(),
    };
    if (!this.e2eeBadge) return;
    this.e2eeBadge.dataset.e2ee = s.state;
    this.e2eeBadge.dataset.participants = String(s.participants || 0);
    this.e2eeBadge.className = 'e2ee-status e2ee-' + s.state;
    this.e2eeLabel.textContent = t('e2ee.' + s.state);
    const showCode = s.state === 'on' && !!s.code;
    this.safetyCode.textContent = showCode ? s.code : '';
    this.safetyCode.dataset.complete = String(showCode);
    this.safetyWrap.hidden = !showCode;
  }

  updateLocal() {
    if (!this.localVideo) return;
    this.localVideo.srcObject = this.localStream || null;
    if (this.localStream) this.localVideo.play().catch(() => {});
    this.localLabel.textContent = this.name ? `${this.name} (${t('call.you')})` : t('call.you');
    this.renderBadges(this.localBadges, this.audioMuted, this.videoMuted, true);
    this.localTile.classList.toggle('video-off', this.videoMuted || !this.localStream || this.localStream.getVideoTracks().length === 0);
  }

  updateControls() {
    if (!this.micButton) return;
    const hasAudio = !!(this.localStream && this.localStream.getAudioTracks().length);
    const hasVideo = !!(this.localStream && this.localStream.getVideoTracks().length);
    this.micButton.textContent = this.audioMuted ? t('call.unmute_mic') : t('call.mute_mic');
    this.micButton.setAttribute('aria-pressed', String(this.audioMuted));
    this.micButton.disabled = !hasAudio;
    this.camButton.textContent = this.videoMuted ? t('call.camera_on') : t('call.camera_off');
    this.camButton.setAttribute('aria-pressed', String(this.videoMuted));
    this.camButton.disabled = !hasVideo;
  }

  updateConnection() {
    this.updateReconnect();
    if (!this.connection) return;
    const ws = this.signaling.state;
    const pc = this.pc ? this.pc.connectionState : 'none';
    this.connection.dataset.ws = ws;
    this.connection.dataset.pc = pc;
    this.wsIndicator.textContent = t('conn.ws.' + ws);
    this.wsIndicator.className = 'conn-item conn-' + ({ open: 'good', connecting: 'warn', reconnecting: 'warn' }[ws] || 'bad');
    this.pcIndicator.textContent = t('conn.media.' + pc);
    this.pcIndicator.className =
      'conn-item conn-' + ({ connected: 'good', new: 'warn', connecting: 'warn', none: 'idle' }[pc] || 'bad');
  }

  updateEmptyHint() {
    if (!this.emptyHint) return;
    this.emptyHint.hidden = Object.keys(this.tiles).length > 0;
  }

  renderBadges(el, audioMuted, videoMuted, connected = true) {
    clear(el);
    if (audioMuted) el.appendChild(h('span', { class: 'badge', testid: 'badge-mic-muted', text: t('call.mic_muted') }));
    if (videoMuted) el.appendChild(h('span', { class: 'badge', testid: 'badge-cam-muted', text: t('call.cam_muted') }));
    if (!connected) el.appendChild(h('span', { class: 'badge badge-warn', text: t('call.reconnecting') }));
  }

  showBanner(text, kind = 'error', sticky = false) {
    if (!this.banner) return;
    clear(this.banner);
    const n = notice(text, kind, 'call-error');
    this.banner.appendChild(n);
    clearTimeout(this.bannerTimer);
    if (!sticky) {
      this.bannerTimer = setTimeout(() => {
        if (n.isConnected) n.remove();
      }, 10_000);
    }
  }

  // ---------------------------------------------------------------- tiles

  ensureTile(pid) {
    let tile = this.tiles[pid];
    if (tile) return tile;
    const video = h('video', { autoplay: true, playsInline: true, muted: true, testid: 'remote-video' });
    video.muted = true; // sound comes from the audio element
    watchOrientation(video);
    const audio = h('audio', { autoplay: true, testid: 'remote-audio' });
    const nameEl = h('span', { class: 'tile-name', testid: 'tile-name' });
    const badges = h('span', { class: 'tile-badges' });
    const actions = h('span', { class: 'tile-actions' });
    const quality = qualityMark();
    const element = h(
      'div',
      { class: 'tile remote-tile video-off', testid: 'remote-tile', dataset: { participantId: pid } },
      video,
      audio,
      h('div', { class: 'tile-label' }, nameEl, badges, quality.element, actions),
    );
    applySink(audio, this.sinkId);
    tile = { participantId: pid, name: '', element, video, audio, nameEl, badges, actions, quality, stream: null, resize: null };
    this.tiles[pid] = tile;
    if (typeof ResizeObserver !== 'undefined') {
      tile.resize = new ResizeObserver(() => this.scheduleVideoSizes());
      tile.resize.observe(video);
    }
    if (this.grid) this.grid.appendChild(element);
    this.updateTile(pid);
    this.updateEmptyHint();
    this.updateLayout();
    return tile;
  }

  updateTile(pid) {
    const tile = this.tiles[pid];
    if (!tile) return;
    const info = this.participants.get(pid);
    tile.name = info ? info.name : '';
    tile.nameEl.textContent = tile.name || t('call.participant');
    tile.element.dataset.name = tile.name;
    tile.element.setAttribute('aria-label', tile.name || t('call.participant'));
    tile.audioMuted = !!(info && info.audio_muted);
    tile.videoMuted = !!(info && info.video_muted);
    this.renderBadges(tile.badges, tile.audioMuted, tile.videoMuted, !info || info.connected !== false);
    this.renderRemove(tile, info);
    const hasVideo = !!(tile.stream && tile.stream.getVideoTracks().some((tr) => tr.readyState === 'live'));
    tile.element.classList.toggle('video-off', tile.videoMuted || !hasVideo);
  }

  /** The host's button beside each guest: remove it from the call (after a confirmation). */
  renderRemove(tile, info) {
    const want = this.role === 'host' && !!info && info.role === 'guest';
    const name = tile.name || t('call.participant');
    if (!want || tile.removeFor === name) {
      if (!want) clear(tile.actions);
      return;
    }
    clear(tile.actions);
    tile.removeFor = name;
    const wrap = confirmButton({
      label: t('call.remove'),
      question: t('call.remove_confirm', { name }),
      testid: 'remove-participant',
      confirmTestid: 'remove-participant-confirm',
      onConfirm: async () => {
        this.signaling.send({ type: 'remove', participant_id: tile.participantId });
      },
    });
    const button = wrap.querySelector('button');
    if (button) button.setAttribute('aria-label', t('call.remove_label', { name }));
    tile.actions.appendChild(wrap);
  }

  removeTile(pid) {
    const tile = this.tiles[pid];
    if (!tile) return;
    if (tile.resize) tile.resize.disconnect();
    this.sentSizes.delete(pid);
    tile.video.srcObject = null;
    tile.audio.srcObject = null;
    tile.element.remove();
    this.blockedAudio.delete(tile.audio);
    delete this.tiles[pid];
    this.lastStats.delete(pid);
    if (this.mainPid === pid) this.mainPid = null;
    this.updateEmptyHint();
    this.updateLayout();
  }

  onTrack(event) {
    const stream = event.streams && event.streams[0];
    const pid = stream ? stream.id : 'track-' + event.track.id;
    // decrypt with the publisher's keys; frames under keys we lack are dropped, never decoded
    if (this.e2ee) this.e2ee.attachReceiver(event.receiver, event.track.kind, pid);
    if (this.departed.has(pid) || pid === this.participantId) return;
    const tile = this.ensureTile(pid);
    if (stream) {
      tile.stream = stream;
    } else {
      if (!tile.stream) tile.stream = new MediaStream();
      tile.stream.addTrack(event.track);
    }
    if (event.track.kind === 'video') {
      this.sentSizes.delete(pid);
      this.scheduleVideoSizes();
      if (tile.video.srcObject !== tile.stream) tile.video.srcObject = tile.stream;
      tile.video.play().catch(() => {});
    } else {
      if (tile.audio.srcObject !== tile.stream) tile.audio.srcObject = tile.stream;
      this.playAudio(tile.audio);
    }
    const refresh = () => this.updateTile(pid);
    event.track.addEventListener('unmute', refresh);
    event.track.addEventListener('mute', refresh);
    event.track.addEventListener('ended', refresh);
    this.updateTile(pid);
  }

  playAudio(audio) {
    audio.play().then(
      () => {
        this.blockedAudio.delete(audio);
        this.updateSoundButton();
      },
      (err) => {
        if (err && err.name === 'NotAllowedError') {
          this.blockedAudio.add(audio);
          this.updateSoundButton();
        }
      },
    );
  }

  retryAudio() {
    for (const audio of [...this.blockedAudio]) this.playAudio(audio);
  }

  updateSoundButton() {
    if (this.soundButton) this.soundButton.hidden = this.blockedAudio.size === 0;
  }

  // ---------------------------------------------------------------- signalling

  subscribe() {
    const s = this.signaling;
    const on = (type, fn) => this.unsubscribe.push(s.on(type, fn));
    on('joined', (m) => this.onJoined(m));
    on('participant_joined', (m) => {
      if (this.e2ee && m.participant) this.e2ee.memberJoined(m.participant.participant_id);
      this.upsertParticipant(m.participant, true);
    });
    on('e2ee', (m) => {
      if (this.e2ee) this.e2ee.handleMessage(m);
    });
    on('participant_updated', (m) => this.upsertParticipant(m.participant, false));
    on('participant_left', (m) => this.onParticipantLeft(m));
    on('answer', (m) => this.onAnswer(m));
    on('offer', (m) => this.onServerOffer(m));
    on('media_lost', () => this.onMediaLost());
    on('mute', (m) => this.onMute(m));
    on('active_speaker', (m) => this.setSpeaker(m.participant_id));
    on('chat', (m) => this.addChat(m));
    on('chat_history', (m) => this.onChatHistory(m));
    on('chat_shared', () => this.onChatShared());
    on('session_ended', (m) => this.finish('ended', m.reason));
    on('removed', () => this.finish('ended', 'removed'));
    on('error', (m) => this.onError(m));
    on('state', () => this.updateConnection());
    on('lost', () => {
      if (this.state === 'in-call' || this.state === 'joining') this.finish('lost');
    });
  }

  /** Sends `join`; the rest follows from the server's messages. */
  join({ room, token, version }) {
    if (!e2eeSupport() && !this.allowUnencrypted) {
      // Media is end-to-end encrypted; a browser that cannot encrypt frames does not join.
      this.finish('error', 'e2ee_unsupported');
      return;
    }
    if (!e2eeSupport()) {
      // Allowed by the counsellor: this browser joins unencrypted, and everyone is told.
      this.e2eeStatus = { state: 'off', code: null, complete: false, participants: 1 };
    } else if (!this.e2ee) {
      this.e2ee = new MediaEncryption({
        send: (msg) => this.signaling.send(msg),
        onStatus: (s) => {
          this.e2eeStatus = s;
          this.updateE2ee();
        },
      });
    }
    this.setState('joining');
    confidant.room = room;
    this.signaling.send({ type: 'join', v: version, room, token, e2ee: !!e2eeSupport() });
  }

  onJoined(msg) {
    this.participantId = msg.participant_id;
    this.iceServers = Array.isArray(msg.ice_servers) ? msg.ice_servers : [];
    this.name = msg.name || '';
    confidant.participantId = msg.participant_id;
    confidant.room = msg.room;
    const present = new Set();
    for (const p of msg.participants || []) {
      if (p.participant_id === this.participantId) continue;
      present.add(p.participant_id);
      this.upsertParticipant(p, false);
    }
    // after a resume: drop whoever left meanwhile
    for (const pid of [...this.participants.keys()]) {
      if (!present.has(pid)) {
        this.participants.delete(pid);
        this.removeTile(pid);
      }
    }
    if (this.e2ee) this.e2ee.start(this.participantId, msg.room, [...this.participants.keys()]);
    this.syncPlain();
    this.updateLocal();
    if (this.state !== 'in-call') {
      this.setState('in-call');
      if (this.root) this.root.dataset.participantId = this.participantId;
      this.joinedAt = Date.now();
      this.tickElapsed();
      this.startStats();
    }
    // Joined muted (chosen before joining), or resumed: the others learn the state.
    if (this.audioMuted) this.signaling.send({ type: 'mute', kind: 'audio', muted: true });
    if (this.videoMuted) this.signaling.send({ type: 'mute', kind: 'video', muted: true });
    this.updateReconnect();
    if (!this.pc || this.pc.connectionState === 'closed' || this.pc.connectionState === 'failed') {
      this.startMedia().catch((e) => {
        console.error('media setup failed', e);
        this.showBanner(errorText('sdp_rejected'), 'error', true);
      });
    }
  }

  upsertParticipant(info, announceJoin) {
    if (!info || info.participant_id === this.participantId) return;
    this.departed.delete(info.participant_id);
    this.participants.set(info.participant_id, info);
    this.ensureTile(info.participant_id);
    this.updateTile(info.participant_id);
    this.syncPlain();
    if (announceJoin) announce(info.name);
  }

  /** Highlights the tile of whoever is speaking (decided by the SFU from audio levels). */
  setSpeaker(pid) {
    this.speaker = pid;
    confidant.activeSpeaker = pid;
    for (const el of this.grid ? this.grid.querySelectorAll('.tile') : []) {
      const mine = el === this.localTile ? pid === this.participantId : el.dataset.participantId === pid;
      el.classList.toggle('speaking', mine);
      el.dataset.speaking = String(mine);
    }
    this.focusSpeaker(pid);
  }

  onParticipantLeft(msg) {
    const pid = msg.participant_id;
    if (this.e2ee) this.e2ee.memberLeft(pid);
    this.departed.add(pid);
    this.participants.delete(pid);
    this.removeTile(pid);
    this.syncPlain();
  }

  onMute(msg) {
    if (msg.participant_id === this.participantId) return;
    const info = this.participants.get(msg.participant_id);
    if (!info) return;
    if (msg.kind === 'audio') info.audio_muted = !!msg.muted;
    if (msg.kind === 'video') info.video_muted = !!msg.muted;
    this.updateTile(msg.participant_id);
  }

  onError(msg) {
    const text = errorText(msg.code);
    if (this.state === 'joining' && JOIN_FATAL.has(msg.code)) {
      this.finish('error', msg.code);
      return;
    }
    if (msg.code === 'replaced' || msg.code === 'resume_failed') {
      this.finish('error', msg.code);
      return;
    }
    this.showBanner(text, 'error');
  }

  // ---------------------------------------------------------------- media

  enqueue(task) {
    const run = this.queue.then(task);
    this.queue = run.catch((e) => {
      console.error('negotiation step failed', e);
    });
    return run;
  }

  async startMedia() {
    if (this.pc && this.pc.signalingState !== 'closed') {
      // a rebuilt connection: the server replaces our SFU peer when it gets the new offer
      this.pc.close();
    }
    if (this.media === 'up') this.media = 'down';
    this.updateE2ee();
    const pc = new RTCPeerConnection({
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
      // TURN with short-lived credentials from `joined`, when the server has any: media is
      // relayed when direct UDP to the SFU is blocked.
      iceServers: this.iceServers || [],
      // Support switch: `localStorage['confidant.forceRelay'] = '1'` sends media only through
      // TURN, to check a relay path (the browser test uses it).
      iceTransportPolicy: forceRelay() && (this.iceServers || []).length > 0 ? 'relay' : 'all',
      ...(this.e2ee ? this.e2ee.pcConfig() : {}),
    });
    this.pc = pc;
    confidant.pc = pc;
    pc.addEventListener('track', (e) => {
      if (this.pc === pc) this.onTrack(e);
    });
    pc.addEventListener('connectionstatechange', () => {
      if (this.pc !== pc) return;
      const st = pc.connectionState;
      if (st === 'connected') this.media = 'up';
      else if (st === 'failed' || st === 'disconnected' || st === 'closed') this.media = 'down';
      this.updateE2ee();
      this.updateConnection();
      if (pc.connectionState === 'connected') {
        this.restarts = 0;
        // a new media connection starts with no sizes at the SFU
        this.sentSizes.clear();
        this.scheduleVideoSizes();
      }
      if (pc.connectionState === 'failed') this.scheduleRestart();
    });
    pc.addEventListener('iceconnectionstatechange', () => this.updateConnection());
    const stream = this.localStream;
    const audioTrack = stream ? stream.getAudioTracks()[0] : null;
    const videoTrack = stream ? stream.getVideoTracks()[0] : null;
    const streams = stream ? [stream] : [];
    if (audioTrack) audioTrack.enabled = !this.audioMuted;
    if (videoTrack) videoTrack.enabled = !this.videoMuted;
    const audioTransceiver = pc.addTransceiver(audioTrack || 'audio', { direction: 'sendonly', streams });
    const videoTransceiver = pc.addTransceiver(videoTrack || 'video', {
      direction: 'sendonly',
      streams,
      sendEncodings: SIMULCAST_LAYERS.map((layer) => ({ ...layer })),
    });
    this.audioSender = audioTransceiver.sender;
    this.videoSender = videoTransceiver.sender;
    if (this.e2ee) {
      preferVp8(videoTransceiver);
      this.e2ee.attachSender(this.audioSender, 'audio');
      this.e2ee.attachSender(this.videoSender, 'video');
    }
    this.updateConnection();
    await this.negotiate();
  }

  /**
   * Tells the SFU at what size (device pixels) each remote video is shown, so it forwards the
   * simulcast layer that fits: a thumbnail gets the small one, a hidden tile (0 × 0) the
   * smallest. Debounced; only changes are sent.
   */
  scheduleVideoSizes() {
    if (this.sizeTimer) return;
    this.sizeTimer = setTimeout(() => {
      this.sizeTimer = null;
      this.sendVideoSizes();
    }, VIDEO_SIZE_DEBOUNCE_MS);
  }

  sendVideoSizes() {
    if (!this.signaling || this.signaling.state !== 'open' || this.state !== 'in-call') return;
    const dpr = window.devicePixelRatio || 1;
    for (const [pid, tile] of Object.entries(this.tiles)) {
      // only participants (numeric ids) whose video reached us
      if (!/^\d+$/.test(pid) || !tile.stream || tile.stream.getVideoTracks().length === 0) continue;
      const width = Math.min(MAX_VIDEO_DIMENSION, Math.round(tile.video.clientWidth * dpr));
      const height = Math.min(MAX_VIDEO_DIMENSION, Math.round(tile.video.clientHeight * dpr));
      const key = `${width}x${height}`;
      if (this.sentSizes.get(pid) === key) continue;
      if (this.signaling.send({ type: 'video_size', participant_id: pid, width, height })) {
        this.sentSizes.set(pid, key);
      }
    }
  }

  /**
   * The SFU dropped our media connection (no ICE checks reached it for a while); our browser
   * would only notice when consent freshness fails, half a minute later. Start again now.
   */
  onMediaLost() {
    if (this.state !== 'in-call') return;
    confidant.mediaLost += 1;
    this.media = 'down';
    this.updateE2ee();
    this.updateReconnect();
    console.info('the server lost our media connection; starting media again');
    this.scheduleRestart();
  }

  /** After ICE failed: a new peer connection (and a new offer), a few times at most. */
  scheduleRestart() {
    if (this.restartTimer || this.state !== 'in-call') return;
    this.restarts = (this.restarts || 0) + 1;
    if (this.restarts > 3) {
      this.showBanner(t('conn.media.failed'), 'error', true);
      return;
    }
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.state !== 'in-call' || this.signaling.state !== 'open') return;
      for (const pid of Object.keys(this.tiles)) {
        const tile = this.tiles[pid];
        tile.stream = null;
        tile.video.srcObject = null;
        tile.audio.srcObject = null;
        this.updateTile(pid);
      }
      this.startMedia().catch((e) => console.error('media restart failed', e));
    }, 1000 * this.restarts);
  }

  /** Sends our offer and waits for the SFU's answer (serialised with server offers). */
  negotiate() {
    return this.enqueue(async () => {
      const pc = this.pc;
      if (!pc || pc.signalingState === 'closed') return;
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      this.answerWaiter = deferred();
      this.signaling.send({ type: 'offer', sdp: pc.localDescription.sdp });
      let timer;
      await Promise.race([
        this.answerWaiter.promise,
        new Promise((resolve) => {
          timer = setTimeout(resolve, ANSWER_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timer);
    });
  }

  async onAnswer(msg) {
    const pc = this.pc;
    if (!pc || pc.signalingState !== 'have-local-offer') {
      console.warn('answer without a pending offer; ignored');
      return;
    }
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
    } catch (e) {
      console.error('could not apply the answer', e);
      this.showBanner(errorText('sdp_rejected'), 'error', true);
    } finally {
      if (this.answerWaiter) this.answerWaiter.resolve();
    }
  }

  onServerOffer(msg) {
    return this.enqueue(async () => {
      const pc = this.pc;
      if (!pc || pc.signalingState === 'closed') return;
      // If our own offer is still unanswered, setRemoteDescription(offer) rolls it back.
      await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      this.signaling.send({ type: 'answer', sdp: pc.localDescription.sdp });
    }).catch((e) => {
      console.error('could not answer the server offer', e);
      this.showBanner(errorText('sdp_rejected'), 'error', true);
    });
  }

  toggleMute(kind) {
    if (kind === 'audio') this.audioMuted = !this.audioMuted;
    else this.videoMuted = !this.videoMuted;
    const muted = kind === 'audio' ? this.audioMuted : this.videoMuted;
    if (this.localStream) {
      const tracks = kind === 'audio' ? this.localStream.getAudioTracks() : this.localStream.getVideoTracks();
      for (const track of tracks) track.enabled = !muted;
    }
    this.signaling.send({ type: 'mute', kind, muted });
    this.updateControls();
    this.updateLocal();
  }

  /** Switches devices: replaces the sent tracks without renegotiating. */
  async setLocalStream(stream) {
    const old = this.localStream;
    this.localStream = stream;
    const audioTrack = stream.getAudioTracks()[0] || null;
    const videoTrack = stream.getVideoTracks()[0] || null;
    if (audioTrack) audioTrack.enabled = !this.audioMuted;
    if (videoTrack) videoTrack.enabled = !this.videoMuted;
    try {
      if (this.audioSender) await this.audioSender.replaceTrack(audioTrack);
      if (this.videoSender) await this.videoSender.replaceTrack(videoTrack);
      if (this.audioSender && this.audioSender.setStreams) this.audioSender.setStreams(stream);
      if (this.videoSender && this.videoSender.setStreams) this.videoSender.setStreams(stream);
    } catch (e) {
      console.error('replaceTrack failed', e);
    }
    if (old && old !== stream) stopStream(old);
    if (this.devices && this.devices.open) this.meter.attach(stream);
    this.updateLocal();
    this.updateControls();
  }

  // ---------------------------------------------------------------- chat

  sendChat() {
    const text = this.chatInput.value.trim();
    if (!text) return;
    if ([...text].length > 4000) return;
    if (this.signaling.send({ type: 'chat', text })) {
      this.chatInput.value = '';
    }
    this.chatInput.focus();
  }

  /**
   * A page of earlier chat: the latest messages after `joined` (no `before`), or the older page
   * asked for with `before`, put above what is shown without moving the reader's place.
   */
  onChatHistory(m) {
    const messages = m.messages || [];
    if (m.before) {
      if (m.before !== this.chatPaging) return;
      this.chatPaging = null;
      const list = this.chatList;
      const fromBottom = list.scrollHeight - list.scrollTop;
      for (const msg of messages.slice().reverse()) this.addChat(msg, true);
      list.scrollTop = list.scrollHeight - fromBottom;
    } else {
      // The first page (after joining, or afresh after the counsellor shared the history)
      // replaces what is shown, so earlier messages land above the later ones.
      this.chatList.replaceChildren();
      this.chatIds.clear();
      this.chatPaging = null;
      for (const msg of messages) this.addChat(msg);
      if (!messages.length && this.chatEmpty) this.chatEmpty.hidden = false;
    }
    this.chatMore = !!m.more;
    this.updateChatOlder();
  }

  /** Host: shows the chat so far to the clients, also to those admitted later. */
  shareChatHistory() {
    if (this.chatShare && this.signaling.send({ type: 'chat_share_history' })) this.chatShare.disabled = true;
  }

  /** The counsellor shared the chat so far: say so (guests get the fresh page right after). */
  onChatShared() {
    if (this.chatShare) this.chatShare.disabled = false;
    if (!this.chatNote) return;
    this.chatNote.textContent = t(this.role === 'host' ? 'call.chat_shared_host' : 'call.chat_shared');
    this.chatNote.hidden = false;
  }

  /** Asks the server for the page before the oldest message shown. */
  loadOlderChat() {
    const first = this.chatList && this.chatList.firstElementChild;
    const before = first && first.dataset.messageId;
    if (!before || this.chatPaging) return;
    if (this.signaling.send({ type: 'chat_history', before })) {
      this.chatPaging = before;
      this.updateChatOlder();
    }
  }

  updateChatOlder() {
    if (!this.chatOlder) return;
    this.chatOlder.hidden = !this.chatMore;
    this.chatOlder.disabled = !!this.chatPaging;
  }

  /** The name a chat message is shown with: its sender's, or, once the server no longer
   * knows it (names are never stored), the sender's role. */
  chatName(msg) {
    if (msg.name) return msg.name;
    return t(msg.role === 'host' ? 'call.chat_counsellor' : 'call.chat_client');
  }

  addChat(msg, prepend = false) {
    if (!msg || !this.chatList) return;
    if (msg.id && this.chatIds.has(msg.id)) return;
    if (msg.id) this.chatIds.add(msg.id);
    const own = msg.participant_id === this.participantId;
    const name = this.chatName(msg);
    const li = h(
      'li',
      {
        class: 'chat-message' + (own ? ' own' : ''),
        testid: 'chat-message',
        dataset: { participantId: msg.participant_id || '', messageId: msg.id || '' },
      },
      h(
        'div',
        { class: 'chat-meta' },
        h('span', { class: 'chat-name', testid: 'chat-name', text: own ? `${name} (${t('call.you')})` : name }),
        h('time', { class: 'chat-time', dateTime: msg.sent_at || '', text: msg.sent_at ? formatTime(msg.sent_at, false) : '' }),
      ),
      h('p', { class: 'chat-text', testid: 'chat-text', text: msg.text }),
    );
    this.chatEmpty.hidden = true;
    if (prepend) {
      this.chatList.insertBefore(li, this.chatList.firstChild);
      return;
    }
    this.chatList.appendChild(li);
    this.chatList.scrollTop = this.chatList.scrollHeight;
  }

  // ---------------------------------------------------------------- end

  leave() {
    this.signaling.send({ type: 'leave' });
    this.finish('left');
  }

  /** Closes everything and shows the final screen. kind: ended | left | lost | error. */
  finish(kind, detail) {
    if (['ended', 'left', 'lost', 'error'].includes(this.state)) return;
    this.setState(kind);
    clearTimeout(this.restartTimer);
    clearTimeout(this.reconnectedTimer);
    this.stopStats();
    if (this.meter) this.meter.stop();
    if (this.leaveDialog) this.leaveDialog.close();
    if (this.onFullscreenChange) document.removeEventListener('fullscreenchange', this.onFullscreenChange);
    if (document.fullscreenElement && this.main && this.main.contains(document.fullscreenElement)) document.exitFullscreen().catch(() => {});
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    if (this.answerWaiter) this.answerWaiter.resolve();
    if (this.pc) {
      try {
        this.pc.close();
      } catch {
        // ignore
      }
    }
    for (const pid of Object.keys(this.tiles)) this.removeTile(pid);
    if (this.e2ee) {
      this.e2ee.close();
      this.e2ee = null;
    }
    if (this.e2eeStatus.state !== 'unsupported') this.e2eeStatus = { ...this.e2eeStatus, state: 'off' };
    this.updateE2ee();
    stopStream(this.localStream);
    this.signaling.close();
    this.updateConnection();

    let title;
    let text = '';
    let testid;
    if (kind === 'ended' && detail === 'removed') {
      title = t('call.removed');
      text = t('call.removed_text');
      testid = 'removed';
    } else if (kind === 'ended') {
      title = t('call.ended');
      text =
        { ended_by_host: t('call.ended_by_host'), expired: t('call.ended_expired'), revoked: t('call.ended_revoked') }[detail] || '';
      testid = 'session-ended';
    } else if (kind === 'left') {
      title = t('call.left');
      testid = 'left';
    } else if (kind === 'lost') {
      title = t('call.connection_lost');
      testid = 'connection-lost';
    } else {
      // A heading a person understands; the code's own text (with its next step) below it.
      title = t('call.failed');
      text = errorText(detail);
      testid = 'call-failed';
    }
    const extras = this.finishedExtras ? this.finishedExtras(kind) : [];
    const panel = h(
      'section',
      { class: 'panel final-panel', testid, attrs: { role: 'status' }, dataset: { reason: detail || '' } },
      h('h1', { text: title }),
      text ? h('p', { text }) : null,
      kind === 'lost' || kind === 'error'
        ? h('button', { type: 'button', class: 'button', text: t('common.reload'), onclick: () => location.reload() })
        : null,
      ...extras,
    );
    if (this.container) {
      clear(this.container);
      this.container.appendChild(panel);
      const heading = panel.querySelector('h1');
      if (heading) {
        heading.tabIndex = -1;
        heading.focus();
      }
    }
    if (this.onFinished) this.onFinished(kind, detail);
  }
}
