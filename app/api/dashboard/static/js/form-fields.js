// The schedule form's fields: reading them into an API body, filling them from a schedule,
// checking them in the browser, and showing errors next to the field they name.

import { byId, el } from './dom.js';
import { fromLocalInput, toLocalInput } from './time.js';
import { DEFAULTS, MISFIRE_POLICIES, OVERLAP_POLICIES } from './vocabulary.js';

// name: the API's camelCase field = the input's `f-<name>` id; optional: empty means null.
export const FIELDS = [
  { name: 'workflowId', kind: 'text' },
  { name: 'cronExpression', kind: 'text' },
  { name: 'timezone', kind: 'text' },
  { name: 'enabled', kind: 'bool' },
  { name: 'overlapPolicy', kind: 'text' },
  { name: 'misfirePolicy', kind: 'text' },
  { name: 'misfireGraceSeconds', kind: 'int' },
  { name: 'catchupWindowSeconds', kind: 'int' },
  { name: 'maxAttempts', kind: 'int' },
  { name: 'retryBackoffSeconds', kind: 'number' },
  { name: 'timeoutSeconds', kind: 'number' },
  { name: 'completionTimeoutSeconds', kind: 'number' },
  { name: 'lateAfterSeconds', kind: 'int' },
  { name: 'jitterSeconds', kind: 'int' },
  { name: 'startAt', kind: 'instant', optional: true },
  { name: 'endAt', kind: 'instant', optional: true },
  { name: 'remainingRuns', kind: 'int', optional: true },
  { name: 'pauseAfterFailures', kind: 'int', optional: true },
  { name: 'input', kind: 'json' },
  { name: 'targetUrl', kind: 'text', optional: true },
];

export const input = (name) => byId(`f-${name}`);

// The fields picked from a list, and the list (the vocabulary's).
const CHOICES = { overlapPolicy: OVERLAP_POLICIES, misfirePolicy: MISFIRE_POLICIES };

// One field's value for the API, or throws Error(message) for the field.
function readField({ name, kind, optional }) {
  const node = input(name);
  if (kind === 'bool') return node.checked;
  const raw = node.value.trim();
  if (raw === '') {
    if (optional) return null;
    throw new Error(kind === 'json' ? 'Enter a JSON object, e.g. {}' : 'Required.');
  }
  if (!node.checkValidity()) throw new Error(node.validationMessage);
  switch (kind) {
    case 'int': {
      const value = Number(raw);
      if (!Number.isInteger(value)) throw new Error('Enter a whole number.');
      return value;
    }
    case 'number': {
      const value = Number(raw);
      if (!Number.isFinite(value)) throw new Error('Enter a number.');
      return value;
    }
    case 'instant': {
      const value = fromLocalInput(raw);
      if (value === undefined) throw new Error('Enter a date and time.');
      return value;
    }
    case 'json': {
      let value;
      try {
        value = JSON.parse(raw);
      } catch (error) {
        throw new Error(`Not valid JSON: ${error.message}`);
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new Error('Must be a JSON object ({…}), not an array or a single value.');
      }
      return value;
    }
    default:
      return raw;
  }
}

// {body, errors}: the API body, and {field: message} for every field the browser rejects.
export function readForm() {
  const body = {};
  const errors = {};
  for (const field of FIELDS) {
    try {
      body[field.name] = readField(field);
    } catch (error) {
      errors[field.name] = error.message;
    }
  }
  return { body, errors };
}

function fillField({ name, kind }, value) {
  const node = input(name);
  if (kind === 'bool') node.checked = Boolean(value);
  else if (kind === 'instant') node.value = toLocalInput(value);
  else if (kind === 'json') node.value = JSON.stringify(value ?? {}, null, 2);
  else node.value = value === null || value === undefined ? '' : String(value);
}

export function fillForm(schedule) {
  for (const field of FIELDS) fillField(field, schedule[field.name]);
}

// The options of the policy pickers, the default marked and chosen; then, for a new
// schedule, every other field that has a default (the others are left as they are).
export function fillChoices({ withDefaults }) {
  for (const [name, values] of Object.entries(CHOICES)) {
    input(name).replaceChildren(...values.map((value) => el(
      'option', { value, selected: value === DEFAULTS[name] },
      value === DEFAULTS[name] ? `${value} (default)` : value,
    )));
  }
  if (!withDefaults) return;
  for (const field of FIELDS) {
    // A field typed in before this script ran (a slow load) keeps what was typed.
    if (field.name in DEFAULTS && !edited(input(field.name))) {
      fillField(field, DEFAULTS[field.name]);
    }
  }
}

function edited(node) {
  return node.type === 'checkbox'
    ? node.checked !== node.defaultChecked : node.value !== node.defaultValue;
}

export function setFieldError(name, message) {
  const slot = byId(`err-${name}`);
  const node = input(name);
  if (!slot) return false;
  slot.textContent = message || '';
  slot.hidden = !message;
  if (node) node.setAttribute('aria-invalid', message ? 'true' : 'false');
  return true;
}

export function clearFieldErrors() {
  for (const { name } of FIELDS) setFieldError(name, null);
}

// The API names fields in camelCase, sometimes with a prefix ("body.maxAttempts"): find ours.
export function fieldOf(apiField) {
  if (!apiField) return null;
  const last = String(apiField).split('.').pop();
  return FIELDS.some((f) => f.name === last) ? last : null;
}
