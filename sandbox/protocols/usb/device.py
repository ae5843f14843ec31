"""The parser of every USB device flow: who the device is, and which class decoder gets which bytes.

The flow table hands it every transfer of one device (``bus.device``; the control pipe and all
endpoints).  Standard requests on the control pipe tell it the device's identity (VID:PID, class,
manufacturer, product, serial: the device and string descriptors) and its interfaces and endpoints
(the configuration descriptor); each interface goes to the first registered function
(``sandbox.protocols.usb.functions.FUNCTIONS``) that claims it, a CDC data interface to the function of the
interface that controls it.  An endpoint no descriptor described (the capture began after
enumeration) goes to the function whose ``detect`` recognises its first OUT transfer, else raw.

A device whose enumeration the capture shows (SET_ADDRESS on the default address, then its
descriptors) appeared during the session: a new mass-storage, network or serial device is a
``usb-device`` finding of its own.  Descriptors and strings are the device's own words: hostile,
made safe, bounded.
"""

from __future__ import annotations

import dataclasses
import struct
from collections import OrderedDict
from typing import Any, ClassVar

from sandbox.model import Payload, Segment
from sandbox.protocols.context import FlowContext
from sandbox.protocols.usb import functions
from sandbox.protocols.usb.descriptors import (
    DT_CONFIG,
    DT_DEVICE,
    DT_STRING,
    MAX_STRINGS,
    Interface,
    class_name,
    parse_config,
    parse_device,
    parse_string,
)
from sandbox.protocols.usb.function import Items, Transfer
from sandbox.protocols.usb.raw import RawFunction

GET_DESCRIPTOR, SET_ADDRESS, SET_CONFIGURATION = 0x06, 0x05, 0x09
STANDARD, RECIPIENT_INTERFACE = 0x00, 0x01
CDC_DATA = 0x0A
DEVICES = "usb-devices"     # key in the flow table's shared dict: what each device said, by bus.device
APPEARED = "usb-appeared"   # ...and the addresses SET_ADDRESS gave out (enumerations seen)
# Devices remembered across their flows (a flow ends when a device is idle; it says who it is once).
MAX_DEVICES = 256
# Control requests awaiting their completion, per device (a host keeps one or two in flight).
MAX_PENDING = 64
# Endpoints with a function of their own (USB allows 30 besides the control pipe).
MAX_ENDPOINTS = 32
# Functions whose appearance is a finding: a path for files, frames or a serial stream.
NEW_PATHS = {"msc": "mass-storage", "cdc-ecm": "network", "cdc-ncm": "network", "rndis": "network",
             "cdc-acm": "serial"}
NEW_DEVICE_SEVERITY = "medium"
USB_DEVICE = "usb-device"
UNDESCRIBED = "not described in the capture"


class _Device:
    """What a device said about itself (kept across its flows)."""

    __slots__ = ("descriptor", "strings", "interfaces", "configuration", "appeared", "announced")

    def __init__(self) -> None:
        self.descriptor: Any = None
        self.strings: dict[int, str] = {}
        self.interfaces: list[Interface] = []
        self.configuration = 0
        self.appeared = 0.0          # capture time of the enumeration, 0 when not seen
        self.announced = False


def _remember(shared: dict[str, Any], key: str, address: str, value: Any) -> Any:
    table = shared.get(key)
    if table is None:
        table = shared[key] = OrderedDict()
    if address not in table:
        table[address] = value
        if len(table) > MAX_DEVICES:
            table.popitem(last=False)
    table.move_to_end(address)
    return table[address]


