// Small helpers shared by the portal's scripts.

/** Build an element: el("a", {href: "/x"}, "text", child, ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A byte count for people (binary prefixes), as the server writes it. */
export function humanSize(bytes) {
  let value = Number(bytes) || 0;
  for (const unit of ["B", "KiB", "MiB", "GiB", "TiB"]) {
    if (value < 1024 || unit === "TiB") {
      return unit === "B" ? `${value.toFixed(0)} B` : `${value.toFixed(1)} ${unit}`;
    }
    value /= 1024;
  }
  return `${value.toFixed(1)} TiB`;
}

/** The message of an error answer (problem details, FastAPI detail, or plain text). */
export async function errorText(response) {
  const body = await response.text();
  try {
    const data = JSON.parse(body);
    const detail = data.detail ?? data.title ?? body;
    if (typeof detail === "string") return detail;
    if (detail && typeof detail.detail === "string") return detail.detail;
    return JSON.stringify(detail);
  } catch {
    return body.slice(0, 300) || `HTTP ${response.status}`;
  }
}

// TT − UTC (s) from the leap-second table over INTEGRAL's mission: light curves are in TT,
// raw-data selections in UTC.
const LEAPS = [
  [Date.UTC(2017, 0, 1) / 1000, 69.184],
  [Date.UTC(2015, 6, 1) / 1000, 68.184],
  [Date.UTC(2012, 6, 1) / 1000, 67.184],
  [Date.UTC(2009, 0, 1) / 1000, 66.184],
  [Date.UTC(2006, 0, 1) / 1000, 65.184],
];

/** Seconds since 1970 (UTC scale) of an MJD given in TT. */
export function mjdTTtoUnix(mjd) {
  const tt = (mjd - 40587) * 86400;
  for (const [since, offset] of LEAPS) if (tt - offset >= since) return tt - offset;
  return tt - 64.184;
}

/** ISO 8601 UTC (seconds) of a Unix time. */
export function isoUTC(seconds) {
  return new Date(Math.round(seconds) * 1000).toISOString().slice(0, 19);
}

/** MJD in TT of a Unix time (UTC scale): the inverse of mjdTTtoUnix. */
export function unixToMjdTT(seconds) {
  for (const [since, offset] of LEAPS) if (seconds >= since) return (seconds + offset) / 86400 + 40587;
  return (seconds + 64.184) / 86400 + 40587;
}

/** ISO 8601 UTC with milliseconds of a Unix time. */
export function isoUTCms(seconds) {
  return new Date(Math.round(seconds * 1000)).toISOString().slice(0, 23);
}

/** ISO 8601 UTC with microseconds of a Unix time (HAPI takes them; Date stops at ms). */
export function isoUTCus(seconds) {
  let ms = Math.floor(seconds * 1000);
  let us = Math.round((seconds * 1000 - ms) * 1000);
  if (us >= 1000) { ms += 1; us -= 1000; }
  return `${new Date(ms).toISOString().slice(0, 23)}${String(us).padStart(3, "0")}`;
}

// A number with six significant digits, trailing zeros dropped (like Python's "%.6g").
export function sig6(value) {
  const text = Number(value).toPrecision(6);
  if (text.includes("e")) return text.replace(/\.?0+e/, "e");
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}
