// The GAMESA dashboard: one node live over a WebSocket, its recorded
// history played back, any range exported, and the cluster as this node
// sees it. Everything comes from the node that served the page.

import './style.css';
import * as theme from './theme.js';
import { extract, lowerBound, upperBound, Rows } from './data.js';
import { Panel, heatmap, temps, power, util, anomaly, alloc } from './charts.js';
import { renderTiles, renderDecisions, renderCluster } from './views.js';
import { Live } from './live.js';
import { dateTime, localInput } from './fmt.js';

const $ = (id) => document.getElementById(id);
const prefix = document.body.dataset.prefix;
const RATES = [1, 2, 5, 10, 20, 30, 60];
const MAX_ROWS = 20000;

const S = {
  mode: 'live',
  window: 300,
  rate: 1,
  maxRate: 60,
  node: null,
  live: new Rows(MAX_ROWS),
  plans: null, // null: the node makes no plans
  clusterCap: null, // watts; the power cap in force for this node, from the cluster's view
  plansAvailable: false,
  pb: null, // playback: {rows, from, to, head, playing, thinned}
  theme: null,
  arrivals: [], // performance.now() of recent samples
  received: 0,
  skipped: 0,
  backfilling: false,
  connState: 'connecting',
  connText: 'connecting…',
};

async function api(path, params) {
  const q = params ? '?' + new URLSearchParams(params) : '';
  const res = await fetch(prefix + path + q);
  if (!res.ok) throw new Error(`${path}: ${res.status} ${(await res.text()).trim()}`);
  return res.json();
}

function stored(key, fallback) {
  try {
    const v = localStorage.getItem(key);
    return v === null ? fallback : Number(v);
  } catch {
    return fallback;
  }
}

function store(key, v) {
  try {
    localStorage.setItem(key, String(v));
  } catch {
    // storage disabled: the setting lasts until the page reloads
  }
}

const panels = [
  new Panel('p-heatmap', heatmap),
  new Panel('p-temps', temps),
  new Panel('p-power', power),
  new Panel('p-util', util),
  new Panel('p-anomaly', anomaly),
  new Panel('p-alloc', alloc),
];

// view is what the node panels draw: the rows of the window ending at the
// newest live sample, or at the playhead.
function view() {
  let rows = [];
  let t1 = 0;
  if (S.mode === 'playback' && S.pb) {
    t1 = S.pb.head;
    const all = S.pb.rows;
    rows = all.slice(lowerBound(all, t1 - S.window), upperBound(all, t1));
  } else {
    const all = S.live.rows;
    t1 = all.length ? all[all.length - 1].t : Date.now() / 1000;
    rows = all.slice(lowerBound(all, t1 - S.window));
  }
  let t0 = t1 - S.window;
  // Live, a node younger than the window fills the charts from its first
  // sample on, instead of a sliver at the right edge.
  if (S.mode === 'live' && rows.length) t0 = Math.min(Math.max(t0, rows[0].t), t1 - 10);
  let plans = null;
  if (S.plans !== null) plans = S.plans.filter((p) => Date.parse(p.time) / 1000 <= t1);
  // The cap is the cluster's present view: drawn live, not over the past.
  const cap = S.mode === 'live' ? S.clusterCap : null;
  return { rows, t0, t1, plans, theme: S.theme, cap };
}

let frame = 0;
function schedule() {
  if (!frame) frame = requestAnimationFrame(render);
}

function render() {
  frame = 0;
  const v = view();
  for (const p of panels) p.update(v, S.theme);
  renderTiles($('tiles'), v.rows[v.rows.length - 1], v.rows.some((r) => r.models));
  renderDecisions($('p-decisions'), v.plans);
  const last = S.live.last;
  document.body.dataset.rows = String(v.rows.length);
  document.body.dataset.lastSeq = last ? String(last.seq) : '0';
  document.body.dataset.received = String(S.received);
  if (S.mode === 'playback' && S.pb) updatePlaybackLabel();
  showConn();
  // Drawn: the node may send more.
  live.ack();
}

function measuredRate() {
  const now = performance.now();
  while (S.arrivals.length && now - S.arrivals[0] > 5000) S.arrivals.shift();
  const span = S.arrivals[S.arrivals.length - 1] - S.arrivals[0];
  if (S.arrivals.length < 2 || !(span > 0)) return null;
  return ((S.arrivals.length - 1) * 1000) / span;
}

