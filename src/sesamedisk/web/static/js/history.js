// History: a file's versions, the library's commits, read-only snapshots, revert, trash.

import { api, repoUrl } from './api.js';
import { confirmDialog, modal, notify, showError } from './dialogs.js';
import { baseName, crumbs, formatSize, formatTime, h, icon, joinPath, mount } from './dom.js';

const PAGE = 25;

function titlebar(library, title, testid) {
  return h('div', { class: 'titlebar' }, h('h1', { testid }, title),
    h('nav', { class: 'tabs' },
      h('a', { href: `#/lib/${library.id}?p=/`, testid: 'back-to-files' }, 'Files'),
      h('a', { href: `#/lib/${library.id}/history`, testid: 'library-history' }, 'History'),
      h('a', { href: `#/lib/${library.id}/trash`, testid: 'library-trash' }, 'Trash')));
}

async function restore(repoId, commitId, path) {
  try {
    const result = await api('POST', repoUrl(repoId, 'restore'), { commit_id: commitId, path });
    notify(`Restored ${result.path}`);
    return true;
  } catch (error) {
    showError(error);
    return false;
  }
}

/** A modal listing the versions of one file, each downloadable and restorable. */
export function openFileHistory(repoId, path, onRestored) {
  return modal({
    title: `History of ${baseName(path)}`,
    testid: 'file-history',
    wide: true,
    build(close) {
      const body = h('tbody', { testid: 'version-list' },
        h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'Loading…')));
      api('GET', repoUrl(repoId, 'file/history', { p: path })).then((versions) => {
        mount(body, versions.map((v, index) => h('tr', { testid: 'version-row',
          dataset: { commit: v.commit_id } },
        h('td', {}, formatTime(v.ctime), index === 0 ? ' (current)' : ''),
        h('td', { class: 'muted' }, v.creator), h('td', {}, v.description),
        h('td', { class: 'muted' }, formatSize(v.size)),
        h('td', { class: 'actions' },
          h('a', { class: 'button', testid: 'version-download', download: baseName(path),
            href: repoUrl(repoId, `commits/${v.commit_id}/file`, { p: path }) }, 'Download'),
          index === 0 ? null : h('button', { type: 'button', testid: 'version-restore',
            async onclick() {
              if (await restore(repoId, v.commit_id, path)) {
                close(true);
                onRestored();
              }
            } }, 'Restore')))));
      }).catch((error) => mount(body, h('tr', {}, h('td', { colspan: 5, class: 'error' },
        error.message))));
      return h('table', { class: 'list' }, h('thead', {}, h('tr', {}, h('th', {}, 'When'),
        h('th', {}, 'Who'), h('th', {}, 'Change'), h('th', {}, 'Size'), h('th', {}, ''))), body);
    },
  });
}

/** The library's commits, newest first, with "browse" and "revert to here". */
export async function renderCommits(main, library) {
  const body = h('tbody', { testid: 'commit-list' });
  const more = h('button', { type: 'button', testid: 'commits-more', hidden: true }, 'Show older');
  let offset = 0;
  async function load() {
    const commits = await api('GET', repoUrl(library.id, 'commits', { limit: PAGE, offset }));
    offset += commits.length;
    more.hidden = commits.length < PAGE;
    body.append(...commits.map((c, index) => h('tr', { testid: 'commit-row',
      dataset: { commit: c.id } },
    h('td', {}, formatTime(c.ctime)), h('td', { class: 'muted' }, c.creator),
    h('td', { testid: 'commit-description' }, c.description),
    h('td', { class: 'actions' },
      h('a', { class: 'button', testid: 'commit-browse',
        href: `#/lib/${library.id}/commit/${c.id}?p=/&t=${c.ctime}` }, 'Browse'),
      offset - commits.length + index === 0 ? null : h('button', { type: 'button',
        class: 'danger', testid: 'commit-revert', async onclick() {
          if (!await confirmDialog('Revert library', 'Make the whole library look as it did '
            + `at ${formatTime(c.ctime)}? This adds a new change; nothing is lost.`, 'Revert')) return;
          try {
            await api('POST', repoUrl(library.id, 'revert'), { commit_id: c.id });
            notify('Library reverted');
            await renderCommits(main, library);
          } catch (error) {
            showError(error);
          }
        } }, 'Revert to here')))));
  }
  more.addEventListener('click', () => load().catch(showError));
  mount(main, titlebar(library, `History of ${library.name}`, 'history-title'),
    h('table', { class: 'list' }, h('thead', {}, h('tr', {}, h('th', {}, 'When'), h('th', {}, 'Who'),
      h('th', {}, 'Change'), h('th', {}, ''))), body), more);
  await load();
}

