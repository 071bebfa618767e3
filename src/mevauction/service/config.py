"""Service configuration: defaults, then a TOML file, then ``MEVAUCTION_*`` env, then flags.

``world`` is a world kind (``table``, ``amm``, ``evm``) or the path of a JSON file
holding a world object (e.g. the pools of an ``amm`` world) or a whole scenario
whose ``world`` is used.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mevauction.errors import InputError, as_wei, host_port, require
from mevauction.eth import fields as eth_fields  # (dataclasses.fields is used here too)
from mevauction.eth import secp256k1
from mevauction.preconf.nike import GROUP_R
from mevauction.preconf.params import MODES

# The preconfirmation schedule the service publishes: capacity on sale from the moment a
# bid for the block can arrive (this many ms before it) until ``preconf_final_ms``.
OPEN_SCHEDULE_MS = 1 << 40


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    host: str = "127.0.0.1"
    port: int = 8545
    db: str = "sqlite:///mevauction.db"
    slot_seconds: float = 12.0
    world: str = "table"
    # "anvil": start an embedded devnet node; an http(s) URL: use that node (anvil-like,
    # mining off); "": no chain (slots numbered by the service's own clock).
    chain: str = ""
    k_cutoff: int = 8
    block_gas_limit: int = 30_000_000
    # The chain transactions must be signed for (EIP-155); anvil's default. An evm world
    # file that names its own chain_id pins it instead (its state is that chain's).
    chain_id: int = 31337
    max_body_bytes: int = 512 * 1024
    rate_per_signer: float = 2000.0  # requests per second, token bucket
    burst_per_signer: int = 4000
    max_slots_ahead: int = 64
    body_timeout: float = 10.0  # seconds a client may take to send its body
    # Signed state-changing requests carry a timestamp within ± this many seconds of the
    # service's clock; repeats inside the window are refused (service/replay.py).
    request_window: float = 30.0
    # Connection limits of the HTTP port (service/connections.py): seconds to complete a
    # request's headers, connections per client address and overall (the overall cap is
    # lowered to what RLIMIT_NOFILE leaves after the descriptors kept for the service).
    header_timeout: float = 5.0
    max_connections: int = 4096
    max_connections_per_client: int = 128
    identity: str = "mevauction"  # seeds this service's builder/proposer identifiers
    # Acceptor processes sharing the public port (0: this process serves it alone);
    # see service/acceptors.py.
    acceptors: int = 0
    # Sealed builder bids are opened by a local MPC committee (mevauction.privacy).
    sealed: bool = False
    committee_parties: int = 3
    # "mpc": the 3-server committee; "2pc": a garbler and an evaluator (service/pair.py),
    # local processes, or running ones named by a mevauction.2pc-parties/1 file.
    sealed_backend: str = "mpc"
    sealed_parties_file: str = ""
    # The preconfirmation provider (off while no key is set): see service/preconf.py.
    preconf_key: str = ""  # hex secp256k1 private key that signs commitments and rejects
    preconf_nike_key: str = ""  # hex BN254 scalar; derived from preconf_key when empty
    preconf_chain_id: int = 17864  # mev-commit chain
    preconf_contract: str = ""  # the PreconfManager address the bids are signed for
    preconf_mode: str = "continuous"
    # Hash-only bids (txHashes, no rawTransactions): "held" (default) commits them only when
    # every named transaction already reached the service, else a signed `unknown-transaction`
    # reject: a bidder who withholds its own transaction cannot collect the slash; "any" commits
    # them as mev-commit does (a bidder may broadcast after the commitment) and takes that risk
    # (docs/preconf.md).
    preconf_hash_only: str = "held"
    preconf_capacity_gas: int = 15_000_000  # gas per block sold as preconfirmations
    preconf_reserve_per_gas: int = 1  # wei per gas
    preconf_reject_within_ms: int = 2000
    preconf_final_ms: int = 500  # last auction this long before the block; later bids expire
    preconf_deposits: dict = field(default_factory=dict)  # bidder address → wei (BidderRegistry snapshot)
    preconf_stake: str = "10000000000000000000"  # wei staked (ProviderRegistry); slashes come out of it
    preconf_horizon_blocks: int = 64  # bids for blocks further ahead of the current one are refused
    preconf_dispatch_window_ms: int = 2000  # PreconfManager's commitmentDispatchWindow
    # The builder registry: address → deposit in wei. Only these signers may send builder
    # bids, each within its free deposit (service/builders.py).
    builders: dict = field(default_factory=dict)
    # Wall-clock budget of the builders' submitted algorithms at each deadline (service/algorithms.py).
    algorithm_budget_ms: int = 1000

    def world_object(self) -> dict:
        """The slot world as a scenario ``world`` object."""
        if self.chain and self.world == "table":  # a chain executes transactions: the evm world
            return {"kind": "evm", "chain_id": self.chain_id}
        if self.world in ("table", "amm"):
            return {"kind": self.world}
        if self.world == "evm":
            return {"kind": "evm", "chain_id": self.chain_id}
        path = Path(self.world)
        require(path.is_file(), "world", f"{self.world!r} is neither a world kind nor a JSON file")
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError("world", f"cannot read {self.world}: {exc}") from None
        world = doc.get("world", doc) if isinstance(doc, dict) else None
        if not (isinstance(world, dict) and isinstance(world.get("kind"), str)):
            raise InputError("world", "file has no world object")
        return world

    def effective_chain_id(self) -> int:
        """The chain id transactions are checked against: an evm world's own, else ``chain_id``."""
        world = self.world_object()
        chain = world.get("chain_id") if world.get("kind") == "evm" else None
        return chain if isinstance(chain, int) and not isinstance(chain, bool) else self.chain_id


