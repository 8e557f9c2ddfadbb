// The source page's light curve: uPlot on /products/lightcurves/{id}?format=json, with band
// and binning switches, zoom (drag) and pan (buttons), error bars, upper limits as arrows, a
// text summary and a table view; a dragged time range fills the raw-data form, which lists
// the science windows of that range from the raw service's manifest.
import uPlot from "uplot";
import { el, errorText, humanSize, isoUTC, mjdTTtoUnix } from "./util.js";

const TABLE_ROWS = 2000;
const COLOURS = { point: "#1d4f91", limit: "#a3341f", err: "#4a6fa5" };

function drawMarks(u, state) {
  const { ctx } = u;
  const [xs, rates, limits] = u.data;
  const lo = u.scales.x.min;
  const hi = u.scales.x.max;
  const px = devicePixelRatio || 1;
  ctx.save();
  ctx.lineWidth = 1.2 * px;
  for (let i = 0; i < xs.length; i++) {
    if (xs[i] < lo || xs[i] > hi) continue;
    const x = u.valToPos(xs[i], "x", true);
    if (rates[i] !== null) {
      const err = state.errors[i] || 0;
      ctx.strokeStyle = COLOURS.err;
      ctx.beginPath();
      ctx.moveTo(x, u.valToPos(rates[i] - err, "y", true));
      ctx.lineTo(x, u.valToPos(rates[i] + err, "y", true));
      ctx.stroke();
    } else if (limits[i] !== null) {
      // A 3-sigma upper limit: a bar at the limit and an arrow pointing down from it.
      const y = u.valToPos(limits[i], "y", true);
      const len = 14 * px;
      const head = 4 * px;
      ctx.strokeStyle = COLOURS.limit;
      ctx.beginPath();
      ctx.moveTo(x - head, y);
      ctx.lineTo(x + head, y);
      ctx.moveTo(x, y);
      ctx.lineTo(x, y + len);
      ctx.moveTo(x - head, y + len - head);
      ctx.lineTo(x, y + len);
      ctx.lineTo(x + head, y + len - head);
      ctx.stroke();
    }
  }
  ctx.restore();
}

function columnIndex(columns) {
  const index = {};
  columns.forEach((c, i) => { index[c.name] = i; });
  return index;
}

