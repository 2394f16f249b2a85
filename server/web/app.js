// The gradcam web page: plain JavaScript over the JSON API of the same
// server. Nothing is fetched from anywhere else.
"use strict";

const SLOW = new Set(["scorecam", "ablationcam", "fullgrad"]);
const $ = (id) => document.getElementById(id);

const state = {
  photo: null,      // the chosen file (Blob)
  cls: null,        // the explained class, null for the top-1
  result: null,     // the last answer
  panels: [],       // {canvas, photo, heat, ex}
  seq: 0,           // request counter: only the latest answer is shown
};

function setStatus(text, kind) {
  const s = $("status");
  s.textContent = text;
  s.className = kind || "";
}

async function api(path, opts) {
  const r = await fetch(path, opts);
  let body = null;
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) {
    throw new Error((body && body.error) || (r.status + " " + r.statusText));
  }
  return body;
}

function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

async function loadModels() {
  const resp = await api("/v1/models");
  const sel = $("model");
  sel.replaceChildren();
  for (const m of resp.models) {
    const o = option(m.name, m.status === "ready" ? m.name : m.name + " (" + m.status + ")");
    o.disabled = m.status === "error";
    sel.append(o);
  }
  if (resp.default) sel.value = resp.default;
  const cm = $("colormap");
  cm.replaceChildren(...resp.colormaps.map((c) => option(c, c)));
  cm.value = "jet";
  const box = $("methods");
  for (const el of box.querySelectorAll("label")) el.remove();
  for (const name of resp.methods) {
    const l = document.createElement("label");
    const i = document.createElement("input");
    i.type = "checkbox";
    i.value = name;
    i.checked = name === "gradcam";
    i.addEventListener("change", () => explain());
    l.append(i, " " + name);
    if (SLOW.has(name)) {
      const s = document.createElement("span");
      s.className = "slow";
      s.textContent = "(slow)";
      l.append(s);
    }
    box.append(l);
  }
  const loading = resp.models.some((m) => m.status === "loading");
  if (loading) setTimeout(loadModels, 1000);
  await loadLayers();
}

async function loadLayers() {
  const model = $("model").value;
  const sel = $("layer");
  const keep = sel.value;
  sel.replaceChildren(option("", "auto"));
  if (!model) return;
  try {
    const resp = await api("/v1/models/" + encodeURIComponent(model) + "/layers?spatial=1");
    for (const l of resp.layers) {
      sel.append(option(l.output, l.output + "  " + l.shape.slice(1).join("×") + (l.target ? "  (auto)" : "")));
    }
    sel.value = keep;
    if (sel.value !== keep) sel.value = "";
  } catch (e) {
    setStatus("Layers: " + e.message, "error");
  }
}

function methods() {
  const m = [...$("methods").querySelectorAll("input:checked")].map((i) => i.value);
  return m.length ? m : ["gradcam"];
}

async function explain() {
  if (!state.photo) return;
  const seq = ++state.seq;
  const fd = new FormData();
  fd.append("model", $("model").value);
  fd.append("methods", methods().join(","));
  if ($("layer").value) fd.append("layer", $("layer").value);
  fd.append("colormap", $("colormap").value);
  fd.append("pictures", "heatmap,photo");
  fd.append("size", "640");
  if (state.cls !== null) fd.append("class", String(state.cls));
  fd.append("image", state.photo, state.photo.name || "photo");
  const what = state.cls === null ? "the top class" : "class " + state.cls;
  setStatus("Explaining " + what + " with " + methods().join(", ") + "…", "busy");
  document.body.dataset.busy = "1";
  try {
    const resp = await api("/v1/explain", { method: "POST", body: fd });
    if (seq !== state.seq) return;
    state.result = resp;
    await show(resp);
    setStatus(resp.image.width + "×" + resp.image.height + " " + resp.image.format + " · " +
      Math.round(resp.took_ms) + " ms");
  } catch (e) {
    if (seq === state.seq) setStatus(e.message, "error");
  } finally {
    if (seq === state.seq) delete document.body.dataset.busy;
  }
}

function loadImage(b64) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("cannot show a picture"));
    img.src = "data:image/png;base64," + b64;
  });
}

