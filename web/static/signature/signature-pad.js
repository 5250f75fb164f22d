// A signature pad on Pointer Events: pen, touch and mouse. Records, per sample, x and y (CSS px
// from the canvas' top-left, y down), t (ms on the performance.now() clock: the event's own
// timeStamp, which is on that clock), pressure and tilt where the hardware reports them, and the
// pointer type; a stroke is one pointerdown … pointerup. Coalesced events
// (getCoalescedEvents) give every sample the browser saw, not only one per frame.
//
// Nothing leaves the device here: the page reads `submission()` when the signer confirms.
// Format of the submission: signature/FORMAT.md §1.

// Limits of the server (signature/FORMAT.md §1): beyond them samples are not recorded.
const MAX_STROKES = 64;
const MAX_POINTS = 20000;
/** The narrowest surface (CSS px): a signature needs room even on the smallest phone. */
const MIN_WIDTH = 240;

export class SignaturePad {
  /**
   * @param {object} options
   * @param {number} [options.width] CSS px (shrinks to the container on small screens)
   * @param {number} [options.height] CSS px
   * @param {() => void} [options.onCaptureStart] called at the first pen-down after creation or clear
   * @param {() => void} [options.onChange] called after each stroke and on clear
   * @param {string} [options.label] accessible name of the drawing surface
   * @param {string} [options.describedBy] ids of the elements with its instructions
   */
  constructor({ width = 600, height = 200, onCaptureStart, onChange, label = '', describedBy = '' } = {}) {
    this.onCaptureStart = onCaptureStart || (() => {});
    // Set after the first clear below: the constructor reports no change.
    this.onChange = () => {};
    this.enabled = true;
    this.strokes = [];
    this.points = 0;
    this.active = null; // { pointerId, stroke }
    this.lastT = -Infinity;
    this.clientStartedAt = null;
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'signature-canvas';
    this.canvas.setAttribute('data-testid', 'signature-pad');
    this.canvas.setAttribute('role', 'img');
    if (label) this.canvas.setAttribute('aria-label', label);
    // The instructions (how to sign, and the typed alternative where there is one) belong to
    // the surface, so a screen reader announces them with its name.
    if (describedBy) this.canvas.setAttribute('aria-describedby', describedBy);
    // The browser must not pan or zoom while a finger or pen draws (CSSOM, allowed by the CSP).
    this.canvas.style.touchAction = 'none';
    this.cssWidth = width;
    this.cssHeight = height;
    this.maxWidth = width;
    this.element = this.canvas;
    this.resize(width, height);
    this.onChange = onChange || (() => {});
    this.canvas.addEventListener('pointerdown', (e) => this.down(e));
    this.canvas.addEventListener('pointermove', (e) => this.move(e));
    this.canvas.addEventListener('pointerup', (e) => this.up(e));
    this.canvas.addEventListener('pointercancel', (e) => this.up(e));
    this.canvas.addEventListener('lostpointercapture', (e) => this.up(e));
  }

  /**
   * Sets the drawing surface's size in CSS px (and the backing store for the device pixel
   * ratio); clears. The canvas' border comes on top (`content-box`), so the surface the signer
   * draws on is exactly `width` × `height`.
   */
  resize(width, height) {
    const ratio = window.devicePixelRatio || 1;
    this.cssWidth = width;
    this.cssHeight = height;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    this.canvas.style.boxSizing = 'content-box';
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    const ctx = this.canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    this.clear();
  }

  /**
   * Sizes the surface to the room `container` offers (at most the width asked for), so that no
   * stylesheet has to squeeze it: what is recorded is what the signer saw. Only while empty
   * (a resize clears), and again when the window changes size before anything was drawn.
   */
  fitTo(container) {
    const fit = () => {
      if (!this.isEmpty()) return;
      const border = this.canvas.offsetWidth - this.canvas.clientWidth;
      const room = Math.floor(container.clientWidth - border);
      const width = Math.max(MIN_WIDTH, Math.min(this.maxWidth, room));
      if (width !== this.cssWidth) this.resize(width, this.cssHeight);
    };
    fit();
    window.addEventListener('resize', fit);
  }

  /** Removes every stroke. */
  clear() {
    this.strokes = [];
    this.points = 0;
    this.active = null;
    this.lastT = -Infinity;
    this.clientStartedAt = null;
    this.redraw();
    this.onChange();
  }

  isEmpty() {
    return this.strokes.length === 0;
  }

  setEnabled(on) {
    this.enabled = !!on;
    this.canvas.classList.toggle('signature-canvas-locked', !this.enabled);
    if (!this.enabled && this.active) this.finish();
  }

