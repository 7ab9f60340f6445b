// The file browser of one library folder: listing, sorting, selection and file actions.

import { api, repoUrl } from './api.js';
import { confirmDialog, folderPicker, notify, promptDialog, showError } from './dialogs.js';
import { crumbs, formatSize, formatTime, h, icon, joinPath, mount } from './dom.js';
import { openFileHistory } from './history.js';
import { openPreview } from './preview.js';
import { unfinishedUploads } from './uploads.js';

const SORTERS = {
  name: (a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }),
  size: (a, b) => (a.size || 0) - (b.size || 0),
  mtime: (a, b) => (a.mtime || 0) - (b.mtime || 0),
};

const sortState = { key: 'name', ascending: true };

function sorted(entries) {
  const compare = SORTERS[sortState.key];
  const sign = sortState.ascending ? 1 : -1;
  return [...entries].sort((a, b) => {
    if (a.type !== b.type) return a.type === 'dir' ? -1 : 1;
    return sign * (compare(a, b) || SORTERS.name(a, b));
  });
}

/** The view of folder `path` of `library`; re-rendered in place after every change. */
export class FolderView {
  constructor(main, app, library, path) {
    Object.assign(this, { main, app, library, path });
    this.entries = [];
    this.selected = new Set();
    this.tbody = h('tbody', { testid: 'entry-list' });
    this.selectAll = h('input', { type: 'checkbox', testid: 'select-all', 'aria-label': 'Select all',
      onchange: () => this.toggleAll(this.selectAll.checked) });
    this.selectionBar = h('span', { class: 'muted', testid: 'selection-count' });
    this.headerRow = h('tr');
    this.renderHeader();
  }

  renderHeader() {
    mount(this.headerRow, h('th', { class: 'check' }, this.selectAll),
      this.sortHeader('name', 'Name'), this.sortHeader('size', 'Size'),
      this.sortHeader('mtime', 'Modified'), h('th', {}, ''));
  }

  get repoId() {
    return this.library.id;
  }

  async render() {
    const fileInput = h('input', { type: 'file', multiple: true, hidden: true, testid: 'upload-input',
      onchange: () => {
        this.upload([...fileInput.files]);
        fileInput.value = '';
      } });
    const dropZone = h('section', { class: 'drop-zone', testid: 'drop-zone' },
      h('table', { class: 'list files' }, h('thead', {}, this.headerRow), this.tbody),
      h('p', { class: 'drop-hint muted' }, 'Drop files here to upload them to this folder.'));
    this.wireDrop(dropZone);
    mount(this.main,
      h('div', { class: 'titlebar' },
        h('h1', { testid: 'library-title' }, this.library.encrypted ? icon('lock') : '', this.library.name),
        h('nav', { class: 'tabs' },
          h('a', { href: '#/', testid: 'back-to-libraries' }, 'All libraries'),
          h('a', { href: `#/lib/${this.repoId}/history`, testid: 'library-history' }, 'History'),
          h('a', { href: `#/lib/${this.repoId}/trash`, testid: 'library-trash' }, 'Trash'))),
      h('nav', { class: 'crumbs', testid: 'crumbs' }, crumbs(this.path).map((c, i) => [
        i ? h('span', { class: 'sep' }, '/') : '',
        h('a', { href: `#/lib/${this.repoId}?p=${encodeURIComponent(c.path)}`, testid: 'crumb',
          dataset: { path: c.path } }, c.name)])),
      h('div', { class: 'toolbar' },
        h('button', { type: 'button', testid: 'new-folder', onclick: () => this.newFolder() },
          '+ New folder'),
        h('button', { type: 'button', class: 'primary', testid: 'upload-button',
          onclick: () => fileInput.click() }, '⇪ Upload'), fileInput,
        h('a', { class: 'button', testid: 'download-folder', download: '',
          href: repoUrl(this.repoId, 'zip', { p: this.path }) }, '⇩ Download folder'),
        h('span', { class: 'spacer' }),
        this.selectionBar,
        h('button', { type: 'button', testid: 'move-selected', onclick: () => this.transfer('move') },
          'Move…'),
        h('button', { type: 'button', testid: 'copy-selected', onclick: () => this.transfer('copy') },
          'Copy…'),
        h('button', { type: 'button', class: 'danger', testid: 'delete-selected',
          onclick: () => this.remove([...this.selected]) }, 'Delete')),
      this.resumeNotice(),
      dropZone);
    await this.reload();
  }

  sortHeader(key, label) {
    const active = sortState.key === key;
    const arrow = active ? (sortState.ascending ? ' ▲' : ' ▼') : '';
    return h('th', { 'aria-sort': active ? (sortState.ascending ? 'ascending' : 'descending') : 'none' },
      h('button', { type: 'button', class: 'link', testid: `sort-${key}`, onclick: () => {
        sortState.ascending = active ? !sortState.ascending : true;
        sortState.key = key;
        this.renderHeader();
        this.renderRows();
      } }, label + arrow));
  }

