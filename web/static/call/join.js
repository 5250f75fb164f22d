// The client's join page (/j/{link_token}): name, camera/microphone preview, waiting room, call.

import { t, errorText, mediaErrorText } from '../shared/i18n.js';
import { h, clear, pageData, appRoot, pageHeader, notice, announce } from '../shared/ui.js';
import { Signaling } from './signaling.js';
import { acquireMedia, devicePicker, stopStream } from './media.js';
import { Call, confidant } from './call.js';
import { e2eeSupport } from './e2ee.js';
import { levelMeter, permissionHelp, prefs, speakerSelect } from './call-screen.js';
import { nextSteps } from '../shared/centre.js';

const { linkToken: dataToken, protocolVersion } = pageData();
const linkToken = dataToken || decodeURIComponent((location.pathname.match(/^\/j\/([^/?#]+)/) || [])[1] || '');

const app = appRoot();
const header = pageHeader();
const main = h('main', { class: 'page join-page', id: 'main' });
clear(app);
app.append(header, main);
document.title = `${t('join.title')} – ${t('app.name')}`;

let localStream = null;
let signaling = null;
let offHandlers = [];

function setState(state) {
  confidant.state = state;
  main.dataset.state = state;
}

function validName(name) {
  const len = [...name].length;
  // eslint-disable-next-line no-control-regex
  return len >= 1 && len <= 80 && !/[\u0000-\u001f\u007f-\u009f]/.test(name);
}

// ------------------------------------------------------------------ views

function showInvalid() {
  teardownSignaling();
  meter.stop();
  stopStream(localStream);
  localStream = null;
  setState('link-invalid');
  clear(main);
  main.appendChild(
    h(
      'section',
      { class: 'panel final-panel', testid: 'link-invalid', attrs: { role: 'alert' } },
      h('h1', { text: t('join.link_invalid') }),
    ),
  );
}

/** Media is end-to-end encrypted: a browser that cannot encrypt frames is told so up front. */
function showUnsupported() {
  setState('e2ee-unsupported');
  clear(main);
  main.appendChild(
    h(
      'section',
      { class: 'panel final-panel', testid: 'e2ee-unsupported', attrs: { role: 'alert' } },
      h('h1', { text: t('e2ee.unsupported_title') }),
      h('p', { text: t('e2ee.unsupported_text') }),
    ),
  );
}

function showFinal(testid, text, state) {
  teardownSignaling();
  meter.stop();
  stopStream(localStream);
  localStream = null;
  setState(state);
  clear(main);
  main.append(h('section', { class: 'panel final-panel', testid, attrs: { role: 'status' } }, h('h1', { text })), nextSteps(t('next.after_lobby')));
}

// preview + form
const previewVideo = h('video', { autoplay: true, playsInline: true, muted: true, class: 'mirror', testid: 'preview-video' });
previewVideo.muted = true;
const mediaStatus = h('div', { class: 'media-status' });
const nameInput = h('input', {
  id: 'name',
  name: 'name',
  type: 'text',
  required: true,
  maxLength: 80,
  autocomplete: 'name',
  testid: 'name-input',
  attrs: { 'aria-describedby': 'name-error' },
});
const nameError = h('p', { id: 'name-error', class: 'field-error', testid: 'name-error', attrs: { 'aria-live': 'polite' } });
const joinButton = h('button', { type: 'submit', class: 'button button-primary', text: t('join.join'), testid: 'join-button' });
const formStatus = h('div', { class: 'form-status', attrs: { 'aria-live': 'polite' } });
// Joining with the microphone or the camera off: chosen here, applied to the preview at once
// (the meter stops, the picture goes), carried into the call and told to the others there.
const joinMuted = h('input', { type: 'checkbox', id: 'join-muted', testid: 'join-muted', onchange: () => applyJoinChoices() });
const joinCameraOff = h('input', { type: 'checkbox', id: 'join-camera-off', testid: 'join-camera-off', onchange: () => applyJoinChoices() });
const form = h(
  'form',
  { class: 'join-form', testid: 'join-form', noValidate: true, onsubmit: (e) => onJoin(e) },
  h('div', { class: 'field' }, h('label', { for: 'name', text: t('join.name') }), nameInput, nameError),
  h(
    'div',
    { class: 'join-choices' },
    h('div', { class: 'check' }, joinMuted, h('label', { for: 'join-muted', text: t('pj.join_muted') })),
    h('div', { class: 'check' }, joinCameraOff, h('label', { for: 'join-camera-off', text: t('pj.join_camera_off') })),
  ),
  joinButton,
  formStatus,
);
const formArea = h('div', { class: 'join-form-area' }, form);

const meter = levelMeter();

function setPreview(stream) {
  if (localStream && localStream !== stream) stopStream(localStream);
  localStream = stream;
  previewVideo.srcObject = stream;
  if (stream) previewVideo.play().catch(() => {});
  meter.attach(stream);
  applyJoinChoices();
}

/** The preview follows "join with microphone / camera off". */
function applyJoinChoices() {
  const stream = localStream;
  for (const track of stream ? stream.getAudioTracks() : []) track.enabled = !joinMuted.checked;
  for (const track of stream ? stream.getVideoTracks() : []) track.enabled = !joinCameraOff.checked;
  const noVideo = !stream || stream.getVideoTracks().length === 0 || joinCameraOff.checked;
  previewTile.classList.toggle('video-off', noVideo);
  previewTile.dataset.video = String(!noVideo);
}

/** The browser's answer to the camera and microphone: the stream, or help when it was refused. */
function showMediaResult({ stream, error }) {
  clear(mediaStatus);
  if (stream) setPreview(stream);
  if (error && /NotAllowed|Permission|Security/i.test(error) && !(stream && stream.getAudioTracks().length && stream.getVideoTracks().length)) {
    mediaStatus.appendChild(
      permissionHelp({
        onRetry: async () => {
          showMediaResult(await acquireMedia());
          picker.refresh();
        },
      }),
    );
  } else if (error) {
    mediaStatus.appendChild(notice(t('join.no_media', { detail: mediaErrorText(error) }), 'error', 'media-error'));
  }
}

let sinkId = prefs.get('speaker', '');
const speaker = speakerSelect({
  selected: sinkId,
  onChange: (id) => {
    sinkId = id;
    prefs.set('speaker', id);
  },
});

const picker = devicePicker({
  getStream: () => localStream,
  onStream: (stream) => setPreview(stream),
  onError: (err) => {
    clear(mediaStatus);
    mediaStatus.appendChild(notice(t('join.no_media', { detail: mediaErrorText(err) }), 'error', 'media-error'));
  },
});

const previewTile = h('div', { class: 'tile preview-tile video-off', testid: 'preview-tile' }, previewVideo);
const previewSection = h(
  'section',
  { class: 'panel preview', attrs: { 'aria-labelledby': 'preview-heading' } },
  h('h2', { id: 'preview-heading', text: t('join.preview') }),
  previewTile,
  h(
    'div',
    { class: 'mic-level' },
    h('span', { class: 'mic-level-label', attrs: { 'aria-hidden': 'true' }, text: t('pj.mic_level') }),
    meter.element,
    h('p', { class: 'hint', text: t('pj.mic_level_hint') }),
  ),
  mediaStatus,
  picker.element,
  speaker ? speaker.element : null,
);

main.append(
  h('h1', { text: t('join.title') }),
  h('p', { class: 'lead', text: t('join.intro') }),
  h('div', { class: 'join-layout' }, previewSection, formArea),
);
setState('preview');

if (!linkToken || document.body.dataset.linkValid === 'false') {
  showInvalid();
} else if (!e2eeSupport() && document.body.dataset.allowUnencrypted !== 'true') {
  showUnsupported();
} else {
  if (!e2eeSupport()) {
    // The counsellor allows it: say plainly that this conversation will not be end-to-end encrypted.
    formArea.prepend(notice(t('e2ee.unencrypted_allowed'), 'warning', 'e2ee-unencrypted-warning'));
  }
  acquireMedia().then(({ stream, error }) => {
    if (confidant.state !== 'preview' && confidant.state !== 'knocking' && confidant.state !== 'lobby') {
      stopStream(stream);
      return;
    }
    showMediaResult({ stream, error });
    picker.refresh();
    if (speaker) speaker.refresh();
  });
  nameInput.focus();
}

// ------------------------------------------------------------------ flow

function teardownSignaling() {
  for (const off of offHandlers) off();
  offHandlers = [];
  if (signaling) signaling.close();
  signaling = null;
}

function resetForm(message) {
  teardownSignaling();
  setState('preview');
  joinButton.disabled = false;
  nameInput.disabled = false;
  joinButton.textContent = t('join.join');
  clear(formArea);
  formArea.appendChild(form);
  clear(formStatus);
  if (message) formStatus.appendChild(notice(message, 'error', 'join-error'));
}

async function onJoin(event) {
  event.preventDefault();
  if (confidant.state !== 'preview') return;
  const name = nameInput.value.trim();
  nameError.textContent = '';
  nameInput.removeAttribute('aria-invalid');
  if (!name) {
    nameError.textContent = t('join.name_required');
    nameInput.setAttribute('aria-invalid', 'true');
    nameInput.focus();
    return;
  }
  if (!validName(name)) {
    nameError.textContent = t('join.name_invalid');
    nameInput.setAttribute('aria-invalid', 'true');
    nameInput.focus();
    return;
  }
  setState('knocking');
  joinButton.disabled = true;
  nameInput.disabled = true;
  joinButton.textContent = t('join.joining');
  clear(formStatus);

  signaling = new Signaling({ version: protocolVersion });
  confidant.signaling = signaling;
  const s = signaling;
  const on = (type, fn) => offHandlers.push(s.on(type, fn));
  on('lobby_waiting', () => showWaiting());
  on('admitted', (m) => startCall(m));
  on('rejected', () => showFinal('rejected', t('join.rejected'), 'rejected'));
  on('error', (m) => {
    if (m.code === 'link_invalid') return showInvalid();
    if (m.code === 'invalid_name') {
      resetForm();
      nameError.textContent = t('join.name_invalid');
      nameInput.setAttribute('aria-invalid', 'true');
      nameInput.focus();
      return;
    }
    if (confidant.state === 'knocking' || confidant.state === 'lobby') resetForm(errorText(m.code));
  });
  on('lost', () => {
    if (confidant.state === 'knocking' || confidant.state === 'lobby') resetForm(t('join.lobby_lost'));
  });
  try {
    await s.connect();
  } catch {
    resetForm(errorText('network'));
    return;
  }
  s.send({ type: 'knock', v: protocolVersion, link: linkToken, name, e2ee: !!e2eeSupport() });
}

function showWaiting() {
  setState('lobby');
  announce(`${t('join.waiting_title')}. ${t('join.waiting')}`);
  clear(formArea);
  formArea.appendChild(
    h(
      'section',
      // Not itself a live region: a region inserted with its text is not reliably read out, and a
      // button inside one is noise. The change is told through the page's own live region.
      { class: 'panel waiting', testid: 'lobby-waiting', attrs: { 'aria-labelledby': 'lobby-title' } },
      h('h2', { id: 'lobby-title', text: t('join.waiting_title') }),
      h('div', { class: 'spinner', attrs: { 'aria-hidden': 'true' } }),
      h('p', { text: t('join.waiting') }),
      h('button', {
        type: 'button',
        class: 'button button-quiet',
        text: t('join.leave_lobby'),
        testid: 'leave-lobby-button',
        onclick: () => {
          if (signaling) signaling.send({ type: 'leave' });
          showFinal('left-lobby', t('join.left_lobby'), 'left');
        },
      }),
    ),
  );
}

function startCall({ room, token }) {
  // the call takes over the connection and its messages
  for (const off of offHandlers) off();
  offHandlers = [];
  const s = signaling;
  meter.stop();
  const call = new Call({
    signaling: s,
    localStream,
    role: 'guest',
    audioMuted: joinMuted.checked,
    videoMuted: joinCameraOff.checked,
    sinkId,
    finishedExtras: () => [nextSteps(t('next.after_call'))],
  });
  localStream = null; // owned by the call now
  clear(main);
  main.classList.add('call-page');
  call.mount(main);
  // The call starts at the top, wherever the form was scrolled: own video and controls in view.
  window.scrollTo(0, 0);
  call.join({ room, token, version: protocolVersion });
  announce(t('join.admitted'));
}
