// Resumable uploads: 8 MiB chunks with Content-Range, retries from the server's
// `received`, and unfinished uploads remembered in localStorage across reloads.

import { ApiError, api, repoUrl } from './api.js';
import { formatSize, h, joinPath, mount } from './dom.js';

export const CHUNK_BYTES = 8 * 1024 * 1024;
const STORE_KEY = 'sesame.uploads';
const MAX_RETRIES = 6;

function loadStore() {
  try {
    return JSON.parse(localStorage.getItem(STORE_KEY) || '{}') || {};
  } catch {
    return {};
  }
}

function saveStore(store) {
  localStorage.setItem(STORE_KEY, JSON.stringify(store));
}

/** The key that recognises the same file picked again for the same place. */
function resumeKey(repoId, path, file) {
  return [repoId, path, file.size, file.lastModified].join('|');
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

async function sha256Hex(blob) {
  if (!(window.crypto && crypto.subtle)) return null;  // only in secure contexts
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** PUT one chunk with XMLHttpRequest (for upload progress); resolves with the JSON answer. */
function putChunk(uploadId, blob, start, total, onProgress, digest) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', `/api/v1/uploads/${encodeURIComponent(uploadId)}`);
    xhr.setRequestHeader('X-Sesame-Request', '1');
    // An empty body asks for the state (and finishes an upload whose bytes all arrived).
    xhr.setRequestHeader('Content-Range', blob.size
      ? `bytes ${start}-${start + blob.size - 1}/${total}` : `bytes */${total}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    if (digest) xhr.setRequestHeader('X-Chunk-SHA256', digest);
    xhr.upload.onprogress = (event) => onProgress(start + event.loaded);
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { body = null; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body || {});
      else reject(new ApiError(xhr.status, (body && body.error_msg) || `HTTP ${xhr.status}`, body));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network error', null));
    xhr.send(blob);
  });
}

/** One file on its way to the server, with its row in the uploads panel. */
class UploadItem {
  constructor(repoId, dir, file, replace) {
    this.repoId = repoId;
    this.path = joinPath(dir, file.name);
    this.file = file;
    this.replace = replace;
    this.sent = 0;
    this.state = 'queued';
    this.bar = h('progress', { max: file.size || 1, value: 0, testid: 'upload-progress',
      dataset: { name: file.name } });
    this.label = h('span', { class: 'percent', testid: 'upload-percent' }, '0%');
    this.status = h('span', { class: 'muted', testid: 'upload-status' }, 'queued');
    this.row = h('li', { class: 'upload', testid: 'upload-item',
      dataset: { name: file.name, state: 'queued' } },
    h('span', { class: 'name' }, file.name), h('span', { class: 'muted' }, formatSize(file.size)),
    this.bar, this.label, this.status);
  }

  progress(sent) {
    this.sent = Math.min(sent, this.file.size);
    this.bar.value = this.file.size ? this.sent : 1;
    const percent = this.file.size ? Math.floor((100 * this.sent) / this.file.size) : 100;
    this.label.textContent = `${percent}%`;
  }

  setState(state, text = state) {
    this.state = state;
    this.row.dataset.state = state;
    this.status.textContent = text;
  }
}

/** The queue of uploads and its panel with per-file and overall progress. */
export class Uploads {
  constructor(panel, onUploaded) {
    this.panel = panel;
    this.onUploaded = onUploaded;
    this.items = [];
    this.running = false;
    this.overall = h('progress', { max: 1, value: 0, testid: 'upload-overall' });
    this.overallLabel = h('span', { class: 'percent', testid: 'upload-overall-percent' }, '0%');
    this.list = h('ul', { class: 'upload-list', testid: 'upload-list' });
    this.toggle = h('button', { type: 'button', class: 'link', testid: 'upload-toggle',
      onclick: () => this.showList(this.list.hidden) }, 'Hide');
    mount(panel,
      h('header', {}, h('strong', {}, 'Uploads'), this.overall, this.overallLabel, this.toggle,
        h('button', { type: 'button', class: 'icon', testid: 'upload-panel-close',
          title: 'Hide finished uploads', onclick: () => this.clearFinished() }, '×')),
      this.list);
  }

  /** Queue files for the folder `dir` of library `repoId`; `replace(name)` says overwrite. */
  add(repoId, dir, files, replace = () => false) {
    for (const file of files) {
      const item = new UploadItem(repoId, dir, file, replace(file.name));
      this.items.push(item);
      this.list.append(item.row);
    }
    this.panel.hidden = false;
    this.showList(true);
    this.refreshOverall();
    this.run();
  }

  showList(visible) {
    this.list.hidden = !visible;
    this.toggle.textContent = visible ? 'Hide' : 'Details';
  }

  clearFinished() {
    this.items = this.items.filter((item) => {
      const finished = item.state === 'done' || item.state === 'failed';
      if (finished) item.row.remove();
      return !finished;
    });
    if (!this.items.length) this.panel.hidden = true;
    this.refreshOverall();
  }

  refreshOverall() {
    const total = this.items.reduce((sum, item) => sum + (item.file.size || 1), 0);
    const sent = this.items.reduce((sum, item) => sum + (item.file.size ? item.sent
      : (item.state === 'done' ? 1 : 0)), 0);
    this.overall.max = total || 1;
    this.overall.value = sent;
    this.overallLabel.textContent = `${total ? Math.floor((100 * sent) / total) : 0}%`;
  }

  async run() {
    if (this.running) return;
    this.running = true;
    try {
      for (let item = this.next(); item; item = this.next()) {
        await this.upload(item);
      }
    } finally {
      this.running = false;
    }
    if (this.items.every((item) => item.state === 'done')) this.showList(false);
  }

  next() {
    return this.items.find((item) => item.state === 'queued');
  }

  async upload(item) {
    item.setState('uploading', 'uploading');
    try {
      const dirent = await this.send(item);
      item.progress(item.file.size);
      item.setState('done', 'done');
      this.refreshOverall();
      this.onUploaded(item.repoId, item.path, dirent);
    } catch (error) {
      item.setState('failed', `failed: ${error.message}`);
    }
    this.refreshOverall();
  }

  /** Upload one file, resuming a remembered upload when there is one. */
  async send(item) {
    const { file } = item;
    if (file.size === 0) {
      return api('PUT', repoUrl(item.repoId, 'file', { p: item.path }), undefined);
    }
    const key = resumeKey(item.repoId, item.path, file);
    let { id, received } = await this.session(item, key);
    let failures = 0;
    for (;;) {
      item.progress(received);
      this.refreshOverall();
      const blob = file.slice(received, Math.min(received + CHUNK_BYTES, file.size));
      try {
        const digest = await sha256Hex(blob);
        const answer = await putChunk(id, blob, received, file.size, (sent) => {
          item.progress(sent);
          this.refreshOverall();
        }, digest);
        received = answer.received;
        failures = 0;
        if (answer.file || received >= file.size) {
          this.forget(key);
          return answer.file || null;
        }
      } catch (error) {
        if (error.status === 409 && error.body && Number.isInteger(error.body.received)) {
          received = error.body.received;  // the server has a different offset: go on from it
        } else if (error.status === 404 || error.status === 410) {
          this.forget(key);  // the upload expired: start over
          ({ id, received } = await this.session(item, key));
        } else if (error.status >= 400 && error.status < 500 && error.status !== 408
            && error.status !== 429) {
          throw error;
        } else {
          failures += 1;
          if (failures > MAX_RETRIES) throw error;
          item.setState('uploading', `retrying (${failures})…`);
          await sleep(500 * 2 ** failures);
          ({ received } = await api('GET', `/api/v1/uploads/${encodeURIComponent(id)}`));
          item.setState('uploading', 'uploading');
        }
      }
    }
  }

  /** A remembered upload still known to the server, or a new one. */
  async session(item, key) {
    const store = loadStore();
    const known = store[key];
    if (known) {
      try {
        const state = await api('GET', `/api/v1/uploads/${encodeURIComponent(known.id)}`);
        item.setState('uploading', 'resuming');
        return { id: state.id || known.id, received: state.received };
      } catch {
        this.forget(key);
      }
    }
    const body = { path: item.path, size: item.file.size,
      mtime: Math.floor(item.file.lastModified / 1000), replace: item.replace };
    const created = await api('POST', repoUrl(item.repoId, 'uploads'), body);
    store[key] = { id: created.id, path: item.path, name: item.file.name, at: Date.now() };
    saveStore(store);
    return { id: created.id, received: created.received || 0 };
  }

  forget(key) {
    const store = loadStore();
    delete store[key];
    saveStore(store);
  }
}

/** Unfinished uploads remembered for a library folder: [{name, path}]. */
export function unfinishedUploads(repoId) {
  return Object.entries(loadStore())
    .filter(([key]) => key.startsWith(`${repoId}|`))
    .map(([, value]) => value);
}
