// Durations and outcomes of recent executions as an inline SVG: one mark per execution,
// oldest on the left; a bar's height is its duration, its colour its status. Executions
// without a duration (skipped, missed, not finished) are a dot on the baseline.

import { statusLabel } from './dom.js';
import { formatDuration, formatIn } from './time.js';

const SVG = 'http://www.w3.org/2000/svg';
const HEIGHT = 220;
const MIN_WIDTH = 320;
const PAD = { top: 16, right: 16, bottom: 40, left: 64 };

function node(tag, attrs = {}, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) n.setAttribute(key, String(value));
  if (text !== undefined) n.textContent = text;
  return n;
}

// A round upper bound for the axis: 1, 2 or 5 times a power of ten.
function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

// Drawn at the container's pixel width (and again when it changes), so that text keeps its
// size on a phone instead of shrinking with a scaled viewBox.
export function drawChart(container, executions, zone) {
  const WIDTH = Math.max(MIN_WIDTH, Math.floor(container.clientWidth || 800));
  const ordered = [...executions].sort((a, b) => a.scheduledAt.localeCompare(b.scheduledAt));
  const svg = node('svg', {
    width: WIDTH,
    height: HEIGHT,
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    class: 'chart-svg',
    role: 'img',
    'aria-labelledby': 'chart-title',
  });
  svg.append(
    node('title', { id: 'chart-title' },
      `Duration of the last ${ordered.length} executions, oldest first, coloured by status`),
  );
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const baseY = PAD.top + plotH;
  if (ordered.length === 0) {
    // No scale at all: an axis of "1 ms, 1 ms, 0 ms" would invent durations nobody measured.
    svg.append(node('text', {
      x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, class: 'chart-empty', 'text-anchor': 'middle',
    }, 'No runs yet'));
    container.replaceChildren(svg);
    return;
  }
  const longest = Math.max(0, ...ordered.map((e) => e.durationMs || 0));
  const max = niceMax(longest);

  // Y axis: grid lines and labels at 0, half and max, once some run has a duration (runs that
  // were skipped, missed or are still running are dots on the baseline, and need no scale).
  if (longest > 0) {
    for (const fraction of [0, 0.5, 1]) {
      const y = baseY - fraction * plotH;
      svg.append(node('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y, y2: y, class: 'grid' }));
      svg.append(
        node('text', { x: PAD.left - 8, y: y + 4, class: 'axis-label', 'text-anchor': 'end' },
          formatDuration(max * fraction)),
      );
    }
    svg.append(node('text', {
      x: 14, y: PAD.top + plotH / 2, class: 'axis-title', 'text-anchor': 'middle',
      transform: `rotate(-90 14 ${PAD.top + plotH / 2})`,
    }, 'duration'));
  }

  const band = plotW / ordered.length;
  const barW = Math.max(2, Math.min(28, band * 0.7));
  ordered.forEach((execution, index) => {
    const cx = PAD.left + band * (index + 0.5);
    const label =
      `${statusLabel(execution.status)} · ${formatIn(execution.scheduledAt, zone)} · ` +
      `${formatDuration(execution.durationMs)}`;
    let mark;
    if (execution.durationMs === null || execution.durationMs === undefined) {
      mark = node('circle', { cx, cy: baseY - 5, r: Math.min(5, Math.max(2.5, barW / 2)) });
    } else {
      // At least 2 px, so that a 3 ms success is still visible next to a 3 s one.
      const h = Math.max(2, (execution.durationMs / max) * plotH);
      mark = node('rect', { x: cx - barW / 2, y: baseY - h, width: barW, height: h, rx: 2 });
    }
    mark.setAttribute('class', `mark status-${execution.status}`);
    mark.setAttribute('data-execution-id', execution.id);
    mark.append(node('title', {}, label));
    svg.append(mark);
  });

  // X axis: the first and last scheduled times; the zone is said once, in the axis title.
  svg.append(node('line', {
    x1: PAD.left, x2: WIDTH - PAD.right, y1: baseY, y2: baseY, class: 'axis',
  }));
  const first = ordered[0].scheduledAt;
  const last = ordered[ordered.length - 1].scheduledAt;
  const short = (iso) => formatIn(iso, zone).replace(` ${zone}`, '');
  svg.append(node('text', { x: PAD.left, y: HEIGHT - 20, class: 'axis-label' }, short(first)));
  if (ordered.length > 1 && last !== first) {
    svg.append(node('text', {
      x: WIDTH - PAD.right, y: HEIGHT - 20, class: 'axis-label', 'text-anchor': 'end',
    }, short(last)));
  }
  svg.append(node('text', {
    x: PAD.left + plotW / 2, y: HEIGHT - 4, class: 'axis-title', 'text-anchor': 'middle',
  }, `scheduled at (${zone}), oldest → newest`));
  container.replaceChildren(svg);
}