function showConn() {
  const c = $('conn');
  let text = S.connText;
  let state = S.connState;
  if (state === 'live') {
    const r = measuredRate();
    text = `live · ${r === null ? '…' : r.toFixed(1)} updates/s (asked ${S.rate}/s)`;
    if (S.skipped) text += ` · ${S.skipped} skipped while the page was busy`;
  }
  if (S.mode === 'playback') {
    state = 'playback';
    text = 'playback · live updates continue in the background' + (S.connState === 'live' ? '' : ` (${S.connText})`);
  }
  if (c.dataset.state !== state) c.dataset.state = state;
  if (c.textContent !== text) c.textContent = text;
}

// backfill fills [from, to] (seconds) of the live buffer from the recorder:
// the window before the page opened, or a gap while it was hidden or
// disconnected.
async function backfill(from, to) {
  if (S.backfilling || !(to > from)) return;
  S.backfilling = true;
  try {
    const res = await api('/api/history', { from: Math.floor(from * 1000), to: Math.ceil(to * 1000), points: 2000 });
    S.live.add(res.samples.map(extract));
    schedule();
  } catch (err) {
    console.warn('dashboard: history', err);
  } finally {
    S.backfilling = false;
  }
}

async function loadPlans(from, to) {
  if (!S.plansAvailable) {
    S.plans = null;
    return;
  }
  try {
    const res = await api('/api/plans', { from: Math.floor(from * 1000), to: Math.ceil(to * 1000) });
    S.plans = res.available ? res.plans : null;
    schedule();
  } catch (err) {
    console.warn('dashboard: plans', err);
  }
}

const live = new Live(prefix, {
  hello(m) {
    S.node = m.node;
    S.maxRate = m.max_rate;
    S.plansAvailable = !!m.plans;
    if (S.plansAvailable && S.plans === null) S.plans = [];
    const n = m.node || {};
    $('node-id').textContent = n.node_id || '';
    document.title = `GAMESA · ${n.node_id || ''}`;
    $('node-meta').textContent = [n.hostname, n.cpu_model, n.cpu_count ? n.cpu_count + ' cores' : '', 'source ' + n.source, 'mode ' + n.mode, n.version]
      .filter(Boolean)
      .join(' · ');
    fillRates();
    S.connState = 'live';
    schedule();
  },
  sample(m) {
    const r = extract(m.sample);
    const last = S.live.last;
    S.arrivals.push(performance.now());
    S.received++;
    S.skipped += m.skipped || 0;
    S.live.push(r);
    if (!last) {
      backfill(r.t - S.window, r.t);
      loadPlans(r.t - S.window, r.t);
    } else if (r.t - last.t > Math.max(2, 5 / S.rate)) {
      backfill(last.t, r.t);
    }
    S.live.trim(Math.max(S.window, 60) + 10);
    if (S.mode === 'playback') live.ack(); // nothing live to draw: keep them coming
    else schedule();
  },
  cluster(st) {
    // The cap the cluster set for this node, drawn on the power chart.
    const self = (st.members || []).find((m) => (m.info?.node_id || m.digest?.node_id) === st.self_id);
    const cap = self?.digest?.power_cap_watts;
    S.clusterCap = typeof cap === 'number' && cap > 0 ? cap : null;
    renderCluster($('cluster-summary'), $('members'), $('p-settings'), st);
    document.body.dataset.clusterMembers = String((st.members || []).length);
  },
  state(name, text) {
    S.connState = name;
    S.connText = text;
    showConn();
  },
});

function fillRates() {
  const sel = $('rate');
  const rates = RATES.filter((r) => r <= S.maxRate);
  if (!rates.includes(S.rate)) rates.push(S.rate), rates.sort((a, b) => a - b);
  sel.replaceChildren(...rates.map((r) => new Option(`${r}/s`, String(r), false, r === S.rate)));
}

// Export the range on screen: the live window, or the loaded playback range.
function exportRange() {
  if (S.mode === 'playback' && S.pb) return [S.pb.from, S.pb.to];
  const last = S.live.last;
  const t1 = last ? last.t : Date.now() / 1000;
  return [t1 - S.window, t1];
}

function exportLink(a, format) {
  a.addEventListener('click', () => {
    const [from, to] = exportRange();
    a.href = `${prefix}/api/export?` + new URLSearchParams({ format, from: Math.floor(from * 1000), to: Math.ceil(to * 1000) });
  });
}

// Playback.

function setMode(mode) {
  S.mode = mode;
  $('mode-live').setAttribute('aria-pressed', String(mode === 'live'));
  $('mode-playback').setAttribute('aria-pressed', String(mode === 'playback'));
  $('playback').hidden = mode !== 'playback';
  if (mode === 'playback') {
    if (!$('pb-from').value) setInputs(3600);
  } else {
    if (S.pb) S.pb.playing = false;
    const last = S.live.last;
    if (last) loadPlans(last.t - S.window, last.t);
  }
  schedule();
}

