// The schedule form (`/schedules/new`, `/schedules/{id}/edit`): next runs previewed while
// typing, a searchable time-zone picker, client checks, and server errors next to their field.

import { ApiError, schedulesApi } from './api.js';
import { byId, debounce, el, show, showError } from './dom.js';
import {
  clearFieldErrors, fieldOf, fillChoices, fillForm, input, readForm, setFieldError,
} from './form-fields.js';
import { bothZones, browserZone, relativeNode, startRelativeTicker } from './time.js';

const root = byId('form-root');
const scheduleId = root.dataset.scheduleId || null; // null: a new schedule
const PREVIEW_DELAY_MS = 250;

let etag = null; // the version read when the edit form loaded (If-Match)
let initialBody = null; // what the form held then: a PATCH sends only what changed
let zones = new Set();
let previewRequest = null;

// --- preview ---------------------------------------------------------------------------------

async function updatePreview() {
  const cronExpression = input('cronExpression').value.trim();
  const timezone = input('timezone').value.trim() || 'UTC';
  const list = byId('cron-next-runs');
  const words = byId('cron-description');
  if (previewRequest) previewRequest.abort(); // only the latest keystroke's answer counts
  if (!cronExpression) {
    list.replaceChildren();
    words.textContent = '';
    setFieldError('cronExpression', null);
    return;
  }
  const request = new AbortController();
  previewRequest = request;
  try {
    const { data } = await schedulesApi.preview(
      { cronExpression, timezone, count: 5 }, request.signal,
    );
    // An answer that was already in when a later keystroke aborted its request still resolves:
    // only the latest request's answer is shown (seen on a loaded machine: the error of
    // "61 *" after that of "61 * * * *").
    if (request !== previewRequest) return;
    setFieldError('cronExpression', null);
    setFieldError('timezone', null);
    words.textContent = data.description;
    list.replaceChildren(
      ...data.nextRuns.map((iso) => {
        const { primary, local } = bothZones(iso, timezone);
        return el('li', {}, el('span', {}, primary), local ? el('span', { class: 'muted' },
          ` · ${local}`) : null, ' ', relativeNode(iso));
      }),
    );
    if (data.nextRuns.length === 0) list.append(el('li', { class: 'muted' }, 'Never fires.'));
  } catch (error) {
    if (error.name === 'AbortError' || request !== previewRequest) return;
    list.replaceChildren();
    words.textContent = '';
    if (error instanceof ApiError && error.errors.length) {
      for (const item of error.errors) {
        setFieldError(fieldOf(item.field) || 'cronExpression', item.message);
      }
    } else if (!(error instanceof ApiError && error.status === 401)) {
      setFieldError('cronExpression', error.message);
    }
  }
}

// --- time zones ------------------------------------------------------------------------------

async function loadZones() {
  let names;
  try {
    names = (await schedulesApi.timezones()).data.items;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    // Without the API's list, the browser's own is a fair approximation; the server still
    // validates the name on save and in the preview.
    names = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  }
  zones = new Set(names);
  byId('tz-options').replaceChildren(...names.map((name) => el('option', { value: name })));
  const mine = byId('tz-mine');
  if (zones.has(browserZone) && browserZone !== 'UTC') {
    mine.textContent = `Use mine (${browserZone})`;
    show(mine, true);
  }
}

function checkZone() {
  const value = input('timezone').value.trim();
  if (zones.size && value && !zones.has(value)) {
    setFieldError('timezone', `'${value}' is not in the list of time zones.`);
    return false;
  }
  return true;
}

// --- submit ----------------------------------------------------------------------------------

function changedFields(body) {
  const changes = {};
  for (const [key, value] of Object.entries(body)) {
    if (JSON.stringify(value) !== JSON.stringify(initialBody[key])) changes[key] = value;
  }
  return changes;
}

function showServerError(error) {
  const formError = byId('form-error');
  if (error.status === 412) {
    formError.replaceChildren(
      'Someone changed this schedule after you opened this form, so your changes were not ' +
        'saved. ',
      el('button', { type: 'button', class: 'btn btn-small', onclick: () => location.reload() },
        'Reload the current version'),
      ' (your edits here will be lost).',
    );
    show(formError, true);
    return;
  }
  const unplaced = [];
  for (const item of error.errors) {
    const name = fieldOf(item.field);
    if (!name || !setFieldError(name, item.message)) unplaced.push(item.message);
  }
  if (error.errors.length === 0 || unplaced.length) {
    showError(formError, new Error(unplaced.length ? unplaced.join('; ') : error.message));
  }
  focusFirstError();
}

function focusFirstError() {
  const first = document.querySelector('.field-error:not([hidden])');
  if (first) {
    const field = first.closest('.field').querySelector('input, select, textarea');
    if (field) field.focus();
  }
}

async function submit(event) {
  event.preventDefault();
  clearFieldErrors();
  showError(byId('form-error'), null);
  const { body, errors } = readForm();
  for (const [name, message] of Object.entries(errors)) setFieldError(name, message);
  if (Object.keys(errors).length || !checkZone()) {
    focusFirstError();
    return;
  }
  const button = byId('submit');
  const status = byId('form-status');
  button.disabled = true;
  status.textContent = 'Saving…';
  try {
    let id = scheduleId;
    if (id) {
      const changes = changedFields(body);
      if (Object.keys(changes).length) await schedulesApi.update(id, changes, etag);
    } else {
      id = (await schedulesApi.create(body)).data.id;
    }
    status.textContent = 'Saved.';
    window.location.assign(`/schedules/${id}`);
  } catch (error) {
    status.textContent = '';
    if (error instanceof ApiError && error.status !== 401) showServerError(error);
    else if (!(error instanceof ApiError)) showError(byId('form-error'), error);
  } finally {
    button.disabled = false;
  }
}

// --- start -----------------------------------------------------------------------------------

async function loadSchedule() {
  try {
    const { data, etag: tag } = await schedulesApi.get(scheduleId);
    etag = tag;
    fillForm(data);
    initialBody = readForm().body;
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) {
      showError(byId('form-error'), error.status === 404
        ? new Error('This schedule does not exist (or was deleted).') : error);
      byId('submit').disabled = true;
    }
  }
}

async function init() {
  fillChoices({ withDefaults: !scheduleId });
  for (const node of document.querySelectorAll('.local-zone')) {
    node.textContent = `your time, ${browserZone}`;
  }
  startRelativeTicker();
  const preview = debounce(updatePreview, PREVIEW_DELAY_MS);
  input('cronExpression').addEventListener('input', preview);
  input('timezone').addEventListener('input', () => {
    setFieldError('timezone', null);
    preview();
  });
  input('timezone').addEventListener('change', checkZone);
  byId('tz-mine').addEventListener('click', () => {
    input('timezone').value = browserZone;
    setFieldError('timezone', null);
    updatePreview();
  });
  input('input').addEventListener('change', () => {
    const { errors } = readForm();
    setFieldError('input', errors.input || null);
  });
  byId('schedule-form').addEventListener('submit', submit);
  const zonesLoaded = loadZones();
  if (scheduleId) await loadSchedule();
  // Only if nothing has the focus yet: on a slow load, a person (or a test) may be typing in
  // another field already, and moving the focus sent the rest of their keystrokes to this one
  // (seen in CI: "61 *" left in the cron field, its preview's error shown for good).
  else if (!document.activeElement || document.activeElement === document.body) {
    input('workflowId').focus();
  }
  await zonesLoaded;
  updatePreview();
}

init();
