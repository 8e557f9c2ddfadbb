// The SPI-ACS / IREM explorer (/timeseries/<dataset>): the plot API's min–max–mean columns
// drawn with uPlot over any range of the mission; every zoom or pan fetches the range again at
// the plot's width, so the view goes from the whole mission down to single 50 ms samples
// without ever loading more than a few thousand columns. Stretches of simulated data are
// shaded and the status line says what the view holds; the download links, the summary and
// the table view follow the view.
import uPlot from "uplot";
import { el, errorText, isoUTCms, isoUTCus, mjdTTtoUnix, unixToMjdTT } from "./util.js";

const IJD0_MJD = 51544; // IJD 0 = MJD 51544.0 (TT)
const TABLE_ROWS = 2000;
const MIN_SPAN_S = 0.5; // ten 50 ms samples at the deepest zoom
const COLOURS = { band: "rgba(29, 79, 145, 0.28)", mean: "#1d4f91", sim: "rgba(179, 98, 0, 0.13)" };

const ijdToUnix = (ijd) => mjdTTtoUnix(ijd + IJD0_MJD);
const unixToIjd = (unix) => unixToMjdTT(unix) - IJD0_MJD;

/** The plot API's binary answer: a JSON header and typed arrays (see docs/TIMESERIES.md). */
export function decodePlot(buffer) {
  const bytes = new Uint8Array(buffer);
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (magic !== "ISLATS1\0") throw new Error("not a time-series plot answer");
  const length = new DataView(buffer).getUint32(8, true);
  const head = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length)));
  const types = { "<u2": Uint16Array, "<u4": Uint32Array, "<f4": Float32Array, "<f8": Float64Array };
  const arrays = {};
  let offset = 12 + length;
  for (const spec of head.arrays) {
    const Type = types[spec.dtype];
    arrays[spec.name] = new Type(buffer, offset, spec.length);
    const size = Type.BYTES_PER_ELEMENT * spec.length;
    offset += size + ((8 - (size % 8)) % 8);
  }
  return { head, arrays };
}

/** uPlot's columns [time, max, min, mean] with a null wherever the data have a gap. */
function toSeries({ head, arrays }) {
  const t = [], hi = [], lo = [], mean = [], count = [];
  if (head.mode === "samples") {
    const times = arrays.time_ijd, values = arrays.value;
    let step = Infinity;
    for (let i = 1; i < times.length; i++) step = Math.min(step, times[i] - times[i - 1]);
    for (let i = 0; i < times.length; i++) {
      if (i && times[i] - times[i - 1] > 3 * step) { t.push(ijdToUnix((times[i] + times[i - 1]) / 2)); hi.push(null); lo.push(null); mean.push(null); count.push(0); }
      const v = Number.isFinite(values[i]) ? values[i] : null;
      t.push(ijdToUnix(times[i])); hi.push(v); lo.push(v); mean.push(v); count.push(v === null ? 0 : 1);
    }
  } else {
    const width = head.column_seconds / 86400;
    const start = head.start.ijd;
    const { column, min, max } = arrays;
    for (let i = 0; i < column.length; i++) {
      if (i && column[i] !== column[i - 1] + 1) { t.push(ijdToUnix(start + (column[i] - 0.5) * width)); hi.push(null); lo.push(null); mean.push(null); count.push(0); }
      t.push(ijdToUnix(start + (column[i] + 0.5) * width));
      hi.push(max[i]); lo.push(min[i]); mean.push(arrays.mean[i]); count.push(arrays.count[i]);
    }
  }
  return { data: [t, hi, lo, mean], count };
}

function fmt(value) {
  if (value === null || !Number.isFinite(value)) return "–";
  return Math.abs(value) >= 1e5 || (value !== 0 && Math.abs(value) < 1e-2) ? value.toExponential(3) : value.toFixed(2);
}

