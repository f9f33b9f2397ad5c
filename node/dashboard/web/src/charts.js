// The node's charts, drawn with uPlot. Each Panel owns one <article>: a
// chart when its data exists, else the panel's empty text. A spec's
// compute(view) returns either {empty: text} or the series and data to draw.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { allocation } from './data.js';

const narrow = window.matchMedia('(max-width: 700px)');

export class Panel {
  constructor(id, spec) {
    this.el = document.getElementById(id);
    this.plot = this.el.querySelector('.plot');
    this.emptyEl = this.el.querySelector('.empty');
    this.noteEl = this.el.querySelector('.note');
    this.spec = spec;
    this.u = null;
    this.key = null;
    this.r = null;
    this.width = 0;
    new ResizeObserver(() => this.resize()).observe(this.plot);
  }

  // invalidate makes the next update build the chart afresh (a theme change).
  invalidate() {
    this.key = null;
  }

  update(view, theme) {
    const r = this.spec.compute(view);
    this.r = r;
    if (r.empty) {
      this.el.dataset.state = 'empty';
      this.el.dataset.points = '0';
      this.emptyEl.textContent = r.empty;
      return;
    }
    this.el.dataset.state = 'data';
    if (this.noteEl) this.noteEl.textContent = r.note || '';
    const key = r.key + '|' + theme.fg;
    if (!this.u || key !== this.key) {
      this.build(r, theme);
      this.key = key;
    } else {
      this.u.setData(r.data);
    }
    if (!(this.u.cursor.left >= 0)) showLatest(this.u);
    this.el.dataset.points = String(r.data[0].length);
  }

  size() {
    const w = Math.max(200, Math.floor(this.plot.clientWidth));
    return { width: w, height: this.spec.height ?? (narrow.matches ? 190 : 230) };
  }

  build(r, theme) {
    if (this.u) this.u.destroy();
    const { width, height } = this.size();
    this.width = width;
    const opts = {
      width,
      height,
      legend: { show: r.legend !== false },
      cursor: { drag: { x: false, y: false }, points: { show: r.cursorPoints !== false } },
      scales: {
        x: r.xTime === false ? { time: false, range: () => this.r.xRange } : { time: true, range: (u, min, max) => this.r?.xRange ?? [min, max] },
        y: r.yRange ? { range: r.yRange } : { auto: true },
        ...(r.scales || {}),
      },
      series: [{ label: r.xLabel ?? 'time', value: r.xValue }, ...r.series.map((s, i) => series(s, i, theme))],
      axes: axes(r, theme),
      hooks: { ...(r.hooks ? r.hooks(this) : {}), setCursor: [(u) => u.cursor.left >= 0 || showLatest(u)] },
    };
    this.u = new uPlot(opts, r.data, this.plot);
  }

  resize() {
    if (!this.u) return;
    const { width, height } = this.size();
    if (width !== this.width && this.plot.clientWidth > 0) {
      this.width = width;
      this.u.setSize({ width, height });
    }
  }
}

// showLatest puts each series' newest value in the legend while the
// pointer is off the chart, rather than dashes.
function showLatest(u) {
  const idxs = u.data.map((col) => {
    for (let i = col.length - 1; i >= 0; i--) if (col[i] !== null && col[i] !== undefined) return i;
    return null;
  });
  u.setLegend({ idxs }, false);
}

// timeValues labels the time axis with the clock only: the date is in the
// page, and a two-line label does not fit a phone.
function timeValues(u, splits, axisIdx, space, incr) {
  const opts = incr < 60 ? { hour: '2-digit', minute: '2-digit', second: '2-digit' } : incr < 86400 ? { hour: '2-digit', minute: '2-digit' } : { month: 'short', day: 'numeric' };
  return splits.map((v) => (v === null ? '' : new Date(v * 1000).toLocaleString([], { ...opts, hour12: false })));
}

function series(s, i, theme) {
  const color = s.color ?? theme.series[(s.colorIndex ?? i) % theme.series.length];
  const out = {
    label: s.label,
    stroke: color,
    width: s.width ?? 1.5,
    scale: s.scale ?? 'y',
    spanGaps: s.spanGaps ?? false,
    value: s.value ?? ((u, v) => (v === null || v === undefined ? '—' : v.toFixed(s.digits ?? 1) + (s.unit ?? ''))),
    points: { show: false },
  };
  if (s.dash) out.dash = s.dash;
  if (s.fill) out.fill = s.fill;
  if (s.scatter) {
    out.paths = () => null;
    out.points = { show: true, size: s.size ?? 5, stroke: color, fill: color, width: 1 };
  }
  if (s.bars) {
    out.paths = uPlot.paths.bars({ size: [0.35, 64], align: s.bars });
    out.fill = color;
  }
  return out;
}

