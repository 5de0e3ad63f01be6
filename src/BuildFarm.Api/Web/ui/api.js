// The page's calls to the API (/v1): the key from sessionStorage as "Authorization: Bearer", never in a URL.
const KEY_ITEM = 'buildfarm.apiKey';
const SCOPES_ITEM = 'buildfarm.scopes';

/** Thrown for an answer that is not 2xx: status, title and detail from the problem document when there is one. */
export class ApiError extends Error {
  constructor(status, title, detail, errors, problem = false) {
    super(detail ? `${title}: ${detail}` : title);
    this.problem = problem;
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.errors = errors;
  }
}

export function getKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

export function setKey(key) {
  sessionStorage.setItem(KEY_ITEM, key);
  sessionStorage.removeItem(SCOPES_ITEM);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_ITEM);
  sessionStorage.removeItem(SCOPES_ITEM);
}

async function problemOf(response) {
  let title = `${response.status} ${response.statusText}`.trim();
  let detail = '';
  let errors;
  let problem = false;
  try {
    const type = response.headers.get('content-type') || '';
    if (type.includes('json')) {
      const body = await response.json();
      title = body.title || title;
      detail = body.detail || '';
      errors = body.errors;
      problem = true;
    } else {
      detail = (await response.text()).slice(0, 300);
    }
  } catch {
    // an unreadable body: the status line says enough
  }
  return new ApiError(response.status, title, detail, errors, problem);
}

/** A request to the API with the key; resolves to the Response (2xx) or throws ApiError. */
export async function request(path, options = {}) {
  const key = getKey();
  if (!key) {
    throw new ApiError(401, 'No API key', 'enter an API key first');
  }
  const headers = new Headers(options.headers || {});
  headers.set('Authorization', `Bearer ${key}`);
  const response = await fetch(path, { ...options, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
  if (!response.ok) {
    throw await problemOf(response);
  }
  return response;
}

export async function getJson(path, options = {}) {
  const response = await request(path, { ...options, headers: { Accept: 'application/json' } });
  return response.json();
}

/**
 * Reads a Server-Sent Events stream with fetch (EventSource cannot send the Authorization header) and calls
 * onEvent({id, event, data}) per event. Ends when the server closes the stream or signal aborts. At most 8 MiB are
 * buffered for one event; a longer one ends the stream with an error.
 */
export async function readEvents(path, onEvent, signal, lastEventId) {
  const headers = { Accept: 'text/event-stream' };
  if (lastEventId) {
    headers['Last-Event-ID'] = lastEventId;
  }
  const response = await request(path, { headers, signal });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let event = { event: 'message', data: [], id: null };
  const MAX = 8 * 1024 * 1024;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      return;
    }
    buffer += value;
    if (buffer.length > MAX) {
      throw new Error('an event of the stream is larger than 8 MiB');
    }
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      let line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (line.endsWith('\r')) {
        line = line.slice(0, -1);
      }
      if (line === '') {
        if (event.data.length > 0 || event.event !== 'message') {
          onEvent({ id: event.id, event: event.event, data: event.data.join('\n') });
        }
        event = { event: 'message', data: [], id: event.id };
        continue;
      }
      if (line.startsWith(':')) {
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let text = colon < 0 ? '' : line.slice(colon + 1);
      if (text.startsWith(' ')) {
        text = text.slice(1);
      }
      if (field === 'event') {
        event.event = text;
      } else if (field === 'data') {
        event.data.push(text);
      } else if (field === 'id') {
        event.id = text;
      }
    }
  }
}

/**
 * What the key may do, as {read, submit, cancel}. There is no route that lists a key's scopes, so each is probed with a
 * request that changes nothing: authorization answers 403 before the handler runs when the scope is missing, and the
 * handler refuses the request itself otherwise (cancel: a malformed id, 400; submit: an empty JSON object, 400). Neither
 * reaches the store or the bus.
 * Kept in sessionStorage with the key, so a key is probed once per browser session.
 */
export async function scopes() {
  const cached = sessionStorage.getItem(SCOPES_ITEM);
  if (cached) {
    return JSON.parse(cached);
  }
  const may = async (path, options) => {
    try {
      await request(path, options);
      return true;
    } catch (e) {
      if (e.status === 401) {
        throw e;
      }
      return e.status !== 403;
    }
  };
  const result = {
    read: await may('/v1/builds?limit=1', {}),
    cancel: await may('/v1/builds/%21', { method: 'DELETE' }),
    submit: await may('/v1/builds', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }),
  };
  sessionStorage.setItem(SCOPES_ITEM, JSON.stringify(result));
  return result;
}