class UsbDeviceParser:
    """The ``usb`` channel parser; see the module docstring."""

    name: ClassVar[str] = "usb"

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        """Always: every device flow is parsed transfer by transfer."""
        return True

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.functions = list(functions.FUNCTIONS)  # read at construction: the registry may grow
        self.address = ctx.info.dst
        self.label = f"usb {self.address}"
        self.device: _Device = _remember(ctx.shared, DEVICES, self.address, _Device())
        appeared = ctx.shared.get(APPEARED, {}).get(self.address)
        if appeared is not None and not self.device.appeared:
            self.device.appeared = appeared
        self.pending: OrderedDict[int, bytes] = OrderedDict()
        self.by_endpoint: dict[int, Any] = {}       # endpoint address -> function
        self.by_interface: dict[int, Any] = {}      # interface number -> function
        self.active: list[Any] = []                 # every function made, in order
        self.default: Any = None                    # the raw function for what has no other home
        self.sent = False                           # OUT data went to a function: the name stays
        ctx.info.app = ctx.info.app or "usb"
        self._identify()
        if self.device.interfaces:
            self._bind(self.device.interfaces)

    # -- the flow table's calls ------------------------------------------------------------------
    def feed_segment(self, direction: str, seg: Segment) -> Items:
        meta = seg.meta or {}
        kind = meta.get("transfer", "bulk")
        endpoint = int(meta.get("endpoint", 0x80 if direction == "in" else 0))
        tr = Transfer(direction, endpoint, kind, seg.data, seg.t, int(meta.get("length", len(seg.data))),
                      frame=seg.frame)
        if kind == "control":
            return self._control(tr, meta)
        return self._to(self._function_for(tr), tr)

    def feed(self, direction: str, data: bytes, t: float) -> Items:
        """Bytes without transfer metadata (a caller that is not the flow table): raw."""
        return self._to(self._raw(), Transfer(direction, 0x80 if direction == "in" else 0x00, "bulk", data, t))

    def idle(self, t: float) -> Items:
        out: Items = []
        for fn in self.active:
            out += fn.idle(t)
        return out

    def close(self, t: float) -> Items:
        out: Items = []
        for fn in self.active:
            out += fn.close(t)
        return out

    # -- control pipe ----------------------------------------------------------------------------
    def _control(self, tr: Transfer, meta: dict[str, Any]) -> Items:
        urb = int(meta.get("urb_id", 0))
        setup = meta.get("setup")
        if isinstance(setup, bytes) and len(setup) == 8:
            self.pending[urb] = setup
            if len(self.pending) > MAX_PENDING:
                self.pending.popitem(last=False)
            tr.setup = setup
            if self._request(tr):
                return self._announce(tr.t)
            return self._class_request(tr) if tr.data else []
        request = self.pending.get(urb) or (next(reversed(self.pending.values())) if self.pending else b"")
        if tr.direction == "in":
            self.pending.pop(urb, None)
        tr.setup = request
        if tr.direction == "in" and len(request) == 8 and request[1] == GET_DESCRIPTOR and not request[0] & 0x60:
            self._descriptor(request, tr.data)
            return []
        return self._class_request(tr)

    def _request(self, tr: Transfer) -> bool:
        """Standard requests that change what the device is (no data needed); True when the host
        configured the device (the end of its enumeration)."""
        rtype, request, value = tr.setup[0], tr.setup[1], struct.unpack_from("<H", tr.setup, 2)[0]
        if rtype & 0x60 != STANDARD:
            return False
        if request == SET_ADDRESS and self.address.endswith(".0"):
            bus = self.address.rsplit(".", 1)[0]
            _remember(self.ctx.shared, APPEARED, f"{bus}.{value & 0x7F}", tr.t)
        elif request == SET_CONFIGURATION:
            self.device.configuration = value & 0xFF
            return True
        return False

    def _class_request(self, tr: Transfer) -> Items:
        """Class and vendor requests (and their data) go to the function of the interface they
        address; OUT data nobody claims goes raw."""
        if not tr.data:
            return []
        fn = None
        if len(tr.setup) == 8 and tr.setup[0] & 0x1F == RECIPIENT_INTERFACE:
            fn = self.by_interface.get(tr.setup[4])
        return self._to(fn or self._raw(), tr)

    def _descriptor(self, request: bytes, data: bytes) -> None:
        dtype, index = request[3], request[2]
        device = self.device
        if dtype == DT_DEVICE:
            parsed = parse_device(data)
            if parsed is not None:
                device.descriptor = parsed
        elif dtype == DT_CONFIG:
            parsed_config = parse_config(data)
            if parsed_config is not None and parsed_config[1]:
                device.interfaces = parsed_config[1]
                self._bind(device.interfaces)
        elif dtype == DT_STRING and index:
            text = parse_string(data)
            if text is not None and (index in device.strings or len(device.strings) < MAX_STRINGS):
                device.strings[index] = text
        self._identify()

    # -- who the device is -----------------------------------------------------------------------
    def _identify(self) -> None:
        device, meta = self.device, self.ctx.info.meta
        d = device.descriptor
        if d is not None:
            meta["vid"], meta["pid"] = d.vid, d.pid
            meta["release"] = f"{d.release >> 8:x}.{d.release & 0xFF:02x}"
            for key, index in (("manufacturer", d.i_manufacturer), ("product", d.i_product),
                               ("serial", d.i_serial)):
                if index in device.strings:
                    meta[key] = device.strings[index]
        if device.interfaces:
            meta["interfaces"] = sorted({class_name(i.cls) for i in device.interfaces})
            # what each interface is: its decoder's name, else its class (vendor, audio, ...)
            names = [self.by_interface[i.number].name if self.by_interface.get(i.number) not in (None, self.default)
                     else class_name(i.cls) for i in device.interfaces if i.cls != CDC_DATA]
            meta["usb_class"] = ", ".join(dict.fromkeys(names)) or "cdc-data"
        elif self.active and any(fn is not self.default for fn in self.active):
            meta["usb_class"] = ", ".join(dict.fromkeys(fn.name for fn in self.active if fn is not self.default))
        elif d is not None:
            meta["usb_class"] = class_name(d.cls) if d.cls else "per interface"
        else:       # enumerated before the capture began and nothing recognised by content yet
            meta["usb_class"] = UNDESCRIBED
        if device.appeared:
            meta["appeared"] = device.appeared
        if not self.sent and d is not None:
            product = meta.get("product") or meta.get("manufacturer") or ""
            name = f"{self.label} {d.vid:04x}:{d.pid:04x}" + (f" {product}" if product else "")
            self.ctx.destination = name

    def _announce(self, t: float) -> Items:
        """A device that appeared during the session, with a function that is a path out: a finding."""
        device = self.device
        if device.announced or not device.appeared or device.descriptor is None:
            return []
        paths = sorted({NEW_PATHS[fn.name] for fn in self.active if fn.name in NEW_PATHS})
        if not paths:
            return []
        device.announced = True
        meta = self.ctx.info.meta
        detail = {k: meta[k] for k in ("vid", "pid", "manufacturer", "product", "serial", "usb_class") if k in meta}
        detail["vid_pid"] = f"{device.descriptor.vid:04x}:{device.descriptor.pid:04x}"
        detail["paths"] = paths
        ctx = dataclasses.replace(self.ctx, chain=(self.label,))
        return [ctx.observation(USB_DEVICE, NEW_DEVICE_SEVERITY, device.appeared, t, label="new device",
                                detail=detail)]

    # -- functions -------------------------------------------------------------------------------
    def _make(self, cls: type) -> Any:
        fn = cls(dataclasses.replace(self.ctx, chain=(self.label, cls.name)))
        self.active.append(fn)
        return fn

    def _raw(self) -> Any:
        if self.default is None:
            self.default = self._make(RawFunction)
        return self.default

    def _bind(self, interfaces: list[Interface]) -> None:
        """Give each interface (first alternate setting first) its function, and its endpoints."""
        controlled: dict[int, Any] = {}
        for iface in interfaces:
            if iface.number in self.by_interface:
                fn = self.by_interface[iface.number]
            elif iface.cls == CDC_DATA and iface.number in controlled:
                fn = controlled[iface.number]
            else:
                cls = next((c for c in self.functions if c.claims(iface)), None)
                fn = self._make(cls) if cls is not None else self._raw()
            self.by_interface.setdefault(iface.number, fn)
            for slave in iface.slaves:
                controlled.setdefault(slave, fn)
            if iface.cls != CDC_DATA and not iface.slaves:
                controlled.setdefault(iface.number + 1, fn)    # no union descriptor: the next one
            for ep in iface.endpoints:
                if len(self.by_endpoint) < MAX_ENDPOINTS:
                    self.by_endpoint.setdefault(ep.address, fn)
        self._identify()

    def _function_for(self, tr: Transfer) -> Any:
        fn = self.by_endpoint.get(tr.endpoint)
        if fn is not None:
            return fn
        if tr.direction == "out" and tr.data:
            cls = next((c for c in self.functions if _detects(c, tr.data)), None)
            fn = self._make(cls) if cls is not None else self._raw()
        else:       # IN on an endpoint nothing described: the function last found by content, if any
            found = [f for f in self.by_endpoint.values() if f is not self.default]
            fn = found[-1] if found else self._raw()
        if len(self.by_endpoint) < MAX_ENDPOINTS:
            self.by_endpoint[tr.endpoint] = fn
        self._identify()
        return fn

    def _to(self, fn: Any, tr: Transfer) -> Items:
        out: Items = []
        try:
            out += fn.transfer(tr)
        except Exception as exc:        # a function bug: its endpoints go raw, the bytes are still examined
            self.ctx.error(f"usb {fn.name}: {type(exc).__name__}: {exc}".splitlines()[0])
            raw = self._raw()
            for key in [k for k, v in self.by_endpoint.items() if v is fn]:
                self.by_endpoint[key] = raw
            for key in [k for k, v in self.by_interface.items() if v is fn]:
                self.by_interface[key] = raw
            if fn is not raw:
                out += raw.transfer(tr)
        if tr.direction == "out" and any(isinstance(item, Payload) for item in out):
            self.sent = True
        if not self.device.announced and self.device.appeared:
            out[:0] = self._announce(tr.t)
        return out


def _detects(cls: type, data: bytes) -> bool:
    try:
        return bool(cls.detect(data))
    except Exception:       # a detect bug must not stop the device: it just does not claim
        return False


