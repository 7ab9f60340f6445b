// Modal dialogs (native <dialog>), notices, and the folder picker.

import { api, repoUrl } from './api.js';
import { crumbs, h, icon, joinPath, mount } from './dom.js';

/**
 * Show a modal dialog. `build(close)` returns the body nodes; buttons call close(value).
 * `wide` or `size: 'medium'` make it wider than the default.
 * Resolves with the value given to close, or null when cancelled.
 */
export function modal({ title, testid = 'dialog', wide = false, size = '', build }) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: ['modal', wide ? 'wide' : '', size].filter(Boolean).join(' '),
      testid });
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

let pickerCount = 0;

/** The rows of the picker's library choice: radio buttons with a lock for encrypted ones. */
function libraryChoices(libraries, selectedId, onpick) {
  pickerCount += 1;
  const group = `picker-library-${pickerCount}`;
  return h('fieldset', { class: 'picker-libraries', testid: 'picker-libraries' },
    h('legend', {}, 'Library'),
    [...libraries].sort((a, b) => a.name.localeCompare(b.name)).map((library) => h('label', {
      class: 'picker-library', testid: 'picker-library', title: library.name,
      dataset: { id: library.id, name: library.name, encrypted: String(library.encrypted) } },
    h('input', { type: 'radio', name: group, value: library.id, testid: 'picker-library-radio',
      checked: library.id === selectedId, onchange: () => onpick(library) }),
    icon(library.encrypted ? 'lock' : 'library'),
    h('span', { class: 'picker-library-name' }, library.name),
    library.id === selectedId ? h('span', { class: 'muted' }, ' (current)') : null)));
}

/**
 * Let the user pick a folder; resolves with {repoId, path} or null when cancelled.
 * Starts at `start` in library `repoId`. With `libraries` (the ones the user may write to,
 * the current one among them) the user may pick a folder of another library too; a locked
 * encrypted one shows its folders after `unlock(library)` (its top folder can be chosen
 * without: the caller asks for the password before copying).
 */
export function folderPicker({ title, repoId, start = '/', libraries = [], unlock = null }) {
  return modal({
    title,
    testid: 'folder-picker',
    size: libraries.length > 1 ? 'medium' : '',
    build(close) {
      const trail = h('nav', { class: 'crumbs', testid: 'picker-crumbs', 'aria-label': 'Folder path' });
      const list = h('ul', { class: 'picker-list', testid: 'picker-list', 'aria-label': 'Folders' });
      const chosen = h('span', { class: 'muted', testid: 'picker-current', 'aria-live': 'polite' });
      let library = libraries.find((lib) => lib.id === repoId) || { id: repoId, name: '' };
      let current = start;
      let shown = 0;

      function lockedNotice() {
        return h('li', { class: 'picker-locked', testid: 'picker-locked' },
          h('p', {}, icon('lock'), `“${library.name}” is encrypted and locked. Unlock it to `
            + 'see its folders, or choose its top folder and give the password then.'),
          unlock ? h('button', { type: 'button', testid: 'picker-unlock', async onclick() {
            const which = library;
            if (await unlock(which) && which === library) show('/');
          } }, 'Unlock…') : null);
      }

      async function show(path) {
        shown += 1;
        const ticket = shown;
        current = path;
        const elsewhere = library.id !== repoId;
        chosen.textContent = `Destination: ${path}${elsewhere ? ` in “${library.name}”` : ''}`;
        mount(trail, crumbs(path).map((c, i) => [i ? ' / ' : '',
          h('a', { href: '#', testid: 'picker-crumb',
            onclick: (e) => { e.preventDefault(); show(c.path); } },
          i === 0 && library.name ? library.name : c.name)]));
        if (library.encrypted && library.unlocked === false) {
          mount(list, lockedNotice());
          return;
        }
        mount(list, h('li', { class: 'muted' }, 'Loading…'));
        try {
          const entries = await api('GET', repoUrl(library.id, 'dir', { p: path }));
          if (ticket !== shown) return;
          const dirs = entries.filter((e) => e.type === 'dir')
            .sort((a, b) => a.name.localeCompare(b.name));
          mount(list, dirs.length ? dirs.map((d) => h('li', {},
            h('button', { type: 'button', class: 'link folder', testid: 'picker-folder',
              dataset: { name: d.name }, onclick: () => show(joinPath(path, d.name)) },
            icon('folder'), d.name))) : h('li', { class: 'muted' }, 'No sub-folders'));
        } catch (error) {
          if (ticket !== shown) return;
          if (error.status === 440) {
            library.unlocked = false;
            mount(list, lockedNotice());
          } else {
            mount(list, h('li', { class: 'error', testid: 'picker-error' }, error.message));
          }
        }
      }

      show(start);
      const folders = h('div', { class: 'picker-folders' }, trail, list);
      return [libraries.length > 1
        ? h('div', { class: 'picker' }, libraryChoices(libraries, repoId, (picked) => {
          library = picked;
          show(picked.id === repoId ? start : '/');
        }), folders)
        : folders,
      chosen,
      buttonRow([['Cancel', 'dialog-cancel', () => close(null)],
        ['Choose this folder', 'picker-choose',
          () => close({ repoId: library.id, path: current }), true]])];
    },
  });
}
