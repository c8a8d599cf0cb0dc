// voicekit Player: PCM16 chunks from the kernel -> gapless Web Audio playback.
//
// Messages from the kernel (content.type):
//   chunk {gen, seq, sample_rate} + one buffer of PCM16 little-endian mono
//   clear {gen}                      stop, flush everything (barge-in)
// Messages to the kernel:
//   need {gen, seq}                  "send me generation gen from chunk seq on"
// Synced traits written here: playing, played_ms, underruns, error.
//
// Chunks are scheduled back to back on one AudioContext clock
// (AudioBufferSourceNode.start(when), MDN "Web Audio API best practices"), so a
// stream plays without gaps. played_ms is the stream position actually heard.

const LEAD_S = 0.05; // scheduling lead, seconds

const engines = new Map();

function createEngine(model) {
  const listeners = new Set();
  let gen = -1;
  let chunks = []; // {data: Float32Array, rate, startMs, durMs}
  let totalMs = 0;
  let ctx = null;
  let sources = []; // {src, t0, durS, streamMs}
  let nextIdx = 0; // next chunk index to schedule
  let nextTime = 0; // ctx time where the next chunk starts
  let positionMs = 0; // position when not playing
  let active = false;
  let timer = null;
  let lastNeed = null;
  let error = "";
  let underruns = 0; // chunks that started later than the end of the one before

  const notify = () => listeners.forEach((f) => f());

  function need(seq) {
    const key = `${gen}:${seq}`;
    if (lastNeed === key) return;
    lastNeed = key;
    model.send({ type: "need", gen, seq });
  }

  function nowMs() {
    if (!active || !ctx) return positionMs;
    const t = ctx.currentTime;
    let pos = positionMs;
    for (const s of sources) {
      if (t >= s.t0) pos = Math.max(pos, s.streamMs + Math.min(t - s.t0, s.durS) * 1000);
    }
    return pos;
  }

  function report() {
    const ms = Math.round(nowMs() * 10) / 10;
    if (model.get("played_ms") !== ms || model.get("playing") !== active
        || model.get("underruns") !== underruns) {
      model.set("played_ms", ms);
      model.set("playing", active);
      model.set("underruns", underruns);
      model.save_changes();
    }
  }

  function stopSources() {
    for (const s of sources) {
      s.src.onended = null;
      try { s.src.stop(); } catch (e) { /* never started */ }
    }
    sources = [];
  }

  function schedule() {
    while (active && nextIdx < chunks.length) {
      const c = chunks[nextIdx];
      const buffer = ctx.createBuffer(1, c.data.length, c.rate);
      buffer.getChannelData(0).set(c.data);
      // The first chunk may start part way in (resume after pause or seek).
      const skipS = Math.max(0, (positionMs - c.startMs) / 1000);
      if (skipS * 1000 >= c.durMs) { nextIdx += 1; continue; }
      const src = ctx.createBufferSource();
      src.buffer = buffer;
      src.connect(ctx.destination);
      const when = Math.max(nextTime, ctx.currentTime + LEAD_S);
      // A gap: the queue ran dry (the next chunk came too late), not the first chunk.
      if (sources.length > 0 && when > nextTime + 0.001) underruns += 1;
      src.start(when, skipS);
      const durS = c.durMs / 1000 - skipS;
      sources.push({ src, t0: when, durS, streamMs: c.startMs + skipS * 1000 });
      nextTime = when + durS;
      nextIdx += 1;
    }
  }

  function tick() {
    if (!active) return;
    const t = ctx.currentTime;
    sources = sources.filter((s) => t < s.t0 + s.durS + 0.5 || s === sources[sources.length - 1]);
    if (nextIdx >= chunks.length && t >= nextTime) {
      positionMs = totalMs;
      if (model.get("loop") && totalMs > 0) {
        positionMs = 0;
        startFrom(0);
        return;
      }
      halt();
      return;
    }
    report();
    notify();
  }

  function halt() {
    positionMs = Math.min(nowMs(), totalMs);
    active = false;
    stopSources();
    if (timer) clearInterval(timer);
    timer = null;
    report();
    notify();
  }

  function startFrom(ms) {
    stopSources();
    positionMs = ms;
    nextIdx = 0;
    nextTime = ctx.currentTime + LEAD_S;
    active = true;
    schedule();
    if (!timer) timer = setInterval(tick, 50);
    report();
    notify();
  }

  // Call from a click handler when possible: the context is created before any
  // await, so the click's user activation lets it start (MDN, "Autoplay guide").
  async function play() {
    if (active) return;
    error = "";
    if (!ctx) ctx = new AudioContext();
    if (ctx.state === "suspended") {
      await Promise.race([ctx.resume(), new Promise((r) => setTimeout(r, 1000))]);
      if (ctx.state === "suspended") {
        error = "The browser suspended the AudioContext (autoplay policy): click Play.";
        model.set("error", error);
        model.set("playing", false);
        model.save_changes();
        notify();
        return;
      }
    }
    if (model.get("error")) { model.set("error", ""); model.save_changes(); }
    startFrom(positionMs >= totalMs ? 0 : positionMs);
  }

  function seek(ms) {
    positionMs = Math.max(0, Math.min(ms, totalMs));
    if (active) startFrom(positionMs);
    else { report(); notify(); }
  }

  function clear(newGen) {
    if (active) halt();
    underruns = 0;
    gen = newGen;
    chunks = [];
    totalMs = 0;
    positionMs = 0;
    nextIdx = 0;
    lastNeed = null;
    notify();
  }

  model.on("msg:custom", (msg, buffers) => {
    if (msg.type === "clear") {
      clear(msg.gen);
      return;
    }
    if (msg.type !== "chunk") return;
    if (msg.gen < gen) return; // from before a clear
    if (msg.gen > gen) clear(msg.gen);
    if (msg.seq < chunks.length) return; // already have it
    if (msg.seq > chunks.length) { need(chunks.length); return; }
    const view = buffers[0];
    const pcm = new Int16Array(view.buffer, view.byteOffset, view.byteLength / 2);
    const data = new Float32Array(pcm.length);
    for (let i = 0; i < pcm.length; i++) data[i] = pcm[i] / 32768;
    const durMs = (pcm.length / msg.sample_rate) * 1000;
    chunks.push({ data, rate: msg.sample_rate, startMs: totalMs, durMs });
    totalMs += durMs;
    if (active) schedule();
    else if (model.get("autoplay")) play();
    notify();
  });

  model.on("change:playing", () => {
    const want = model.get("playing");
    if (want && !active) play();
    if (!want && active) halt();
  });

  need(0);
  return {
    listeners, play, seek,
    pause: halt,
    isActive: () => active,
    position: nowMs,
    total: () => totalMs,
    chunks: () => chunks,
    error: () => error,
    dispose: () => { halt(); if (ctx) ctx.close(); },
  };
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
    if (engine) engine.dispose();
    engines.delete(id);
  };
}

