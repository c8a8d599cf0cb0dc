// voicekit Scope: draws waveform and spectrogram columns computed by the kernel.
//
// Messages from the kernel:
//   reset                            forget all columns
//   cols {n, bins} + two buffers:    float32 [n][2] (min, max) and uint8 [n][bins]
//                                    (0 = -100 dBFS, 255 = 0 dBFS, low to high frequency)
// Message to the kernel:
//   need                             "send everything you hold" (on load)

const engines = new Map();

function createEngine(model) {
  const listeners = new Set();
  let waves = []; // [min, max] per column
  let specs = []; // Uint8Array(bins) per column
  const maxCols = () => Math.max(1, Math.round(model.get("window_s") / 0.01));
  model.on("msg:custom", (msg, buffers) => {
    if (msg.type === "reset") {
      waves = [];
      specs = [];
    } else if (msg.type === "cols") {
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
      }
    }
    listeners.forEach((f) => f());
  });
  model.send({ type: "need" });
  return { listeners, waves: () => waves, specs: () => specs, maxCols };
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

function render({ model, el }) {
  const engine = engineFor(model);
  el.classList.add("voicekit-scope");
  const wave = document.createElement("canvas");
  wave.className = "voicekit-wave";
  wave.width = 500;
  wave.height = 60;
  wave.setAttribute("aria-label", "Waveform");
  const spec = document.createElement("canvas");
  spec.className = "voicekit-wave voicekit-spectrogram";
  spec.width = 500;
  spec.height = 128;
  spec.setAttribute("aria-label", "Spectrogram");
  el.append(wave, document.createElement("br"), spec);

  let queued = false;
  function draw() {
    queued = false;
    const waves = engine.waves();
    const specs = engine.specs();
    const cols = engine.maxCols();
    const g = wave.getContext("2d");
    g.clearRect(0, 0, wave.width, wave.height);
    g.fillStyle = "#2471a3";
    const h = wave.height;
    const xw = wave.width / cols;
    for (let i = 0; i < waves.length; i++) {
      const [lo, hi] = waves[i];
      const y0 = (1 - Math.min(1, hi)) * h / 2;
      const y1 = (1 - Math.max(-1, lo)) * h / 2;
      g.fillRect(i * xw, y0, Math.max(1, xw), Math.max(1, y1 - y0));
    }
    const s = spec.getContext("2d");
    s.fillStyle = "#000";
    s.fillRect(0, 0, spec.width, spec.height);
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
        s.drawImage(bmp, 0, 0, (specs.length / cols) * spec.width, spec.height);
      });
    }
  }
  const schedule = () => {
    if (!queued) { queued = true; requestAnimationFrame(draw); }
  };
  engine.listeners.add(schedule);
  schedule();
  return () => engine.listeners.delete(schedule);
}

export default { initialize, render };
