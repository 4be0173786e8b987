// torrentino's page, shared by every view: the API client, the key, who is signed in,
// and small DOM helpers. Every text from the server goes into text nodes, never
// through an HTML parser; the API key travels only in the X-Api-Key header.

export const API = 'api/v1/';
const KEY_ITEM = 'torrentino.apiKey';
export const PAGE_SIZE = 50;
// Labels the name alone does not give (`backup_failed` is "Backup failed").
const LABELS = { ticket_created: 'Ticket filed', backup_created: 'Backup taken', api_key_created: 'API key created', api_key_revoked: 'API key revoked' };
export const label = (name) => LABELS[name] || name.charAt(0).toUpperCase() + name.slice(1).replace(/_/g, ' ');

const nothing = (value) => value === null || value === undefined || value === false;
/** An element with attributes (a plain object, or none) and children, strings as text. */
export function h(tag, ...children) {
  const props = Object.getPrototypeOf(children[0] ?? 0) === Object.prototype ? children.shift() : {};
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (nothing(value)) continue;
    if (name === 'class') el.className = value;
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity).filter((given) => !nothing(given))) {
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}
export const byId = (id) => document.getElementById(id);
/** Replace an element's children (as `h` takes them). */
export const put = (el, ...children) => el.replaceChildren(...children.flat(Infinity).filter((child) => !nothing(child)));
export const main = () => byId('main');
const numberFormat = new Intl.NumberFormat();
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
export const count = (number) => numberFormat.format(number);
export const plural = (number, one, many) => `${count(number)} ${number === 1 ? one : many}`;

function parseTime(iso) {
  return new Date(iso.replace(/(\.\d{3})\d+/, '$1'));
}
function ago(iso) {
  const seconds = (Date.now() - parseTime(iso).getTime()) / 1000;
  if (seconds < 45) return 'just now';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  if (seconds < 30 * 86400) return `${Math.round(seconds / 86400)} d ago`;
  return dateFormat.format(parseTime(iso));
}
export const timeAgo = (iso) => h('time', { datetime: iso, title: dateFormat.format(parseTime(iso)) }, ago(iso));
export const timeFull = (iso) => h('time', { datetime: iso }, `${dateFormat.format(parseTime(iso))} (${ago(iso)})`);

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const item of [].concat(value)) {
      if (item !== undefined && item !== null && item !== '') search.append(name, item);
    }
  }
  return search.toString();
}

/** A random token for Idempotency-Key (crypto.randomUUID needs HTTPS; this does not). */
export function randomToken() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

export function stateName(state) {
  return typeof state === 'string' ? state : Object.keys(state)[0];
}
export const stateFields = (state) => (typeof state === 'string' ? {} : state[stateName(state)]);
/** A state's fields other than when and by whom: a failure's error, a reason. */
export const stateNotes = (fields) => Object.entries(fields).filter(([name, value]) => value !== null && !/_(at|by)$/.test(name));
export const badge = (state) => h('span', { class: `badge ${stateName(state)}` }, label(stateName(state)));
export const tagList = (tags) => (tags.length ? h('ul', { class: 'tags', 'aria-label': 'Tags' }, tags.map((tag) => h('li', { class: 'tag' }, tag))) : null);
export function ticketTitle(ticket) {
  const line = ticket.query_context.description.trim().split('\n')[0];
  return line.length > 120 ? `${line.slice(0, 119)}…` : line || '(no description)';
}

export function toast(text) {
  const box = byId('toast');
  box.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.textContent = ''; }, 4000);
}

export const keys = {
  get() {
    try { return sessionStorage.getItem(KEY_ITEM) || localStorage.getItem(KEY_ITEM); } catch { return null; }
  },
  set(key, remember) {
    sessionStorage.setItem(KEY_ITEM, key);
    if (remember) localStorage.setItem(KEY_ITEM, key);
    else localStorage.removeItem(KEY_ITEM);
  },
  clear() {
    try { sessionStorage.removeItem(KEY_ITEM); localStorage.removeItem(KEY_ITEM); } catch { /* storage off */ }
  },
};

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }
}

/** Call the API at `${API}…`, relative to the page, or at an absolute link it gave
 * (`next`), which carries the path prefix the page came through already. */
