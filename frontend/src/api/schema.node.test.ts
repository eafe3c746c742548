// @vitest-environment node
// src/api/schema.ts is generated from docs/openapi.yaml and checked in: this
// fails when the spec changed and `npm run gen:api` was not run (the same
// comparison as `npm run check:api`, in-process).
import { readFileSync } from 'node:fs';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';
import { describe, expect, it } from 'vitest';

describe('generated API types', () => {
  it('src/api/schema.ts matches docs/openapi.yaml', async () => {
    const spec = new URL('../../../docs/openapi.yaml', import.meta.url);
    const generated = COMMENT_HEADER + astToString(await openapiTS(spec, { silent: true }));
    const checkedIn = readFileSync(new URL('./schema.ts', import.meta.url), 'utf8');
    expect(generated === checkedIn, 'src/api/schema.ts is stale: run `npm run gen:api` in frontend/').toBe(true);
  });
});