function axes(r, theme) {
  const base = { stroke: theme.muted, grid: { stroke: theme.grid, width: 1 }, ticks: { stroke: theme.grid, width: 1 } };
  const x = { ...base, ...(r.xTime === false ? {} : { values: timeValues, space: 60 }), ...(r.xAxis || {}) };
  const y = { ...base, size: 48, ...(r.yAxis || {}) };
  const out = [x, y];
  if (r.y2Axis) out.push({ ...base, side: 1, size: 48, grid: { show: false }, ...r.y2Axis });
  return out;
}

const unitValues = (unit) => (u, splits) => splits.map((v) => (v === null ? '' : +v.toFixed(1) + unit));

// heat maps a temperature to the colour scale drawn under the heat map
// (30 °C blue to 100 °C red).
export function heat(c) {
  const x = Math.min(1, Math.max(0, (c - 30) / 70));
  return `hsl(${Math.round(220 - 220 * x)} 85% ${Math.round(45 + 10 * Math.sin(Math.PI * x))}%)`;
}

function typicalStep(ts) {
  const d = [];
  for (let i = Math.max(1, ts.length - 50); i < ts.length; i++) d.push(ts[i] - ts[i - 1]);
  d.sort((a, b) => a - b);
  return d.length ? d[d.length >> 1] : 1;
}

// Per-core temperature heat map: one band per core, one column per sample.
export const heatmap = {
  compute(view) {
    const rows = view.rows;
    const cores = new Set();
    for (const r of rows) for (const [c] of r.coreTemps) cores.add(c);
    if (cores.size === 0) {
      return { empty: rows.length ? 'This machine reports no per-core temperatures (no coretemp-style sensors).' : 'No samples in this range.' };
    }
    const order = [...cores].sort((a, b) => a - b);
    const idx = new Map(order.map((c, i) => [c, i]));
    const ts = new Array(rows.length);
    const matrix = order.map(() => new Array(rows.length).fill(null));
    rows.forEach((r, i) => {
      ts[i] = r.t;
      for (const [c, v] of r.coreTemps) matrix[idx.get(c)][i] = v;
    });
    const n = order.length;
    const every = Math.ceil(n / 12);
    return {
      key: 'heat:' + order.join(','),
      legend: false,
      cursorPoints: false,
      xRange: [view.t0, view.t1],
      yRange: () => [0, n],
      series: [{ label: 'cores', width: 0 }],
      data: [ts, new Array(rows.length).fill(null)],
      matrix,
      yAxis: {
        size: 44,
        splits: () => order.map((_, i) => i + 0.5).filter((_, i) => i % every === 0),
        values: (u, splits) => splits.map((s) => 'C' + order[Math.floor(s)]),
        grid: { show: false },
      },
      hooks: (panel) => ({ draw: [(u) => drawHeat(u, panel.r)] }),
    };
  },
};

function drawHeat(u, r) {
  if (!r || !r.matrix) return;
  const ts = u.data[0];
  const { ctx } = u;
  const { left, top, width, height } = u.bbox;
  const step = typicalStep(ts);
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, width, height);
  ctx.clip();
  const n = r.matrix.length;
  const band = (c) => [u.valToPos(c + 1, 'y', true), u.valToPos(c, 'y', true)];
  let lastX = -Infinity;
  for (let i = 0; i < ts.length; i++) {
    const x0 = u.valToPos(ts[i], 'x', true);
    // Several samples per pixel: draw the first of each column only.
    if (x0 - lastX < 1 && i + 1 < ts.length) continue;
    lastX = x0;
    const tEnd = i + 1 < ts.length ? Math.min(ts[i + 1], ts[i] + 3 * step) : ts[i] + step;
    const w = Math.max(1, u.valToPos(tEnd, 'x', true) - x0 + 0.5);
    for (let c = 0; c < n; c++) {
      const v = r.matrix[c][i];
      if (v === null) continue;
      const [y0, y1] = band(c);
      ctx.fillStyle = heat(v);
      ctx.fillRect(x0, y0, w, y1 - y0);
    }
  }
  ctx.restore();
}

