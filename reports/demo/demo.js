// CRKD live demo: the camera through the training-time test view, then LRINet's streaming pair
// (per-frame trunk step with its TSCM state, head once per hop) in onnxruntime-web (WASM).
// The stream logic is in stream.js (a port of crkd_core/deploy/{incremental,streaming,spans}.py).
//
// Test hook: ?frames=N processes exactly frames 0..N-1 of a test video whose frames carry their
// index in the top border (outside the centre crop; see tests/test_demo_browser.py), in order,
// then ends the stream and sets window.crkdResult. Its `pixels` holds the frames as the page
// grabbed them (pre_size RGB, base64), so that a test can run Python on the same pixels: the
// browser's video decoder and PyAV's differ by a few levels (see the test).
import * as ort from "./ort/ort.wasm.min.mjs";
import { DemoError, Stream, Trunk } from "./stream.js";
const params = new URLSearchParams(location.search);
const TEST_FRAMES = params.has("frames") ? parseInt(params.get("frames"), 10) : null;
const MAX_QUEUE = 32; // live mode: frames waiting for the models before the oldest is dropped
const $ = (id) => document.getElementById(id);

function status(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.className = isError ? "error" : "";
}

function fail(err) {
  const msg = err instanceof DemoError ? err.message : `Unexpected error: ${err && err.message ? err.message : err}`;
  status(msg, true);
  window.crkdResult = { error: msg };
}

// --- preprocessing: the training-time test view ----------------------------------------------

function aaWeights(inSize, outSize) {
  // torch's antialiased bilinear interpolation (align_corners=False) along one axis
  const scale = inSize / outSize;
  const support = scale >= 1 ? scale : 1;
  const invscale = scale >= 1 ? 1 / scale : 1;
  const rows = [];
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    const w = [];
    let total = 0;
    for (let j = xmin; j < xmax; j++) {
      const x = Math.abs((j - center + 0.5) * invscale);
      const v = x < 1 ? 1 - x : 0;
      w.push(v);
      total += v;
    }
    rows.push({ start: xmin, w: w.map((v) => (total > 0 ? v / total : 0)) });
  }
  return rows;
}

class Preprocessor {
  constructor(cfg) {
    this.cfg = cfg;
    this.canvas = document.createElement("canvas");
    this.canvas.width = this.canvas.height = cfg.pre_size;
    this.ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    this.weights = cfg.resize ? aaWeights(cfg.crop_size, cfg.input_size) : null;
  }

  // The frame as the training frame cache saw it: squash-resized to pre_size x pre_size (an
  // exact copy when the camera already gives that size).
  grab(source) {
    const p = this.cfg.pre_size;
    this.ctx.drawImage(source, 0, 0, p, p); // a <video> or a VideoFrame
    return this.ctx.getImageData(0, 0, p, p);
  }

  // ImageData -> Float32Array (3, S, S): centre crop, x / 127.5 - 1, then LRINet's resize.
  tensor(image) {
    const { pre_size: p, crop_size: c, input_size: s } = this.cfg;
    const off = Math.floor((p - c) / 2);
    const crop = new Float32Array(3 * c * c);
    for (let y = 0; y < c; y++) {
      for (let x = 0; x < c; x++) {
        const src = 4 * ((y + off) * p + (x + off));
        for (let ch = 0; ch < 3; ch++) {
          crop[ch * c * c + y * c + x] = Math.fround(Math.fround(image.data[src + ch] / 127.5) - 1);
        }
      }
    }
    if (!this.weights) return crop;
    const tmp = new Float32Array(3 * c * s); // horizontal pass first, as torch does
    for (let ch = 0; ch < 3; ch++)
      for (let y = 0; y < c; y++)
        for (let x = 0; x < s; x++) {
          const { start, w } = this.weights[x];
          let acc = 0;
          for (let k = 0; k < w.length; k++) acc += w[k] * crop[ch * c * c + y * c + start + k];
          tmp[ch * c * s + y * s + x] = acc;
        }
    const out = new Float32Array(3 * s * s);
    for (let ch = 0; ch < 3; ch++)
      for (let y = 0; y < s; y++) {
        const { start, w } = this.weights[y];
        for (let x = 0; x < s; x++) {
          let acc = 0;
          for (let k = 0; k < w.length; k++) acc += w[k] * tmp[ch * c * s + (start + k) * s + x];
          out[ch * s * s + y * s + x] = acc;
        }
      }
    return out;
  }
}

// Test videos carry their frame index as 16 black/white 4x4 px cells in rows 0-3 (outside the
// centre crop), cell b at x = 4 + 4b, most significant bit first; read at each cell's centre.
function frameIndex(image) {
  let v = 0;
  for (let bit = 0; bit < 16; bit++) {
    const src = 4 * (2 * image.width + 4 * bit + 6);
    const lum = image.data[src] + image.data[src + 1] + image.data[src + 2];
    v = (v << 1) | (lum > 384 ? 1 : 0);
  }
  return v;
}

