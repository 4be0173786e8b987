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
  main,
  mayCancel,
  mayFinish,
  onChange,
  put,
  session,
  stateFields,
  stateName,
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
      if (error.status === 401) return hooks.refused();
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
