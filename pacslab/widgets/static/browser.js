// pacslab study browser (anywidget ESM). State lives in the model; Python runs the queries.
const FIELDS = [
  ["PatientName", "Patient name"], ["PatientID", "Patient ID"], ["date_from", "From (YYYYMMDD)"],
  ["date_to", "To"], ["Modality", "Modality"], ["StudyDescription", "Description"],
  ["AccessionNumber", "Accession"], ["attribute", "Keyword=value"],
];
const COLUMNS = ["PatientName", "PatientID", "StudyDate", "ModalitiesInStudy", "StudyDescription", "AccessionNumber", "NumberOfStudyRelatedSeries"];

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function render({ model, el: root }) {
  root.classList.add("pacslab-browser");
  const form = el("form", { class: "pl-form" });
  const inputs = {};
  for (const [key, label] of FIELDS) {
    const input = el("input", { name: key, placeholder: label, title: label });
    input.value = (model.get("form") || {})[key] || "";
    inputs[key] = input;
    form.append(input);
  }
  form.append(el("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = {};
    for (const [k, i] of Object.entries(inputs)) if (i.value.trim()) f[k] = i.value.trim();
    model.set("form", f);
    model.save_changes();
  });
  const error = el("div", { class: "pl-error" });
  const table = el("table", { class: "pl-studies" });
  const pager = el("div", { class: "pl-pager" });
  const seriesBox = el("div", { class: "pl-series" });
  root.append(form, error, table, pager, seriesBox);

  function drawTable() {
    table.replaceChildren();
    const sortable = model.get("sortable");
    const head = el("tr");
    for (const c of COLUMNS) {
      const mark = model.get("sort_by") === c ? (model.get("ascending") ? " ▲" : " ▼") : "";
      const th = el("th", {}, c.replace("NumberOfStudyRelated", "#") + mark);
      if (sortable.includes(c)) {
        th.classList.add("pl-sortable");
        th.addEventListener("click", () => {
          if (model.get("sort_by") === c) model.set("ascending", !model.get("ascending"));
          else model.set("sort_by", c);
          model.save_changes();
        });
      }
      head.append(th);
    }
    table.append(head);
    for (const row of model.get("rows")) {
      const tr = el("tr", { class: "pl-study", "data-uid": row.StudyInstanceUID });
      if (row.StudyInstanceUID === model.get("expanded")) tr.classList.add("pl-active");
      for (const c of COLUMNS) tr.append(el("td", {}, String(row[c] ?? "")));
      tr.addEventListener("click", () => {
        model.set("expanded", model.get("expanded") === row.StudyInstanceUID ? "" : row.StudyInstanceUID);
        model.save_changes();
      });
      table.append(tr);
    }
    const page = model.get("page"), size = model.get("page_size"), total = model.get("total");
    const last = Math.max(0, Math.ceil(total / size) - 1);
    const prev = el("button", { onclick: () => { model.set("page", Math.max(0, page - 1)); model.save_changes(); } }, "‹");
    const next = el("button", { onclick: () => { model.set("page", Math.min(last, page + 1)); model.save_changes(); } }, "›");
    prev.disabled = page <= 0; next.disabled = page >= last;
    pager.replaceChildren(prev, ` ${total ? page * size + 1 : 0}–${Math.min(total, (page + 1) * size)} of ${total} `, next);
  }
  function drawSeries() {
    seriesBox.replaceChildren();
    const sel = (model.get("selected") || {}).SeriesInstanceUID;
    for (const s of model.get("series")) {
      const card = el("div", { class: "pl-card", "data-uid": s.SeriesInstanceUID });
      if (s.SeriesInstanceUID === sel) card.classList.add("pl-active");
      if (s.thumbnail) card.append(el("img", { src: s.thumbnail, alt: "thumbnail" }));
      card.append(el("div", {}, `${s.SeriesNumber ?? ""} ${s.Modality ?? ""} ${s.SeriesDescription ?? ""}`),
        el("div", { class: "pl-small" }, `${s.NumberOfSeriesRelatedInstances ?? ""} images`));
      card.addEventListener("click", () => {
        const { thumbnail, ...rest } = s;
        model.set("selected", { StudyInstanceUID: model.get("expanded"), ...rest });
        model.save_changes();
      });
      seriesBox.append(card);
    }
  }
  drawTable(); drawSeries();
  error.textContent = model.get("error");
  model.on("change:rows", drawTable);
  model.on("change:total", drawTable);
  model.on("change:expanded", drawTable);
  model.on("change:sort_by", drawTable);
  model.on("change:ascending", drawTable);
  model.on("change:series", drawSeries);
  model.on("change:selected", drawSeries);
  model.on("change:error", () => { error.textContent = model.get("error"); });
}

export default { render };
