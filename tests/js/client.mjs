// Runs a SketchRNN `.gen.json` model in the real browser client, @magenta/sketch, under Node.
//
//   node client.mjs <model URL> <request.json>
//
// The model is loaded through the client's own loading path (`new SketchRNN(url)` then
// `initialize()`, which fetches the URL), so the test exercises exactly what a web page does.
// The request file holds:
//   {"inputs": [[dx, dy, p1, p2, p3], ...],     stroke-5 rows in pixels, fed from the zero state
//    "pdf_temperatures": [[tau, softmaxTau|null], ...],
//    "draw": {"seed": int, "temperature": tau, "max_steps": int}}   (optional)
// and one JSON object goes to stdout: the client's info, scale factor, per-step mixtures for every
// requested temperature, and (with "draw") a drawing made with the client's own sampler.
// The client's console.log chatter goes to stderr so that stdout carries only the result.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

const logToStderr = (...args) => console.error(...args);
console.log = logToStderr;
console.info = logToStderr;

const ms = require('@magenta/sketch');

const MIXTURE_KEYS = ['pi', 'muX', 'muY', 'sigmaX', 'sigmaY', 'corr'];

// The client samples with Math.random and has no seed parameter; a small deterministic generator
// (mulberry32) in its place makes the drawing reproducible from run to run.
function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pdfToJSON(model, pdf) {
  const out = {};
  for (const key of MIXTURE_KEYS) {
    // getPDF in @magenta/sketch 0.2.0 slices sigmaY as result.slice(4N, 15N): it carries the corr
    // and pen values after its own N. Only the first N (what its sampler indexes) are sigmaY.
    out[key] = Array.from(pdf[key].slice(0, model.NMIXTURE));
  }
  out.pen = Array.from(pdf.pen);
  out.sigmaYLength = pdf.sigmaY.length;
  return out;
}

async function main() {
  const [url, requestPath] = process.argv.slice(2);
  if (!url || !requestPath) {
    throw new Error('usage: node client.mjs <model URL> <request.json>');
  }
  const request = JSON.parse(readFileSync(requestPath, 'utf8'));
  const model = new ms.SketchRNN(url);
  await model.initialize();

  const temps = request.pdf_temperatures || [[1.0, null]];
  const steps = temps.map(() => []);
  let state = model.zeroState();
  for (const row of request.inputs) {
    state = model.update(row, state);
    temps.forEach(([tau, softTau], i) => {
      steps[i].push(pdfToJSON(model, model.getPDF(state, tau, softTau === null ? undefined : softTau)));
    });
  }

  const result = {
    info: model.info,
    scaleFactor: model.scaleFactor,
    numUnits: model.numUnits,
    nMixture: model.NMIXTURE,
    zeroInput: model.zeroInput(),
    tfBackend: ms.tf.getBackend(),
    mixtures: temps.map(([tau, softTau], i) => ({ temperature: tau, softmaxTemperature: softTau, steps: steps[i] })),
  };

  if (request.draw) {
    const { seed, temperature, max_steps: maxSteps } = request.draw;
    const savedRandom = Math.random;
    Math.random = seededRandom(seed);
    try {
      // The client's own drawing loop, as its demos run it: start from zeroInput(), feed every
      // sampled row back, stop at end-of-sketch.
      let drawState = model.zeroState();
      let prev = model.zeroInput();
      const strokes = [];
      const pdfs = [];
      for (let t = 0; t < maxSteps; t++) {
        drawState = model.update(prev, drawState);
        const pdf = model.getPDF(drawState, temperature);
        pdfs.push(pdfToJSON(model, pdf));
        prev = model.sample(pdf);
        strokes.push(prev);
        if (prev[4] === 1) {
          break;
        }
      }
      result.drawing = { seed, temperature, strokes, pdfs };
    } finally {
      Math.random = savedRandom;
    }
  }
  model.dispose();
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
