// Backups (admins): the list, newest first, and taking one now.
import { api, API, h, hooks, isAdmin, main, onChange, plural, put, timeAgo, toast } from './core.js';

const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;
const kind = (name) => (/Z-(.+)\.db$/.exec(name)?.[1] || 'scheduled').replace(/-/g, ' ');

export async function backupsView(view, me) {
  await me;
  if (!view.current()) return;
  if (!isAdmin()) return put(main(), h('h1', 'Backups'), h('p', 'Only an admin sees the backups.'));
  const list = h('ol', { class: 'events', 'aria-label': 'Backups, newest first' });
  const caption = h('p', { class: 'summary', role: 'status' });
  const notice = h('div');
  const button = h('button', { type: 'button', onclick: take }, 'Back up now');
  put(main(), h('h1', 'Backups'),
    h('p', { class: 'lead' }, 'Daily backups keep the newest of 7 days and 4 weeks; the newest 10 taken here are kept apart.'),
    notice, h('div', { class: 'actions' }, button), caption, list);

  async function load() {
    const { data } = await api(`${API}backups`);
    if (!view.current()) return;
    const taken = data.backups.length;
    caption.textContent = taken ? `${plural(taken, 'backup', 'backups')}, newest first.` : 'No backups yet.';
    put(list, data.backups.map((backup) => h('li', { class: 'event', 'data-backup': backup.name },
      h('div', { class: 'meta' }, h('strong', backup.name), timeAgo(backup.taken_at)),
      h('p', kind(backup.name), ', ', mib(backup.size_bytes), ', ', backup.tickets === null ? 'tickets unknown' : plural(backup.tickets, 'ticket', 'tickets'), ', ',
        backup.verified ? 'verified' : h('strong', `not verified: ${backup.problem}`)))));
  }

  async function take() {
    button.disabled = true;
    put(notice);
    try {
      const { data } = await api(`${API}backups`, { method: 'POST' });
      toast(`Backup taken in ${data.duration_seconds.toFixed(1)} s.`);
      await load();
    } catch (error) {
      if (error.status === 401) return hooks.refused();
      put(notice, h('div', { class: 'notice error', role: 'alert' }, h('p', `No backup was taken: ${error.message}`)));
    } finally {
      button.disabled = false;
    }
  }

  await load();
  onChange(view, load);
}
