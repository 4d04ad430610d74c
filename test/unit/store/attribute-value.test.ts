import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import {
  fromAttributeMap,
  toAttributeMap,
  toAttributeValue,
  type AttributeMap,
} from '../../../src/store/attribute-value';

describe('attribute values', () => {
  const lease = {
    s: 1_764_000_000_000,
    e: 1_764_000_090_000,
    d: 'tv-1',
    m: new Map([
      ['title', 'Big Buck Bunny'],
      ['lang', 'ü'],
    ]),
  };

  it('marshals a lease as the SDK does, leaving undefined members out', () => {
    const ours = toAttributeMap(Object.entries({ 'L:s1': lease, cnt: 1, gone: undefined }));
    expect(ours).toEqual(marshall({ 'L:s1': lease, cnt: 1 }, { convertClassInstanceToMap: true }));
  });

  it('reads back what it wrote, and what the SDK writes', () => {
    const item = {
      userId: 'u',
      ver: 3,
      flag: true,
      nothing: null,
      list: ['a', 2],
      'L:s1': { s: 1, e: 2, m: { a: 'b' } },
    };
    expect(fromAttributeMap(toAttributeMap(Object.entries(item)))).toEqual(item);
    expect(fromAttributeMap(marshall(item) as AttributeMap)).toEqual(unmarshall(marshall(item)));
  });

  it('keeps keys such as __proto__ and constructor as plain data, on the way in and out', () => {
    const metadata = new Map([
      ['__proto__', 'x'],
      ['constructor', 'y'],
    ]);
    const marshalled = toAttributeValue(metadata);
    const back = fromAttributeMap({ m: marshalled }).m as Record<string, unknown>;

    expect(Object.keys(back)).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(back.constructor).toBe('y');
  });

  it('refuses values DynamoDB cannot hold rather than storing something else', () => {
    expect(() => toAttributeValue(Number.NaN)).toThrow(TypeError);
    expect(() => toAttributeValue(() => 1)).toThrow(TypeError);
  });
});
