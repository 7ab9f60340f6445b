// Entry point: session, routing (#/..., #/lib/<id>?p=, /history, /commit/<cid>, /trash).

import { api } from './api.js';
import { notify, showError } from './dialogs.js';
import { h, mount } from './dom.js';
import { FolderView } from './browser.js';
import { renderCommits, renderSnapshot, renderTrash } from './history.js';
import { renderLibraries, unlockDialog } from './libraries.js';
import { Uploads } from './uploads.js';

const main = document.getElementById('main');
const userLabel = document.getElementById('user-email');
const logoutButton = document.getElementById('logout');

const app = {
  user: null,
  libraries: [],
  folder: null,
  uploads: new Uploads(document.getElementById('uploads'), (repoId, path) => {
    const view = app.folder;
    const dir = path.slice(0, path.lastIndexOf('/')) || '/';
    if (view && view.repoId === repoId && view.path === dir) view.reload();
  }),

  async loadLibraries() {
    this.libraries = await api('GET', '/api/v1/repos');
    return this.libraries;
  },

  async library(id) {
    let found = this.libraries.find((lib) => lib.id === id);
    if (!found) found = (await this.loadLibraries()).find((lib) => lib.id === id);
    return found || null;
  },

  /** Ask for the password of an encrypted library; true once unlocked. */
  unlock(library) {
    return unlockDialog(library);
  },
};

function setUser(user) {
  app.user = user;
  userLabel.textContent = user ? user.email : '';
  logoutButton.hidden = !user;
}

function renderLogin() {
  setUser(null);
  app.folder = null;
  const email = h('input', { type: 'email', testid: 'login-email', autocomplete: 'username',
    required: true, 'aria-label': 'Email' });
  const password = h('input', { type: 'password', testid: 'login-password',
    autocomplete: 'current-password', required: true, 'aria-label': 'Password' });
  const error = h('p', { class: 'error', testid: 'login-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'login-submit' }, 'Log in');
  mount(main, h('form', { class: 'login', testid: 'login-form', async onsubmit(event) {
    event.preventDefault();
    submit.disabled = true;
    try {
      setUser(await api('POST', '/api/v1/auth/login',
        { email: email.value, password: password.value }));
      if (!location.hash || location.hash === '#') location.hash = '#/';
      await route();
    } catch (failure) {
      error.textContent = failure.status === 401 ? 'Wrong email or password.' : failure.message;
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  } },
  h('h1', {}, 'Log in to SesameDisk'),
  h('label', {}, 'Email', email), h('label', {}, 'Password', password), error, submit));
  email.focus();
}

/** Parse the hash: {parts: ['lib', id, ...], params: URLSearchParams}. */
function location_() {
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  return { parts: path.split('/').filter(Boolean), params: new URLSearchParams(query) };
}

async function route() {
  if (!app.user) {
    renderLogin();
    return;
  }
  const { parts, params } = location_();
  app.folder = null;
  try {
    if (parts[0] !== 'lib' || !parts[1]) {
      await renderLibraries(main, app);
      return;
    }
    const library = await app.library(parts[1]);
    if (!library) {
      mount(main, h('p', { class: 'error', testid: 'library-missing' }, 'No such library.'),
        h('a', { href: '#/' }, 'Back to the libraries'));
      return;
    }
    if (library.encrypted && !library.unlocked && !await app.unlock(library)) {
      location.hash = '#/';
      return;
    }
    const page = parts[2] || '';
    if (page === 'history') await renderCommits(main, library);
    else if (page === 'trash') await renderTrash(main, library);
    else if (page === 'commit' && parts[3]) {
      await renderSnapshot(main, library, parts[3], params.get('p') || '/', params.get('t'));
    } else {
      app.folder = new FolderView(main, app, library, params.get('p') || '/');
      await app.folder.render();
    }
  } catch (error) {
    if (error.status === 401) return;
    showError(error);
  }
}

async function boot() {
  window.addEventListener('sesame:logged-out', () => {
    if (app.user) {
      notify('Your session ended. Log in again.', 'error');
      renderLogin();
    }
  });
  window.addEventListener('hashchange', () => route());
  logoutButton.addEventListener('click', async () => {
    try {
      await api('POST', '/api/v1/auth/logout');
    } catch (error) {
      showError(error);
    }
    app.libraries = [];
    location.hash = '#/';
    renderLogin();
  });
  const session = document.querySelector('meta[name="sesame-session"]');
  if (session && session.content) {
    try {
      setUser(await api('GET', '/api/v1/auth/me'));
    } catch {
      setUser(null);
    }
  }
  await route();
}

boot();
