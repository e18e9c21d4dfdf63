// The streaming engine of the demo page: a port of crkd_core/deploy/incremental.py (the trunk
// step with its TSCM state), streaming.py (the stabiliser and the emissions), spans.py (output
// steps -> frames) and decode.py (greedy spans). Keep them in step: the browser test asserts
// that the page's transcript equals `crkd predict --stream`.
import * as ort from "./ort/ort.wasm.min.mjs";

export const OPEN = 2n ** 62n; // t_end while the stream is open (incremental.py)

export class DemoError extends Error {}

export class Trunk {
  constructor(session, cfg) {
    this.session = session;
    this.cfg = cfg;
    this.delay = cfg.delay;
    this.states = cfg.state_shapes.map((shape) => new ort.Tensor("float32", new Float32Array(shape.reduce((a, b) => a * b, 1)), shape));
    this.pushed = 0;
  }

  async step(frames, k, t0, tEnd) {
    const s = this.cfg.input_size;
    const feeds = {
      frames: new ort.Tensor("float32", frames, [k, 3, s, s]),
      t0: new ort.Tensor("int64", BigInt64Array.from([BigInt(t0)]), [1]),
      t_end: new ort.Tensor("int64", BigInt64Array.from([tEnd]), [1]),
    };
    this.states.forEach((st, i) => (feeds[`state_${i}`] = st));
    const out = await this.session.run(feeds);
    this.states = this.states.map((_, i) => out[`next_state_${i}`]);
    return out.features; // (k, C)
  }

  keep(feats, k, newest) {
    const c = this.cfg.channels;
    const first = newest - k - this.delay;
    const lo = Math.max(0, -first);
    const hi = Math.max(0, Math.min(k, this.pushed - first));
    const rows = [];
    for (let r = lo; r < hi; r++) rows.push(feats.data.slice(r * c, (r + 1) * c));
    return rows;
  }

  async push(frames, k) {
    const feats = await this.step(frames, k, this.pushed, OPEN);
    this.pushed += k;
    return this.keep(feats, k, this.pushed);
  }

  async close() {
    const n = this.delay;
    if (n === 0 || this.pushed === 0) return [];
    const s = this.cfg.input_size;
    const feats = await this.step(new Float32Array(n * 3 * s * s), n, this.pushed, BigInt(this.pushed));
    return this.keep(feats, n, this.pushed + n);
  }
}

function stepStart(timing, step) {
  return Math.ceil(timing.stride * step + timing.offset - timing.stride / 2);
}

function toFrames(timing, span, n) {
  const start = Math.min(Math.max(0, stepStart(timing, span.start)), n - 1);
  const end = Math.min(Math.max(start + 1, stepStart(timing, span.end - 1) + timing.stride), n);
  return { ...span, start, end };
}

function greedySpans(logits, steps, vocab) {
  // best path of log_softmax(logits); argmax is that of the logits (first maximum wins)
  const spans = [];
  let prev = -1;
  for (let t = 0; t < steps; t++) {
    const row = logits.subarray(t * vocab, (t + 1) * vocab);
    let best = 0;
    for (let v = 1; v < vocab; v++) if (row[v] > row[best]) best = v;
    if (best !== prev && best !== 0) spans.push({ label: best, start: t, end: t + 1 });
    else if (best === prev && best !== 0) spans[spans.length - 1].end = t + 1;
    prev = best;
  }
  return spans;
}

class Stabiliser {
  constructor(margin, tolerance) {
    this.margin = margin;
    this.tolerance = tolerance;
    this.frontier = 0;
    this.prev = [];
    this.prevEnd = 0;
  }

  isNew(s, winStart) {
    const inHead = winStart > 0 && s.end <= winStart + this.margin;
    return !inHead && (s.start + s.end) / 2 >= this.frontier;
  }

  repeats(s) {
    const tol = this.tolerance;
    return this.prev.some((p) => p.label === s.label && Math.abs(p.start - s.start) <= tol && Math.abs(p.end - s.end) <= tol && p.end < this.prevEnd);
  }

  rule(s, winEnd, final) {
    if (final) return "flush";
    if (s.end <= winEnd - Math.max(this.margin, 1)) return "tail";
    return this.repeats(s) ? "repeat" : null;
  }

  update(spans, winStart, winEnd, final) {
    const out = [];
    for (const s of spans) {
      if (!this.isNew(s, winStart)) continue;
      const rule = this.rule(s, winEnd, final);
      if (rule === null) break;
      out.push({ span: s, rule });
      this.frontier = s.end;
    }
    this.prev = spans;
    this.prevEnd = winEnd;
    return out;
  }
}

export class Stream {
  constructor(trunk, head, cfg) {
    this.trunk = trunk;
    this.head = head;
    this.cfg = cfg;
    this.stab = new Stabiliser(cfg.stream.margin, cfg.timing.stride);
    this.features = [];
    this.done = 0;
    this.seen = 0;
    this.compute = []; // per window, seconds (trunk since the last window + head)
    this.trunkS = 0;
    this.latencies = []; // per gloss, frames
  }

  async feed(rows, t0) {
    this.features.push(...rows);
    if (this.features.length > this.cfg.stream.window) this.features.splice(0, this.features.length - this.cfg.stream.window);
    this.done += rows.length;
    this.trunkS += (performance.now() - t0) / 1000;
  }

  async push(frame) {
    this.seen += 1;
    const t0 = performance.now();
    await this.feed(await this.trunk.push(frame, 1), t0);
    if (this.seen % this.cfg.stream.hop || this.features.length < this.cfg.min_frames) return [];
    return this.window(false);
  }

  async flush() {
    const t0 = performance.now();
    await this.feed(await this.trunk.close(), t0);
    if (this.features.length < this.cfg.min_frames) return [];
    return this.window(true);
  }

  async window(final) {
    const t0 = performance.now();
    const n = this.features.length;
    const c = this.cfg.channels;
    const data = new Float32Array(n * c);
    this.features.forEach((row, i) => data.set(row, i * c));
    const feeds = { features: new ort.Tensor("float32", data, [1, n, c]) };
    if (this.head.inputNames.includes("lengths")) feeds.lengths = new ort.Tensor("int64", BigInt64Array.from([BigInt(n)]), [1]);
    const out = (await this.head.run(feeds)).logits;
    const [, steps, vocab] = out.dims;
    if (vocab !== this.cfg.vocab.length) {
      throw new DemoError(`The model has ${vocab} classes but the page's vocabulary has ${this.cfg.vocab.length}: the model comes from another vocabulary. Rebuild the page with crkd demo.`);
    }
    const start = this.done - n;
    const spans = greedySpans(out.data, steps, vocab).map((s) => {
      const f = toFrames(this.cfg.timing, s, n);
      return { ...f, start: f.start + start, end: f.end + start };
    });
    const compute = this.trunkS + (performance.now() - t0) / 1000;
    this.trunkS = 0;
    this.compute.push(compute);
    return this.stab.update(spans, start, this.done, final).map((e) => {
      const latency = this.seen - 1 - (e.span.end - 1);
      this.latencies.push(latency);
      return { ...e, emittedAt: this.seen - 1, latency, latencyS: latency / this.cfg.fps + compute };
    });
  }
}
