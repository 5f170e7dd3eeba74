// The playground: the site's trained models, exported to ONNX at build time
// (hooks/onnx_models.py), run in the reader's browser by onnxruntime-web (single-threaded
// WebAssembly, served by the site itself: nothing is fetched from anywhere else).
//
// window.anatomy.run(name, text) returns a Promise of the JSON that
// transformer_anatomy.torch.trained.TrainedModel.predict(text) returns in Python: the same
// keys, nesting and decoding rules (greedy argmax with the lowest id on a tie, top-5 sorted by
// probability then id, softmax in float64 of the float32 logits, QA span by best_spans; the
// character language model: one graph run per generated character over the prompt and the
// characters so far, as predict generates).
//
// window.anatomy.run(name, text, options) for the language model only: options.mode "sample"
// draws each character from softmax(logits / options.temperature) over the options.top_k most
// likely ones (0: all), with a seeded PRNG (options.seed, an integer; mulberry32), and adds a
// "sampling" key {mode, temperature, top_k, seed} and each step's "sample_probability"; without
// options (or mode "greedy") the answer is predict()'s. options.onStep(partial), if given, is
// called (and awaited) after each character; it may throw to stop the generation.

// The runtime is imported when the first model is loaded, not with this module: a page with only
// a small embedded widget (class "anatomy-mini") stays light until the widget is seen or used.
const ORT = new URL("../assets/vendor/onnxruntime/ort.wasm.bundle.min.mjs", import.meta.url).href;
let ort = null, ortPromise = null;
function runtime() {
  if (!ortPromise) {
    ortPromise = import(ORT).then((m) => {
      ort = m;
      ort.env.wasm.numThreads = 1; // no SharedArrayBuffer, so no cross-origin-isolation headers
      ort.env.wasm.proxy = false;
      ort.env.wasm.wasmPaths = { wasm: WASM };
      return m;
    });
  }
  return ortPromise;
}
// The glue code is bundled in ort.wasm.bundle.min.mjs: only the .wasm binary is needed, from this
// site. It is fetched in parallel with the models (wasmBinary).
const WASM = new URL("../assets/vendor/onnxruntime/ort-wasm-simd-threaded.wasm", import.meta.url).href;
let wasmBytes = null;
function wasm() {
  if (!wasmBytes) {
    wasmBytes = fetch(WASM).then((r) => {
      if (!r.ok) throw new Error(`the ONNX runtime is missing from this site (${r.status}): run make assets`);
      return r.arrayBuffer();
    });
  }
  return wasmBytes;
}

const MODELS = new URL("../playground/models/", import.meta.url);
const KIND_TITLE = { seq2seq: "encoder–decoder", classification: "classification", tagging: "tagging", qa: "question answering",
  causal_lm: "character language model" };
const GROUP_TITLE = { encoder_self: "encoder self-attention", decoder_self: "decoder self-attention", cross: "cross-attention",
  self: "causal self-attention" };

let indexPromise = null;
const loaded = new Map(); // name -> Promise<{card, sessions}>
let queue = Promise.resolve(); // one inference at a time (a wasm session runs one call at once)
export const timings = { runtime_ms: null, models: {}, runs: [] };

function index() {
  if (!indexPromise) {
    indexPromise = fetch(new URL("index.json", MODELS)).then((r) => {
      if (!r.ok) throw new Error(`the playground's model index is missing (${r.status})`);
      return r.json();
    });
  }
  return indexPromise;
}

async function resolveName(name) {
  const idx = await index();
  if (idx.models[name]) return name;
  const byTask = Object.values(idx.models).filter((m) => m.task === name);
  if (byTask.length) return byTask.find((m) => m.name === name)?.name || byTask[0].name;
  throw new Error(`unknown model ${JSON.stringify(name)}; the playground has ${Object.keys(idx.models).join(", ")}`);
}

export function load(name) {
  if (!loaded.has(name)) {
    loaded.set(name, (async () => {
      const t0 = performance.now();
      const entry = (await index()).models[name];
      const get = async (file) => {
        const r = await fetch(new URL(file, MODELS));
        if (!r.ok) throw new Error(`${file} is missing from this site (${r.status})`);
        return r;
      };
      const graphs = Object.entries(entry.graphs);
      const [card, binary, ...bytes] = await Promise.all([get(entry.card).then((r) => r.json()), wasm(),
        ...graphs.map(([, file]) => get(file).then((r) => r.arrayBuffer())), runtime()]);
      bytes.pop(); // runtime()'s module
      if (!ort.env.wasm.wasmBinary) ort.env.wasm.wasmBinary = binary;
      const sessions = {};
      for (const [i, [graph]] of graphs.entries()) {
        const t1 = performance.now();
        sessions[graph] = await ort.InferenceSession.create(new Uint8Array(bytes[i]), {
          executionProviders: ["wasm"], graphOptimizationLevel: "all",
        });
        if (timings.runtime_ms === null) timings.runtime_ms = performance.now() - t1;
      }
      card.word2idx = new Map(card.src_vocab.map((t, i) => [t, i]));
      card.entry = entry;
      timings.models[name] = performance.now() - t0;
      return { card, sessions };
    })());
  }
  return loaded.get(name);
}

