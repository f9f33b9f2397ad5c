// The parts of the page that are text, not charts: the node's tiles, the
// decision timeline and the cluster's cards.

import { decisions } from './data.js';
import { ago, bytes, clock, dash, el, fixed } from './fmt.js';

function tile(k, v, s = '', bad = false) {
  return el('div', { class: 'tile' + (bad ? ' bad' : '') }, el('div', { class: 'k' }, k), el('div', { class: 'v' }, v), el('div', { class: 's' }, s));
}

// renderTiles shows the newest sample of the view; models tells whether
// any sample in the view carried insights.
export function renderTiles(box, r, models) {
  if (!r) {
    box.replaceChildren(tile('Samples', dash, 'none in this range'));
    return;
  }
  const gpu = r.gpus[0];
  const pkgCap = r.rapl.find((d) => d.limit > 0);
  let workload = dash;
  let workloadSub = models ? 'classifier not ready' : 'models off';
  if (r.workload) {
    workload = r.workload.cls;
    workloadSub = fixed(100 * r.workload.conf, 0, ' % confident');
  }
  let anomaly = dash;
  let anomalySub = models ? 'detector learning' : 'models off';
  if (r.anomaly) {
    anomaly = r.anomaly.flag ? 'anomalous' : 'normal';
    anomalySub = `score ${r.anomaly.score.toFixed(3)} / ${r.anomaly.thr.toFixed(3)}`;
  }
  box.replaceChildren(
    tile('CPU', fixed(r.cpu, 1, ' %'), `user ${fixed(r.user, 0, '%')} · sys ${fixed(r.sys, 0, '%')}`),
    tile('CPU temperature', fixed(r.pkg, 1, ' °C'), r.pkgMax ? `throttles at ${fixed(r.pkgMax, 0, ' °C')}` : ''),
    tile('GPU', gpu ? fixed(gpu.temp, 1, ' °C') : dash, gpu ? `${gpu.name}${gpu.util !== null ? ' · ' + fixed(gpu.util, 0, ' %') : ''}` : 'no GPU reported'),
    tile('Power', r.totalWatts ? fixed(r.totalWatts, 1, ' W') : dash, pkgCap ? `cap ${fixed(pkgCap.limit, 0, ' W')} (${pkgCap.name})` : 'no cap reported'),
    tile('Memory', fixed(r.mem, 1, ' %'), r.memTotal ? `${bytes(r.memUsed)} of ${bytes(r.memTotal)}` : ''),
    tile('Workload', workload, workloadSub),
    tile('Anomaly', anomaly, anomalySub, !!r.anomaly?.flag),
    tile('Sample', '#' + r.seq, clock(r.t)),
  );
}

// renderDecisions lists the plans' decisions, newest first; plans is null
// when the node makes no plans.
export function renderDecisions(panel, plans) {
  const list = panel.querySelector('.timeline');
  const empty = panel.querySelector('.empty');
  const items = plans ? decisions(plans) : [];
  if (!items.length) {
    panel.dataset.state = 'empty';
    panel.dataset.points = '0';
    empty.textContent = plans === null ? "No decisions yet: this node's optimizer makes no plans." : 'No decisions yet in this range.';
    list.replaceChildren();
    return;
  }
  panel.dataset.state = 'data';
  panel.dataset.points = String(items.length);
  list.replaceChildren(
    ...items.slice(0, 100).map((d) =>
      el(
        'li',
        {},
        el('time', { datetime: new Date(d.t * 1000).toISOString() }, clock(d.t)),
        el('span', { class: 'mode' }, d.from ? `${d.from} → ${d.mode}` : d.mode || 'plan'),
        d.reasons.length ? el('span', { class: 'why' }, ': ' + d.reasons.join('; ')) : null,
        d.actions ? el('span', { class: 'why' }, ` (${d.actions} action${d.actions === 1 ? '' : 's'})`) : null,
      ),
    ),
  );
}

const STATE = {
  MEMBER_STATE_ALIVE: 'alive',
  MEMBER_STATE_SUSPECT: 'suspect',
  MEMBER_STATE_DEAD: 'dead',
  MEMBER_STATE_LEFT: 'left',
};

const ROLE = { NODE_ROLE_SERVER: 'server', NODE_ROLE_CLIENT: 'client' };

