// BuildFarm web page (docs/web.md): a hash router over three views (batches, one batch, one build). Every data call
// goes to /v1 with the key kept in sessionStorage; nothing here writes HTML from data (text nodes only).
import { ApiError, forgetKey, getJson, getKey, readEvents, request, scopes, setKey } from './api.js';
import { COLLAPSE_AT, drawGraph } from './graph.js';

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);
const STATES = ['waiting', 'queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled'];
const PHASES = ['pull', 'extract', 'build', 'push'];
const MAX_LIST_PAGES = 10;
const main = document.getElementById('main');
const statusLine = document.getElementById('status');
let current = new AbortController();
let reasonsTable;

// ---- small DOM helpers ------------------------------------------------------------------------------------------
function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) {
    if (v === undefined || v === null || v === false) {
      continue;
    }
    if (k.startsWith('on')) {
      node.addEventListener(k.slice(2), v);
    } else if (v === true) {
      node.setAttribute(k, '');
    } else {
      node.setAttribute(k, v);
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child !== undefined && child !== null && child !== false) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

function badge(state) {
  return h('span', { class: `badge state-${state}` }, state);
}

function say(text, error = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle('error', error);
}

function show(title, ...content) {
  document.title = `${title} · BuildFarm`;
  main.replaceChildren(h('h1', {}, title), ...content);
}

function when(iso) {
  return iso ? new Date(iso).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—';
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) {
    return '—';
  }
  const s = Math.max(0, seconds);
  if (s < 60) {
    return `${s.toFixed(1)} s`;
  }
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function seconds(from, to) {
  return from && to ? (new Date(to) - new Date(from)) / 1000 : null;
}

/** Text with `code` spans (the failure reasons' explanations come from docs/failure-reasons.md). */
function withCode(text) {
  return text.split('`').map((part, i) => (i % 2 === 1 ? h('code', {}, part) : part));
}

function failure(e, what) {
  if (e.name === 'AbortError') {
    return;
  }
  if (e instanceof ApiError && e.status === 401) {
    forgetKey();
    say('The API refused the key (401): enter another one.', true);
    route();
    return;
  }
  const text = e instanceof ApiError && e.status === 404
    ? `${what} was not found (an unknown id, an expired record, or one of another tenant).`
    : `${what}: ${e.message}`;
  show('Not available', h('p', { class: 'error' }, text), h('p', {}, h('a', { href: '#/batches' }, 'Back to the batches')));
  say(text, true);
}

// ---- the key ------------------------------------------------------------------------------------------------------
function keyForm() {
  document.getElementById('who').hidden = true;
  const input = h('input', { id: 'api-key', name: 'api-key', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false', size: '40' });
  const form = h('form', { class: 'form', 'aria-describedby': 'key-help' },
    h('div', {}, h('label', { for: 'api-key' }, 'API key'), input),
    h('button', { type: 'submit' }, 'Use this key'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (key === '') {
      say('Enter the key first.', true);
      return;
    }
    setKey(key);
    try {
      const may = await scopes();
      if (!may.read) {
        forgetKey();
        say('This key may not read (it lacks the read scope): use a key with read.', true);
        return;
      }
      say('Key accepted.');
      route();
    } catch (err) {
      forgetKey();
      say(err instanceof ApiError && err.status === 401 ? 'The API does not know this key (401).' : `The key could not be checked: ${err.message}`, true);
    }
  });
  show('Enter an API key', h('p', { id: 'key-help' },
    'The page reads the farm with your API key (a key with the read scope; cancel and rerun need those scopes too). ',
    'It is kept in this tab only (sessionStorage) and sent as the Authorization header, never in a URL.'), form);
  input.focus();
}

async function showWho() {
  const may = await scopes();
  const granted = Object.entries(may).filter(([, v]) => v).map(([k]) => k);
  document.getElementById('who-text').textContent = `key may: ${granted.join(', ') || 'nothing'}`;
  document.getElementById('who').hidden = false;
  return may;
}

document.getElementById('forget').addEventListener('click', () => {
  forgetKey();
  say('The key was forgotten.');
  route();
});

// ---- batches list -------------------------------------------------------------------------------------------------
/** The state of a batch from its builds: active while any has not ended, else failed, cancelled or succeeded. */
export function batchState(builds) {
  if (builds.some((b) => !FINAL.has(b.state))) {
    return 'running';
  }
  if (builds.some((b) => b.state === 'failed')) {
    return 'failed';
  }
  return builds.some((b) => b.state === 'cancelled') ? 'cancelled' : 'succeeded';
}

async function batchesView(params) {
  const wanted = { state: params.get('state') || '', requester: params.get('requester') || '' };
  const builds = [];
  let token;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const query = new URLSearchParams({ limit: '100' });
    if (token) {
      query.set('continue', token);
    }
    const result = await getJson(`/v1/builds?${query}`, { signal: current.signal });
    builds.push(...result.items);
    token = result.continue;
    if (!token) {
      break;
    }
  }
  const batches = new Map();
  const singles = [];
  for (const b of builds) {
    if (!b.batchId) {
      singles.push(b);
      continue;
    }
    const entry = batches.get(b.batchId) || { batchId: b.batchId, builds: [], submittedAt: b.submittedAt, requestedBy: b.requestedBy, tenant: b.tenant };
    entry.builds.push(b);
    if (b.submittedAt < entry.submittedAt) {
      entry.submittedAt = b.submittedAt;
    }
    batches.set(b.batchId, entry);
  }
  const rows = [...batches.values()]
    .map((x) => ({ ...x, state: batchState(x.builds) }))
    .filter((x) => (!wanted.state || x.state === wanted.state) && (!wanted.requester || (x.requestedBy || '').includes(wanted.requester)))
    .sort((a, b) => (a.submittedAt < b.submittedAt ? 1 : -1));
  const singleRows = singles
    .filter((b) => (!wanted.state || b.state === wanted.state || (wanted.state === 'running' && !FINAL.has(b.state)))
      && (!wanted.requester || (b.requestedBy || '').includes(wanted.requester)));

  const stateSelect = h('select', { id: 'f-state', name: 'state' },
    [['', 'any'], ['running', 'not ended'], ['succeeded', 'succeeded'], ['failed', 'failed'], ['cancelled', 'cancelled']]
      .map(([v, t]) => h('option', { value: v, selected: v === wanted.state }, t)));
  const requester = h('input', { id: 'f-requester', name: 'requester', type: 'search', value: wanted.requester, autocomplete: 'off' });
  const filter = h('form', { class: 'form', role: 'search', 'aria-label': 'Filter batches' },
    h('div', {}, h('label', { for: 'f-state' }, 'State'), stateSelect),
    h('div', {}, h('label', { for: 'f-requester' }, 'Requested by'), requester),
    h('button', { type: 'submit' }, 'Filter'));
  filter.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (stateSelect.value) {
      q.set('state', stateSelect.value);
    }
    if (requester.value.trim()) {
      q.set('requester', requester.value.trim());
    }
    location.hash = `#/batches${q.size ? `?${q}` : ''}`;
  });
  const openId = h('input', { id: 'open-id', name: 'id', autocomplete: 'off', spellcheck: 'false' });
  const open = h('form', { class: 'form', 'aria-label': 'Open by id' },
    h('div', {}, h('label', { for: 'open-id' }, 'Batch or build id'), openId),
    h('button', { type: 'submit', name: 'kind', value: 'batches' }, 'Open batch'),
    h('button', { type: 'submit', name: 'kind', value: 'builds' }, 'Open build'));
  open.addEventListener('submit', (e) => {
    e.preventDefault();
    const id = openId.value.trim();
    if (id) {
      location.hash = `#/${e.submitter?.value || 'batches'}/${encodeURIComponent(id)}`;
    }
  });

  const table = rows.length === 0
    ? h('p', { class: 'note', id: 'no-batches' }, builds.length === 0 ? 'No builds are visible to this key.' : 'No batch matches.')
    : h('div', { class: 'table-wrap' }, h('table', { id: 'batches' },
      h('caption', { class: 'note' }, `${rows.length} batch(es), newest first`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Batch'), h('th', { scope: 'col' }, 'State'),
        h('th', { scope: 'col', class: 'num' }, 'Images'), h('th', { scope: 'col', class: 'hide-narrow' }, 'Requested by'),
        h('th', { scope: 'col', class: 'hide-narrow' }, 'Submitted'))),
      h('tbody', {}, rows.map((x) => h('tr', {},
        h('td', {}, h('a', { href: `#/batches/${encodeURIComponent(x.batchId)}` }, x.batchId)),
        h('td', {}, badge(x.state), ' ', h('span', { class: 'note' }, `${x.builds.filter((b) => b.state === 'succeeded').length}/${x.builds.length} ok`)),
        h('td', { class: 'num' }, x.builds.length),
        h('td', { class: 'hide-narrow' }, x.requestedBy || '—'),
        h('td', { class: 'hide-narrow' }, when(x.submittedAt)))))));
  const singlesTable = singleRows.length === 0 ? [] : [h('h2', {}, 'Single builds'), h('div', { class: 'table-wrap' }, h('table', { id: 'singles' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Build'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col', class: 'hide-narrow' }, 'Submitted'))),
    h('tbody', {}, singleRows.map((b) => h('tr', {},
      h('td', {}, h('a', { href: `#/builds/${encodeURIComponent(b.buildId)}` }, b.buildId)),
      h('td', {}, badge(b.state)),
      h('td', { class: 'hide-narrow' }, when(b.submittedAt)))))))];
  const more = token ? [h('p', { class: 'note' }, `Only the newest ${builds.length} builds are shown.`)] : [];
  show('Batches', filter, open, table, ...more, ...singlesTable);
  say(`${rows.length} batch(es) shown.`);
}