async function show(resp) {
  const explained = resp.classes[0];
  const list = $("predictions");
  list.replaceChildren();
  $("predictions-title").hidden = false;
  for (const p of resp.predictions) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.class = p.class;
    b.setAttribute("aria-pressed", String(p.class === explained));
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = (100 * p.probability).toFixed(1) + "%";
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = p.label;
    const prob = document.createElement("span");
    prob.className = "prob";
    prob.textContent = (100 * p.probability).toFixed(1) + "%";
    b.append(bar, label, prob);
    b.addEventListener("click", () => { state.cls = p.class; explain(); });
    li.append(b);
    list.append(li);
  }
  const photo = await loadImage(resp.photo.png);
  const panels = [];
  for (const ex of resp.explanations) {
    const fig = document.createElement("figure");
    fig.className = "panel";
    fig.dataset.method = ex.method;
    fig.dataset.class = ex.class;
    const canvas = document.createElement("canvas");
    const pic = ex.heatmap || ex.overlay;
    canvas.width = ex.heatmap ? resp.width : pic.width;
    canvas.height = ex.heatmap ? resp.height : pic.height;
    const cap = document.createElement("figcaption");
    const m = document.createElement("b");
    m.textContent = ex.method;
    cap.append(m, " · " + ex.label + " (" + ex.class + ") · " + Math.round(ex.took_ms) + " ms");
    fig.append(canvas, cap);
    panels.push({ fig, canvas, photo, heat: await loadImage(pic.png), blend: !!ex.heatmap, ex });
  }
  $("panels").replaceChildren(...panels.map((p) => p.fig));
  state.panels = panels;
  blend();
  $("download").disabled = panels.length === 0;
  document.body.dataset.explained = String(explained);
}

// blend draws every panel: the photo, then the heatmap at the chosen
// opacity (the server's overlay formula, computed by the browser).
function blend() {
  const a = Number($("alpha").value);
  $("alpha-value").textContent = a.toFixed(2);
  for (const p of state.panels) {
    const ctx = p.canvas.getContext("2d");
    ctx.globalAlpha = 1;
    if (!p.blend) {
      ctx.drawImage(p.heat, 0, 0);
      continue;
    }
    ctx.drawImage(p.photo, 0, 0, p.canvas.width, p.canvas.height);
    ctx.globalAlpha = a;
    ctx.drawImage(p.heat, 0, 0, p.canvas.width, p.canvas.height);
    ctx.globalAlpha = 1;
  }
}

// download saves the panels side by side, captioned, as one PNG.
function download() {
  const panels = state.panels;
  if (!panels.length) return;
  const gap = 12, cap = 28;
  const w = panels.reduce((s, p) => s + p.canvas.width, 0) + gap * (panels.length + 1);
  const h = Math.max(...panels.map((p) => p.canvas.height)) + cap + 2 * gap;
  const fig = document.createElement("canvas");
  fig.width = w;
  fig.height = h;
  const ctx = fig.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, w, h);
  ctx.fillStyle = "#1d2330";
  ctx.font = "15px sans-serif";
  let x = gap;
  for (const p of panels) {
    ctx.drawImage(p.canvas, x, gap);
    ctx.fillText(p.ex.method + " · " + p.ex.label + " (" + p.ex.class + ")", x, gap + p.canvas.height + 20);
    x += p.canvas.width + gap;
  }
  const a = document.createElement("a");
  a.download = "gradcam-" + state.result.model + "-" + state.result.classes[0] + ".png";
  a.href = fig.toDataURL("image/png");
  document.body.append(a);
  a.click();
  a.remove();
}

function choose(file) {
  if (!file) return;
  state.photo = file;
  state.cls = null;
  const t = $("thumb");
  if (t.src) URL.revokeObjectURL(t.src);
  t.src = URL.createObjectURL(file);
  t.hidden = false;
  explain();
}

function init() {
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    choose(e.dataTransfer.files[0]);
  });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("file").click(); });
  $("file").addEventListener("change", (e) => choose(e.target.files[0]));
  $("model").addEventListener("change", async () => { state.cls = null; await loadLayers(); explain(); });
  $("layer").addEventListener("change", () => explain());
  $("colormap").addEventListener("change", () => explain());
  $("alpha").addEventListener("input", blend);
  $("download").addEventListener("click", download);
  loadModels().catch((e) => setStatus("Cannot list the models: " + e.message, "error"));
}

init();
