// torrentino's page: signing in, who is signed in, and which view the address shows.

import {
  api,
  API,
  byId,
  fieldError,
  focusHeading,
  h,
  hooks,
  isAdmin,
  keys,
  loadMachine,
  main,
  put,
  session,
} from './core.js';
import { auditView } from './audit.js';
import { watch } from './live.js';
import { queueView } from './queue.js';
import { ticketView } from './ticket.js';

// A view whose module is loaded the first time its address is opened: the form, which most
// visits never open, and the views for admins.
const later = (load, name) => (...args) => load().then((module) => module[name](...args));
const formView = later(() => import('./request.js'), 'newTicketView');

async function loadMe() {
  if (session.me) return session.me;
  const { data } = await api(`${API}me`);
  session.me = data;
  renderAccount();
  watch.start();
  return data;
}

function renderAccount() {
  const box = byId('account');
  const me = session.me;
  for (const link of document.querySelectorAll('[data-admin]')) link.hidden = !isAdmin();
  if (!me) return put(box);
  put(box,
    h('span', { class: 'who' }, h('span', { class: 'visually-hidden' }, 'Signed in as '), h('strong', me.name), ' '),
    h('span', { class: 'role', title: me.role === 'admin' ? 'May do everything' : 'Files tickets and cancels their own' }, me.role),
    me.open_mode ? [h('span', { class: 'role', title: 'No API key exists yet, so this machine (or its network, if the server allows it) needs none: you are the anonymous admin' }, 'open mode'),
      h('a', { href: '#/keys' }, 'Make the first key')] : null,
    keys.get() ? h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out') : null,
  );
}

function signOut() {
  keys.clear();
  session.me = null;
  watch.stop();
  renderAccount();
  askForKey(false);
}

function askForKey(refused = Boolean(keys.get())) {
  watch.stop();
  session.me = null;
  session.generation += 1;
  session.refresh = null;
  keys.clear();
  renderAccount();
  const input = h('input', { id: 'key', name: 'api-key', type: 'password', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'key-hint' });
  const remember = h('input', { id: 'remember', type: 'checkbox' });
  const field = h('div', { class: 'field' },
    h('label', { for: 'key' }, 'API key'),
    h('span', { class: 'hint', id: 'key-hint' }, 'It starts with trn_. An admin makes one on the Keys page, or on the server with: make keys ARGS="create NAME"'),
    input);
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'panel narrow', novalidate: true, onsubmit: submit },
    refused
      ? h('div', { class: 'notice error', role: 'alert' }, h('p', 'Your API key was refused: it is wrong or has been revoked. Enter a valid key.'))
      : h('p', 'This torrentino asks for an API key.'),
    field,
    h('div', { class: 'check' }, remember, h('label', { for: 'remember' }, 'Remember on this device'), ' '),
    h('p', { class: 'hint' }, 'Otherwise the key is kept only until this tab is closed.'),
    h('div', { class: 'actions' }, button));
  put(main(), h('h1', { tabindex: '-1' }, 'Sign in'), form);
  document.title = 'Sign in · torrentino';
  input.focus();

  async function submit(event) {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return fieldError(field, input, 'Enter your API key.');
    button.disabled = true;
    try {
      const { data } = await api(`${API}me`, { key });
      keys.set(key, remember.checked);
      session.me = data;
      renderAccount();
      watch.start();
      route();
    } catch (error) {
      button.disabled = false;
      if (error.status === 401) fieldError(field, input, 'That key is wrong or has been revoked.');
      else fieldError(field, input, error.message);
    }
  }
}

const ROUTES = [
  [/^\/$/, 'queue', queueView],
  [/^\/new$/, 'new', formView],
  [/^\/tickets\/([^/]{1,64})$/, 'queue', ticketView],
  [/^\/tickets\/([^/]{1,64})\/edit$/, 'queue', formView],
  [/^\/audit$/, 'audit', auditView],
  [/^\/backups$/, 'backups', later(() => import('./backups.js'), 'backupsView')],
  [/^\/destinations$/, 'destinations', later(() => import('./destinations.js'), 'destinationsView')],
  [/^\/keys$/, 'keys', later(() => import('./keys.js'), 'keysView')],
  [/^\/notifications$/, 'notifications', later(() => import('./notifications.js'), 'notificationsView')],
];

function currentHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const at = raw.indexOf('?');
  return { path: at < 0 ? raw : raw.slice(0, at), params: new URLSearchParams(at < 0 ? '' : raw.slice(at + 1)) };
}

async function route() {
  const { path, params } = currentHash();
  const found = ROUTES.find(([pattern]) => pattern.test(path));
  const [pattern, nav, showView] = found || [null, '', notFoundView];
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.dataset.nav === nav) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  session.generation += 1;
  session.refresh = null;
  const view = {
    generation: session.generation,
    params,
    current: () => view.generation === session.generation,
  };
  const args = pattern ? path.match(pattern).slice(1) : [];
  const me = Promise.all([loadMe(), loadMachine()]).then(([data]) => data);
  me.catch(() => {}); // reported by the view that awaits it
  try {
    await showView(view, me, ...args);
    if (view.current()) focusHeading();
  } catch (error) {
    if (view.current()) showError(error);
  }
}

function showError(error) {
  if (error.status === 401) return askForKey();
  put(main(),
    h('h1', { tabindex: '-1' }, error.status === 0 ? 'Cannot reach torrentino' : 'Something went wrong'),
    h('div', { class: 'notice error', role: 'alert' }, h('p', error.message)),
    h('button', { type: 'button', onclick: route }, 'Try again'));
  focusHeading();
}

function notFoundView() {
  put(main(), h('h1', 'Page not found'), h('p', h('a', { href: '#/' }, 'Go to the queue')));
}

hooks.refused = askForKey;
hooks.fail = showError;
hooks.account = renderAccount;
window.addEventListener('hashchange', route);
route();
