"""Temperatures, fan speeds, voltages and power from hwmon and thermal zones.

``hw.sensors`` reads every ``/sys/class/hwmon`` chip (CPU package and core
temperatures, NVMe drives, fans, voltage rails, power meters; no lm-sensors
needed) and every ``/sys/class/thermal`` zone with its trip points, converts
readings to °C, RPM, volts, amperes and watts, and lists ``alerts``: readings at
or over their ``max``/``crit`` limit or with an alarm bit set, and zones past a
critical or hot trip point. Unavailable where the kernel exposes no sensors
(most virtual machines). Reads only.
"""

from __future__ import annotations

import os
import re

import msgspec

from agent_core import ActionContext, NoParams, Plugin, Risk, action
from agent_core.procfs import listdir, read

HWMON = "/sys/class/hwmon"
THERMAL = "/sys/class/thermal"
# kind prefix -> (unit, divisor): hwmon uses milli-units, fans are plain RPM, power is micro-watts.
KINDS = {"temp": ("C", 1000.0), "fan": ("rpm", 1.0), "in": ("V", 1000.0), "curr": ("A", 1000.0), "power": ("W", 1e6)}
_INPUT = re.compile(r"^(temp|fan|in|curr|power)(\d+)_(input|average)$")


def _check() -> str | None:
    """At least one hwmon chip or thermal zone in sysfs."""
    if listdir(HWMON) or any(z.startswith("thermal_zone") for z in listdir(THERMAL)):
        return None
    return "the kernel exposes no hwmon chips or thermal zones (typical for a virtual machine)"


PLUGIN = Plugin("hw.sensors", domain="hardware", check=_check)


class Reading(msgspec.Struct):
    chip: str
    sensor: str
    kind: str
    label: str
    value: float
    unit: str
    max: float | None = None
    crit: float | None = None
    min: float | None = None
    alarm: bool = False


class TripPoint(msgspec.Struct):
    type: str
    temp: float


class Zone(msgspec.Struct):
    zone: str
    type: str
    temp: float | None
    trips: list[TripPoint]


class Sensors(msgspec.Struct):
    readings: list[Reading]
    zones: list[Zone]
    alerts: list[str]


def _scaled(path: str, divisor: float) -> float | None:
    text = read(path)
    try:
        return round(int(text) / divisor, 3) if text is not None else None
    except ValueError:
        return None  # some drivers answer EIO or "N/A" for absent sensors


def read_hwmon(root: str = HWMON) -> list[Reading]:
    readings = []
    for hw in listdir(root):
        d = os.path.join(root, hw)
        chip = read(f"{d}/name") or hw
        # Older drivers put the attributes under device/.
        base = d if any(_INPUT.match(f) for f in listdir(d)) else f"{d}/device"
        for fname in listdir(base):
            m = _INPUT.match(fname)
            if not m:
                continue
            kind, num, _ = m.groups()
            unit, div = KINDS[kind]
            value = _scaled(f"{base}/{fname}", div)
            if value is None:
                continue
            prefix = f"{base}/{kind}{num}"
            readings.append(
                Reading(
                    chip=chip,
                    sensor=f"{kind}{num}",
                    kind=kind,
                    label=read(f"{prefix}_label") or f"{kind}{num}",
                    value=value,
                    unit=unit,
                    max=_scaled(f"{prefix}_max", div),
                    crit=_scaled(f"{prefix}_crit", div),
                    min=_scaled(f"{prefix}_min", div),
                    alarm=any(read(f"{prefix}_{a}") == "1" for a in ("alarm", "crit_alarm", "max_alarm")),
                )
            )
    return readings


def read_thermal(root: str = THERMAL) -> list[Zone]:
    zones = []
    for name in listdir(root):
        if not name.startswith("thermal_zone"):
            continue
        d = os.path.join(root, name)
        trips = []
        for fname in listdir(d):
            m = re.match(r"^trip_point_(\d+)_type$", fname)
            if m:
                temp = _scaled(f"{d}/trip_point_{m.group(1)}_temp", 1000.0)
                if temp is not None:
                    trips.append(TripPoint(type=read(f"{d}/{fname}") or "", temp=temp))
        zones.append(Zone(zone=name, type=read(f"{d}/type") or "", temp=_scaled(f"{d}/temp", 1000.0), trips=trips))
    return zones


def alerts(readings: list[Reading], zones: list[Zone]) -> list[str]:
    out = []
    for r in readings:
        limit = r.crit if r.crit else r.max
        if r.alarm:
            out.append(f"{r.chip}/{r.label}: alarm set ({r.value}{r.unit})")
        elif limit and r.kind in ("temp", "power", "curr") and r.value >= limit:
            out.append(f"{r.chip}/{r.label}: {r.value}{r.unit} at or over limit {limit}{r.unit}")
        elif r.kind == "fan" and r.min and r.value < r.min:
            out.append(f"{r.chip}/{r.label}: {r.value}rpm under minimum {r.min}rpm")
    for z in zones:
        for trip in z.trips:
            if z.temp is not None and trip.type in ("critical", "hot") and z.temp >= trip.temp:
                out.append(f"{z.zone} ({z.type}): {z.temp}C past {trip.type} trip {trip.temp}C")
    return out


@action("hw.sensors", risk=Risk.READ, timeout=15)
async def sensors(ctx: ActionContext, p: NoParams) -> Sensors:
    """Every hwmon reading and thermal zone, converted to units, with readings past their limits."""
    readings, zones = read_hwmon(), read_thermal()
    return Sensors(readings=readings, zones=zones, alerts=alerts(readings, zones))
