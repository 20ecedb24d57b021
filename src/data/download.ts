/**
 * Downloading one pinned file: HTTP(S), verified against a SHA-256 given in advance, resumable,
 * retried with exponential backoff, size-limited and atomic.
 *
 *   <dest>.part  bytes received so far; continued with a Range request when the server allows.
 *   <dest>       appears only by rename, after the whole file matched its SHA-256.
 *
 * A failure never leaves anything at <dest>. The .part stays only when it is a plausible prefix
 * of the pinned file (an interrupted transfer that a retry or a later run can continue); a
 * checksum mismatch, an oversize body or a client error (4xx) deletes it. The .part name carries
 * the pinned hash (callers name <dest> after it), so a part of another file is never continued.
 *
 * Written on node:http(s) rather than fetch because resuming needs exact control of Range
 * requests, of when a body counts as truncated, and of aborting mid-stream at a byte limit.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DataError } from './errors.ts';

export interface DownloadRequest {
  url: string;
  /** Expected SHA-256 of the whole file, 64 hex digits. */
  sha256: string;
  /** Abort past this many bytes, whatever Content-Length says. */
  maxBytes: number;
  /** Final path; `${dest}.part` holds a transfer in progress. */
  dest: string;
  /** Extra attempts after the first, for network errors, truncated bodies and 5xx. Default 4. */
  retries?: number;
  /** First backoff delay; doubles each retry (capped at 30 s). Default 500 ms. */
  backoffMs?: number;
  /** A connection silent this long counts as a network error. Default 30 s. */
  idleTimeoutMs?: number;
  /** One line per notable event (retry, resume), for the stage's log. */
  log?: (line: string) => void;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  /** false when <dest> was already there and verified. */
  downloaded: boolean;
  attempts: number;
  /** Some attempt continued a .part with a Range request. */
  resumed: boolean;
}

/** Worth another attempt: the network, a truncated body or the server failed, not the request. */
class TransientError extends Error {}

/** The body grew past maxBytes. */
class OversizeError extends Error {}

const MAX_REDIRECTS = 5;

export async function downloadVerified(req: DownloadRequest): Promise<DownloadResult> {
  const expected = req.sha256.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(expected)) {
    throw new DataError(`${req.url}: sha256 must be 64 hex digits, got ${JSON.stringify(req.sha256)}`);
  }
  const part = `${req.dest}.part`;
  mkdirSync(dirname(req.dest), { recursive: true });

  if (existsSync(req.dest)) {
    if ((await fileSha256(req.dest)) === expected) {
      return { path: req.dest, bytes: statSync(req.dest).size, downloaded: false, attempts: 0, resumed: false };
    }
    rmSync(req.dest, { force: true }); // corrupted since it was verified: fetch it again
  }

  const retries = req.retries ?? 4;
  const log = req.log ?? (() => {});
  let resumed = false;
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= retries + 1; attempt++) {
    if (attempt > 1) {
      const delay = Math.min(30_000, (req.backoffMs ?? 500) * 2 ** (attempt - 2));
      log(`download ${req.url}: ${lastError?.message}; retry ${attempt - 1}/${retries} in ${delay} ms`);
      await new Promise((r) => setTimeout(r, delay));
    }
    const offset = existsSync(part) ? statSync(part).size : 0;
    if (offset > 0) resumed = true;
    try {
      await transfer(req, req.url, part, offset, 0);
    } catch (e) {
      if (e instanceof TransientError) {
        lastError = e;
        continue;
      }
      rmSync(part, { force: true }); // 4xx, oversize, bad URL: nothing here is worth resuming
      throw e;
    }
    const got = await fileSha256(part);
    if (got === expected) {
      renameSync(part, req.dest);
      return { path: req.dest, bytes: statSync(req.dest).size, downloaded: true, attempts: attempt, resumed };
    }
    rmSync(part, { force: true });
    if (offset === 0) {
      throw new DataError(
        `${req.url}: SHA-256 mismatch: expected ${expected}, got ${got}. ` +
          'The file changed on the server or the pinned sha256 is wrong; check it and update the source in the params file.',
      );
    }
    // A resumed transfer can glue two different versions of the file: try once more from zero.
    lastError = new TransientError(`SHA-256 mismatch after resuming at byte ${offset}`);
  }
  const kept = existsSync(part) ? `; the partial file ${part} is kept so the next run resumes it` : '';
  throw new DataError(
    `${req.url}: download failed after ${retries + 1} attempts: ${lastError?.message}. Check the URL and the network${kept}.`,
  );
}