  /** The submission body's `signature` (signature/FORMAT.md §1). */
  submission() {
    const types = [...new Set(this.strokes.map((s) => s.pointer_type))];
    return {
      canvas: { width: this.cssWidth, height: this.cssHeight },
      device: {
        pointer_types: types,
        user_agent: navigator.userAgent.slice(0, 512),
        pixel_ratio: window.devicePixelRatio || 1,
      },
      client_started_at_ms: this.clientStartedAt ?? undefined,
      strokes: this.strokes.map((s) => ({ pointer_type: s.pointer_type, points: s.points.map((p) => ({ ...p })) })),
    };
  }

  down(e) {
    if (!this.enabled || this.active || !e.isPrimary) return;
    if (e.pointerType === 'mouse' && e.button !== 0) return;
    if (this.strokes.length >= MAX_STROKES || this.points >= MAX_POINTS) return;
    e.preventDefault();
    try {
      this.canvas.setPointerCapture(e.pointerId);
    } catch {
      // synthetic events without an active pointer cannot be captured; drawing still works
    }
    if (this.strokes.length === 0) {
      this.clientStartedAt = Date.now();
      this.onCaptureStart();
    }
    const pointerType = ['pen', 'touch', 'mouse'].includes(e.pointerType) ? e.pointerType : 'mouse';
    const stroke = { pointer_type: pointerType, points: [] };
    this.strokes.push(stroke);
    this.active = { pointerId: e.pointerId, stroke };
    this.add(e);
  }

  move(e) {
    if (!this.active || e.pointerId !== this.active.pointerId) return;
    e.preventDefault();
    const samples = typeof e.getCoalescedEvents === 'function' ? e.getCoalescedEvents() : [];
    for (const s of samples.length ? samples : [e]) this.add(s);
  }

  up(e) {
    if (!this.active || e.pointerId !== this.active.pointerId) return;
    this.finish();
  }

  finish() {
    this.active = null;
    this.onChange();
  }

  /** Records one sample of the active stroke and draws the segment to it. */
  add(ev) {
    if (this.points >= MAX_POINTS) return;
    const rect = this.canvas.getBoundingClientRect();
    // The drawing surface is the canvas inside its border. `fitTo` makes it exactly
    // cssWidth × cssHeight on screen, so the factors are 1 and the recorded geometry is the
    // drawn one; they only matter if a layout scales the canvas after all.
    const innerW = this.canvas.clientWidth;
    const innerH = this.canvas.clientHeight;
    const sx = innerW ? this.cssWidth / innerW : 1;
    const sy = innerH ? this.cssHeight / innerH : 1;
    // Captured pointers keep reporting past the edge: keep samples on the canvas.
    const x = round2(clamp((ev.clientX - rect.left - this.canvas.clientLeft) * sx, 0, this.cssWidth));
    const y = round2(clamp((ev.clientY - rect.top - this.canvas.clientTop) * sy, 0, this.cssHeight));
    let t = Number.isFinite(ev.timeStamp) && ev.timeStamp > 0 ? ev.timeStamp : performance.now();
    // Monotonic, whatever the event source: never earlier than the previous sample.
    t = round3(Math.max(t, this.lastT));
    this.lastT = t;
    const point = { x, y, t };
    const type = this.active.stroke.pointer_type;
    // Mouse pressure is a fixed 0.5 while a button is down, touch often 0 or 0.5: not measured.
    if (type === 'pen' || (type === 'touch' && ev.pressure > 0 && ev.pressure !== 0.5)) {
      point.pressure = clamp(ev.pressure, 0, 1);
    }
    if (type === 'pen') {
      if (Number.isFinite(ev.tiltX)) point.tilt_x = clamp(ev.tiltX, -90, 90);
      if (Number.isFinite(ev.tiltY)) point.tilt_y = clamp(ev.tiltY, -90, 90);
    }
    const pts = this.active.stroke.points;
    const prev = pts[pts.length - 1];
    pts.push(point);
    this.points += 1;
    this.segment(prev, point);
  }

  segment(a, b) {
    const ctx = this.canvas.getContext('2d');
    ctx.strokeStyle = '#111';
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.lineWidth = 1.2 + 2.2 * (b.pressure ?? 0.5);
    ctx.beginPath();
    if (a) ctx.moveTo(a.x, a.y);
    else ctx.moveTo(b.x - 0.01, b.y);
    ctx.lineTo(b.x, b.y);
    ctx.stroke();
  }

  redraw() {
    const ctx = this.canvas.getContext('2d');
    ctx.clearRect(0, 0, this.cssWidth, this.cssHeight);
    // The line to sign on.
    ctx.strokeStyle = '#c9d1da';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(16, this.cssHeight * 0.75);
    ctx.lineTo(this.cssWidth - 16, this.cssHeight * 0.75);
    ctx.stroke();
    for (const s of this.strokes) {
      let prev = null;
      for (const p of s.points) {
        this.segment(prev, p);
        prev = p;
      }
    }
  }
}

const round2 = (v) => Math.round(v * 100) / 100;
const round3 = (v) => Math.round(v * 1000) / 1000;
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
