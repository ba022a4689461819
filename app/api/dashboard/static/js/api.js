// The JSON API, as the dashboard calls it.
//
// Every call carries `X-Dashboard: 1`: the API accepts the session cookie only with that
// header, which a cross-site form or <img> cannot send (a CSRF guard on top of SameSite=Strict).
// The cookie itself is HttpOnly, so no script here ever sees the token.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    // [{field, message}] for 422s; empty otherwise.
    this.errors = Array.isArray(this.body.errors) ? this.body.errors : [];
  }
}

export async function api(path, { method = 'GET', body, headers = {}, signal } = {}) {
  const init = {
    method,
    headers: { 'X-Dashboard': '1', Accept: 'application/json', ...headers },
    credentials: 'same-origin',
    signal,
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = response.status === 204 ? '' : await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text.slice(0, 300) };
    }
  }
  if (response.status === 401) {
    // The token was revoked or the cookie expired: start over at the login page.
    window.location.assign('/login');
    throw new ApiError(401, data);
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return { data, etag: response.headers.get('ETag'), status: response.status };
}

export const schedulesApi = {
  list: (params) => api(`/api/schedules?${new URLSearchParams(params)}`),
  get: (id) => api(`/api/schedules/${encodeURIComponent(id)}`),
  create: (body) => api('/api/schedules', { method: 'POST', body }),
  update: (id, body, etag) =>
    api(`/api/schedules/${encodeURIComponent(id)}`, {
      method: 'PATCH',
      body,
      headers: etag ? { 'If-Match': etag } : {},
    }),
  remove: (id) => api(`/api/schedules/${encodeURIComponent(id)}`, { method: 'DELETE' }),
  pause: (id, note) =>
    api(`/api/schedules/${encodeURIComponent(id)}/pause`, { method: 'POST', body: { note } }),
  resume: (id) =>
    api(`/api/schedules/${encodeURIComponent(id)}/resume`, { method: 'POST', body: {} }),
  trigger: (id) =>
    api(`/api/schedules/${encodeURIComponent(id)}/trigger`, { method: 'POST' }),
  executions: (id, params) =>
    api(`/api/schedules/${encodeURIComponent(id)}/executions?${new URLSearchParams(params)}`),
  preview: (body, signal) => api('/api/schedules/preview', { method: 'POST', body, signal }),
  timezones: () => api('/api/timezones'),
};

export const incidentsApi = {
  list: (params) => api(`/api/incidents?${new URLSearchParams(params)}`),
};
