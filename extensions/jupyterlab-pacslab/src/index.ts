import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Clipboard,
  ICommandPalette,
  MainAreaWidget,
  Notification
} from '@jupyterlab/apputils';
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ILauncher } from '@jupyterlab/launcher';
import { ServerConnection } from '@jupyterlab/services';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
  '<rect x="3" y="3" width="18" height="18" rx="2" fill="none" stroke="#616161" stroke-width="2"/>' +
  '<circle cx="12" cy="12" r="5"/></g></svg>';
export const pacsIcon = new LabIcon({ name: 'pacslab:pacs', svgstr: ICON_SVG });

export namespace CommandIDs {
  export const open = 'pacslab:open-panel';
  export const search = 'pacslab:search';
  export const upload = 'pacslab:upload';
  export const view = 'pacslab:open-series';
  export const notebook = 'pacslab:open-series-notebook';
}

type Json = { [key: string]: any };

function tag(ds: Json, t: string): string {
  const v = ds[t];
  if (!v || !v.Value || !v.Value.length) {
    return '';
  }
  const first = v.Value[0];
  if (first && typeof first === 'object' && 'Alphabetic' in first) {
    return String(first.Alphabetic);
  }
  return v.Value.map((x: any) => String(x)).join('\\');
}

/** Talks to the server extension (DICOMweb + pacslab API) with Jupyter's credentials. */
export class PacsClient {
  readonly settings = ServerConnection.makeSettings();

  url(...parts: string[]): string {
    return URLExt.join(this.settings.baseUrl, 'pacslab', ...parts);
  }
  dicomweb(path: string): string {
    return URLExt.join(this.settings.baseUrl, 'pacslab', 'dicom-web') + path;
  }

  /** fetch with Jupyter's token and XSRF cookie (not ServerConnection.makeRequest: its cache-busting
   * query parameter is not a DICOM attribute and QIDO-RS refuses it). */
  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers || {});
    const token = this.settings.token || PageConfig.getToken();
    if (token) {
      headers.set('Authorization', `token ${token}`);
    }
    const xsrf = document.cookie.match('\\b_xsrf=([^;]*)\\b');
    if (xsrf) {
      headers.set('X-XSRFToken', xsrf[1]);
    }
    const r = await fetch(url, { ...init, headers, credentials: 'same-origin', cache: 'no-store' });
    if (!r.ok) {
      throw new Error(`${r.status} ${r.statusText} (${url})`);
    }
    return r;
  }

  async json(url: string): Promise<any> {
    const r = await this.request(url, {
      headers: { Accept: 'application/dicom+json, application/json' }
    });
    const text = await r.text();
    return text ? JSON.parse(text) : [];
  }

  async studies(q: { [k: string]: string }): Promise<Json[]> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) {
      if (v) {
        params.set(k, v);
      }
    }
    params.set('includefield', 'all');
    return this.json(this.dicomweb('/studies?' + params.toString()));
  }

  async series(study: string): Promise<Json[]> {
    return this.json(this.dicomweb(`/studies/${study}/series?includefield=all`));
  }

  async instances(study: string, series: string): Promise<Json[]> {
    return this.json(
      this.dicomweb(`/studies/${study}/series/${series}/instances`)
    );
  }

  async blobUrl(url: string, accept: string): Promise<string> {
    const r = await this.request(url, { headers: { Accept: accept } });
    return URL.createObjectURL(await r.blob());
  }

  async status(): Promise<Json> {
    return this.json(this.url('api', 'status'));
  }

  async deleteStudy(study: string): Promise<void> {
    await this.request(this.dicomweb(`/studies/${study}`), { method: 'DELETE' });
  }

  /** POST one file with upload progress (XMLHttpRequest: fetch has no upload progress). */
  upload(file: File, progress: (fraction: number) => void): Promise<Json> {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      const url =
        this.url('api', 'upload') + '?filename=' + encodeURIComponent(file.name);
      xhr.open('POST', url);
      const token = this.settings.token || PageConfig.getToken();
      if (token) {
        xhr.setRequestHeader('Authorization', `token ${token}`);
      }
      const xsrf = document.cookie.match('\\b_xsrf=([^;]*)\\b');
      if (xsrf) {
        xhr.setRequestHeader('X-XSRFToken', xsrf[1]);
      }
      xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      xhr.upload.onprogress = e => {
        if (e.lengthComputable) {
          progress(e.loaded / e.total);
        }
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve(JSON.parse(xhr.responseText));
        } else {
          reject(new Error(`${xhr.status} ${xhr.statusText}`));
        }
      };
      xhr.onerror = () => reject(new Error('network error'));
      xhr.send(file);
    });
  }
}

