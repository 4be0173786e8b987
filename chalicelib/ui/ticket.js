// A ticket's page: every field, its history, and the actions the caller's role allows.
import {
  api,
  API,
  ApiError,
  badge,
  changedMeanwhile,
  fieldError,
  focusHeading,
  getTicket,
  h,
  hooks,
  isAdmin,
  label,
  main,
  mayCancel,
  mayEdit,
  mayFileAgain,
  mayFinish,
  onChange,
  put,
  QUEUED,
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

  function actionForms(ticket) {
    if (!mayCancel(ticket) && !mayFinish(ticket)) return null;
    const forms = [];
    if (mayCancel(ticket)) {
      const reason = h('textarea', { id: 'cancel-reason', rows: '2', maxlength: '10000', 'aria-describedby': 'cancel-reason-hint' });
      const field = h('div', { class: 'field' }, h('label', { for: 'cancel-reason' }, 'Reason for cancelling (optional)'),
        h('span', { class: 'hint', id: 'cancel-reason-hint' }, 'Up to 10,000 characters.'), reason);
      forms.push(h('form', { class: 'panel', novalidate: true, onsubmit: (event) => {
        event.preventDefault();
        const text = reason.value.trim();
        act(event.submitter || event.target.querySelector('button'), 'DELETE', '', text ? { reason: text } : undefined, field, reason);
      } }, field, h('button', { type: 'submit', class: 'danger' }, 'Cancel ticket')));
    }
    if (mayFinish(ticket)) {
      const errorText = h('input', { id: 'fail-error', autocomplete: 'off', 'aria-describedby': 'fail-error-hint' });
      const field = h('div', { class: 'field' }, h('label', { for: 'fail-error' }, 'What went wrong'),
        h('span', { class: 'hint', id: 'fail-error-hint' }, 'Required to mark it failed; up to 10,000 characters.'), errorText);
      forms.push(h('form', { class: 'panel', novalidate: true, onsubmit: (event) => {
        event.preventDefault();
        if (!errorText.value.trim()) return fieldError(field, errorText, 'Say what went wrong: it is required.');
        act(event.submitter || event.target.querySelector('button'), 'POST', '/fail', { error: errorText.value.trim() }, field, errorText);
      } }, field, h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'secondary' }, 'Mark failed'),
        h('button', { type: 'button', onclick: (event) => act(event.target, 'POST', '/complete') }, 'Mark completed'))));
    }
    return h('section', { 'aria-labelledby': 'actions-title' }, h('h2', { id: 'actions-title' }, 'Actions'), h('div', { class: 'columns' }, forms));
  }

  async function act(button, method, suffix, payload, field, input) {
    button.disabled = true;
    try {
      current = await api(`${API}tickets/${encodeURIComponent(id)}${suffix}`, {
        method, body: payload, headers: { 'If-Match': current.etag },
      });
      await render();
      say(`Ticket ${stateName(current.data.state)}.`, 'notice ok');
      focusHeading();
    } catch (error) {
      if (error.status === 401) return hooks.refused();
      if (error.status === 409 || error.status === 412) {
        current = await getTicket(id);
        const now = stateName(current.data.state);
        await render();
        say(`${error.status === 412 ? changedMeanwhile(current.data)
          : `Someone else acted first: this ticket is already ${now}. Nothing was changed; `}here it is as it is now.`, 'notice error');
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

/** A state in words: its badge, by whom and when, and its other fields. */
function stateLine(state) {
  const fields = stateFields(state);
  const named = (suffix) => Object.keys(fields).find((name) => name.endsWith(suffix));
  const [actor, time] = [named('_by'), named('_at')];
  return h('span', badge(state), actor ? [' by ', h('strong', fields[actor]), ','] : null,
    time ? [' ', timeAgo(fields[time])] : stateName(state) === QUEUED && ' waiting in the queue',
    stateNotes(fields).map(([name, value]) => h('p', { class: 'description' }, `${label(name)}: ${value}`)));
}

function timeline(history) {
  return h('ol', { class: 'timeline' }, history.entries.map(({ event, state }) =>
    h('li', h('span', { class: 'when' }, timeFull(event.timestamp)), h('p', eventSummary(event), ' ', badge(state)))));
}
