import { Router, type RequestHandler } from 'express';
import { jsonBody } from '../middleware/json-body';
import { resource, type RouteEntry } from '../resource';
import { parseInput, setLimitBody, userPathParams } from '../schemas';
import type { ApiContext } from './context';
import { userStreamsView } from './views';

/** Reading a user's live streams, and the admin's per-user limit override. */
export function userRoutes(context: ApiContext, registry: RouteEntry[]): Router {
  const { store, clock, guards } = context;
  const router = Router();

  const list: RequestHandler = async (req, res) => {
    const { userId } = parseInput(userPathParams, req.params);
    context.authorize(req, res, userId);
    res.status(200).json(userStreamsView(await store.readStanding(userId, clock())));
  };

  const setLimit: RequestHandler = async (req, res) => {
    const { userId } = parseInput(userPathParams, req.params);
    const overrides = parseInput(setLimitBody, req.body);
    context.authorizeAdmin(req, res);
    res.status(200).json(userStreamsView(await store.setOverrides(userId, overrides, clock())));
  };

  const clearLimit: RequestHandler = async (req, res) => {
    const { userId } = parseInput(userPathParams, req.params);
    context.authorizeAdmin(req, res);
    res.status(200).json(userStreamsView(await store.clearLimit(userId, clock())));
  };

  resource(router, registry, '/users/:userId/streams', { GET: [...guards, list] });
  resource(router, registry, '/users/:userId/limit', {
    PUT: [...guards, jsonBody, setLimit],
    DELETE: [...guards, clearLimit],
  });
  return router;
}
