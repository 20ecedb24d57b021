/**
 * Writes pipeline.schema.json (the editor copy of the schema the loader validates with) at the
 * repository root: `node --import tsx src/pipeline/spec/write-schema.ts`. A test fails when the
 * file and src/pipeline/spec/schema.ts disagree.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pipelineSchema } from './schema.ts';

export const SCHEMA_FILE = fileURLToPath(new URL('../../../pipeline.schema.json', import.meta.url));

export function schemaText(): string {
  return JSON.stringify(pipelineSchema, null, 2) + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(SCHEMA_FILE, schemaText());
  console.log(`wrote ${SCHEMA_FILE}`);
}