// ---------------------------------------------------------------------------------------
// the same steps as TrainedModel.encode / predict
// ---------------------------------------------------------------------------------------
const pyRepr = (s) => `'${s}'`;

function tokenize(card, text) {
  if (card.tokenizer === "char") return [...text];
  const t = text.trim();
  return t ? t.split(/\s+/) : [];
}

function joinTokens(tokenizer, tokens) {
  return tokens.join(tokenizer === "char" ? "" : " ");
}

export function encode(card, text) {
  if (typeof text !== "string") throw new TypeError(`text must be a str, got ${typeof text}`);
  const words = tokenize(card, text);
  const limit = card.max_src_len;
  if (!words.length) throw new Error(`text has no tokens; task ${pyRepr(card.task)} expects ${card.input_format}`);
  if (words.length > limit && card.kind === "causal_lm") {
    throw new Error(`prompt has ${words.length} characters, more than the limit of ${limit} for task ${pyRepr(card.task)} ` +
      `(block_size ${card.block_size} - max_new_tokens ${card.max_new_tokens})`);
  }
  if (words.length > limit) {
    throw new Error(`text has ${words.length} tokens, more than the limit of ${limit} for task ${pyRepr(card.task)}`);
  }
  if (card.sep !== null && card.sep !== undefined) {
    const n = words.filter((w) => w === card.sep).length;
    if (n !== 1) throw new Error(`text must contain ${card.sep} exactly once (${card.input_format}), found it ${n} times`);
  }
  const unk = card.specials["<unk>"];
  const asUnk = new Set(card.as_unk || []);
  const ids = words.map((w) => (asUnk.has(w) ? unk : (card.word2idx.has(w) ? card.word2idx.get(w) : unk)));
  const tokens = ids.map((i) => card.src_vocab[i]);
  const unknown = [];
  words.forEach((w, i) => { if (w !== tokens[i]) unknown.push(i); });
  return { tokens, ids, unknown };
}

