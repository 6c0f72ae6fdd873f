// pacslab slice viewer (anywidget ESM). Python sends raw slices; window/level, zoom, pan and drawing run here.
const PALETTE = [[0,0,0],[230,25,75],[60,180,75],[255,225,25],[0,130,200],[245,130,48],[145,30,180],[70,240,240],
  [240,50,230],[210,245,60],[250,190,212],[0,128,128],[220,190,255],[170,110,40],[255,250,200],[128,0,0]];
const NPOINTS = { point: 1, ruler: 2, angle: 3, rectangle: 2, ellipse: 2 };
const LABELS = { wl: "W/L", pan: "Pan", zoom: "Zoom", edit: "Edit", point: "Point", ruler: "Ruler", angle: "Angle",
  rectangle: "Rect", ellipse: "Ellipse", polygon: "Polygon", freehand: "Freehand" };

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function typed(view, dtype) {
  const buf = view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength);
  if (dtype === "int16") return new Int16Array(buf);
  if (dtype === "uint16") return new Uint16Array(buf);
  return new Float32Array(buf);
}

function render({ model, el: root }) {
  const stats = (window.__pacslab = window.__pacslab || { rendered: 0, firstImage: null, requests: 0 });
  root.classList.add("pacslab-viewer");
  const title = el("div", { class: "pl-title" });
  const bar = el("div", { class: "pl-toolbar" });
  const planeSel = el("select", { class: "pl-plane" });
  for (const p of ["axial", "coronal", "sagittal"]) planeSel.append(el("option", { value: p }, p));
  const presetSel = el("select", { class: "pl-preset" });
  const toolBox = el("span", { class: "pl-tools" });
  const slider = el("input", { type: "range", class: "pl-slider", min: "0", step: "1" });
  const opacity = el("input", { type: "range", class: "pl-opacity", min: "0", max: "1", step: "0.05", title: "label opacity" });
  const del = el("button", { class: "pl-delete", title: "delete selected annotation" }, "Delete");
  bar.append(planeSel, presetSel, toolBox, slider, opacity, del);
  const wrap = el("div", { class: "pl-canvas-wrap" });
  const canvas = el("canvas", { class: "pl-canvas", tabindex: "0", width: "512", height: "512" });
  const markers = {};
  for (const side of ["top", "bottom", "left", "right"]) { markers[side] = el("div", { class: `pl-marker pl-${side}` }); wrap.append(markers[side]); }
  wrap.prepend(canvas);
  const info = el("div", { class: "pl-info" });
  const readout = el("div", { class: "pl-readout" });
  const list = el("div", { class: "pl-annotations" });
  const error = el("div", { class: "pl-error" });
  root.append(title, bar, wrap, info, readout, error, list);

  const ctx = canvas.getContext("2d");
  const img = document.createElement("canvas");
  const imgCtx = img.getContext("2d");
  const lab = document.createElement("canvas");
  const labCtx = lab.getContext("2d");
  let current = null;      // {plane, index, data, labels, rows, cols}
  const cache = new Map(); // "plane:index" -> slice
  let inflight = 0, rid = 0;
  let zoom = 1, panX = 0, panY = 0;
  let drawing = null, selected = null, drag = null, lut = null, lutKey = "";

  const geo = () => model.get("geometry");
  function view() {
    const g = geo();
    const w = g.columns * g.column_spacing, h = g.rows * g.row_spacing;
    const ppm = Math.min(canvas.width / w, canvas.height / h) * zoom; // canvas px per mm
    const sx = ppm * g.column_spacing, sy = ppm * g.row_spacing;
    const ox = (canvas.width - g.columns * sx) / 2 + panX, oy = (canvas.height - g.rows * sy) / 2 + panY;
    return { sx, sy, ox, oy, ppm };
  }
  const toImage = (x, y) => { const v = view(); return [(x - v.ox) / v.sx - 0.5, (y - v.oy) / v.sy - 0.5]; };
  const toCanvas = (c, r) => { const v = view(); return [v.ox + (c + 0.5) * v.sx, v.oy + (r + 0.5) * v.sy]; };
  function eventPos(ev) {
    const r = canvas.getBoundingClientRect();
    return [(ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height];
  }

  // -- slices -----------------------------------------------------------------------------------
  function request(plane, index) {
    const key = `${plane}:${index}`;
    if (cache.has(key)) return;
    cache.set(key, null);
    inflight++; stats.requests++;
    model.send({ type: "request", plane, index, rid: ++rid });
  }
  function want() {
    const plane = model.get("plane"), index = model.get("index"), n = geo().n_slices;
    const hit = cache.get(`${plane}:${index}`);
    if (hit) { current = hit; paint(); } else request(plane, index);
    for (const d of [1, -1, 2, -2, 3]) {  // browser-side prefetch of neighbours
      const j = index + d;
      if (j >= 0 && j < n && inflight < 4) request(plane, j);
    }
  }
  model.on("msg:custom", (msg, buffers) => {
    if (msg.type === "reset") { cache.clear(); want(); return; }
    if (msg.type !== "slice") return;
    inflight = Math.max(0, inflight - 1);
    const s = { plane: msg.plane, index: msg.index, rows: msg.shape[0], cols: msg.shape[1], data: typed(buffers[0], msg.dtype),
      labels: msg.labels ? typed(buffers[1], "uint16") : null };
    cache.set(`${msg.plane}:${msg.index}`, s);
    if (cache.size > 160) { for (const k of cache.keys()) { if (cache.get(k)) { cache.delete(k); break; } } }
    if (msg.plane === model.get("plane") && msg.index === model.get("index")) { current = s; paint(); }
    want();
  });

  // -- painting ---------------------------------------------------------------------------------
  function windowed(s) {
    const c = model.get("window_center"), w = Math.max(model.get("window_width"), 1);
    const lo = c - 0.5 - (w - 1) / 2, scale = 255 / Math.max(w - 1, 1);
    if (img.width !== s.cols || img.height !== s.rows) { img.width = s.cols; img.height = s.rows; }
    const out = imgCtx.createImageData(s.cols, s.rows), px = out.data, d = s.data;
    if (d instanceof Int16Array) {
      const key = `${c}:${w}`;
      if (key !== lutKey) {
        lut = new Uint8ClampedArray(65536);
        for (let v = -32768; v < 32768; v++) lut[v + 32768] = (v - lo) * scale;
        lutKey = key;
      }
      for (let i = 0, j = 0; i < d.length; i++, j += 4) { const g = lut[d[i] + 32768]; px[j] = px[j + 1] = px[j + 2] = g; px[j + 3] = 255; }
    } else {
      for (let i = 0, j = 0; i < d.length; i++, j += 4) {
        const g = Math.max(0, Math.min(255, (d[i] - lo) * scale)); px[j] = px[j + 1] = px[j + 2] = g; px[j + 3] = 255;
      }
    }
    imgCtx.putImageData(out, 0, 0);
    if (s.labels) {
      if (lab.width !== s.cols || lab.height !== s.rows) { lab.width = s.cols; lab.height = s.rows; }
      const o = labCtx.createImageData(s.cols, s.rows), q = o.data, a = Math.round(255 * model.get("label_opacity"));
      for (let i = 0, j = 0; i < s.labels.length; i++, j += 4) {
        const v = s.labels[i];
        if (v) { const c3 = PALETTE[1 + ((v - 1) % (PALETTE.length - 1))]; q[j] = c3[0]; q[j + 1] = c3[1]; q[j + 2] = c3[2]; q[j + 3] = a; }
      }
      labCtx.putImageData(o, 0, 0);
    }
  }
  function paint() {
    if (!current) return;
    const rect = canvas.getBoundingClientRect();
    windowed(current);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    const v = view();
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img, v.ox, v.oy, current.cols * v.sx, current.rows * v.sy);
    if (current.labels && model.get("has_labels")) ctx.drawImage(lab, v.ox, v.oy, current.cols * v.sx, current.rows * v.sy);
    drawAnnotations();
    const g = geo();
    for (const side of ["top", "bottom", "left", "right"]) markers[side].textContent = g.orientation[side];
    info.textContent = `${g.plane} ${current.index + 1}/${g.n_slices}  W ${Math.round(model.get("window_width"))} L ${Math.round(model.get("window_center"))}  zoom ${zoom.toFixed(2)}`;
    slider.max = String(g.n_slices - 1); slider.value = String(model.get("index"));
    stats.rendered++;
    if (stats.firstImage === null) stats.firstImage = performance.now();
    root.dataset.rendered = String(stats.rendered);
    canvas.dataset.view = JSON.stringify({ ...v, index: current.index, plane: current.plane });
  }
  function shapePath(kind, pts) {
    const c = pts.map(([x, y]) => toCanvas(x, y));
    ctx.beginPath();
    if (kind === "rectangle" && c.length >= 2) { const [a, b] = [c[0], c[c.length - 1]]; ctx.rect(a[0], a[1], b[0] - a[0], b[1] - a[1]); }
    else if (kind === "ellipse" && c.length >= 2) {
      const [a, b] = [c[0], c[c.length - 1]];
      ctx.ellipse((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, Math.abs(b[0] - a[0]) / 2, Math.abs(b[1] - a[1]) / 2, 0, 0, 2 * Math.PI);
    } else if (kind === "point") { ctx.arc(c[0][0], c[0][1], 4, 0, 2 * Math.PI); }
    else { c.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y))); if (kind === "polygon" || kind === "freehand") ctx.closePath(); }
    return c;
  }
  function label(a) {
    const m = a.measurements || {};
    if (m.length_mm !== undefined) return `${m.length_mm.toFixed(1)} mm`;
    if (m.angle_deg !== undefined) return `${m.angle_deg.toFixed(1)}°`;
    if (m.area_mm2 !== undefined) return `${m.area_mm2.toFixed(0)} mm² μ ${(m.mean ?? NaN).toFixed(1)} σ ${(m.std ?? NaN).toFixed(1)}`;
    if (m.value !== undefined) return `${m.value.toFixed(1)}`;
    return a.kind;
  }
  function drawAnnotations() {
    ctx.lineWidth = 1.5; ctx.font = "12px sans-serif";
    for (const a of model.get("annotation_list")) {
      if (a.plane !== model.get("plane") || a.slice_index !== model.get("index")) continue;
      ctx.strokeStyle = ctx.fillStyle = a.id === selected ? "#ff0" : "#0f0";
      const c = shapePath(a.kind, a.display_points);
      ctx.stroke();
      ctx.fillText(label(a), c[c.length - 1][0] + 6, c[c.length - 1][1] - 6);
      if (a.id === selected) for (const [x, y] of c) ctx.fillRect(x - 3, y - 3, 6, 6);
    }
    if (drawing) { ctx.strokeStyle = "#0ff"; shapePath(drawing.kind, drawing.points); ctx.stroke(); }
  }

  // -- interaction ------------------------------------------------------------------------------
  function setIndex(i) {
    const n = geo().n_slices, j = Math.max(0, Math.min(n - 1, i));
    if (j !== model.get("index")) { model.set("index", j); model.save_changes(); }
  }
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    if (ev.ctrlKey) { zoom *= ev.deltaY < 0 ? 1.1 : 1 / 1.1; paint(); return; }
    setIndex(model.get("index") + (ev.deltaY > 0 ? 1 : -1));
  }, { passive: false });
  canvas.addEventListener("keydown", (ev) => {
    const step = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1, PageDown: 10, PageUp: -10 }[ev.key];
    if (step) { ev.preventDefault(); setIndex(model.get("index") + step); }
    if ((ev.key === "Delete" || ev.key === "Backspace") && selected !== null) { model.send({ type: "delete", id: selected }); selected = null; }
    if (ev.key === "Escape") { drawing = null; paint(); }
  });
  function finish() {
    if (!drawing) return;
    const pts = drawing.points.map(([x, y]) => [x, y]);
    model.send({ type: "annotate", kind: drawing.kind, points: pts, plane: model.get("plane"), index: model.get("index") });
    drawing = null; paint();
  }
  function nearestVertex(p) {
    let best = null, bestD = 8;
    for (const a of model.get("annotation_list")) {
      if (a.plane !== model.get("plane") || a.slice_index !== model.get("index")) continue;
      a.display_points.forEach((q, k) => {
        const c = toCanvas(q[0], q[1]), d = Math.hypot(c[0] - p[0], c[1] - p[1]);
        if (d < bestD) { bestD = d; best = { a, k }; }
      });
    }
    return best;
  }
  canvas.addEventListener("mousedown", (ev) => {
    canvas.focus();
    const p = eventPos(ev), tool = model.get("tool"), ip = toImage(...p);
    if (ev.button === 1 || tool === "pan") { drag = { mode: "pan", p, panX, panY }; return; }
    if (tool === "zoom") { drag = { mode: "zoom", p, zoom }; return; }
    if (tool === "wl") { drag = { mode: "wl", p, c: model.get("window_center"), w: model.get("window_width") }; return; }
    if (tool === "edit") {
      const hit = nearestVertex(p);
      selected = hit ? hit.a.id : null;
      if (hit) drag = { mode: "edit", a: hit.a, k: hit.k, points: hit.a.display_points.map((q) => q.slice()) };
      paint(); return;
    }
    if (tool === "polygon" || tool === "angle") {
      if (!drawing) drawing = { kind: tool, points: [ip, ip.slice()] }; else drawing.points.push(ip.slice());
      if (tool === "angle" && drawing.points.length > 3) { drawing.points.pop(); finish(); }
      paint(); return;
    }
    drawing = { kind: tool, points: tool === "point" ? [ip] : [ip, ip.slice()] };
    if (tool === "point") finish(); else drag = { mode: "draw" };
  });
  canvas.addEventListener("dblclick", () => { if (drawing && drawing.kind === "polygon") { drawing.points.pop(); finish(); } });
  window.addEventListener("mousemove", (ev) => {
    const p = eventPos(ev);
    if (ev.target === canvas) readoutAt(p);
    if (drawing && !drag && (drawing.kind === "polygon" || drawing.kind === "angle")) { drawing.points[drawing.points.length - 1] = toImage(...p); paint(); return; }
    if (!drag) return;
    const dx = p[0] - (drag.p ? drag.p[0] : 0), dy = p[1] - (drag.p ? drag.p[1] : 0);
    if (drag.mode === "pan") { panX = drag.panX + dx; panY = drag.panY + dy; paint(); }
    else if (drag.mode === "zoom") { zoom = Math.max(0.1, drag.zoom * Math.exp(-dy / 200)); paint(); }
    else if (drag.mode === "wl") {
      model.set("window_width", Math.max(1, drag.w + dx * 4)); model.set("window_center", drag.c + dy * 2);
      model.save_changes(); paint();
    } else if (drag.mode === "draw") {
      if (drawing.kind === "freehand") drawing.points.push(toImage(...p)); else drawing.points[drawing.points.length - 1] = toImage(...p);
      paint();
    } else if (drag.mode === "edit") { drag.a.display_points[drag.k] = toImage(...p); paint(); }
  });
  window.addEventListener("mouseup", () => {
    if (!drag) return;
    const d = drag; drag = null;
    if (d.mode === "draw") finish();
    if (d.mode === "edit") model.send({ type: "move", id: d.a.id, points: d.a.display_points });
  });
  function readoutAt(p) {
    if (!current) return;
    const [c, r] = toImage(...p), ci = Math.round(c), ri = Math.round(r), g = geo();
    if (ci < 0 || ri < 0 || ci >= current.cols || ri >= current.rows) { readout.textContent = ""; return; }
    const row = g.flip_rows ? g.rows - 1 - ri : ri, k = current.index;
    const kji = { axial: [k, row, ci], coronal: [row, k, ci], sagittal: [row, ci, k] }[g.plane];
    const A = g.affine, ijk = [kji[2], kji[1], kji[0], 1];
    const mm = [0, 1, 2].map((a) => A[a][0] * ijk[0] + A[a][1] * ijk[1] + A[a][2] * ijk[2] + A[a][3]);
    const value = current.data[ri * current.cols + ci];
    readout.textContent = `voxel (z ${kji[0]}, y ${kji[1]}, x ${kji[2]})  patient (${mm.map((m) => m.toFixed(1)).join(", ")}) mm  value ${Number(value).toFixed(1)} ${model.get("units")}`;
  }
  slider.addEventListener("input", () => setIndex(Number(slider.value)));
  opacity.value = String(model.get("label_opacity"));
  opacity.addEventListener("input", () => { model.set("label_opacity", Number(opacity.value)); model.save_changes(); paint(); });
  del.addEventListener("click", () => { if (selected !== null) { model.send({ type: "delete", id: selected }); selected = null; } });
  planeSel.addEventListener("change", () => { model.set("plane", planeSel.value); model.save_changes(); });
  presetSel.addEventListener("change", () => {
    const p = model.get("presets")[Number(presetSel.value)];
    if (p) { model.set("window_center", p.center); model.set("window_width", p.width); model.save_changes(); paint(); }
  });
  function drawControls() {
    title.textContent = model.get("title");
    planeSel.value = model.get("plane");
    presetSel.replaceChildren(el("option", { value: "" }, "presets"));
    model.get("presets").forEach((p, i) => presetSel.append(el("option", { value: String(i) }, `${p.name} (${p.center}/${p.width})`)));
    toolBox.replaceChildren();
    for (const t of model.get("tools")) {
      const b = el("button", { class: "pl-tool", "data-tool": t }, LABELS[t] || t);
      if (t === model.get("tool")) b.classList.add("pl-active");
      b.addEventListener("click", () => { drawing = null; model.set("tool", t); model.save_changes(); });
      toolBox.append(b);
    }
    opacity.style.display = model.get("has_labels") ? "" : "none";
    list.replaceChildren(...model.get("annotation_list").map((a) => el("div", { class: "pl-annotation", "data-id": String(a.id) },
      `#${a.id} ${a.kind} ${a.plane} ${a.slice_index + 1}: ${label(a)}`)));
  }
  model.on("change:tool", drawControls);
  model.on("change:presets", drawControls);
  model.on("change:has_labels", () => { drawControls(); paint(); });
  model.on("change:annotation_list", () => { drawControls(); paint(); });
  model.on("change:index", want);
  model.on("change:plane", () => { zoom = 1; panX = panY = 0; planeSel.value = model.get("plane"); });
  model.on("change:geometry", want);
  model.on("change:window_center", paint);
  model.on("change:window_width", paint);
  model.on("change:error", () => { error.textContent = model.get("error"); });
  drawControls();
  want();
}

export default { render };
