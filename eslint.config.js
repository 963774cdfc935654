import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'vendor/**', 'charts/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Only src/cli.ts maps errors to exit codes.
      'no-restricted-properties': ['error', { object: 'process', property: 'exit', message: 'Throw a named error; only src/cli.ts exits.' }],
    },
  },
  { files: ['src/cli.ts', 'scripts/**', 'test/**'], rules: { 'no-restricted-properties': 'off' } },
);
