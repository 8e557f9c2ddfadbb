// As-you-type search: the box asks /api/search and lists matches in a live region under it.
// Enter still submits the form to /search (which also works without JavaScript).
import { el } from "./util.js";

const DELAY_MS = 150;

export function initSearch() {
  const form = document.querySelector("form[data-search]");
  if (!form) return;
  const input = form.querySelector("input[name=q]");
  const live = form.querySelector("#q-results");
  let timer = null;
  let controller = null;
  let last = "";

  async function lookUp(q) {
    controller?.abort();
    controller = new AbortController();
    try {
      const response = await fetch(`/api/search?q=${encodeURIComponent(q)}`, {
        signal: controller.signal,
        headers: { Accept: "application/json" },
      });
      if (!response.ok) return;
      render(await response.json());
    } catch (err) {
      if (err.name !== "AbortError") live.textContent = "";
    }
  }

  function render(result) {
    live.replaceChildren();
    live.dataset.query = result.query; // which entry the list answers (tests and benchmarks)
    const items = [];
    for (const s of result.sources.slice(0, 6)) {
      items.push(el("li", {}, el("a", { href: `/sources/${encodeURIComponent(s.source_id)}` }, s.name), ` source · ${s.source_id} · ${s.source_class}`));
    }
    for (const o of result.observations.slice(0, 3)) {
      items.push(el("li", {}, el("a", { href: `/observations/${o.obsid}` }, o.obsid), ` observation · ${o.target_name} · ${o.start_time.slice(0, 10)}`));
    }
    for (const r of result.revolutions.slice(0, 3)) {
      const rev = String(r.revolution).padStart(4, "0");
      items.push(el("li", {}, el("a", { href: `/revolutions/${rev}` }, `Revolution ${rev}`), ` · ${r.start_time.slice(0, 10)}`));
    }
    for (const g of (result.grbs || []).slice(0, 3)) {
      const page = `/grbs/${encodeURIComponent(g.grb_name.replace(/ /g, ""))}`;
      items.push(el("li", {}, el("a", { href: page }, g.grb_name), ` gamma-ray burst · ${g.trigger_time.slice(0, 19)}${g.simulated ? " · simulated" : ""}`));
    }
    for (const w of result.scws.slice(0, 3)) {
      items.push(el("li", {}, el("a", { href: `/scws/${w.scw_id}` }, w.scw_id), ` science window · ${w.start_time.slice(0, 16)}`));
    }
    if (items.length) {
      live.append(el("ul", { class: "suggestions" }, items));
    } else if (result.did_you_mean?.length) {
      live.append(
        el("p", {}, "Nothing found. Did you mean ",
          result.did_you_mean.flatMap((name, i) => [i ? ", " : "", el("a", { href: `/search?q=${encodeURIComponent(name)}` }, name)]),
          "?"),
      );
    } else if (result.query) {
      live.append(el("p", {}, "Nothing found."));
    }
  }

  input.addEventListener("input", () => {
    const q = input.value.trim();
    if (q === last) return;
    last = q;
    clearTimeout(timer);
    if (q.length < 2) {
      live.replaceChildren();
      return;
    }
    timer = setTimeout(() => lookUp(q), DELAY_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") live.replaceChildren();
  });
}