// CPU and GPU temperature, with the thermal model's forecasts drawn at the
// time they forecast (sample time + horizon).
export const temps = {
  compute(view) {
    const rows = view.rows;
    const hasPkg = rows.some((r) => r.pkg !== null);
    const gpuKeys = [];
    const gpuNames = new Map();
    for (const r of rows) for (const g of r.gpus) if (!gpuNames.has(g.key)) gpuKeys.push(g.key), gpuNames.set(g.key, g.name);
    if (!hasPkg && gpuKeys.length === 0) {
      return { empty: rows.length ? 'This machine reports no CPU or GPU temperature.' : 'No samples in this range.' };
    }
    const horizons = [...new Set(rows.flatMap((r) => r.forecast.map((f) => f.h)))].sort((a, b) => a - b);
    const throttle = rows.reduce((m, r) => Math.max(m, r.pkgMax), 0);
    const ts = rows.map((r) => r.t);
    const base = [ts];
    const sers = [];
    if (hasPkg) {
      base.push(rows.map((r) => r.pkg));
      sers.push({ label: 'CPU', unit: ' °C', colorIndex: 1 });
    }
    gpuKeys.forEach((k, i) => {
      base.push(rows.map((r) => r.gpus.find((g) => g.key === k)?.temp ?? null));
      sers.push({ label: gpuNames.get(k), unit: ' °C', colorIndex: 4 + i });
    });
    if (throttle > 0) {
      base.push(rows.map(() => throttle));
      sers.push({ label: 'CPU throttles at', unit: ' °C', dash: [4, 4], width: 1, colorIndex: 7 });
    }
    let data = base;
    let xMax = view.t1;
    if (horizons.length) {
      const tables = [base];
      horizons.forEach((h, i) => {
        const fx = [];
        const fy = [];
        for (const r of rows) {
          const f = r.forecast.find((x) => x.h === h);
          if (f) fx.push(r.t + h), fy.push(f.c);
        }
        tables.push([fx, fy]);
        sers.push({ label: `forecast +${h}s`, unit: ' °C', dash: [6, 3], width: 1.5, colorIndex: 2 + (i % 2), spanGaps: true });
        xMax = Math.max(xMax, view.t1 + h);
      });
      // join fills each line's points at the other lines' times with
      // undefined, which uPlot draws through; a null stays a gap.
      data = uPlot.join(tables);
    }
    let note = '';
    if (!horizons.length) {
      note = rows.some((r) => r.models)
        ? 'No forecast yet: the thermal model forecasts once it has about ten minutes of history.'
        : 'No forecast: this node runs no models (ml.enabled is off).';
    }
    return {
      key: 'temps:' + sers.map((s) => s.label).join(','),
      xRange: [view.t0, xMax],
      series: sers,
      data,
      note,
      yAxis: { values: unitValues('°') },
    };
  },
};

// Power per RAPL domain and GPU, each against its cap (dashed).
export const power = {
  compute(view) {
    const rows = view.rows;
    const domains = [];
    const names = new Map();
    for (const r of rows) for (const d of r.rapl) if (!names.has(d.key)) domains.push(d.key), names.set(d.key, d.name);
    const gpus = [];
    for (const r of rows) for (const g of r.gpus) if (g.power !== null && !names.has(g.key)) gpus.push(g.key), names.set(g.key, g.name);
    const total = !domains.length && !gpus.length && rows.some((r) => r.totalWatts > 0);
    if (!domains.length && !gpus.length && !total) {
      return { empty: rows.length ? 'This machine reports no power readings (no RAPL, no NVIDIA GPU).' : 'No samples in this range.' };
    }
    const data = [rows.map((r) => r.t)];
    const sers = [];
    let color = 0;
    for (const k of domains) {
      const c = color++;
      data.push(rows.map((r) => r.rapl.find((d) => d.key === k)?.watts ?? null));
      sers.push({ label: names.get(k), unit: ' W', colorIndex: c });
      const lim = rows.map((r) => r.rapl.find((d) => d.key === k)?.limit || null);
      if (lim.some((v) => v !== null)) {
        data.push(lim);
        sers.push({ label: names.get(k) + ' cap', unit: ' W', colorIndex: c, dash: [4, 4], width: 1 });
      }
    }
    for (const k of gpus) {
      const c = color++;
      data.push(rows.map((r) => r.gpus.find((g) => g.key === k)?.power ?? null));
      sers.push({ label: names.get(k), unit: ' W', colorIndex: c });
      const lim = rows.map((r) => r.gpus.find((g) => g.key === k)?.limit || null);
      if (lim.some((v) => v !== null)) {
        data.push(lim);
        sers.push({ label: names.get(k) + ' cap', unit: ' W', colorIndex: c, dash: [4, 4], width: 1 });
      }
    }
    if (total) {
      data.push(rows.map((r) => r.totalWatts));
      sers.push({ label: 'total', unit: ' W' });
    }
    if (view.cap) {
      data.push(rows.map(() => view.cap));
      sers.push({ label: 'node cap (cluster)', unit: ' W', dash: [8, 4], width: 2, color: view.theme.fg });
    }
    return {
      key: 'power:' + sers.map((s) => s.label).join(','),
      xRange: [view.t0, view.t1],
      yRange: (u, min, max) => [0, Math.max(1, max * 1.05)],
      series: sers,
      data,
      note: view.cap
        ? 'Dashed: the limits in force (RAPL long-term PL1, the GPU power limit) and the cap the cluster set for this node.'
        : 'Dashed: the limits in force, RAPL long-term (PL1) and the GPU power limit; the cluster has set no cap for this node.',
      yAxis: { values: unitValues(' W') },
    };
  },
};

