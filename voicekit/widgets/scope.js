// voicekit Scope: draws waveform and spectrogram columns computed by the kernel.
//
// Messages from the kernel:
//   reset                            forget all columns
//   cols {n, bins, start} + two buffers: float32 [n][2] (min, max) and uint8 [n][bins]
//                                    (0 = db_floor dBFS, 255 = 0 dBFS, low to high
//                                    frequency); start: the first column's index since
//                                    the last reset (column i begins at i * 10 ms)
//
// Axes: time in s (since the last reset) under the spectrogram, level in dBFS beside the
// waveform, frequency in kHz beside the spectrogram and a dBFS colour bar, as in
// voicekit.plots. Each canvas's data-xticks / data-yticks list the tick labels drawn.
// Message to the kernel:
//   need                             "send everything you hold" (on load)

const engines = new Map();

function createEngine(model) {
  const listeners = new Set();
  let waves = []; // [min, max] per column
  let specs = []; // Uint8Array(bins) per column
  let first = 0; // index of waves[0] since the last reset
  const maxCols = () => Math.max(1, Math.round(model.get("window_s") / 0.01));
  model.on("msg:custom", (msg, buffers) => {
    if (msg.type === "reset") {
      waves = [];
      specs = [];
      first = 0;
    } else if (msg.type === "cols") {
      if (!waves.length) first = msg.start || 0;
      const w = new Float32Array(buffers[0].buffer.slice(buffers[0].byteOffset,
        buffers[0].byteOffset + buffers[0].byteLength));
      const s = new Uint8Array(buffers[1].buffer, buffers[1].byteOffset, buffers[1].byteLength);
      for (let i = 0; i < msg.n; i++) {
        waves.push([w[2 * i], w[2 * i + 1]]);
        specs.push(s.slice(i * msg.bins, (i + 1) * msg.bins));
      }
      const extra = waves.length - maxCols();
      if (extra > 0) {
        waves.splice(0, extra);
        specs.splice(0, extra);
        first += extra;
      }
    }
    listeners.forEach((f) => f());
  });
  model.send({ type: "need" });
  return { listeners, waves: () => waves, specs: () => specs, first: () => first, maxCols };
}

function engineFor(model) {
  const id = model.get("_uid");
  if (!engines.has(id)) engines.set(id, createEngine(model));
  return engines.get(id);
}

function initialize({ model }) {
  engineFor(model);
  return () => engines.delete(model.get("_uid"));
}

// A small perceptual colour ramp (dark blue -> teal -> yellow) for the spectrogram.
function colour(v) {
  const t = v / 255;
  return [Math.round(255 * Math.min(1, Math.max(0, 1.8 * t - 0.8))),
    Math.round(255 * Math.min(1, 1.2 * t)),
    Math.round(255 * Math.max(0, 0.5 - Math.abs(t - 0.45)) * 1.6 + 40 * (1 - t))];
}

const HOP_S = 0.01;
// Plot-area margins inside each canvas, in px: tick labels left, time ticks under the
// spectrogram. Both canvases share them, so their time axes line up.
const M = { left: 30, right: 6, top: 5, bottom: 5, time: 16 };
const FONT = "10px sans-serif";
const INK = "#555";

// The first step of 1, 2, 5 x 10^k giving at most maxTicks ticks over span.
function niceStep(span, maxTicks) {
  for (let k = -2; k < 6; k++) {
    for (const m of [1, 2, 5]) {
      const step = m * Math.pow(10, k);
      if (span / step <= maxTicks) return step;
    }
  }
  return span;
}

function label(v, step) {
  const digits = step >= 1 ? 0 : Math.min(2, Math.ceil(-Math.log10(step) - 1e-9));
  return v.toFixed(digits).replace("-", "\u2212");
}

