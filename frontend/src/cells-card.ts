// custom:victron-balance-cells-card: every cell of a Victron Balance battery at a glance.
// Served by the integration itself (no HACS frontend install, no resource to add).

import { LitElement, css, html, nothing } from "lit";
import type { PropertyValues, TemplateResult } from "lit";
import { defineWhenReady } from "./define";
import "./editor";
import {
  type Cell,
  type CellsCardConfig,
  type Hass,
  type Pack,
  DOMAIN,
  batteryDevices,
  readPack,
} from "./model";

const CARD = "victron-balance-cells-card";
const VERSION = "0.1.0";

function volts(value: number | null, digits = 3): string {
  return value === null ? "–" : value.toFixed(digits);
}

export class VictronBalanceCellsCard extends LitElement {
  static properties = {
    hass: { attribute: false },
    _config: { state: true },
  };

  hass?: Hass;
  private _config?: CellsCardConfig;

  static getConfigElement(): HTMLElement {
    return document.createElement(`${CARD}-editor`);
  }

  static getStubConfig(hass: Hass): CellsCardConfig {
    const device = batteryDevices(hass)[0];
    return device ? { type: `custom:${CARD}`, device_id: device } : { type: `custom:${CARD}` };
  }

  setConfig(config: CellsCardConfig): void {
    if (!config || typeof config !== "object") throw new Error("Invalid configuration");
    for (const key of ["min_voltage", "max_voltage", "warn_delta_mv", "alarm_delta_mv"] as const) {
      const value = config[key];
      if (value !== undefined && (typeof value !== "number" || !Number.isFinite(value))) {
        throw new Error(`${key} must be a number`);
      }
    }
    if (
      config.min_voltage !== undefined &&
      config.max_voltage !== undefined &&
      config.min_voltage >= config.max_voltage
    ) {
      throw new Error("min_voltage must be below max_voltage");
    }
    this._config = config;
  }

  getCardSize(): number {
    const cells = this._pack()?.cells.length ?? 16;
    return 2 + Math.ceil(cells / 8) * 2;
  }

  getGridOptions(): Record<string, unknown> {
    return { columns: 12, min_columns: 6, rows: "auto" };
  }

  protected shouldUpdate(changed: PropertyValues): boolean {
    if (changed.has("_config")) return true;
    const old = changed.get("hass") as Hass | undefined;
    if (!old || !this.hass) return true;
    // Redraw only when one of our entities changed (hass changes with every state).
    return Object.keys(this.hass.states).some(
      (id) =>
        old.states[id] !== this.hass?.states[id] && this.hass?.entities[id]?.platform === DOMAIN,
    );
  }

  private _pack(): Pack | null {
    return this.hass && this._config ? readPack(this.hass, this._config) : null;
  }

  private _moreInfo(entityId: string): void {
    this.dispatchEvent(
      new CustomEvent("hass-more-info", { detail: { entityId }, bubbles: true, composed: true }),
    );
  }

  private _cell(cell: Cell): TemplateResult {
    const classes = [
      "cell",
      cell.level,
      cell.isMin ? "min" : "",
      cell.isMax ? "max" : "",
      cell.bmsBalancing ? "bms-balancing" : "",
      cell.relayActive ? "relay-active" : "",
      cell.plannedMinutes > 0 ? "planned" : "",
    ].filter(Boolean);
    const marks: string[] = [];
    if (cell.bmsBalancing) marks.push("BMS balancing");
    if (cell.relayActive) marks.push("balancer charging");
    else if (cell.plannedMinutes > 0) marks.push(`balancer plans ${cell.plannedMinutes} min`);
    const title = `Cell ${cell.number}: ${volts(cell.voltage)} V${marks.length ? ` – ${marks.join(", ")}` : ""}`;
    return html`<button
      class=${classes.join(" ")}
      data-cell=${cell.number}
      title=${title}
      aria-label=${title}
      @click=${() => this._moreInfo(cell.entityId)}
    >
      <span class="mark" aria-hidden="true"
        >${cell.relayActive ? "⚡" : cell.bmsBalancing ? "●" : cell.plannedMinutes > 0 ? "○" : ""}</span
      >
      <span class="bar"><span class="fill" style="height: ${(cell.fill * 100).toFixed(1)}%"></span></span>
      <span class="voltage">${volts(cell.voltage)}</span>
      <span class="number">${cell.number}</span>
    </button>`;
  }

