// pacslab 3-D fallback (anywidget ESM): CPU maximum intensity projection of a small volume + orthogonal slices.
const PALETTE = [[230,25,75],[60,180,75],[255,225,25],[0,130,200],[245,130,48],[145,30,180],[70,240,240],[240,50,230]];

function bytesOf(v) {
  if (v instanceof DataView) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return v || new Uint8Array(0);
}

function render({ model, el: root }) {
  root.classList.add("pacslab-view3d");
  const title = document.createElement("div");
  const mip = document.createElement("canvas"); mip.width = mip.height = 192; mip.className = "pl-mip";
  const slices = document.createElement("canvas"); slices.width = 384; slices.height = 128; slices.className = "pl-ortho";
  slices.style.width = "384px"; slices.style.height = "128px";
  const rotate = document.createElement("button"); rotate.textContent = "rotate";
  root.append(title, mip, document.createElement("br"), slices, rotate);
  const ctx = mip.getContext("2d"), sctx = slices.getContext("2d");
  let timer = null;

  function lut() {
    const [lo, hi] = model.get("value_range"), c = model.get("window_center"), w = Math.max(model.get("window_width"), 1e-6);
    const out = new Uint8ClampedArray(256);
    for (let v = 0; v < 256; v++) { const x = lo + (v / 255) * (hi - lo); out[v] = ((x - (c - w / 2)) / w) * 255; }
    return out;
  }
  function draw() {
    const [nz, ny, nx] = model.get("shape"), [dz, dy, dx] = model.get("spacing");
    const vol = bytesOf(model.get("data")), lab = bytesOf(model.get("labels"));
    if (!vol.length) return;
    title.textContent = model.get("title");
    const L = lut(), N = mip.width, img = ctx.createImageData(N, N), px = img.data;
    const ext = [nx * dx, ny * dy, nz * dz], R = 0.5 * Math.hypot(...ext);
    const yaw = (model.get("yaw") * Math.PI) / 180, pitch = (model.get("pitch") * Math.PI) / 180;
    const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
    // screen u (right), v (down), w (depth) in volume mm: rotation about z (yaw) then about x (pitch)
    const U = [cy, sy, 0], V = [-sy * sp, cy * sp, -cp], W = [-sy * cp, cy * cp, sp];
    const steps = Math.min(512, Math.ceil((2 * R) / Math.min(dx, dy, dz)));
    for (let j = 0; j < N; j++) for (let i = 0; i < N; i++) {
      const u = ((i + 0.5) / N - 0.5) * 2 * R, v = ((j + 0.5) / N - 0.5) * 2 * R;
      let best = 0, bestLab = 0;
      for (let s = 0; s < steps; s++) {
        const w = ((s + 0.5) / steps - 0.5) * 2 * R;
        const x = (U[0] * u + V[0] * v + W[0] * w + ext[0] / 2) / dx, y = (U[1] * u + V[1] * v + W[1] * w + ext[1] / 2) / dy,
          z = (U[2] * u + V[2] * v + W[2] * w + ext[2] / 2) / dz;
        const xi = x | 0, yi = y | 0, zi = z | 0;
        if (x < 0 || y < 0 || z < 0 || xi >= nx || yi >= ny || zi >= nz) continue;
        const k = (zi * ny + yi) * nx + xi, val = vol[k];
        if (val > best) best = val;
        if (lab.length && lab[k] && !bestLab) bestLab = lab[k];
      }
      const o = (j * N + i) * 4, g = L[best];
      if (bestLab) { const c = PALETTE[(bestLab - 1) % PALETTE.length]; px[o] = (g + c[0]) / 2; px[o + 1] = (g + c[1]) / 2; px[o + 2] = (g + c[2]) / 2; }
      else { px[o] = px[o + 1] = px[o + 2] = g; }
      px[o + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    // orthogonal centre slices: axial, coronal, sagittal
    const views = [[nx, ny, (a, b) => (((nz >> 1) * ny + b) * nx + a)], [nx, nz, (a, b) => (((nz - 1 - b) * ny + (ny >> 1)) * nx + a)],
      [ny, nz, (a, b) => (((nz - 1 - b) * ny + a) * nx + (nx >> 1))]];
    sctx.fillStyle = "#000"; sctx.fillRect(0, 0, slices.width, slices.height);
    views.forEach(([w, h, idx], n) => {
      const c = document.createElement("canvas"); c.width = w; c.height = h;
      const cc = c.getContext("2d"), im = cc.createImageData(w, h);
      for (let b = 0; b < h; b++) for (let a = 0; a < w; a++) {
        const k = idx(a, b), o = (b * w + a) * 4, g = L[vol[k]];
        im.data[o] = im.data[o + 1] = im.data[o + 2] = g; im.data[o + 3] = 255;
        if (lab.length && lab[k]) { const col = PALETTE[(lab[k] - 1) % PALETTE.length]; im.data[o] = col[0]; im.data[o + 1] = col[1]; im.data[o + 2] = col[2]; }
      }
      cc.putImageData(im, 0, 0);
      sctx.imageSmoothingEnabled = false;
      sctx.drawImage(c, n * 128, 0, 128, 128);
    });
    root.dataset.rendered = String((Number(root.dataset.rendered) || 0) + 1);
  }
  let dragging = null;
  mip.addEventListener("mousedown", (e) => { dragging = [e.clientX, e.clientY, model.get("yaw"), model.get("pitch")]; });
  window.addEventListener("mouseup", () => { if (dragging) { dragging = null; model.save_changes(); } });
  window.addEventListener("mousemove", (e) => {
    if (!dragging) return;
    model.set("yaw", dragging[2] + (e.clientX - dragging[0])); model.set("pitch", dragging[3] + (e.clientY - dragging[1])); draw();
  });
  rotate.addEventListener("click", () => { model.set("rotate", !model.get("rotate")); model.save_changes(); });
  function spin() {
    if (timer) { clearInterval(timer); timer = null; }
    if (model.get("rotate")) timer = setInterval(() => { model.set("yaw", (model.get("yaw") + 5) % 360); draw(); }, 150);
  }
  for (const k of ["data", "labels", "yaw", "pitch", "window_center", "window_width"]) model.on(`change:${k}`, draw);
  model.on("change:rotate", spin);
  draw(); spin();
  return () => { if (timer) clearInterval(timer); };
}

export default { render };
