// What the card shows, worked out from Home Assistant's registries and states.
// No Lit here: the card and the editor render what `readPack` returns.

export interface HassEntity {
  entity_id: string;
  state: string;
  attributes: Record<string, unknown>;
}

export interface EntityEntry {
  entity_id: string;
  device_id?: string | null;
  platform?: string;
  translation_key?: string | null;
  hidden?: boolean;
}

export interface DeviceEntry {
  id: string;
  name?: string | null;
  name_by_user?: string | null;
  via_device_id?: string | null;
}

export interface Hass {
  states: Record<string, HassEntity | undefined>;
  entities: Record<string, EntityEntry | undefined>;
  devices: Record<string, DeviceEntry | undefined>;
  language?: string;
}

export interface CellsCardConfig {
  type: string;
  device_id?: string;
  title?: string;
  min_voltage?: number;
  max_voltage?: number;
  warn_delta_mv?: number;
  alarm_delta_mv?: number;
}

export const DOMAIN = "victron_balance";
export const MAX_CELLS = 32;
// LiFePO4 (every chemistry the integration knows): empty at 2.5 V per cell.
export const DEFAULT_MIN_V = 2.5;
export const DEFAULT_MAX_V = 3.65;
export const DEFAULT_WARN_MV = 30;
export const DEFAULT_ALARM_MV = 80;

export type Level = "ok" | "warn" | "alarm";

export interface Cell {
  number: number;
  entityId: string;
  voltage: number | null;
  bmsBalancing: boolean;
  relayActive: boolean;
  plannedMinutes: number;
  isMin: boolean;
  isMax: boolean;
  level: Level;
  fill: number; // 0..1 of the window
}

export interface Pack {
  deviceId: string;
  name: string;
  cells: Cell[];
  average: number | null;
  spreadMv: number | null;
  spreadLevel: Level;
  minV: number;
  maxV: number;
  balancerEntityId: string | null;
}

function ours(entry: EntityEntry | undefined): entry is EntityEntry {
  return entry !== undefined && entry.platform === DOMAIN;
}

function entriesWith(hass: Hass, translationKey: string): EntityEntry[] {
  return Object.values(hass.entities).filter(
    (entry): entry is EntityEntry => ours(entry) && entry.translation_key === translationKey,
  );
}

function numberOf(value: unknown): number | null {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && value.trim() !== "") {
    const parsed = Number(value);
    return Number.isFinite(parsed) ? parsed : null;
  }
  return null;
}

/** The battery devices that have cells, in a stable order. */
export function batteryDevices(hass: Hass): string[] {
  const ids = new Set<string>();
  for (const entry of entriesWith(hass, "cell_voltage")) {
    if (entry.device_id) ids.add(entry.device_id);
  }
  return [...ids].sort();
}

function cellNumber(entry: EntityEntry, state: HassEntity | undefined): number | null {
  const fromAttribute = numberOf(state?.attributes.cell);
  if (fromAttribute !== null) return fromAttribute;
  const match = /_cell_(\d+)_voltage$/.exec(entry.entity_id); // before the attribute existed
  return match ? Number(match[1]) : null;
}

function levelOf(deviationMv: number, warn: number, alarm: number): Level {
  if (deviationMv >= alarm) return "alarm";
  if (deviationMv >= warn) return "warn";
  return "ok";
}

/** An entity of the same GX (the battery and the balancers hang below it). */
function sameGx(hass: Hass, batteryDevice: string, entry: EntityEntry): boolean {
  const gx = hass.devices[batteryDevice]?.via_device_id;
  if (!entry.device_id) return false;
  return entry.device_id === gx || hass.devices[entry.device_id]?.via_device_id === gx;
}

function upperFromChemistry(hass: Hass, deviceId: string): number | null {
  // The top-balance target's maximum is the chemistry's highest cell voltage.
  for (const entry of entriesWith(hass, "top_balance_target_voltage")) {
    if (!sameGx(hass, deviceId, entry)) continue;
    const max = numberOf(hass.states[entry.entity_id]?.attributes.max);
    if (max !== null) return max;
  }
  return null;
}

export function readPack(hass: Hass, config: CellsCardConfig): Pack | null {
  const deviceId = config.device_id ?? batteryDevices(hass)[0];
  if (!deviceId) return null;
  const device = hass.devices[deviceId];
  const minV = config.min_voltage ?? DEFAULT_MIN_V;
  const maxV = config.max_voltage ?? upperFromChemistry(hass, deviceId) ?? DEFAULT_MAX_V;
  const warn = config.warn_delta_mv ?? DEFAULT_WARN_MV;
  const alarm = config.alarm_delta_mv ?? DEFAULT_ALARM_MV;

  let balancerEntityId: string | null = null;
  let activeCell: number | null = null;
  let planned: unknown[] = [];
  for (const entry of entriesWith(hass, "balancer_active_cell")) {
    if (!sameGx(hass, deviceId, entry)) continue;
    const state = hass.states[entry.entity_id];
    balancerEntityId = entry.entity_id;
    activeCell = numberOf(state?.state);
    const minutes = state?.attributes.planned_minutes;
    planned = Array.isArray(minutes) ? minutes : [];
    break;
  }

  const raw: Array<Omit<Cell, "isMin" | "isMax" | "level" | "fill">> = [];
  for (const entry of entriesWith(hass, "cell_voltage")) {
    if (entry.device_id !== deviceId) continue;
    const state = hass.states[entry.entity_id];
    if (state === undefined || state.state === "unavailable") continue;
    const number = cellNumber(entry, state);
    if (number === null || number < 1 || number > MAX_CELLS) continue;
    raw.push({
      number,
      entityId: entry.entity_id,
      voltage: numberOf(state.state),
      bmsBalancing: state.attributes.balancing === true,
      relayActive: activeCell === number,
      plannedMinutes: numberOf(planned[number - 1]) ?? 0,
    });
  }
  raw.sort((a, b) => a.number - b.number);

  const known = raw.map((cell) => cell.voltage).filter((v): v is number => v !== null);
  const low = known.length ? Math.min(...known) : null;
  const high = known.length ? Math.max(...known) : null;
  const average = known.length ? known.reduce((sum, v) => sum + v, 0) / known.length : null;
  const spreadMv = low !== null && high !== null ? (high - low) * 1000 : null;
  const span = maxV - minV > 0 ? maxV - minV : 1;
  // One highlight each: the lowest-numbered of equal cells (all equal: none).
  const minCell = low !== null && low !== high ? raw.find((c) => c.voltage === low) : undefined;
  const maxCell = high !== null && low !== high ? raw.find((c) => c.voltage === high) : undefined;

  const cells: Cell[] = raw.map((cell) => ({
    ...cell,
    isMin: cell === minCell,
    isMax: cell === maxCell,
    level:
      cell.voltage === null || average === null
        ? "ok"
        : levelOf(Math.abs(cell.voltage - average) * 1000, warn, alarm),
    fill: cell.voltage === null ? 0 : Math.min(1, Math.max(0, (cell.voltage - minV) / span)),
  }));

  return {
    deviceId,
    name: config.title ?? device?.name_by_user ?? device?.name ?? "Battery",
    cells,
    average,
    spreadMv,
    spreadLevel: spreadMv === null ? "ok" : levelOf(spreadMv, warn, alarm),
    minV,
    maxV,
    balancerEntityId,
  };
}
