// A ticket's page: every field, its history, and the actions the caller's role allows.
import {
  api,
  API,
  ApiError,
  badge,
  fieldError,
  focusHeading,
  getTicket,
  h,
  hooks,
  isAdmin,
  label,
  machine,
  main,
  makeMove,
  mayEdit,
  mayFileAgain,
  movesFor,
  onChange,
  put,
  session,
  stateFields,
  stateName,
  stateNotes,
  tagList,
  ticketTitle,
  timeAgo,
  timeFull,
} from './core.js';
import { eventSummary } from './audit.js';

export async function ticketView(view, me, id) {
  await me;
  let current;
  try {
    current = await getTicket(id);
  } catch (error) {
    if (error.status !== 404) throw error;
    if (!view.current()) return;
    put(main(), h('h1', 'No such ticket'), h('p', 'There is no ticket with this id.'), h('p', h('a', { href: '#/' }, 'Back to the queue')));
    return;
  }
  if (!view.current()) return;
  const notice = h('div');
  const body = h('div');
  put(main(), h('p', h('a', { href: '#/' }, '← Back to the queue')), body);
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
    put(notice, h('div', { class: kind, role: 'alert' }, h('p', text)));
  }

  async function render() {
    const ticket = current.data;
    // A user may read the history of its own tickets only (the API answers 403 otherwise).
    const history = isAdmin() || ticket.created_by === session.me.name
      ? await api(`${API}tickets/${encodeURIComponent(ticket.id)}/history`).then((answer) => answer.data, (error) => error)
      : new ApiError(403, 'forbidden', '');
    if (!view.current()) return;
    put(body,
      h('div', { class: 'title-row' }, h('h1', ticketTitle(ticket)), badge(ticket.state)),
      notice,
      h('dl', { class: 'fields panel' }, [
        ['Description', h('p', { class: 'description' }, ticket.query_context.description || '(none)')],
        ['State', stateLine(ticket.state)],
        ['Priority', String(ticket.priority)],
        ['Tags', tagList(ticket.query_context.tags) || '(none)'],
        ['Destination', h('code', ticket.dest_path)],
        ['Created by', ticket.created_by],
        ['Created', timeFull(ticket.created_at)],
        ['Ticket id', h('code', ticket.id)],
      ].map(([term, value]) => [h('dt', term), h('dd', value)])),
      // The new-request form, pre-filled: to change this ticket, or to file it again.
      mayEdit(ticket) ? h('p', h('a', { class: 'button', href: `#/tickets/${ticket.id}/edit` }, 'Edit request')) : null,
      mayFileAgain(ticket) ? h('p', h('a', { class: 'button', href: `#/new?from=${ticket.id}` }, 'File again')) : null,
      actionForms(ticket),
      h('h2', 'History'),
      history instanceof ApiError ? historyUnavailable(history) : timeline(history));
  }

  function historyUnavailable(error) {
    if (error.status === 401) throw error;
    return h('p', { class: 'hint' }, error.status === 403
      ? 'Only the person who filed this ticket and admins can see its history.' : error.message);
  }

  // A form for each move the caller may make: its body's fields, if any, and its button.
  function actionForms(ticket) {
    const moves = movesFor(ticket);
    return moves.length ? h('section', { 'aria-labelledby': 'actions-title' }, h('h2', { id: 'actions-title' }, 'Actions'), h('div', { class: 'columns' }, moves.map(moveForm))) : null;
  }

  function moveForm({ name, move }) {
    return h('form', { class: 'panel', novalidate: true, onsubmit: (event) => {
      event.preventDefault();
      const body = {};
      for (const input of move.inputs) {
        const control = event.target.elements.namedItem(input.name);
        const text = control.value.trim();
        if (!text && input.missing) return fieldError(control.parentNode, control, input.missing);
        if (text) body[input.name] = text;
      }
      act(event.target.querySelector('button'), move, Object.keys(body).length ? body : undefined, event.target);
    } }, move.inputs.map((input) => {
      const id = `${name}-${input.name}`;
      return h('div', { class: 'field' }, h('label', { for: id }, input.label), h('span', { class: 'hint', id: `${id}-hint` }, input.hint),
        h(input.multiline ? 'textarea' : 'input', { id, name: input.name, rows: input.multiline && '2', maxlength: input.max_length, autocomplete: 'off', 'aria-describedby': `${id}-hint` }));
    }), h('div', { class: 'actions' }, h('button', { type: 'submit', class: move.style }, move.button)));
  }

  async function act(button, move, body, form) {
    button.disabled = true;
    try {
      current = await makeMove(current.data, move, { body, headers: { 'If-Match': current.etag } });
      await render();
      say(move.done, 'notice ok');
      focusHeading();
    } catch (error) {
      if (error.status === 401) return hooks.refused();
      if (error.status === 409 || error.status === 412) {
        current = await getTicket(id);
        const now = stateName(current.data.state);
        await render();
        const what = error.status === 412
          ? `Someone else changed this ticket after you opened it: it is now ${now}.` : `Someone else acted first: this ticket is already ${now}.`;
        say(`${what} Nothing was changed; here it is as it is now.`, 'notice error');
        focusHeading();
        return;
      }
      button.disabled = false;
      const detail = error.details[0];
      const control = detail && form.elements.namedItem(detail.field);
      if (control) fieldError(control.parentNode, control, detail.message.replace(/^field '[^']*': /, ''));
      else say(error.message, 'notice error');
    }
  }
}

/** A state in words: its badge, by whom and when, and its other fields. */
function stateLine(state) {
  const fields = stateFields(state);
  const named = (suffix) => Object.keys(fields).find((name) => name.endsWith(suffix));
  const [actor, time] = [named('_by'), named('_at')];
  return h('span', badge(state), actor ? [' by ', h('strong', fields[actor]), ','] : null,
    time ? [' ', timeAgo(fields[time])] : stateName(state) === machine.initial && ' waiting in the queue',
    stateNotes(fields).map(([name, value]) => h('p', { class: 'description' }, `${label(name)}: ${value}`)));
}

function timeline(history) {
  return h('ol', { class: 'timeline' }, history.entries.map(({ event, state }) =>
    h('li', h('span', { class: 'when' }, timeFull(event.timestamp)), h('p', eventSummary(event), ' ', badge(state)))));
}
