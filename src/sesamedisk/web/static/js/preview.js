// The preview modal: images, paged PDF and office documents, text and markdown.

import { api, repoUrl } from './api.js';
import { baseName, h, mount } from './dom.js';
import { modal } from './dialogs.js';

function pagedView(repoId, path, pages) {
  let page = 1;
  const image = h('img', { class: 'page', testid: 'preview-page', alt: `page 1 of ${path}` });
  const counter = h('span', { testid: 'preview-page-number' });
  const prev = h('button', { type: 'button', testid: 'preview-prev', onclick: () => show(page - 1) },
    '‹ Previous');
  const next = h('button', { type: 'button', testid: 'preview-next', onclick: () => show(page + 1) },
    'Next ›');
  function show(n) {
    page = Math.max(1, Math.min(n, pages));
    image.dataset.loaded = '';
    image.src = repoUrl(repoId, 'preview/page', { p: path, n: page });
    image.alt = `page ${page} of ${baseName(path)}`;
    counter.textContent = `Page ${page} of ${pages}`;
    prev.disabled = page <= 1;
    next.disabled = page >= pages;
  }
  image.addEventListener('load', () => { image.dataset.loaded = String(page); });
  show(1);
  return [h('div', { class: 'pager' }, prev, counter, next), h('div', { class: 'paper' }, image)];
}

function body(repoId, path, info) {
  const download = h('a', { href: repoUrl(repoId, 'file', { p: path }), download: baseName(path),
    testid: 'preview-download', class: 'button' }, 'Download');
  switch (info.kind) {
    case 'image': {
      const image = h('img', { class: 'image', testid: 'preview-image', alt: baseName(path),
        src: repoUrl(repoId, 'preview/image', { p: path }) });
      image.addEventListener('load', () => { image.dataset.loaded = '1'; });
      return [image, download];
    }
    case 'text':
    case 'markdown': {
      const text = h('article', { class: `text ${info.kind}`, testid: 'preview-text' });
      text.innerHTML = info.html || '';  // the server renders escaped, script-free HTML
      return [text, download];
    }
    default:
      if (info.pages) return [...pagedView(repoId, path, info.pages), download];
      return [h('p', { testid: 'preview-none' }, 'No preview for this kind of file.'), download];
  }
}

/** Open the preview of a file in a modal. */
export function openPreview(repoId, path) {
  return modal({
    title: baseName(path),
    testid: 'preview',
    wide: true,
    build() {
      const box = h('div', { class: 'preview-body', testid: 'preview-body' },
        h('p', { class: 'muted' }, 'Preparing preview…'));
      api('GET', repoUrl(repoId, 'preview', { p: path }))
        .then((info) => {
          box.dataset.kind = info.kind;
          mount(box, body(repoId, path, info));
        })
        .catch((error) => {
          box.dataset.kind = 'error';
          mount(box, h('p', { class: 'error', testid: 'preview-error' }, error.message));
        });
      return box;
    },
  });
}