  protected render(): TemplateResult | typeof nothing {
    if (!this._config || !this.hass) return nothing;
    const pack = this._pack();
    if (pack === null || pack.cells.length === 0) {
      return html`<ha-card><div class="empty">No Victron Balance cells found${
        this._config.device_id ? " on this device" : ""
      }.</div></ha-card>`;
    }
    const low = pack.cells.find((c) => c.isMin);
    const high = pack.cells.find((c) => c.isMax);
    return html`<ha-card>
      <div class="header">
        <div class="name">${pack.name}</div>
        <div class="stats">
          <span class="average">Ø ${volts(pack.average)} V</span>
          <span class="spread ${pack.spreadLevel}"
            >Δ ${pack.spreadMv === null ? "–" : Math.round(pack.spreadMv)} mV</span
          >
        </div>
      </div>
      <div class="extremes">
        ${low ? html`<span class="low">▼ ${low.number}: ${volts(low.voltage)} V</span>` : nothing}
        ${high ? html`<span class="high">▲ ${high.number}: ${volts(high.voltage)} V</span>` : nothing}
        <span class="window">${pack.minV.toFixed(2)}–${pack.maxV.toFixed(2)} V</span>
      </div>
      <div class="cells" style="--cells: ${pack.cells.length}">${pack.cells.map((c) => this._cell(c))}</div>
    </ha-card>`;
  }

  static styles = css`
    :host {
      --vb-ok: var(--success-color, #43a047);
      --vb-warn: var(--warning-color, #ffa600);
      --vb-alarm: var(--error-color, #db4437);
      --vb-min: var(--info-color, #039be5);
      --vb-max: var(--error-color, #db4437);
      --vb-relay: var(--warning-color, #ffa600);
    }
    ha-card {
      padding: 12px 12px 8px;
    }
    .header {
      display: flex;
      justify-content: space-between;
      align-items: baseline;
      gap: 8px;
      flex-wrap: wrap;
    }
    .name {
      font-size: 1.15em;
      font-weight: 500;
    }
    .stats {
      display: flex;
      gap: 12px;
      font-variant-numeric: tabular-nums;
    }
    .spread.warn {
      color: var(--vb-warn);
    }
    .spread.alarm {
      color: var(--vb-alarm);
      font-weight: 600;
    }
    .extremes {
      display: flex;
      gap: 12px;
      flex-wrap: wrap;
      font-size: 0.85em;
      color: var(--secondary-text-color);
      margin: 4px 0 8px;
      font-variant-numeric: tabular-nums;
    }
    .extremes .low {
      color: var(--vb-min);
    }
    .extremes .high {
      color: var(--vb-max);
    }
    .cells {
      display: grid;
      grid-template-columns: repeat(auto-fill, minmax(38px, 1fr));
      gap: 4px;
    }
    .cell {
      all: unset;
      box-sizing: border-box;
      display: flex;
      flex-direction: column;
      align-items: center;
      cursor: pointer;
      border-radius: 6px;
      padding: 2px 0;
      border: 2px solid transparent;
      min-width: 0;
    }
    .cell:focus-visible {
      outline: 2px solid var(--primary-color);
    }
    .cell.min {
      border-color: var(--vb-min);
    }
    .cell.max {
      border-color: var(--vb-max);
    }
    .mark {
      height: 1.1em;
      font-size: 0.8em;
      line-height: 1.1em;
      color: var(--vb-relay);
    }
    .cell.bms-balancing .mark {
      color: var(--vb-min);
    }
    .bar {
      position: relative;
      width: 70%;
      height: 96px;
      border-radius: 4px;
      background: var(--secondary-background-color, #e5e5e5);
      overflow: hidden;
    }
    .fill {
      position: absolute;
      bottom: 0;
      left: 0;
      right: 0;
      background: var(--vb-ok);
    }
    .cell.warn .fill {
      background: var(--vb-warn);
    }
    .cell.alarm .fill {
      background: var(--vb-alarm);
    }
    .cell.relay-active .bar {
      box-shadow: 0 0 0 2px var(--vb-relay);
    }
    .voltage {
      font-size: 0.72em;
      font-variant-numeric: tabular-nums;
      margin-top: 2px;
    }
    .number {
      font-size: 0.7em;
      color: var(--secondary-text-color);
    }
    .empty {
      padding: 16px;
      color: var(--secondary-text-color);
    }
  `;
}

if (!customElements.get(CARD)) {
  void defineWhenReady(CARD, VictronBalanceCellsCard);
  const cards = ((window as unknown as { customCards?: unknown[] }).customCards ??= []);
  cards.push({
    type: CARD,
    name: "Victron Balance cells",
    description: "Every cell of the battery: bars in the chemistry's window, min/max, balancing.",
    preview: true,
    documentationURL: "https://github.com/victron-balance/victron_balance#cells-card",
  });
  console.info(`%c${CARD} ${VERSION}`, "color: #005eb8");
}
