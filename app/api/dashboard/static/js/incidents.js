// The incidents page (`/incidents`): open, resolved or all, newest first, cursor pagination.

import { incidentsApi } from './api.js';
import { badge, byId, el, show, showError } from './dom.js';
import { relativeNode } from './time.js';

const PAGE_SIZE = 50;
const state = { filter: 'open', cursor: null, generation: 0 };

function when(iso) {
  if (!iso) return el('td', { class: 'muted' }, '—');
  return el('td', { title: iso }, relativeNode(iso));
}

function row(incident) {
  const href = `/schedules/${incident.scheduleId}`;
  return el(
    'tr',
    { 'data-id': incident.id, 'data-state': incident.state, 'data-kind': incident.kind },
    el('td', {}, el('a', { href }, incident.workflowId)),
    el('td', {}, el('code', {}, incident.kind)),
    el('td', {}, badge(incident.state)),
    when(incident.openedAt),
    when(incident.resolvedAt),
    el('td', { class: 'num' }, String(incident.occurrences)),
    el('td', {}, incident.summary),
  );
}

async function load({ append }) {
  const generation = append ? state.generation : ++state.generation;
  const params = { limit: String(PAGE_SIZE) };
  if (state.filter) params.state = state.filter;
  if (append && state.cursor) params.cursor = state.cursor;
  show(byId('list-loading'), true);
  try {
    const { data } = await incidentsApi.list(params);
    if (generation !== state.generation) return;
    const body = byId('incident-rows');
    if (!append) body.replaceChildren();
    body.append(...data.items.map(row));
    state.cursor = data.nextCursor;
    show(byId('more'), Boolean(data.nextCursor));
    show(byId('list-empty'), body.children.length === 0);
    showError(byId('list-error'), null);
  } catch (error) {
    showError(byId('list-error'), error);
  } finally {
    show(byId('list-loading'), false);
  }
}

byId('filters').addEventListener('change', (event) => {
  if (event.target.name !== 'state') return;
  state.filter = event.target.value;
  state.cursor = null;
  load({ append: false });
});
byId('filters').addEventListener('submit', (event) => event.preventDefault());
byId('more').addEventListener('click', () => load({ append: true }));
load({ append: false });
