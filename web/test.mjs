// Unit tests of the page's pure logic: bundled by esbuild, run by node's test runner.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const here = new URL(".", import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), "shopme-web-test-"));
try {
  const tests = readdirSync(`${here}test`).filter((name) => name.endsWith(".test.ts"));
  await build({
    entryPoints: tests.map((name) => `${here}test/${name}`),
    bundle: true,
    platform: "node",
    format: "esm",
    outdir: out,
    outExtension: { ".js": ".mjs" },
    logLevel: "warning",
  });
  const files = readdirSync(out).map((name) => join(out, name));
  const run = spawnSync(process.execPath, ["--test", ...files], { stdio: "inherit" });
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
