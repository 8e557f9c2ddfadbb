// The portal's scripts: each part looks for its page's markers and does nothing elsewhere,
// so one bundle serves every page and every page works without it.
import { initSearch } from "./search.js";
import { initBasketButtons, initBasketPage, updateBasketCount } from "./basket.js";
import { initLightCurve } from "./lightcurve.js";
import { initSpectrum } from "./spectrum.js";
import { initQuery } from "./query.js";
import { initSamp } from "./samp.js";
import { initTimeseries } from "./timeseries.js";

function start() {
  initSearch();
  initBasketButtons();
  updateBasketCount();
  initBasketPage();
  initLightCurve();
  initSpectrum();
  initQuery();
  initTimeseries();
  initSamp();
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