function softmax(logits) { // float32 logits -> float64 probabilities (torch.softmax(x.double()))
  let m = -Infinity;
  for (const x of logits) if (x > m) m = x;
  const e = Array.from(logits, (x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

function argmax(values) { // first maximum, as torch.argmax
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

function nested(tensor) { // (1, L, H, T, S) -> [L][H][T][S] of numbers
  const [, L, H, T, S] = tensor.dims;
  const d = tensor.data;
  const out = [];
  for (let l = 0; l < L; l++) {
    const heads = [];
    for (let h = 0; h < H; h++) {
      const rows = [];
      for (let t = 0; t < T; t++) {
        const o = ((l * H + h) * T + t) * S;
        rows.push(Array.from(d.subarray(o, o + S)));
      }
      heads.push(rows);
    }
    out.push(heads);
  }
  return out;
}

function nested4(tensor) { // (L, H, T, S) -> [L][H][T][S] of numbers
  const [L, H, T, S] = tensor.dims;
  return nested({ dims: [1, L, H, T, S], data: tensor.data });
}

const ids64 = (ids) => new ort.Tensor("int64", BigInt64Array.from(ids.map((i) => BigInt(i))), [1, ids.length]);

async function predict(model, text, options) {
  const { card, sessions } = model;
  if (options && card.kind !== "causal_lm" && Object.keys(options).length) {
    throw new Error(`options are for the language model only; ${card.task} is a ${card.kind} model`);
  }
  const { tokens, ids, unknown } = encode(card, text);
  const out = { task: card.task, kind: card.kind, tokens, ids, unknown };
  if (card.kind === "seq2seq") return Object.assign(out, await greedy(model, ids));
  if (card.kind === "causal_lm") return Object.assign(out, await generate(model, out, options || {}));
  const res = await sessions.model.run({ ids: ids64(ids) });
  const S = ids.length;
  if (card.kind === "classification") {
    const logits = res.logits.data;
    const label = argmax(logits);
    Object.assign(out, { prediction: card.label_names[label], label, labels: card.label_names.slice(),
      probabilities: softmax(logits) });
  } else if (card.kind === "tagging") {
    const C = res.logits.dims[2];
    const probabilities = [], prediction = [];
    for (let s = 0; s < S; s++) {
      const row = res.logits.data.subarray(s * C, (s + 1) * C);
      probabilities.push(softmax(row));
      prediction.push(card.labels[argmax(row)]);
    }
    Object.assign(out, { prediction, labels: card.labels.slice(), probabilities });
  } else { // qa: best start + end with start <= end < start + max_answer_len (best_spans)
    const st = res.start_logits.data, en = res.end_logits.data;
    let best = -Infinity, bs = 0, be = 0;
    for (let s = 0; s < S; s++) {
      for (let e = s; e < Math.min(S, s + card.max_answer_len); e++) {
        const v = st[s] + en[e];
        if (v > best) { best = v; bs = s; be = e; }
      }
    }
    Object.assign(out, { prediction: joinTokens(card.tokenizer, tokens.slice(bs, be + 1)), span: [bs, be],
      probabilities: [softmax(st), softmax(en)] });
  }
  out.attention = { encoder_self: nested(res.encoder_attention) };
  return out;
}

// A seeded PRNG (mulberry32): the same seed gives the same samples in every browser.
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function samplingOptions(options, V) {
  const mode = options.mode === undefined ? "greedy" : options.mode;
  if (mode !== "greedy" && mode !== "sample") throw new Error(`options.mode must be "greedy" or "sample", got ${JSON.stringify(mode)}`);
  if (mode === "greedy") return null;
  const temperature = options.temperature === undefined ? 1 : Number(options.temperature);
  const topK = options.top_k === undefined ? 0 : Number(options.top_k);
  const seed = options.seed === undefined ? 0 : Number(options.seed);
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new Error(`options.temperature must be a number > 0, got ${options.temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new Error(`options.top_k must be an integer >= 0 (0: every character), got ${options.top_k}`);
  if (!Number.isInteger(seed)) throw new Error(`options.seed must be an integer, got ${options.seed}`);
  return { mode, temperature, top_k: Math.min(topK || V, V), seed };
}

const byProbability = (p) => (a, b) => (p[b] - p[a]) || (a - b); // most likely first, ties: lower id

async function generate(model, out, options) {
  const { card, sessions } = model;
  const vocab = card.src_vocab, V = vocab.length, K = card.max_new_tokens;
  const k = Math.min(card.top_k || 5, V);
  const sampling = samplingOptions(options, V);
  const rand = sampling ? mulberry32(sampling.seed) : null;
  const seq = out.ids.slice(), steps = [];
  let last = null, waited = 0;
  for (let t = 0; t < K; t++) {
    last = await sessions.model.run({ ids: ids64(seq) }); // (1, T) -> logits (1, T, V), attention (L, H, T, T)
    const T = seq.length;
    const logits = last.logits.data.subarray((T - 1) * V, T * V);
    const p = softmax(logits);
    const order = p.map((_, i) => i).sort(byProbability(p));
    let nxt, q = null;
    if (!sampling) {
      nxt = argmax(logits);
    } else { // softmax(logits / temperature) over the top_k most likely, then one draw
      const keep = order.slice(0, sampling.top_k);
      q = softmax(keep.map((i) => logits[i] / sampling.temperature));
      let u = rand(), j = 0;
      while (j < keep.length - 1 && u >= q[j]) { u -= q[j]; j++; }
      nxt = keep[j];
      q = q[j];
    }
    const step = { step: t, token: vocab[nxt], id: nxt, probability: p[nxt],
      top: order.slice(0, k).map((i) => ({ token: vocab[i], id: i, probability: p[i] })) };
    if (sampling) step.sample_probability = q;
    steps.push(step);
    seq.push(nxt);
    if (options.onStep) {
      const t0 = performance.now();
      await options.onStep({ ...out, prediction: seq.slice(out.ids.length).map((i) => vocab[i]).join(""), steps });
      waited += performance.now() - t0;
    }
  }
  const generated = seq.slice(out.ids.length);
  const tokens = generated.map((i) => vocab[i]);
  const res = {
    prediction: tokens.join(""),
    output_tokens: tokens,
    output_ids: generated,
    probabilities: steps.map((s) => s.probability),
    steps,
    attention_tokens: seq.slice(0, -1).map((i) => vocab[i]),
    attention: { self: nested4(last.attention) },
  };
  if (sampling) res.sampling = sampling;
  Object.defineProperty(res, "waited_ms", { value: waited, enumerable: false }); // time in onStep, not the model's
  return res;
}

async function greedy(model, ids) {
  const { card, sessions } = model;
  const tgt = card.tgt_vocab, sos = card.specials["<sos>"], eos = card.specials["<eos>"];
  const k = Math.min(card.top_k || 5, tgt.length);
  const enc = await sessions.encoder.run({ src_ids: ids64(ids) });
  const ys = [sos], steps = [];
  let last = null;
  for (let t = 0; t < card.max_decode_len - 1; t++) {
    last = await sessions.decoder.run({ memory: enc.memory, tgt_ids: ids64(ys) });
    const logits = last.logits.data;
    const p = softmax(logits);
    const nxt = argmax(logits);
    const order = p.map((_, i) => i).sort((a, b) => (p[b] - p[a]) || (a - b)).slice(0, k);
    steps.push({ step: t, token: tgt[nxt], id: nxt, probability: p[nxt],
      top: order.map((i) => ({ token: tgt[i], id: i, probability: p[i] })) });
    ys.push(nxt);
    if (nxt === eos) break;
  }
  const generated = ys.slice(1);
  const kept = [];
  for (const i of generated) { // Vocab.decode: stop at <eos>, drop <pad> and <sos>
    if (i === eos) break;
    if (i !== sos && i !== card.specials["<pad>"]) kept.push(tgt[i]);
  }
  return {
    prediction: joinTokens(card.entry.tgt_tokenizer, kept),
    output_tokens: generated.map((i) => tgt[i]),
    output_ids: generated,
    probabilities: steps.map((s) => s.probability),
    steps,
    decoder_tokens: ys.slice(0, -1).map((i) => tgt[i]),
    attention: { encoder_self: nested(enc.encoder_attention), decoder_self: nested(last.decoder_attention),
      cross: nested(last.cross_attention) },
  };
}

/** Run model ``name`` (a model of the index, or a task name) on ``text``: predict()'s JSON.
 * ``options`` (the language model only): see the top of this file. */
export async function run(name, text, options) {
  const resolved = await resolveName(name);
  const model = await load(resolved);
  const job = queue.then(async () => {
    const t0 = performance.now();
    const out = await predict(model, text, options);
    timings.runs.push({ name: resolved, ms: performance.now() - t0 - (out.waited_ms || 0) });
    return out;
  });
  queue = job.catch(() => {});
  return job;
}

export async function models() { return (await index()).models; }

window.anatomy = Object.assign(window.anatomy || {}, { run, models, load: (n) => resolveName(n).then(load).then(() => true), timings });

// ---------------------------------------------------------------------------------------
// the page
// ---------------------------------------------------------------------------------------
const SVG = "http://www.w3.org/2000/svg";
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}
function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
const pct = (p) => `${(100 * p).toFixed(1)}%`;

// viridis, sampled (perceptually uniform, readable on light and dark backgrounds)
const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];
function colour(v) {
  const x = Math.max(0, Math.min(1, v)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i;
  const a = VIRIDIS[i], b = VIRIDIS[i + 1];
  const ch = (s, o) => parseInt(s.slice(o, o + 2), 16);
  const mix = (o) => Math.round(ch(a, o) + f * (ch(b, o) - ch(a, o))).toString(16).padStart(2, "0");
  return `#${mix(1)}${mix(3)}${mix(5)}`;
}

/** An SVG heatmap: rows = queries, columns = keys, labelled on both axes, with a colour bar. */
export function heatmap(weights, rowLabels, colLabels, title) {
  const T = rowLabels.length, S = colLabels.length;
  const cell = Math.max(12, Math.min(32, Math.floor(420 / Math.max(T, S))));
  const longest = (ls) => Math.max(1, ...ls.map((l) => l.length));
  const left = 14 + 6.5 * Math.min(14, longest(rowLabels)), top = 10, bottom = 14 + 6.5 * Math.min(14, longest(colLabels));
  const barW = 12, barGap = 24, barLabel = 34;
  const W = left + S * cell + barGap + barW + barLabel, H = top + T * cell + bottom + 16;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, role: "img", "aria-label": title, class: "pg-heatmap" });
  s.append(svg("title", {}, title));
  const cut = (l) => (l.length > 14 ? l.slice(0, 13) + "…" : l);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < S; j++) {
      const r = svg("rect", { x: left + j * cell, y: top + t * cell, width: cell, height: cell, fill: colour(weights[t][j]) });
      r.append(svg("title", {}, `${rowLabels[t]} → ${colLabels[j]}: ${weights[t][j].toFixed(3)}`));
      s.append(r);
    }
    s.append(svg("text", { x: left - 4, y: top + (t + 0.5) * cell, "text-anchor": "end", "dominant-baseline": "middle",
      class: "pg-axis" }, cut(rowLabels[t])));
  }
  for (let j = 0; j < S; j++) {
    const x = left + (j + 0.5) * cell, y = top + T * cell + 4;
    s.append(svg("text", { x, y, transform: `rotate(-60 ${x} ${y})`, "text-anchor": "end", "dominant-baseline": "middle",
      class: "pg-axis" }, cut(colLabels[j])));
  }
  s.append(svg("text", { x: left + (S * cell) / 2, y: H - 2, "text-anchor": "middle", class: "pg-axis" }, "key (attended to)"));
  const bx = left + S * cell + barGap, bh = T * cell, steps = 20;
  for (let i = 0; i < steps; i++) {
    s.append(svg("rect", { x: bx, y: top + (bh * i) / steps, width: barW, height: bh / steps + 0.5, fill: colour(1 - i / steps - 0.5 / steps) }));
  }
  for (const v of [0, 0.5, 1]) {
    s.append(svg("text", { x: bx + barW + 3, y: top + bh * (1 - v), "dominant-baseline": "middle", class: "pg-axis" }, v.toFixed(1)));
  }
  return s;
}

function table(head, rows, caption) {
  const t = el("table", { class: "pg-table" });
  if (caption) t.append(el("caption", { text: caption }));
  t.append(el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h })))));
  const b = el("tbody");
  for (const r of rows) b.append(el("tr", {}, ...r.map((c) => (c instanceof Node ? el("td", {}, c) : el("td", { text: String(c) })))));
  t.append(b);
  return el("div", { class: "pg-scroll", tabindex: "0" }, t);
}

