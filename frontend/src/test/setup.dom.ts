// The DOM half of the test set-up (jsdom files only).
import '@testing-library/jest-dom/vitest';
import { afterEach } from 'vitest';
import { cleanup, configure } from '@testing-library/react';

// findBy* and waitFor poll until their deadline and return as soon as the
// DOM matches; the default deadline (1 s) is too short when the suite runs
// beside the Go tests on a loaded 2-core machine (make test runs them
// together), and a miss there is a false failure, not a slow UI.
configure({ asyncUtilTimeout: 10_000 });

afterEach(() => {
  cleanup();
  localStorage.clear();
  window.history.replaceState(null, '', '/');
});

// jsdom logs "not implemented" for scrolling.
window.scrollTo = () => undefined;

// CodeMirror measures text with Range rects, which jsdom lacks.
const emptyRects = () => Object.assign([], { item: () => null }) as unknown as DOMRectList;
const zeroRect = () => ({ x: 0, y: 0, width: 0, height: 0, top: 0, left: 0, right: 0, bottom: 0, toJSON: () => ({}) }) as DOMRect;
Range.prototype.getClientRects = emptyRects;
Range.prototype.getBoundingClientRect = zeroRect;
