// voicekit Recorder: microphone -> AudioWorklet -> PCM16 mono chunks -> kernel.
//
// No build step and no network: this file is the whole front end (anywidget ESM).
// Audio never goes into a synced trait. Each ~100 ms chunk travels as one binary
// buffer in a custom message: model.send(content, callbacks, buffers)
// (anywidget docs, "Custom messages"; the second argument is callbacks).
//
// Messages to the kernel (content.type):
//   start {sample_rate, t_ms, constraints, settings}
//                          constraints: what getUserMedia was asked (the _constraints trait)
//                          settings: what it applied (MediaStreamTrack.getSettings())
//   chunk {seq, frames, sample_rate, level_db, t_ms} + one buffer of PCM16 little-endian
//   stop  {chunks, frames, t_ms}
//   error {kind, message}
// t_ms is wall-clock milliseconds (performance.timeOrigin + performance.now()).

const WORKLET = `
class VoicekitCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.size = options.processorOptions.chunkFrames;
    this.buf = new Float32Array(this.size);
    this.n = 0;
    this.port.onmessage = (e) => {
      if (e.data === "flush") {
        const rest = this.buf.slice(0, this.n);
        this.n = 0;
        this.port.postMessage({ samples: rest, last: true }, [rest.buffer]);
      }
    };
  }
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      this.buf[this.n++] = channel[i];
      if (this.n === this.size) {
        this.port.postMessage({ samples: this.buf, last: false }, [this.buf.buffer]);
        this.buf = new Float32Array(this.size);
        this.n = 0;
      }
    }
    return true;
  }
}
registerProcessor("voicekit-capture", VoicekitCapture);
`;

const MESSAGES = {
  insecure_context:
    "This page is not a secure context, so the browser offers no microphone " +
    "(navigator.mediaDevices is undefined). Open Jupyter at http://localhost or " +
    "http://127.0.0.1, or over https.",
  permission_denied:
    "Microphone permission was denied. Allow the microphone for this site " +
    "(the icon left of the address bar) and click Record again.",
  no_microphone: "No microphone was found. Plug one in, or pick one in the system settings.",
  microphone_busy: "The microphone could not be opened: another program may be using it.",
  audiocontext_suspended:
    "The browser suspended the AudioContext (autoplay policy): recording can only " +
    "start from a click. Click Record.",
};

// On JupyterHub, hub.js's advice replaces the one naming localhost.
const HUB_MESSAGES = {
  insecure_context: hubInsecureContext("microphone"),
};

// A sample at or above -0.1 dBFS counts as clipped (voicekit.widgets.recorder.CLIP_DBFS).
const CLIP_LEVEL = Math.pow(10, -0.1 / 20);
// The CLIP light stays on this long after the last clipped sample while recording.
const CLIP_HOLD_MS = 1500;

function nowMs() {
  return performance.timeOrigin + performance.now();
}