export async function api(path, { method = 'GET', body, headers = {}, key = keys.get() } = {}) {
  const sent = { Accept: 'application/json', ...headers };
  if (key) sent['X-Api-Key'] = key;
  const init = { method, headers: sent, cache: 'no-store' };
  if (body !== undefined) {
    sent['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'The server could not be reached. Check the connection and try again.');
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code || `http_${response.status}`, error.message || response.statusText, error.details);
  }
  return { data, etag: response.headers.get('ETag') };
}
export const getTicket = (id) => api(`${API}tickets/${encodeURIComponent(id)}`);

export const session = { me: null, generation: 0, refresh: null, firstListShown: false };
export const isAdmin = () => session.me && session.me.role === 'admin';

// The state machine, read once from the server (api/v1/states): no script names a state.
// Each state has `next`, the states it may move to, and `move`, how one moves into it;
// `editable` and `file_again` say whether a ticket in it may be edited, or filed again.
export const machine = { initial: '', names: [], states: {}, ready: null };
export const loadMachine = () => (machine.ready ||= api(`${API}states`).then(({ data }) => {
  machine.initial = data.initial; // a new ticket's: the queue's default view
  machine.names = data.states.map((state) => state.name);
  for (const state of data.states) machine.states[state.name] = state;
}, (error) => { machine.ready = null; throw error; }));
/** The states the caller may move this ticket into. */
export const movesFor = (ticket) => (machine.states[stateName(ticket.state)]?.next || []).map((name) => machine.states[name])
  .filter(({ move }) => move && (isAdmin() || (move.who === 'owner' && ticket.created_by === session.me.name)));
// Its path made relative to the page, as every call's is.
export const makeMove = (ticket, move, options) =>
  api(move.path.slice(1).replace('{ticket_id}', encodeURIComponent(ticket.id)), { method: move.method, ...options });
const mine = (ticket) => isAdmin() || ticket.created_by === session.me.name;
const stateOf = (name) => machine.states[name] || {};
export const mayEdit = (ticket) => Boolean(stateOf(stateName(ticket.state)).editable) && mine(ticket);
export const mayFileAgain = (ticket) => Boolean(stateOf(stateName(ticket.state)).file_again);
/** Whether the queue, as filtered, is editable tickets in queue order, for an admin to reorder. */
export const mayReorder = (filter) => isAdmin() && filter.sort === 'queue' && filter.state.length === 1 && Boolean(stateOf(filter.state[0]).editable);

/** Show `message` next to a field (and keep the field's hint). */
export function fieldError(field, input, message) {
  field.classList.add('has-error');
  let error = field.querySelector('.field-error');
  if (!error) {
    error = h('span', { class: 'field-error', id: `${input.id}-error` });
    input.before(error);
  }
  put(error, h('span', { class: 'visually-hidden' }, 'Error: '), message);
  const described = (input.getAttribute('aria-describedby') || '').split(' ').filter((id) => id && id !== error.id);
  input.setAttribute('aria-describedby', [...described, error.id].join(' '));
  input.setAttribute('aria-invalid', 'true');
  input.focus();
}

export function clearFieldErrors(root) {
  for (const field of root.querySelectorAll('.has-error')) {
    field.classList.remove('has-error');
    const error = field.querySelector('.field-error');
    const input = field.querySelector('input, textarea, select');
    if (error) error.remove();
    if (input) {
      input.removeAttribute('aria-invalid');
      const ids = (input.getAttribute('aria-describedby') || '').split(' ').filter((id) => id && !id.endsWith('-error'));
      input.setAttribute('aria-describedby', ids.join(' '));
    }
  }
}

/** After a view change: name the tab after the view, and move focus to its heading. */
export function focusHeading() {
  const heading = main().querySelector('h1');
  if (heading) {
    document.title = `${heading.textContent} · torrentino`;
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
}

/** Run `render` again when something changes elsewhere, keeping focus where it was. */
export function onChange(view, render) {
  session.refresh = async () => {
    if (!view.current()) return;
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : null;
    await render();
    if (focused) {
      const again = main().querySelector(`[data-key="${CSS.escape(focused)}"]`);
      if (again) again.focus({ preventScroll: true });
    }
  };
}

/** What the views call when the server refuses the key, or a request fails: set by app.js. */
export const hooks = {
  refused: () => {},
  fail: (error) => { throw error; },
};
