// voicekit CallWidget: the browser's half of a WebRTC call (OpenAI guide "WebRTC").
//
// No build step, no network beyond the call itself: this file is the whole front end.
// The page holds the media: the microphone track (getUserMedia, echo cancellation on)
// and the remote track, played in an <audio> element and measured with an AnalyserNode.
// The kernel (voicekit.webrtc.Call) holds the key: the page sends its SDP offer over
// the comm and gets the answer back; in the ephemeral-key variant it gets a short-lived
// ek_... key instead and posts the offer itself. Messages: see voicekit/widgets/call.py.

const MESSAGES = {
  insecure_context:
    "This page is not a secure context, so the browser offers no microphone or WebRTC " +
    "(navigator.mediaDevices is undefined). Open Jupyter at http://localhost or " +
    "http://127.0.0.1, or over https.",
  permission_denied:
    "Microphone permission was denied. Allow the microphone for this site " +
    "(the icon left of the address bar) and click Call again.",
  no_microphone: "No microphone was found. Plug one in, or pick one in the system settings.",
  microphone_busy: "The microphone could not be opened: another program may be using it.",
};

// On JupyterHub, hub.js's advice replaces the one naming localhost.
const HUB_MESSAGES = {
  insecure_context: hubInsecureContext("microphone or WebRTC"),
};

// The Recorder's "echo" processing (voicekit.widgets.recorder.PROCESSING): the reply
// plays from the speakers while the microphone is open.
const CONSTRAINTS = { echoCancellation: true, noiseSuppression: false, autoGainControl: false };
const SPEAKING_HOLD_MS = 300;
const ANOTHER_CALL = "Hung up: a call started in another call widget of this page (one microphone, one call). " +
  "Click Call to take it back.";
const ICE_WAIT_MS = 2000;

// The browser's own getUserMedia (see recorder.js: ipywebrtc's adapter wraps it).
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
  return "";
}

function gathered(pc) {
  // Send the offer with its candidates (no trickle over the comm): wait for gathering,
  // at most ICE_WAIT_MS (loopback host candidates come at once).
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ICE_WAIT_MS);
  });
}

// One call engine per widget model, shared by its views (a second view shows the same call).
// Kept on globalThis: anywidget may evaluate this module once per widget.
const engines = globalThis.__voicekitCallEngines || (globalThis.__voicekitCallEngines = new Map());

// How many of this page's calls hold a peer connection now (tests check it never passes 1).
function countLive() {
  let n = 0;
  engines.forEach((e) => { if (e.active()) n += 1; });
  return n;
}
globalThis.voicekitLiveCalls = countLive;

