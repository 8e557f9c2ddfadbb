// The download basket, kept in the browser's local storage (no account needed).
// Science windows and observations go out through the raw service's selections (one streamed
// tarball, or its download script); products through a curl script with SHA-256 checksums.
import { el, humanSize } from "./util.js";

const KEY = "isla-basket";

export function readBasket() {
  try {
    const items = JSON.parse(localStorage.getItem(KEY) || "[]");
    return Array.isArray(items) ? items : [];
  } catch {
    return [];
  }
}

function writeBasket(items) {
  localStorage.setItem(KEY, JSON.stringify(items));
  updateBasketCount();
}

export function addToBasket(item) {
  const items = readBasket();
  if (!items.some((i) => i.kind === item.kind && i.id === item.id)) items.push(item);
  writeBasket(items);
}

export function updateBasketCount() {
  const n = readBasket().length;
  for (const node of document.querySelectorAll("[data-basket-count]")) {
    node.textContent = n ? `(${n})` : "";
  }
}

export function initBasketButtons() {
  for (const button of document.querySelectorAll("button[data-basket-add]")) {
    const item = JSON.parse(button.dataset.basketAdd);
    const inBasket = () => readBasket().some((i) => i.kind === item.kind && i.id === item.id);
    const label = button.textContent;
    const refresh = () => {
      const added = inBasket();
      button.textContent = added ? "✓ in the basket" : label;
      button.disabled = added;
    };
    button.hidden = false;
    refresh();
    button.addEventListener("click", () => {
      addToBasket(item);
      refresh();
    });
  }
}

/** The raw ScW ids of the basket (observations expanded to their science windows). */
export function basketScws(items) {
  const ids = new Set();
  for (const item of items) for (const id of item.scws || []) ids.add(id);
  return [...ids];
}

function shellQuote(text) {
  return `'${String(text).replaceAll("'", "'\\''")}'`;
}

/** A POSIX shell script that downloads the products with curl and checks their SHA-256. */
export function productsScript(items, base) {
  const products = items.filter((i) => i.kind === "product");
  const used = new Map();
  const lines = [
    "#!/bin/sh",
    `# ISLA download basket: ${products.length} product files, ${humanSize(products.reduce((s, p) => s + (p.size || 0), 0))}.`,
    "# Run with: sh isla-products.sh   (resumes partial files; with wget: wget -c -O NAME URL)",
    "set -eu",
    `BASE=${shellQuote(base)}`,
  ];
  const sums = [];
  for (const p of products) {
    let name = p.name;
    const count = used.get(name) || 0;
    used.set(name, count + 1);
    if (count) name = `${count}_${name}`;
    lines.push(`curl -fsSL -C - -o ${shellQuote(name)} "$BASE"${shellQuote(p.url)}`);
    sums.push(`${p.sha256}  ${name}`);
  }
  lines.push("cat > SHA256SUMS.products <<'SUMS'", ...sums, "SUMS", "sha256sum -c SHA256SUMS.products");
  return `${lines.join("\n")}\n`;
}

export function initBasketPage() {
  const root = document.querySelector("[data-basket]");
  if (!root) return;
  const table = root.querySelector("#basket-table");
  const body = table.querySelector("tbody");
  const empty = root.querySelector("#basket-empty");
  const actions = root.querySelector("#basket-actions");
  const base = window.location.origin;
  let scriptUrl = null;
  let manifestUrl = null;

  function render() {
    const items = readBasket();
    body.replaceChildren();
    for (const [index, item] of items.entries()) {
      const link =
        item.kind === "product" ? item.url
        : item.kind === "observation" ? `/observations/${item.id}`
        : item.kind === "selection" ? `/raw/manifest.json?${item.id}`
        : `/scws/${item.id}`;
      const kind =
        item.kind === "product" ? "product"
        : item.kind === "scw" ? "science window"
        : `${item.kind === "observation" ? "observation" : "time range"} (${(item.scws || []).length} science windows)`;
      body.append(
        el("tr", {},
          el("td", {}, el("a", { href: link }, item.name)),
          el("td", {}, kind),
          el("td", { class: "n" }, humanSize(item.size)),
          el("td", {}, el("button", {
            type: "button",
            "aria-label": `Remove ${item.name}`,
            onclick: () => {
              const next = readBasket();
              next.splice(index, 1);
              writeBasket(next);
              render();
            },
          }, "Remove")),
        ),
      );
    }
    const total = items.reduce((sum, i) => sum + (Number(i.size) || 0), 0);
    root.querySelector("#basket-total").textContent = humanSize(total);
    table.hidden = !items.length;
    actions.hidden = !items.length;
    empty.hidden = Boolean(items.length);

    const scws = basketScws(items);
    for (const id of ["#basket-scws", "#basket-scws-sh"]) root.querySelector(id).value = scws.join(",");
    for (const form of [root.querySelector("#basket-tar"), root.querySelector("#basket-sh")]) form.hidden = !scws.length;
    root.querySelector("#basket-tar-note").textContent = scws.length ? `${scws.length} science windows, streamed as a plain tar with SHA256SUMS first` : "";

    const products = items.filter((i) => i.kind === "product");
    // One streamed tar of the product files: the form posts one id= per product; the answer
    // has its length, so the browser's download list shows the progress.
    const bundle = root.querySelector("#basket-products-tar");
    bundle.hidden = !products.length;
    bundle.querySelector("[data-bundle-ids]").replaceChildren(
      ...products.map((p) => el("input", { type: "hidden", name: "id", value: p.id })),
    );
    const productsSize = products.reduce((sum, p) => sum + (Number(p.size) || 0), 0);
    root.querySelector("#basket-products-note").textContent = products.length
      ? `${products.length} product files, ${humanSize(productsSize)}, with SHA256SUMS first`
      : "";
    const script = productsScript(items, base);
    root.querySelector("#basket-script").textContent = script;
    if (scriptUrl) URL.revokeObjectURL(scriptUrl);
    scriptUrl = URL.createObjectURL(new Blob([script], { type: "text/x-shellscript" }));
    const scriptLink = root.querySelector("#basket-products-script");
    scriptLink.href = scriptUrl;
    scriptLink.parentElement.hidden = false;
    scriptLink.hidden = !products.length;

    const manifest = {
      created: new Date().toISOString(),
      base_url: base,
      total_size: total,
      raw: scws.length ? { scws, tarball: `${base}/raw/archive.tar (POST scw=…)`, script: `${base}/raw/download.sh (POST scw=…)` } : null,
      products: products.map((p) => ({ product_id: p.id, file_name: p.name, size: p.size, sha256: p.sha256, url: base + p.url })),
      items,
    };
    if (manifestUrl) URL.revokeObjectURL(manifestUrl);
    manifestUrl = URL.createObjectURL(new Blob([JSON.stringify(manifest, null, 1)], { type: "application/json" }));
    root.querySelector("#basket-manifest").href = manifestUrl;
  }

  root.querySelector("#basket-clear").addEventListener("click", () => {
    writeBasket([]);
    render();
  });
  window.addEventListener("storage", render);
  render();
}
