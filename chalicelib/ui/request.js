// Filing a ticket, or editing one (a merge patch of every field, with If-Match): the form,
// pre-filled from a ticket to edit or to file again, the API's field errors next to their
// fields, one Idempotency-Key per submission.
import {
  api,
  API,
  clearFieldErrors,
  fieldError,
  getTicket,
  h,
  hooks,
  main,
  put,
  randomToken,
  stateName,
  toast,
} from './core.js';
import { destinationPicker } from './destinations.js';
import { showErrors } from './forms.js';
import { levelButtons, NORMAL, PRIORITY_HINT } from './priority.js';

// Each field: id, API field (where details[].field starts), label, hint (the API's
// bounds, which the API checks), and its input.
const FORM_FIELDS = [
  ['new-description', 'query_context.description', 'Description', 'What to look for, e.g. "Abbey Road by The Beatles, 2019 remaster". Up to 10,000 characters.',
    'textarea', { name: 'description', rows: '3', maxlength: '10000' }],
  ['new-tags', 'query_context.tags', 'Tags', 'Separate with commas, e.g. music, flac, album. Up to 100 tags of 1 to 100 characters each.',
    'input', { name: 'tags', autocomplete: 'off' }],
  ['new-dest', 'dest_path', 'Destination', 'An absolute folder path, e.g. /media/music/beatles: starts with /, no ".." part, at most 4,096 bytes.',
    'input', { name: 'dest_path', autocomplete: 'off', spellcheck: 'false' }],
  ['new-priority', 'priority', 'Priority', PRIORITY_HINT,
    'input', { name: 'priority', inputmode: 'numeric', value: NORMAL }],
];

// `#/new`, `#/new?from=<id>` (file that ticket again) or `#/tickets/<editing>/edit`.
export async function newTicketView(view, me, editing) {
  const from = editing || view.params.get('from');
  const [, { data: { destinations } }] = await Promise.all([me, api(`${API}destinations`)]);
  let ticket = from && await getTicket(from);
  if (!view.current()) return;
  const [title, verb] = editing ? ['Edit request', 'Save changes'] : ['New request', 'File request'];
  let attempt = null; // { key, body }: one Idempotency-Key per submission, reused by retries
  const summaryBox = h('div');
  const inputs = {};
  const fields = {};
  for (const [id, , label, hint, tag, attributes] of FORM_FIELDS) {
    inputs[id] = h(tag, { id, ...attributes, 'aria-describedby': `${id}-hint` });
    fields[id] = h('div', { class: 'field' }, h('label', { for: id }, label), h('span', { class: 'hint', id: `${id}-hint` }, hint), inputs[id]);
  }
  fields['new-priority'].append(levelButtons(inputs['new-priority']));
  const picker = destinationPicker(destinations, fields['new-dest'], inputs['new-dest'], inputs['new-description'], inputs['new-tags']);
  const button = h('button', { type: 'submit' }, verb);
  const form = h('form', { class: 'form', novalidate: true, onsubmit: submit },
    FORM_FIELDS.map(([id]) => (id === 'new-dest' ? picker.fields : fields[id])), h('div', { class: 'actions' }, button, h('a', { href: '#/' }, 'Back to the queue')));
  put(main(),
    h('h1', title),
    editing ? null : h('p', { class: 'lead' }, 'Say what you want and where it should go; it joins the queue at once.'),
    summaryBox, form);
  fill();

  function fill() {
    if (!ticket) return;
    const { query_context: context, dest_path: dest, priority } = ticket.data;
    // As if typed: the destination and subfolder follow the path, the level the priority.
    [context.description, context.tags.join(', '), dest, priority].forEach((value, at) => {
      const input = inputs[FORM_FIELDS[at][0]];
      input.value = value;
      input.dispatchEvent(new Event('input'));
    });
  }

  function body() {
    const priorityText = inputs['new-priority'].value.trim();
    return {
      priority: /^\d{1,6}$/.test(priorityText) ? Number(priorityText) : (priorityText || null),
      query_context: {
        tags: inputs['new-tags'].value.split(',').map((tag) => tag.trim()).filter(Boolean),
        description: inputs['new-description'].value.trim(),
      },
      dest_path: inputs['new-dest'].value.trim(),
    };
  }

  async function submit(event) {
    event.preventDefault();
    if (button.disabled) return;
    const sent = body();
    if (picker.choice && !sent.dest_path) {
      clearFieldErrors(form);
      return fieldError(picker.choiceField, picker.choice, 'Choose where it should go.');
    }
    const text = JSON.stringify(sent);
    if (!attempt || attempt.body !== text) attempt = { key: randomToken(), body: text };
    button.disabled = true;
    button.textContent = 'Sending…';
    try {
      const { data } = await api(`${API}tickets${editing ? `/${encodeURIComponent(editing)}` : ''}`, {
        method: editing ? 'PATCH' : 'POST', body: sent, headers: { 'Idempotency-Key': attempt.key, ...(editing && { 'If-Match': ticket.etag }) },
      });
      attempt = null;
      toast(editing ? 'Changes saved.' : 'Request filed.');
      location.hash = `#/tickets/${data.id}`;
    } catch (error) {
      button.disabled = false;
      button.textContent = verb;
      if (error.status === 401) return hooks.refused();
      if (error.status === 412) {
        ticket = await getTicket(editing);
        fill();
        error.message = `Someone else changed this ticket after you opened it: it is now ${stateName(ticket.data.state)}. Nothing was changed; the form now shows it as it is.`;
      }
      showFormErrors(error);
    }
  }

  function showFormErrors(error) {
    showErrors(error, form, summaryBox, FORM_FIELDS.map(([id, name]) => [name, fields[id], inputs[id]]));
  }
}
