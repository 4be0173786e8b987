// The forms' fields and their errors (the GOV.UK pattern): a label and a hint on every
// field, the API's field errors (`details[]`) next to their fields in the form's own words,
// and a summary at the top whose links move to the field.
import { api, clearFieldErrors, fieldError, h, hooks, main, put, toast } from './core.js';

/** A field: its label, its hint and its control (which gets the id). */
export function field(id, label, hint, control) {
  control.id = id;
  control.setAttribute('aria-describedby', `${id}-hint`);
  return h('div', { class: 'field' }, h('label', { for: id }, label), h('span', { class: 'hint', id: `${id}-hint` }, hint), control);
}

/** Show `error` on `form`: each detail next to the field whose API name (`known`: [name, field,
 * control]) it is about, named by the field's label, and all of them in `summaryBox`. */
export function showErrors(error, form, summaryBox, known) {
  clearFieldErrors(form);
  const items = [];
  for (const detail of error.details.length ? error.details : [{ field: '', message: error.message }]) {
    const found = known.find(([name]) => detail.field === name || detail.field.startsWith(`${name}.`));
    // The API names its field ("field 'dest_path': dest_path must be…"); the form says its label.
    let message = detail.message.replace(/^field '[^']*': /, '');
    if (!found) {
      items.push(h('li', message));
      continue;
    }
    const [name, box, control] = found;
    const label = box.querySelector('label').textContent;
    // A message may start with an API name: the field's own, or a snake_case one (a root is
    // checked as a dest_path is).
    const named = new RegExp(`^(${name.split('.').pop()}|[a-z]+_[a-z_]+) `).exec(message);
    if (named) message = message.slice(named[0].length);
    const item = /^\.(\d+)$/.exec(detail.field.slice(name.length)); // one of a list: "Tag 2"
    if (item) message = `${label.replace(/s$/, '')} ${Number(item[1]) + 1}: ${message}`;
    // Next to the field, the message alone; in the summary, which field it is about.
    if (!box.classList.contains('has-error')) fieldError(box, control, named ? `${label} ${message}` : message);
    items.push(h('li', h('a', { href: `#${control.id}`, onclick: (event) => { event.preventDefault(); control.focus(); } }, `${label}: ${message}`)));
  }
  const retry = error.status === 0 || error.status >= 500
    ? h('p', 'Nothing was filed twice: trying again is safe.') : null;
  const box = h('div', { class: 'error-summary', role: 'alert', tabindex: '-1' },
    h('h2', 'There is a problem'), h('ul', items), retry);
  put(summaryBox, box);
  box.focus();
}

/** A row's removal behind a confirmation (`words`: the button, its name for the row, the
 * question, the yes): DELETE `path`, say `done` (or the error, in `notice`), `reload`. */
export function removal(words, key, path, done, notice, reload) {
  const [button, name, question, yes] = words;
  const actions = h('div', { class: 'ticket-actions' });
  const ask = h('button', { type: 'button', class: 'secondary', 'data-key': key, 'aria-label': name, onclick: () => {
    const sure = h('button', { type: 'button', class: 'danger', onclick: remove }, yes);
    put(actions, h('p', question), sure,
      h('button', { type: 'button', class: 'secondary', onclick: () => { put(actions, ask); ask.focus(); } }, 'Keep it'));
    sure.focus();
  } }, button);
  actions.append(ask);

  async function remove(event) {
    event.target.disabled = true;
    put(notice);
    try {
      await api(path, { method: 'DELETE' });
      toast(done);
    } catch (error) {
      if (error.status === 401) return hooks.refused();
      put(notice, h('div', { class: 'notice error', role: 'alert' }, h('p', error.message)));
    }
    await reload();
    main().querySelector('h1').focus();
  }
  return actions;
}
