// The schedule page (`/schedules/{id}`): fields, next runs, statistics, recent executions and
// their chart, and the actions. After an action, and while runs are unfinished, it re-reads.

import { ApiError, schedulesApi } from './api.js';
import { drawChart } from './chart.js';
import {
  badge, byId, el, scheduleStatus, setText, show, showError, statusLabel,
} from './dom.js';
import { bothZones, formatDuration, formatIn, relativeNode, startRelativeTicker } from './time.js';
import { STATUSES, UNFINISHED } from './vocabulary.js';

const root = byId('schedule-root');
const scheduleId = root.dataset.scheduleId;
const EXECUTIONS_SHOWN = 50;
const ERROR_PREVIEW_CHARS = 80;
const FAST_POLL_MS = 1500; // while a run is in flight or just after an action
const SLOW_POLL_MS = 10000;

let schedule = null;
let executions = [];
let busyUntil = 0; // poll fast until then (ms since epoch)
let pollTimer = null;

function dash(value) {
  return value === null || value === undefined || value === '' ? '—' : String(value);
}

function instantNodes(iso, zone) {
  if (!iso) return ['—'];
  const { primary, local } = bothZones(iso, zone);
  return [
    el('span', {}, primary),
    local ? el('span', { class: 'small muted block' }, local) : null,
  ];
}

function renderHeader() {
  const status = scheduleStatus(schedule);
  document.title = `${schedule.workflowId} · workflow-scheduler`;
  setText('s-workflow', schedule.workflowId);
  const badgeNode = byId('s-badge');
  badgeNode.replaceWith(Object.assign(badge(status), { id: 's-badge' }));
  setText('s-cron', schedule.cronExpression);
  setText('s-description', schedule.description);
  setText('s-zone', `· ${schedule.timezone}`);
  show(byId('act-pause'), schedule.state === 'active');
  show(byId('act-resume'), schedule.state === 'paused');
  byId('act-run').disabled = false;
  byId('act-delete').disabled = false;
  const note = byId('s-pause-note');
  note.replaceChildren();
  if (schedule.pauseNote) {
    note.append(el('strong', {}, schedule.state === 'paused' ? 'Paused: ' : 'Note: '),
      schedule.pauseNote);
  }
  show(note, Boolean(schedule.pauseNote));
}

function renderNextRuns() {
  const list = byId('s-next-runs');
  const runs = schedule.nextRuns || [];
  list.replaceChildren(
    ...runs.map((iso) =>
      el('li', {}, relativeNode(iso), ' ', ...instantNodes(iso, schedule.timezone)),
    ),
  );
  const empty = byId('s-next-empty');
  empty.textContent = schedule.state === 'paused' ? 'Paused: no runs until resumed.'
    : schedule.state === 'ended' ? 'Ended: no more runs.' : 'No upcoming runs.';
  show(empty, runs.length === 0);
}

function renderStats() {
  const stats = schedule.stats || {};
  const rate = stats.successRate;
  const items = [
    ['Runs', dash(stats.total)],
    ['Success rate', rate === null || rate === undefined ? '—' : `${Number(rate).toFixed(2)} %`],
    ['Avg duration', formatDuration(stats.avgDurationMs)],
    ['p95 duration', formatDuration(stats.p95DurationMs)],
    ['Failures in a row', dash(stats.consecutiveFailures)],
    ['Last status', dash(stats.lastStatus ?? schedule.lastStatus)],
  ];
  byId('s-stats').replaceChildren(
    ...items.map(([term, value]) => el('div', {}, el('dt', {}, term), el('dd', {}, value))),
  );
  // Zero counts of the rarer statuses are noise; succeeded and failed always show.
  const counts = STATUSES.filter(
    (s) => typeof stats[s] === 'number' && (stats[s] > 0 || s === 'succeeded' || s === 'failed'),
  );
  byId('s-counts').replaceChildren(
    ...counts.map((s) => el('li', {}, badge(s), ' ', String(stats[s]))),
  );
}

function renderFields() {
  const s = schedule;
  const zone = s.timezone;
  const fields = [
    ['Id', el('code', {}, s.id)],
    ['Workflow id', s.workflowId],
    ['State', s.state],
    ['Enabled', s.enabled ? 'yes' : 'no'],
    ['Cron', el('code', {}, s.cronExpression)],
    ['Time zone', zone],
    ['Next run', instantNodes(s.nextRunAt, zone)],
    ['Last run', instantNodes(s.lastRunAt, zone)],
    ['Last status', dash(s.lastStatus)],
    ['Pause note', dash(s.pauseNote)],
    ['Overlap policy', s.overlapPolicy],
    ['Misfire policy', s.misfirePolicy],
    ['Misfire grace', `${s.misfireGraceSeconds} s`],
    ['Catch-up window', `${s.catchupWindowSeconds} s`],
    ['Max attempts', String(s.maxAttempts)],
    ['Retry backoff', `${s.retryBackoffSeconds} s`],
    ['Timeout', `${s.timeoutSeconds} s`],
    ['Completion timeout', `${s.completionTimeoutSeconds} s (after a 202 Accepted)`],
    ['Late after', `${s.lateAfterSeconds} s (then a run.late incident)`],
    ['Jitter', `${s.jitterSeconds} s`],
    ['Start at', instantNodes(s.startAt, zone)],
    ['End at', instantNodes(s.endAt, zone)],
    ['Remaining runs', dash(s.remainingRuns)],
    ['Pause after failures', dash(s.pauseAfterFailures)],
    ['Target URL', dash(s.targetUrl)],
    ['Input', el('pre', { class: 'json' }, JSON.stringify(s.input, null, 2))],
    ['Created', instantNodes(s.createdAt, zone)],
    ['Updated', instantNodes(s.updatedAt, zone)],
    ['Version', String(s.version)],
  ];
  byId('s-fields').replaceChildren(
    ...fields.map(([term, value]) =>
      el('div', {}, el('dt', {}, term), el('dd', {}, ...[value].flat())),
    ),
  );
}

