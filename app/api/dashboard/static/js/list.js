// The schedule list (`/`): filters, search by workflow id, cursor pagination.

import { ApiError, schedulesApi } from './api.js';
import { badge, byId, el, scheduleStatus, show, showError } from './dom.js';
import { bothZones, relativeNode, startRelativeTicker } from './time.js';

const PAGE_SIZE = 50;
const REFRESH_MS = 15000;

const state = {
  earliestNext: Infinity, // ms: the soonest next run shown; once it passes, the row is stale
  loadedAt: Date.now(),
  refreshedFor: null, // the passed next run already refreshed for (once: workers may be down)
  filter: '', // '', 'active', 'paused', 'failing', 'ended'
  workflowId: '',
  cursor: null,
  shown: 0,
  pages: 0,
  generation: 0, // bumps on every new query, so late answers of an old one are dropped
};

function rateText(stats) {
  const rate = stats ? stats.successRate : null;
  return rate === null || rate === undefined ? '—' : `${Number(rate).toFixed(1)} %`;
}

function nextRunCell(schedule) {
  if (!schedule.nextRunAt) {
    return el('td', { class: 'muted c-next' }, schedule.state === 'paused' ? 'paused' : '—');
  }
  const { primary, local } = bothZones(schedule.nextRunAt, schedule.timezone);
  return el(
    'td',
    { class: 'next-run c-next' },
    el('div', {}, relativeNode(schedule.nextRunAt)),
    el('div', { class: 'small' }, primary),
    local ? el('div', { class: 'small muted' }, local) : null,
  );
}

function row(schedule) {
  const href = `/schedules/${schedule.id}`;
  const status = scheduleStatus(schedule);
  const stats = schedule.stats || null;
  const tr = el(
    'tr',
    { 'data-id': schedule.id, 'data-status': status, class: 'clickable' },
    el('td', { class: 'c-workflow' }, el('a', { href, class: 'row-link' }, schedule.workflowId)),
    el('td', { class: 'c-status' }, badge(status)),
    el(
      'td',
      { class: 'c-schedule' },
      el('div', {}, schedule.description),
      el('code', { class: 'small muted' }, schedule.cronExpression),
    ),
    nextRunCell(schedule),
    el('td', { class: 'num c-rate', 'data-label': 'Success' }, rateText(stats)),
    el('td', { class: 'num c-runs', 'data-label': 'Runs' },
      stats && stats.total !== undefined ? String(stats.total) : '—'),
  );
  // The whole row is a target for the mouse; the link stays the keyboard's way in.
  tr.addEventListener('click', (event) => {
    if (event.target.closest('a')) return;
    window.location.assign(href);
  });
  return tr;
}

function queryParams(cursor) {
  const params = { limit: String(PAGE_SIZE) };
  // "failing" is active schedules whose last run failed: ask for active, keep the failing.
  const apiState = state.filter === 'failing' ? 'active' : state.filter;
  if (apiState) params.state = apiState;
  if (state.workflowId) params.workflowId = state.workflowId;
  if (cursor) params.cursor = cursor;
  return params;
}

async function loadPage({ append, quiet = false }) {
  const generation = append ? state.generation : ++state.generation;
  const rows = byId('schedule-rows');
  show(byId('list-loading'), !quiet);
  byId('more').disabled = true;
  try {
    const { data } = await schedulesApi.list(queryParams(append ? state.cursor : null));
    if (generation !== state.generation) return;
    let items = data.items;
    if (state.filter === 'failing') items = items.filter((s) => scheduleStatus(s) === 'failing');
    if (!append) {
      rows.replaceChildren();
      state.shown = 0;
      state.pages = 0;
    }
    rows.append(...items.map(row));
    const nexts = items.filter((s) => s.nextRunAt).map((s) => Date.parse(s.nextRunAt));
    state.earliestNext = Math.min(append ? state.earliestNext : Infinity, ...nexts);
    state.loadedAt = Date.now();
    state.shown += items.length;
    state.pages += 1;
    state.cursor = data.nextCursor;
    showError(byId('list-error'), null);
  } catch (error) {
    if (generation !== state.generation) return;
    if (!(error instanceof ApiError && error.status === 401)) showError(byId('list-error'), error);
  } finally {
    if (generation === state.generation) renderFooter();
  }
}

function renderFooter() {
  show(byId('list-loading'), false);
  show(byId('list-empty'), state.shown === 0 && !state.cursor);
  const more = byId('more');
  show(more, Boolean(state.cursor));
  more.disabled = false;
  const suffix = state.cursor ? ' so far' : '';
  byId('list-count').textContent =
    `${state.shown} schedule${state.shown === 1 ? '' : 's'}${suffix}`;
}

function readFilters() {
  const form = byId('filters');
  state.filter = form.elements.state.value;
  state.workflowId = form.elements.workflowId.value.trim();
  state.cursor = null;
}

function init() {
  const form = byId('filters');
  form.addEventListener('change', (event) => {
    if (event.target.name === 'state') {
      readFilters();
      loadPage({ append: false });
    }
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    readFilters();
    loadPage({ append: false });
  });
  // Clearing the search box (its "x" or deleting the text) shows everything again.
  form.elements.workflowId.addEventListener('search', () => {
    readFilters();
    loadPage({ append: false });
  });
  byId('more').addEventListener('click', () => loadPage({ append: true }));
  startRelativeTicker();
  loadPage({ append: false });
  // Keep the first page fresh: every REFRESH_MS, and soon after a shown next run has passed
  // (so "3 seconds ago" does not linger). Not once the user has paged further.
  setInterval(() => {
    if (document.visibilityState !== 'visible' || state.pages !== 1) return;
    const now = Date.now();
    const passed = now > state.earliestNext + 1000 && state.refreshedFor !== state.earliestNext;
    if (passed) state.refreshedFor = state.earliestNext;
    if (passed || now > state.loadedAt + REFRESH_MS) loadPage({ append: false, quiet: true });
  }, 1000);
}

init();
