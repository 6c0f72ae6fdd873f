// pacslab 3-D view on vtk.js (anywidget ESM): volume rendering + three orthogonal slices, labels in colour.
// Bundled with esbuild into ../static/vtk3d.js (`npm install && npm run build`); nothing loads at run time.
import "@kitware/vtk.js/Rendering/Profiles/Volume";
import "@kitware/vtk.js/Rendering/Profiles/Geometry";
import vtkGenericRenderWindow from "@kitware/vtk.js/Rendering/Misc/GenericRenderWindow";
import vtkImageData from "@kitware/vtk.js/Common/DataModel/ImageData";
import vtkDataArray from "@kitware/vtk.js/Common/Core/DataArray";
import vtkVolume from "@kitware/vtk.js/Rendering/Core/Volume";
import vtkVolumeMapper from "@kitware/vtk.js/Rendering/Core/VolumeMapper";
import vtkColorTransferFunction from "@kitware/vtk.js/Rendering/Core/ColorTransferFunction";
import vtkPiecewiseFunction from "@kitware/vtk.js/Common/DataModel/PiecewiseFunction";
import vtkImageMapper from "@kitware/vtk.js/Rendering/Core/ImageMapper";
import vtkImageSlice from "@kitware/vtk.js/Rendering/Core/ImageSlice";

const PALETTE = [[0.9, 0.1, 0.3], [0.24, 0.7, 0.3], [1, 0.88, 0.1], [0, 0.5, 0.78], [0.96, 0.5, 0.19], [0.57, 0.12, 0.7]];

function bytesOf(v) {
  if (v instanceof DataView) return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return v || new Uint8Array(0);
}

function imageOf(bytes, shape, spacing) {
  const [nz, ny, nx] = shape, [dz, dy, dx] = spacing;
  const image = vtkImageData.newInstance();
  image.setDimensions(nx, ny, nz);
  image.setSpacing(dx, dy, dz);
  image.getPointData().setScalars(vtkDataArray.newInstance({ numberOfComponents: 1, values: bytes, name: "scalars" }));
  return image;
}

function render({ model, el }) {
  el.classList.add("pacslab-view3d", "pacslab-vtk");
  const title = document.createElement("div");
  title.textContent = model.get("title");
  const container = document.createElement("div");
  container.className = "pl-vtk-view";
  container.style.width = "384px";
  container.style.height = "384px";
  const rotate = document.createElement("button");
  rotate.textContent = "rotate";
  el.append(title, container, rotate);

  const grw = vtkGenericRenderWindow.newInstance({ background: [0, 0, 0] });
  grw.setContainer(container);
  grw.resize();
  const renderer = grw.getRenderer();
  const rw = grw.getRenderWindow();
  const shape = model.get("shape"), spacing = model.get("spacing");
  const image = imageOf(bytesOf(model.get("data")), shape, spacing);

  const mapper = vtkVolumeMapper.newInstance();
  mapper.setInputData(image);
  mapper.setSampleDistance(0.7 * Math.min(...spacing));
  const volume = vtkVolume.newInstance();
  volume.setMapper(mapper);
  const ctf = vtkColorTransferFunction.newInstance();
  const opacity = vtkPiecewiseFunction.newInstance();
  volume.getProperty().setRGBTransferFunction(0, ctf);
  volume.getProperty().setScalarOpacity(0, opacity);
  volume.getProperty().setInterpolationTypeToLinear();
  renderer.addVolume(volume);

  const slices = [0, 1, 2].map((mode) => {
    const m = vtkImageMapper.newInstance();
    m.setInputData(image);
    m.setSlicingMode(mode); // I (sagittal), J (coronal), K (axial)
    m.setSlice(Math.floor(shape[2 - mode] / 2));
    const a = vtkImageSlice.newInstance();
    a.setMapper(m);
    renderer.addActor(a);
    return a;
  });

  const labelBytes = bytesOf(model.get("labels"));
  if (labelBytes.length) {
    const lm = vtkVolumeMapper.newInstance();
    lm.setInputData(imageOf(labelBytes, shape, spacing));
    const lv = vtkVolume.newInstance();
    lv.setMapper(lm);
    const lc = vtkColorTransferFunction.newInstance(), lo = vtkPiecewiseFunction.newInstance();
    lc.addRGBPoint(0, 0, 0, 0);
    lo.addPoint(0, 0);
    for (let v = 1; v < 256; v++) { const c = PALETTE[(v - 1) % PALETTE.length]; lc.addRGBPoint(v, ...c); lo.addPoint(v, 0.6); }
    lv.getProperty().setRGBTransferFunction(0, lc);
    lv.getProperty().setScalarOpacity(0, lo);
    lv.getProperty().setInterpolationTypeToNearest();
    renderer.addVolume(lv);
  }

  function windowBytes() {
    const [vmin, vmax] = model.get("value_range"), c = model.get("window_center"), w = Math.max(model.get("window_width"), 1e-6);
    const scale = 255 / Math.max(vmax - vmin, 1e-9);
    return [(c - w / 2 - vmin) * scale, (c + w / 2 - vmin) * scale];
  }
  function applyWindow() {
    const [lo, hi] = windowBytes();
    ctf.removeAllPoints();
    ctf.addRGBPoint(lo, 0, 0, 0);
    ctf.addRGBPoint(hi, 1, 1, 1);
    opacity.removeAllPoints();
    opacity.addPoint(Math.min(lo, 0), 0);
    opacity.addPoint(lo, 0);
    opacity.addPoint(hi, 0.5);
    opacity.addPoint(Math.max(hi, 255), 0.7);
    for (const s of slices) { s.getProperty().setColorWindow(hi - lo); s.getProperty().setColorLevel((hi + lo) / 2); }
    rw.render();
  }

  const camera = renderer.getActiveCamera();
  const [nz, ny, nx] = shape, [dz, dy, dx] = spacing;
  const center = [(nx * dx) / 2, (ny * dy) / 2, (nz * dz) / 2];
  camera.setFocalPoint(...center);
  camera.setPosition(center[0], center[1] - 1000, center[2]); // from the front (anterior is -y in LPS)
  camera.setViewUp(0, 0, 1);
  renderer.resetCamera();
  camera.azimuth(model.get("yaw"));
  camera.elevation(-model.get("pitch"));
  renderer.resetCameraClippingRange();
  applyWindow();
  el.dataset.rendered = "1";

  let timer = null;
  function spin() {
    if (timer) { clearInterval(timer); timer = null; }
    if (model.get("rotate")) timer = setInterval(() => { camera.azimuth(4); renderer.resetCameraClippingRange(); rw.render(); }, 80);
  }
  rotate.addEventListener("click", () => { model.set("rotate", !model.get("rotate")); model.save_changes(); });
  model.on("change:rotate", spin);
  model.on("change:window_center", applyWindow);
  model.on("change:window_width", applyWindow);
  spin();
  const observer = new ResizeObserver(() => { grw.resize(); rw.render(); });
  observer.observe(container);
  return () => { if (timer) clearInterval(timer); observer.disconnect(); grw.delete(); };
}

export default { render };
