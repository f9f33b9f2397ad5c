// Formatting for tiles, cards and legends. A missing value shows as "—".

export const dash = '—';

export function fixed(v, digits = 1, unit = '') {
  if (v === null || v === undefined || !Number.isFinite(v)) return dash;
  return v.toFixed(digits) + unit;
}

export function bytes(v) {
  if (!v) return dash;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return v.toFixed(i ? 1 : 0) + ' ' + units[i];
}

export function clock(sec) {
  return new Date(sec * 1000).toLocaleTimeString([], { hour12: false });
}

export function dateTime(sec) {
  return new Date(sec * 1000).toLocaleString([], { hour12: false });
}

export function ago(sec) {
  const d = Date.now() / 1000 - sec;
  if (!Number.isFinite(d)) return dash;
  if (d < 1.5) return 'now';
  if (d < 90) return Math.round(d) + ' s ago';
  if (d < 5400) return Math.round(d / 60) + ' min ago';
  return Math.round(d / 3600) + ' h ago';
}

// localInput renders a time for an <input type="datetime-local">.
export function localInput(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
