// ESLint (flat config): typescript-eslint's recommended rules with type
// information, and React's rules of hooks over every hand-written component
// and hook. The generated API types (src/api/schema.ts) and build output are
// left out. `npm run lint` must stay clean (make lint runs it).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'src/api/schema.ts'] },
  {
    files: ['src/**/*.{ts,tsx}'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended, reactHooks.configs.flat.recommended],
    languageOptions: {
      ecmaVersion: 2022,
      globals: { ...globals.browser },
    },
  },
  {
    files: ['e2e/**/*.{js,mjs}', 'bench/**/*.{js,mjs}', 'eslint.config.js', 'vite.config.ts'],
    extends: [js.configs.recommended],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    // The browser test's page.evaluate callbacks run in the page.
    files: ['e2e/**/*.{js,mjs}'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
);