/** One HTTP exchange appending to `part` from `offset`; follows redirects. */
function transfer(req: DownloadRequest, url: string, part: string, offset: number, redirects: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      reject(new DataError(`${url}: not a valid URL; fix the source's url in the params file`));
      return;
    }
    const client = parsed.protocol === 'https:' ? https : parsed.protocol === 'http:' ? http : undefined;
    if (!client) {
      reject(new DataError(`${url}: only http:// and https:// URLs can be downloaded`));
      return;
    }
    // Until a body is streaming, a request error simply rejects; after, it must close the file first.
    let failBody: (e: Error) => void = reject;
    const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'growline' };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const request = client.get(parsed, { headers }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects >= MAX_REDIRECTS) {
          reject(new DataError(`${req.url}: more than ${MAX_REDIRECTS} redirects`));
          return;
        }
        const next = new URL(res.headers.location, parsed).toString();
        transfer(req, next, part, offset, redirects + 1).then(resolve, reject);
        return;
      }
      if (status === 416 && offset > 0) {
        // The part already holds the whole file (or more): let the checksum decide.
        res.resume();
        resolve();
        return;
      }
      if (status >= 500) {
        res.resume();
        reject(new TransientError(`HTTP ${status} from ${url}`));
        return;
      }
      if (status !== 200 && status !== 206) {
        res.resume();
        reject(new DataError(`${url}: HTTP ${status}; check the source's url in the params file (not retried)`));
        return;
      }
      let start = 0;
      if (status === 206) {
        const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
        start = m ? Number(m[1]) : -1;
        if (start !== offset) {
          res.resume();
          rmSync(part, { force: true }); // the server answered another range: start over
          reject(new TransientError(`server answered range ${res.headers['content-range']} for bytes=${offset}-`));
          return;
        }
      }
      const declared = res.headers['content-length'] === undefined ? undefined : Number(res.headers['content-length']);
      if (declared !== undefined && start + declared > req.maxBytes) {
        res.resume();
        reject(new OversizeError());
        return;
      }
      // Chunks go to disk synchronously as they arrive, so whatever was received before a
      // connection drops is in the .part (a stream pipeline would discard its buffers on error).
      // 200 means the server ignored the Range header: the body is the whole file again.
      const fd = openSync(part, status === 206 ? 'a' : 'w');
      let received = 0;
      let settled = false;
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        closeSync(fd);
        if (err) {
          res.destroy();
          reject(err);
        } else resolve();
      };
      failBody = (e) => finish(e);
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        received += chunk.length;
        if (start + received > req.maxBytes) {
          finish(new OversizeError());
          return;
        }
        try {
          for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
        } catch (e) {
          finish(new DataError(`cannot write ${part}: ${(e as Error).message}`));
        }
      });
      res.on('end', () => {
        if (declared !== undefined && received !== declared) {
          finish(new TransientError(`body ended after ${received} of ${declared} bytes`));
        } else finish();
      });
      res.on('error', (e) => finish(new TransientError(`transfer interrupted: ${e.message}`)));
      res.on('close', () => finish(new TransientError(`connection closed after ${received} bytes`)));
    });
    request.setTimeout(req.idleTimeoutMs ?? 30_000, () => request.destroy(new Error('connection idle too long')));
    request.on('error', (e) => failBody(new TransientError(`network error: ${e.message}`)));
  }).catch((e: unknown) => {
    if (e instanceof OversizeError) {
      throw new DataError(
        `${req.url}: the file is larger than max_bytes (${req.maxBytes}); raise max_bytes for this source if that is expected`,
      );
    }
    throw e;
  });
}

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}