def _coerce(name: str, value: Any, kind: type) -> Any:
    try:
        if kind is dict:
            result = json.loads(value) if isinstance(value, str) else value
            require(isinstance(result, dict), name, "must be a table (TOML) or a JSON object (env)")
            return dict(result)
        if kind is bool:
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
        result = kind(value)
    except (TypeError, ValueError):
        raise InputError(name, f"must be a {kind.__name__}, got {value!r}") from None
    if kind in (int, float):
        require(result > 0 or (name.endswith(("port", "acceptors")) and result == 0), name, "must be positive")
    return result


def _setting_type(f: Field[Any]) -> type:
    if f.default is not MISSING:
        return type(f.default)
    assert f.default_factory is not MISSING, f"setting {f.name} has no default"
    return type(f.default_factory())


def load_config(flags: dict[str, Any], toml_path: str | None = None,
                env: Mapping[str, str] | None = None) -> ServiceConfig:
    """Merge the sources in increasing precedence; unknown TOML keys are an error."""
    source: Mapping[str, str] = os.environ if env is None else env
    types = {f.name: _setting_type(f) for f in fields(ServiceConfig)}
    values: dict[str, Any] = {}
    toml_path = toml_path or source.get("MEVAUCTION_CONFIG")
    if toml_path:
        try:
            doc = tomllib.loads(Path(toml_path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InputError("config", f"cannot read {toml_path}: {exc}") from None
        table = doc.get("serve", doc)
        for key, value in table.items():
            name = key.replace("-", "_")
            require(name in types, f"config.{key}", "unknown setting")
            values[name] = _coerce(f"config.{key}", value, types[name])
    for name, kind in types.items():
        text = source.get(f"MEVAUCTION_{name.upper()}")
        if text is not None:
            values[name] = _coerce(f"MEVAUCTION_{name.upper()}", text, kind)
    for name, value in flags.items():
        if value is not None and name in types:
            values[name] = _coerce(f"--{name.replace('_', '-')}", value, types[name])
    config = replace(ServiceConfig(), **values)
    config.world_object()  # fail early on a bad --world
    if config.chain and config.chain != "anvil":
        require(config.chain.startswith(("http://", "https://")), "chain", "must be 'anvil' or a node's http(s) URL")
    if config.sealed:
        from mevauction.service.committee import sealed_available
        require(sealed_available(), "sealed", "the sealed-bid committee (mevauction.privacy) is not installed")
        require(config.committee_parties >= 3, "committee_parties", "a committee needs at least 3 parties")
    require(config.sealed_backend in ("mpc", "2pc"), "sealed_backend", "must be 'mpc' or '2pc'")
    require(config.sealed or config.sealed_backend == "mpc", "sealed_backend",
            "chooses a sealed backend: needs --sealed")
    if config.sealed_parties_file:
        require(config.sealed and config.sealed_backend == "2pc", "sealed_parties_file",
                "names a running 2PC pair: only with --sealed --backend 2pc")
        require(Path(config.sealed_parties_file).is_file(), "sealed_parties_file", "no such file")
        check_parties_file(config.sealed_parties_file)
    if config.preconf_key:
        check_preconf(config)
    require(50 <= config.algorithm_budget_ms <= 60_000, "algorithm_budget_ms", "must be 50 to 60000 (milliseconds)")
    builder_deposits(config)
    return config


def check_parties_file(path: str) -> None:
    """A ``mevauction.2pc-parties/1`` document the service can run on, or an InputError naming the field."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError("sealed_parties_file", f"not a JSON file: {exc}") from None
    require(isinstance(doc, dict) and doc.get("format") == "mevauction.2pc-parties/1", "sealed_parties_file",
            "expected a mevauction.2pc-parties/1 document")
    for name in ("garbler", "evaluator"):
        host_port(doc.get(name), f"sealed_parties_file.{name}")
    require(isinstance(doc.get("tls_dir"), str) and (Path(doc["tls_dir"]) / ".config" / "party_2.crt").is_file(),
            "sealed_parties_file.tls_dir", "needs .config/ with the CA and the auctioneer's certificate (party_2)")


# -- the builder registry ----------------------------------------------------------------

def builder_flags(values: list[str] | None) -> dict[str, str] | None:
    """``--builder ADDRESS=DEPOSIT_WEI`` (repeatable) as the ``builders`` setting."""
    if not values:
        return None
    out: dict[str, str] = {}
    for text in values:
        address, sep, deposit = text.partition("=")
        require(bool(sep and address and deposit), "--builder", f"expected ADDRESS=DEPOSIT_WEI, got {text!r}")
        require(address.lower() not in {a.lower() for a in out}, "--builder", f"{address} is given twice")
        out[address] = deposit
    return out


def builder_deposits(config: ServiceConfig) -> dict[str, int]:
    """The registered builders (lower-case address, as signers are named → deposit in wei);
    an address registered twice (in different spellings) is an error."""
    deposits: dict[str, int] = {}
    for address, amount in config.builders.items():
        where = f"builders.{address}"
        builder = eth_fields.address(address, where)
        require(builder not in deposits, where, "is registered twice")
        deposits[builder] = as_wei(amount, where)
    return deposits


# -- the preconfirmation settings --------------------------------------------------------
# Parsed and checked here, without building anything: the provider (keys, published
# parameters, deposit ledger) is built from them when the service starts
# (service/preconf.py, PreconfDesk).

def checksummed(address: object, field_name: str) -> str:
    """An address as the provider keys deposits: EIP-55 checksummed."""
    return eth_fields.checksum(eth_fields.address(address, field_name))


def preconf_signing_key(config: ServiceConfig) -> bytes:
    """The provider's secp256k1 private key: 32 bytes in [1, n)."""
    return secp256k1.private_key(config.preconf_key, "preconf_key")


def preconf_nike_secret(config: ServiceConfig) -> int | None:
    """The configured BN254 NIKE secret (None: derive it from the signing key)."""
    if not config.preconf_nike_key:
        return None
    scalar = eth_fields.data(config.preconf_nike_key, "preconf_nike_key", max_length=32, prefix=False)
    secret = int.from_bytes(scalar, "big") % GROUP_R
    require(secret != 0, "preconf_nike_key", "must not be zero modulo the group order")
    return secret


def preconf_schedule(config: ServiceConfig) -> tuple[tuple[int, int], ...]:
    """(ms before the block, cumulative gas on sale): the whole capacity from the start."""
    require(0 < config.preconf_final_ms < OPEN_SCHEDULE_MS, "preconf_final_ms",
            f"must be positive and below {OPEN_SCHEDULE_MS} ms")
    return ((OPEN_SCHEDULE_MS, config.preconf_capacity_gas), (config.preconf_final_ms, config.preconf_capacity_gas))


def preconf_deposits(config: ServiceConfig) -> dict[str, int]:
    """The bidders' deposits (checksummed address → wei), a BidderRegistry snapshot;
    spellings of one address that differ only in case add up, as separate deposits would."""
    deposits: dict[str, int] = {}
    for address, amount in config.preconf_deposits.items():
        where = f"preconf_deposits.{address}"
        bidder = checksummed(address, where)
        deposits[bidder] = deposits.get(bidder, 0) + as_wei(amount, where)
    return deposits


HASH_ONLY = ("any", "held")


def check_preconf(config: ServiceConfig) -> None:
    """Every ``preconf_*`` value parses and the values fit together."""
    require(bool(config.preconf_contract), "preconf_contract", "is required with preconf_key")
    preconf_signing_key(config)
    preconf_nike_secret(config)
    preconf_schedule(config)
    require(config.preconf_mode in MODES, "preconf_mode", f"must be one of {MODES}")
    require(config.preconf_hash_only in HASH_ONLY, "preconf_hash_only", f"must be one of {HASH_ONLY}")
    preconf_deposits(config)
    as_wei(config.preconf_stake, "preconf_stake")
