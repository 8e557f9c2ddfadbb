// The query page: examples from /tap/examples, the ADQL run on /tap/sync (JSON), a table of the
// result and download links in VOTable, CSV and FITS. Without JavaScript the form posts to
// /tap/sync directly.
import { el, errorText } from "./util.js";

async function loadExamples(select, textarea) {
  let response;
  try {
    response = await fetch("/tap/examples");
  } catch {
    return; // the box still takes a query typed by hand
  }
  if (!response.ok) return;
  const doc = new DOMParser().parseFromString(await response.text(), "text/html");
  for (const example of doc.querySelectorAll("[typeof=example]")) {
    const name = example.querySelector("[property=name]")?.textContent.trim();
    const query = example.querySelector("[property=query]")?.textContent.trim();
    if (name && query) select.append(el("option", { value: query }, name));
  }
  select.addEventListener("change", () => {
    if (select.value) textarea.value = select.value;
  });
}

function downloadUrl(form, format) {
  const params = new URLSearchParams(new FormData(form));
  params.set("FORMAT", format);
  return `/tap/sync?${params}`;
}

export function initQuery() {
  const form = document.querySelector("form[data-query]");
  if (!form) return;
  const textarea = form.querySelector("textarea");
  const status = document.querySelector("#query-status");
  const result = document.querySelector("#query-result");
  const downloads = document.querySelector("#query-downloads");
  loadExamples(form.querySelector("[data-examples]"), textarea);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "Running …";
    result.replaceChildren();
    let response;
    try {
      response = await fetch(downloadUrl(form, "json"));
    } catch (err) {
      status.textContent = `The archive did not answer (${err.message}).`;
      return;
    }
    if (!response.ok) {
      status.textContent = `The query failed: ${await errorText(response)}`;
      downloads.hidden = true;
      return;
    }
    const text = await response.text();
    let data;
    try {
      data = JSON.parse(text);
    } catch {
      // DALI errors come back as a VOTable even for a JSON request.
      const doc = new DOMParser().parseFromString(text, "application/xml");
      status.textContent = `The query failed: ${doc.querySelector("INFO[name=QUERY_STATUS]")?.textContent.trim() || text.slice(0, 300)}`;
      downloads.hidden = true;
      return;
    }
    status.textContent = `${data.data.length} rows${data.overflow ? " (truncated at the row limit)" : ""}.`;
    for (const link of downloads.querySelectorAll("a[data-format]")) link.href = downloadUrl(form, link.dataset.format);
    downloads.hidden = false;
    result.replaceChildren(el("table", { class: "data" },
      el("caption", {}, "Query result"),
      el("thead", {}, el("tr", {}, data.metadata.map((m) => el("th", { scope: "col", title: m.description || "" }, m.unit ? `${m.name} (${m.unit})` : m.name)))),
      el("tbody", {}, data.data.map((row) => el("tr", {}, row.map((v) => el("td", {}, v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v))))))));
  });
}