function bar(p) {
  return el("span", { class: "pg-bar" }, el("span", { class: "pg-bar-fill", style: `width:${(100 * p).toFixed(1)}%` }),
    el("span", { class: "pg-bar-text", text: pct(p) }));
}

// A character made visible on an axis, a chip or a table cell (the text itself keeps it raw).
const VISIBLE = { " ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍" };
export const visible = (c) => VISIBLE[c] || c;

function renderLM(out, root, done) {
  root.replaceChildren();
  const chips = el("div", { class: "pg-tokens", id: "pg-tokens" });
  out.tokens.forEach((t, i) => chips.append(el("span", { class: "pg-token" + (out.unknown.includes(i) ? " pg-unk" : "") },
    el("span", { class: "pg-token-text", text: visible(t) }), el("span", { class: "pg-token-id", text: String(out.ids[i]) }))));
  root.append(el("h3", { text: "Characters → ids" }), chips,
    el("p", { class: "pg-hint", text: "␣ is a space, ↵ a line break." }));
  if (out.unknown.length) root.append(el("p", { text: `${out.unknown.length} character(s) outside the vocabulary became <unk> (id ${out.ids[out.unknown[0]]}).` }));
  const how = out.sampling ? `sampled (temperature ${out.sampling.temperature}, top-k ${out.sampling.top_k}, seed ${out.sampling.seed})` : "greedy";
  root.append(el("h3", { text: `Continuation (${how}${done ? "" : ", writing…"})` }),
    el("p", { class: "pg-lm-text", "aria-label": "the prompt and its continuation" },
      el("span", { class: "pg-lm-prompt", text: out.tokens.join("") }),
      el("output", { id: "pg-prediction", class: "pg-lm-generated", text: done && out.prediction === "" ? "(empty)" : out.prediction })));
  root.append(table(["step", "chosen", ...[1, 2, 3, 4, 5].map((r) => `top ${r}`)], out.steps.map((st) => [String(st.step),
    `${visible(st.token)} ${pct(st.probability)}`, ...st.top.map((c) => `${visible(c.token)} ${pct(c.probability)}`),
    ...Array(5 - st.top.length).fill("")]), "Each step's five most likely next characters (probabilities before any temperature)"));
}