// ---- one batch ----------------------------------------------------------------------------------------------------
async function batchView(id) {
  const signal = current.signal;
  const may = await showWho();
  const batch = await getJson(`/v1/batches/${encodeURIComponent(id)}`, { signal });
  // The records carry the dependencies (dependsOn); the batch status does not.
  const records = new Map();
  let token;
  for (let page = 0; page < 20; page++) {
    const query = new URLSearchParams({ batch: id, limit: '100' });
    if (token) {
      query.set('continue', token);
    }
    const result = await getJson(`/v1/builds?${query}`, { signal });
    for (const r of result.items) {
      records.set(r.buildId, r);
    }
    token = result.continue;
    if (!token) {
      break;
    }
  }
  const images = batch.images.map((i) => {
    const r = records.get(i.buildId);
    return {
      buildId: i.buildId, name: i.name, state: i.state, attempt: i.attempt, digest: i.digest, reason: i.reason,
      startedAt: i.startedAt, endedAt: i.endedAt, dependsOn: r?.dependsOn || [],
    };
  });
  const byId = new Map(images.map((i) => [i.buildId, i]));
  const options = { expanded: new Set(), query: '', scale: 1, onToggle: (l) => { options.expanded.add(l); redraw(); } };

  const totals = h('ul', { class: 'totals', id: 'totals', 'aria-label': 'Totals' });
  const makespan = h('span', { id: 'makespan' });
  const graphBox = h('div', { class: 'graph-wrap', id: 'graph' });
  const search = h('input', { id: 'g-search', type: 'search', autocomplete: 'off', 'aria-describedby': 'g-search-help' });
  const searchHelp = h('span', { id: 'g-search-help', class: 'note' });
  const zoom = (factor) => () => { options.scale = Math.min(2, Math.max(0.3, options.scale * factor)); redraw(); };
  const tools = h('div', { class: 'graph-tools' },
    h('div', { class: 'form' }, h('div', {}, h('label', { for: 'g-search' }, 'Find an image'), search)),
    h('button', { type: 'button', onclick: zoom(1.25) }, 'Zoom in'),
    h('button', { type: 'button', onclick: zoom(0.8) }, 'Zoom out'),
    h('button', { type: 'button', onclick: () => { columnsAll(); redraw(); } }, 'Expand all'),
    h('button', { type: 'button', onclick: () => { options.expanded.clear(); redraw(); } }, 'Collapse large levels'),
    searchHelp);
  const columnsAll = () => { for (let l = 0; l < images.length; l++) { options.expanded.add(l); } };
  search.addEventListener('input', () => { options.query = search.value; redraw(); });

  const actions = h('div', { class: 'actions' });
  const message = h('p', { class: 'note', id: 'batch-message', role: 'status' });
  let graph;
  const redraw = () => {
    graph = drawGraph(graphBox, images, options);
    const q = options.query.trim().toLowerCase();
    searchHelp.textContent = q ? `${images.filter((i) => i.name.toLowerCase().includes(q)).length} match(es)` : `levels over ${COLLAPSE_AT} images start collapsed`;
  };
  const refreshTotals = () => {
    const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
    for (const i of images) {
      counts[i.state]++;
    }
    totals.replaceChildren(...STATES.filter((s) => counts[s] > 0).map((s) => h('li', {}, h('span', { class: `badge state-${s}`, 'data-state': s }, `${s} ${counts[s]}`))));
    const done = images.every((i) => FINAL.has(i.state));
    const ends = images.map((i) => i.endedAt).filter(Boolean).sort();
    const to = done && ends.length ? ends[ends.length - 1] : new Date().toISOString();
    makespan.textContent = `${done ? 'makespan' : 'makespan so far'} ${duration(seconds(batch.submittedAt, to))}${done ? '' : ' (running)'}`;
    actions.replaceChildren(...batchActions(id, images, may, message));
  };
  redraw();
  refreshTotals();
  show(`Batch ${id}`,
    h('dl', { class: 'facts' },
      h('dt', {}, 'Source'), h('dd', {}, batch.source || '—'),
      h('dt', {}, 'Requested by'), h('dd', {}, batch.requestedBy || '—'),
      h('dt', {}, 'Submitted'), h('dd', {}, when(batch.submittedAt)),
      h('dt', {}, 'Images'), h('dd', {}, `${images.length} · `, makespan)),
    totals, actions, message,
    h('h2', {}, 'Graph'), tools, graphBox,
    h('h2', {}, 'Images'), imagesTable(images));
  say(`Batch ${id}: ${images.length} images; following its events.`);
  const ticker = setInterval(refreshTotals, 1000);
  signal.addEventListener('abort', () => clearInterval(ticker));

  // Live: the batch's event stream sends every record whole; keep the newest per build. Reconnect (with Last-Event-ID)
  // when the stream drops before every build ended, at most 20 times in a row.
  let lastId;
  let ended = false;
  for (let tries = 0; !ended && !signal.aborted && tries < 20; tries++) {
    try {
      await readEvents(`/v1/batches/${encodeURIComponent(id)}/events`, (e) => {
        lastId = e.id || lastId;
        if (e.event === 'end') {
          ended = true;
          return;
        }
        const r = JSON.parse(e.data);
        const image = byId.get(r.buildId);
        if (!image) {
          return;
        }
        Object.assign(image, {
          state: r.state, attempt: (r.attempts || []).length, digest: r.digest, reason: r.reason || lastReason(r),
          startedAt: r.startedAt, endedAt: r.endedAt,
        });
        graph.update(image);
        updateRow(image);
      }, signal, lastId);
      tries = 0;
    } catch (e) {
      if (signal.aborted) {
        return;
      }
      say(`The event stream broke (${e.message}); reconnecting.`, true);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    refreshTotals();
  }
  if (!signal.aborted) {
    refreshTotals();
    say(ended ? `Batch ${id} has ended.` : `Batch ${id}: the event stream stopped; reload to follow again.`);
  }
}

function lastReason(record) {
  const attempts = record.attempts || [];
  return attempts.length ? attempts[attempts.length - 1].reason : undefined;
}

function imagesTable(images) {
  const sorted = [...images].sort((a, b) => a.name.localeCompare(b.name));
  return h('div', { class: 'table-wrap' }, h('table', { id: 'images' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Image'), h('th', { scope: 'col' }, 'State'),
      h('th', { scope: 'col', class: 'num' }, 'Attempts'), h('th', { scope: 'col', class: 'hide-narrow' }, 'Digest or reason'))),
    h('tbody', {}, sorted.map((i) => h('tr', { 'data-build': i.buildId },
      h('td', {}, h('a', { href: `#/builds/${encodeURIComponent(i.buildId)}` }, i.name)),
      h('td', { class: 'state' }, badge(i.state)),
      h('td', { class: 'num attempts' }, i.attempt || 0),
      h('td', { class: 'hide-narrow mono outcome' }, i.digest || i.reason || ''))))));
}