function plotArea(canvas, withTime) {
  const x0 = M.left, y0 = M.top;
  return { x0, y0, w: canvas.width - M.left - M.right,
    h: canvas.height - M.top - (withTime ? M.time : M.bottom) };
}

function yTicks(g, area, ticks) {
  // ticks: [[fraction from the bottom of the plot area, label]]
  g.font = FONT; g.fillStyle = INK; g.strokeStyle = "rgba(0,0,0,0.12)";
  g.textAlign = "right"; g.textBaseline = "middle";
  for (const [f, text] of ticks) {
    const y = Math.round(area.y0 + (1 - f) * area.h) + 0.5;
    g.beginPath(); g.moveTo(area.x0 - 3, y); g.lineTo(area.x0 + area.w, y); g.stroke();
    g.fillText(text, area.x0 - 5, Math.min(Math.max(y, area.y0 + 4), area.y0 + area.h - 4));
  }
}

function timeTicks(g, area, t0, span) {
  const step = niceStep(span, 8);
  const labels = [];
  g.font = FONT; g.fillStyle = INK; g.strokeStyle = INK;
  g.textAlign = "center"; g.textBaseline = "top";
  for (let t = Math.ceil(t0 / step - 1e-9) * step; t <= t0 + span + 1e-9; t += step) {
    const x = Math.round(area.x0 + ((t - t0) / span) * area.w) + 0.5;
    g.beginPath(); g.moveTo(x, area.y0 + area.h); g.lineTo(x, area.y0 + area.h + 3); g.stroke();
    const text = label(t, step);
    g.fillText(text, Math.min(Math.max(x, area.x0 + 8), area.x0 + area.w - 8), area.y0 + area.h + 4);
    labels.push(text);
  }
  return labels;
}

function drawColourBar(bar, floor) {
  const g = bar.getContext("2d");
  g.clearRect(0, 0, bar.width, bar.height);
  const y0 = M.top, h = bar.height - M.top - M.time;
  for (let y = 0; y < h; y++) {
    const [r, gg, b] = colour(255 * (1 - y / (h - 1)));
    g.fillStyle = `rgb(${r},${gg},${b})`;
    g.fillRect(2, y0 + y, 10, 1);
  }
  const step = niceStep(-floor, 5);
  const labels = [];
  g.font = FONT; g.fillStyle = INK; g.textAlign = "left"; g.textBaseline = "middle";
  for (let db = 0; db >= floor - 1e-9; db -= step) {
    const y = y0 + (db / floor) * h;
    g.fillRect(12, Math.round(y), 3, 1);
    const text = label(db, step);
    g.fillText(text, 17, Math.min(Math.max(y, y0 + 4), y0 + h - 4));
    labels.push(text);
  }
  bar.dataset.yticks = labels.join(",");
}

function axisTitle(text, vertical) {
  const t = document.createElement("span");
  t.className = "voicekit-axis-title" + (vertical ? " voicekit-axis-vertical" : "");
  t.textContent = text;
  return t;
}