function renderPrediction(out, root) {
  if (out.kind === "causal_lm") { renderLM(out, root, true); return; }
  root.replaceChildren();
  const chips = el("div", { class: "pg-tokens", id: "pg-tokens" });
  out.tokens.forEach((t, i) => chips.append(el("span", { class: "pg-token" + (out.unknown.includes(i) ? " pg-unk" : "") },
    el("span", { class: "pg-token-text", text: t }), el("span", { class: "pg-token-id", text: String(out.ids[i]) }))));
  root.append(el("h3", { text: "Tokens → ids" }), chips);
  if (out.unknown.length) root.append(el("p", { text: `${out.unknown.length} word(s) outside the vocabulary became <unk> (id ${out.ids[out.unknown[0]]}).` }));
  const pred = Array.isArray(out.prediction) ? out.prediction.join(" ") : out.prediction;
  root.append(el("h3", { text: "Prediction" }), el("p", { class: "pg-prediction-line" }, el("strong", { text: "Answer: " }),
    el("output", { id: "pg-prediction", text: pred === "" ? "(empty)" : pred })));
  if (out.kind === "classification") {
    root.append(table(["label", "probability"], out.labels.map((l, i) => [l, bar(out.probabilities[i])]), "Probability of each class"));
  } else if (out.kind === "tagging") {
    root.append(table(["word", "tag", "probability"], out.tokens.map((w, i) => [w, out.prediction[i],
      bar(out.probabilities[i][out.labels.indexOf(out.prediction[i])])]), "The tag chosen for each word"));
  } else if (out.kind === "qa") {
    root.append(table(["position", "token", "P(start)", "P(end)"], out.tokens.map((w, i) => [String(i),
      i >= out.span[0] && i <= out.span[1] ? el("mark", { text: w }) : w, bar(out.probabilities[0][i]), bar(out.probabilities[1][i])]),
      `Answer span: tokens ${out.span[0]}–${out.span[1]}`));
  } else {
    root.append(el("h3", { text: "Greedy decoding, step by step" }));
    root.append(table(["step", "chosen", ...[1, 2, 3, 4, 5].map((r) => `top ${r}`)], out.steps.map((s) => [String(s.step), s.token,
      ...s.top.map((c) => `${c.token} ${pct(c.probability)}`), ...Array(5 - s.top.length).fill("")]),
      "Each step's five most likely next tokens"));
  }
}

function attentionAxes(out, group) {
  if (group === "self") { const t = out.attention_tokens.map(visible); return [t, t]; }
  if (group === "encoder_self") return [out.tokens, out.tokens];
  if (group === "decoder_self") return [out.decoder_tokens, out.decoder_tokens];
  return [out.decoder_tokens, out.tokens];
}

