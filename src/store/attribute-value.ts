/**
 * DynamoDB's typed JSON ("AttributeValue") for the values the lease item
 * holds: strings, numbers and maps of them (booleans, nulls and lists for
 * completeness). Objects are built with Object.fromEntries, which defines own
 * properties, so keys such as `__proto__` or `constructor` stay plain data.
 */
export type AttributeValue =
  | { readonly S: string }
  | { readonly N: string }
  | { readonly M: Readonly<Record<string, AttributeValue>> }
  | { readonly L: readonly AttributeValue[] }
  | { readonly BOOL: boolean }
  | { readonly NULL: true }
  | { readonly SS: readonly string[] }
  | { readonly NS: readonly string[] };

export type AttributeMap = Readonly<Record<string, AttributeValue>>;

/** Marshals a JS value; undefined members of objects and maps are left out. */
export function toAttributeValue(value: unknown): AttributeValue {
  switch (typeof value) {
    case 'string':
      return { S: value };
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`cannot store the number ${value}`);
      return { N: String(value) };
    case 'boolean':
      return { BOOL: value };
    case 'object':
      if (value === null) return { NULL: true };
      if (Array.isArray(value)) return { L: value.map(toAttributeValue) };
      return { M: toAttributeMap(value instanceof Map ? value.entries() : Object.entries(value)) };
    default:
      throw new TypeError(`cannot store a value of type ${typeof value}`);
  }
}

export function toAttributeMap(entries: Iterable<[string, unknown]>): Record<string, AttributeValue> {
  const marshalled: [string, AttributeValue][] = [];
  for (const [key, member] of entries) if (member !== undefined) marshalled.push([key, toAttributeValue(member)]);
  return Object.fromEntries(marshalled);
}

/** Unmarshals one value; numbers become JS numbers (the item holds epoch milliseconds and small counts). */
export function fromAttributeValue(value: AttributeValue): unknown {
  if ('S' in value) return value.S;
  if ('N' in value) return Number(value.N);
  if ('M' in value) return fromAttributeMap(value.M);
  if ('L' in value) return value.L.map(fromAttributeValue);
  if ('BOOL' in value) return value.BOOL;
  if ('NULL' in value) return null;
  if ('SS' in value) return [...value.SS];
  if ('NS' in value) return value.NS.map(Number);
  throw new TypeError(`unsupported attribute type ${Object.keys(value).join(',')}`);
}

export function fromAttributeMap(map: AttributeMap): Record<string, unknown> {
  return Object.fromEntries(Object.entries(map).map(([key, member]) => [key, fromAttributeValue(member)]));
}