function fmt(ms) {
  const s = ms / 1000;
  return `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, "0")}`;
}

function render({ model, el }) {
  const engine = engineFor(model);
  el.classList.add("voicekit-player");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "voicekit-play-button";
  const time = document.createElement("span");
  time.className = "voicekit-time";
  const canvas = document.createElement("canvas");
  canvas.className = "voicekit-wave";
  canvas.width = 400;
  canvas.height = 48;
  canvas.setAttribute("aria-label", "Waveform; click to seek");
  const error = document.createElement("div");
  error.className = "voicekit-error";
  error.setAttribute("role", "alert");
  const row = document.createElement("div");
  row.className = "voicekit-row";
  row.append(button, time, canvas);
  el.append(row, error);

  let peaks = new Float32Array(0);
  let peaksFor = -1;
  function computePeaks() {
    const w = canvas.width;
    peaks = new Float32Array(w);
    const total = engine.total();
    if (total <= 0) return;
    for (const c of engine.chunks()) {
      for (let i = 0; i < c.data.length; i += 32) {
        const x = Math.min(w - 1, Math.floor(((c.startMs + (i / c.rate) * 1000) / total) * w));
        const v = Math.abs(c.data[i]);
        if (v > peaks[x]) peaks[x] = v;
      }
    }
  }

  function update() {
    const active = engine.isActive();
    button.textContent = active ? "❚❚ Pause" : "▶ Play";
    button.setAttribute("aria-label", active ? "Pause" : "Play");
    const total = engine.total();
    const pos = engine.position();
    time.textContent = `${fmt(pos)} / ${fmt(total)}`;
    if (engine.chunks().length !== peaksFor) {
      computePeaks();
      peaksFor = engine.chunks().length;
    }
    const g = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height;
    g.clearRect(0, 0, w, h);
    const head = total > 0 ? (pos / total) * w : 0;
    for (let x = 0; x < w; x++) {
      const y = Math.max(1, Math.min(1, peaks[x] * 1.5) * h);
      g.fillStyle = x < head ? "#1a5276" : "#85c1e9";
      g.fillRect(x, (h - y) / 2, 1, y);
    }
    g.fillStyle = "#c0392b";
    g.fillRect(Math.min(w - 2, head), 0, 2, h);
    error.textContent = engine.error() || model.get("error") || "";
    error.hidden = !error.textContent;
  }
  button.addEventListener("click", () => (engine.isActive() ? engine.pause() : engine.play()));
  canvas.addEventListener("click", (e) => {
    const rect = canvas.getBoundingClientRect();
    engine.seek(((e.clientX - rect.left) / rect.width) * engine.total());
  });
  engine.listeners.add(update);
  model.on("change:error", update);
  update();
  return () => {
    engine.listeners.delete(update);
    model.off("change:error", update);
  };
}

export default { initialize, render };
