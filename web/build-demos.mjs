// Bundles the two example pages (react.html, rtk.html) with esbuild: React
// and Redux Toolkit come from npm (devDependencies), tokengate-client from
// this package itself, resolved by name through package.json `exports` as an
// app would. Output: build/ (not checked in). scripts/e2e.sh runs this.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// build/node_modules/tokengate-client -> web/: the package under its own name.
const link = path.join(here, 'build', 'node_modules', 'tokengate-client');
fs.mkdirSync(path.dirname(link), { recursive: true });
fs.rmSync(link, { force: true });
fs.symlinkSync(path.relative(path.dirname(link), here), link);
await build({
  absWorkingDir: here,
  entryPoints: { 'react-demo': 'examples/react-demo.jsx', 'rtk-demo': 'examples/rtk-demo.js' },
  bundle: true,
  format: 'esm',
  target: 'es2022',
  outdir: 'build',
  jsx: 'automatic',
  define: { 'process.env.NODE_ENV': '"production"' },
  // `tokengate-client` and its subpaths resolve to this directory's package.
  nodePaths: [path.join(here, 'build', 'node_modules')],
  logLevel: 'warning',
});
