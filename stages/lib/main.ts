/**
 * Every stage program's entry point: run `main` when the file is executed (not when a test imports
 * it), and print a failure as one line naming the stage — errors from our own modules carry a
 * message that names the file and the fix; GROW_DEBUG=1 adds the stack.
 */
import { pathToFileURL } from 'node:url';

export function runMain(meta: ImportMeta, stage: string, main: () => Promise<void>): void {
  if (meta.url !== pathToFileURL(process.argv[1] ?? '').href) return;
  main().catch((e: unknown) => {
    const err = e as Error;
    console.error(`${stage}: ${err?.message ?? String(e)}`);
    if (process.env.GROW_DEBUG) console.error(err?.stack);
    process.exit(1);
  });
}
