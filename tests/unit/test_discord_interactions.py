"""The interaction signature check, with a key pair generated here."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from modsys.adapters.discord import commands as cmd
from modsys.adapters.discord import interactions as ix
from modsys.domain.policy import load_policy
from modsys.infra.config import DEFAULT_POLICY, ConfigError, load_settings

BODY = b'{"type":1}'


@pytest.fixture(scope="module")
def keys():
    private = Ed25519PrivateKey.generate()
    public_hex = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    return private, ix.public_key(public_hex)


def sign(private, body: bytes, ts: int) -> tuple[str, str]:
    return private.sign(str(ts).encode() + body).hex(), str(ts)


def test_a_genuine_fresh_request_passes(keys):
    private, public = keys
    ix.verify(public, *sign(private, BODY, int(time.time())), BODY)


@pytest.mark.parametrize("tamper", ["body", "timestamp", "other key", "not hex", "missing"])
def test_forged_or_unsigned_requests_are_refused(keys, tamper):
    private, public = keys
    now = int(time.time())
    signature, ts = sign(private, BODY, now)
    body = BODY
    if tamper == "body":
        body = b'{"type":2}'
    elif tamper == "timestamp":
        ts = str(now - 1)
    elif tamper == "other key":
        signature, ts = sign(Ed25519PrivateKey.generate(), BODY, now)
    elif tamper == "not hex":
        signature = "zz" * 64
    elif tamper == "missing":
        signature = ""
    with pytest.raises(ix.Refused):
        ix.verify(public, signature, ts, body)


@pytest.mark.parametrize("age", [ix.MAX_AGE_S + 1, -(ix.MAX_AGE_S + 1)])
def test_a_replayed_request_is_refused_even_with_a_valid_signature(keys, age):
    private, public = keys
    now = time.time()
    signature, ts = sign(private, BODY, int(now - age))
    with pytest.raises(ix.Refused, match="stale"):
        ix.verify(public, signature, ts, BODY, now=now)
    ix.verify(public, *sign(private, BODY, int(now - ix.MAX_AGE_S + 5)), BODY, now=now)  # just inside: fine


def test_a_malformed_public_key_stops_the_start():
    with pytest.raises(ConfigError, match="64 hex characters"):
        load_settings({"MODSYS_DISCORD_PUBLIC_KEY": "not-a-key"})
    assert load_settings({}).discord_public_key is None


def test_modal_values_read_labels_and_legacy_action_rows():
    interaction = {"data": {"components": [
        {"type": 18, "id": 1, "component": {"type": 4, "custom_id": "reason", "value": "insult"}},
        {"type": 1, "components": [{"type": 4, "custom_id": "note", "value": "old layout"}]},
        {"type": 18, "component": {"type": 3, "custom_id": "rule", "values": ["respectful"]}},
    ]}}
    assert ix.modal_values(interaction) == {"reason": "insult", "note": "old layout", "rule": "respectful"}


def test_command_definitions_follow_discords_limits_and_the_policy():
    policy = load_policy(DEFAULT_POLICY)
    defs = cmd.definitions(policy)
    names = [d["name"] for d in defs]
    assert names[0] == cmd.REPORT and "default_member_permissions" not in defs[0]  # every member
    for d in defs[1:]:
        assert d["default_member_permissions"] == cmd.MODERATE_MEMBERS  # members don't see staff commands
    for d in defs:
        assert 1 <= len(d["name"]) <= 32
        assert (d["description"] == "") == (d["type"] != cmd.CHAT_INPUT)
        opts = d.get("options", [])
        assert len(opts) <= 25
        required = [o.get("required", False) for o in opts]
        assert required == sorted(required, reverse=True), f"{d['name']}: required options first"
    timeout = next(d for d in defs if d["name"] == "timeout")
    choices = next(o for o in timeout["options"] if o["name"] == "duration")["choices"]
    bounds = policy.sanctions.timeout
    assert choices and all(bounds.min <= cmd.parse_choice(c["value"]) <= bounds.max for c in choices)
    assert {"note", "unban", "untimeout", "reason"} <= set(names)
    reason = next(d for d in defs if d["name"] == "reason")
    assert [(o["name"], o["type"], o["required"]) for o in reason["options"]] == [
        ("case", cmd.INTEGER, True), ("text", cmd.STRING, True), ("rule", cmd.STRING, False)]
    ban = next(d for d in defs if d["name"] == "ban")
    assert {"name": "permanent", "value": "permanent"} in next(o for o in ban["options"] if o["name"] == "duration")["choices"]


def _all_options(options):
    for o in options or []:
        yield o
        yield from _all_options(o.get("options"))


def test_no_required_on_sub_command_options():
    """application-commands.mdx, Application Command Option Structure: `required` is
    for "all but SUB_COMMAND and SUB_COMMAND_GROUP"."""
    for d in cmd.definitions(load_policy(DEFAULT_POLICY)):
        for o in _all_options(d.get("options")):
            if o["type"] in (cmd.SUB_COMMAND, 2):
                assert "required" not in o, f"{d['name']}/{o['name']}"


def test_duration_choices_are_the_policys(tmp_path):
    """The commands offer what the policy says, nothing from a list in the code
    (which offered "30 days" for timeouts)."""
    text = DEFAULT_POLICY.read_text().replace(
        "timeout: {min: 1m, max: 28d}", "timeout: {min: 1m, max: 28d, choices: [15m, 2h, 28d]}", 1)
    path = tmp_path / "p.yaml"
    path.write_text(text)
    defs = {d["name"]: d for d in cmd.definitions(load_policy(path))}
    offered = next(o for o in defs["timeout"]["options"] if o["name"] == "duration")["choices"]
    assert offered == [{"name": "15 minutes", "value": "15m"}, {"name": "2 hours", "value": "2h"},
                       {"name": "4 weeks", "value": "28d"}]
    default = load_policy(DEFAULT_POLICY)  # no list: min, the ladders' durations, max
    offered = next(o for o in {d["name"]: d for d in cmd.definitions(default)}["timeout"]["options"]
                   if o["name"] == "duration")["choices"]
    assert [cmd.parse_choice(c["value"]) for c in offered] == default.duration_choices("timeout")
    assert all(cmd.parse_choice(c["value"]) <= default.sanctions.timeout.max for c in offered)
