import { z } from 'zod';
import {
  fieldErrorSchema,
  checkResponse,
  healthResponse,
  leaseResponse,
  liveStreamSchema,
  problemCodeSchema,
  problemSchema,
  readinessResponse,
  removeResponse,
  streamLimitProblemSchema,
  streamNotFoundProblemSchema,
  streamRefSchema,
  streamTerminatedProblemSchema,
  userStreamsResponse,
  validationProblemSchema,
} from '../response-schemas';
import { addStreamBody, checkBody, heartbeatBody, removeStreamBody, setLimitBody } from '../schemas';
import type { Json } from './json';

/** Every schema the document names, in components.schemas under its `.meta({ id })`. */
const NAMED_SCHEMAS: readonly z.ZodType[] = [
  addStreamBody,
  heartbeatBody,
  removeStreamBody,
  checkBody,
  setLimitBody,
  leaseResponse,
  checkResponse,
  streamRefSchema,
  removeResponse,
  userStreamsResponse,
  liveStreamSchema,
  healthResponse,
  readinessResponse,
  problemCodeSchema,
  problemSchema,
  fieldErrorSchema,
  validationProblemSchema,
  streamLimitProblemSchema,
  streamNotFoundProblemSchema,
  streamTerminatedProblemSchema,
];

const JSON_SCHEMA_OPTIONS = {
  target: 'draft-2020-12',
  // Requests are documented as clients send them (before `null` becomes absent); responses have no transforms.
  io: 'input',
  override: ({ jsonSchema }: { jsonSchema: Json }) => {
    // zod spells "date-time" out as a long regex too; the format says it, the description gives the precision.
    if (jsonSchema.format === 'date-time') delete jsonSchema.pattern;
    // z.number().int() bounds unbounded integers by the safe-integer range: noise to a reader.
    if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
    if (jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete jsonSchema.minimum;
  },
} as const;

export function componentSchemas(): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const schema of NAMED_SCHEMAS) {
    const id = z.globalRegistry.get(schema)?.id;
    if (!id) throw new Error('every schema in the OpenAPI document needs .meta({ id })');
    registry.add(schema, { id });
  }
  const { schemas } = z.toJSONSchema(registry, { ...JSON_SCHEMA_OPTIONS, uri: (id) => `#/components/schemas/${id}` });
  const shared = schemas.__shared as { $defs?: Json } | undefined;
  if (shared) {
    throw new Error(`schemas with an id but missing from NAMED_SCHEMAS: ${Object.keys(shared.$defs ?? {}).join(', ')}`);
  }
  // The dialect is the document's; a fragment-only $id is not a valid JSON Schema $id.
  return Object.fromEntries(
    Object.entries(schemas).map(([id, schema]) => [id, withoutKeys(schema as Json, '$schema', '$id')]),
  );
}

function withoutKeys(object: Json, ...keys: string[]): Json {
  return Object.fromEntries(Object.entries(object).filter(([key]) => !keys.includes(key)));
}

export function inlineSchema(schema: z.ZodType): Json {
  return withoutKeys(z.toJSONSchema(schema, JSON_SCHEMA_OPTIONS) as Json, '$schema');
}