function toPcm16(f32) {
  // The kit's one scaling (voicekit.formats.float_to_int16): round(x * 32768), clipped.
  const out = new Int16Array(f32.length);
  for (let i = 0; i < f32.length; i++) {
    const v = Math.round(f32[i] * 32768);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}

// The browser's own getUserMedia. ipywebrtc's JupyterLab extension loads webrtc-adapter,
// which replaces navigator.mediaDevices.getUserMedia on every JupyterLab page and, in
// Chrome, renames autoGainControl and noiseSuppression to the legacy googAutoGainControl
// and googNoiseSuppression that Chromium no longer reads: every processing then stays
// on (Chromium 156 applied gain control and clipped a 0.3 source). The prototype's
// method is the unwrapped one.
function nativeGetUserMedia(constraints) {
  const proto = window.MediaDevices && window.MediaDevices.prototype;
  const gum = proto && proto.getUserMedia ? proto.getUserMedia : navigator.mediaDevices.getUserMedia;
  return gum.call(navigator.mediaDevices, constraints);
}

function errorKind(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError") return "permission_denied";
  if (name === "NotFoundError" || name === "OverconstrainedError") return "no_microphone";
  if (name === "NotReadableError" || name === "AbortError") return "microphone_busy";
  return "unknown";
}

// One capture engine per widget model, shared by all of its views.
const engines = new Map();

function createEngine(model) {
  const listeners = new Set();
  const state = {
    active: false, starting: false, error: "", startedAt: 0, elapsed: 0,
    levelDb: -Infinity, envelope: [], clipped: 0, lastClipAt: -Infinity,
  };
  let ctx = null, stream = null, node = null, seq = 0, frames = 0, timer = null;
  let stopResolve = null;

  const notify = () => listeners.forEach((f) => f(state));

  function fail(kind, err) {
    const message = (onJupyterHub() && HUB_MESSAGES[kind]) || MESSAGES[kind] ||
      `Recording failed: ${err && err.name}: ${err && err.message}`;
    state.error = message;
    model.send({ type: "error", kind, message });
    teardown();
    notify();
  }

  function teardown() {
    if (timer) clearInterval(timer);
    timer = null;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (node) node.port.onmessage = null;
    if (ctx && ctx.state !== "closed") ctx.close();
    ctx = stream = node = null;
    state.active = state.starting = false;
    if (model.get("recording")) {
      model.set("recording", false);
      model.save_changes();
    }
  }

  function onChunk(data) {
    const f32 = data.samples;
    if (f32.length > 0) {
      const pcm = toPcm16(f32);
      let sum = 0, clipped = 0;
      for (let i = 0; i < f32.length; i++) {
        sum += f32[i] * f32[i];
        if (Math.abs(f32[i]) >= CLIP_LEVEL) clipped++;
      }
      if (clipped) {
        state.clipped += clipped;
        state.lastClipAt = performance.now();
      }
      state.levelDb = 10 * Math.log10(sum / f32.length + 1e-12);
      // Envelope for the live waveform: one peak per 10 ms block.
      const block = Math.max(1, Math.round(ctx.sampleRate / 100));
      for (let i = 0; i < f32.length; i += block) {
        let peak = 0;
        for (let j = i; j < Math.min(i + block, f32.length); j++) peak = Math.max(peak, Math.abs(f32[j]));
        state.envelope.push(peak);
      }
      if (state.envelope.length > 3000) state.envelope.splice(0, state.envelope.length - 3000);
      model.send(
        { type: "chunk", seq, frames: pcm.length, sample_rate: ctx.sampleRate,
          level_db: Math.max(state.levelDb, -120), t_ms: nowMs() },
        undefined,
        [pcm.buffer],
      );
      seq += 1;
      frames += pcm.length;
    }
    if (data.last) {
      model.send({ type: "stop", chunks: seq, frames, t_ms: nowMs() });
      const resolve = stopResolve;
      stopResolve = null;
      teardown();
      notify();
      if (resolve) resolve();
    } else {
      notify();
    }
  }

  // Must be called from a click handler: the AudioContext is created synchronously
  // here, before any await, so the click's user activation lets it run
  // (MDN, "Autoplay guide for media and Web Audio APIs").
  async function start() {
    if (state.active || state.starting) return;
    state.error = "";
    state.starting = true;
    notify();
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      state.starting = false;
      return fail("insecure_context");
    }
    const rate = model.get("sample_rate");
    try {
      ctx = new AudioContext({ sampleRate: rate });
    } catch (err) {
      state.starting = false;
      return fail("unknown", err);
    }
    // echoCancellation, noiseSuppression, autoGainControl: Recorder.constraints.
    const constraints = { ...model.get("_constraints") };
    try {
      stream = await nativeGetUserMedia({ audio: { channelCount: 1, ...constraints } });
    } catch (err) {
      return fail(errorKind(err), err);
    }
    if (!ctx) return; // stopped while waiting for permission
    if (ctx.state === "suspended") {
      await Promise.race([ctx.resume(), new Promise((r) => setTimeout(r, 1000))]);
      if (ctx.state === "suspended") return fail("audiocontext_suspended");
    }
    try {
      let source;
      try {
        source = ctx.createMediaStreamSource(stream);
      } catch (err) {
        // Firefox cannot connect a microphone to an AudioContext running at another
        // rate ("NotSupportedError: ... different sample-rate is currently not
        // supported"). Capture at the device's own rate instead; the kernel resamples.
        if (!err || err.name !== "NotSupportedError") throw err;
        ctx.close();
        ctx = new AudioContext();
        source = ctx.createMediaStreamSource(stream);
      }
      const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
      await ctx.audioWorklet.addModule(url);
      URL.revokeObjectURL(url);
      node = new AudioWorkletNode(ctx, "voicekit-capture", {
        numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
        processorOptions: { chunkFrames: Math.round(ctx.sampleRate / 10) },
      });
      // A silent path to the destination keeps the graph pulling the worklet.
      const mute = ctx.createGain();
      mute.gain.value = 0;
      source.connect(node).connect(mute).connect(ctx.destination);
    } catch (err) {
      return fail("unknown", err);
    }
    seq = 0;
    frames = 0;
    state.envelope = [];
    state.clipped = 0;
    state.lastClipAt = -Infinity;
    node.port.onmessage = (e) => onChunk(e.data);
    const track = stream.getAudioTracks()[0];
    const settings = track && track.getSettings ? track.getSettings() : {};
    model.send({ type: "start", sample_rate: ctx.sampleRate, t_ms: nowMs(), constraints, settings });
    state.starting = false;
    state.active = true;
    state.startedAt = performance.now();
    state.elapsed = 0;
    timer = setInterval(() => {
      state.elapsed = (performance.now() - state.startedAt) / 1000;
      notify();
    }, 100);
    if (!model.get("recording")) {
      model.set("recording", true);
      model.save_changes();
    }
    notify();
  }

  function stop() {
    if (!state.active) {
      if (state.starting) teardown();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      stopResolve = resolve;
      node.port.postMessage("flush");
    });
  }

  model.on("change:recording", () => {
    if (model.get("recording") && !state.active && !state.starting) start();
    if (!model.get("recording") && state.active) stop();
  });

  return { state, start, stop, listeners, teardown };
}

