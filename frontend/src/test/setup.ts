// Runs before every test file. Files that need no DOM say
// `// @vitest-environment node` and skip jsdom (its start-up is most of the
// time of a small test); the DOM helpers load only where there is a window.
import { afterEach, vi } from 'vitest';

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

if (typeof window !== 'undefined') await import('./setup.dom');