function createEngine(model) {
  const listeners = new Set();
  const state = { levelDb: -100, events: 0, firstSound: [], heardSince: 0 };
  let pc = null, mic = null, ctx = null, analyser = null, timer = null, audio = null;
  let pending = null, lastLoud = 0, lastSync = 0, speaking = false;
  let noteBefore = null; // the kernel's note, while another widget's call replaced it

  const notify = () => listeners.forEach((f) => f(state));

  function setState(s) {
    if (model.get("state") !== s) {
      model.set("state", s);
      model.save_changes();
    }
    notify();
  }

  function showError(message) {
    model.set("error", message);
    model.set("state", "error");
    model.save_changes();
    notify();
  }

  function fail(err, where) {
    const kind = errorKind(err);
    const message = MESSAGES[kind] || `${where}: ${(err && err.name) || "Error"}: ${(err && err.message) || err}`;
    showError(message);
    model.send({ type: "error", message });
    teardown(false);
  }

  function teardown(tellKernel) {
    if (timer) clearInterval(timer);
    timer = null;
    if (mic) mic.getTracks().forEach((t) => t.stop());
    if (pc) pc.close();
    if (ctx && ctx.state !== "closed") ctx.close();
    if (audio) { audio.pause(); audio.srcObject = null; }
    const had = pc !== null;
    pc = mic = ctx = analyser = null;
    pending = null;
    state.levelDb = -100;
    if (had && tellKernel) model.send({ type: "hangup" });
    notify();
  }

  function measure() {
    if (!analyser) return;
    const buf = new Float32Array(analyser.fftSize);
    analyser.getFloatTimeDomainData(buf);
    let peak = 0;
    for (let i = 0; i < buf.length; i++) peak = Math.max(peak, Math.abs(buf[i]));
    const db = peak > 0 ? Math.max(-100, 20 * Math.log10(peak)) : -100;
    const now = performance.now();
    state.levelDb = db;
    if (db > model.get("speaking_db")) {
      if (!speaking) state.firstSound.push(performance.timeOrigin + now);
      lastLoud = now;
      speaking = true;
    } else if (now - lastLoud > SPEAKING_HOLD_MS) {
      speaking = false;
    }
    const s = model.get("state");
    if (s === "connected" || s === "speaking" || s === "listening") {
      setState(speaking ? "speaking" : "listening");
    }
    if (now - lastSync > 250) {
      lastSync = now;
      model.set("level_db", Math.round(db * 10) / 10);
      model.save_changes();
    }
    notify();
  }

  function onTrack(e, audioEl) {
    const stream = e.streams && e.streams[0] ? e.streams[0] : new MediaStream([e.track]);
    audioEl.srcObject = stream;
    audioEl.play().catch(() => {});
    ctx = new AudioContext();
    analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    ctx.createMediaStreamSource(stream).connect(analyser);
    timer = setInterval(measure, 20);
  }

  async function call(audioEl) {
    teardown(true); // never two calls on one microphone: this widget's last call, and any
    engines.forEach((other) => { if (other !== me && other.active()) other.endedBy(ANOTHER_CALL); });
    if (noteBefore !== null) { model.set("note", noteBefore); noteBefore = null; }
    audio = audioEl;
    model.set("error", "");
    model.set("calls", model.get("calls") + 1);
    setState("connecting");
    if (!window.isSecureContext || !navigator.mediaDevices) {
      showError((onJupyterHub() ? HUB_MESSAGES : MESSAGES).insecure_context);
      return;
    }
    try {
      mic = await nativeGetUserMedia({ audio: CONSTRAINTS });
    } catch (err) {
      fail(err, "Opening the microphone failed");
      return;
    }
    try {
      pc = new RTCPeerConnection();
      const current = pc;
      pc.ontrack = (e) => onTrack(e, audioEl);
      pc.onconnectionstatechange = () => {
        if (pc !== current) return;
        const c = current.connectionState;
        if (c === "connected") setState("connected");
        else if (c === "failed") fail(new Error("the peer connection failed (ICE or DTLS)"), "Calling failed");
      };
      mic.getTracks().forEach((t) => pc.addTrack(t, mic));
      const channel = pc.createDataChannel("oai-events");
      channel.onmessage = (e) => {
        state.events += 1;
        try {
          const event = JSON.parse(e.data);
          if (event.type === "error" && event.error) model.set("error", `${event.error.code || ""} ${event.error.message || ""}`.trim());
          if (event.type === "session.closed" || event.type === "call.hangup") teardown(false);
        } catch (_) { /* not JSON: ignore */ }
        notify();
      };
      channel.onclose = () => {
        if (pc === current) { teardown(false); setState("ended"); }
      };
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      pending = current;
      const ephemeral = model.get("ephemeral");
      model.send(ephemeral ? { type: "need_key" } : { type: "offer", sdp: pc.localDescription.sdp });
    } catch (err) {
      fail(err, "Starting the call failed");
    }
  }

  async function onKey(msg) {
    // The ephemeral-key variant: this page posts its own offer (OpenAI guide "WebRTC").
    const current = pending;
    if (!current) return;
    try {
      const r = await fetch(msg.url, {
        method: "POST", body: current.localDescription.sdp,
        headers: { Authorization: `Bearer ${msg.value}`, "Content-Type": "application/sdp" },
      });
      const body = await r.text();
      if (!r.ok) throw new Error(`the server answered ${r.status}: ${body.slice(0, 300)}`);
      await current.setRemoteDescription({ type: "answer", sdp: body });
      const location = r.headers.get("Location") || "";
      model.send({ type: "answered", call_id: location.split("/").pop() || null });
    } catch (err) {
      fail(err, "Posting the offer failed");
    }
  }

  model.on("msg:custom", (msg) => {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "answer" && pending) {
      pending.setRemoteDescription({ type: "answer", sdp: msg.sdp }).catch((err) => fail(err, "The answer was refused"));
    } else if (msg.type === "key") {
      onKey(msg);
    } else if (msg.type === "hangup") {
      teardown(false);
      setState("ended");
    } else if (msg.type === "error") {
      showError(msg.message);
      teardown(false);
    }
  });

  const me = {
    state, listeners, call, hangup: () => { teardown(true); setState("ended"); },
    active: () => pc !== null,
    endedBy: (why) => { // another widget's call takes the microphone: hang up, and say why
      teardown(true);
      if (noteBefore === null) noteBefore = model.get("note");
      model.set("note", why);
      setState("ended");
    },
  };
  return me;
}

function render({ model, el }) {
  let engine = engines.get(model);
  if (!engine) {
    engine = createEngine(model);
    engines.set(model, engine);
  }
  el.classList.add("voicekit-call");
  el.voicekitCall = engine; // for tests and benchmarks: engine.state.firstSound (ms, wall clock)
  const row = document.createElement("div");
  row.className = "vk-call-row";
  const button = document.createElement("button");
  button.className = "vk-call-button";
  const label = document.createElement("span");
  label.className = "vk-call-label";
  const status = document.createElement("span");
  status.className = "vk-call-state";
  const meter = document.createElement("meter");
  meter.className = "voicekit-level";
  meter.min = -60;
  meter.max = 0;
  meter.setAttribute("aria-label", "Reply level (dBFS)");
  const count = document.createElement("span");
  count.className = "vk-call-events";
  const audioEl = document.createElement("audio");
  audioEl.autoplay = true;
  const note = document.createElement("div");
  note.className = "vk-call-note";
  const error = document.createElement("div");
  error.className = "vk-call-error";
  error.setAttribute("role", "alert");
  row.append(button, label, status, meter, count);
  el.append(row, audioEl, note, error);

  const update = () => {
    const s = model.get("state");
    const live = engine.active() && s !== "ended" && s !== "error";
    button.textContent = live ? "Hang up" : "Call";
    button.classList.toggle("vk-pressed", live);
    label.textContent = model.get("label") + (model.get("ephemeral") ? " (ephemeral key)" : "");
    status.textContent = s;
    status.dataset.state = s;
    meter.value = live ? Math.max(-60, engine.state.levelDb) : -60;
    count.textContent = live ? `${engine.state.events} events` : "";
    note.textContent = engine.active() ? "" : model.get("note");
    error.textContent = model.get("error");
  };
  button.addEventListener("click", () => {
    if (engine.active() && model.get("state") !== "ended") engine.hangup();
    else engine.call(audioEl);
  });
  engine.listeners.add(update);
  const traits = "change:state change:error change:note change:label change:ephemeral";
  model.on(traits, update);
  update();
  return () => {
    engine.listeners.delete(update);
    model.off(traits, update);
  };
}

export default { render };
