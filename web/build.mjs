// Bundles the page into dist/: index.html, assets/app.js, assets/app.css. Served by
// `python -m support_tools.web`; dist/ is built on install (make), never committed.
import { build } from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";

const here = new URL(".", import.meta.url).pathname;
await rm(`${here}dist`, { recursive: true, force: true });
await mkdir(`${here}dist/assets`, { recursive: true });
await build({
  entryPoints: { app: `${here}src/main.ts` },
  bundle: true,
  format: "esm",
  target: ["es2020"],
  minify: true,
  sourcemap: true,
  outdir: `${here}dist/assets`,
  logLevel: "warning",
});
await copyFile(`${here}src/styles.css`, `${here}dist/assets/app.css`);
await copyFile(`${here}index.html`, `${here}dist/index.html`);