function el<K extends keyof HTMLElementTagNameMap>(
  name: K,
  attrs: { [k: string]: string } = {},
  text = ''
): HTMLElementTagNameMap[K] {
  const e = document.createElement(name);
  for (const [k, v] of Object.entries(attrs)) {
    e.setAttribute(k, v);
  }
  if (text) {
    e.textContent = text;
  }
  return e;
}

export function snippet(archive: string, series: string): string {
  return (
    'import pacslab\n' +
    `archive = pacslab.open_archive(${JSON.stringify(archive)})\n` +
    `archive.view(${JSON.stringify(series)})`
  );
}

/** A main-area panel showing one rendered frame of a series (WADO-RS /rendered). */
export class FrameView extends Widget {
  constructor(
    client: PacsClient,
    study: string,
    series: string,
    title: string
  ) {
    super();
    this.addClass('pacslab-frame');
    this.id = `pacslab-frame-${series}`;
    this.title.label = title || 'Series';
    this.title.closable = true;
    this.title.icon = pacsIcon;
    const info = el('div', { class: 'pl-frame-info' }, 'Loading…');
    const canvas = el('canvas', { class: 'pl-frame-canvas' });
    const slider = el('input', { type: 'range', min: '0', max: '0', value: '0', class: 'pl-frame-slider' });
    this.node.append(info, slider, canvas);
    void this.load(client, study, series, info, canvas, slider);
  }

  private async load(
    client: PacsClient,
    study: string,
    series: string,
    info: HTMLElement,
    canvas: HTMLCanvasElement,
    slider: HTMLInputElement
  ): Promise<void> {
    try {
      const inst = await client.instances(study, series);
      inst.sort((a, b) => Number(tag(a, '00200013')) - Number(tag(b, '00200013')));
      slider.max = String(Math.max(0, inst.length - 1));
      const show = async (i: number) => {
        const sop = tag(inst[i], '00080018');
        const url = await client.blobUrl(
          client.dicomweb(`/studies/${study}/series/${series}/instances/${sop}/rendered`),
          'image/png'
        );
        const img = new Image();
        img.onload = () => {
          canvas.width = img.naturalWidth;
          canvas.height = img.naturalHeight;
          canvas.getContext('2d')!.drawImage(img, 0, 0);
          URL.revokeObjectURL(url);
          canvas.dataset.rendered = String(i);
          info.textContent = `Instance ${i + 1} / ${inst.length}`;
        };
        img.src = url;
      };
      slider.oninput = () => void show(Number(slider.value));
      const mid = Math.floor(inst.length / 2);
      slider.value = String(mid);
      await show(mid);
    } catch (err) {
      info.textContent = `Could not load the series: ${err}`;
    }
  }
}

/** The "PACS" side panel. */
export class PacsPanel extends Widget {
  readonly client = new PacsClient();
  private fields: { [k: string]: HTMLInputElement | HTMLSelectElement } = {};
  private list: HTMLElement;
  private statusNode: HTMLElement;
  private progressNode: HTMLElement;
  private fileInput: HTMLInputElement;
  archive = '';
  role = 'read';

