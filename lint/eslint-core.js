/**
 * The few ESLint core rules of `neostandard` that oxlint does not implement natively, loaded by
 * oxlint as a JS plugin (`.oxlintrc.json` → `jsPlugins`). ESLint is a rule library here only:
 * nothing parses with typescript-eslint, so the project needs no second TypeScript (docs/lint.md).
 */
import { builtinRules } from 'eslint/use-at-your-own-risk'

const names = ['camelcase', 'no-undef-init', 'no-octal', 'no-octal-escape', 'no-dupe-args']

export default {
  meta: { name: 'eslint-core' },
  rules: Object.fromEntries(names.map((name) => {
    const rule = builtinRules.get(name)
    if (rule === undefined) throw new Error(`ESLint has no core rule ${name}`)
    return [name, rule]
  }))
}
