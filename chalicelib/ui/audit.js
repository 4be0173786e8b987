// The audit log: pages of events, newest first, filtered by event type.
import {
  api,
  API,
  count,
  getTicket,
  h,
  hooks,
  isAdmin,
  label,
  main,
  onChange,
  PAGE_SIZE,
  plural,
  put,
  query,
  stateFields,
  stateNotes,
  ticketTitle,
  timeAgo,
} from './core.js';

// Where the page of the newest events starts, counted from the oldest event.
const lastPage = (total) => Math.max(0, Math.floor((total - 1) / PAGE_SIZE) * PAGE_SIZE);
let eventTypes = null; // as the API's own description lists them, read once
const titles = new Map(); // ticket id → what was asked for, to name the ticket by

export async function auditView(view, me) {
  await me;
  eventTypes ||= (await api(`${API}openapi.json`)).data.components.schemas.AuditEventType.enum;
  if (!view.current()) return;
  // A user sees its own tickets' events only: the ticket_ types.
  const offered = isAdmin() ? eventTypes : eventTypes.filter((type) => type.startsWith('ticket_'));
  let types = view.params.getAll('event_type').filter((type) => offered.includes(type));
  let offset = view.params.has('offset') ? Number(view.params.get('offset')) || 0 : null; // null: the latest page
  const list = h('ol', { class: 'events', 'aria-label': 'Audit events, newest first' });
  const caption = h('p', { class: 'summary', role: 'status', tabindex: '-1' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Audit log pages' });
  const boxes = offered.map((type) => {
    const box = h('input', { type: 'checkbox', name: 'event_type', value: type, onchange: () => { offset = null; apply(); } });
    box.checked = types.includes(type);
    return h('label', { class: 'chip' }, box, label(type));
  });
  put(main(),
    h('h1', 'Audit log'),
    isAdmin() ? null : h('p', { class: 'lead' }, 'You see the events of the tickets you filed.'),
    h('form', { class: 'filters', 'aria-label': 'Filter events', onsubmit: (event) => event.preventDefault() },
      h('fieldset', { class: 'states' }, h('legend', 'Event types (none ticked: all)'), h('div', { class: 'chips' }, boxes))),
    caption, list, pager);

  function apply() {
    types = boxes.map((chip) => chip.querySelector('input')).filter((box) => box.checked).map((box) => box.value);
    const search = query({ event_type: types, offset: offset === null ? undefined : offset });
    window.history.replaceState(null, '', `#/audit${search ? `?${search}` : ''}`);
    return load().catch(hooks.fail);
  }

  async function load() {
    const wanted = types;
    // A page stops near 1 MiB: fill it from `next`.
    const read = async (params) => {
      const data = (await api(`${API}audit?${query({ event_type: types, ...params })}`)).data;
      for (let more = data; more.next && data.events.length < params.limit;) {
        more = (await api(more.next)).data;
        data.events = data.events.concat(more.events).slice(0, params.limit);
      }
      return data;
    };
    // Pages are aligned on PAGE_SIZE from the oldest event, so they stay put, and read from
    // the nearer end: the newest (every live refresh's) with no offset, none past half.
    let at = offset;
    let data;
    if (at === null) {
      data = await read({ sort: 'newest', limit: PAGE_SIZE });
      at = lastPage(data.total);
      data.events = data.events.slice(0, data.total - at);
    } else {
      const { total } = await read({ limit: 1 });
      const fromNewest = total - at - PAGE_SIZE;
      if (fromNewest < at && at < total) {
        data = await read({ sort: 'newest', offset: Math.max(0, fromNewest), limit: Math.min(PAGE_SIZE, total - at) });
      } else {
        data = await read({ offset: at, limit: PAGE_SIZE });
        data.events.reverse();
      }
    }
    await named(data.events);
    if (!view.current() || wanted !== types) return;
    put(list, ...data.events.map(eventRow));
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
    const button = (name, disabled, to) => h('button', { type: 'button', class: 'secondary', disabled, 'data-key': name.toLowerCase(), onclick: go(to) }, name);
    put(pager,
      h('div', { class: 'actions' }, button('Newest', at >= last, null), button('Newer', at >= last, Math.min(last, at + PAGE_SIZE))),
      h('div', { class: 'actions' }, button('Older', at === 0, Math.max(0, at - PAGE_SIZE)), button('Oldest', at === 0, 0)));
  }

  // A ticket by what was asked for; its id's start tells two of the same apart.
  const ticketLink = (id) => (titles.has(id) ? [titles.get(id), h('small', ` · ticket ${id.slice(0, 8)}`)] : `Ticket ${id.slice(0, 8)}`);

  function eventRow(event) {
    const ticketId = event.data.ticket_id;
    return h('li', { class: 'event', 'data-event-id': event.id },
      h('div', { class: 'meta' }, h('strong', label(event.event_type)), timeAgo(event.timestamp), h('span', `#${event.id}`),
        ticketId ? h('a', { href: `#/tickets/${ticketId}`, 'data-key': event.id }, ticketLink(ticketId)) : null),
      h('p', eventSummary(event)));
  }

  await load();
  onChange(view, load);
}

/** Learn what each ticket the events are about was asked for: from its filing, if on the
 * page, or else from the ticket itself (read once). */
async function named(events) {
  for (const event of events) {
    if (event.data.query_context) titles.set(event.data.ticket_id, ticketTitle(event.data));
  }
  const unknown = new Set(events.map((event) => event.data.ticket_id).filter((id) => id && !titles.has(id)));
  await Promise.all([...unknown].map((id) => getTicket(id).then(({ data }) => titles.set(id, ticketTitle(data)), () => {})));
}

/** One event in words; every value from the event is text. */
export function eventSummary(event) {
  const data = event.data;
  switch (event.event_type) {
    case 'ticket_created':
      return h('span', 'Filed by ', h('strong', data.created_by), `: "${ticketTitle(data)}", priority ${data.priority}, into `, h('code', data.dest_path));
    case 'ticket_cancelled':
      return h('span', 'Cancelled by ', h('strong', data.cancelled_by), data.reason ? `: "${data.reason}"` : '');
    case 'ticket_state_changed': {
      const notes = stateNotes(stateFields(data.state || data.to)).map(([, value]) => value);
      return h('span', `${label(data.to)} by `, h('strong', data.actor), notes.length ? `: "${notes.join('", "')}"` : '');
    }
    case 'ticket_updated': // each changed field: its old and its new value
      return h('span', 'Edited by ', h('strong', data.actor), ': ', Object.entries(data.changes)
        .map(([name, change]) => `${label(name.split('.').pop())} ${JSON.stringify(change.old)} → ${JSON.stringify(change.new)}`).join('; '));
    case 'destination_added':
      return h('span', h('strong', data.name), ': ', h('code', data.root), data.tags.length ? `, tags ${data.tags.join(', ')}` : '');
    case 'destination_removed':
      return h('span', h('strong', data.name), ': ', h('code', data.root));
    case 'api_key_created':
      return h('span', `Key ${data.key_id} created for `, h('strong', data.user), ` (${data.role})`);
    case 'api_key_revoked':
      return h('span', `Key ${data.key_id} of `, h('strong', data.user), ' revoked');
    case 'service_started':
      return h('span', `Version ${data.version}, schema ${data.schema_version}`);
    case 'backup_created':
      return h('span', h('code', data.file), `: ${plural(data.tickets, 'ticket', 'tickets')}, ${data.duration_seconds} s`);
    case 'backup_failed':
      return h('span', data.reason);
    case 'backup_restored':
      return h('span', 'From ', h('code', data.file), `: ${plural(data.tickets, 'ticket', 'tickets')}`);
    default: // no words for it here: "Name: value; …"
      return h('span', Object.entries(data).map(([name, value]) => `${label(name)}: ${JSON.stringify(value)}`).join('; '));
  }
}
