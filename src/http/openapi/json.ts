/** A piece of the OpenAPI document: plain JSON, checked by the lint and the tests rather than by types. */
export type Json = Record<string, unknown>;

/** A reference into the document's components. */
export const ref = (kind: 'schemas' | 'responses' | 'headers' | 'parameters', name: string) => ({
  $ref: `#/components/${kind}/${name}`,
});