// budget reads the cluster power budget from the replicated settings (a
// key such as "power/budget_watts"); null when none is set.
export function budget(settings) {
  for (const s of settings || []) {
    if (/budget/.test(s.key || '') && /watts/.test(s.key || '')) {
      const v = Number(s.value);
      if (Number.isFinite(v) && v > 0) return { key: s.key, watts: v };
    }
  }
  return null;
}

const pos = (v) => (typeof v === 'number' && v > 0 ? v : null);

export function renderCluster(summaryBox, membersBox, settingsPanel, st) {
  const members = st?.members || [];
  const alive = members.filter((m) => m.state === 'MEMBER_STATE_ALIVE');
  const used = alive.reduce((w, m) => w + (m.summary?.power_watts || m.digest?.power_watts || 0), 0);
  const leader = st?.leader_id || '';
  const b = budget(st?.settings);
  const servers = st?.raft_servers || [];
  const voters = servers.filter((s) => s.voter).length;
  const tiles = [
    tile('Leader', leader || 'none', leader ? (leader === st.self_id ? 'this node' : '') : 'no leader elected'),
    tile('Members', `${alive.length} / ${members.length}`, 'alive / known'),
    tile('Power used', fixed(used, 1, ' W'), b ? `of ${fixed(b.watts, 0, ' W')} budget (${fixed((100 * used) / b.watts, 0, ' %')})` : 'sum over alive members; no cluster budget set', b !== null && used > b.watts),
  ];
  if (servers.length) tiles.push(tile('Raft', `${voters} voter${voters === 1 ? '' : 's'}`, `${servers.length} server${servers.length === 1 ? '' : 's'} · term ${st.term || 0} · commit ${st.commit_index || 0}`));
  summaryBox.replaceChildren(...tiles);
  membersBox.replaceChildren(
    ...members.map((m) => {
      const info = m.info || {};
      const s = m.summary || {};
      const d = m.digest || {};
      const id = info.node_id || d.node_id || '?';
      const state = STATE[m.state] || 'unknown';
      const cap = pos(d.power_cap_watts);
      const rows = [
        ['role', ROLE[m.role] || info.role || '—'],
        ['temperature', fixed(pos(s.max_temperature_celsius) ?? pos(d.max_temperature_celsius), 1, ' °C')],
        ['power', fixed(s.power_watts ?? d.power_watts, 1, ' W')],
        ['cap', cap ? fixed(cap, 0, ' W') : '— none reported'],
        ['CPU', fixed(s.cpu_utilization_percent ?? d.cpu_utilization_percent, 1, ' %')],
        ['memory', fixed(s.memory_used_percent ?? d.memory_used_percent, 1, ' %')],
      ];
      if (pos(d.thermal_headroom_celsius)) rows.push(['headroom', fixed(d.thermal_headroom_celsius, 1, ' °C')]);
      if (pos(d.gpu_temperature_celsius)) rows.push(['GPU', `${fixed(d.gpu_temperature_celsius, 1, ' °C')} · ${fixed(d.gpu_utilization_percent || 0, 0, ' %')}`]);
      if (d.app_class) rows.push(['workload', d.app_class]);
      if (d.model_version) rows.push(['models', d.model_version]);
      rows.push(['last seen', m.last_seen ? ago(Date.parse(m.last_seen) / 1000) : '—']);
      return el(
        'div',
        { class: 'member', 'data-node': id },
        el(
          'h4',
          {},
          id,
          id === leader ? el('span', { class: 'badge leader' }, 'leader') : null,
          id === st.self_id ? el('span', { class: 'badge' }, 'this node') : null,
          state !== 'alive' ? el('span', { class: 'badge bad' }, state) : null,
          m.stale ? el('span', { class: 'badge bad' }, 'stale') : null,
        ),
        el('dl', {}, ...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
      );
    }),
  );
  const settings = st?.settings || [];
  const list = settingsPanel.querySelector('dl');
  if (!settings.length) {
    settingsPanel.dataset.state = 'empty';
    list.replaceChildren();
  } else {
    settingsPanel.dataset.state = 'data';
    list.replaceChildren(...settings.flatMap((x) => [el('dt', {}, x.key), el('dd', {}, x.value)]));
  }
}