function updateRow(image) {
  const row = document.querySelector(`#images tr[data-build="${CSS.escape(image.buildId)}"]`);
  if (row) {
    row.querySelector('.state').replaceChildren(badge(image.state));
    row.querySelector('.attempts').textContent = image.attempt || 0;
    row.querySelector('.outcome').textContent = image.digest || image.reason || '';
  }
}

function batchActions(id, images, may, message) {
  const buttons = [];
  const done = images.every((i) => FINAL.has(i.state));
  if (may.cancel && !done) {
    buttons.push(h('button', { type: 'button', class: 'danger', id: 'cancel-batch', onclick: async () => {
      if (!confirm(`Cancel every build of batch ${id} that has not ended?`)) {
        return;
      }
      try {
        await request(`/v1/batches/${encodeURIComponent(id)}`, { method: 'DELETE' });
        message.textContent = 'Cancel sent: the builds still going stop as their workers see it.';
      } catch (e) {
        message.textContent = e.status === 404 || e.status === 405 ? 'Cancelling a batch is not available from this API.' : `Cancel refused: ${e.message}`;
      }
    } }, 'Cancel batch'));
  }
  if (may.submit && done && images.some((i) => i.state !== 'succeeded')) {
    buttons.push(rerunButton({
      id: 'rerun-batch', label: 'Rerun failed images', kind: 'batch', path: `/v1/batches/${encodeURIComponent(id)}/rerun?failed=true`,
      newId: (body) => body.batchId, current: id, page: (newId) => `#/batches/${encodeURIComponent(newId)}`,
      submitted: 'Rerun of the failed images submitted.', message, refresh: route,
    }));
  }
  return buttons;
}

