// The page follows the system's colour scheme until the toggle is used; the
// choice is remembered. A choice equal to the system's is forgotten, so the
// page follows the system again.

const KEY = 'gamesa.theme';
const dark = window.matchMedia('(prefers-color-scheme: dark)');

function stored() {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null; // storage disabled: follow the system
  }
}

function store(v) {
  try {
    if (v) localStorage.setItem(KEY, v);
    else localStorage.removeItem(KEY);
  } catch {
    // storage disabled: the choice lasts until the page reloads
  }
}

export function current() {
  return stored() || (dark.matches ? 'dark' : 'light');
}

function apply() {
  const s = stored();
  if (s) document.documentElement.dataset.theme = s;
  else delete document.documentElement.dataset.theme;
}

// colors reads the theme's palette from the CSS variables.
export function colors() {
  const cs = getComputedStyle(document.documentElement);
  const v = (n) => cs.getPropertyValue(n).trim();
  return {
    fg: v('--fg'),
    muted: v('--muted'),
    grid: v('--grid'),
    border: v('--border'),
    bad: v('--bad'),
    ok: v('--ok'),
    series: ['--c1', '--c2', '--c3', '--c4', '--c5', '--c6', '--c7', '--c8'].map(v),
  };
}

// setup applies the stored choice, wires the toggle, and calls onChange
// after every change (a click, or the system switching).
export function setup(button, onChange) {
  apply();
  const label = () => {
    const next = current() === 'dark' ? 'light' : 'dark';
    button.textContent = next === 'dark' ? '☾ Dark' : '☀ Light';
    button.title = 'Switch to the ' + next + ' theme';
  };
  label();
  button.addEventListener('click', () => {
    const next = current() === 'dark' ? 'light' : 'dark';
    const system = dark.matches ? 'dark' : 'light';
    store(next === system ? null : next);
    apply();
    label();
    onChange();
  });
  dark.addEventListener('change', () => {
    apply();
    label();
    onChange();
  });
}
