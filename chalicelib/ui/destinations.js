// Destinations: the folders an admin lets tickets go to (a name, a root, default tags). The
// admins' view lists, adds and removes them; the request form offers them.
import { api, API, clearFieldErrors, h, hooks, isAdmin, main, onChange, plural, put, tagList, toast } from './core.js';
import { field, removal, showErrors } from './forms.js';

const splitTags = (text) => text.split(',').map((tag) => tag.trim()).filter(Boolean);

/** A folder name from a description: its first line, lower case, accents off, a dash
 * between words ("Amélie (2001)" gives "amelie-2001"). */
export const slug = (text) => text.split('\n')[0].normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase()
  .replace(/[^\p{L}\p{N}]+/gu, '-').slice(0, 60).replace(/^-+|-+$/g, '');

/** The request form's destination, given the destinations and the form's path field: with
 * none, that field alone (any absolute path, as before); else a choice of them and a
 * subfolder (from the description until edited) that make the path, which stays editable
 * and is what is filed. Choosing one puts its default tags into the tags. */
export function destinationPicker(destinations, pathField, path, description, tags) {
  if (!destinations.length) return { fields: [pathField] };
  put(pathField.querySelector('label'), 'Full path');
  put(pathField.querySelector('.hint'), 'Where it will go: made from the destination and the subfolder, or typed. It must be inside one of the destinations.');
  const choice = h('select', {}, h('option', { value: '' }, 'Choose…'),
    destinations.map((destination, at) => h('option', { value: at }, `${destination.name} (${destination.root})`)));
  const sub = h('input', { autocomplete: 'off', spellcheck: 'false' });
  const choiceField = field('new-dest-choice', 'Destination', 'The folders an admin has set up for requests.', choice);
  const subField = field('new-dest-sub', 'Subfolder', 'Inside the destination, e.g. kids/moana-2; empty for the destination itself.', sub);
  let subTyped = false;
  let added = []; // the chosen destination's default tags, as put into the tags
  const chosen = () => destinations[choice.value];
  function compose() {
    const folder = sub.value.trim().replace(/^\/+|\/+$/g, '');
    if (chosen()) path.value = folder ? `${chosen().root}/${folder}` : chosen().root;
  }
  choice.addEventListener('change', () => {
    const kept = splitTags(tags.value).filter((tag) => !added.includes(tag));
    added = chosen() ? chosen().tags.filter((tag) => !kept.includes(tag)) : [];
    tags.value = [...kept, ...added].join(', ');
    compose();
  });
  sub.addEventListener('input', () => { subTyped = true; compose(); });
  description.addEventListener('input', () => {
    if (subTyped) return;
    sub.value = slug(description.value);
    compose();
  });
  // A path typed (or filled in) is shown as the destination and subfolder it is in, if any,
  // judged as the API does: segment by segment, with no '..'.
  path.addEventListener('input', () => {
    const segments = path.value.trim().split('/').filter((segment) => segment && segment !== '.');
    const text = `/${segments.join('/')}`;
    const at = segments.includes('..') ? -1 : destinations.findIndex(({ root }) => text === root || text.startsWith(`${root}/`));
    choice.value = at < 0 ? '' : at;
    if (at < 0) return; // the subfolder stays, for when a destination is chosen
    sub.value = text.slice(destinations[at].root.length + 1);
    subTyped = true;
  });
  return { fields: [choiceField, subField, pathField], choice, choiceField };
}

export async function destinationsView(view, me) {
  await me;
  const notice = h('div');
  const list = h('ol', { class: 'events', 'aria-label': 'Destinations' });
  const caption = h('p', { class: 'summary', role: 'status' });
  const summaryBox = h('div');
  const inputs = [h('input', { autocomplete: 'off' }), h('input', { autocomplete: 'off', spellcheck: 'false' }), h('input', { autocomplete: 'off' })];
  const fields = [
    field('destination-name', 'Name', 'What people choose, e.g. Movies. Up to 64 characters.', inputs[0]),
    field('destination-root', 'Root folder', 'An absolute folder path, e.g. /media/movies; requests go inside it.', inputs[1]),
    field('destination-tags', 'Default tags (optional)', 'Separate with commas, e.g. movie: a request there starts with them.', inputs[2]),
  ];
  const button = h('button', { type: 'submit' }, 'Add destination');
  const form = h('form', { class: 'panel form', novalidate: true, 'aria-label': 'Add a destination', onsubmit: add },
    h('h2', 'Add a destination'), summaryBox, fields, h('div', { class: 'actions' }, button));
  put(main(), h('h1', 'Destinations'),
    h('p', { class: 'lead' }, 'While at least one destination exists, every request must go inside one of them. With none, a request may name any absolute folder.'),
    isAdmin() ? form : h('p', 'Only an admin adds or removes destinations.'),
    notice, h('h2', 'Destinations'), caption, list);

  async function add(event) {
    event.preventDefault();
    button.disabled = true;
    put(summaryBox);
    const [name, root, tags] = inputs.map((input) => input.value.trim());
    try {
      await api(`${API}destinations`, { method: 'POST', body: { name, root, tags: splitTags(tags) } });
      inputs.forEach((input) => { input.value = ''; });
      clearFieldErrors(form);
      toast(`Destination ${name} added.`);
      await load();
      inputs[0].focus();
    } catch (error) {
      if (error.status === 401) return hooks.refused();
      showErrors(error, form, summaryBox, ['name', 'root', 'tags'].map((key, at) => [key, fields[at], inputs[at]]));
    } finally {
      button.disabled = false;
    }
  }

  async function load() {
    const { data } = await api(`${API}destinations`);
    if (!view.current()) return;
    const { destinations } = data;
    caption.textContent = destinations.length ? `${plural(destinations.length, 'destination', 'destinations')}, by name.` : 'None yet: a request may go to any absolute folder.';
    put(list, destinations.map((destination) => {
      const actions = isAdmin() ? removal(['Remove', `Remove ${destination.name}`, 'Remove it? Tickets filed there keep their paths.', 'Yes, remove it'],
        `remove-${destination.id}`, `${API}destinations/${encodeURIComponent(destination.id)}`, `Destination ${destination.name} removed.`, notice, load) : null;
      return h('li', { class: 'ticket', 'data-destination': destination.name },
        h('div', { class: 'ticket-main' }, h('strong', destination.name), ' ', h('code', destination.root),
          h('div', { class: 'meta' }, tagList(destination.tags))), actions);
    }));
  }

  await load();
  onChange(view, load);
}
