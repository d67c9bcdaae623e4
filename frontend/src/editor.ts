// The card's visual editor: HA's own ha-form with a device picker and the thresholds.

import { LitElement, html, nothing } from "lit";
import type { TemplateResult } from "lit";
import { defineWhenReady } from "./define";
import { type CellsCardConfig, type Hass, DOMAIN } from "./model";

const SCHEMA = [
  { name: "device_id", selector: { device: { filter: { integration: DOMAIN } } } },
  { name: "title", selector: { text: {} } },
  {
    type: "grid",
    name: "",
    schema: [
      { name: "min_voltage", selector: { number: { min: 0, max: 5, step: 0.01, mode: "box", unit_of_measurement: "V" } } },
      { name: "max_voltage", selector: { number: { min: 0, max: 5, step: 0.01, mode: "box", unit_of_measurement: "V" } } },
      { name: "warn_delta_mv", selector: { number: { min: 1, max: 500, step: 1, mode: "box", unit_of_measurement: "mV" } } },
      { name: "alarm_delta_mv", selector: { number: { min: 1, max: 1000, step: 1, mode: "box", unit_of_measurement: "mV" } } },
    ],
  },
];

const LABELS: Record<string, string> = {
  device_id: "Battery (empty: the first one found)",
  title: "Title (empty: the device's name)",
  min_voltage: "Bar bottom (V)",
  max_voltage: "Bar top (V, empty: the chemistry's maximum)",
  warn_delta_mv: "Warn at a deviation of (mV)",
  alarm_delta_mv: "Alarm at a deviation of (mV)",
};

export class VictronBalanceCellsCardEditor extends LitElement {
  static properties = {
    hass: { attribute: false },
    _config: { state: true },
  };

  hass?: Hass;
  private _config?: CellsCardConfig;

  setConfig(config: CellsCardConfig): void {
    this._config = config;
  }

  private _changed(event: CustomEvent<{ value: CellsCardConfig }>): void {
    const config: Record<string, unknown> = { ...event.detail.value };
    for (const [key, value] of Object.entries(config)) {
      if (value === "" || value === undefined || value === null) delete config[key];
    }
    this.dispatchEvent(
      new CustomEvent("config-changed", { detail: { config }, bubbles: true, composed: true }),
    );
  }

  protected render(): TemplateResult | typeof nothing {
    if (!this.hass || !this._config) return nothing;
    return html`<ha-form
      .hass=${this.hass}
      .data=${this._config}
      .schema=${SCHEMA}
      .computeLabel=${(item: { name: string }) => LABELS[item.name] ?? item.name}
      @value-changed=${this._changed}
    ></ha-form>`;
  }
}

const EDITOR = "victron-balance-cells-card-editor";
void defineWhenReady(EDITOR, VictronBalanceCellsCardEditor);