function renderAttention(out, ctl, fig) {
  const group = ctl.group.value, layer = +ctl.layer.value, head = +ctl.head.value;
  const w = out.attention[group][layer][head];
  const [rows, cols] = attentionAxes(out, group);
  const title = `${GROUP_TITLE[group]}, layer ${layer}, head ${head}: each row (a query) sums to 1`;
  const map = heatmap(w, rows, cols, title);
  if (rows.length > 40) { // long prompts: full size, the figure scrolls sideways (and takes the focus to scroll by keys)
    map.classList.add("pg-heatmap-wide");
    fig.setAttribute("tabindex", "0");
  } else {
    fig.removeAttribute("tabindex");
  }
  fig.replaceChildren(map, el("figcaption", { text: `${title[0].toUpperCase()}${title.slice(1)}. Rows: queries; columns: keys; colour: attention weight (0 to 1).` }));
}

function options(select, values, labels) {
  const keep = select.value;
  select.replaceChildren(...values.map((v, i) => el("option", { value: String(v), text: labels ? labels[i] : String(v) })));
  if (values.map(String).includes(keep)) select.value = keep;
}

/** Build the playground inside ``root`` (an element of the page). */
export async function mount(root) {
  if (!root || root.dataset.mounted) return;
  root.dataset.mounted = "1";
  const status = el("p", { class: "pg-status", role: "status", "aria-live": "polite", text: "Loading the models…" });
  const task = el("select", { id: "pg-task" }), example = el("select", { id: "pg-example" });
  const line = el("input", { id: "pg-input", type: "text", autocomplete: "off", spellcheck: "false" });
  const area = el("textarea", { id: "pg-input", rows: "3", autocomplete: "off", spellcheck: "false", class: "pg-textarea" });
  let input = line; // the language model's prompt is a textarea (line breaks are characters too)
  const go = el("button", { type: "button", class: "md-button md-button--primary", id: "pg-run", text: "Run" });
  const lm = { mode: el("select", { id: "pg-mode" }), temperature: el("input", { id: "pg-temperature", type: "number", min: "0.05", step: "0.05", value: "0.8" }),
    top_k: el("input", { id: "pg-topk", type: "number", min: "0", step: "1", value: "10" }),
    seed: el("input", { id: "pg-seed", type: "number", step: "1", value: "0" }) };
  options(lm.mode, ["greedy", "sample"], ["greedy (argmax)", "sample (temperature, top-k)"]);
  const message = el("p", { class: "pg-message", id: "pg-message", role: "alert" });
  const result = el("div", { class: "pg-result", id: "pg-result" });
  const ctl = { group: el("select", { id: "pg-group" }), layer: el("select", { id: "pg-layer" }), head: el("select", { id: "pg-head" }) };
  const fig = el("figure", { class: "ta-figure pg-figure", id: "pg-heatmap" });
  const field = (label, control) => el("label", { class: "pg-field" }, el("span", { text: label }), control);
  root.replaceChildren(status,
    el("div", { class: "pg-controls" }, field("Model", task), field("Example", example)),
    el("div", { class: "pg-controls" }, field("Input", input), go),
    el("div", { class: "pg-controls pg-lm-controls", id: "pg-lm-controls", hidden: "" }, field("Decoding", lm.mode),
      field("Temperature", lm.temperature), field("Top-k (0: all)", lm.top_k), field("Seed", lm.seed)),
    el("p", { class: "pg-hint", id: "pg-hint" }), message, result,
    el("h3", { text: "Attention" }),
    el("div", { class: "pg-controls" }, field("Attention", ctl.group), field("Layer", ctl.layer), field("Head", ctl.head)), fig);
  wasm().catch(() => {}); // start the runtime's download now (errors are reported by load)
  runtime().catch(() => {});
  let all;
  try { all = await models(); } catch (e) { status.textContent = String(e.message || e); return; }
  const names = Object.keys(all);
  if (!names.length) { status.textContent = "No trained model was kept in this build (docs/results/models/ is empty)."; return; }
  options(task, names, names.map((n) => `${n} (${KIND_TITLE[all[n].kind]})`));
  const asked = new URLSearchParams(location.search).get("model"); // the small widgets link here with ?model=
  task.value = names.includes(asked) ? asked : names.includes("reversal") ? "reversal" : names[0]; // reversal's attention is the easiest to read
  let last = null, seq = 0;
  const showAttention = () => {
    if (!last) return;
    const groups = Object.keys(last.attention);
    options(ctl.group, groups, groups.map((g) => GROUP_TITLE[g]));
    const layers = last.attention[ctl.group.value];
    options(ctl.layer, layers.map((_, i) => i));
    options(ctl.head, layers[0].map((_, i) => i));
    renderAttention(last, ctl, fig);
  };
  const lmOptions = (mine) => {
    const o = { mode: lm.mode.value, onStep: async (partial) => { // the continuation appears character by character
      if (mine !== seq) throw new Error("superseded"); // a newer run started: stop this one
      renderLM(partial, result, false);
      await new Promise((r) => setTimeout(r, 16));
    } };
    if (o.mode === "sample") Object.assign(o, { temperature: +lm.temperature.value, top_k: +lm.top_k.value, seed: +lm.seed.value });
    return o;
  };
  const runNow = async () => {
    const mine = ++seq;
    const name = task.value, first = !(name in timings.models);
    root.dataset.state = "running";
    try {
      const out = await run(name, input.value, all[name].kind === "causal_lm" ? lmOptions(mine) : undefined);
      if (mine !== seq) return;
      message.textContent = "";
      last = out;
      renderPrediction(out, result);
      showAttention();
      const ms = first ? timings.models[name] + timings.runs[timings.runs.length - 1].ms : timings.runs[timings.runs.length - 1].ms;
      status.textContent = first ? `Loaded and ran ${name} in ${ms.toFixed(0)} ms, in this browser.`
        : `Ran ${name} in ${ms.toFixed(1)} ms, in this browser.`;
      root.dataset.state = "answered";
    } catch (e) {
      if (mine !== seq) return;
      message.textContent = String(e.message || e);
      root.dataset.state = "error";
    }
  };
  const pickTask = async () => {
    const m = all[task.value];
    const isLM = m.kind === "causal_lm";
    const want = isLM ? area : line;
    if (input !== want) { input.replaceWith(want); input = want; }
    document.getElementById("pg-lm-controls").hidden = !isLM;
    const label = (x) => (isLM ? [...x].map((c) => (c === "\n" ? "↵" : c)).join("") : x);
    options(example, m.examples.map((_, i) => i), m.examples.map((x) => label(x.length > 60 ? x.slice(0, 57) + "…" : x)));
    example.value = "0";
    input.value = m.examples[0];
    document.getElementById("pg-hint").textContent = isLM
      ? `Input: ${m.input_format}; at most ${m.max_src_len} characters, then the model writes ${m.max_new_tokens} more ` +
        `(its context is ${m.block_size}). Characters outside the vocabulary become <unk>. Ctrl+Enter runs.`
      : `Input: ${m.input_format}; at most ${m.max_src_len} tokens. Words outside the vocabulary become <unk>.`;
    status.textContent = `Loading ${task.value}…`;
    await runNow();
  };
  task.addEventListener("change", pickTask);
  example.addEventListener("change", () => { input.value = all[task.value].examples[+example.value]; runNow(); });
  go.addEventListener("click", runNow);
  line.addEventListener("keydown", (e) => { if (e.key === "Enter") runNow(); });
  area.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); runNow(); } });
  let timer = null;
  for (const box of [line, area]) box.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(runNow, 150); });
  for (const c of Object.values(ctl)) c.addEventListener("change", showAttention);
  const sampling = () => { for (const c of [lm.temperature, lm.top_k, lm.seed]) c.disabled = lm.mode.value !== "sample"; };
  sampling();
  lm.mode.addEventListener("change", sampling);
  for (const c of Object.values(lm)) c.addEventListener("change", runNow);
  const t0 = performance.now();
  await pickTask();
  timings.interactive_ms = performance.now() - t0;
}


