import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'node_modules/**', 'bench/results/**', '.tap/**', 'coverage/**'] }),
  {
    rules: {
      // `export const X = Type.Object(...)` with `export type X = Static<typeof X>` is the TypeBox
      // idiom; TypeScript itself reports real redeclarations
      '@typescript-eslint/no-redeclare': 'off'
    }
  }
]
