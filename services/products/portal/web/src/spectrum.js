// The source page's spectra: the stored spectrum chosen in the list, drawn in counts per second
// per keV against energy on logarithmic axes, from /products/spectra/{id}?format=json.
import uPlot from "uplot";
import { el, errorText } from "./util.js";

export function initSpectrum() {
  const select = document.querySelector("select[data-spec-choice]");
  const target = document.querySelector("#spec-plot");
  if (!select || !target) return;
  const sourceId = select.closest("[data-source-id]").dataset.sourceId;
  const summary = document.querySelector("#spec-summary");
  let plot = null;
  let errors = [];

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
    errors = rows.map((r) => r[ix.error] / r[ix.width]);
    const width = Math.max(280, target.clientWidth || 600);
    plot?.destroy();
    target.replaceChildren();
    plot = new uPlot({
      width,
      height: width < 500 ? 240 : 300,
      scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
      axes: [{ label: "energy (keV)" }, { label: "rate (ct/s/keV)" }],
      series: [
        { label: "energy (keV)" },
        { label: `${option.textContent.trim()}`, stroke: "#1d4f91", width: 0, paths: () => null, points: { show: true, size: 4, fill: "#1d4f91" } },
      ],
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
    }, [xs, ys], target);
    target.dataset.points = String(xs.length);
    summary.textContent = `${spec.name}, ${spec.instrument} ${spec.scope}: ${spec.data.length} channels from ` +
      `${xs.length ? xs[0].toFixed(1) : "–"} to ${xs.length ? xs[xs.length - 1].toFixed(1) : "–"} keV, ` +
      `exposure ${(spec.exposure / 1000).toFixed(1)} ks over ${spec.nscw} science windows; responses ${spec.ancrfile} and ${spec.respfile}.`;
  }

  select.addEventListener("change", draw);
  draw();
}
