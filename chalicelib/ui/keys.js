// API keys: an admin makes one for each person (the key shown once, with a copy button),
// lists and revokes them; a user sees its own key's name and role. In open mode (this
// machine only, no key yet) the page makes the first admin key, which ends open mode, and
// signs in with it.
import { api, API, clearFieldErrors, h, hooks, isAdmin, keys, main, onChange, plural, put, session, timeAgo, toast } from './core.js';
import { field, removal, showErrors } from './forms.js';
import { watch } from './live.js';

const idle = () => new Promise((done) => { setTimeout(done, 50); });

export async function keysView(view, me) {
  await me;
  if (!view.current()) return;
  if (!isAdmin()) {
    return put(main(), h('h1', 'Keys'),
      h('p', 'You are signed in as ', h('strong', session.me.name), ', with a key of role ', h('strong', session.me.role), '.'),
      h('p', 'Only an admin sees or manages keys: ask one for a new key, or to revoke yours.'));
  }
  const made = h('div'); // the key just made, shown this once
  const list = h('ol', { class: 'events', 'aria-label': 'Keys, oldest first' });
  const caption = h('p', { class: 'summary', role: 'status' });
  const notice = h('div');
  const summaryBox = h('div');
  const name = h('input', { autocomplete: 'off', spellcheck: 'false', maxlength: '64' });
  const role = h('select', {}, h('option', { value: 'user' }, 'user'), h('option', { value: 'admin' }, 'admin'));
  const fields = [
    field('key-user', 'Name', 'Whose key it is: 1 to 64 letters, digits, ".", "_", "@" or "-", e.g. carol.', name),
    field('key-role', 'Role', 'A user files tickets and cancels their own; an admin does everything, keys included.', role),
  ];
  const remember = h('input', { id: 'key-remember', type: 'checkbox' });
  const rememberBox = h('div', { class: 'check' }, remember, h('label', { for: 'key-remember' }, 'Remember on this device'));
  const button = h('button', { type: 'submit' });
  const form = h('form', { class: 'panel form', novalidate: true, 'aria-label': 'Make a key', onsubmit: create },
    h('h2', 'Make a key'), summaryBox, fields, rememberBox, h('div', { class: 'actions' }, button));

  function render() {
    const open = session.me.open_mode;
    fields[1].hidden = open; // the first key is an admin's
    rememberBox.hidden = !open;
    button.textContent = open ? 'Make the first admin key' : 'Make key';
    put(main(), h('h1', 'Keys'),
      h('p', { class: 'lead' }, 'Each person signs in with a key of their own. A key is shown once, when it is made: copy it and give it to its person.'),
      open ? h('div', { class: 'notice' }, h('p', 'No key exists yet, so this machine needs none (open mode). Make the first admin key: it ends open mode, everyone then needs a key, and this page signs in with it.')) : null,
      made, form, notice, h('h2', 'Keys'), caption, list);
  }

  async function load() {
    const { data } = await api(`${API}keys`);
    if (!view.current()) return;
    caption.textContent = data.keys.length ? `${plural(data.keys.length, 'key', 'keys')}, oldest first.` : 'No keys yet.';
    put(list, data.keys.map((key) => {
      const actions = key.revoked_at ? null : removal(['Revoke', `Revoke ${key.user}'s key`, 'Revoke it? It is refused from its next request on.', 'Yes, revoke it'],
        `revoke-${key.id}`, `${API}keys/${encodeURIComponent(key.id)}`, `The key of ${key.user} is revoked.`, notice, load);
      return h('li', { class: 'ticket', 'data-key-id': key.id },
        h('div', { class: 'ticket-main' }, h('strong', key.user), ' ', h('span', { class: 'role' }, key.role),
          h('div', { class: 'meta' }, h('span', 'made ', timeAgo(key.created_at)),
            key.revoked_at ? h('strong', 'revoked ', timeAgo(key.revoked_at)) : h('span', 'in use'))),
        actions);
    }));
  }

  async function create(event) {
    event.preventDefault();
    const open = session.me.open_mode;
    button.disabled = true;
    put(summaryBox);
    try {
      if (open) { // no poll may meet the end of open mode without the key: let the last one finish
        watch.stop();
        while (watch.busy) await idle();
      }
      const { data } = await api(`${API}keys`, { method: 'POST', body: { user: name.value.trim(), role: open ? 'admin' : role.value } });
      if (open) {
        keys.set(data.key, remember.checked);
        session.me = (await api(`${API}me`)).data;
        hooks.account();
      }
      showKey(data);
      name.value = '';
      clearFieldErrors(form);
      if (open) render();
      await load();
    } catch (error) {
      if (error.status === 401) return hooks.refused();
      showErrors(error, form, summaryBox, [['user', fields[0], name], ['role', fields[1], role]]);
    } finally {
      button.disabled = false;
      if (open && session.me) watch.start();
    }
  }

  function showKey(data) {
    const secret = h('input', { id: 'new-key', readonly: true, value: data.key, spellcheck: 'false', 'aria-describedby': 'new-key-hint' });
    async function copy() {
      try {
        await navigator.clipboard.writeText(data.key);
      } catch { // no clipboard API outside https and localhost: copy the selection
        secret.select();
        document.execCommand('copy');
      }
      toast('Key copied.');
    }
    put(made, h('div', { class: 'notice ok' },
      h('div', { class: 'field' }, h('label', { for: 'new-key' }, `The key for ${data.user} (${data.role})`),
        h('span', { class: 'hint', id: 'new-key-hint' }, 'Copy it now and give it to its person: it is not shown again.'),
        h('div', { class: 'actions secret' }, secret, h('button', { type: 'button', onclick: copy }, 'Copy')))));
    secret.focus();
    secret.select();
  }

  render();
  await load();
  onChange(view, load);
}
