// Live updates: poll the API at a fixed cadence and redraw the view when something changed.
import {
  api,
  API,
  byId,
  hooks,
  isAdmin,
  loadMachine,
  machine,
  query,
  session,
} from './core.js';

const POLL_MS = 2000; // one cheap request (three for a user) every two seconds...
const HIDDEN_POLL_MS = 30000; // ...and rarely while the tab is hidden

// An admin follows the audit log: `after=<last event id>` is empty (and cheap) until
// something happens. A user's log shows only its own tickets, so a user follows counts:
// of each state a ticket may leave, and of the final ones together. With no cycle in the
// state machine, every event changes them (tickets are never deleted) but an edit, which
// changes no count: so a user follows its own tickets' newest event as well.

export const watch = {
  timer: 0,
  busy: false,
  again: false,
  cursor: null,
  signature: null,
  start() {
    this.stop();
    this.cursor = null;
    this.signature = null;
    this.tick();
  },
  stop() {
    clearTimeout(this.timer);
    this.timer = 0;
    this.again = false;
    byId('live').hidden = true;
  },
  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), document.hidden ? HIDDEN_POLL_MS : POLL_MS);
  },
  // A fixed cadence: one poll per tick. A tick that comes while a poll is still out is
  // not lost, nor stacked: it runs once that poll is done.
  tick() {
    this.schedule();
    if (this.busy) this.again = true;
    else this.poll();
  },
  async poll() {
    if (!session.me) return;
    this.busy = true;
    try {
      const moved = isAdmin() ? await this.auditMoved() : await this.countsMoved();
      byId('connection').textContent = '';
      byId('live').hidden = false;
      if (moved && session.refresh) await session.refresh();
    } catch (error) {
      this.busy = false;
      if (error.status === 401) return hooks.refused();
      byId('live').hidden = true;
      byId('connection').textContent = 'Connection lost: retrying…';
    }
    this.busy = false;
    if (this.again) {
      this.again = false;
      this.poll();
    }
  },
  async auditMoved() {
    if (this.cursor === null) {
      // Start at the newest event: the first one newest first, however long the log.
      const [newest] = (await api(`${API}audit?sort=newest&limit=1`)).data.events;
      this.cursor = newest ? newest.id : 0;
      return false;
    }
    const { data } = await api(`${API}audit?${query({ after: this.cursor, limit: 100 })}`);
    if (!data.events.length) return false;
    this.cursor = data.events[data.events.length - 1].id;
    return true;
  },
  async countsMoved() {
    await loadMachine();
    const isFinal = (state) => !machine.states[state].next.length;
    const groups = [...machine.names.filter((state) => !isFinal(state)).map((state) => [state]), machine.names.filter(isFinal)];
    const counts = await Promise.all([...groups.map((state) => api(`${API}tickets?${query({ state, limit: 1 })}`)), api(`${API}audit?sort=newest&limit=1`)]);
    const signature = counts.map((answer) => answer.data.total).join('/');
    const moved = this.signature !== null && signature !== this.signature;
    this.signature = signature;
    return moved;
  },
};
document.addEventListener('visibilitychange', () => {
  if (!session.me) return;
  if (document.hidden) watch.schedule();
  else watch.tick();
});