  resumeNotice() {
    const pending = unfinishedUploads(this.repoId);
    if (!pending.length) return null;
    return h('p', { class: 'notice info', testid: 'resume-notice' },
      `Unfinished uploads: ${pending.map((u) => u.path).join(', ')}. `
      + 'Upload the same files again to resume where they stopped.');
  }

  wireDrop(zone) {
    zone.addEventListener('dragover', (event) => {
      event.preventDefault();
      if (event.dataTransfer) event.dataTransfer.dropEffect = 'copy';
      zone.classList.add('dragging');
    });
    zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
    zone.addEventListener('drop', (event) => {
      event.preventDefault();
      zone.classList.remove('dragging');
      const files = event.dataTransfer ? [...event.dataTransfer.files] : [];
      if (files.length) this.upload(files);
    });
  }

  async reload() {
    try {
      this.entries = await api('GET', repoUrl(this.repoId, 'dir', { p: this.path }));
    } catch (error) {
      if (error.status === 440 && await this.app.unlock(this.library)) return this.reload();
      mount(this.tbody, h('tr', {}, h('td', { colspan: 5, class: 'error', testid: 'folder-error' },
        error.message)));
      return undefined;
    }
    const names = new Set(this.entries.map((e) => e.name));
    this.selected = new Set([...this.selected].filter((name) => names.has(name)));
    this.renderRows();
    return undefined;
  }

  renderRows() {
    if (!this.entries.length) {
      mount(this.tbody, h('tr', {}, h('td', { colspan: 5, class: 'muted', testid: 'empty-folder' },
        'This folder is empty. Upload files or drop them here.')));
    } else {
      mount(this.tbody, sorted(this.entries).map((entry) => this.row(entry)));
    }
    this.updateSelection();
  }

  row(entry) {
    const path = joinPath(this.path, entry.name);
    const isDir = entry.type === 'dir';
    const check = h('input', { type: 'checkbox', testid: 'entry-select', checked: this.selected.has(entry.name),
      'aria-label': `Select ${entry.name}`, onchange: () => {
        if (check.checked) this.selected.add(entry.name);
        else this.selected.delete(entry.name);
        this.updateSelection();
      } });
    const name = isDir
      ? h('a', { href: `#/lib/${this.repoId}?p=${encodeURIComponent(path)}`, testid: 'entry-open' },
        icon('folder'), entry.name)
      : h('button', { type: 'button', class: 'link', testid: 'entry-open', title: 'Preview',
        onclick: () => openPreview(this.repoId, path) }, icon('file'), entry.name);
    const download = isDir
      ? h('a', { class: 'button', testid: 'entry-download', download: `${entry.name}.zip`,
        href: repoUrl(this.repoId, 'zip', { p: path }) }, 'ZIP')
      : h('a', { class: 'button', testid: 'entry-download', download: entry.name,
        href: repoUrl(this.repoId, 'file', { p: path }) }, 'Download');
    return h('tr', { testid: 'entry-row', dataset: { name: entry.name, type: entry.type } },
      h('td', { class: 'check' }, check), h('td', { class: 'name' }, name),
      h('td', { class: 'muted', testid: 'entry-size' }, isDir ? '' : formatSize(entry.size)),
      h('td', { class: 'muted' }, formatTime(entry.mtime)),
      h('td', { class: 'actions' }, download,
        h('button', { type: 'button', testid: 'entry-rename', onclick: () => this.rename(entry) },
          'Rename'),
        h('button', { type: 'button', testid: 'entry-move',
          onclick: () => this.transfer('move', [entry.name]) }, 'Move'),
        h('button', { type: 'button', testid: 'entry-copy',
          onclick: () => this.transfer('copy', [entry.name]) }, 'Copy'),
        isDir ? null : h('button', { type: 'button', testid: 'entry-history',
          onclick: () => openFileHistory(this.repoId, path, () => this.reload()) }, 'History'),
        h('button', { type: 'button', class: 'danger', testid: 'entry-delete',
          onclick: () => this.remove([entry.name]) }, 'Delete')));
  }

  toggleAll(on) {
    this.selected = new Set(on ? this.entries.map((e) => e.name) : []);
    this.renderRows();
  }

  updateSelection() {
    const count = this.selected.size;
    this.selectionBar.textContent = count ? `${count} selected` : '';
    this.selectAll.checked = count > 0 && count === this.entries.length;
    this.selectAll.indeterminate = count > 0 && count < this.entries.length;
    for (const id of ['move-selected', 'copy-selected', 'delete-selected']) {
      const button = this.main.querySelector(`[data-testid="${id}"]`);
      if (button) button.disabled = count === 0;
    }
  }

