// The only way the UI talks to the hub: the documented JSON API (docs/http-api.md). The session is the
// HttpOnly cookie set at login; the browser adds Sec-Fetch-Site, which the hub checks on every change.

/** A refusal from the hub, in the words the hub chose (they are written for people). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** The input field the refusal names, when it names one ('pin' in "'pin' must be 4-8 digits"). */
  readonly field: string | null;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = /^'([A-Za-z0-9_]+)'/.exec(message)?.[1] ?? null;
  }
}

type Query = Record<string, string | number | boolean | undefined | null>;

/** Per-request options: `signal` aborts the request (the hub sees the client go and stops waiting). */
export interface RequestOptions {
  signal?: AbortSignal | undefined;
}

/** Called when the hub says the session is gone (expired, logged out elsewhere, user removed). */
let onUnauthenticated: () => void = () => {};
export function whenSignedOut(handler: () => void): void {
  onUnauthenticated = handler;
}

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  query?: Query,
  options: RequestOptions = {},
): Promise<T> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(withQuery(`/api/v1${path}`, query), {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
      signal: options.signal ?? null,
    });
    text = await response.text();
  } catch {
    if (options.signal?.aborted) throw new ApiError(0, 'aborted', 'The request was cancelled.');
    throw new ApiError(0, 'unavailable', 'The hub does not answer. Check the network and try again.');
  }
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const { error, code } = (data ?? {}) as { error?: string; code?: string };
    if (response.status === 401 && path !== '/session') onUnauthenticated();
    throw new ApiError(response.status, code ?? String(response.status), error ?? response.statusText);
  }
  return data as T;
}

export const api = {
  get: <T>(path: string, query?: Query, options?: RequestOptions) =>
    request<T>('GET', path, undefined, query, options),
  post: <T>(path: string, body: unknown = {}, options?: RequestOptions) =>
    request<T>('POST', path, body, undefined, options),
  put: <T>(path: string, body: unknown = {}, options?: RequestOptions) =>
    request<T>('PUT', path, body, undefined, options),
  patch: <T>(path: string, body: unknown = {}, options?: RequestOptions) =>
    request<T>('PATCH', path, body, undefined, options),
  del: <T>(path: string, body?: unknown, options?: RequestOptions) =>
    request<T>('DELETE', path, body, undefined, options),
};

/** A path segment from user data (ids are already safe, but never trust that in a URL). */
export const seg = (value: string) => encodeURIComponent(value);
