// Bundles src/ into ../dist (app.js, app.css), which the Go binary embeds.
// Run through `npm run build` after `npm ci`.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const read = (p) => readFileSync(new URL(p, import.meta.url), 'utf8');
const uplot = JSON.parse(read('./node_modules/uplot/package.json'));
// uPlot's MIT licence asks that its notice travel with every copy.
const notice = `/*! uPlot ${uplot.version} (${uplot.homepage || 'https://github.com/leeoniya/uPlot'})\n${read('./node_modules/uplot/LICENSE').trim()}\n*/`;

await build({
  entryPoints: ['src/main.js'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2020',
  outdir: '../dist',
  entryNames: 'app',
  legalComments: 'eof',
  banner: { js: notice, css: notice },
  logLevel: 'warning',
});
