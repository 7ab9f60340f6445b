// The JSON API client: same-origin cookie session, CSRF header on every change.

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** A URL with query parameters: url('/x', {p: '/a b'}). */
export function url(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** URL of something under one library: repoUrl(id, 'dir', {p: '/'}). */
export function repoUrl(repoId, tail, params = {}) {
  return url(`/api/v1/repos/${encodeURIComponent(repoId)}/${tail}`, params);
}

/** Turn a failed response into an ApiError with the server's error_msg. */
export async function failure(response) {
  let body = null;
  let message = `${response.status} ${response.statusText}`;
  try {
    body = await response.json();
    if (body && body.error_msg) message = body.error_msg;
  } catch {
    // not JSON: keep the status text
  }
  return new ApiError(response.status, message, body);
}

/** Send a request; JSON in and out. Throws ApiError on any non-2xx status. */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-Sesame-Request'] = '1';
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) {
    const error = await failure(response);
    if (error.status === 401) window.dispatchEvent(new CustomEvent('sesame:logged-out'));
    throw error;
  }
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? response.json() : response.text();
}
