// The url downloader against a real HTTP server on 127.0.0.1 (node:http), one route per
// behaviour. Every failure case asserts the directory listing: nothing at the final path, and a
// .part only where it is a genuine prefix that a later run may resume.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { buildDatasets } from '../../src/data/dataset.ts';
import { downloadVerified } from '../../src/data/download.ts';
import { parseSources } from '../../src/data/sources.ts';
import { DataError } from '../../src/data/errors.ts';

const BODY = Buffer.from(Array.from({ length: 2000 }, (_, i) => `line ${i} of the corpus\n`).join(''));
const SHA = createHash('sha256').update(BODY).digest('hex');
const half = BODY.length >> 1;

const hits = new Map<string, IncomingMessage['headers'][]>();
type Route = (req: IncomingMessage, res: ServerResponse, n: number) => void;

function sendRange(req: IncomingMessage, res: ServerResponse): void {
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (!m) {
    res.writeHead(200, { 'content-length': BODY.length }).end(BODY);
    return;
  }
  const start = Number(m[1]);
  if (start >= BODY.length) {
    res.writeHead(416).end();
    return;
  }
  res
    .writeHead(206, { 'content-length': BODY.length - start, 'content-range': `bytes ${start}-${BODY.length - 1}/${BODY.length}` })
    .end(BODY.subarray(start));
}

/** Declares the full length, sends the first half, then drops the connection. */
function sendHalfThenDrop(res: ServerResponse): void {
  res.writeHead(200, { 'content-length': BODY.length });
  res.write(BODY.subarray(0, half), () => setImmediate(() => res.destroy()));
}

