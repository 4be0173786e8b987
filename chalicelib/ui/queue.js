// The queue: tickets in queue order or newest first, filters, counts per state, more pages;
// an admin reorders the waiting ones (by priority: past the ticket above or below).
import {
  api,
  API,
  badge,
  count,
  getTicket,
  h,
  hooks,
  label,
  loadMachine,
  machine,
  main,
  makeMove,
  mayReorder,
  movesFor,
  onChange,
  PAGE_SIZE,
  plural,
  put,
  query,
  session,
  stateName,
  tagList,
  ticketTitle,
  timeAgo,
  toast,
} from './core.js';

function readQueueFilter(params) {
  // No `state` at all means the default view, the waiting tickets; `state=` means all.
  const state = params.has('state') ? params.getAll('state').filter((name) => machine.names.includes(name)) : [machine.initial];
  return {
    state,
    tag: splitTags(params.get('tag') || ''),
    created_by: (params.get('created_by') || '').trim(),
    sort: params.get('sort') === 'newest' ? 'newest' : 'queue',
  };
}

const splitTags = (text) => text.split(',').map((tag) => tag.trim()).filter(Boolean);

function queueHash(filter) {
  const others = query({ tag: filter.tag.join(', '), created_by: filter.created_by, sort: filter.sort === 'newest' ? 'newest' : '' });
  const state = filter.state.length ? filter.state.map((name) => `state=${name}`).join('&') : 'state=';
  return `#/?${state}${others ? `&${others}` : ''}`;
}