export function initLightCurve() {
  const form = document.querySelector("form[data-lc-form]");
  const target = document.querySelector("#lc-plot");
  if (!form || !target) return;
  const article = form.closest("[data-source-id]");
  const sourceId = article.dataset.sourceId;
  const binningSet = form.querySelectorAll("fieldset")[1];
  const tools = document.querySelector("[data-lc-tools]");
  const summary = document.querySelector("#lc-summary");
  const tableBox = document.querySelector("#lc-table");
  const rawForm = document.querySelector("form[data-raw-form]");
  const rawResult = document.querySelector("#raw-result");
  const state = { errors: [], plot: null, full: null, request: 0 };
  tools.hidden = false;

  function current() {
    const choice = form.querySelector("input[name=choice]:checked");
    const binning = form.querySelector("input[name=binning]:checked");
    return {
      instrument: choice.dataset.instrument,
      band: choice.dataset.band,
      binning: binning ? binning.value : "scw",
      label: choice.parentElement.textContent.trim().split(" (")[0],
    };
  }

  function url(sel, format) {
    const params = new URLSearchParams({ instrument: sel.instrument, format });
    if (sel.instrument !== "OMC") params.set("band", sel.band);
    if (sel.binning !== "scw") params.set("binning", sel.binning);
    return `/products/lightcurves/${encodeURIComponent(sourceId)}?${params}`;
  }

  function rebuildBinnings() {
    const choice = form.querySelector("input[name=choice]:checked");
    const options = JSON.parse(choice.dataset.binnings);
    const was = form.querySelector("input[name=binning]:checked")?.value;
    const keep = options.some((o) => o.value === was) ? was : options[0].value;
    binningSet.querySelectorAll("label").forEach((l) => l.remove());
    for (const o of options) {
      binningSet.append(el("label", {}, el("input", { type: "radio", name: "binning", value: o.value, checked: o.value === keep }), ` ${o.label}`));
    }
  }

  function makePlot(xs, rates, limits, sel) {
    const width = Math.max(280, target.clientWidth || 600);
    const opts = {
      width,
      height: width < 500 ? 260 : 340,
      // Magnitudes grow downwards: brighter is up.
      scales: { x: { time: true }, y: { auto: true, dir: sel.instrument === "OMC" ? -1 : 1 } },
      legend: { show: true, live: false },
      cursor: { drag: { x: true, y: false, setScale: true } },
      series: [
        { label: "time (UTC)" },
        { label: sel.instrument === "OMC" ? "V magnitude" : `rate (ct/s), ${sel.label}`, stroke: COLOURS.point, width: 0, paths: () => null, points: { show: true, size: 6, fill: COLOURS.point, stroke: COLOURS.point } },
        { label: "3σ upper limit", stroke: COLOURS.limit, width: 0, paths: () => null, points: { show: false } },
      ],
      axes: [{}, { label: sel.instrument === "OMC" ? "V magnitude" : "count rate (ct/s)" }],
      hooks: {
        draw: [(u) => drawMarks(u, state)],
        setSelect: [(u) => {
          if (u.select.width < 2) return;
          const t0 = u.posToVal(u.select.left, "x");
          const t1 = u.posToVal(u.select.left + u.select.width, "x");
          selectRange(t0, t1);
        }],
      },
    };
    state.plot?.destroy();
    target.replaceChildren();
    state.plot = new uPlot(opts, [xs, rates, limits], target);
  }

  function describe(rows, ix, sel) {
    const n = rows.length;
    if (!n) return `${sel.label}, ${sel.binning} bins: no points.`;
    const det = rows.filter((r) => !r[ix.upper_limit]);
    const value = ix.magnitude ?? ix.rate;
    const mean = det.length ? det.reduce((s, r) => s + r[value], 0) / det.length : null;
    if (ix.magnitude !== undefined) {
      return `${sel.label}: ${n} science windows; mean V magnitude ${mean.toFixed(2)}.`;
    }
    const first = isoUTC(mjdTTtoUnix(rows[0][ix.time_mjd])).slice(0, 10);
    const last = isoUTC(mjdTTtoUnix(rows[n - 1][ix.time_mjd])).slice(0, 10);
    return `${sel.label}, binning ${sel.binning}: ${n} bins from ${first} to ${last}; ` +
      `${det.length} detections and ${n - det.length} upper limits` +
      (mean !== null ? `; mean detected rate ${mean.toPrecision(3)} ct/s.` : ".");
  }

  function fillTable(rows, ix) {
    const body = el("tbody");
    for (const r of rows.slice(0, TABLE_ROWS)) {
      const ul = r[ix.upper_limit];
      const omc = ix.magnitude !== undefined;
      body.append(el("tr", {},
        el("td", {}, isoUTC(mjdTTtoUnix(r[ix.time_mjd]))),
        el("td", { class: "n" }, omc ? "ScW" : Number(r[ix.timedel]).toFixed(0)),
        el("td", { class: "n" }, omc ? `V = ${Number(r[ix.magnitude]).toFixed(3)} ± ${Number(r[ix.magnitude_err]).toFixed(3)}`
          : ul ? `< ${Number(r[ix.rate_ul]).toPrecision(3)}` : `${Number(r[ix.rate]).toPrecision(4)} ± ${Number(r[ix.rate_err]).toPrecision(2)}`),
        el("td", { class: "n" }, r[ix.exposure] === null ? "–" : Number(r[ix.exposure]).toFixed(0)),
      ));
    }
    const table = el("table", { class: "data" },
      el("caption", {}, rows.length > TABLE_ROWS ? `First ${TABLE_ROWS} of ${rows.length} bins (download the file for all)` : `${rows.length} bins`),
      el("thead", {}, el("tr", {},
        el("th", { scope: "col" }, "Bin centre (UTC)"), el("th", { scope: "col", class: "n" }, "Width (s)"),
        el("th", { scope: "col", class: "n" }, ix.magnitude !== undefined ? "Magnitude" : "Rate (ct/s)"), el("th", { scope: "col", class: "n" }, "Exposure (s)"))),
      body);
    tableBox.replaceChildren(table);
  }

  async function draw() {
    const sel = current();
    const ticket = ++state.request;
    for (const link of document.querySelectorAll("a[data-lc-link]")) link.href = url(sel, link.dataset.lcLink);
    form.querySelector("input[name=instrument]").value = sel.instrument;
    form.querySelector("input[name=band]").value = sel.band;
    rawForm.querySelector("[data-raw-instrument]").value = sel.instrument === "JEM-X" ? "jemx" : "isgri";
    target.setAttribute("aria-busy", "true");
    summary.textContent = `Loading ${sel.label} …`;
    let response;
    try {
      response = await fetch(url(sel, "json"));
    } catch (err) {
      summary.textContent = `${sel.label}: the archive did not answer (${err.message}).`;
      return;
    }
    if (ticket !== state.request) return;
    target.removeAttribute("aria-busy");
    if (!response.ok) {
      const message = await errorText(response);
      summary.textContent = `${sel.label}, binning ${sel.binning}: ${message}`;
      state.plot?.destroy();
      state.plot = null;
      target.dataset.points = "0";
      target.replaceChildren(el("p", { class: "plot-message" }, message));
      return;
    }
    const data = await response.json();
    const ix = columnIndex(data.columns);
    const rows = data.data.slice().sort((a, b) => a[ix.time_mjd] - b[ix.time_mjd]);
    const isOmc = sel.instrument === "OMC";
    const xs = rows.map((r) => mjdTTtoUnix(r[ix.time_mjd]));
    const rate = isOmc ? ix.magnitude ?? ix.rate : ix.rate;
    const rates = rows.map((r) => (r[ix.upper_limit] ? null : r[rate]));
    const limits = rows.map((r) => (r[ix.upper_limit] ? r[ix.rate_ul] : null));
    state.errors = rows.map((r) => (r[ix.upper_limit] ? 0 : r[isOmc ? ix.magnitude_err ?? ix.rate_err : ix.rate_err] || 0));
    state.full = xs.length ? [xs[0] - 86400, xs[xs.length - 1] + 86400] : null;
    makePlot(xs, rates, limits, sel);
    target.dataset.points = String(rows.length);
    target.dataset.binning = sel.binning;
    target.dataset.band = sel.band;
    summary.textContent = describe(rows, ix, sel);
    fillTable(rows, ix);
  }

  function zoom(factor) {
    const u = state.plot;
    if (!u) return;
    const { min, max } = u.scales.x;
    const mid = (min + max) / 2;
    const half = ((max - min) / 2) * factor;
    u.setScale("x", { min: mid - half, max: mid + half });
  }

  function pan(direction) {
    const u = state.plot;
    if (!u) return;
    const { min, max } = u.scales.x;
    const step = (max - min) * 0.5 * direction;
    u.setScale("x", { min: min + step, max: max + step });
  }

  tools.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.dataset.zoom === "out") zoom(2);
    else if (button.dataset.zoom === "reset" && state.full) state.plot?.setScale("x", { min: state.full[0], max: state.full[1] });
    else if (button.dataset.pan) pan(Number(button.dataset.pan));
  });

  form.addEventListener("change", (event) => {
    if (event.target.name === "choice") rebuildBinnings();
    draw();
  });

  // --- from the plot to the raw data ---

  function selectRange(t0, t1) {
    rawForm.querySelector("[data-raw-start]").value = isoUTC(t0);
    rawForm.querySelector("[data-raw-end]").value = isoUTC(t1);
    findScws();
  }

  async function findScws() {
    const params = new URLSearchParams(new FormData(rawForm));
    rawResult.replaceChildren(el("p", {}, "Looking for the science windows …"));
    let response;
    try {
      response = await fetch(`/raw/manifest.json?${params}`);
    } catch (err) {
      rawResult.replaceChildren(el("p", { class: "warn" }, `The archive did not answer (${err.message}).`));
      return;
    }
    if (!response.ok) {
      rawResult.replaceChildren(el("p", { class: "warn" }, await errorText(response)));
      return;
    }
    const manifest = await response.json();
    const query = params.toString();
    const rows = manifest.scws.map((s) => el("tr", {},
      el("td", {}, el("a", { href: `/scws/${s.scw_id}` }, s.scw_id)),
      el("td", { class: "n" }, humanSize(s.size)),
      el("td", {}, el("a", { href: s.tar_url, "aria-label": `.tar of science window ${s.scw_id}` }, ".tar"))));
    const add = el("button", {
      type: "button",
      onclick: () => {
        import("./basket.js").then(({ addToBasket }) => {
          addToBasket({ kind: "selection", id: query, name: `${manifest.scw_count} science windows, ${params.get("start")} to ${params.get("end")}`, size: manifest.total_size, scws: manifest.scws.map((s) => s.scw_id) });
          add.textContent = "✓ in the basket";
          add.disabled = true;
        });
      },
    }, "Add them to the basket");
    rawResult.replaceChildren(
      el("p", { "data-raw-count": manifest.scw_count },
        `${manifest.scw_count} science windows, ${manifest.file_count} files, ${humanSize(manifest.total_size)}: `,
        el("a", { href: `/raw/archive.tar?${query}`, "data-raw-tar": "" }, "download as one tarball"), " · ",
        el("a", { href: `/raw/download.sh?${query}` }, "curl/wget script"), " · ",
        el("a", { href: `/raw/manifest.json?${query}` }, "manifest (JSON)"), " · ",
        el("a", { href: `/raw/SHA256SUMS?${query}` }, "SHA256SUMS"), " ", add),
      el("div", { class: "scroll" }, el("table", { class: "data", id: "raw-scws" },
        el("caption", {}, "Science windows in the selected time range"),
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Science window"), el("th", { scope: "col", class: "n" }, "Size"), el("th", { scope: "col" }, "Download"))),
        el("tbody", {}, rows))),
    );
  }

  rawForm.addEventListener("submit", (event) => {
    event.preventDefault();
    findScws();
  });

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (state.plot) state.plot.setSize({ width: Math.max(280, target.clientWidth), height: state.plot.height });
    }, 200);
  });

  draw();
}
