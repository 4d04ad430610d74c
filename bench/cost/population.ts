/*
 * The simulated audience, in simulated seconds (the runner compresses time, see time-scale.ts).
 * Each user owns 1 to 3 screens; each screen alternates sessions and pauses (an on/off renewal
 * process) started in its steady state, so the measurement window needs no long warm-up.
 */
import { exponential, logNormal, pickWeighted, seededRandom, type Random } from './random';

export interface PopulationParams {
  readonly users: number;
  /** Share of users by number of screens they watch on. */
  readonly screens: ReadonlyArray<readonly [1 | 2 | 3, number]>;
  readonly sessionMedianS: number;
  /** Shape of the log-normal session length (sigma of the underlying normal). */
  readonly sessionSigma: number;
  readonly sessionMinS: number;
  readonly sessionMaxS: number;
  /** Mean pause between two sessions of one screen (exponential). */
  readonly pauseMeanS: number;
  /** Share of sessions that end in a crash: no remove, the player just goes silent. */
  readonly crashShare: number;
  /** Share of session starts that press "watch here instead" on another live screen of the user. */
  readonly replaceShare: number;
  /** Sessions are planned up to this simulated time. */
  readonly horizonS: number;
  readonly seed: number;
}

export const DEFAULT_POPULATION: PopulationParams = Object.freeze({
  users: 80,
  screens: Object.freeze([
    Object.freeze([1, 0.55] as const),
    Object.freeze([2, 0.3] as const),
    Object.freeze([3, 0.15] as const),
  ]),
  sessionMedianS: 40 * 60,
  sessionSigma: 0.8,
  sessionMinS: 3 * 60,
  sessionMaxS: 4 * 3600,
  pauseMeanS: 20 * 60,
  crashShare: 0.08,
  replaceShare: 0.05,
  horizonS: 3600,
  seed: 13,
});

export interface PlannedSession {
  readonly startS: number;
  readonly lengthS: number;
  /** How the session ends if nothing ends it first (a kick, a refused re-add). */
  readonly end: 'remove' | 'crash';
  /** Starts with replaceStreamId naming the user's oldest live stream, when there is one. */
  readonly replace: boolean;
}

export interface SimScreen {
  readonly deviceId: string;
  readonly sessions: readonly PlannedSession[];
}

export interface SimUser {
  readonly userId: string;
  readonly screens: readonly SimScreen[];
}

export interface Population {
  readonly params: PopulationParams;
  readonly users: readonly SimUser[];
}

function uuidFrom(random: Random): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

function sessionLength(random: Random, params: PopulationParams): number {
  const drawn = logNormal(random, params.sessionMedianS, params.sessionSigma);
  return Math.min(params.sessionMaxS, Math.max(params.sessionMinS, drawn));
}

/** Mean of the clipped log-normal, estimated once by sampling (it sets the steady-state start). */
function meanSessionLength(params: PopulationParams): number {
  const random = seededRandom(params.seed ^ 0x5eed);
  let sum = 0;
  for (let i = 0; i < 20_000; i++) sum += sessionLength(random, params);
  return sum / 20_000;
}

function planScreen(random: Random, params: PopulationParams, onShare: number): PlannedSession[] {
  const sessions: PlannedSession[] = [];
  const plan = (startS: number, lengthS: number, replace: boolean) =>
    sessions.push({ startS, lengthS, end: random() < params.crashShare ? 'crash' : 'remove', replace });
  let t = 0;
  if (random() < onShare) {
    // In steady state a screen found playing is part-way through its session.
    const residual = Math.max(params.sessionMinS / 4, random() * sessionLength(random, params));
    plan(0, residual, false);
    t = residual;
  }
  for (;;) {
    t += exponential(random, params.pauseMeanS);
    if (t >= params.horizonS) return sessions;
    const lengthS = sessionLength(random, params);
    plan(t, lengthS, random() < params.replaceShare);
    t += lengthS;
  }
}

/** The same params and seed always give the same population. */
export function generatePopulation(params: PopulationParams): Population {
  const random = seededRandom(params.seed);
  const meanLength = meanSessionLength(params);
  const onShare = meanLength / (meanLength + params.pauseMeanS);
  const users: SimUser[] = [];
  for (let i = 0; i < params.users; i++) {
    const count = pickWeighted(random, params.screens);
    const screens: SimScreen[] = [];
    for (let s = 0; s < count; s++) {
      screens.push({ deviceId: `screen-${s + 1}`, sessions: planScreen(random, params, onShare) });
    }
    users.push({ userId: uuidFrom(random), screens });
  }
  return { params, users };
}

export interface PopulationSummary {
  readonly users: number;
  readonly usersByScreens: Record<string, number>;
  readonly screens: number;
  readonly sessions: number;
  readonly crashes: number;
  readonly replaces: number;
  /** Planned play in simulated hours, before kicks, refusals and the horizon cut it short. */
  readonly plannedPlayHours: number;
}

export function summarizePopulation(population: Population): PopulationSummary {
  const usersByScreens: Record<string, number> = {};
  let screens = 0;
  let sessions = 0;
  let crashes = 0;
  let replaces = 0;
  let plannedS = 0;
  for (const user of population.users) {
    usersByScreens[user.screens.length] = (usersByScreens[user.screens.length] ?? 0) + 1;
    screens += user.screens.length;
    for (const screen of user.screens) {
      for (const session of screen.sessions) {
        sessions++;
        if (session.end === 'crash') crashes++;
        if (session.replace) replaces++;
        plannedS += Math.min(session.lengthS, population.params.horizonS - session.startS);
      }
    }
  }
  return {
    users: population.users.length,
    usersByScreens,
    screens,
    sessions,
    crashes,
    replaces,
    plannedPlayHours: plannedS / 3600,
  };
}
