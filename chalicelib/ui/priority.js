// Priority in words: named levels, each a number the queue orders by (higher goes first),
// with the exact number still settable. Each level is ten times the one below, so there is
// room between them for a number of one's own.
import { h } from './core.js';

export const LEVELS = [['Low', 10], ['Normal', 100], ['High', 1000], ['Urgent', 10000]];
export const NORMAL = '100';
export const PRIORITY_HINT = 'Low 10, Normal 100, High 1,000, Urgent 10,000, or any whole number from 0 to 65,535: higher goes first.';

/** A button per level, after the number's input: one sets the number, and the level the
 * number names is shown pressed. */
export function levelButtons(input) {
  const buttons = LEVELS.map(([name, value]) => h('button', {
    type: 'button', class: 'secondary', onclick: () => { input.value = value; show(); },
  }, name));
  function show() {
    buttons.forEach((button, at) => button.setAttribute('aria-pressed', String(input.value.trim() === String(LEVELS[at][1]))));
  }
  input.addEventListener('input', show);
  show();
  return h('div', { class: 'actions levels', role: 'group', 'aria-label': 'Levels' }, buttons);
}