// ---------------------------------------------------------------------------------------
// the small embedded widget: <div class="anatomy-mini" data-model="reversal"></div>
// ---------------------------------------------------------------------------------------
const PLAYGROUND = new URL("../playground/", import.meta.url);
let miniCount = 0;

function miniAnswer(out, box) {
  box.replaceChildren();
  const pred = Array.isArray(out.prediction) ? out.prediction.join(" ") : out.prediction;
  const line = el("p", { class: "anatomy-mini-line" }, el("strong", { text: "Answer: " }),
    el("output", { class: "anatomy-mini-prediction", text: pred === "" ? "(empty)" : pred }));
  box.append(line);
  if (out.kind === "classification") {
    line.append(" ", bar(out.probabilities[out.label]));
  } else if (out.kind === "qa") {
    line.append(" ", bar(out.probabilities[0][out.span[0]] * out.probabilities[1][out.span[1]]));
  } else {
    // seq2seq: the decoded tokens with the probability of each; tagging: each word's tag
    const chips = el("div", { class: "pg-tokens", role: "list",
      "aria-label": out.kind === "seq2seq" ? "decoded tokens and their probabilities" : "each word's tag and its probability" });
    const items = out.kind === "seq2seq"
      ? out.steps.map((st) => [st.token, st.probability])
      : out.tokens.map((w, i) => [`${w}: ${out.prediction[i]}`, out.probabilities[i][out.labels.indexOf(out.prediction[i])]]);
    for (const [text, p] of items) {
      chips.append(el("span", { class: "pg-token", role: "listitem" }, el("span", { class: "pg-token-text", text }),
        el("span", { class: "pg-token-id", text: pct(p) })));
    }
    box.append(chips);
  }
}

/** Build the small widget inside ``root``: one input (an example filled in), the answer with its
 * probability, the decoded tokens of a seq2seq model, one attention map and a link to the
 * playground. The runtime and the model are loaded when the widget comes into view or is used. */
