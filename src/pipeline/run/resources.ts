/**
 * What parallel stages share on this machine: job slots (`-j`), cpu tokens (one per core; a stage
 * takes `resources.cpus`, default 1) and GPUs (a stage takes `resources.gpus` devices and sees
 * them as CUDA_VISIBLE_DEVICES). Waiters are served first come, first served, so a stage that
 * needs many tokens is not starved by a stream of small ones.
 */
import { readdirSync } from 'node:fs';

/** A counting semaphore; requests larger than the capacity take the whole capacity. */
export class Tokens {
  private waiters: { n: number; resolve: () => void }[] = [];
  private free: number;

  constructor(readonly capacity: number) {
    this.free = capacity;
  }

  acquire(n: number): Promise<void> {
    const want = Math.min(n, this.capacity);
    if (this.waiters.length === 0 && this.free >= want) {
      this.free -= want;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push({ n: want, resolve }));
  }

  release(n: number): void {
    this.free += Math.min(n, this.capacity);
    while (this.waiters.length && this.free >= this.waiters[0].n) {
      const w = this.waiters.shift()!;
      this.free -= w.n;
      w.resolve();
    }
  }
}

/**
 * The GPUs stages may use: CUDA_VISIBLE_DEVICES when set (so a user can hand grow a subset), else
 * the NVIDIA device nodes. With none, GPU stages still run — one at a time, without
 * CUDA_VISIBLE_DEVICES — and the program decides what to do without a GPU.
 */
export function detectGpus(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.CUDA_VISIBLE_DEVICES !== undefined)
    return env.CUDA_VISIBLE_DEVICES.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  try {
    return readdirSync('/dev')
      .filter((f) => /^nvidia\d+$/.test(f))
      .map((f) => f.slice('nvidia'.length))
      .sort((a, b) => Number(a) - Number(b));
  } catch {
    return [];
  }
}

export class GpuPool {
  private readonly tokens: Tokens;
  private readonly free: string[];

  constructor(private readonly devices: string[]) {
    this.tokens = new Tokens(Math.max(1, devices.length));
    this.free = [...devices];
  }

  /** Waits for `n` devices; returns their ids (empty when the machine has none). */
  async acquire(n: number): Promise<string[]> {
    await this.tokens.acquire(n);
    return this.free.splice(0, Math.min(n, this.devices.length));
  }

  release(n: number, ids: string[]): void {
    this.free.push(...ids);
    this.tokens.release(n);
  }
}