function engineFor(model) {
  const id = model.get("_uid");
  if (!engines.has(id)) engines.set(id, createEngine(model));
  return engines.get(id);
}

function initialize({ model }) {
  engineFor(model);
  return () => {
    const id = model.get("_uid");
    const engine = engines.get(id);
    if (engine) engine.teardown();
    engines.delete(id);
  };
}

function drawWave(canvas, envelope, active) {
  const g = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  g.clearRect(0, 0, w, h);
  g.fillStyle = active ? "#c0392b" : "#2471a3";
  const n = Math.min(envelope.length, w);
  const start = envelope.length - n;
  for (let x = 0; x < n; x++) {
    const peak = Math.min(1, envelope[start + x]);
    const y = Math.max(1, peak * h);
    g.fillRect(w - n + x, (h - y) / 2, 1, y);
  }
}

function render({ model, el }) {
  const engine = engineFor(model);
  el.classList.add("voicekit-recorder");
  const button = document.createElement("button");
  button.className = "voicekit-record-button";
  button.type = "button";
  const time = document.createElement("span");
  time.className = "voicekit-elapsed";
  const meter = document.createElement("meter");
  meter.className = "voicekit-level";
  meter.min = -60;
  meter.max = 0;
  meter.low = -20;
  meter.high = -6;
  meter.setAttribute("aria-label", "Input level (dBFS)");
  const clip = document.createElement("span");
  clip.className = "voicekit-clip";
  clip.textContent = "CLIP";
  clip.setAttribute("role", "status");
  const canvas = document.createElement("canvas");
  canvas.className = "voicekit-wave";
  canvas.width = 300;
  canvas.height = 40;
  canvas.setAttribute("aria-label", "Live waveform");
  const error = document.createElement("div");
  error.className = "voicekit-error";
  error.setAttribute("role", "alert");
  const row = document.createElement("div");
  row.className = "voicekit-row";
  row.append(button, time, meter, clip, canvas);
  el.append(row, error);

  function update(state) {
    const label = state.active ? "Stop" : "Record";
    button.textContent = state.active ? "■ Stop" : "● Record";
    button.setAttribute("aria-label", label);
    button.setAttribute("aria-pressed", state.active ? "true" : "false");
    button.disabled = state.starting;
    const s = state.elapsed;
    time.textContent = `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, "0")}`;
    meter.value = state.active ? Math.max(-60, state.levelDb) : -60;
    // On while clipping (and CLIP_HOLD_MS after), and after a recording that clipped.
    // After a reload the kernel's count (the clipped trait) is all that is left.
    const count = state.active ? state.clipped : Math.max(state.clipped, model.get("clipped") || 0);
    const lit = count > 0 && (!state.active || performance.now() - state.lastClipAt < CLIP_HOLD_MS);
    clip.classList.toggle("voicekit-on", lit);
    meter.classList.toggle("voicekit-clipping", lit);
    clip.dataset.samples = String(count);
    const what = `${count} sample(s) at or above -0.1 dBFS in this recording`;
    clip.title = what;
    clip.setAttribute("aria-label", lit ? `Clipping: ${what}` : "Not clipping");
    drawWave(canvas, state.envelope, state.active);
    error.textContent = state.error || model.get("error") || "";
    error.hidden = !error.textContent;
  }
  button.addEventListener("click", () => {
    if (engine.state.active) engine.stop();
    else engine.start();
  });
  engine.listeners.add(update);
  const onError = () => update(engine.state);
  model.on("change:error", onError);
  model.on("change:clipped", onError);
  update(engine.state);
  return () => {
    engine.listeners.delete(update);
    model.off("change:error", onError);
    model.off("change:clipped", onError);
  };
}

export default { initialize, render };