function errorCell(error) {
  if (!error) return el('td', { class: 'muted' }, '—');
  if (error.length <= ERROR_PREVIEW_CHARS) return el('td', { class: 'error-text' }, error);
  // Truncated in the table; the whole text (up to 2 KiB) one click away.
  return el(
    'td',
    { class: 'error-text' },
    el(
      'details',
      {},
      el('summary', {}, `${error.slice(0, ERROR_PREVIEW_CHARS)}…`),
      el('pre', { class: 'error-full' }, error),
    ),
  );
}

function renderExecutions() {
  const zone = schedule ? schedule.timezone : 'UTC';
  byId('execution-rows').replaceChildren(
    ...executions.map((e) =>
      el(
        'tr',
        { 'data-execution-id': e.id, 'data-status': e.status },
        el('td', {}, badge(e.status)),
        el('td', {}, e.trigger),
        el('td', {}, formatIn(e.scheduledAt, zone)),
        el('td', { class: 'num' }, String(e.attempts)),
        el('td', { class: 'num' }, formatDuration(e.durationMs)),
        el('td', { class: 'num' }, dash(e.httpStatus)),
        errorCell(e.error),
      ),
    ),
  );
  show(byId('executions-empty'), executions.length === 0);
  byId('executions-note').textContent = executions.length
    ? `newest first, last ${executions.length}` : '';
  drawChart(byId('chart'), executions, zone);
}

function renderLegend() {
  byId('chart-legend').replaceChildren(
    ...STATUSES.map((s) =>
      el('li', {}, el('span', { class: `swatch status-${s}`, 'aria-hidden': 'true' }),
        statusLabel(s)),
    ),
  );
}

async function refresh() {
  try {
    const [detail, history] = await Promise.all([
      schedulesApi.get(scheduleId),
      schedulesApi.executions(scheduleId, { limit: String(EXECUTIONS_SHOWN) }),
    ]);
    schedule = detail.data;
    executions = history.data.items;
    renderHeader();
    renderNextRuns();
    renderStats();
    renderFields();
    renderExecutions();
    showError(byId('page-error'), null);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      showError(byId('page-error'), new Error('This schedule does not exist (or was deleted).'));
      setText('s-workflow', 'Not found');
      for (const id of ['act-pause', 'act-resume', 'act-run', 'act-delete']) {
        byId(id).disabled = true;
      }
      return;
    }
    if (!(error instanceof ApiError && error.status === 401)) {
      showError(byId('page-error'), error);
    }
  } finally {
    schedulePoll();
  }
}

function schedulePoll() {
  clearTimeout(pollTimer);
  const inFlight = executions.some((e) => UNFINISHED.has(e.status));
  const delay = inFlight || Date.now() < busyUntil ? FAST_POLL_MS : SLOW_POLL_MS;
  pollTimer = setTimeout(() => {
    if (document.visibilityState === 'visible') refresh();
    else schedulePoll();
  }, delay);
}

async function act(button, label, action) {
  const status = byId('action-status');
  button.disabled = true;
  status.textContent = `${label}…`;
  try {
    await action();
    status.textContent = `${label}: done.`;
    busyUntil = Date.now() + 15000;
    await refresh();
  } catch (error) {
    status.textContent = '';
    if (!(error instanceof ApiError && error.status === 401)) {
      showError(byId('page-error'), error);
    }
  } finally {
    button.disabled = false;
  }
}

function openDialog(id, onConfirm) {
  const dialog = byId(id);
  dialog.addEventListener('close', function handler() {
    dialog.removeEventListener('close', handler);
    if (dialog.returnValue === 'confirm') onConfirm();
  });
  dialog.returnValue = '';
  dialog.showModal();
}

function redrawOnResize() {
  let width = byId('chart').clientWidth;
  new ResizeObserver(() => {
    const now = byId('chart').clientWidth;
    if (now !== width && schedule) {
      width = now;
      drawChart(byId('chart'), executions, schedule.timezone);
    }
  }).observe(byId('chart'));
}

function init() {
  renderLegend();
  redrawOnResize();
  startRelativeTicker();
  byId('act-pause').addEventListener('click', () => {
    byId('pause-note').value = '';
    openDialog('pause-dialog', () =>
      act(byId('act-pause'), 'Pausing', () =>
        schedulesApi.pause(scheduleId, byId('pause-note').value.trim() || null),
      ),
    );
  });
  byId('act-resume').addEventListener('click', (event) =>
    act(event.currentTarget, 'Resuming', () => schedulesApi.resume(scheduleId)),
  );
  byId('act-run').addEventListener('click', (event) =>
    act(event.currentTarget, 'Starting a run', () => schedulesApi.trigger(scheduleId)),
  );
  byId('act-delete').addEventListener('click', () =>
    openDialog('delete-dialog', async () => {
      try {
        await schedulesApi.remove(scheduleId);
        window.location.assign('/');
      } catch (error) {
        showError(byId('page-error'), error);
      }
    }),
  );
  refresh();
}

init();