export async function queueView(view, me) {
  await loadMachine();
  let filter = readQueueFilter(view.params);
  let shown = [];
  let next = null;
  const list = h('ol', { class: 'tickets', 'aria-label': 'Tickets' });
  const summary = h('p', { class: 'summary', role: 'status' });
  const more = h('div', { class: 'more' });
  const notice = h('div');
  const counts = {};
  let reordering = false; // an admin's ↑ and ↓ on each waiting ticket
  const reorder = h('button', { type: 'button', class: 'secondary', 'aria-pressed': 'false', hidden: true, onclick: () => {
    reorder.setAttribute('aria-pressed', reordering = !reordering);
    put(list, ...shown.map((ticket) => ticketRow(ticket, false)));
  } }, 'Reorder');
  const chips = machine.names.map((state) => {
    counts[state] = h('span', { class: 'count' });
    const box = h('input', { type: 'checkbox', name: 'state', value: state, onchange: apply });
    box.checked = filter.state.includes(state);
    return h('label', { class: 'chip' }, box, label(state), counts[state]);
  });
  const tagInput = h('input', { id: 'filter-tag', name: 'tag', value: filter.tag.join(', '), placeholder: 'e.g. music, flac', autocomplete: 'off' });
  const creatorInput = h('input', { id: 'filter-creator', name: 'created_by', value: filter.created_by, autocomplete: 'off' });
  const sortSelect = h('select', { id: 'filter-sort', name: 'sort', onchange: apply },
    h('option', { value: 'queue' }, 'Queue order'),
    h('option', { value: 'newest' }, 'Newest first'));
  sortSelect.value = filter.sort;
  // Tags, creator and order fold away on a phone, unless one of them is in use.
  const others = h('details', { class: 'more-filters' }, h('summary', 'Tags, creator and order'),
    h('div', { class: 'filter-fields' },
      h('div', { class: 'field' }, h('label', { for: 'filter-tag' }, 'Tags (all must match)'), tagInput),
      h('div', { class: 'field' }, h('label', { for: 'filter-creator' }, 'Created by'), creatorInput),
      h('div', { class: 'field' }, h('label', { for: 'filter-sort' }, 'Order'), sortSelect),
      h('div', { class: 'field' }, h('button', { type: 'submit', class: 'secondary' }, 'Apply filters'))));
  others.open = matchMedia('(min-width: 40rem)').matches || filter.tag.length > 0 || Boolean(filter.created_by) || filter.sort !== 'queue';
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter tickets', onsubmit: apply },
    h('fieldset', { class: 'states' }, h('legend', 'State'), h('div', { class: 'chips' }, chips)), others);

  function apply(event) {
    if (event) event.preventDefault();
    filter = {
      state: chips.map((chip) => chip.querySelector('input')).filter((box) => box.checked).map((box) => box.value),
      tag: splitTags(tagInput.value),
      created_by: creatorInput.value.trim(),
      sort: sortSelect.value,
    };
    window.history.replaceState(null, '', queueHash(filter));
    load().catch(hooks.fail);
  }

  const apiFilter = (extra) => ({ state: filter.state, tag: filter.tag, created_by: filter.created_by || undefined, ...extra });

  async function load(limit = PAGE_SIZE, live = false) {
    const wanted = filter;
    const { data } = await api(`${API}tickets?${query(apiFilter({ sort: filter.sort === 'newest' ? 'newest' : undefined, limit }))}`);
    await me;
    if (!view.current() || wanted !== filter) return;
    reorder.hidden = !mayReorder(filter);
    const before = new Set(shown.map((ticket) => ticket.id));
    shown = data.tickets;
    next = data.next;
    put(list, ...shown.map((ticket) => ticketRow(ticket, live && !before.has(ticket.id))));
    renderFooter(data.total);
    if (!session.firstListShown) {
      session.firstListShown = true;
      performance.mark('torrentino:first-tickets-shown');
    }
    loadCounts(wanted);
  }

  async function loadCounts(wanted) {
    const results = await Promise.all(machine.names.map((state) => api(`${API}tickets?${query({ ...apiFilter({ state }), limit: 1 })}`)))
      .catch(() => null);
    if (!results || !view.current() || wanted !== filter) return;
    machine.names.forEach((state, index) => { counts[state].textContent = count(results[index].data.total); });
  }

  function renderFooter(total) {
    summary.textContent = total === 0 ? 'No tickets match.' : `Showing ${count(shown.length)} of ${plural(total, 'ticket', 'tickets')}.`;
    const empty = total === 0 ? h('div', { class: 'empty' }, h('p', 'Nothing here.'), h('a', { class: 'button', href: '#/new' }, 'File a request')) : null;
    put(more, empty || '', next ? h('button', { type: 'button', class: 'secondary', 'data-key': 'more', onclick: showMore }, 'Show more') : '');
  }

  async function showMore(event) {
    event.target.disabled = true;
    const { data } = await api(next).catch((error) => { hooks.fail(error); return { data: null }; });
    if (!data || !view.current()) return;
    const start = shown.length;
    shown = shown.concat(data.tickets);
    next = data.next;
    list.append(...data.tickets.map((ticket) => ticketRow(ticket, false)));
    renderFooter(data.total);
    const first = list.children[start];
    if (first) first.querySelector('a').focus();
  }

  // Past the ticket above (step -1) or below: one more, or one less, than its priority.
  function passing(ticket, step) {
    const priority = (shown[shown.indexOf(ticket) + step] || {}).priority - step;
    return priority >= 0 && priority <= 65535 ? priority : null;
  }

  async function move(ticket, step, key) {
    await api(`${API}tickets/${encodeURIComponent(ticket.id)}`, { method: 'PATCH', body: { priority: passing(ticket, step) } })
      .then(() => toast('Moved.'), (error) => (error.status === 401 ? hooks.refused() : toast(error.message)));
    await load(Math.max(PAGE_SIZE, shown.length));
    (list.querySelector(`[data-key="${key}"]:enabled`) || list.querySelector(`[data-key="open-${ticket.id}"]`)).focus();
  }

  function ticketRow(ticket, fresh) {
    // While reordering, ↑ and ↓; then the moves a list offers (cancel), each behind a confirmation.
    const steps = reordering && !reorder.hidden ? [[-1, 'up'], [1, 'down']] : [];
    const actions = h('div', { class: 'ticket-actions' }, steps.map(([step, way]) => h('button', {
      type: 'button', class: 'secondary', 'data-key': `${way}-${ticket.id}`, disabled: passing(ticket, step) === null,
      'aria-label': `Move ${way}: ${ticketTitle(ticket)}`, onclick: () => move(ticket, step, `${way}-${ticket.id}`),
    }, step < 0 ? '↑' : '↓')), movesFor(ticket).filter(({ move }) => move.quick).map(({ name, move }) => h('button', {
      type: 'button', class: 'secondary', 'data-key': `${name}-${ticket.id}`,
      'aria-label': `${move.quick}: ${ticketTitle(ticket)}`, onclick: (event) => confirmMove(ticket, move, actions, event.target),
    }, move.quick)));
    return h('li', { class: fresh ? 'ticket fresh' : 'ticket', 'data-ticket-row': '', 'data-id': ticket.id },
      h('div', { class: 'ticket-main' },
        h('a', { class: 'ticket-title', href: `#/tickets/${ticket.id}`, 'data-key': `open-${ticket.id}` }, ticketTitle(ticket)),
        h('div', { class: 'meta' }, badge(ticket.state), h('span', { class: 'priority' }, `Priority ${ticket.priority}`), tagList(ticket.query_context.tags)),
        h('div', { class: 'meta' },
          h('span', { class: 'dest' }, h('span', { class: 'visually-hidden' }, 'Destination: '), ticket.dest_path),
          h('span', 'by ', h('strong', ticket.created_by)),
          timeAgo(ticket.created_at))),
      actions);
  }

  function confirmMove(ticket, move, actions, ask) {
    const buttons = [...actions.children];
    const yes = h('button', { type: 'submit', class: move.style }, `Yes, ${move.quick.toLowerCase()} it`);
    const no = h('button', { type: 'button', class: 'secondary', onclick: () => { put(actions, buttons); ask.focus(); } }, 'Keep it');
    // The move's fields (a reason for cancelling), each on one line.
    const inputs = move.inputs.map((input) => h('input', { id: `${input.name}-${ticket.id}`, name: input.name, maxlength: input.max_length, autocomplete: 'off' }));
    put(actions, h('form', { class: 'actions', onsubmit: go }, h('p', `${move.quick} this ticket?`),
      move.inputs.map((input, at) => [h('label', { for: inputs[at].id }, input.label), inputs[at]]), yes, no));
    (inputs[0] || yes).focus();

    async function go(event) {
      event.preventDefault();
      const body = Object.fromEntries(inputs.filter((input) => input.value.trim()).map((input) => [input.name, input.value.trim()]));
      yes.disabled = true;
      put(notice);
      try {
        await makeMove(ticket, move, Object.keys(body).length ? { body } : {});
        toast(move.done);
      } catch (error) {
        if (error.status === 401) return hooks.refused();
        const now = await getTicket(ticket.id).catch(() => null);
        put(notice, h('div', { class: 'notice error', role: 'alert' }, h('p',
          error.status === 409 && now
            ? `Someone else acted first: "${ticketTitle(ticket)}" is already ${label(stateName(now.data.state)).toLowerCase()}. Nothing was changed.`
            : error.message)));
      }
      const row = shown.findIndex((other) => other.id === ticket.id);
      await load(Math.max(PAGE_SIZE, shown.length));
      const link = list.children[Math.min(row, list.children.length - 1)];
      (link ? link.querySelector('a') : main().querySelector('h1')).focus();
    }
  }

  put(main(),
    h('div', { class: 'page-head' }, h('h1', 'Queue'), h('div', { class: 'actions' }, reorder, h('a', { class: 'button', href: '#/new' }, 'New request'))),
    // Until a later version searches and downloads, nothing takes tickets out of the queue.
    h('p', { class: 'lead' }, `${label(machine.initial)} means waiting: nothing processes tickets yet, so a request stays ${machine.initial} until it is ${
      new Intl.ListFormat('en', { type: 'disjunction' }).format(machine.states[machine.initial].next)} by hand.`),
    form, notice, summary, list, more);
  await load();
  onChange(view, () => load(Math.min(1000, Math.max(PAGE_SIZE, shown.length)), true));
}
