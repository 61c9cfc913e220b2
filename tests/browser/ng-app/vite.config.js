// SPDX-License-Identifier: BSD-3-Clause
// vite.config.js: build Neuroglancer's default viewer from the npm package into dist/ (relative
// URLs, so `cvmpi serve --neuroglancer-dir dist` can serve it at /ng/). Only the precomputed
// data source is enabled.
import fs from "node:fs";
import path from "node:path";
import { defineConfig } from "vite";

// Neuroglancer writes `new Worker(/* webpackChunkName */ new URL(...))`; vite >= 7 only sees
// the worker without the comment in between, so strip it first.
const stripWorkerComments = {
  name: "strip-ng-worker-comments",
  enforce: "pre",
  transform(code, id) {
    if (!id.includes("/neuroglancer/lib/") || !code.includes("new Worker(")) return null;
    return { code: code.replace(/new Worker\(\s*\/\*[^*]*\*\/\s*/g, "new Worker("), map: null };
  },
};

// ikonate 1.1.1 (the release on npm) lacks a few icons Neuroglancer imports: give those a
// blank placeholder instead of fetching ikonate from GitHub.
const ikonateDir = path.resolve("node_modules/ikonate/icons");
const missingIcons = {
  name: "ikonate-placeholders",
  enforce: "pre",
  resolveId(id) {
    const m = /^ikonate\/icons\/([a-z0-9-]+)\.svg\?raw$/.exec(id);
    if (m && !fs.existsSync(path.join(ikonateDir, m[1] + ".svg"))) return "\0ikonate:" + m[1];
    return null;
  },
  load(id) {
    if (!id.startsWith("\0ikonate:")) return null;
    return 'export default \'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"></svg>\';';
  },
};

export default defineConfig({
  plugins: [stripWorkerComments, missingIcons],
  base: "",
  resolve: {
    conditions: ["neuroglancer/datasource:none_by_default",
                 "neuroglancer/datasource/precomputed:enabled"],
  },
  worker: { format: "es", plugins: () => [stripWorkerComments, missingIcons] },
  build: { chunkSizeWarningLimit: 4 * 1024 * 1024 },
  logLevel: "warn",
});