// ---- one build ----------------------------------------------------------------------------------------------------
// A rerun button: POSTs the rerun, then opens the new build or batch (or, when the answer names none, says it was
// submitted and refreshes the page); a refusal is said in the message line.
function rerunButton({ id, label, kind, path, newId, current, page, submitted, message, refresh }) {
  return h('button', { type: 'button', id, onclick: async () => {
    try {
      const response = await request(path, { method: 'POST' });
      const created = newId(await response.json().catch(() => ({})));
      if (created && created !== current) {
        location.hash = page(created);
      } else {
        message.textContent = submitted;
        refresh();
      }
    } catch (e) {
      message.textContent = e.status === 404 || e.status === 405 ? `Rerunning a ${kind} is not available from this API.` : `Rerun refused: ${e.message}`;
    }
  } }, label);
}

async function reasons() {
  if (!reasonsTable) {
    const response = await fetch('failure-reasons.json', { cache: 'no-cache' });
    reasonsTable = response.ok ? await response.json() : {};
  }
  return reasonsTable;
}

async function buildView(id) {
  const signal = current.signal;
  const may = await showWho();
  let record = await getJson(`/v1/builds/${encodeURIComponent(id)}`, { signal });
  const table = await reasons();
  const body = h('div', { id: 'build' });
  const logBox = h('section', { id: 'logs', 'aria-labelledby': 'logs-title' });
  let selected = null;
  let logAbort = null;
  const render = () => {
    body.replaceChildren(...buildParts(record, table, may, () => route()));
    const attempts = record.attempts || [];
    if (attempts.length === 0) {
      logBox.replaceChildren(h('h2', { id: 'logs-title' }, 'Log'), h('p', { class: 'note' }, 'No attempt has started yet.'));
      return;
    }
    if (selected === null || selected > attempts.length) {
      selected = attempts[attempts.length - 1].attempt;
      showLog();
    } else {
      renderTabs();
    }
  };
  const tabs = h('div', { class: 'tabs', role: 'group', 'aria-label': 'Attempt' });
  const pre = h('pre', { class: 'log', id: 'log', tabindex: '0', role: 'region', 'aria-label': 'Kaniko log' });
  const logNote = h('p', { class: 'note', id: 'log-note' });
  const renderTabs = () => {
    tabs.replaceChildren(...(record.attempts || []).map((a) => h('button', {
      type: 'button', 'aria-pressed': String(a.attempt === selected), onclick: () => { selected = a.attempt; showLog(); },
    }, `Attempt ${a.attempt}`)));
  };
  const showLog = async () => {
    renderTabs();
    logBox.replaceChildren(h('h2', { id: 'logs-title' }, 'Log'), tabs, logNote, pre);
    logAbort?.abort();
    logAbort = new AbortController();
    const abort = logAbort.signal;
    signal.addEventListener('abort', () => logAbort?.abort());
    pre.textContent = '';
    pre.hidden = false;
    const attempts = record.attempts || [];
    const live = !FINAL.has(record.state) && selected === attempts[attempts.length - 1]?.attempt;
    const path = `/v1/builds/${encodeURIComponent(id)}/logs?attempt=${selected}`;
    try {
      if (live) {
        logNote.textContent = `Attempt ${selected} is running: following its log.`;
        await readEvents(`${path}&follow=true`, (e) => {
          if (e.event === 'end') {
            return;
          }
          pre.append(`${e.data}\n`);
          pre.scrollTop = pre.scrollHeight;
        }, abort);
        logNote.textContent = `The log of attempt ${selected} ended.`;
      } else {
        const response = await request(path, { headers: { Accept: 'text/plain' }, signal: abort });
        const text = await response.text();
        pre.textContent = text;
        logNote.textContent = `Attempt ${selected}: ${text.split('\n').filter(Boolean).length} lines.`;
      }
    } catch (e) {
      if (e.name === 'AbortError') {
        return;
      }
      pre.textContent = '';
      pre.hidden = true;
      logNote.textContent = e.status === 404
        ? `The log of attempt ${selected} is not available from this API (404${e.problem && e.detail ? `: ${e.detail}` : ''}).`
        : `The log could not be read: ${e.message}`;
    }
  };
  render();
  show(`Build ${record.name || id}`, body, logBox);
  say(`Build ${id}: ${record.state}.`);
  if (FINAL.has(record.state)) {
    return;
  }
  let lastId;
  for (let tries = 0; !signal.aborted && !FINAL.has(record.state) && tries < 20; tries++) {
    try {
      await readEvents(`/v1/builds/${encodeURIComponent(id)}/events`, (e) => {
        lastId = e.id || lastId;
        if (e.event === 'end' || !e.data) {
          return;
        }
        const before = record;
        record = JSON.parse(e.data);
        const newAttempt = (record.attempts || []).length !== (before.attempts || []).length;
        if (newAttempt) {
          selected = null;
        }
        render();
        if (FINAL.has(record.state) && !FINAL.has(before.state)) {
          say(`Build ${id}: ${record.state}.`);
        }
      }, signal, lastId);
    } catch (e) {
      if (signal.aborted) {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

function buildParts(r, table, may, reload) {
  const parts = [];
  const facts = [
    ['State', badge(r.state)],
    ['Build id', h('span', { class: 'mono' }, r.buildId)],
    ['Batch', r.batchId ? h('a', { href: `#/batches/${encodeURIComponent(r.batchId)}` }, r.batchId) : '—'],
    ['Requested by', r.requestedBy || '—'],
    ['Submitted', when(r.submittedAt)],
    ['Started', when(r.startedAt)],
    ['Ended', when(r.endedAt)],
    ['Took', duration(seconds(r.startedAt, r.endedAt))],
    ['Resets', String(r.resets ?? 0)],
  ];
  if (r.digest) {
    facts.push(['Digest', h('span', { class: 'mono' }, r.digest)]);
  }
  if ((r.pushed || []).length) {
    facts.push(['Pushed', h('span', { class: 'mono' }, r.pushed.join(', '))]);
  }
  if (r.deduplicatedFrom) {
    facts.push(['Outcome of', h('a', { href: `#/builds/${encodeURIComponent(r.deduplicatedFrom)}` }, r.deduplicatedFrom)]);
  }
  if ((r.dependsOn || []).length) {
    facts.push(['Depends on', r.dependsOn.map((d, i) => [i ? ', ' : '', h('a', { href: `#/builds/${encodeURIComponent(d)}` }, d)])]);
  }
  parts.push(h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));

  const reason = r.reason || (r.state === 'retrying' ? lastReasonOf(r) : null);
  if (reason) {
    const known = table[reason];
    parts.push(h('div', { class: 'explain', id: 'reason' },
      h('p', {}, h('strong', {}, 'Reason: '), h('code', {}, reason), known ? ` (${known.transient ? 'transient: retried in a new pod' : 'permanent: not retried'})` : ''),
      known ? h('p', {}, withCode(known.meaning)) : h('p', {}, 'This reason is not in the farm\'s vocabulary (docs/failure-reasons.md).'),
      r.detail ? h('p', { class: 'mono' }, r.detail) : ''));
  }

  const actions = h('div', { class: 'actions' });
  const message = h('p', { class: 'note', id: 'build-message', role: 'status' });
  if (may.cancel && !FINAL.has(r.state)) {
    actions.append(h('button', { type: 'button', class: 'danger', id: 'cancel-build', onclick: async () => {
      try {
        await request(`/v1/builds/${encodeURIComponent(r.buildId)}`, { method: 'DELETE' });
        message.textContent = 'Cancel sent: the build stops when its worker sees it.';
      } catch (e) {
        message.textContent = `Cancel refused: ${e.message}`;
      }
    } }, 'Cancel build'));
  }
  if (may.submit && FINAL.has(r.state)) {
    actions.append(rerunButton({
      id: 'rerun-build', label: 'Rerun', kind: 'build', path: `/v1/builds/${encodeURIComponent(r.buildId)}/rerun`,
      newId: (body) => body.buildId, current: r.buildId, page: (newId) => `#/builds/${encodeURIComponent(newId)}`,
      submitted: 'Rerun submitted.', message, refresh: reload,
    }));
  }
  parts.push(actions, message);

  parts.push(h('h2', {}, 'Phases'));
  const phases = r.phaseSeconds || {};
  const total = PHASES.reduce((sum, p) => sum + (phases[p] || 0), 0);
  if (total > 0) {
    parts.push(h('div', { class: 'timeline', role: 'img', 'aria-label': PHASES.map((p) => `${p} ${(phases[p] || 0).toFixed(1)} s`).join(', ') },
      PHASES.filter((p) => phases[p] > 0).map((p) => {
        const span = h('span', { class: `phase-${p}`, title: `${p} ${phases[p].toFixed(1)} s` });
        // through the CSSOM: the Content-Security-Policy allows no inline style attributes
        span.style.width = `${((phases[p] / total) * 100).toFixed(2)}%`;
        return span;
      })));
    parts.push(h('ul', { class: 'legend' }, PHASES.map((p) => h('li', {}, h('i', { class: `phase-${p}` }), `${p} ${(phases[p] || 0).toFixed(1)} s`))));
  } else {
    parts.push(h('p', { class: 'note' }, 'No phase times yet (they come from the successful attempt\'s Kaniko log).'));
  }

  parts.push(h('h2', {}, 'Attempts'));
  const attempts = r.attempts || [];
  parts.push(attempts.length === 0 ? h('p', { class: 'note' }, 'None yet.') : h('div', { class: 'table-wrap' }, h('table', { id: 'attempts' },
    h('thead', {}, h('tr', {}, ['#', 'Pod', 'Started', 'Took', 'Memory', 'Reason', 'Retry at'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, attempts.map((a) => h('tr', {},
      h('td', {}, a.attempt),
      h('td', { class: 'mono' }, a.pod || '—'),
      h('td', {}, when(a.startedAt)),
      h('td', {}, duration(seconds(a.startedAt, a.endedAt))),
      h('td', { class: 'memory' }, a.memoryLimit ? [h('span', { class: 'mono' }, a.memoryLimit), a.memoryRaised ? ' (raised after OOM)' : ''] : '—'),
      h('td', {}, a.reason ? [h('code', {}, a.reason), a.transient ? ' (transient)' : '', a.detail ? h('div', { class: 'note mono' }, a.detail) : ''] : (a.endedAt ? 'ok' : 'running')),
      h('td', {}, a.retryAt ? when(a.retryAt) : '—')))))));

  parts.push(h('h2', {}, 'Spec'));
  const s = r.spec || {};
  const spec = [
    ['Context', s.context], ['Sub-path', s.contextSubPath], ['Dockerfile', s.dockerfile], ['Target', s.target],
    ['Platform', s.platform || (s.platforms || []).join(', ')], ['Destinations', (s.destinations || []).join(', ')],
    ['Build args', Object.entries(s.buildArgs || {}).map(([k, v]) => `${k}=${v}`).join(', ')],
    ['Cache repository', s.cacheRepo], ['Priority', String(r.priority ?? 0)], ['Deadline', r.deadline ? when(r.deadline) : ''],
  ].filter(([, v]) => v);
  parts.push(h('dl', { class: 'facts', id: 'spec' }, spec.map(([k, v]) => [h('dt', {}, k), h('dd', { class: 'mono' }, v)])));
  return parts;
}

function lastReasonOf(record) {
  const attempts = record.attempts || [];
  return attempts.length ? attempts[attempts.length - 1].reason : null;
}

// ---- routing ------------------------------------------------------------------------------------------------------
async function route() {
  current.abort();
  current = new AbortController();
  const hash = location.hash.replace(/^#/, '') || '/batches';
  const [path, query] = hash.split('?');
  const params = new URLSearchParams(query || '');
  if (!getKey()) {
    keyForm();
    return;
  }
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  try {
    await showWho();
    if (parts[0] === 'batches' && parts.length === 2) {
      main.replaceChildren(h('p', {}, 'Loading the batch…'));
      await batchView(parts[1]);
    } else if (parts[0] === 'builds' && parts.length === 2) {
      main.replaceChildren(h('p', {}, 'Loading the build…'));
      await buildView(parts[1]);
    } else {
      main.replaceChildren(h('p', {}, 'Loading the batches…'));
      await batchesView(params);
    }
  } catch (e) {
    failure(e, parts.length === 2 ? `${parts[0] === 'builds' ? 'Build' : 'Batch'} ${parts[1]}` : 'The list');
  }
}

window.addEventListener('hashchange', () => {
  route();
  main.focus();
});
route();
