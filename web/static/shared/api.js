// Fetch wrapper for the JSON API (same origin, session cookie).
// Errors have the shape {"error": {"code", "message", "field"}}; they become ApiError.

export class ApiError extends Error {
  constructor(status, code, message, field, retryAfter, fields) {
    super(message || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field || null;
    this.retryAfter = retryAfter ?? null;
    // Every field at fault at once (422 `validation_failed`): [{field, code, message}].
    this.fields = Array.isArray(fields) ? fields : field ? [{ field, code, message }] : [];
  }
}

const STATUS_CODES = {
  400: 'validation_failed',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  422: 'validation_failed',
  429: 'rate_limited',
};

/** Calls the API. Returns the parsed JSON body, or null for 204 / empty bodies. */
export async function api(method, path, body) {
  const options = {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
  };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new ApiError(0, 'network', e && e.message);
  }
  const text = response.status === 204 ? '' : await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const err = (data && data.error) || {};
    const retry = response.headers.get('Retry-After');
    throw new ApiError(
      response.status,
      err.code || STATUS_CODES[response.status] || (response.status >= 500 ? 'internal' : 'generic'),
      err.message || response.statusText,
      err.field,
      retry !== null && retry !== '' && !Number.isNaN(Number(retry)) ? Number(retry) : null,
      err.fields,
    );
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);
export const put = (path, body) => api('PUT', path, body);

/** Sends the user to the login page when the API says the cookie is gone. */
export function redirectIfUnauthorized(err) {
  if (err instanceof ApiError && err.status === 401) {
    location.assign('/login');
    return true;
  }
  return false;
}