function setInputs(lastSeconds) {
  const now = Date.now();
  $('pb-from').value = localInput(now - lastSeconds * 1000);
  $('pb-to').value = localInput(now);
}

async function loadRange() {
  const from = new Date($('pb-from').value).getTime();
  const to = new Date($('pb-to').value).getTime();
  if (!(to > from)) {
    $('pb-label').textContent = 'Pick a "to" after "from".';
    return;
  }
  $('pb-label').textContent = 'loading…';
  try {
    const res = await api('/api/history', { from, to, points: 2000 });
    const rows = res.samples.map(extract);
    S.pb = { rows, from: from / 1000, to: to / 1000, head: Math.min(from / 1000 + S.window, to / 1000), playing: false, thinned: res.thinned };
    const scrub = $('pb-scrub');
    scrub.min = String(Math.floor(S.pb.from));
    scrub.max = String(Math.ceil(S.pb.to));
    scrub.value = String(Math.round(S.pb.head));
    scrub.disabled = false;
    $('pb-play').disabled = false;
    document.body.dataset.playbackRows = String(rows.length);
    await loadPlans(S.pb.from, S.pb.to);
    schedule();
  } catch (err) {
    $('pb-label').textContent = String(err.message || err);
  }
}

function updatePlaybackLabel() {
  const pb = S.pb;
  $('pb-play').textContent = pb.playing ? '❚❚' : '▶';
  $('pb-play').setAttribute('aria-label', pb.playing ? 'Pause' : 'Play');
  $('pb-scrub').value = String(Math.round(pb.head));
  const n = pb.rows.length;
  $('pb-label').textContent = `${dateTime(pb.head)} · ${n} sample${n === 1 ? '' : 's'}${pb.thinned ? ' (thinned to fit the screen; export has every one)' : ''}`;
}

let lastTick = 0;
function play(now) {
  const pb = S.pb;
  if (!pb || !pb.playing || S.mode !== 'playback') return;
  const dt = lastTick ? (now - lastTick) / 1000 : 0;
  lastTick = now;
  pb.head = Math.min(pb.to, pb.head + dt * Number($('pb-speed').value));
  if (pb.head >= pb.to) pb.playing = false;
  render();
  if (pb.playing) requestAnimationFrame(play);
}

// Wiring.

S.theme = theme.colors();
theme.setup($('theme'), () => {
  S.theme = theme.colors();
  for (const p of panels) p.invalidate();
  schedule();
});

S.window = stored('gamesa.window', 300);
S.rate = stored('gamesa.rate', 1);
if (!$('window').querySelector(`option[value="${S.window}"]`)) S.window = 300;
$('window').value = String(S.window);
const urlRate = Number(new URLSearchParams(location.search).get('rate'));
if (urlRate > 0) S.rate = urlRate;
fillRates();

$('rate').addEventListener('change', (e) => {
  S.rate = Number(e.target.value);
  store('gamesa.rate', S.rate);
  S.arrivals = [];
  live.setRate(S.rate);
});
$('window').addEventListener('change', (e) => {
  S.window = Number(e.target.value);
  store('gamesa.window', S.window);
  const rows = S.live.rows;
  if (rows.length) backfill(rows[rows.length - 1].t - S.window, rows[0].t);
  schedule();
});
$('mode-live').addEventListener('click', () => setMode('live'));
$('mode-playback').addEventListener('click', () => setMode('playback'));
for (const b of document.querySelectorAll('.presets button')) {
  b.addEventListener('click', () => {
    setInputs(Number(b.dataset.last));
    loadRange();
  });
}
$('pb-load').addEventListener('click', loadRange);
$('pb-play').addEventListener('click', () => {
  const pb = S.pb;
  if (!pb) return;
  if (pb.head >= pb.to) pb.head = pb.from;
  pb.playing = !pb.playing;
  lastTick = 0;
  if (pb.playing) requestAnimationFrame(play);
  schedule();
});
$('pb-scrub').addEventListener('input', (e) => {
  if (!S.pb) return;
  S.pb.head = Number(e.target.value);
  schedule();
});
exportLink($('export-csv'), 'csv');
exportLink($('export-json'), 'json');

// Plans change rarely; a slow poll keeps the timeline current.
setInterval(() => {
  const last = S.live.last;
  if (S.mode === 'live' && S.plansAvailable && last) loadPlans(last.t - S.window, last.t);
}, 5000);
// The rate and "ago" texts age even when no sample arrives.
setInterval(showConn, 1000);

live.start(S.rate);
renderTiles($('tiles'), null, false);