/** Tick labels of the time axis, in UTC and 24 h, as precise as the span needs. */
function timeTicks(splits, span) {
  return splits.map((t) => {
    const iso = isoUTCms(t);
    if (span > 3 * 365 * 86400) return iso.slice(0, 4);
    if (span > 4 * 86400) return iso.slice(0, 10);
    if (span > 600) return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
    if (span > 10) return iso.slice(11, 19);
    return iso.slice(14, 23);
  });
}

/** A count rate in a few characters (1.75M, 820k, 12.5). */
function compact(value) {
  const a = Math.abs(value);
  if (a >= 1e6) return `${+(value / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(value / 1e3).toPrecision(3)}k`;
  return `${+value.toPrecision(3)}`;
}

function describeSpan(seconds) {
  if (seconds >= 2 * 86400) return `${(seconds / 86400).toFixed(1)} days`;
  if (seconds >= 2 * 3600) return `${(seconds / 3600).toFixed(1)} hours`;
  if (seconds >= 120) return `${(seconds / 60).toFixed(1)} minutes`;
  return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
}

export function initTimeseries() {
  const article = document.querySelector("[data-timeseries]");
  const target = document.querySelector("#ts-plot");
  if (!article || !target) return;
  const dataset = article.dataset.timeseries;
  const form = document.querySelector("form[data-ts-form]");
  const status = document.querySelector("[data-ts-status]");
  const summary = document.querySelector("#ts-summary");
  const tableView = document.querySelector("#ts-table-view");
  const tableBox = document.querySelector("#ts-table");
  const tools = document.querySelector("[data-ts-tools]");
  // "Whole mission" is the mission's span (or the dataset's, when it reaches further); the
  // page opens on the window it was asked for.
  const whole = { a: Number(article.dataset.allStart), b: Number(article.dataset.allStop) };
  const view = { a: Number(article.dataset.start), b: Number(article.dataset.stop) };
  const stretches = [...document.querySelectorAll("#ts-stretches tbody tr")].map((row) => ({
    a: Number(row.dataset.tStart), b: Number(row.dataset.tStop),
    simulated: row.dataset.simulated === "true",
    label: row.dataset.label,
  }));
  const parameter = () => form.querySelector("[name=parameter]").value;
  let plot = null;
  let last = null;
  let request = 0;
  tools.hidden = false;

  function shade(u) {
    const { ctx } = u;
    const top = u.bbox.top, height = u.bbox.height;
    ctx.save();
    ctx.fillStyle = COLOURS.sim;
    for (const s of stretches) {
      if (!s.simulated) continue;
      const x0 = Math.max(u.bbox.left, u.valToPos(ijdToUnix(s.a), "x", true));
      const x1 = Math.min(u.bbox.left + u.bbox.width, u.valToPos(ijdToUnix(s.b), "x", true));
      if (x1 > x0) ctx.fillRect(x0, top, Math.max(x1 - x0, 1), height);
    }
    ctx.restore();
  }

  function make(width) {
    return new uPlot({
      width,
      height: width < 500 ? 260 : 340,
      legend: { show: false },
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      cursor: { drag: { x: true, y: false, setScale: false } },
      scales: { x: { time: true } },
      axes: [
        { label: "time (UTC)", space: 90, values: (u, splits, _i, space) => timeTicks(splits, u.scales.x.max - u.scales.x.min, space) },
        { label: article.querySelector("h2").textContent.trim(), size: 64, values: (u, splits) => splits.map(compact) },
      ],
      series: [
        {},
        { label: "max", stroke: "rgba(29, 79, 145, 0.5)", width: 1, spanGaps: false, points: { show: false } },
        { label: "min", stroke: "rgba(29, 79, 145, 0.5)", width: 1, spanGaps: false, points: { show: false } },
        { label: "mean", stroke: COLOURS.mean, width: 1.2, spanGaps: false, points: { show: false } },
      ],
      bands: [{ series: [1, 2], fill: COLOURS.band }],
      hooks: {
        drawAxes: [shade],
        setSelect: [(u) => {
          if (u.select.width < 3) return;
          const a = u.posToVal(u.select.left, "x");
          const b = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          load(unixToIjd(a), unixToIjd(b));
        }],
      },
    }, [[], [], [], []], target);
  }

  function updateLinks(a, b) {
    form.querySelector("[data-ts-start]").value = isoUTCms(ijdToUnix(a));
    form.querySelector("[data-ts-stop]").value = isoUTCms(ijdToUnix(b));
    // The downloads cut the plotted range to the microsecond (the plot asked for it in IJD).
    const common = { dataset, start: `${isoUTCus(ijdToUnix(a))}Z`, stop: `${isoUTCus(ijdToUnix(b))}Z` };
    const links = {
      csv: new URLSearchParams({ ...common, parameters: parameter() }),
      fits: new URLSearchParams({ ...common, format: "x_fits" }),
      json: new URLSearchParams({ ...common, parameters: parameter(), format: "json" }),
    };
    for (const link of document.querySelectorAll("a[data-ts-link]")) link.href = `/hapi/data?${links[link.dataset.tsLink]}`;
    const url = new URL(location.href);
    url.searchParams.set("start", a.toFixed(9));
    url.searchParams.set("stop", b.toFixed(9));
    history.replaceState(null, "", url);
  }

  function describe(answer, series) {
    const { head } = answer;
    const [, hi, lo, mean] = series.data;
    let max = -Infinity, min = Infinity, sum = 0, n = 0;
    for (let i = 0; i < mean.length; i++) {
      if (mean[i] === null) continue;
      max = Math.max(max, hi[i]); min = Math.min(min, lo[i]);
      sum += mean[i] * series.count[i]; n += series.count[i];
    }
    const inView = stretches.filter((s) => s.b >= view.a && s.a <= view.b).map((s) => s.label);
    const what = head.includes_real && head.includes_simulated ? "real and simulated data"
      : head.includes_real ? "real data" : head.includes_simulated ? "simulated data" : "no data";
    status.textContent = `Showing ${isoUTCms(ijdToUnix(view.a))} to ${isoUTCms(ijdToUnix(view.b))} UTC ` +
      `(${describeSpan((view.b - view.a) * 86400)}): ${what}${inView.length ? ` (${inView.slice(0, 4).join(", ")}${inView.length > 4 ? ", …" : ""})` : ""}.`;
    status.dataset.content = what;
    const resolution = head.mode === "samples"
      ? `${head.samples_in_range} individual samples`
      : `${series.count.filter((c) => c > 0).length} columns of ${describeSpan(head.column_seconds)}, from ${head.samples_in_range} samples`;
    summary.textContent = n
      ? `${dataset} ${head.parameter}${head.units ? ` (${head.units})` : ""}: ${resolution}; ` +
        `minimum ${fmt(min)}, maximum ${fmt(max)}, mean ${fmt(sum / n)}.`
      : `${dataset}: no samples in this range.`;
  }

  function table(answer, series) {
    if (!tableView.open) return;
    const [t, hi, lo, mean] = series.data;
    const rows = [];
    for (let i = 0; i < t.length && rows.length < TABLE_ROWS; i++) {
      if (mean[i] === null) continue;
      rows.push(el("tr", {}, el("td", {}, isoUTCms(t[i])), el("td", { class: "n" }, fmt(lo[i])),
        el("td", { class: "n" }, fmt(hi[i])), el("td", { class: "n" }, fmt(mean[i])), el("td", { class: "n" }, String(series.count[i]))));
    }
    tableBox.replaceChildren(el("table", { class: "data" },
      el("caption", {}, `${rows.length} ${answer.head.mode === "samples" ? "samples" : "columns"}${rows.length >= TABLE_ROWS ? ` (the first ${TABLE_ROWS})` : ""}`),
      el("thead", {}, el("tr", {}, ["time (UTC)", "min", "max", "mean", "samples"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows)));
  }

  async function load(a, b) {
    // Keep the span within the whole window and at least MIN_SPAN_S long.
    const minSpan = MIN_SPAN_S / 86400;
    if (b - a < minSpan) { const c = (a + b) / 2; a = c - minSpan / 2; b = c + minSpan / 2; }
    if (b - a > whole.b - whole.a) { a = whole.a; b = whole.b; }
    if (a < whole.a) { b += whole.a - a; a = whole.a; }
    if (b > whole.b) { a -= b - whole.b; b = whole.b; }
    view.a = a; view.b = b;
    const mine = ++request;
    const width = Math.max(280, target.clientWidth || 800);
    if (!plot) plot = make(width);
    const px = Math.max(50, Math.min(10000, Math.round(plot.bbox.width / (devicePixelRatio || 1)) || width));
    const query = new URLSearchParams({ start: a.toFixed(9), stop: b.toFixed(9), px: String(px), parameter: parameter(), format: "binary" });
    status.textContent = "Loading …";
    let response;
    try {
      response = await fetch(`/products/timeseries/${encodeURIComponent(dataset)}/plot?${query}`);
    } catch (err) {
      status.textContent = `The archive did not answer (${err.message}).`;
      return;
    }
    if (mine !== request) return; // a later zoom superseded this one
    if (!response.ok) {
      status.textContent = `No plot: ${await errorText(response)}`;
      return;
    }
    const answer = decodePlot(await response.arrayBuffer());
    if (mine !== request) return;
    const series = toSeries(answer);
    last = { answer, series };
    const values = series.data[1].concat(series.data[2]).filter((v) => v !== null);
    let ylo = values.length ? Math.min(...values) : 0, yhi = values.length ? Math.max(...values) : 1;
    const pad = (yhi - ylo) * 0.05 || Math.abs(yhi) * 0.05 || 1;
    plot.batch(() => {
      plot.setData(series.data, false);
      plot.setScale("x", { min: ijdToUnix(a), max: ijdToUnix(b) });
      plot.setScale("y", { min: ylo - pad, max: yhi + pad });
    });
    target.dataset.mode = answer.head.mode;
    target.dataset.columns = String(series.count.filter((c) => c > 0).length);
    target.dataset.start = a.toFixed(9);
    target.dataset.stop = b.toFixed(9);
    target.dataset.span = ((b - a) * 86400).toFixed(3);
    updateLinks(a, b);
    describe(answer, series);
    table(answer, series);
  }

  tools.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const span = view.b - view.a, centre = (view.a + view.b) / 2;
    if (button.dataset.tsZoom === "in") load(centre - span / 4, centre + span / 4);
    else if (button.dataset.tsZoom === "out") load(centre - span, centre + span);
    else if (button.dataset.tsZoom === "all") load(whole.a, whole.b);
    else if (button.dataset.tsPan) { const shift = Number(button.dataset.tsPan) * span / 2; load(view.a + shift, view.b + shift); }
  });
  form.addEventListener("submit", (event) => {
    const start = Date.parse(`${form.querySelector("[data-ts-start]").value.replace(/Z$/, "")}Z`);
    const stop = Date.parse(`${form.querySelector("[data-ts-stop]").value.replace(/Z$/, "")}Z`);
    if (!Number.isFinite(start) || !Number.isFinite(stop) || stop <= start) return; // the server says why
    event.preventDefault();
    load(unixToIjd(start / 1000), unixToIjd(stop / 1000));
  });
  form.querySelector("[data-ts-parameter]")?.addEventListener("change", () => {
    article.querySelector("h2").textContent = parameter();
    load(view.a, view.b);
  });
  tableView.addEventListener("toggle", () => { if (last) table(last.answer, last.series); });
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      if (!plot) return;
      const width = Math.max(280, target.clientWidth || 800);
      plot.setSize({ width, height: width < 500 ? 260 : 340 });
      load(view.a, view.b);
    }, 200);
  });
  load(view.a, view.b);
}
