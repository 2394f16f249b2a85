// ONNX Runtime side of bench/compare.py: times the forward pass of an ONNX
// model with onnxruntime-node on the CPU and prints one JSON object.
//
//     node bench/ort_forward.js MODEL.onnx [runs] [warmup] [threads] [shape]
//
// onnxruntime-node is looked up in $ORT_NODE_DIR/node_modules (install it
// outside the repository: npm install --ignore-scripts onnxruntime-node@1.30.0
// in that directory). shape defaults to 1,3,224,224.
'use strict';
const path = require('path');

async function main() {
  const [model, runsArg, warmupArg, threadsArg, shapeArg] = process.argv.slice(2);
  if (!model) {
    throw new Error('usage: node ort_forward.js MODEL.onnx [runs] [warmup] [threads] [shape]');
  }
  const dir = process.env.ORT_NODE_DIR;
  const ort = require(dir ? path.join(dir, 'node_modules', 'onnxruntime-node') : 'onnxruntime-node');
  const runs = Number(runsArg || 10);
  const warmup = Number(warmupArg || 2);
  const threads = Number(threadsArg || 2);
  const shape = (shapeArg || '1,3,224,224').split(',').map(Number);
  const t0 = process.hrtime.bigint();
  const sess = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const loadMS = Number(process.hrtime.bigint() - t0) / 1e6;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    data[i] = 2 * Math.sin(i * 0.0123) * Math.cos(i * 0.000717);
  }
  const feeds = {[sess.inputNames[0]]: new ort.Tensor('float32', data, shape)};
  for (let i = 0; i < warmup; i++) {
    await sess.run(feeds);
  }
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await sess.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const mid = ms.length >> 1;
  const median = ms.length % 2 ? ms[mid] : (ms[mid - 1] + ms[mid]) / 2;
  const round = (v) => Math.round(v * 1000) / 1000;
  console.log(JSON.stringify({
    model, threads, load_ms: round(loadMS),
    forward: {runs, median_ms: round(median), min_ms: round(ms[0]), max_ms: round(ms[ms.length - 1])},
    peak_rss_mib: Math.round(process.resourceUsage().maxRSS / 1024 * 10) / 10,
  }));
}

main().catch((e) => {
  console.error(String(e && e.stack || e));
  process.exit(1);
});
