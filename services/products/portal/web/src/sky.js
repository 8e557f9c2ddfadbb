// The sky page: Aladin Lite (bundled, no survey fetched from elsewhere) with the source
// catalogue and the observations' fields as overlays; clicking a source opens its page.
// Behind them, one of the archive's own all-sky maps (HiPS), chosen from the list the page
// renders (the maps of /hips/hipslist); without a map the sky is blank. Clicking the sky reads
// the chosen map's value there from the maps service (/products/maps/<id>/value).
import A from "aladin-lite";
import { sig6 } from "./util.js";

const ISGRI_FULLY_CODED_HALF = 4.5; // deg: half the side of ISGRI's fully coded field

async function start() {
  const box = document.querySelector("#aladin");
  if (!box) return;
  const status = document.querySelector("#sky-status");
  const response = await fetch("/api/sky");
  if (!response.ok) {
    status.textContent = "The catalogue could not be loaded.";
    return;
  }
  const sky = await response.json();
  await A.init;
  const aladin = A.aladin(box, {
    survey: [],
    target: "0 +0",
    fov: 120,
    projection: "AIT",
    cooFrame: "galactic",
    log: false, // no start-up report to an outside server
    showReticle: false,
    showLayersControl: false,
    showGotoControl: false,
    showFullscreenControl: false,
    showShareControl: false,
    showSimbadPointerControl: false,
    showCooGridControl: false,
    showSettingsControl: false,
    showProjectionControl: false,
    showContextMenu: false,
    // Aladin's own zoom and coordinate widgets have no accessible names: the page's buttons
    // below replace them.
    showZoomControl: false,
    showCooLocation: false,
    showFrame: false,
    showCooGrid: true,
  });
  // A position to look at (the source pages link /sky?ra=…&dec=…&fov=…): ICRS degrees.
  const params = new URLSearchParams(location.search);
  const ra = Number.parseFloat(params.get("ra") ?? "");
  const dec = Number.parseFloat(params.get("dec") ?? "");
  if (Number.isFinite(ra) && Number.isFinite(dec) && Math.abs(dec) <= 90) {
    const fov = Number.parseFloat(params.get("fov") ?? "");
    aladin.gotoRaDec(((ra % 360) + 360) % 360, dec);
    aladin.setFoV(Number.isFinite(fov) ? Math.min(Math.max(fov, 0.05), 180) : 2);
  }
  const select = document.querySelector("[data-sky-hips-select]");
  const showHips = () => {
    const option = select && select.selectedOptions[0];
    const url = option && option.dataset.url;
    if (!url) {
      // Back to a blank sky: Aladin has no empty base layer to switch to, so reload without.
      if (box.dataset.hips) select.form.submit();
      box.dataset.hips = "";
      return;
    }
    // The HiPS are the archive's own: absolute URLs on this origin, PNG tiles.
    aladin.setBaseImageLayer(A.imageHiPS(`${location.origin}${url}`, { name: option.value, imgFormat: "png" }));
    box.dataset.hips = option.value;
  };
  if (select) {
    showHips();
    select.addEventListener("change", showHips);
  }
  const fields = A.graphicOverlay({ name: "observations", color: "#6fa8dc", lineWidth: 1 });
  aladin.addOverlay(fields);
  for (const o of sky.observations) {
    fields.add(A.circle(o.ra, o.dec, ISGRI_FULLY_CODED_HALF, { name: o.obsid }));
  }
  const sources = A.catalog({ name: "sources", sourceSize: 9, color: "#f0c040", shape: "circle" });
  aladin.addCatalog(sources);
  sources.addSources(sky.sources.map((s) => A.source(s.ra, s.dec, { source_id: s.source_id, name: s.name })));
  const valueBox = document.querySelector("#sky-value");
  let asked = 0;
  aladin.on("click", async (event) => {
    const id = box.dataset.hips;
    if (!valueBox || !id || !event || event.isDragging) return;
    const ra = event.ra.toFixed(5);
    const dec = event.dec.toFixed(5);
    const mine = ++asked;
    valueBox.textContent = `Reading ${id} at RA ${ra}°, Dec ${dec}°…`;
    const query = new URLSearchParams({ ra, dec });
    const url = `/products/maps/${encodeURIComponent(id)}/value?${query}`;
    let answer;
    try {
      const response = await fetch(url);
      answer = response.ok ? await response.json() : null;
    } catch {
      answer = null;
    }
    if (mine !== asked) return; // a later click answers instead
    showValue(valueBox, id, ra, dec, url, answer);
  });
  aladin.on("objectClicked", (object) => {
    if (object && object.data && object.data.source_id) {
      window.location.href = `/sources/${encodeURIComponent(object.data.source_id)}`;
    }
  });
  const tools = document.querySelector("[data-sky-tools]");
  tools.hidden = false;
  tools.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const fov = aladin.getFov()[0];
    if (button.dataset.zoom === "in") aladin.setFoV(Math.max(fov / 2, 0.5));
    else if (button.dataset.zoom === "out") aladin.setFoV(Math.min(fov * 2, 360));
    else if (button.dataset.zoom === "all") {
      aladin.gotoRaDec(266.40, -28.94);
      aladin.setFoV(120);
    }
  });
  box.dataset.sources = String(sky.sources.length);
  box.dataset.observations = String(sky.observations.length);
  status.textContent = `${sky.sources.length} sources detected by INTEGRAL and the fields of ${sky.observations.length} observations.`;
}

// The value under a click, in words, with the JSON and the maps page (which looks values up
// without a pointer) one link away.
function showValue(out, id, ra, dec, url, answer) {
  out.replaceChildren();
  out.dataset.ra = ra;
  out.dataset.dec = dec;
  if (!answer) {
    out.dataset.pixel = "";
    out.textContent = `The value of ${id} at RA ${ra}°, Dec ${dec}° could not be read.`;
    return;
  }
  out.dataset.pixel = String(answer.healpix_pixel);
  out.append(`${id} at RA ${Number(answer.ra).toFixed(4)}°, Dec ${Number(answer.dec).toFixed(4)}°: `);
  const value = document.createElement("strong");
  if (answer.covered) {
    value.textContent = sig6(answer.value);
    out.append(value);
    if (answer.error !== null && answer.error !== undefined) {
      out.append(` ± ${Number(answer.error).toPrecision(3)}`);
    }
    if (answer.unit) out.append(` ${answer.unit}`);
  } else {
    value.textContent = "no value";
    out.append(value, " (the map does not cover this position)");
  }
  out.append(` (HEALPix pixel ${answer.healpix_pixel}, NSIDE ${answer.healpix_nside}, NESTED)`);
  if (answer.simulated) out.append("; simulated data");
  out.append(". ");
  const json = document.createElement("a");
  json.href = url;
  json.textContent = "As JSON";
  const form = document.createElement("a");
  form.href = `/maps?${new URLSearchParams({ map: id, ra, dec })}`;
  form.textContent = "on the maps page";
  out.append(json, " · ", form);
}

start();