export const util = {
  compute(view) {
    const rows = view.rows;
    if (!rows.length) return { empty: 'No samples in this range.' };
    const data = [rows.map((r) => r.t), rows.map((r) => r.cpu), rows.map((r) => r.sys), rows.map((r) => r.iowait), rows.map((r) => r.mem)];
    const sers = [
      { label: 'CPU', unit: ' %' },
      { label: 'system', unit: ' %', width: 1 },
      { label: 'iowait', unit: ' %', width: 1 },
      { label: 'memory', unit: ' %' },
    ];
    const gpus = [];
    const names = new Map();
    for (const r of rows) for (const g of r.gpus) if (g.util !== null && !names.has(g.key)) gpus.push(g.key), names.set(g.key, g.name);
    for (const k of gpus) {
      data.push(rows.map((r) => r.gpus.find((g) => g.key === k)?.util ?? null));
      sers.push({ label: names.get(k), unit: ' %' });
    }
    return {
      key: 'util:' + sers.map((s) => s.label).join(','),
      xRange: [view.t0, view.t1],
      yRange: () => [0, 100],
      series: sers,
      data,
      yAxis: { values: unitValues('%') },
    };
  },
};

// Anomaly score over time; flagged points stand out; the threshold dashed.
export const anomaly = {
  compute(view) {
    const rows = view.rows;
    if (!rows.some((r) => r.anomaly)) {
      if (!rows.length) return { empty: 'No samples in this range.' };
      return {
        empty: rows.some((r) => r.models)
          ? "No anomaly scores yet: the detector is still learning this machine's normal."
          : 'No anomaly scores: this node runs no models (ml.enabled is off).',
      };
    }
    const ts = rows.map((r) => r.t);
    const normal = rows.map((r) => (r.anomaly && !r.anomaly.flag ? r.anomaly.score : null));
    const flagged = rows.map((r) => (r.anomaly && r.anomaly.flag ? r.anomaly.score : null));
    const thr = rows.map((r) => (r.anomaly ? r.anomaly.thr : null));
    return {
      key: 'anomaly',
      xRange: [view.t0, view.t1],
      series: [
        { label: 'score', scatter: true, size: 4, colorIndex: 0, digits: 3 },
        { label: 'flagged', scatter: true, size: 7, color: view.theme.bad, digits: 3 },
        { label: 'threshold', dash: [4, 4], width: 1, colorIndex: 7, digits: 3 },
      ],
      data: [ts, normal, flagged, thr],
    };
  },
};

// Cores and weight per app in the newest plan at the view's end.
export const alloc = {
  compute(view) {
    if (view.plans === null) return { empty: "No allocations: this node's optimizer makes no plans yet." };
    const plan = view.plans.length ? view.plans[view.plans.length - 1] : null;
    const a = allocation(plan);
    if (!a) return { empty: 'No allocations yet: no plan has set cores or a weight for an app.' };
    const xs = a.map((_, i) => i);
    const labels = a.map((e) => e.target);
    return {
      key: 'alloc:' + labels.join(','),
      xTime: false,
      xLabel: 'app',
      xValue: (u, v) => (v === null ? '—' : labels[Math.round(v)] ?? ''),
      xRange: [-0.5, a.length - 0.5],
      yRange: (u, min, max) => [0, Math.max(1, max)],
      scales: { w: { range: (u, min, max) => [0, Math.max(1, max)] } },
      series: [
        { label: 'cores', bars: -1, digits: 0, colorIndex: 0 },
        { label: 'weight', bars: 1, digits: 0, scale: 'w', colorIndex: 2 },
      ],
      data: [xs, a.map((e) => e.cores), a.map((e) => e.weight)],
      xAxis: { splits: () => xs, values: () => labels },
      yAxis: { label: 'cores', values: unitValues('') },
      y2Axis: { scale: 'w', label: 'weight', values: unitValues('') },
    };
  },
};
