import request from 'supertest';
import { createTestApp, uniqueId, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

it('admits a stream on a fresh table', async () => {
  const res = await request(t.app).post('/streams/add').send({ userId: uniqueId() });
  expect(res.status).toBe(201);
});
