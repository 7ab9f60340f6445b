// The library list: create (plain or encrypted), rename, delete, unlock.

import { api } from './api.js';
import { buttonRow, confirmDialog, modal, promptDialog, showError, notify } from './dialogs.js';
import { formatTime, h, icon, mount } from './dom.js';

/** Ask for an encrypted library's password until it is right; true once unlocked. */
export async function unlockDialog(library) {
  const answer = await modal({
    title: `Unlock “${library.name}”`,
    testid: 'unlock-dialog',
    build(close) {
      const input = h('input', { type: 'password', testid: 'unlock-password', required: true,
        autocomplete: 'current-password', 'aria-label': 'Library password' });
      const error = h('p', { class: 'error', testid: 'unlock-error', hidden: true });
      const form = h('form', { method: 'dialog', async onsubmit(event) {
        event.preventDefault();
        try {
          await api('POST', `/api/v1/repos/${library.id}/unlock`, { password: input.value });
          close(true);
        } catch (failure) {
          error.textContent = failure.status === 400 ? 'Wrong password, try again.' : failure.message;
          error.hidden = false;
          input.select();
        }
      } },
      h('p', {}, 'This library is encrypted. Its password unlocks it for this session.'),
      h('label', {}, 'Password', input), error,
      buttonRow([['Cancel', 'dialog-cancel', () => close(false)], ['Unlock', 'dialog-ok', null, true]]));
      queueMicrotask(() => input.focus());
      return form;
    },
  });
  if (answer) library.unlocked = true;
  return answer === true;
}

function createDialog() {
  return modal({
    title: 'New library',
    testid: 'create-library-dialog',
    build(close) {
      const name = h('input', { type: 'text', testid: 'library-name-input', required: true,
        maxlength: 255, 'aria-label': 'Name' });
      const encrypt = h('input', { type: 'checkbox', testid: 'library-encrypt' });
      const password = h('input', { type: 'password', testid: 'library-password',
        autocomplete: 'new-password', 'aria-label': 'Password' });
      const again = h('input', { type: 'password', testid: 'library-password2',
        autocomplete: 'new-password', 'aria-label': 'Password again' });
      const secret = h('div', { class: 'secret', hidden: true }, h('label', {}, 'Password', password),
        h('label', {}, 'Password again', again),
        h('p', { class: 'muted' }, 'The password cannot be recovered. Without it the files are lost.'));
      const error = h('p', { class: 'error', testid: 'create-library-error', hidden: true });
      encrypt.addEventListener('change', () => { secret.hidden = !encrypt.checked; });
      queueMicrotask(() => name.focus());
      return h('form', { method: 'dialog', onsubmit(event) {
        event.preventDefault();
        const problem = !name.value.trim() ? 'Give the library a name.'
          : encrypt.checked && password.value.length < 1 ? 'Choose a password.'
            : encrypt.checked && password.value !== again.value ? 'The passwords differ.' : '';
        if (problem) {
          error.textContent = problem;
          error.hidden = false;
          return;
        }
        close({ name: name.value.trim(), password: encrypt.checked ? password.value : undefined });
      } },
      h('label', {}, 'Name', name), h('label', { class: 'check' }, encrypt, 'Encrypt with a password'),
      secret, error,
      buttonRow([['Cancel', 'dialog-cancel', () => close(null)], ['Create', 'dialog-ok', null, true]]));
    },
  });
}

/** Render the list of the user's libraries into `main`. */
export async function renderLibraries(main, app) {
  const body = h('tbody', { testid: 'library-list' });
  mount(main,
    h('div', { class: 'titlebar' }, h('h1', {}, 'My libraries'),
      h('button', { type: 'button', class: 'primary', testid: 'new-library', async onclick() {
        const wanted = await createDialog();
        if (!wanted) return;
        try {
          const created = await api('POST', '/api/v1/repos', wanted);
          notify(`Created library “${created.name}”`);
          await renderLibraries(main, app);
        } catch (error) {
          showError(error);
        }
      } }, '+ New library')),
    h('table', { class: 'list' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Modified'), h('th', {}, ''))),
      body));
  const list = await app.loadLibraries();
  if (!list.length) {
    mount(body, h('tr', {}, h('td', { colspan: 3, class: 'muted', testid: 'library-empty' },
      'No libraries yet. Create one to start.')));
    return;
  }
  list.sort((a, b) => a.name.localeCompare(b.name));
  mount(body, list.map((library) => h('tr', { testid: 'library-row',
    dataset: { name: library.name, id: library.id, encrypted: String(library.encrypted) } },
  h('td', {}, h('a', { href: `#/lib/${library.id}?p=/`, testid: 'library-open' },
    icon(library.encrypted ? 'lock' : 'library'), library.name)),
  h('td', { class: 'muted' }, formatTime(library.mtime)),
  h('td', { class: 'actions' },
    h('button', { type: 'button', testid: 'library-rename', async onclick() {
      const name = await promptDialog('Rename library', 'New name', library.name);
      if (!name || name === library.name) return;
      try {
        await api('PATCH', `/api/v1/repos/${library.id}`, { name });
        await renderLibraries(main, app);
      } catch (error) {
        showError(error);
      }
    } }, 'Rename'),
    h('button', { type: 'button', class: 'danger', testid: 'library-delete', async onclick() {
      if (!await confirmDialog('Delete library',
        `Delete “${library.name}” and all its files?`, 'Delete')) return;
      try {
        await api('DELETE', `/api/v1/repos/${library.id}`);
        notify(`Deleted library “${library.name}”`);
        await renderLibraries(main, app);
      } catch (error) {
        showError(error);
      }
    } }, 'Delete')))));
}
