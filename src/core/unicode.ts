/**
 * Text a store can hold. Pure.
 */

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * False when `text` holds a lone surrogate: valid in JSON (`"\ud800"`) and in a JS string, but no
 * UTF-8 can encode it, so Firestore refuses the write (an error, not a 400). Request bodies with
 * free text are checked with this at the edge (`String.prototype.isWellFormed` is ES2024).
 */
export function isWellFormedText(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}