  constructor(private app: JupyterFrontEnd) {
    super();
    this.id = 'pacslab-panel';
    this.addClass('pacslab-panel');
    this.title.icon = pacsIcon;
    this.title.caption = 'PACS';

    const form = el('form', { class: 'pl-search' });
    const add = (key: string, label: string, placeholder: string) => {
      const input = el('input', { name: key, placeholder, 'aria-label': label, class: `pl-field pl-${key}` });
      this.fields[key] = input;
      form.append(input);
    };
    add('patient', 'Patient', 'Patient name or ID');
    add('date', 'Date', 'Date (YYYYMMDD or range A-B)');
    const modality = el('select', { name: 'modality', class: 'pl-field pl-modality', 'aria-label': 'Modality' });
    for (const m of ['', 'CT', 'MR', 'PT', 'CR', 'DX', 'US', 'NM', 'XA', 'MG', 'SEG', 'SR']) {
      modality.append(el('option', { value: m }, m || 'Any modality'));
    }
    this.fields.modality = modality;
    form.append(modality);
    add('description', 'Description', 'Study description');
    const go = el('button', { type: 'submit', class: 'pl-go jp-mod-styled jp-mod-accept' }, 'Search');
    form.append(go);
    form.onsubmit = e => {
      e.preventDefault();
      void this.search();
    };

    const drop = el('div', { class: 'pl-drop' }, 'Drop DICOM files or a zip here, or ');
    this.fileInput = el('input', { type: 'file', multiple: '', class: 'pl-file', accept: '.dcm,.zip,application/dicom,application/zip,*/*' });
    const pick = el('button', { type: 'button', class: 'pl-upload jp-mod-styled' }, 'Upload…');
    pick.onclick = () => this.fileInput.click();
    this.fileInput.onchange = () => {
      if (this.fileInput.files) {
        void this.uploadFiles(Array.from(this.fileInput.files));
      }
      this.fileInput.value = '';
    };
    drop.append(pick, this.fileInput);
    drop.ondragover = e => {
      e.preventDefault();
      drop.classList.add('pl-over');
    };
    drop.ondragleave = () => drop.classList.remove('pl-over');
    drop.ondrop = e => {
      e.preventDefault();
      drop.classList.remove('pl-over');
      if (e.dataTransfer?.files) {
        void this.uploadFiles(Array.from(e.dataTransfer.files));
      }
    };
    this.progressNode = el('div', { class: 'pl-progress' });
    this.list = el('div', { class: 'pl-studies' });
    this.statusNode = el('div', { class: 'pl-status' }, 'Status: …');
    const refresh = el('button', { type: 'button', class: 'pl-refresh jp-mod-styled' }, '↻');
    refresh.title = 'Refresh the status';
    refresh.onclick = () => void this.refreshStatus();
    const head = el('div', { class: 'pl-head' });
    head.append(el('h3', {}, 'PACS'), refresh);
    this.node.append(head, form, drop, this.progressNode, this.list, this.statusNode);
  }

  protected onAfterAttach(): void {
    void this.refreshStatus().then(() => this.search());
  }

  focusSearch(): void {
    (this.fields.patient as HTMLInputElement).focus();
  }

  openFilePicker(): void {
    this.fileInput.click();
  }

  async refreshStatus(): Promise<void> {
    try {
      const s = await this.client.status();
      this.archive = s.archive;
      this.role = s.role;
      const d = s.dicom || {};
      const dicom = d.running
        ? `DICOM ${d.ae_title} @ ${d.host}:${d.port}`
        : d.error
          ? `DICOM error: ${d.error}`
          : 'DICOM off';
      const last = s.last_study ? ` · last study ${s.last_study.study}` : '';
      this.statusNode.textContent = `DICOMweb ${s.dicomweb.url} · ${dicom}${last}`;
      this.statusNode.dataset.dicom = d.running ? 'running' : 'off';
    } catch (err) {
      this.statusNode.textContent = `pacslab server extension unavailable: ${err}`;
    }
  }

