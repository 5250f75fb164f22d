// Camera and microphone: acquisition, device lists, device pickers.

import { t } from '../shared/i18n.js';
import { h, clear } from '../shared/ui.js';

// 720p lets the browser send all three simulcast layers (call.js); it scales down by itself when
// the camera, the CPU or the uplink cannot keep up.
const VIDEO_CONSTRAINTS = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 24, max: 30 } };

/**
 * Gets a stream with the chosen devices. If both fail, tries audio-only and video-only so that a
 * missing camera does not prevent talking. Returns { stream, error } (stream may be null).
 */
export async function acquireMedia({ audioId, videoId } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return { stream: null, error: 'mediaDevices unavailable' };
  }
  const audio = audioId ? { deviceId: { exact: audioId } } : true;
  const video = videoId ? { ...VIDEO_CONSTRAINTS, deviceId: { exact: videoId } } : VIDEO_CONSTRAINTS;
  let firstError = null;
  for (const constraints of [{ audio, video }, { audio }, { video }]) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia(constraints);
      return { stream, error: constraints.audio && constraints.video ? null : String(firstError) };
    } catch (e) {
      if (!firstError) firstError = (e && (e.name || e.message)) || 'error';
    }
  }
  return { stream: null, error: String(firstError) };
}

export function stopStream(stream) {
  if (!stream) return;
  for (const track of stream.getTracks()) track.stop();
}

export async function listDevices() {
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    return {
      audio: devices.filter((d) => d.kind === 'audioinput'),
      video: devices.filter((d) => d.kind === 'videoinput'),
    };
  } catch {
    return { audio: [], video: [] };
  }
}

function currentDeviceId(stream, kind) {
  if (!stream) return '';
  const track = kind === 'audio' ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
  if (!track) return '';
  const settings = track.getSettings ? track.getSettings() : {};
  return settings.deviceId || '';
}

/**
 * Two selects (camera, microphone). `getStream()` returns the current stream; `onStream(stream)`
 * is called with a newly acquired stream after a switch (the caller stops the old one).
 */
export function devicePicker({ getStream, onStream, onError }) {
  const camId = 'cam-' + Math.random().toString(36).slice(2);
  const micId = 'mic-' + Math.random().toString(36).slice(2);
  const camSelect = h('select', { id: camId, testid: 'camera-select' });
  const micSelect = h('select', { id: micId, testid: 'microphone-select' });
  const root = h(
    'div',
    { class: 'device-picker' },
    h('div', { class: 'field' }, h('label', { for: camId, text: t('join.camera') }), camSelect),
    h('div', { class: 'field' }, h('label', { for: micId, text: t('join.microphone') }), micSelect),
  );

  function fill(select, devices, selectedId) {
    clear(select);
    if (devices.length === 0) {
      select.appendChild(h('option', { value: '', text: t('join.no_devices') }));
      select.disabled = true;
      return;
    }
    select.disabled = false;
    devices.forEach((d, i) => {
      select.appendChild(
        h('option', {
          value: d.deviceId,
          text: d.label || t('join.device_default', { n: i + 1 }),
          selected: d.deviceId === selectedId,
        }),
      );
    });
  }

  async function refresh() {
    const { audio, video } = await listDevices();
    const stream = getStream();
    fill(camSelect, video, currentDeviceId(stream, 'video'));
    fill(micSelect, audio, currentDeviceId(stream, 'audio'));
  }

  async function change() {
    camSelect.disabled = true;
    micSelect.disabled = true;
    const { stream, error } = await acquireMedia({ videoId: camSelect.value, audioId: micSelect.value });
    if (stream) onStream(stream);
    if (error && onError) onError(error);
    await refresh();
  }

  camSelect.addEventListener('change', change);
  micSelect.addEventListener('change', change);
  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
    navigator.mediaDevices.addEventListener('devicechange', () => refresh());
  }
  refresh();
  return { element: root, refresh };
}