/** A read-only folder of an older commit; files download, anything can be restored. */
export async function renderSnapshot(main, library, commitId, path, ctime) {
  const when = ctime ? formatTime(Number(ctime)) : commitId.slice(0, 8);
  const link = (p) => `#/lib/${library.id}/commit/${commitId}?p=${encodeURIComponent(p)}`
    + (ctime ? `&t=${ctime}` : '');
  const body = h('tbody', { testid: 'snapshot-list' });
  mount(main, titlebar(library, `${library.name} as of ${when}`, 'snapshot-title'),
    h('p', { class: 'notice info', testid: 'snapshot-banner' },
      'A read-only snapshot. Restore copies a file or folder back into the library.'),
    h('nav', { class: 'crumbs', testid: 'crumbs' }, crumbs(path).map((c, i) => [
      i ? h('span', { class: 'sep' }, '/') : '',
      h('a', { href: link(c.path), testid: 'crumb' }, c.name)])),
    h('table', { class: 'list' }, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Size'),
      h('th', {}, 'Modified'), h('th', {}, ''))), body));
  const entries = await api('GET', repoUrl(library.id, `commits/${commitId}/dir`, { p: path }));
  entries.sort((a, b) => (a.type === b.type ? a.name.localeCompare(b.name)
    : (a.type === 'dir' ? -1 : 1)));
  if (!entries.length) {
    mount(body, h('tr', {}, h('td', { colspan: 4, class: 'muted', testid: 'empty-folder' },
      'This folder was empty.')));
    return;
  }
  mount(body, entries.map((entry) => {
    const full = joinPath(path, entry.name);
    const isDir = entry.type === 'dir';
    return h('tr', { testid: 'snapshot-row', dataset: { name: entry.name, type: entry.type } },
      h('td', {}, isDir ? h('a', { href: link(full), testid: 'snapshot-open' }, icon('folder'), entry.name)
        : [icon('file'), entry.name]),
      h('td', { class: 'muted' }, isDir ? '' : formatSize(entry.size)),
      h('td', { class: 'muted' }, formatTime(entry.mtime)),
      h('td', { class: 'actions' },
        isDir ? null : h('a', { class: 'button', testid: 'snapshot-download', download: entry.name,
          href: repoUrl(library.id, `commits/${commitId}/file`, { p: full }) }, 'Download'),
        h('button', { type: 'button', testid: 'snapshot-restore',
          onclick: () => restore(library.id, commitId, full) }, 'Restore')));
  }));
}

/** Deleted files and folders of the library, each restorable. */
export async function renderTrash(main, library) {
  const body = h('tbody', { testid: 'trash-list' });
  mount(main, titlebar(library, `Trash of ${library.name}`, 'trash-title'),
    h('table', { class: 'list' }, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Folder'),
      h('th', {}, 'Size'), h('th', {}, 'Deleted'), h('th', {}, ''))), body));
  const items = await api('GET', repoUrl(library.id, 'trash'));
  if (!items.length) {
    mount(body, h('tr', {}, h('td', { colspan: 5, class: 'muted', testid: 'trash-empty' },
      'The trash is empty.')));
    return;
  }
  mount(body, items.map((item) => h('tr', { testid: 'trash-row',
    dataset: { name: item.name, path: item.path, type: item.type } },
  h('td', {}, icon(item.type === 'dir' ? 'folder' : 'file'), item.name),
  h('td', { class: 'muted' }, item.path.slice(0, item.path.length - item.name.length) || '/'),
  h('td', { class: 'muted' }, item.type === 'dir' ? '' : formatSize(item.size)),
  h('td', { class: 'muted' }, formatTime(item.deleted_at)),
  h('td', { class: 'actions' }, h('button', { type: 'button', testid: 'trash-restore',
    async onclick() {
      try {
        const result = await api('POST', repoUrl(library.id, 'trash/restore'),
          { commit_id: item.commit_id, path: item.path });
        notify(`Restored ${result.path}`);
        await renderTrash(main, library);
      } catch (error) {
        showError(error);
      }
    } }, 'Restore')))));
}
