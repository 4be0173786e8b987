// torrentino's page: the queue, new requests, a ticket's page and the audit log, over the
// public JSON API only. Every text from the server goes into text nodes, never through
// an HTML parser; the API key travels only in the X-Api-Key header.
'use strict';
(() => {
  const API = 'api/v1/';
  const KEY_ITEM = 'torrentino.apiKey';
  const POLL_MS = 2000; // one cheap request (two for a user) every two seconds...
  const HIDDEN_POLL_MS = 30000; // ...and rarely while the tab is hidden
  const PAGE_SIZE = 50;
  const STATES = ['pending', 'completed', 'cancelled', 'failed'];
  const STATE_LABELS = { pending: 'Pending', completed: 'Completed', cancelled: 'Cancelled', failed: 'Failed' };
  const EVENT_LABELS = {
    ticket_created: 'Ticket filed',
    ticket_cancelled: 'Ticket cancelled',
    ticket_state_changed: 'Ticket state changed',
    api_key_created: 'API key created',
    api_key_revoked: 'API key revoked',
    service_started: 'Service started',
  };
  // The API's bounds, as hints (the API checks them; its messages are shown as they come).
  const HINTS = {
    description: 'What to look for, e.g. "Abbey Road by The Beatles, 2019 remaster". Up to 10,000 characters.',
    tags: 'Separate with commas, e.g. music, flac, album. Up to 100 tags of 1 to 100 characters each.',
    dest_path: 'An absolute folder path, e.g. /media/music/beatles: starts with /, no ".." part, at most 4,096 bytes.',
    priority: 'A whole number from 0 to 65,535: higher goes first. 100 is usual.',
  };

  // ---- small helpers ---------------------------------------------------------------

  /** An element with attributes, event handlers and children; strings become text nodes. */
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'class') el.className = value;
      else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
      else el.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }
  const byId = (id) => document.getElementById(id);
  /** Replace an element's children (null, undefined and false stand for nothing). */
  const put = (el, ...children) => el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  const main = () => byId('main');
  const numberFormat = new Intl.NumberFormat();
  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  const count = (n) => numberFormat.format(n);
  const plural = (n, one, many) => `${count(n)} ${n === 1 ? one : many}`;

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
  const timeAgo = (iso) => h('time', { datetime: iso, title: dateFormat.format(parseTime(iso)) }, ago(iso));
  const timeFull = (iso) => h('time', { datetime: iso }, `${dateFormat.format(parseTime(iso))} (${ago(iso)})`);

  function query(params) {
    const q = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      for (const item of [].concat(value)) {
        if (item !== undefined && item !== null && item !== '') q.append(name, item);
      }
    }
    return q.toString();
  }
  // The API's `next` links are absolute paths; the page's own URLs stay relative, so that
  // they also work under API Gateway's stage prefix.
  const relative = (link) => link.replace(/^\/+/, '');

  /** A random token for Idempotency-Key (crypto.randomUUID needs HTTPS; this does not). */
  function randomToken() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function stateName(state) {
    return typeof state === 'string' ? state : Object.keys(state)[0];
  }
  const stateFields = (state) => (typeof state === 'string' ? {} : state[stateName(state)]);
  const badge = (state) => h('span', { class: `badge ${stateName(state)}` }, STATE_LABELS[stateName(state)] || stateName(state));
  const tagList = (tags) => (tags.length ? h('ul', { class: 'tags', 'aria-label': 'Tags' }, tags.map((t) => h('li', { class: 'tag' }, t))) : null);
  function ticketTitle(t) {
    const line = t.query_context.description.trim().split('\n')[0];
    return line.length > 120 ? `${line.slice(0, 119)}…` : line || '(no description)';
  }

  function toast(text) {
    const box = byId('toast');
    box.textContent = text;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.textContent = ''; }, 4000);
  }

  // ---- keys ----------------------------------------------------------------------------

  const keys = {
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

  // ---- the API ---------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details || [];
    }
  }

  async function api(path, { method = 'GET', body, headers = {}, key = keys.get() } = {}) {
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
  const getTicket = (id) => api(`${API}tickets/${encodeURIComponent(id)}`);

  // ---- who is signed in -------------------------------------------------------------------

  const session = { me: null, generation: 0, refresh: null, firstListShown: false };
  const isAdmin = () => session.me && session.me.role === 'admin';
  const mayCancel = (t) => stateName(t.state) === 'pending' && (isAdmin() || t.created_by === session.me.name);
  const mayFinish = (t) => stateName(t.state) === 'pending' && isAdmin();

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
    if (!me) return put(box);
    put(box,
      h('span', { class: 'who' }, h('span', { class: 'visually-hidden' }, 'Signed in as '), h('strong', {}, me.name), ' '),
      h('span', { class: 'role', title: me.role === 'admin' ? 'May do everything' : 'Files tickets and cancels their own' }, me.role),
      me.open_mode ? h('span', { class: 'role', title: 'No API key exists yet: everyone is the anonymous admin' }, 'open mode') : null,
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
      h('span', { class: 'hint', id: 'key-hint' }, 'It starts with trn_. The person who runs torrentino makes one with: make keys ARGS="create NAME"'),
      input);
    const button = h('button', { type: 'submit' }, 'Sign in');
    const form = h('form', { class: 'panel narrow', novalidate: true, onsubmit: submit },
      refused
        ? h('div', { class: 'notice error', role: 'alert' }, h('p', {}, 'Your API key was refused: it is wrong or has been revoked. Enter a valid key.'))
        : h('p', {}, 'This torrentino asks for an API key.'),
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

  /** Show `message` next to a field (and keep the field's hint). */
  function fieldError(field, input, message) {
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

  function clearFieldErrors(root) {
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

  // ---- live updates -------------------------------------------------------------------------
  //
  // An admin follows the audit log: `after=<last event id>` is empty (and cheap) until
  // something happens. A user's audit log shows only its own tickets, so a user follows
  // the ticket counts instead: tickets are never deleted and never leave a terminal state,
  // so the count of terminal tickets only grows (it moves on every cancel, completion or
  // failure) and, when it has not moved, the count of pending ones grows with every new
  // ticket. Two numbers that change on every event.

  const watch = {
    timer: 0,
    busy: false,
    again: false,
    cursor: null,
    signature: null,
    start() {
      this.stop();
      this.cursor = null;
      this.signature = null;
      this.tick();
    },
    stop() {
      clearTimeout(this.timer);
      this.timer = 0;
      this.again = false;
      byId('live').hidden = true;
    },
    schedule() {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.tick(), document.hidden ? HIDDEN_POLL_MS : POLL_MS);
    },
    // A fixed cadence: one poll per tick. A tick that comes while a poll is still out is
    // not lost, nor stacked: it runs once that poll is done.
    tick() {
      this.schedule();
      if (this.busy) this.again = true;
      else this.poll();
    },
    async poll() {
      if (!session.me) return;
      this.busy = true;
      try {
        const moved = isAdmin() ? await this.auditMoved() : await this.countsMoved();
        byId('connection').textContent = '';
        byId('live').hidden = false;
        if (moved && session.refresh) await session.refresh();
      } catch (error) {
        this.busy = false;
        if (error.status === 401) return askForKey();
        byId('live').hidden = true;
        byId('connection').textContent = 'Connection lost: retrying…';
      }
      this.busy = false;
      if (this.again) {
        this.again = false;
        this.poll();
      }
    },
    async auditMoved() {
      if (this.cursor === null) {
        // Start at the newest event: the last one of the log.
        const { data } = await api(`${API}audit?limit=1`);
        const last = data.total > 0 ? (await api(`${API}audit?${query({ limit: 1, offset: data.total - 1 })}`)).data.events : [];
        this.cursor = last.length ? last[last.length - 1].id : 0;
        return false;
      }
      const { data } = await api(`${API}audit?${query({ after: this.cursor, limit: 100 })}`);
      if (!data.events.length) return false;
      this.cursor = data.events[data.events.length - 1].id;
      return true;
    },
    async countsMoved() {
      const [pending, ended] = await Promise.all([
        api(`${API}tickets?${query({ state: 'pending', limit: 1 })}`),
        api(`${API}tickets?${query({ state: ['completed', 'cancelled', 'failed'], limit: 1 })}`),
      ]);
      const signature = `${pending.data.total}/${ended.data.total}`;
      const moved = this.signature !== null && signature !== this.signature;
      this.signature = signature;
      return moved;
    },
  };
  document.addEventListener('visibilitychange', () => {
    if (!session.me) return;
    if (document.hidden) watch.schedule();
    else watch.tick();
  });

  // ---- routing ------------------------------------------------------------------------------

  const ROUTES = [
    [/^\/$/, 'queue', queueView],
    [/^\/new$/, 'new', newTicketView],
    [/^\/tickets\/([^/]{1,64})$/, 'queue', ticketView],
    [/^\/audit$/, 'audit', auditView],
  ];

  function currentHash() {
    const raw = location.hash.replace(/^#/, '') || '/';
    const at = raw.indexOf('?');
    return { path: at < 0 ? raw : raw.slice(0, at), params: new URLSearchParams(at < 0 ? '' : raw.slice(at + 1)) };
  }

  async function route() {
    const { path, params } = currentHash();
    const found = ROUTES.find(([pattern]) => pattern.test(path));
    const [pattern, nav, view] = found || [null, '', notFoundView];
    for (const link of document.querySelectorAll('[data-nav]')) {
      if (link.dataset.nav === nav) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    session.generation += 1;
    session.refresh = null;
    const view_ = {
      generation: session.generation,
      params,
      current: () => view_.generation === session.generation,
    };
    const args = pattern ? path.match(pattern).slice(1) : [];
    const me = loadMe();
    me.catch(() => {}); // reported by the view that awaits it
    try {
      await view(view_, me, ...args);
      if (view_.current()) focusHeading();
    } catch (error) {
      if (view_.current()) showError(error);
    }
  }

  /** After a view change: name the tab after the view, and move focus to its heading. */
  function focusHeading() {
    const heading = main().querySelector('h1');
    if (heading) {
      document.title = `${heading.textContent} · torrentino`;
      heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: true });
    }
  }

  function showError(error) {
    if (error.status === 401) return askForKey();
    put(main(),
      h('h1', { tabindex: '-1' }, error.status === 0 ? 'Cannot reach torrentino' : 'Something went wrong'),
      h('div', { class: 'notice error', role: 'alert' }, h('p', {}, error.message)),
      h('button', { type: 'button', onclick: route }, 'Try again'));
    focusHeading();
  }

  function notFoundView() {
    put(main(), h('h1', {}, 'Page not found'), h('p', {}, h('a', { href: '#/' }, 'Go to the queue')));
  }

  /** Run `render` again when something changes elsewhere, keeping focus where it was. */
  function onChange(view, render) {
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

  // ---- the queue ----------------------------------------------------------------------------

  function readQueueFilter(params) {
    // No `state` at all means the default view, the waiting tickets; `state=` means all.
    const state = params.has('state') ? params.getAll('state').filter((s) => STATES.includes(s)) : ['pending'];
    return {
      state,
      tag: (params.get('tag') || '').split(',').map((t) => t.trim()).filter(Boolean),
      created_by: (params.get('created_by') || '').trim(),
      sort: params.get('sort') === 'newest' ? 'newest' : 'queue',
    };
  }

  function queueHash(filter) {
    const q = query({ tag: filter.tag.join(', '), created_by: filter.created_by, sort: filter.sort === 'newest' ? 'newest' : '' });
    const state = filter.state.length ? filter.state.map((s) => `state=${s}`).join('&') : 'state=';
    return `#/?${state}${q ? `&${q}` : ''}`;
  }

  async function queueView(view, me) {
    let filter = readQueueFilter(view.params);
    let shown = [];
    let next = null;
    const list = h('ol', { class: 'tickets', 'aria-label': 'Tickets' });
    const summary = h('p', { class: 'summary', role: 'status' });
    const more = h('div', { class: 'more' });
    const notice = h('div', {});
    const counts = {};
    const chips = STATES.map((s) => {
      counts[s] = h('span', { class: 'count' });
      const box = h('input', { type: 'checkbox', name: 'state', value: s, onchange: apply });
      box.checked = filter.state.includes(s);
      return h('label', { class: 'chip' }, box, STATE_LABELS[s], counts[s]);
    });
    const tagInput = h('input', { id: 'filter-tag', name: 'tag', value: filter.tag.join(', '), placeholder: 'e.g. music, flac', autocomplete: 'off' });
    const creatorInput = h('input', { id: 'filter-creator', name: 'created_by', value: filter.created_by, autocomplete: 'off' });
    const sortSelect = h('select', { id: 'filter-sort', name: 'sort', onchange: apply },
      h('option', { value: 'queue' }, 'Queue order'),
      h('option', { value: 'newest' }, 'Newest first'));
    sortSelect.value = filter.sort;
    // Tags, creator and order fold away on a phone, unless one of them is in use.
    const others = h('details', { class: 'more-filters' }, h('summary', {}, 'Tags, creator and order'),
      h('div', { class: 'filter-fields' },
        h('div', { class: 'field' }, h('label', { for: 'filter-tag' }, 'Tags (all must match)'), tagInput),
        h('div', { class: 'field' }, h('label', { for: 'filter-creator' }, 'Created by'), creatorInput),
        h('div', { class: 'field' }, h('label', { for: 'filter-sort' }, 'Order'), sortSelect),
        h('div', { class: 'field' }, h('button', { type: 'submit', class: 'secondary' }, 'Apply filters'))));
    others.open = matchMedia('(min-width: 40rem)').matches || filter.tag.length > 0 || Boolean(filter.created_by) || filter.sort !== 'queue';
    const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter tickets', onsubmit: apply },
      h('fieldset', { class: 'states' }, h('legend', {}, 'State'), h('div', { class: 'chips' }, chips)), others);

    function apply(event) {
      if (event) event.preventDefault();
      filter = {
        state: chips.map((chip) => chip.querySelector('input')).filter((box) => box.checked).map((box) => box.value),
        tag: tagInput.value.split(',').map((t) => t.trim()).filter(Boolean),
        created_by: creatorInput.value.trim(),
        sort: sortSelect.value,
      };
      window.history.replaceState(null, '', queueHash(filter));
      load().catch(showError);
    }

    const apiFilter = (extra) => ({ state: filter.state, tag: filter.tag, created_by: filter.created_by || undefined, ...extra });

    async function load(limit = PAGE_SIZE, live = false) {
      const wanted = filter;
      const { data } = await api(`${API}tickets?${query(apiFilter({ sort: filter.sort === 'newest' ? 'newest' : undefined, limit }))}`);
      await me;
      if (!view.current() || wanted !== filter) return;
      const before = new Set(shown.map((t) => t.id));
      shown = data.tickets;
      next = data.next;
      put(list, ...shown.map((t) => ticketRow(t, live && !before.has(t.id))));
      renderFooter(data.total);
      if (!session.firstListShown) {
        session.firstListShown = true;
        performance.mark('torrentino:first-tickets-shown');
      }
      loadCounts(wanted);
    }

    async function loadCounts(wanted) {
      const results = await Promise.all(STATES.map((s) => api(`${API}tickets?${query({ ...apiFilter({ state: s }), limit: 1 })}`)))
        .catch(() => null);
      if (!results || !view.current() || wanted !== filter) return;
      STATES.forEach((s, i) => { counts[s].textContent = count(results[i].data.total); });
    }

    function renderFooter(total) {
      summary.textContent = total === 0 ? 'No tickets match.' : `Showing ${count(shown.length)} of ${plural(total, 'ticket', 'tickets')}.`;
      const empty = total === 0 ? h('div', { class: 'empty' }, h('p', {}, 'Nothing here.'), h('a', { class: 'button', href: '#/new' }, 'File a request')) : null;
      put(more, empty || '', next ? h('button', { type: 'button', class: 'secondary', onclick: showMore }, 'Show more') : '');
    }

    async function showMore(event) {
      event.target.disabled = true;
      const { data } = await api(relative(next)).catch((error) => { showError(error); return { data: null }; });
      if (!data || !view.current()) return;
      const start = shown.length;
      shown = shown.concat(data.tickets);
      next = data.next;
      list.append(...data.tickets.map((t) => ticketRow(t, false)));
      renderFooter(data.total);
      const first = list.children[start];
      if (first) first.querySelector('a').focus();
    }

    function ticketRow(t, fresh) {
      const actions = h('div', { class: 'ticket-actions' });
      if (mayCancel(t)) {
        const ask = h('button', {
          type: 'button', class: 'secondary', 'data-key': `cancel-${t.id}`,
          'aria-label': `Cancel: ${ticketTitle(t)}`, onclick: () => confirmCancel(t, actions, ask),
        }, 'Cancel');
        actions.append(ask);
      }
      return h('li', { class: fresh ? 'ticket fresh' : 'ticket', 'data-ticket-row': '', 'data-id': t.id },
        h('div', { class: 'ticket-main' },
          h('a', { class: 'ticket-title', href: `#/tickets/${t.id}`, 'data-key': `open-${t.id}` }, ticketTitle(t)),
          h('div', { class: 'meta' }, badge(t.state), h('span', { class: 'priority' }, `Priority ${t.priority}`), tagList(t.query_context.tags)),
          h('div', { class: 'meta' },
            h('span', { class: 'dest' }, h('span', { class: 'visually-hidden' }, 'Destination: '), t.dest_path),
            h('span', {}, 'by ', h('strong', {}, t.created_by)),
            timeAgo(t.created_at))),
        actions);
    }

    function confirmCancel(t, actions, ask) {
      const yes = h('button', { type: 'button', class: 'danger', onclick: cancel }, 'Yes, cancel it');
      const no = h('button', { type: 'button', class: 'secondary', onclick: () => { put(actions, ask); ask.focus(); } }, 'Keep it');
      put(actions, h('p', {}, 'Cancel this ticket?'), yes, no);
      yes.focus();

      async function cancel() {
        yes.disabled = true;
        put(notice);
        try {
          await api(`${API}tickets/${encodeURIComponent(t.id)}`, { method: 'DELETE' });
          toast('Ticket cancelled.');
        } catch (error) {
          if (error.status === 401) return askForKey();
          const now = await getTicket(t.id).catch(() => null);
          put(notice, h('div', { class: 'notice error', role: 'alert' }, h('p', {},
            error.status === 409 && now
              ? `Someone else acted first: "${ticketTitle(t)}" is already ${STATE_LABELS[stateName(now.data.state)].toLowerCase()}. Nothing was changed.`
              : error.message)));
        }
        const row = shown.findIndex((s) => s.id === t.id);
        await load(Math.max(PAGE_SIZE, shown.length));
        const link = list.children[Math.min(row, list.children.length - 1)];
        (link ? link.querySelector('a') : main().querySelector('h1')).focus();
      }
    }

    put(main(),
      h('div', { class: 'page-head' }, h('h1', {}, 'Queue'), h('a', { class: 'button', href: '#/new' }, 'New request')),
      form, notice, summary, list, more);
    await load();
    onChange(view, () => load(Math.min(1000, Math.max(PAGE_SIZE, shown.length)), true));
  }

  // ---- filing a ticket ----------------------------------------------------------------------

  const FORM_FIELDS = [
    // [id, API field (prefix of details[].field), label]
    ['new-description', 'query_context.description', 'Description'],
    ['new-tags', 'query_context.tags', 'Tags'],
    ['new-dest', 'dest_path', 'Destination'],
    ['new-priority', 'priority', 'Priority'],
  ];

  async function newTicketView(view, me) {
    await me;
    if (!view.current()) return;
    let attempt = null; // { key, body }: one Idempotency-Key per submission, reused by retries
    const summaryBox = h('div', {});
    const inputs = {
      'new-description': h('textarea', { id: 'new-description', name: 'description', rows: '3', maxlength: '10000', 'aria-describedby': 'new-description-hint' }),
      'new-tags': h('input', { id: 'new-tags', name: 'tags', autocomplete: 'off', 'aria-describedby': 'new-tags-hint' }),
      'new-dest': h('input', { id: 'new-dest', name: 'dest_path', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'new-dest-hint' }),
      'new-priority': h('input', { id: 'new-priority', name: 'priority', inputmode: 'numeric', value: '100', 'aria-describedby': 'new-priority-hint' }),
    };
    const hints = { 'new-description': HINTS.description, 'new-tags': HINTS.tags, 'new-dest': HINTS.dest_path, 'new-priority': HINTS.priority };
    const fields = {};
    for (const [id, , label] of FORM_FIELDS) {
      fields[id] = h('div', { class: 'field' }, h('label', { for: id }, label), h('span', { class: 'hint', id: `${id}-hint` }, hints[id]), inputs[id]);
    }
    const button = h('button', { type: 'submit' }, 'File request');
    const form = h('form', { class: 'form', novalidate: true, onsubmit: submit },
      FORM_FIELDS.map(([id]) => fields[id]), h('div', { class: 'actions' }, button, h('a', { href: '#/' }, 'Back to the queue')));
    put(main(),
      h('h1', {}, 'New request'),
      h('p', { class: 'lead' }, 'Say what you want and where it should go; it joins the queue at once.'),
      summaryBox, form);

    function body() {
      const priorityText = inputs['new-priority'].value.trim();
      return {
        priority: /^\d{1,6}$/.test(priorityText) ? Number(priorityText) : (priorityText || null),
        query_context: {
          tags: inputs['new-tags'].value.split(',').map((t) => t.trim()).filter(Boolean),
          description: inputs['new-description'].value.trim(),
        },
        dest_path: inputs['new-dest'].value.trim(),
      };
    }

    async function submit(event) {
      event.preventDefault();
      if (button.disabled) return;
      const sent = body();
      const text = JSON.stringify(sent);
      if (!attempt || attempt.body !== text) attempt = { key: randomToken(), body: text };
      button.disabled = true;
      button.textContent = 'Filing…';
      try {
        const { data } = await api(`${API}tickets`, { method: 'POST', body: sent, headers: { 'Idempotency-Key': attempt.key } });
        attempt = null;
        toast('Request filed.');
        location.hash = `#/tickets/${data.id}`;
      } catch (error) {
        button.disabled = false;
        button.textContent = 'File request';
        if (error.status === 401) return askForKey();
        showFormErrors(error);
      }
    }

    function showFormErrors(error) {
      clearFieldErrors(form);
      const items = [];
      for (const detail of error.details.length ? error.details : [{ field: '', message: error.message }]) {
        const known = FORM_FIELDS.find(([, field]) => detail.field === field || detail.field.startsWith(`${field}.`));
        const message = friendly(detail);
        if (known) {
          // Next to the field, the message alone; in the summary, which field it is about.
          const [id, , label] = known;
          if (!fields[id].classList.contains('has-error')) fieldError(fields[id], inputs[id], message);
          items.push(h('li', {}, h('a', { href: `#${id}`, onclick: (e) => { e.preventDefault(); inputs[id].focus(); } }, `${label}: ${message}`)));
        } else {
          items.push(h('li', {}, message));
        }
      }
      const retry = error.status === 0 || error.status >= 500
        ? h('p', {}, 'Nothing was filed twice: trying again is safe.') : null;
      const box = h('div', { class: 'error-summary', role: 'alert', tabindex: '-1' },
        h('h2', {}, 'There is a problem'), h('ul', {}, items), retry);
      put(summaryBox, box);
      box.focus();
    }
  }

  /** The API's message for one field, without the "field 'x': " it starts with. */
  function friendly(detail) {
    const message = detail.message.replace(/^field '[^']*': /, '');
    const index = /^query_context\.tags\.(\d+)/.exec(detail.field);
    return index ? `Tag ${Number(index[1]) + 1}: ${message}` : message;
  }

  // ---- a ticket's page ----------------------------------------------------------------------

  async function ticketView(view, me, id) {
    await me;
    let current;
    try {
      current = await getTicket(id);
    } catch (error) {
      if (error.status !== 404) throw error;
      if (!view.current()) return;
      put(main(), h('h1', {}, 'No such ticket'), h('p', {}, 'There is no ticket with this id.'), h('p', {}, h('a', { href: '#/' }, 'Back to the queue')));
      return;
    }
    if (!view.current()) return;
    const notice = h('div', {});
    const body = h('div', {});
    put(main(), h('p', {}, h('a', { href: '#/' }, '← Back to the queue')), body);
    await render();
    onChange(view, async () => {
      const latest = await getTicket(id);
      if (latest.etag === current.etag) return;
      const before = stateName(current.data.state);
      current = latest;
      const after = stateName(latest.data.state);
      await render();
      if (before !== after) say(`This ticket was just ${after}.`, 'notice');
    });

    function say(text, kind) {
      put(notice, h('div', { class: kind, role: 'alert' }, h('p', {}, text)));
    }

    async function render() {
      const t = current.data;
      // A user may read the history of its own tickets only (the API answers 403 otherwise).
      const history = isAdmin() || t.created_by === session.me.name
        ? await api(`${API}tickets/${encodeURIComponent(t.id)}/history`).then((r) => r.data, (error) => error)
        : new ApiError(403, 'forbidden', '');
      if (!view.current()) return;
      put(body,
        h('div', { class: 'title-row' }, h('h1', {}, ticketTitle(t)), badge(t.state)),
        notice,
        h('dl', { class: 'fields panel' },
          h('dt', {}, 'Description'), h('dd', {}, h('p', { class: 'description' }, t.query_context.description || '(none)')),
          h('dt', {}, 'State'), h('dd', {}, stateLine(t.state)),
          h('dt', {}, 'Priority'), h('dd', {}, String(t.priority)),
          h('dt', {}, 'Tags'), h('dd', {}, tagList(t.query_context.tags) || '(none)'),
          h('dt', {}, 'Destination'), h('dd', {}, h('code', {}, t.dest_path)),
          h('dt', {}, 'Created by'), h('dd', {}, t.created_by),
          h('dt', {}, 'Created'), h('dd', {}, timeFull(t.created_at)),
          h('dt', {}, 'Ticket id'), h('dd', {}, h('code', {}, t.id))),
        actionForms(t),
        h('h2', {}, 'History'),
        history instanceof ApiError ? historyUnavailable(history) : timeline(history));
    }

    function historyUnavailable(error) {
      if (error.status === 401) throw error;
      return h('p', { class: 'hint' }, error.status === 403
        ? 'Only the person who filed this ticket and admins can see its history.' : error.message);
    }

    function actionForms(t) {
      if (!mayCancel(t) && !mayFinish(t)) return null;
      const forms = [];
      if (mayCancel(t)) {
        const reason = h('textarea', { id: 'cancel-reason', rows: '2', maxlength: '10000', 'aria-describedby': 'cancel-reason-hint' });
        const field = h('div', { class: 'field' }, h('label', { for: 'cancel-reason' }, 'Reason for cancelling (optional)'),
          h('span', { class: 'hint', id: 'cancel-reason-hint' }, 'Up to 10,000 characters.'), reason);
        forms.push(h('form', { class: 'panel', novalidate: true, onsubmit: (e) => {
          e.preventDefault();
          const text = reason.value.trim();
          act(e.submitter || e.target.querySelector('button'), 'DELETE', '', text ? { reason: text } : undefined, field, reason, 'cancelled');
        } }, field, h('button', { type: 'submit', class: 'danger' }, 'Cancel ticket')));
      }
      if (mayFinish(t)) {
        const errorText = h('input', { id: 'fail-error', autocomplete: 'off', 'aria-describedby': 'fail-error-hint' });
        const field = h('div', { class: 'field' }, h('label', { for: 'fail-error' }, 'What went wrong'),
          h('span', { class: 'hint', id: 'fail-error-hint' }, 'Required to mark it failed; up to 10,000 characters.'), errorText);
        forms.push(h('form', { class: 'panel', novalidate: true, onsubmit: (e) => {
          e.preventDefault();
          if (!errorText.value.trim()) return fieldError(field, errorText, 'Say what went wrong: it is required.');
          act(e.submitter || e.target.querySelector('button'), 'POST', '/fail', { error: errorText.value.trim() }, field, errorText, 'failed');
        } }, field, h('div', { class: 'actions' },
          h('button', { type: 'submit', class: 'secondary' }, 'Mark failed'),
          h('button', { type: 'button', onclick: (e) => act(e.target, 'POST', '/complete', undefined, null, null, 'completed') }, 'Mark completed'))));
      }
      return h('section', { 'aria-labelledby': 'actions-title' }, h('h2', { id: 'actions-title' }, 'Actions'), h('div', { class: 'columns' }, forms));
    }

    async function act(button, method, suffix, payload, field, input, done) {
      button.disabled = true;
      try {
        current = await api(`${API}tickets/${encodeURIComponent(id)}${suffix}`, {
          method, body: payload, headers: { 'If-Match': current.etag },
        });
        await render();
        say(`Ticket ${done}.`, 'notice ok');
        focusHeading();
      } catch (error) {
        if (error.status === 401) return askForKey();
        if (error.status === 409 || error.status === 412) {
          current = await getTicket(id);
          const now = stateName(current.data.state);
          await render();
          say(error.status === 412
            ? `Someone else changed this ticket after you opened it: it is now ${now}. Nothing was changed; here it is as it is now.`
            : `Someone else acted first: this ticket is already ${now}. Nothing was changed; here it is as it is now.`, 'notice error');
          focusHeading();
          return;
        }
        button.disabled = false;
        const detail = error.details[0];
        if (field && detail) fieldError(field, input, detail.message.replace(/^field '[^']*': /, ''));
        else say(error.message, 'notice error');
      }
    }
  }

  function stateLine(state) {
    const kind = stateName(state);
    const f = stateFields(state);
    if (kind === 'cancelled') {
      return h('span', {}, badge(state), ' by ', h('strong', {}, f.cancelled_by), ', ', timeAgo(f.cancelled_at),
        f.reason ? h('p', { class: 'description' }, `Reason: ${f.reason}`) : null);
    }
    if (kind === 'completed') return h('span', {}, badge(state), ' ', timeAgo(f.completed_at));
    if (kind === 'failed') return h('span', {}, badge(state), ' ', timeAgo(f.failed_at), h('p', { class: 'description' }, `Error: ${f.error}`));
    return h('span', {}, badge(state), ' waiting in the queue');
  }

  function timeline(history) {
    return h('ol', { class: 'timeline' }, history.entries.map(({ event, state }) =>
      h('li', {}, h('span', { class: 'when' }, timeFull(event.timestamp)), h('p', {}, eventSummary(event), ' ', badge(state)))));
  }

  /** One event in words; every value from the event is text. */
  function eventSummary(event) {
    const d = event.data;
    switch (event.event_type) {
      case 'ticket_created':
        return h('span', {}, 'Filed by ', h('strong', {}, d.created_by), `: "${ticketTitle(d)}", priority ${d.priority}, into `, h('code', {}, d.dest_path));
      case 'ticket_cancelled':
        return h('span', {}, 'Cancelled by ', h('strong', {}, d.cancelled_by), d.reason ? `: "${d.reason}"` : '');
      case 'ticket_state_changed':
        return h('span', {}, `${STATE_LABELS[d.to] || d.to} by `, h('strong', {}, d.actor),
          d.to === 'failed' && d.state && d.state.failed ? `: "${d.state.failed.error}"` : '');
      case 'api_key_created':
        return h('span', {}, `Key ${d.key_id} created for `, h('strong', {}, d.user), ` (${d.role})`);
      case 'api_key_revoked':
        return h('span', {}, `Key ${d.key_id} of `, h('strong', {}, d.user), ' revoked');
      case 'service_started':
        return h('span', {}, `Version ${d.version}, schema ${d.schema_version}`);
      default:
        return h('span', {}, JSON.stringify(d));
    }
  }

  // ---- the audit log ------------------------------------------------------------------------

  async function auditView(view, me) {
    await me;
    if (!view.current()) return;
    let types = view.params.getAll('event_type').filter((t) => t in EVENT_LABELS);
    let offset = view.params.has('offset') ? Number(view.params.get('offset')) || 0 : null; // null: the latest page
    const list = h('ol', { class: 'events', 'aria-label': 'Audit events, newest first' });
    const caption = h('p', { class: 'summary', role: 'status', tabindex: '-1' });
    const pager = h('nav', { class: 'pager', 'aria-label': 'Audit log pages' });
    const boxes = Object.keys(EVENT_LABELS).map((type) => {
      const box = h('input', { type: 'checkbox', name: 'event_type', value: type, onchange: () => { offset = null; apply(); } });
      box.checked = types.includes(type);
      return h('label', { class: 'chip' }, box, EVENT_LABELS[type]);
    });
    put(main(),
      h('h1', {}, 'Audit log'),
      isAdmin() ? null : h('p', { class: 'lead' }, 'You see the events of the tickets you filed.'),
      h('form', { class: 'filters', 'aria-label': 'Filter events', onsubmit: (e) => e.preventDefault() },
        h('fieldset', { class: 'states' }, h('legend', {}, 'Event types (none ticked: all)'), h('div', { class: 'chips' }, boxes))),
      caption, list, pager);

    function apply() {
      types = boxes.map((b) => b.querySelector('input')).filter((b) => b.checked).map((b) => b.value);
      const q = query({ event_type: types, offset: offset === null ? undefined : offset });
      window.history.replaceState(null, '', `#/audit${q ? `?${q}` : ''}`);
      return load().catch(showError);
    }

    async function load() {
      const wanted = types;
      // Pages are aligned on PAGE_SIZE from the oldest event; the newest is the last page.
      const lastPage = (total) => Math.max(0, Math.floor((total - 1) / PAGE_SIZE) * PAGE_SIZE);
      let at = offset;
      if (at === null) at = lastPage((await api(`${API}audit?${query({ event_type: types, limit: 1 })}`)).data.total);
      const { data } = await api(`${API}audit?${query({ event_type: types, limit: PAGE_SIZE, offset: at })}`);
      if (!view.current() || wanted !== types) return;
      put(list, ...data.events.slice().reverse().map(eventRow));
      caption.textContent = data.total === 0 ? 'No events match.'
        : `Events ${count(at + 1)}–${count(at + data.events.length)} of ${count(data.total)}, newest first.`;
      // After a page change, keep focus on the button pressed (or the caption, at either end).
      const go = (to) => (event) => {
        const key = event.target.dataset.key;
        offset = to;
        apply().then(() => {
          const again = pager.querySelector(`[data-key="${key}"]`);
          (again && !again.disabled ? again : caption).focus();
        });
      };
      const last = lastPage(data.total);
      put(pager,
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'secondary', disabled: at >= last, 'data-key': 'newest', onclick: go(null) }, 'Newest'),
          h('button', { type: 'button', class: 'secondary', disabled: at >= last, 'data-key': 'newer', onclick: go(Math.min(last, at + PAGE_SIZE)) }, 'Newer')),
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'secondary', disabled: at === 0, 'data-key': 'older', onclick: go(Math.max(0, at - PAGE_SIZE)) }, 'Older'),
          h('button', { type: 'button', class: 'secondary', disabled: at === 0, 'data-key': 'oldest', onclick: go(0) }, 'Oldest')));
    }

    function eventRow(event) {
      const ticketId = event.data.ticket_id;
      return h('li', { class: 'event', 'data-event-id': event.id },
        h('div', { class: 'meta' }, h('strong', {}, EVENT_LABELS[event.event_type] || event.event_type), timeAgo(event.timestamp), h('span', {}, `#${event.id}`),
          ticketId ? h('a', { href: `#/tickets/${ticketId}` }, `Ticket ${ticketId.slice(0, 8)}`) : null),
        h('p', {}, eventSummary(event)));
    }

    await load();
    onChange(view, load);
  }

  // ---- start ----------------------------------------------------------------------------------

  window.addEventListener('hashchange', route);
  route();
})();