// ImageData (RGBA) -> its RGB bytes in base64 (test mode)
function rgbBase64(image) {
  const n = image.width * image.height;
  let text = "";
  for (let i = 0; i < n; i++) {
    const src = 4 * i;
    text += String.fromCharCode(image.data[src], image.data[src + 1], image.data[src + 2]);
  }
  return btoa(text);
}

// --- the streaming engine (incre--------------------------------------------------------------

async function loadJson(url) {
  let res;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new DemoError(`Cannot load ${url} (${err.message}). Serve this folder with \`crkd demo\`.`);
  }
  if (!res.ok) throw new DemoError(`Missing ${url} (HTTP ${res.status}): rebuild the page with \`crkd demo --run RUN\`.`);
  return res.json();
}

async function loadModel(url) {
  const res = await fetch(url);
  if (!res.ok) throw new DemoError(`Missing model ${url} (HTTP ${res.status}): rebuild the page with \`crkd demo --run RUN\`.`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  try {
    return await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  } catch (err) {
    throw new DemoError(`${url} is not a model onnxruntime-web can run: ${err.message}`);
  }
}

function median(xs) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function cameraMessage(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError") return "Camera permission was denied. Allow the camera for this page and reload.";
  if (name === "NotFoundError" || name === "OverconstrainedError") return "No camera was found. Connect a camera and reload.";
  if (name === "NotReadableError") return "The camera is in use by another program.";
  return `The camera could not be opened (${name || "error"}: ${err && err.message}).`;
}

class App {
  constructor(cfg, trunkSession, headSession) {
    this.cfg = cfg;
    this.pre = new Preprocessor(cfg);
    this.stream = new Stream(new Trunk(trunkSession, cfg), headSession, cfg);
    this.queue = [];
    this.emitted = [];
    this.busy = false;
    this.ended = false;
    this.nextIndex = 0; // test mode: the next frame index expected
    this.dropped = 0; // live mode: frames dropped because the models fell behind
    this.missed = 0; // test mode: frames missed and waited for on a later loop of the video
    this.lastIndex = -1;
    this.cameraFrames = 0;
    this.t0 = null;
    this.pixels = []; // test mode: every frame taken, as grabbed
  }

  show(emissions) {
    for (const e of emissions) {
      this.emitted.push(e);
      const li = document.createElement("li");
      const { start, end, label } = e.span;
      li.textContent = `${(start / this.cfg.fps).toFixed(2)} - ${(end / this.cfg.fps).toFixed(2)} s  ${this.cfg.vocab[label]}  (+${e.latency} frames, ${e.rule})`;
      $("glosses").appendChild(li);
    }
    $("sentence").textContent = this.emitted.map((e) => this.cfg.vocab[e.span.label]).join(" ");
    const lat = median(this.emitted.map((e) => e.latencyS));
    if (lat !== null) $("latency").textContent = `${median(this.stream.latencies)} frames, ${lat.toFixed(3)} s (median)`;
    const compute = this.stream.compute.reduce((a, b) => a + b, 0);
    if (compute > 0) $("infer-fps").textContent = `${(this.stream.seen / compute).toFixed(1)} frames/s of compute`;
    if (this.t0 !== null) $("camera-fps").textContent = `${(this.cameraFrames / ((performance.now() - this.t0) / 1000)).toFixed(1)} frames/s`;
  }

  onFrame(source) {
    if (this.ended) return;
    if (this.t0 === null) this.t0 = performance.now();
    this.cameraFrames += 1;
    const image = this.pre.grab(source);
    if (TEST_FRAMES !== null) {
      // Take the video's frames strictly in order. A frame the page missed (the main thread
      // was busy when it was shown) comes round again, as the fake camera loops the file.
      const idx = frameIndex(image);
      if (this.nextIndex >= TEST_FRAMES) return;
      const prev = this.lastIndex;
      this.lastIndex = idx;
      if (idx !== this.nextIndex) {
        if (prev < this.nextIndex && idx > this.nextIndex) this.missed += 1; // passed it by
        return;
      }
      this.nextIndex = idx + 1;
    }
    if (TEST_FRAMES === null && this.queue.length >= MAX_QUEUE) {
      this.queue.shift(); // live: falling behind the camera; drop the oldest, and say so
      this.dropped += 1;
    }
    if (TEST_FRAMES !== null) this.pixels.push(rgbBase64(image));
    this.queue.push(image); // grabbed now, processed in order as fast as the models allow
    this.pump();
  }

  async pump() {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length) {
        this.show(await this.stream.push(this.pre.tensor(this.queue.shift())));
        const behind = this.dropped ? `; ${this.dropped} dropped: this device cannot keep up with the camera` : "";
        status(`Streaming: ${this.stream.seen} frames${behind}`);
      }
      if (TEST_FRAMES !== null && this.stream.seen >= TEST_FRAMES) await this.end();
    } catch (err) {
      this.ended = true;
      fail(err);
    } finally {
      this.busy = false;
    }
  }

  async end() {
    if (this.ended) return;
    this.ended = true;
    const n = this.stream.seen;
    if (n < this.cfg.min_frames) {
      throw new DemoError(`The video has ${n} frames; the model needs at least ${this.cfg.min_frames} (its receptive field).`);
    }
    this.show(await this.stream.flush());
    const compute = this.stream.compute.reduce((a, b) => a + b, 0);
    window.crkdResult = {
      glosses: this.emitted.map((e) => this.cfg.vocab[e.span.label]),
      spans: this.emitted.map((e) => ({ gloss: this.cfg.vocab[e.span.label], start: e.span.start, end: e.span.end, rule: e.rule, latency: e.latency })),
      frames: n,
      missed: this.missed,
      dropped: this.dropped,
      compute_s: compute,
      inference_fps: n / compute,
      latency_frames_median: median(this.stream.latencies),
      threads: ort.env.wasm.numThreads,
      cross_origin_isolated: window.crossOriginIsolated,
      ...(TEST_FRAMES !== null ? { pixels: this.pixels } : {}),
    };
    status(`Done: ${n} frames, ${this.emitted.length} glosses.`);
  }
}

