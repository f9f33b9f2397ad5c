// Unit tests of the page's data handling (no browser needed): run with
// `npm test` (node --test). The browser test in ../browser_test.go covers
// the page as a whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extract, merge, Rows, cpusetCount, allocation, decisions, lowerBound, upperBound } from '../src/data.js';

const sample = {
  time: '2026-03-01T12:00:01.500Z',
  seq: '42',
  cpu: { utilization_percent: 31.5, user_percent: 25, system_percent: 6.5, cores: [{}, { id: 1 }] },
  memory: { used_percent: 50, used_bytes: '8000', total_bytes: '16000' },
  thermal: [
    { name: 'coretemp/Package id 0', chip: 'coretemp', label: 'Package id 0', temperature_celsius: 61, max_celsius: 95 },
    { name: 'coretemp/Core 1', chip: 'coretemp', label: 'Core 1', temperature_celsius: 58 },
    { name: 'coretemp/Core 0', chip: 'coretemp', label: 'Core 0', temperature_celsius: 60 },
    { name: 'sim/GPU', chip: 'sim-gpu', label: 'GPU Core', temperature_celsius: 70 },
  ],
  power: { total_watts: 20, rapl: [{ zone: 'intel-rapl:0', name: 'package-0', watts: 20, long_term_limit_watts: 45 }] },
  gpus: [{ name: 'GTX', temperature_celsius: 70, power_watts: 40, power_limit_watts: 50, utilization_percent: 80 }],
  insights: { thermal_forecast: [{ horizon_seconds: 10, celsius: 63 }], anomaly_score: 0.2, anomaly_threshold: 0.5, workload_class: 'game', workload_confidence: 0.9 },
};

test('extract reads a sample without inventing values', () => {
  const r = extract(sample);
  assert.equal(r.t, Date.parse('2026-03-01T12:00:01.500Z') / 1000);
  assert.equal(r.seq, 42);
  assert.equal(r.cpu, 31.5);
  assert.equal(r.pkg, 61);
  assert.equal(r.pkgMax, 95);
  assert.deepEqual(r.coreTemps, [[0, 60], [1, 58]], 'per-core sensors by core, not the GPU core');
  assert.deepEqual(r.gpus.map((g) => [g.key, g.temp, g.power]), [['gpu0', 70, 40]]);
  assert.deepEqual(r.rapl, [{ key: 'intel-rapl:0/package-0', name: 'package-0', watts: 20, limit: 45 }]);
  assert.deepEqual(r.forecast, [{ h: 10, c: 63 }]);
  assert.deepEqual(r.anomaly, { score: 0.2, thr: 0.5, flag: false });
  assert.deepEqual(r.workload, { cls: 'game', conf: 0.9 });

  const bare = extract({ time: '2026-03-01T12:00:02Z', seq: '1' });
  assert.equal(bare.pkg, null, 'no sensors: no CPU temperature');
  assert.equal(bare.mem, null);
  assert.equal(bare.anomaly, null);
  assert.equal(bare.models, false, 'no insights: models are off');
  const learning = extract({ ...sample, insights: { anomaly_score: 0, anomaly_threshold: 0 } });
  assert.equal(learning.anomaly, null, 'a detector that is not ready has no score');
});

test('merge and Rows keep time order without duplicates', () => {
  const row = (t, seq) => ({ t, seq });
  assert.deepEqual(merge([row(1, 1), row(3, 3)], [row(2, 2), row(3, 3), row(4, 4)]).map((r) => r.seq), [1, 2, 3, 4]);
  const rows = new Rows(3);
  for (const r of [row(1, 1), row(2, 2), row(2, 2), row(5, 5), row(4, 4)]) rows.push(r);
  assert.deepEqual(rows.rows.map((r) => r.seq), [1, 2, 4, 5], 'a late row is put in order; a repeat is dropped');
  rows.trim(100);
  assert.deepEqual(rows.rows.map((r) => r.seq), [2, 4, 5], 'bounded by count');
  rows.trim(1.5);
  assert.deepEqual(rows.rows.map((r) => r.seq), [4, 5], 'bounded by age');
  const sorted = [row(1, 1), row(2, 2), row(2, 3), row(3, 4)];
  assert.equal(lowerBound(sorted, 2), 1);
  assert.equal(upperBound(sorted, 2), 3);
});

test('allocation reads cores and weights per app from a plan', () => {
  assert.equal(cpusetCount('0-3,6'), 5);
  assert.equal(cpusetCount('7'), 1);
  assert.equal(cpusetCount('x'), null);
  assert.equal(allocation({ actions: [{ knob: 'cpufreq.governor', value: 'performance' }] }), null);
  assert.deepEqual(
    allocation({
      actions: [
        { knob: 'cgroup.cpuset', target: 'game', value: '0-5' },
        { knob: 'cgroup.weight', target: 'game', value: '800' },
        { knob: 'cgroup.weight', target: 'background', value: '50' },
      ],
    }),
    [
      { target: 'game', cores: 6, weight: 800 },
      { target: 'background', cores: null, weight: 50 },
    ],
  );
});

test('decisions show mode changes with their reasons, newest first', () => {
  const plans = [
    { time: '2026-03-01T12:00:00Z', mode: 'BALANCED' },
    { time: '2026-03-01T12:01:00Z', mode: 'BALANCED' },
    { time: '2026-03-01T12:02:00Z', mode: 'GAMING', actions: [{ knob: 'cgroup.cpuset', reasons: ['game in foreground'] }, { knob: 'process.nice', reasons: ['game in foreground', 'boost'] }] },
  ];
  const d = decisions(plans);
  assert.equal(d.length, 2, 'an unchanged plan with no actions is not a decision');
  assert.deepEqual([d[0].from, d[0].mode, d[0].reasons, d[0].actions], ['balanced', 'gaming', ['game in foreground', 'boost'], 2]);
  assert.deepEqual([d[1].from, d[1].mode], [null, 'balanced']);
});