const GZ = gzipSync(BODY);
const routes: Record<string, Route> = {
  '/corpus.txt.gz': (_req, res) => res.writeHead(200, { 'content-length': GZ.length }).end(GZ),
  '/good.txt': (req, res) => sendRange(req, res),
  '/redirect': (_req, res) => res.writeHead(302, { location: '/good.txt' }).end(),
  '/flaky.txt': (req, res, n) => (n <= 2 ? res.writeHead(503).end('busy') : sendRange(req, res)),
  '/missing.txt': (_req, res) => res.writeHead(404).end('no such file'),
  '/truncated-always.txt': (_req, res) => sendHalfThenDrop(res),
  '/resumable.txt': (req, res, n) => (n === 1 ? sendHalfThenDrop(res) : sendRange(req, res)),
  // Cut short, then the server ignores Range and sends the whole file with 200.
  '/no-range.txt': (_req, res, n) => (n === 1 ? sendHalfThenDrop(res) : res.writeHead(200, { 'content-length': BODY.length }).end(BODY)),
  // The first response stalls after half the body (connection open, nothing more comes).
  '/stall.txt': (req, res, n) => {
    if (n > 1) return sendRange(req, res);
    res.writeHead(200, { 'content-length': BODY.length });
    res.write(BODY.subarray(0, half));
    stalled.push(res);
  },
  '/oversize.txt': (_req, res) => res.writeHead(200, { 'content-length': BODY.length }).end(BODY),
  // No Content-Length (chunked): only counting the bytes can catch the size.
  '/oversize-chunked.txt': (_req, res) => {
    res.writeHead(200);
    for (let i = 0; i < 10; i++) res.write(BODY);
    res.end();
  },
  // Content-Length claims less than the body: the claim is not trusted, the checksum decides.
  '/lying-length.txt': (req, res) => {
    req.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n`);
    req.socket.end(BODY);
    res.detachSocket(req.socket);
  },
};

const stalled: ServerResponse[] = [];
let base = '';
const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const list = hits.get(path) ?? [];
  list.push(req.headers);
  hits.set(path, list);
  const route = routes[path];
  if (route) route(req, res, list.length);
  else res.writeHead(404).end();
});

before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  for (const res of stalled) res.destroy();
  return new Promise<void>((r) => server.close(() => r()));
});

let dir = '';
beforeEach(() => {
  hits.clear();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = mkdtempSync(join(tmpdir(), 'growline-dl-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function req(route: string, extra: Partial<Parameters<typeof downloadVerified>[0]> = {}) {
  return { url: `${base}${route}`, sha256: SHA, maxBytes: 1 << 20, dest: join(dir, 'file.txt'), backoffMs: 5, ...extra };
}

const isDataError = (re: RegExp) => (e: unknown) => e instanceof DataError && re.test(e.message);

test('a good file is downloaded, verified and renamed into place; a second call reuses it', async () => {
  const r = await downloadVerified(req('/good.txt'));
  assert.deepEqual(readdirSync(dir), ['file.txt']);
  assert.deepEqual(readFileSync(r.path), BODY);
  assert.equal(r.downloaded, true);
  assert.equal(r.attempts, 1);
  const again = await downloadVerified(req('/good.txt'));
  assert.equal(again.downloaded, false);
  assert.equal(hits.get('/good.txt')?.length, 1);
});

test('redirects are followed', async () => {
  await downloadVerified(req('/redirect'));
  assert.deepEqual(readFileSync(join(dir, 'file.txt')), BODY);
});

test('a wrong checksum fails and leaves nothing behind', async () => {
  await assert.rejects(
    downloadVerified(req('/good.txt', { sha256: '0'.repeat(64) })),
    isDataError(/SHA-256 mismatch.*expected 0{64}, got [0-9a-f]{64}/),
  );
  assert.deepEqual(readdirSync(dir), []);
  assert.equal(hits.get('/good.txt')?.length, 1); // a mismatch from a fresh download is not retried
});

test('a body cut short is retried; when it never completes only the resumable .part remains', async () => {
  await assert.rejects(downloadVerified(req('/truncated-always.txt', { retries: 2 })), isDataError(/after 3 attempts/));
  assert.equal(hits.get('/truncated-always.txt')?.length, 3);
  assert.deepEqual(readdirSync(dir), ['file.txt.part']);
  // The part is a true prefix of the file, never more.
  const part = readFileSync(join(dir, 'file.txt.part'));
  assert.ok(part.length <= BODY.length && BODY.subarray(0, part.length).equals(part));
});

test('a server error is retried with backoff until it succeeds', async () => {
  const r = await downloadVerified(req('/flaky.txt', { retries: 3 }));
  assert.equal(r.attempts, 3);
  assert.deepEqual(readdirSync(dir), ['file.txt']);
  assert.deepEqual(readFileSync(r.path), BODY);
});

test('404 is not retried and leaves nothing behind', async () => {
  await assert.rejects(downloadVerified(req('/missing.txt', { retries: 3 })), isDataError(/HTTP 404.*not retried/));
  assert.equal(hits.get('/missing.txt')?.length, 1);
  assert.deepEqual(readdirSync(dir), []);
});

test('an oversize file is refused from its Content-Length, and from counting when there is none', async () => {
  await assert.rejects(downloadVerified(req('/oversize.txt', { maxBytes: 1000 })), isDataError(/larger than max_bytes \(1000\)/));
  assert.deepEqual(readdirSync(dir), []);
  await assert.rejects(downloadVerified(req('/oversize-chunked.txt', { maxBytes: BODY.length * 2 })), isDataError(/larger than max_bytes/));
  assert.deepEqual(readdirSync(dir), []);
  assert.equal(hits.get('/oversize-chunked.txt')?.length, 1);
});

test('a Content-Length smaller than the body is not trusted: the download fails, no final file', async () => {
  await assert.rejects(downloadVerified(req('/lying-length.txt', { retries: 1 })), (e: unknown) => e instanceof DataError);
  assert.equal(hits.get('/lying-length.txt')?.length, 2);
  const left = readdirSync(dir);
  assert.ok(!left.includes('file.txt'), left.join());
  // At most a .part holding a true prefix of the file, for a later resume.
  for (const f of left) {
    assert.equal(f, 'file.txt.part');
    const part = readFileSync(join(dir, f));
    assert.ok(part.length < BODY.length && BODY.subarray(0, part.length).equals(part));
  }
});

test('an interrupted download resumes from its .part with a Range request, across runs', async () => {
  await assert.rejects(downloadVerified(req('/resumable.txt', { retries: 0 })), isDataError(/after 1 attempts/));
  assert.deepEqual(readdirSync(dir), ['file.txt.part']);
  const partSize = statSync(join(dir, 'file.txt.part')).size;
  assert.ok(partSize > 0 && partSize < BODY.length);
  const r = await downloadVerified(req('/resumable.txt'));
  assert.equal(r.resumed, true);
  assert.equal(hits.get('/resumable.txt')?.[1].range, `bytes=${partSize}-`);
  assert.deepEqual(readdirSync(dir), ['file.txt']);
  assert.deepEqual(readFileSync(r.path), BODY);
});

test('a server that ignores Range on resume: the body is written from the start again', async () => {
  const r = await downloadVerified(req('/no-range.txt'));
  assert.equal(hits.get('/no-range.txt')?.[1].range, `bytes=${half}-`);
  assert.deepEqual(readFileSync(r.path), BODY);
  assert.deepEqual(readdirSync(dir), ['file.txt']);
});

test('a connection that goes silent counts as interrupted: the download resumes after the idle timeout', async () => {
  const r = await downloadVerified(req('/stall.txt', { idleTimeoutMs: 200 }));
  assert.equal(r.attempts, 2);
  assert.equal(r.resumed, true);
  assert.equal(hits.get('/stall.txt')?.[1].range, `bytes=${half}-`);
  assert.deepEqual(readFileSync(r.path), BODY);
  assert.deepEqual(readdirSync(dir), ['file.txt']);
});

test('a .part that does not continue into the pinned file is discarded and the download restarts', async () => {
  writeFileSync(join(dir, 'file.txt.part'), 'garbage that is not a prefix');
  const r = await downloadVerified(req('/good.txt'));
  assert.deepEqual(readFileSync(r.path), BODY);
  assert.equal(hits.get('/good.txt')?.length, 2); // resumed (mismatch), then from zero
  assert.deepEqual(readdirSync(dir), ['file.txt']);
});

test('a malformed sha256 is refused before any request', async () => {
  await assert.rejects(downloadVerified(req('/good.txt', { sha256: 'abc' })), isDataError(/64 hex digits/));
  assert.equal(hits.size, 0);
});

test('a url source (.gz) becomes a dataset: downloaded once into the cache, verified, decompressed', async () => {
  const sources = parseSources(
    [
      {
        name: 'web',
        type: 'url',
        url: `${base}/corpus.txt.gz`,
        sha256: createHash('sha256').update(GZ).digest('hex'),
        max_bytes: 100_000,
        roles: ['large'],
      },
    ],
    'test',
  );
  const opts = { root: dir, sources, fractions: { val: 0.1, test: 0.1 }, outDir: join(dir, 'data'), downloadDir: join(dir, 'cache') };
  const m = await buildDatasets(opts);
  const s = m.sources[0];
  assert.equal(s.splits.train.sentences + s.splits.val.sentences + s.splits.test.sentences, 2000);
  assert.equal(s.input.url, `${base}/corpus.txt.gz`);
  assert.deepEqual(readdirSync(join(dir, 'cache')), [s.input.file!.split('/').pop()]);
  assert.match(s.input.file!, /^cache\/web-[0-9a-f]{12}-corpus\.txt\.gz$/); // project-relative
  await buildDatasets(opts); // the cached, verified file is reused
  assert.equal(hits.get('/corpus.txt.gz')?.length, 1);
});
