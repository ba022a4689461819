// Tiny DOM helpers: build elements without innerHTML, so API text is never parsed as HTML.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function byId(id) {
  return document.getElementById(id);
}

export function setText(id, text) {
  byId(id).textContent = text;
}

export function show(node, visible) {
  node.hidden = !visible;
}

// What a schedule looks like at a glance. "failing" is not a state of the API: it is an active
// schedule whose last run failed (the thing someone should look at).
export function scheduleStatus(schedule) {
  if (schedule.state === 'active' && schedule.lastStatus === 'failed') return 'failing';
  return schedule.state;
}

// A run `accepted` by its target is a workflow still going: "awaiting result" says what it
// waits for (issue 11).
const STATUS_LABELS = { accepted: 'awaiting result', timed_out: 'timed out' };

export function statusLabel(status) {
  return STATUS_LABELS[status] ?? status.replace('_', ' ');
}

export function badge(status) {
  return el('span', { class: `badge badge-${status}`, text: statusLabel(status) });
}

export function showError(node, error) {
  node.textContent = error ? error.message || String(error) : '';
  node.hidden = !error;
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
