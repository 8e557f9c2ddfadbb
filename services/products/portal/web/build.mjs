// Bundle the portal's scripts and styles into ../static/ (served by the archive at /static/).
import { build } from "esbuild";
import { mkdirSync } from "node:fs";

const out = new URL("../static/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });
await build({
  // The sky viewer (Aladin Lite, 2.5 MB with its WebAssembly) is loaded by /sky alone.
  entryPoints: { portal: "src/portal.js", sky: "src/sky.js" },
  bundle: true,
  format: "esm",
  splitting: false,
  minify: true,
  sourcemap: false,
  target: ["es2020"],
  outdir: out,
  legalComments: "linked",
  logLevel: "warning",
});
// sampjs (the SAMP Web Profile client) as a classic, non-strict script: see src/sampjs-global.cjs.
await build({
  entryPoints: { sampjs: "src/sampjs-global.cjs" },
  bundle: true,
  format: "iife",
  globalName: "islaSampjs",
  minify: true,
  target: ["es2020"],
  outdir: out,
  legalComments: "linked",
  logLevel: "warning",
});
await build({
  entryPoints: { portal: "src/portal.css" },
  bundle: true,
  minify: true,
  outdir: out,
  logLevel: "warning",
});
