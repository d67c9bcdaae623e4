"""The safety envelope: the only way out to the GX, the EVSE and the balancer.

Nothing reaches the GX but what this package made: virtual-BMS documents
(`envelope.Document`, built by `VirtualBmsEnvelope`) and settings writes
(`gx_settings.SettingWrite`, made by `checked_write`); nothing reaches a balancer but
the `balancer.Permit`s of `BalancerGate`; nothing reaches the openEVSE station but the
`evse.ClaimPermit`s of `permit_claim`, and Venus's EV-charger view only an
`evse.EvChargerDocument`. The Home Assistant side publishes those types and nothing
else. Pure Python, no Home Assistant imports.

Invariants (the README's safety section says the same for users; the property tests
in tests/logic/safety and `scripts/bench safety` check them):

* **I1 — never more permissive than the real BMS.** Virtual BMS CCL <= the real BMS's
  CCL, DCL <= its DCL, AllowToCharge/AllowToDischarge only where it allows them, its
  alarms carried; a limit it does not publish is replaced by the configured safe value;
  a level-2 alarm that makes charging unsafe, or a pack outside 0-55 °C, means 0 A.
  Only CVL may exceed the real BMS's, only during an active top-balance run, and never
  above cells x min(target, OVP - margin). (`envelope.filter_limits`)
* **I2 — a stop is safe at once.** Stop, abort, done, unload, Home Assistant stop: the
  next document carries a non-elevated CVL, CCL = min(real, normal) and the real BMS's
  permissions; after an abort for a BMS block or alarm, AllowToCharge 0 and CCL 0 for
  as long as the real BMS says so. (`logic.charge_supervisor`, through the envelope)
* **I3 — never silent while in control.** During a run or a hold, incomplete or stale
  readings still produce a document: charge not allowed, 0 A, the last complete
  readings. Beyond the controller's stale limit the run aborts. (`envelope`)
* **I4 — flash writes only from a confirmed pack.** DVCC settings are computed only from
  a pack description that is complete and stable (`pack.PackTracker`); out-of-window
  values are refused, never written, never raised into a background task.
  (`gx_settings.checked_write`)
* **I5 — the real BMS is in control between runs.** `BmsInstance` is switched to the
  virtual BMS for a run or a hold and given back at its end, on abort, on unload, and
  when found pointing at it after a restart. (`bms_switch.BmsSwitch`)
* **I6 — the balancer switches itself off.** A lease the device enforces (DC/DC and
  relays off in the safe order without renewal), the controller's Last Will, a per-charge
  time cap in the device, "current off" proven by a measured current or a measurement
  that can tell, a fault latched before any command. (`balancer.BalancerGate`)
* **E1-E4 — the EVSE.** A pause or release always passes; no charging claim while the
  station or Venus is out of view; whole amps between 6 A and the lowest of the user's,
  the station's and openEVSE's maximum, else a pause; only plausible numbers to the
  EV-charger view in Venus. (`evse`)
* **I7 — one path per intent.** Every user action goes through the supervisor's
  `select_mode`/`set_limits`/`set_parameters`/`stop_virtual_control`.
"""

from __future__ import annotations

from .balancer import BalancerGate, GateFacts, GateLimits, Permit, Refusal
from .bms_switch import BmsSwitch, SwitchView
from .envelope import Document, EnvelopeConfig, Limits, VirtualBmsEnvelope, Wish, filter_limits
from .evse import (
    ClaimPermit,
    EvChargerDocument,
    EvseFacts,
    ev_charger_document,
    permit_claim,
)
from .gx_settings import SettingWrite, WriteBudget, WriteRefused, checked_write
from .pack import ConfirmedPack, PackShape, PackTracker
from .real_bms import CHARGE_BLOCKING_ALARMS, BmsReading

__all__ = [
    "CHARGE_BLOCKING_ALARMS",
    "BalancerGate",
    "BmsReading",
    "BmsSwitch",
    "ClaimPermit",
    "ConfirmedPack",
    "Document",
    "EnvelopeConfig",
    "EvChargerDocument",
    "EvseFacts",
    "GateFacts",
    "GateLimits",
    "Limits",
    "PackShape",
    "PackTracker",
    "Permit",
    "Refusal",
    "SettingWrite",
    "SwitchView",
    "VirtualBmsEnvelope",
    "Wish",
    "WriteBudget",
    "WriteRefused",
    "checked_write",
    "ev_charger_document",
    "filter_limits",
    "permit_claim",
]
