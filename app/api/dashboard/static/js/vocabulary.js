// The scheduler's vocabulary: statuses, schedule states, policies and the defaults of a new
// schedule. Defined once in app/domain (Python) and written into every page by
// app/api/dashboard/render.py as a JSON data block, read here: nothing below spells a status
// or a policy. (A `type="application/json"` block is data, not code: the strict CSP holds.)

const data = JSON.parse(document.getElementById('vocabulary').textContent);

// Every execution status, in the dashboard's order (outcomes, in flight, never sent).
export const STATUSES = Object.freeze([...data.statusOrder]);
// Statuses of runs still to end: the schedule page polls fast while one is shown.
export const UNFINISHED = new Set(data.unfinished);
export const OVERLAP_POLICIES = Object.freeze([...data.overlapPolicies]);
export const MISFIRE_POLICIES = Object.freeze([...data.misfirePolicies]);
// A new schedule's fields before anyone types (camelCase, as the API names them).
export const DEFAULTS = Object.freeze({ ...data.defaults });
