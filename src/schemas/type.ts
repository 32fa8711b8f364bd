/** The one place `Type` is imported from, so every schema uses the same TypeBox build. */
export { Type, type Static, type TSchema } from 'typebox'
