/**
 * The `yaml` package, loaded on first use. Loading it is the largest single part of the CLI's
 * start-up (~65 ms of CPU), and a no-op `grow run` or `grow status` parses no YAML at all: the
 * pipeline and params files come from their parse cache (spec/yaml-source.ts, keyed by the text's
 * hash) and the lock from its parsed mirror (store/lockfile.ts). A synchronous `require` (the
 * package's Node build is CommonJS, the one `import` loads too) keeps every caller synchronous.
 */
import { createRequire } from 'node:module';

type Yaml = typeof import('yaml');

let loaded: Yaml | undefined;

export function yaml(): Yaml {
  loaded ??= createRequire(import.meta.url)('yaml') as Yaml;
  return loaded;
}