  async search(): Promise<void> {
    const f = (k: string) => this.fields[k].value.trim();
    const q: { [k: string]: string } = {};
    const wild = (v: string) => (v && !v.includes('*') ? `*${v}*` : v);
    if (f('patient')) {
      q.PatientName = wild(f('patient'));
    }
    if (f('date')) {
      q.StudyDate = f('date').replace(/[^0-9-]/g, '');
    }
    if (f('modality')) {
      q.ModalitiesInStudy = f('modality');
    }
    if (f('description')) {
      q.StudyDescription = wild(f('description'));
    }
    this.list.textContent = 'Searching…';
    try {
      let studies = await this.client.studies(q);
      if (!studies.length && q.PatientName) {
        // try the patient ID instead of the name
        const { PatientName, ...rest } = q;
        studies = await this.client.studies({ ...rest, PatientID: PatientName });
      }
      this.renderStudies(studies);
    } catch (err) {
      this.list.textContent = `Search failed: ${err}`;
    }
  }

  private renderStudies(studies: Json[]): void {
    this.list.textContent = '';
    this.list.dataset.count = String(studies.length);
    if (!studies.length) {
      this.list.append(el('div', { class: 'pl-empty' }, 'No studies'));
      return;
    }
    for (const st of studies) {
      const uid = tag(st, '0020000D');
      const row = el('div', { class: 'pl-study', 'data-uid': uid });
      const line = el('div', { class: 'pl-study-line' });
      const label =
        `${tag(st, '00100010') || '(no name)'} · ${tag(st, '00080020')} · ` +
        `${tag(st, '00080061')} · ${tag(st, '00081030')}`;
      const toggle = el('span', { class: 'pl-study-label' }, '▸ ' + label);
      toggle.title = uid;
      line.append(toggle);
      if (this.role === 'admin') {
        const del = el('button', { class: 'pl-delete jp-mod-styled jp-mod-warn', type: 'button' }, 'Delete');
        del.onclick = async () => {
          if (!window.confirm(`Delete study ${uid}?`)) {
            return;
          }
          try {
            await this.client.deleteStudy(uid);
            row.remove();
          } catch (err) {
            Notification.error(`Delete failed: ${err}`);
          }
        };
        line.append(del);
      }
      const seriesNode = el('div', { class: 'pl-series-list' });
      let open = false;
      toggle.onclick = async () => {
        open = !open;
        toggle.textContent = (open ? '▾ ' : '▸ ') + label;
        if (!open) {
          seriesNode.textContent = '';
          return;
        }
        await this.renderSeries(uid, seriesNode);
      };
      row.append(line, seriesNode);
      this.list.append(row);
    }
  }

  private async renderSeries(study: string, node: HTMLElement): Promise<void> {
    node.textContent = 'Loading…';
    let series: Json[];
    try {
      series = await this.client.series(study);
    } catch (err) {
      node.textContent = `Failed: ${err}`;
      return;
    }
    node.textContent = '';
    for (const se of series) {
      const uid = tag(se, '0020000E');
      const desc = `${tag(se, '00080060')} #${tag(se, '00200011')} ${tag(se, '0008103E')} (${tag(se, '00201209')} images)`;
      const row = el('div', { class: 'pl-series', 'data-uid': uid });
      const img = el('img', { class: 'pl-thumb', alt: '' });
      this.client
        .blobUrl(this.client.dicomweb(`/studies/${study}/series/${uid}/thumbnail`), 'image/png, image/jpeg')
        .then(u => (img.src = u))
        .catch(() => img.classList.add('pl-thumb-missing'));
      const text = el('div', { class: 'pl-series-text' }, desc);
      const actions = el('div', { class: 'pl-actions' });
      const view = el('button', { type: 'button', class: 'pl-view jp-mod-styled' }, 'View');
      view.title = 'Open the rendered series in the main area';
      view.onclick = () =>
        void this.app.commands.execute(CommandIDs.view, { study, series: uid, title: desc });
      const nb = el('button', { type: 'button', class: 'pl-notebook jp-mod-styled' }, 'Notebook');
      nb.title = 'Open in a new notebook with pacslab viewer';
      nb.onclick = () =>
        void this.app.commands.execute(CommandIDs.notebook, { series: uid, archive: this.archive });
      const copy = el('button', { type: 'button', class: 'pl-copy jp-mod-styled' }, 'Copy');
      copy.title = 'Copy a Python snippet that opens this series';
      copy.onclick = () => {
        Clipboard.copyToSystem(snippet(this.archive, uid));
        Notification.info('Snippet copied', { autoClose: 2000 });
      };
      actions.append(view, nb, copy);
      row.append(img, text, actions);
      node.append(row);
    }
  }

