// Modal dialogs (native <dialog>), notices, and the folder picker.

import { api, repoUrl } from './api.js';
import { crumbs, h, icon, joinPath, mount } from './dom.js';

/**
 * Show a modal dialog. `build(close)` returns the body nodes; buttons call close(value).
 * Resolves with the value given to close, or null when cancelled.
 */
export function modal({ title, testid = 'dialog', wide = false, build }) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: wide ? 'modal wide' : 'modal', testid });
    let done = false;
    const close = (value) => {
      if (done) return;
      done = true;
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      close(null);
    });
    mount(dialog,
      h('header', { class: 'modal-head' },
        h('h2', { testid: 'dialog-title' }, title),
        h('button', { type: 'button', class: 'icon', title: 'Close', 'aria-label': 'Close',
          testid: 'dialog-close', onclick: () => close(null) }, '×')),
      h('div', { class: 'modal-body' }, build(close)));
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Buttons row: [[label, testid, onclick, primary?]]. */
export function buttonRow(buttons) {
  return h('div', { class: 'buttons' }, buttons.map(([label, testid, onclick, primary]) =>
    h('button', { type: testid === 'dialog-ok' ? 'submit' : 'button', testid,
      class: primary ? 'primary' : '', onclick }, label)));
}

/** Ask for one line of text; null when cancelled. */
export function promptDialog(title, label, value = '') {
  return modal({
    title,
    testid: 'prompt-dialog',
    build(close) {
      const input = h('input', { type: 'text', value, testid: 'dialog-input', required: true,
        'aria-label': label });
      const form = h('form', { method: 'dialog',
        onsubmit: (event) => {
          event.preventDefault();
          if (input.value.trim()) close(input.value.trim());
        } },
      h('label', {}, label, input),
      buttonRow([['Cancel', 'dialog-cancel', () => close(null)], ['OK', 'dialog-ok', null, true]]));
      queueMicrotask(() => {
        input.focus();
        const dot = value.lastIndexOf('.');
        input.setSelectionRange(0, dot > 0 ? dot : value.length);
      });
      return form;
    },
  });
}

/** Ask yes or no; resolves true for yes. */
export async function confirmDialog(title, message, yes = 'OK') {
  const answer = await modal({
    title,
    testid: 'confirm-dialog',
    build: (close) => [h('p', {}, message),
      buttonRow([['Cancel', 'dialog-cancel', () => close(false)],
        [yes, 'dialog-ok', () => close(true), true]])],
  });
  return answer === true;
}

let noticeTimer = 0;

/** Show a short message at the top; errors stay until the next message. */
export function notify(message, kind = 'info') {
  const box = document.getElementById('notice');
  box.textContent = message;
  box.className = `notice ${kind}`;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(noticeTimer);
  if (kind !== 'error') noticeTimer = setTimeout(() => { box.hidden = true; }, 6000);
}

/** Report a failed action to the user. */
export function showError(error) {
  notify(error && error.message ? error.message : String(error), 'error');
}

/** Let the user pick a folder of a library; resolves with its path or null. */
export function folderPicker(repoId, title, start = '/') {
  return modal({
    title,
    testid: 'folder-picker',
    build(close) {
      const trail = h('nav', { class: 'crumbs', testid: 'picker-crumbs' });
      const list = h('ul', { class: 'picker-list', testid: 'picker-list' });
      const chosen = h('span', { class: 'muted', testid: 'picker-current' });
      let current = start;
      async function show(path) {
        current = path;
        chosen.textContent = `Destination: ${path}`;
        mount(trail, crumbs(path).map((c, i) => [i ? ' / ' : '',
          h('a', { href: '#', testid: 'picker-crumb',
            onclick: (e) => { e.preventDefault(); show(c.path); } }, c.name)]));
        mount(list, h('li', { class: 'muted' }, 'Loading…'));
        try {
          const entries = await api('GET', repoUrl(repoId, 'dir', { p: path }));
          const dirs = entries.filter((e) => e.type === 'dir')
            .sort((a, b) => a.name.localeCompare(b.name));
          mount(list, dirs.length ? dirs.map((d) => h('li', {},
            h('button', { type: 'button', class: 'link folder', testid: 'picker-folder',
              dataset: { name: d.name }, onclick: () => show(joinPath(path, d.name)) },
            icon('folder'), d.name))) : h('li', { class: 'muted' }, 'No sub-folders'));
        } catch (error) {
          mount(list, h('li', { class: 'error' }, error.message));
        }
      }
      show(start);
      return [trail, list, chosen,
        buttonRow([['Cancel', 'dialog-cancel', () => close(null)],
          ['Choose this folder', 'picker-choose', () => close(current), true]])];
    },
  });
}
