// Samples arrive as protojson with the .proto field names: 64-bit integers
// are strings, and zero values are left out. extract() turns one into the
// flat record the views draw; nothing here makes up a value: what a sample
// lacks stays null and is drawn as a gap.

export const num = (v) => (v === undefined || v === null ? 0 : Number(v));

// Per-core sensors: coretemp's "Core 3", the simulated "Core 3".
const CORE_LABEL = /^core\s*(\d+)$/i;
// The CPU package: Intel's "Package id 0", AMD's Tctl/Tdie, the
// x86_pkg_temp thermal zone.
const PACKAGE_LABEL = /package id|^tctl$|^tdie$|x86_pkg_temp/i;
const GPU_CHIP = /gpu|amdgpu|nouveau|radeon/i;

export function extract(s) {
  const t = Date.parse(s.time) / 1000;
  const r = {
    t,
    seq: num(s.seq),
    cpu: num(s.cpu?.utilization_percent),
    user: num(s.cpu?.user_percent),
    sys: num(s.cpu?.system_percent),
    iowait: num(s.cpu?.iowait_percent),
    mem: s.memory ? num(s.memory.used_percent) : null,
    memUsed: num(s.memory?.used_bytes),
    memTotal: num(s.memory?.total_bytes),
    coreTemps: [], // [core number, °C], by core
    pkg: null,
    pkgMax: 0,
    gpus: [], // {key, name, temp, power, limit, util, memUtil}
    rapl: [], // {key, name, watts, limit}
    totalWatts: s.power ? num(s.power.total_watts) : null,
    forecast: [], // {h, c}
    anomaly: null, // {score, thr, flag}
    workload: null, // {cls, conf}
    models: s.insights !== undefined,
  };
  let coreMax = null;
  for (const ts of s.thermal || []) {
    const c = num(ts.temperature_celsius);
    const label = ts.label || '';
    const m = CORE_LABEL.exec(label);
    if (m && !GPU_CHIP.test(ts.chip || '')) {
      r.coreTemps.push([Number(m[1]), c]);
      coreMax = coreMax === null ? c : Math.max(coreMax, c);
    } else if (r.pkg === null && (PACKAGE_LABEL.test(label) || PACKAGE_LABEL.test(ts.name || ''))) {
      r.pkg = c;
      r.pkgMax = num(ts.max_celsius);
    }
  }
  r.coreTemps.sort((a, b) => a[0] - b[0]);
  if (r.pkg === null) r.pkg = coreMax; // no package sensor: the hottest core
  for (const g of s.gpus || []) {
    r.gpus.push({
      key: 'gpu' + num(g.index),
      name: g.name || 'GPU ' + num(g.index),
      temp: num(g.temperature_celsius),
      power: num(g.power_watts),
      limit: num(g.power_limit_watts),
      util: num(g.utilization_percent),
      memUtil: num(g.memory_utilization_percent),
    });
  }
  if (r.gpus.length === 0) {
    // No NVML: a GPU's hwmon sensor still tells its temperature.
    for (const ts of s.thermal || []) {
      if (GPU_CHIP.test(ts.chip || '')) {
        r.gpus.push({ key: 'hw:' + ts.name, name: ts.label || ts.name, temp: num(ts.temperature_celsius), power: null, limit: 0, util: null, memUtil: null });
      }
    }
  }
  for (const d of s.power?.rapl || []) {
    r.rapl.push({ key: d.zone + '/' + d.name, name: d.name || d.zone, watts: num(d.watts), limit: num(d.long_term_limit_watts) });
  }
  const ins = s.insights;
  if (ins) {
    for (const f of ins.thermal_forecast || []) r.forecast.push({ h: num(f.horizon_seconds), c: num(f.celsius) });
    // Zeros until the detector is ready: not a score.
    if (num(ins.anomaly_threshold) > 0) {
      r.anomaly = { score: num(ins.anomaly_score), thr: num(ins.anomaly_threshold), flag: !!ins.anomalous };
    }
    if (ins.workload_class) r.workload = { cls: ins.workload_class, conf: num(ins.workload_confidence) };
  }
  return r;
}

// lowerBound is the first index whose t >= x.
export function lowerBound(rows, x) {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rows[mid].t < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// upperBound is the first index whose t > x.
export function upperBound(rows, x) {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rows[mid].t <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// merge joins two time-sorted row lists, dropping duplicates (same time and
// seq): a backfill after a reconnect overlaps what the socket delivered.
export function merge(a, b) {
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let r;
    if (j >= b.length || (i < a.length && a[i].t <= b[j].t)) r = a[i++];
    else r = b[j++];
    const last = out[out.length - 1];
    if (last && last.t === r.t && last.seq === r.seq) continue;
    out.push(r);
  }
  return out;
}

// Rows is the live buffer: time-sorted, bounded by age and by count.
export class Rows {
  constructor(maxRows) {
    this.rows = [];
    this.maxRows = maxRows;
  }

  push(r) {
    const last = this.rows[this.rows.length - 1];
    if (last && r.t < last.t) {
      // The node's clock stepped back, or the agent restarted with an
      // older clock: keep the buffer sorted.
      this.rows = merge(this.rows, [r]);
    } else if (!(last && last.t === r.t && last.seq === r.seq)) {
      this.rows.push(r);
    }
  }

  add(rows) {
    this.rows = merge(this.rows, rows);
  }

  trim(keepSeconds) {
    const rows = this.rows;
    if (rows.length === 0) return;
    const cut = lowerBound(rows, rows[rows.length - 1].t - keepSeconds);
    const over = rows.length - this.maxRows;
    const drop = Math.max(cut, over);
    if (drop > 0) this.rows = rows.slice(drop);
  }

  get last() {
    return this.rows[this.rows.length - 1];
  }
}

// cpusetCount counts the CPUs of a cpuset list such as "0-3,6".
export function cpusetCount(v) {
  let n = 0;
  for (const part of String(v).split(',')) {
    const p = part.trim();
    if (!p) continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    if (!m) return null;
    n += m[2] === undefined ? 1 : Number(m[2]) - Number(m[1]) + 1;
  }
  return n;
}

// allocation reads the cores and weight each target (an app's cgroup) got in
// a plan; null when the plan allocates nothing.
export function allocation(plan) {
  const by = new Map();
  for (const a of plan?.actions || []) {
    if (a.knob !== 'cgroup.cpuset' && a.knob !== 'cgroup.weight') continue;
    const k = a.target || '(global)';
    const e = by.get(k) || { target: k, cores: null, weight: null };
    if (a.knob === 'cgroup.cpuset') e.cores = cpusetCount(a.value);
    else e.weight = Number(a.value);
    by.set(k, e);
  }
  return by.size ? [...by.values()] : null;
}

// decisions turns plans into timeline entries, newest first: a mode change
// reads "balanced → gaming", and every entry carries its reasons.
export function decisions(plans) {
  const out = [];
  let prev = null;
  for (const p of plans) {
    const reasons = [];
    for (const a of p.actions || []) {
      for (const r of a.reasons || []) if (!reasons.includes(r)) reasons.push(r);
    }
    const mode = (p.mode || '').toLowerCase();
    const changed = prev !== null && prev !== mode;
    if (prev === null || changed || (p.actions || []).length > 0) {
      out.push({ t: Date.parse(p.time) / 1000, from: changed ? prev : null, mode, reasons, actions: (p.actions || []).length });
    }
    prev = mode;
  }
  return out.reverse();
}