  async uploadFiles(files: File[]): Promise<void> {
    let done = 0;
    for (const file of files) {
      const line = el('div', { class: 'pl-upload-item' });
      const bar = el('progress', { max: '1', value: '0' });
      const text = el('span', {}, ` ${file.name}`);
      line.append(bar, text);
      this.progressNode.append(line);
      try {
        const r = await this.client.upload(file, f => (bar.value = f));
        bar.value = 1;
        text.textContent = ` ${file.name}: ${r.new} new, ${r.duplicate} duplicate, ${r.rejected.length} rejected`;
        line.classList.add('pl-done');
        done += 1;
      } catch (err) {
        text.textContent = ` ${file.name}: failed (${err})`;
        line.classList.add('pl-failed');
      }
    }
    this.progressNode.dataset.done = String(done);
    await this.refreshStatus();
    await this.search();
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'pacslab-jupyterlab:plugin',
  description: 'The pacslab archive in JupyterLab: a PACS side panel.',
  autoStart: true,
  optional: [ICommandPalette, ILauncher, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    launcher: ILauncher | null,
    restorer: ILayoutRestorer | null
  ) => {
    const panel = new PacsPanel(app);
    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, 'pacslab-panel');
    }
    const { commands } = app;
    commands.addCommand(CommandIDs.open, {
      label: args => (args.isLauncher ? 'PACS browser' : 'PACS: Open Panel'),
      caption: 'Browse the pacslab archive',
      icon: pacsIcon,
      execute: () => {
        app.shell.activateById(panel.id);
      }
    });
    commands.addCommand(CommandIDs.search, {
      label: 'PACS: Search Studies',
      execute: () => {
        app.shell.activateById(panel.id);
        panel.focusSearch();
      }
    });
    commands.addCommand(CommandIDs.upload, {
      label: 'PACS: Upload DICOM Files…',
      execute: () => {
        app.shell.activateById(panel.id);
        panel.openFilePicker();
      }
    });
    commands.addCommand(CommandIDs.view, {
      label: 'PACS: Open Series',
      execute: args => {
        const w = new MainAreaWidget({
          content: new FrameView(
            panel.client,
            String(args.study),
            String(args.series),
            String(args.title || '')
          )
        });
        w.id = `pacslab-view-${args.series}`;
        w.title.label = String(args.title || 'Series');
        w.title.icon = pacsIcon;
        app.shell.add(w, 'main');
        app.shell.activateById(w.id);
        return w;
      }
    });
    commands.addCommand(CommandIDs.notebook, {
      label: 'PACS: Open Series in a Notebook',
      execute: async args => {
        const nb: any = await commands.execute('notebook:create-new', {
          kernelName: 'python3'
        });
        await nb.context.ready;
        const model = nb.content.model;
        const src = snippet(String(args.archive || panel.archive), String(args.series));
        model.sharedModel.insertCell(0, { cell_type: 'code', source: src });
        nb.content.activeCellIndex = 0;
        await nb.sessionContext.ready;
        await commands.execute('notebook:run-cell');
        return nb;
      }
    });
    if (palette) {
      for (const command of [CommandIDs.open, CommandIDs.search, CommandIDs.upload]) {
        palette.addItem({ command, category: 'PACS' });
      }
    }
    if (launcher) {
      launcher.add({
        command: CommandIDs.open,
        category: 'Other',
        rank: 1,
        args: { isLauncher: true }
      });
    }
  }
};

export default plugin;
