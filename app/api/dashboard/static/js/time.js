// Times as the dashboard shows them: every absolute time names its zone, and relative times
// ("in 2 hours", "3 minutes ago") tick once a second.

export const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

const formatters = new Map();

function formatter(zone, withSeconds, withYear) {
  const key = `${zone}|${withSeconds}|${withYear}`;
  if (!formatters.has(key)) {
    formatters.set(
      key,
      new Intl.DateTimeFormat('en-GB', {
        timeZone: zone,
        weekday: 'short',
        day: 'numeric',
        month: 'short',
        year: withYear ? 'numeric' : undefined,
        hour: '2-digit',
        minute: '2-digit',
        second: withSeconds ? '2-digit' : undefined,
        hourCycle: 'h23',
      }),
    );
  }
  return formatters.get(key);
}

// "Tue 14 Jan, 09:00 Europe/Berlin"; seconds only when the instant has some, the year only
// when it is not this year.
export function formatIn(iso, zone) {
  const date = new Date(iso);
  const withSeconds = date.getUTCSeconds() !== 0;
  const withYear = date.getUTCFullYear() !== new Date().getUTCFullYear();
  let text;
  try {
    text = formatter(zone, withSeconds, withYear).format(date);
  } catch {
    // A zone this browser does not know: fall back to UTC and say so.
    text = formatter('UTC', withSeconds, withYear).format(date);
    zone = 'UTC';
  }
  return `${text.replace(',', '')} ${zone}`;
}

// The instant in the schedule's zone, and in the browser's zone when that differs.
export function bothZones(iso, scheduleZone) {
  const primary = formatIn(iso, scheduleZone);
  if (sameOffset(iso, scheduleZone, browserZone)) return { primary, local: null };
  return { primary, local: `${formatIn(iso, browserZone)} (your time)` };
}

function sameOffset(iso, zoneA, zoneB) {
  if (zoneA === zoneB) return true;
  const a = formatIn(iso, zoneA).replace(` ${zoneA}`, '');
  const b = formatIn(iso, zoneB).replace(` ${zoneB}`, '');
  return a === b;
}

const relativeFormat = new Intl.RelativeTimeFormat('en', { numeric: 'always' });
const UNITS = [
  ['year', 365 * 86400],
  ['month', 30 * 86400],
  ['day', 86400],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

export function relative(iso, now = Date.now()) {
  const seconds = (new Date(iso).getTime() - now) / 1000;
  if (Math.abs(seconds) < 0.5) return 'now';
  const abs = Math.abs(seconds);
  for (const [unit, size] of UNITS) {
    // Switch to a unit once there are at least 2 of it ("90 minutes", then "2 hours").
    if (abs >= 2 * size || unit === 'second') {
      return relativeFormat.format(Math.round(seconds / size), unit);
    }
  }
  return '';
}

// An element whose text is kept relative to `iso`, refreshed by the ticker below.
export function relativeNode(iso) {
  const node = document.createElement('span');
  node.className = 'relative';
  node.dataset.relative = iso;
  node.textContent = relative(iso);
  node.title = new Date(iso).toISOString();
  return node;
}

let ticking = false;

export function startRelativeTicker() {
  if (ticking) return;
  ticking = true;
  setInterval(() => {
    const now = Date.now();
    for (const node of document.querySelectorAll('[data-relative]')) {
      node.textContent = relative(node.dataset.relative, now);
    }
  }, 1000);
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

// <input type="datetime-local"> works in the browser's zone: to and from ISO instants.
export function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` +
    `T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

export function fromLocalInput(value) {
  if (!value) return null;
  const date = new Date(value); // a string without offset is read as local time
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}
