// The source page's spectra: the stored spectrum chosen in the list, drawn in counts per second
// per keV against energy on logarithmic axes, from /products/spectra/{id}?format=json, with the
// links to its PHA file, ARF and RMF, a summary and a table view. A folded model is drawn only
// when the stored answer carries one (a `model` column, counts/s per channel, as delivered);
// nothing is fitted or folded here.
import uPlot from "uplot";
import { el, errorText } from "./util.js";

const TABLE_ROWS = 2000;

function fmt(v) {
  return v === null || v === undefined || !Number.isFinite(v) ? "–" : Number(v).toPrecision(4);
}

export function initSpectrum() {
  const select = document.querySelector("select[data-spec-choice]");
  const target = document.querySelector("#spec-plot");
  if (!select || !target) return;
  const sourceId = select.closest("[data-source-id]").dataset.sourceId;
  const summary = document.querySelector("#spec-summary");
  const files = document.querySelector("#spec-files");
  const note = document.querySelector("#spec-model-note");
  const tableView = document.querySelector("#spec-table-view");
  const tableBox = document.querySelector("#spec-table");
  let plot = null;
  let errors = [];
  let shown = null;

  function table() {
    if (!tableView.open || !shown) return;
    const { spec, ix } = shown;
    const rows = spec.data.slice(0, TABLE_ROWS).map((r) => el("tr", {},
      el("td", { class: "n" }, String(r[ix.channel])),
      el("td", { class: "n" }, fmt(r[ix.e_min])), el("td", { class: "n" }, fmt(r[ix.e_max])),
      el("td", { class: "n" }, fmt(r[ix.rate])), el("td", { class: "n" }, fmt(r[ix.error])),
      ix.model === undefined ? null : el("td", { class: "n" }, fmt(r[ix.model]))));
    const heads = ["channel", "E min (keV)", "E max (keV)", "rate (ct/s)", "error (ct/s)"];
    if (ix.model !== undefined) heads.push("folded model (ct/s)");
    tableBox.replaceChildren(el("table", { class: "data" },
      el("caption", {}, `${spec.instrument} ${spec.scope}: ${rows.length} channels`),
      el("thead", {}, el("tr", {}, heads.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows)));
  }

  function links(spec, option) {
    const csv = new URLSearchParams({ instrument: option.dataset.instrument, scope: select.value, format: "csv" });
    const urls = { file: spec.file_url, arf: spec.arf_url, rmf: spec.rmf_url, csv: `/products/spectra/${encodeURIComponent(sourceId)}?${csv}` };
    for (const link of files.querySelectorAll("a[data-spec-link]")) {
      const url = urls[link.dataset.specLink];
      link.hidden = !url;
      if (url) link.href = url;
    }
    files.hidden = false;
  }

  async function draw() {
    const option = select.selectedOptions[0];
    const params = new URLSearchParams({ instrument: option.dataset.instrument, scope: select.value, format: "json" });
    let response;
    try {
      response = await fetch(`/products/spectra/${encodeURIComponent(sourceId)}?${params}`);
    } catch (err) {
      summary.textContent = `The archive did not answer (${err.message}).`;
      return;
    }
    if (!response.ok) {
      plot?.destroy();
      plot = null;
      const message = await errorText(response);
      target.replaceChildren(el("p", { class: "plot-message" }, message));
      summary.textContent = message;
      return;
    }
    const spec = await response.json();
    const ix = {};
    spec.columns.forEach((c, i) => { ix[c.name] = i; });
    const rows = spec.data.filter((r) => r[ix.rate] > 0 && r[ix.energy] > 0);
    const xs = rows.map((r) => r[ix.energy]);
    const ys = rows.map((r) => r[ix.rate] / r[ix.width]);
    const hasModel = ix.model !== undefined;
    const model = hasModel ? rows.map((r) => (r[ix.model] > 0 ? r[ix.model] / r[ix.width] : null)) : null;
    errors = rows.map((r) => r[ix.error] / r[ix.width]);
    shown = { spec, ix };
    const width = Math.max(280, target.clientWidth || 600);
    plot?.destroy();
    target.replaceChildren();
    const series = [
      { label: "energy (keV)" },
      { label: `${option.textContent.trim()}`, stroke: "#1d4f91", width: 0, paths: () => null, points: { show: true, size: 4, fill: "#1d4f91" } },
    ];
    if (hasModel) series.push({ label: "folded model (stored)", stroke: "#a3341f", width: 1.5, points: { show: false } });
    plot = new uPlot({
      width,
      height: width < 500 ? 240 : 300,
      scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
      axes: [{ label: "energy (keV)" }, { label: "rate (ct/s/keV)" }],
      series,
      hooks: {
        draw: [(u) => {
          const { ctx } = u;
          ctx.save();
          ctx.strokeStyle = "#4a6fa5";
          ctx.beginPath();
          for (let i = 0; i < xs.length; i++) {
            const x = u.valToPos(xs[i], "x", true);
            ctx.moveTo(x, u.valToPos(Math.max(ys[i] - errors[i], ys[i] / 100), "y", true));
            ctx.lineTo(x, u.valToPos(ys[i] + errors[i], "y", true));
          }
          ctx.stroke();
          ctx.restore();
        }],
      },
    }, hasModel ? [xs, ys, model] : [xs, ys], target);
    target.dataset.points = String(xs.length);
    target.dataset.model = hasModel ? "stored" : "none";
    links(spec, option);
    note.textContent = hasModel
      ? "The line is the fitted model folded through the responses, as stored with the spectrum."
      : "The plot shows the stored counts spectrum (count rate per keV, from its channels and the energies of its RMF). No fitted model is stored with this spectrum, so no folded model is drawn; fit it with XSPEC or 3ML using the ARF and RMF.";
    summary.textContent = `${spec.name}, ${spec.instrument} ${spec.scope}: ${spec.data.length} channels from ` +
      `${xs.length ? xs[0].toFixed(1) : "–"} to ${xs.length ? xs[xs.length - 1].toFixed(1) : "–"} keV, ` +
      `exposure ${(spec.exposure / 1000).toFixed(1)} ks over ${spec.nscw} science windows; responses ${spec.ancrfile} and ${spec.respfile}` +
      `${spec.simulated ? "; simulated data" : ""}.`;
    table();
  }

  select.addEventListener("change", draw);
  tableView.addEventListener("toggle", table);
  draw();
}