  /** Run a change, unlocking the library first if needed; reload and report errors. */
  async change(action, done) {
    try {
      await action();
      if (done) notify(done);
    } catch (error) {
      if (error.status === 440 && await this.app.unlock(this.library)) {
        await this.change(action, done);
        return;
      }
      showError(error);
    }
    await this.reload();
  }

  async newFolder() {
    const name = await promptDialog('New folder', 'Folder name', '');
    if (!name) return;
    await this.change(() => api('POST', repoUrl(this.repoId, 'dir', { p: joinPath(this.path, name) })),
      `Created folder “${name}”`);
  }

  async rename(entry) {
    const name = await promptDialog(`Rename “${entry.name}”`, 'New name', entry.name);
    if (!name || name === entry.name) return;
    await this.change(() => api('POST', repoUrl(this.repoId, 'move'),
      { path: joinPath(this.path, entry.name), dst_dir: this.path, new_name: name }),
    `Renamed to “${name}”`);
  }

  /** Libraries a copy or move may go to: writable ones, this one always (fresh flags). */
  async destinations() {
    try {
      const all = await this.app.loadLibraries();
      return all.filter((lib) => lib.id === this.repoId || lib.permission === 'rw');
    } catch (error) {
      showError(error);
      return [this.library];
    }
  }

  /** Ask for the password of each locked encrypted library of `libraries`; false if cancelled. */
  async unlockAll(libraries) {
    for (const library of libraries) {
      if (library.encrypted && library.unlocked === false && !await this.app.unlock(library)) {
        return false;
      }
      if (library.id === this.repoId) this.library.unlocked = library.unlocked;
    }
    return true;
  }

  /** After a 440: unlock whichever of `ids` the server now reports locked; false if none/cancelled. */
  async unlockReported(ids) {
    const fresh = await this.app.loadLibraries();
    const locked = fresh.filter((lib) => ids.includes(lib.id) && lib.encrypted && !lib.unlocked);
    return locked.length > 0 && this.unlockAll(locked);
  }

  /** Copy or move `names` to a folder the user picks, in this library or another one. */
  async transfer(kind, names = [...this.selected]) {
    if (!names.length) return;
    const verb = kind === 'move' ? 'Move' : 'Copy';
    const libraries = await this.destinations();
    const target = await folderPicker({
      title: `${verb} ${names.length === 1 ? `“${names[0]}”` : `${names.length} items`} to…`,
      repoId: this.repoId, start: this.path, libraries,
      unlock: (library) => this.app.unlock(library),
    });
    if (target === null) return;
    const source = libraries.find((lib) => lib.id === this.repoId) || this.library;
    const destination = libraries.find((lib) => lib.id === target.repoId) || source;
    const elsewhere = destination.id !== source.id;
    const sides = elsewhere ? [source, destination] : [source];
    const remaining = [...names];
    const sendAll = async () => {
      while (remaining.length) {
        await api('POST', repoUrl(this.repoId, kind), { path: joinPath(this.path, remaining[0]),
          dst_dir: target.path, dst_repo: elsewhere ? destination.id : undefined });
        remaining.shift();
      }
    };
    try {
      if (!await this.unlockAll(sides)) return;
      try {
        await sendAll();
      } catch (error) {
        if (error.status !== 440 || !await this.unlockReported(sides.map((lib) => lib.id))) {
          throw error;
        }
        await sendAll(); // once more, from the first item not done yet
      }
      this.selected.clear();
      notify(`${kind === 'move' ? 'Moved' : 'Copied'} ${names.length} item(s) to ${target.path}`
        + `${elsewhere ? ` in “${destination.name}”` : ''}`);
    } catch (error) {
      showError(error);
    }
    await this.reload();
  }

  async remove(names) {
    if (!names.length) return;
    const what = names.length === 1 ? `“${names[0]}”` : `${names.length} items`;
    if (!await confirmDialog('Delete', `Delete ${what}? You can restore it from the trash.`,
      'Delete')) return;
    await this.change(async () => {
      await api('POST', repoUrl(this.repoId, 'delete'),
        { paths: names.map((name) => joinPath(this.path, name)) });
      this.selected.clear();
    }, `Deleted ${what}`);
  }

  async upload(files) {
    const existing = new Set(this.entries.filter((e) => e.type === 'file').map((e) => e.name));
    const clashes = files.filter((file) => existing.has(file.name));
    let replace = false;
    if (clashes.length) {
      replace = await confirmDialog('Replace files?', `${clashes.map((f) => f.name).join(', ')} `
        + 'already exist here. Replace them with the new versions (the old ones stay in the '
        + 'history)? Cancel keeps both.', 'Replace');
    }
    if (this.library.encrypted && !this.library.unlocked && !await this.app.unlock(this.library)) {
      return;
    }
    this.app.uploads.add(this.repoId, this.path, files, (name) => replace && existing.has(name));
  }
}
