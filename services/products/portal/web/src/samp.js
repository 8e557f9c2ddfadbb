// "Send to TOPCAT": SAMP (the IVOA's Simple Application Messaging Protocol) through its Web
// Profile, with sampjs (CC0, by TOPCAT's author) from npm. Every link marked data-samp gets a
// button that asks the desktop's SAMP hub (TOPCAT runs one; the Web Profile listens on
// http://localhost:21012/) to load the link's file: a VOTable or FITS table, or a FITS image.
//
// A browser cannot ask whether a hub runs without trying to reach it, and an attempt that
// finds nothing is logged as a network error in the console. So the page only tries when the
// person asks: the buttons appear (enabled) wherever the script runs, a click registers with
// the hub (the hub asks its user to accept) and sends the message. After one successful send,
// this browser remembers that a hub was seen (local storage) and later pages check for it when
// they load, so their buttons are disabled, and say why, while no hub runs.
//
// sampjs is served as its own classic script (/static/sampjs.js, built apart because it is
// sloppy-mode code) and loaded on first use, so pages that never send anything never load it.
import { el } from "./util.js";

let loading = null;

/** sampjs's `samp` namespace, loading /static/sampjs.js the first time. */
function sampjs() {
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = el("script", { src: "/static/sampjs.js" });
      script.addEventListener("load", () => resolve(window.islaSampjs.samp));
      script.addEventListener("error", () => reject(new Error("the SAMP client did not load")));
      document.head.append(script);
    });
  }
  return loading;
}

const SEEN = "isla-samp-hub-seen";
const MTYPES = {
  votable: "table.load.votable",
  "fits-table": "table.load.fits",
  "fits-image": "image.load.fits",
};

let connector = null;

function theConnector(samp) {
  if (!connector) {
    connector = new samp.Connector("ISLA", {
      "samp.name": "ISLA",
      "samp.description.text": "INTEGRAL Science Legacy Archive (web portal)",
      "home.page": location.origin,
    });
    window.addEventListener("pagehide", () => connector.unregister());
  }
  return connector;
}

function remembered() {
  try {
    return localStorage.getItem(SEEN) === "1";
  } catch {
    return false;
  }
}

function remember() {
  try {
    localStorage.setItem(SEEN, "1");
  } catch {
    // private mode: the page simply does not check on load next time
  }
}

/** Send the file behind a link to every SAMP client that takes its kind (TOPCAT, Aladin, DS9). */
async function send(link, status) {
  const mtype = MTYPES[link.dataset.samp];
  const url = new URL(link.getAttribute("href"), location.href).href;
  const name = link.dataset.sampName || link.textContent.trim();
  status.textContent = "Contacting the SAMP hub …";
  let samp;
  try {
    samp = await sampjs();
  } catch (err) {
    status.textContent = `${err.message}.`;
    return;
  }
  theConnector(samp).runWithConnection((connection) => {
    connection.notifyAll([new samp.Message(mtype, { url, name })], () => {
      remember();
      status.textContent = `Sent ${name} to the SAMP hub (${mtype}).`;
    }, (err) => {
      status.textContent = `The SAMP hub refused the message: ${err}.`;
    });
  }, () => {
    status.textContent = "No SAMP hub answered: start TOPCAT (it runs one, with its Web Profile) and try again.";
  });
}

export function initSamp() {
  const links = document.querySelectorAll("a[data-samp]");
  if (!links.length) return;
  const status = el("p", { class: "samp-status", role: "status", "aria-live": "polite", id: "samp-status" });
  document.querySelector("main")?.append(status);
  const buttons = [];
  for (const link of links) {
    if (!MTYPES[link.dataset.samp]) continue;
    const name = link.dataset.sampName || link.textContent.trim();
    const button = el("button", {
      type: "button",
      class: "samp",
      "data-samp-send": "",
      "aria-label": `Send ${name} to TOPCAT (SAMP)`,
      title: "Send to TOPCAT or another SAMP tool",
      onclick: () => send(link, status),
    }, "→ TOPCAT");
    link.after(" ", button);
    buttons.push(button);
  }
  if (remembered()) {
    sampjs().then((samp) => samp.ping((running) => {
      for (const button of buttons) {
        button.disabled = !running;
        button.title = running ? "Send to TOPCAT or another SAMP tool" : "No SAMP hub is running (start TOPCAT)";
      }
    }), () => {});
  }
}
