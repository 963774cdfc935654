/**
 * The files of a packaged Helm chart (.tgz), read directly: gunzip (node:zlib) and a small tar reader.
 *
 * Why not `helm show values`: the values lint needs more than the parent chart's values.yaml. For the
 * 1.8 umbrella chart helm prints only the parent's file, not the subcharts' (charts/agent/values.yaml,
 * ...), and the lint also reads the templates to learn which keys they use that values.yaml only
 * mentions in a comment (kubeProxyReplacement from 1.10, config.ipam in 1.8). Reading the archive is
 * one file read per chart, with no process to start.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { PreconditionError } from '../errors.js';

/** A chart's files by path relative to the chart's directory (`values.yaml`, `charts/agent/values.yaml`). */
export type ChartFiles = ReadonlyMap<string, Buffer>;

const BLOCK = 512;

function field(header: Buffer, offset: number, length: number): string {
  const raw = header.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? length : end).toString('utf8');
}

function octal(header: Buffer, offset: number, length: number): number {
  const text = field(header, offset, length).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

/** The regular files of a tar stream by path (ustar, pax `path` records and GNU long names). */
export function readTar(tar: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  let longName: string | undefined;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break; // end of archive
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] ?? 0);
    const body = tar.subarray(offset + BLOCK, offset + BLOCK + size);
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') {
      longName = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString('utf8'))?.[1] ?? longName;
      continue;
    }
    if (type === 'L') {
      longName = field(body, 0, body.length);
      continue;
    }
    if (type === 'g') continue;
    const prefix = field(header, 345, 155);
    const name = longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    longName = undefined;
    if (type === '0' || type === '\0') files.set(name, Buffer.from(body));
  }
  return files;
}

/** The files of a packaged chart, with the chart's own top directory (`cilium/`) stripped. */
export function chartFilesFromTgz(tgz: Buffer): ChartFiles {
  const out = new Map<string, Buffer>();
  for (const [name, data] of readTar(gunzipSync(tgz))) {
    const slash = name.indexOf('/');
    if (slash !== -1) out.set(name.slice(slash + 1), data);
  }
  return out;
}

const archives = new Map<string, Promise<Buffer>>();

/**
 * The packaged chart's bytes (read once per process: the lint and the render check's key both need
 * them), or a PreconditionError saying how to restore the bundled charts.
 */
export function readChartArchive(chartPath: string): Promise<Buffer> {
  let bytes = archives.get(chartPath);
  if (!bytes) {
    bytes = readFile(chartPath).catch((err: NodeJS.ErrnoException) => {
      archives.delete(chartPath);
      throw new PreconditionError(`cannot read chart ${chartPath}: ${err.code ?? err.message}; restore the bundled charts with node scripts/fetch-charts.mjs`);
    });
    archives.set(chartPath, bytes);
  }
  return bytes;
}

const cache = new Map<string, Promise<ChartFiles>>();

/** Reads a packaged chart once per process. */
export function loadChartFiles(chartPath: string): Promise<ChartFiles> {
  let files = cache.get(chartPath);
  if (!files) {
    files = readChartArchive(chartPath).then(chartFilesFromTgz);
    files.catch(() => cache.delete(chartPath));
    cache.set(chartPath, files);
  }
  return files;
}