function render({ model, el }) {
  const engine = engineFor(model);
  el.classList.add("voicekit-scope");
  const wave = document.createElement("canvas");
  wave.className = "voicekit-wave";
  wave.width = 540;
  wave.height = 70;
  const spec = document.createElement("canvas");
  spec.className = "voicekit-wave voicekit-spectrogram";
  spec.width = 540;
  spec.height = 128 + M.top + M.time;
  const bar = document.createElement("canvas");
  bar.className = "voicekit-colourbar";
  bar.width = 46;
  bar.height = spec.height;
  bar.setAttribute("aria-label", "Colour bar: level in dBFS");
  const grid = document.createElement("div");
  grid.className = "voicekit-scope-grid";
  const barTitle = axisTitle("dBFS", false);
  barTitle.classList.add("voicekit-colourbar-title"); // above the colour bar
  grid.append(
    axisTitle("Level (dBFS)", true), wave, barTitle,
    axisTitle("Frequency (kHz)", true), spec, bar,
    document.createElement("span"), axisTitle("Time (s)", false), document.createElement("span"),
  );
  el.append(grid);
  drawColourBar(bar, model.get("db_floor"));

  let queued = false;
  function draw() {
    queued = false;
    const waves = engine.waves();
    const specs = engine.specs();
    const cols = engine.maxCols();
    const t0 = engine.first() * HOP_S, span = cols * HOP_S;
    const nyquist = model.get("sample_rate") / 2;

    const g = wave.getContext("2d");
    g.clearRect(0, 0, wave.width, wave.height);
    const wa = plotArea(wave, false);
    // Amplitude a is drawn at 20 log10|a| dBFS: 0 at full scale, -6 at half, -inf at 0.
    yTicks(g, wa, [[1, "0"], [0.75, "\u22126"], [0.5, "\u2212\u221e"], [0.25, "\u22126"], [0, "0"]]);
    wave.dataset.yticks = "0,-6,-inf,-6,0";
    g.fillStyle = "#2471a3";
    const xw = wa.w / cols;
    for (let i = 0; i < waves.length; i++) {
      const [lo, hi] = waves[i];
      const y0 = wa.y0 + (1 - Math.min(1, hi)) * wa.h / 2;
      const y1 = wa.y0 + (1 - Math.max(-1, lo)) * wa.h / 2;
      g.fillRect(wa.x0 + i * xw, y0, Math.max(1, xw), Math.max(1, y1 - y0));
    }

    const s = spec.getContext("2d");
    s.clearRect(0, 0, spec.width, spec.height);
    const sa = plotArea(spec, true);
    s.fillStyle = "#000";
    s.fillRect(sa.x0, sa.y0, sa.w, sa.h);
    const kstep = niceStep(nyquist / 1000, 7);
    const fticks = [];
    for (let k = 0; k <= nyquist / 1000 + 1e-9; k += kstep) fticks.push([k * 1000 / nyquist, label(k, kstep)]);
    yTicks(s, sa, fticks);
    spec.dataset.yticks = fticks.map((t) => t[1]).join(",");
    const xticks = timeTicks(s, sa, t0, span);
    spec.dataset.xticks = xticks.join(",");
    wave.dataset.xticks = spec.dataset.xticks;
    const t1 = t0 + Math.min(waves.length, cols) * HOP_S;
    wave.setAttribute("aria-label",
      `Waveform: time ${t0.toFixed(2)} to ${t1.toFixed(2)} s, level in dBFS`);
    spec.setAttribute("aria-label",
      `Spectrogram: time ${t0.toFixed(2)} to ${t1.toFixed(2)} s, frequency 0 to ` +
      `${(nyquist / 1000).toFixed(1)} kHz, level in dBFS (${model.get("db_floor")} to 0)`);
    if (specs.length) {
      const bins = specs[0].length;
      const img = s.createImageData(specs.length, bins);
      for (let x = 0; x < specs.length; x++) {
        for (let b = 0; b < bins; b++) {
          const [r, gg, bb] = colour(specs[x][b]);
          const o = ((bins - 1 - b) * specs.length + x) * 4;
          img.data[o] = r; img.data[o + 1] = gg; img.data[o + 2] = bb; img.data[o + 3] = 255;
        }
      }
      createImageBitmap(img).then((bmp) => {
        s.imageSmoothingEnabled = false;
        s.drawImage(bmp, sa.x0, sa.y0, (specs.length / cols) * sa.w, sa.h);
        yTicks(s, sa, fticks); // the grid lines over the picture
      });
    }
  }
  const schedule = () => {
    if (!queued) { queued = true; requestAnimationFrame(draw); }
  };
  engine.listeners.add(schedule);
  model.on("change:window_s", schedule);
  schedule();
  return () => {
    engine.listeners.delete(schedule);
    model.off("change:window_s", schedule);
  };
}

export default { initialize, render };