export async function mountMini(root) {
  if (!root || root.dataset.mounted) return;
  root.dataset.mounted = "1";
  const id = `anatomy-mini-${++miniCount}`;
  const wanted = root.dataset.model || "reversal";
  const input = el("input", { id: `${id}-input`, type: "text", autocomplete: "off", spellcheck: "false", class: "anatomy-mini-input" });
  const go = el("button", { type: "button", class: "md-button md-button--primary anatomy-mini-run", text: "Run" });
  const status = el("p", { class: "pg-status", role: "status", "aria-live": "polite", text: "The model loads when this comes into view." });
  const message = el("p", { class: "pg-message", role: "alert" });
  const answer = el("div", { class: "anatomy-mini-answer", "aria-live": "polite" });
  const ctl = { group: el("select", { id: `${id}-group` }), layer: el("select", { id: `${id}-layer` }), head: el("select", { id: `${id}-head` }) };
  const field = (label, control) => el("label", { class: "pg-field" }, el("span", { text: label }), control);
  const fig = el("figure", { class: "ta-figure pg-figure anatomy-mini-figure" });
  const details = el("details", { class: "anatomy-mini-attention" }, el("summary", { text: "Attention map" }),
    el("div", { class: "pg-controls" }, field("Attention", ctl.group), field("Layer", ctl.layer), field("Head", ctl.head)), fig);
  const link = el("a", { href: `${PLAYGROUND.href}?model=${encodeURIComponent(wanted)}`, text: "Open the full playground" });
  const inputLabel = el("label", { class: "pg-field anatomy-mini-field" }, el("span", { text: `Input (model: ${wanted})` }), input);
  root.replaceChildren(el("div", { class: "pg-controls" }, inputLabel, go), message, answer, status, details,
    el("p", { class: "anatomy-mini-link" }, link, ` (every task, tokens, the decoding step by step, every head).`));
  root.dataset.state = "idle";
  let name, entry, last = null, seq = 0, started = false;
  try {
    name = await resolveName(wanted);
    entry = (await index()).models[name];
  } catch (e) { status.textContent = String(e.message || e); root.dataset.state = "error"; return; }
  input.value = entry.examples[0] || "";
  const showAttention = () => {
    if (!last) return;
    const groups = Object.keys(last.attention);
    options(ctl.group, groups, groups.map((g) => GROUP_TITLE[g]));
    if (!root.dataset.groupChosen) { // the most telling map first: cross-attention of the last layer
      ctl.group.value = groups.includes("cross") ? "cross" : groups[0];
      options(ctl.layer, last.attention[ctl.group.value].map((_, i) => i));
      ctl.layer.value = String(last.attention[ctl.group.value].length - 1);
      root.dataset.groupChosen = "1";
    }
    const layers = last.attention[ctl.group.value];
    options(ctl.layer, layers.map((_, i) => i));
    options(ctl.head, layers[0].map((_, i) => i));
    renderAttention(last, ctl, fig);
  };
  const runNow = async () => {
    started = true;
    const mine = ++seq, first = !(name in timings.models);
    if (first) status.textContent = `Loading ${name}…`;
    root.dataset.state = "running";
    try {
      const out = await run(name, input.value);
      if (mine !== seq) return;
      message.textContent = "";
      last = out;
      miniAnswer(out, answer);
      showAttention();
      const ms = timings.runs[timings.runs.length - 1].ms;
      status.textContent = first ? `Loaded and ran ${name} in ${(timings.models[name] + ms).toFixed(0)} ms, in this browser.`
        : `Ran ${name} in ${ms.toFixed(1)} ms, in this browser.`;
      root.dataset.state = "answered";
    } catch (e) {
      if (mine !== seq) return;
      message.textContent = String(e.message || e);
      status.textContent = "";
      root.dataset.state = "error";
    }
  };
  const start = () => { if (!started) runNow(); };
  go.addEventListener("click", runNow);
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") runNow(); });
  input.addEventListener("focus", start, { once: true });
  let timer = null;
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(runNow, 150); });
  for (const c of Object.values(ctl)) c.addEventListener("change", showAttention);
  if ("IntersectionObserver" in window) {
    const seen = new IntersectionObserver((entries) => {
      if (entries.some((x) => x.isIntersecting)) { seen.disconnect(); start(); }
    }, { rootMargin: "200px 0px" });
    seen.observe(root);
  } else {
    start();
  }
}

/** Mount every small widget under ``scope`` (the page, after each instant navigation too). */
export function mountMinis(scope = document) {
  for (const root of scope.querySelectorAll(".anatomy-mini")) mountMini(root);
}

// Material's instant navigation swaps the page's content and re-runs its inline scripts as
// classic scripts (a <script type="module"> loses its type there): once this module is loaded,
// every page it reaches mounts its playground and widgets itself, from Material's document$.
if (window.document$ && typeof window.document$.subscribe === "function") {
  window.document$.subscribe(() => {
    const full = document.getElementById("playground");
    if (full && full.classList.contains("pg-root")) mount(full);
    mountMinis();
  });
}