async function openCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new DemoError("This browser gives the page no camera access (open it from localhost or https).");
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (err) {
    throw new DemoError(cameraMessage(err));
  }
}

async function readFrames(track, app) {
  // every camera frame, in order, without waiting for the page to render it
  const processor = new MediaStreamTrackProcessor({ track, maxBufferSize: 64 });
  const reader = processor.readable.getReader();
  while (!app.ended) {
    const { value, done } = await reader.read();
    if (done) break;
    try {
      app.onFrame(value);
    } finally {
      value.close();
    }
  }
  reader.cancel();
}

function watch(video, app) {
  const [track] = video.srcObject.getVideoTracks();
  if (typeof MediaStreamTrackProcessor !== "undefined") {
    readFrames(track, app).catch(fail);
  } else if ("requestVideoFrameCallback" in video) {
    const cb = () => {
      app.onFrame(video);
      if (!app.ended) video.requestVideoFrameCallback(cb);
    };
    video.requestVideoFrameCallback(cb);
  } else {
    const timer = setInterval(() => (app.ended ? clearInterval(timer) : app.onFrame(video)), 1000 / app.cfg.fps);
  }
}

async function start(cfg, sessions) {
  const app = new App(cfg, ...sessions);
  const video = $("video");
  video.srcObject = await openCamera();
  await video.play();
  $("start").disabled = true;
  $("stop").disabled = false;
  $("stop").onclick = () => app.end().catch(fail);
  status("Streaming: waiting for frames...");
  watch(video, app);
}

async function warmUp(cfg, [trunkSession, headSession]) {
  // the first run of a session is slow (WASM compilation, memory): do it before the camera
  const trunk = new Trunk(trunkSession, cfg);
  const s = cfg.input_size;
  await trunk.push(new Float32Array(3 * s * s), 1);
  const stream = new Stream(trunk, headSession, cfg);
  stream.features = Array.from({ length: cfg.min_frames }, () => new Float32Array(cfg.channels));
  await stream.window(true);
}

async function main() {
  const cfg = await loadJson("demo.json");
  if (cfg.format !== "crkd-demo/1") throw new DemoError("demo.json is not a crkd demo settings file: rebuild the page with `crkd demo`.");
  ort.env.wasm.wasmPaths = new URL("./ort/", location.href).href;
  ort.env.wasm.numThreads = window.crossOriginIsolated ? Math.min(2, navigator.hardwareConcurrency || 1) : 1;
  $("threads").textContent = `${ort.env.wasm.numThreads} WASM thread(s)${window.crossOriginIsolated ? "" : " (page not cross-origin isolated)"}`;
  $("about").textContent = `run ${cfg.run.slice(0, 12)}, ${cfg.role} ${cfg.input_size} px, ${cfg.vocab.length - 1} glosses; window ${cfg.stream.window}, hop ${cfg.stream.hop}, margin ${cfg.stream.margin} frames; trunk delay ${cfg.delay} frames.`;
  status("Loading the models...");
  const sessions = [await loadModel(cfg.models.trunk), await loadModel(cfg.models.head)];
  await warmUp(cfg, sessions);
  status("Ready. Start the camera.");
  $("start").onclick = () => start(cfg, sessions).catch(fail);
  if (TEST_FRAMES !== null || params.has("autostart")) await start(cfg, sessions);
}

main().catch(fail);
