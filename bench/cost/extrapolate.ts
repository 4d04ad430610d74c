/*
 * From one stream's measured cost to a fleet's. A concurrent stream is one play-hour per hour, so
 * N streams consume N × (units per play-hour) / 3600 write units a second. Pure arithmetic: every
 * input is measured by the simulation (or read from the bench) and passed in.
 */
import { PRICES } from './pricing';

export interface FleetAssumptions {
  /** Provisioned tables are sized for consumption ÷ this (DynamoDB auto scaling's target, 70% by default). */
  readonly provisionedUtilization: number;
  /** One partition serves at most this many write units a second (DynamoDB's documented limit). */
  readonly partitionWriteUnitsPerSecond: number;
  /** ECS task size (infra defaults: 0.25 vCPU, 0.5 GB) and the CPU target its auto scaling keeps. */
  readonly taskVcpu: number;
  readonly taskMemoryGb: number;
  readonly taskCpuTarget: number;
  /** The service never runs on fewer tasks (infra default minTasks). */
  readonly minTasks: number;
}

export const DEFAULT_FLEET: FleetAssumptions = Object.freeze({
  provisionedUtilization: 0.7,
  partitionWriteUnitsPerSecond: 1000,
  taskVcpu: 0.25,
  taskMemoryGb: 0.5,
  taskCpuTarget: 0.6,
  minTasks: 2,
});

export interface StreamCost {
  /** Write units per play-hour, as DynamoDB counted them (plus failed conditions, see the report). */
  readonly writeUnitsPerPlayHour: number;
  /** API requests per play-hour (every route the players called). */
  readonly requestsPerPlayHour: number;
  /** Service CPU seconds per API request. */
  readonly cpuSecondsPerRequest: number;
}

export interface FleetCost {
  readonly concurrentStreams: number;
  readonly writeUnitsPerSecond: number;
  readonly requestsPerSecond: number;
  readonly partitions: number;
  readonly provisionedWcu: number;
  readonly ecsTasks: number;
  readonly onDemandPerMonth: number;
  readonly provisionedPerMonth: number;
  readonly ecsPerMonth: number;
}

export function fleetCost(streams: number, cost: StreamCost, fleet: FleetAssumptions = DEFAULT_FLEET): FleetCost {
  const writeUnitsPerSecond = (streams * cost.writeUnitsPerPlayHour) / 3600;
  const requestsPerSecond = (streams * cost.requestsPerPlayHour) / 3600;
  const provisionedWcu = Math.ceil(writeUnitsPerSecond / fleet.provisionedUtilization);
  const cpuNeeded = requestsPerSecond * cost.cpuSecondsPerRequest;
  const ecsTasks = Math.max(fleet.minTasks, Math.ceil(cpuNeeded / (fleet.taskVcpu * fleet.taskCpuTarget)));
  const taskHour = fleet.taskVcpu * PRICES.fargatePerVcpuHour + fleet.taskMemoryGb * PRICES.fargatePerGbHour;
  return {
    concurrentStreams: streams,
    writeUnitsPerSecond,
    requestsPerSecond,
    partitions: Math.max(1, Math.ceil(writeUnitsPerSecond / fleet.partitionWriteUnitsPerSecond)),
    provisionedWcu,
    ecsTasks,
    onDemandPerMonth: writeUnitsPerSecond * 3600 * PRICES.hoursPerMonth * (PRICES.onDemandPerMillionWriteUnits / 1e6),
    provisionedPerMonth: provisionedWcu * PRICES.hoursPerMonth * PRICES.provisionedPerWcuHour,
    ecsPerMonth: ecsTasks * taskHour * PRICES.hoursPerMonth,
  };
}

export interface PlayHourDollars {
  /** $ per 1,000 play-hours of DynamoDB writes, on-demand. */
  readonly onDemand: number;
  /** $ per 1,000 play-hours with provisioned capacity at the assumed utilization (steady load). */
  readonly provisioned: number;
}

export function dollarsPerThousandPlayHours(
  writeUnitsPerPlayHour: number,
  fleet: FleetAssumptions = DEFAULT_FLEET,
): PlayHourDollars {
  const units = writeUnitsPerPlayHour * 1000;
  // One WCU for one hour serves 3,600 write units when fully used.
  const provisionedPerUnit = PRICES.provisionedPerWcuHour / 3600 / fleet.provisionedUtilization;
  return {
    onDemand: units * (PRICES.onDemandPerMillionWriteUnits / 1e6),
    provisioned: units * provisionedPerUnit,
  };
}

/**
 * The average utilization (consumed ÷ provisioned write capacity) below which provisioned capacity
 * costs more than on-demand: it does not depend on the fleet's size, only on the two prices.
 */
export function breakEvenUtilization(): number {
  return PRICES.provisionedPerWcuHour / 3600 / (PRICES.onDemandPerMillionWriteUnits / 1e6);
}
