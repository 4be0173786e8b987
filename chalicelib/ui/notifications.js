// Notifications, loaded on demand: an admin's targets for any events, a user's "notify me"
// for their own tickets. A target's URL comes back masked; a webhook's secret, once.
import { api, API, clearFieldErrors, fieldError, h, hooks, isAdmin, label, main, onChange, plural, put, timeAgo, toast } from './core.js';

const TICKET_EVENTS = ['ticket_created', 'ticket_state_changed', 'ticket_cancelled'];
const DONE = ['ticket_state_changed', 'ticket_cancelled']; // a user's default: completed, failed, cancelled
let eventTypes = null;

export async function notificationsView(view, me) {
  await me;
  const admin = isAdmin();
  eventTypes ||= admin ? (await api(`${API}openapi.json`)).data.components.schemas.AuditEventType.enum : TICKET_EVENTS;
  if (!view.current()) return;
  const url = h('input', { id: 'target-url', name: 'url', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'target-url-hint' });
  const field = h('div', { class: 'field' }, h('label', { for: 'target-url' }, 'Where to send'),
    h('span', { class: 'hint', id: 'target-url-hint' }, 'An Apprise URL, such as ntfy://ntfy.sh/my-topic or discord://webhook_id/token, or a webhook’s https:// address.'), url);
  const kind = h('select', { id: 'target-kind', name: 'kind' }, h('option', { value: 'apprise' }, 'A message (Apprise)'), h('option', { value: 'webhook' }, 'Signed JSON (webhook)'));
  const boxes = eventTypes.map((type) => {
    const box = h('input', { type: 'checkbox', name: 'events', value: type });
    box.checked = !admin && DONE.includes(type);
    return h('label', { class: 'chip' }, box, label(type));
  });
  const notice = h('div');
  const list = h('ol', { class: 'events', 'aria-label': 'Notification targets' });
  const form = h('form', { class: 'panel', novalidate: true, onsubmit: add }, field,
    h('div', { class: 'field' }, h('label', { for: 'target-kind' }, 'Send as'), kind),
    h('fieldset', { class: 'states' }, h('legend', admin ? 'Events (none ticked: all)' : 'Events of your tickets'), h('div', { class: 'chips' }, boxes)),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Add')));
  put(main(), h('h1', 'Notifications'),
    h('p', { class: 'lead' }, admin ? 'Send events to a chat, a phone or a program.' : 'Be told when your requests are done.'),
    notice, form, h('h2', 'Targets'), list);

  async function add(event) {
    event.preventDefault();
    clearFieldErrors(form);
    put(notice);
    const events = boxes.map((chip) => chip.querySelector('input')).filter((box) => box.checked).map((box) => box.value);
    try {
      const { data } = await api(`${API}notification-targets`, { method: 'POST', body: { url: url.value.trim(), kind: kind.value, events: events.length ? events : null } });
      url.value = '';
      toast(`${data.service} target added.`);
      if (data.secret) put(notice, h('div', { class: 'notice ok', role: 'alert' }, h('p', 'Give this signing secret to the receiver now; it is not shown again:'), h('p', h('code', data.secret))));
      await load();
    } catch (error) {
      if (error.status === 401) return hooks.refused();
      if (error.details.some((detail) => detail.field === 'url')) return fieldError(field, url, error.message);
      put(notice, h('div', { class: 'notice error', role: 'alert' }, h('p', error.message)));
    }
  }

  async function act(target, path, method, done) {
    try {
      const { data } = await api(`${API}notification-targets/${target.id}${path}`, { method });
      toast(done(data));
      await load();
    } catch (error) {
      if (error.status === 401) return hooks.refused();
      toast(error.message);
    }
  }

  async function showDeliveries(target, box) {
    const { data } = await api(`${API}notification-targets/${target.id}/deliveries`);
    put(box, data.deliveries.length ? h('ul', data.deliveries.map((sent) => h('li', timeAgo(sent.last_attempt_at),
      ` ${sent.event_id ? `event #${sent.event_id}` : 'test'}: ${label(sent.status)}, ${plural(sent.attempts, 'attempt', 'attempts')}`, sent.last_error ? ` (${sent.last_error})` : ''))) : 'Nothing sent yet.');
  }

  function row(target) {
    const box = h('div');
    const paused = target.state === 'paused';
    return h('li', { class: 'event', 'data-target': target.id },
      h('div', { class: 'meta' }, h('strong', target.service), h('code', target.url), paused ? h('span', { class: 'badge failed' }, 'Paused') : null,
        admin ? h('span', target.scope === 'all' ? `by ${target.owner}` : `${target.owner}’s tickets`) : null),
      h('p', target.events.length ? target.events.map(label).join(', ') : 'All events',
        paused ? `. Paused: ${target.paused_reason}` : '', target.failures ? `. Failing (${target.failures}): ${target.last_error}` : ''),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', 'data-key': `test-${target.id}`, onclick: () => act(target, '/test', 'POST', (sent) => (sent.status === 'delivered' ? 'Test sent.' : `The test did not get through: ${sent.last_error}`)) }, 'Send test'),
        h('button', { type: 'button', class: 'secondary', onclick: () => showDeliveries(target, box).catch(hooks.fail) }, 'Deliveries'),
        paused ? h('button', { type: 'button', class: 'secondary', onclick: () => act(target, '/resume', 'POST', () => 'Resumed.') }, 'Resume') : null,
        h('button', { type: 'button', class: 'secondary', onclick: () => confirm(`Remove ${target.url}?`) && act(target, '', 'DELETE', () => 'Removed.') }, 'Remove')),
      box);
  }

  async function load() {
    const { data } = await api(`${API}notification-targets`);
    if (!view.current()) return;
    put(list, data.targets.length ? data.targets.map(row) : h('li', 'None yet.'));
  }

  await load();
  onChange(view, load);
}
