"""keepwarm.yaml: the one file a user edits. Every key is documented in the file itself.

Secrets never live here: OAuth tokens go in their own owner-only files.
"""

from __future__ import annotations

import difflib
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "keepwarm.yaml"
CONFIG_ENV = "KEEPWARM_CONFIG"


class _Section(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class MeConfig(_Section):
    addresses: list[str] = Field(default_factory=list)


class WarehouseConfig(_Section):
    path: str = "data/keepwarm.duckdb"
    # Readers' copy, replaced whole after every successful build; default: beside `path`,
    # with ".serving" before the suffix.
    serving_path: str | None = None
    # Where each mailbox lands as Parquet before one writer loads raw.*; default: a
    # "landing" folder beside `path`. A local folder, or s3:// / gs:// for a cluster.
    landing_path: str | None = None
    # DuckDB's memory cap for every connection the pipeline opens. Its own default is 80%
    # of RAM, and it keeps what it is allowed; with a cap it spills big joins and sorts to
    # disk instead. 1.5 GB holds a million-message model (BENCHMARKS.md); a table that does
    # not fit even so is built again without the cap, with a warning to raise this.
    memory_limit: str | None = Field("1500MB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$")

    def resolve(self, base: Path) -> None:
        """Make relative paths absolute against `base` and fill in the derived defaults."""
        warehouse = _resolve(self.path, base)
        self.path = warehouse
        self.serving_path = _resolve(self.serving_path, base) if self.serving_path else str(
            Path(warehouse).with_name(f"{Path(warehouse).stem}.serving{Path(warehouse).suffix}"))
        self.landing_path = _resolve(self.landing_path, base) if self.landing_path else str(
            Path(warehouse).with_name("landing"))


def _resolve(path: str, base: Path) -> str:
    if "://" in path:
        return path
    expanded = Path(path).expanduser()
    return str(expanded if expanded.is_absolute() else base / expanded)


class DemoSourceConfig(_Section):
    seed: int = 7
    # Simulated mailboxes: the first is Alex Morgan's; each other one a colleague's, drawn
    # from a seed derived from `seed`, landing as its own partition.
    mailboxes: int = Field(1, ge=1)
    months: int = 24
    end: date | None = None
    scale: float = 1.0
    profile: Literal["default", "sparse", "meetings"] = "default"
    # Simulate an address book for the demo's owner (contacts, birthdays, job changes,
    # labels) in raw.contacts.
    address_book: bool = True


class FilesSourceConfig(_Section):
    """Offline exports: Google Takeout mbox, other mbox files, Maildirs, .ics calendars."""

    account: str
    mail: list[str] = Field(default_factory=list)
    calendars: list[str] = Field(default_factory=list)
    # vCard files (Google Takeout's Contacts/*.vcf, Apple or Outlook exports): globs.
    contacts: list[str] = Field(default_factory=list)
    # Recurring series are expanded from this many days before status.as_of (else today)
    # to this many after; one-off events are read whatever their date.
    past_days: int = 730
    future_days: int = 30
    # A recurring series past either bound (FREQ=SECONDLY over a year, say) is quarantined
    # with the reason instead of expanded: one bad event must not exhaust the machine.
    max_instances_per_series: int = Field(5000, ge=1)
    max_seconds_per_series: float = Field(5.0, gt=0)


TOKEN_DIR = Path("~/.config/keepwarm/tokens")


class GoogleAccountConfig(_Section):
    """One Google account: a user token from `keepwarm auth google`, or a Workspace
    service account. Gmail, Calendar and Contacts share the token file of an address."""

    address: str
    token_file: str | None = None
    service_account_key: str | None = None

    def token_path(self) -> Path:
        # Lower-cased: the same address written two ways still shares one token file.
        return Path(self.token_file or TOKEN_DIR / f"{self.address.lower()}.json").expanduser()


class GmailAccountConfig(GoogleAccountConfig):
    """One mailbox."""


class GcalAccountConfig(GoogleAccountConfig):
    """One account's calendars: "primary", or calendar ids (`keepwarm auth google` lists
    them once authorised)."""

    calendars: list[str] = Field(default_factory=lambda: ["primary"])


class GmailSourceConfig(_Section):
    accounts: list[GmailAccountConfig]
    # Google's per-user quota; projects created from May 2026 get 6,000 (docs/gmail.md).
    units_per_minute: int = 15_000
    # Point the client at another server (an emulator); None means Google.
    api_endpoint: str | None = None


class GcalSourceConfig(_Section):
    accounts: list[GcalAccountConfig]
    # The first sync reads events from this many days back to this many ahead.
    past_days: int = 730
    future_days: int = 30
    # Google's per-user Calendar quota is 600 requests a minute.
    requests_per_minute: int = 600
    # Point the client at another server (an emulator); None means Google.
    api_endpoint: str | None = None


class GcontactsSourceConfig(_Section):
    """Google Contacts (the People API): the address book of each account, read-only."""

    accounts: list[GoogleAccountConfig]
    # Google's People API read quota is 90 requests a minute per user; an incremental
    # run costs two (one page of changes, the labels).
    requests_per_minute: int = Field(90, ge=1)
    # Also read the "other contacts" Gmail saves by itself (names and addresses only);
    # asks for one more scope, contacts.other.readonly.
    other_contacts: bool = False
    # Point the client at another server (an emulator); None means Google.
    api_endpoint: str | None = None


class SourcesConfig(_Section):
    demo: DemoSourceConfig | None = None
    files: FilesSourceConfig | None = None
    gmail: GmailSourceConfig | None = None
    gcal: GcalSourceConfig | None = None
    gcontacts: GcontactsSourceConfig | None = None

    def google_sources(self, address: str) -> dict[str, bool]:
        """Which Google sources read `address`: one token must carry all their scopes."""
        address = address.lower()
        return {
            "gmail": any(a.address.lower() == address
                         for a in (self.gmail.accounts if self.gmail else [])),
            "calendar": any(a.address.lower() == address
                            for a in (self.gcal.accounts if self.gcal else [])),
            "contacts": any(a.address.lower() == address
                            for a in (self.gcontacts.accounts if self.gcontacts else [])),
            "other_contacts": bool(self.gcontacts and self.gcontacts.other_contacts) and any(
                a.address.lower() == address for a in self.gcontacts.accounts),
        }


class IdentitiesConfig(_Section):
    merge: list[list[str]] = Field(default_factory=list)
    # Spellings kept as written, not folded (+tags, Gmail dots) into another address.
    split: list[str] = Field(default_factory=list)

    @field_validator("merge")
    @classmethod
    def _groups_have_two(cls, groups: list[list[str]]) -> list[list[str]]:
        for group in groups:
            if len(group) < 2:
                raise ValueError(f"a merge needs at least two addresses, got {group}")
        return groups


# Local parts of shared mailboxes: mail to or from them is not a relationship with a person.
ROLE_LOCAL_PARTS = (
    "info", "team", "hello", "contact", "support", "sales", "admin", "office", "billing",
    "help", "helpdesk", "jobs", "careers", "hr", "press", "media", "marketing", "enquiries",
    "inquiries", "service", "feedback", "accounts", "invoices", "legal", "security",
    "webmaster", "everyone", "all", "staff", "hiring", "partners", "events", "orders",
    "bookings", "reception", "finance", "compliance", "privacy", "abuse",
)


class NoiseConfig(_Section):
    allow: list[str] = Field(default_factory=list)
    max_meeting_attendees: int = 20
    role_local_parts: list[str] = Field(default_factory=lambda: list(ROLE_LOCAL_PARTS))


class StatusConfig(_Section):
    as_of: datetime | None = None
    new_days: float = 30
    session_gap_days: float = 2
    prior_weight: float = 5
    fallback_prior_gap_days: float = 30
    # Prior chance that a tie predates the history (so the wait before its first contact
    # counts as a gap); docs/metrics.md, Going cold.
    predates_history_probability: float = Field(0.5, gt=0, lt=1)
    cooling_probability: float = Field(0.1, gt=0, lt=1)
    cold_probability: float = Field(0.04, gt=0, lt=1)
    min_cooling_days: float = 7
    min_cold_days: float = 21
    dormant_after_days: float = 365
    min_touchpoints: int = 3
    # People the user wants to hear from on a fixed rhythm: address -> days. Their status
    # follows that cadence instead of the learned rhythm.
    cadence: dict[str, float] = Field(default_factory=dict)
    # Address-book labels -> days: everyone with the label gets that cadence (the shortest
    # of their labels'; a per-address cadence wins). Labels match in any case.
    cadence_by_label: dict[str, float] = Field(default_factory=dict)
    # A job change seen this many days ago or less, with no mail from you nor meeting
    # since, is the next step: congratulate them.
    job_change_days: float = Field(60.0, gt=0)
    # A new sender domain is a job change when the old one was silent this long before.
    job_domain_silence_days: float = Field(90.0, gt=0)

    @field_validator("cadence", "cadence_by_label")
    @classmethod
    def _cadence_positive(cls, cadence: dict[str, float]) -> dict[str, float]:
        for address, days in cadence.items():
            if days <= 0:
                raise ValueError(f"cadence for {address} must be a positive number of days")
        return cadence


class StrengthConfig(_Section):
    """Tie strength = 100 x the weighted sum of five scores in [0, 1] (docs/metrics.md)."""

    frequency_weight: float = 0.30
    recency_weight: float = 0.25
    reciprocity_weight: float = 0.20
    face_time_weight: float = 0.15
    tenure_weight: float = 0.10
    # Audience-weighted interactions in a year that give a frequency score of 1 - 1/e.
    frequency_scale: float = Field(12, gt=0)
    recency_half_life_days: float = Field(90, gt=0)
    # Meeting hours in a year that give a face-time score of 1 - 1/e.
    face_time_scale_hours: float = Field(5, gt=0)
    # Tenure at which the tenure score reaches 1.
    tenure_full_days: float = Field(1095, gt=0)

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> StrengthConfig:
        total = (self.frequency_weight + self.recency_weight + self.reciprocity_weight
                 + self.face_time_weight + self.tenure_weight)
        if abs(total - 1) > 1e-6:
            raise ValueError(f"strength weights must add up to 1, not {total:g}")
        return self


class LoopsConfig(_Section):
    # Only loops younger than this are listed.
    window_days: float = 90
    # Give yourself this long to answer before a message counts as owed.
    reply_grace_days: float = 2
    # Give them this long before your unanswered message counts.
    answer_grace_days: float = 7
    # A meeting with no mail within this many days after it has no follow-up.
    meeting_follow_up_days: float = 3


class HistoryConfig(_Section):
    # marts.status_history reaches this many days back from yesterday; every run fills the
    # days it lacks (the first run all of them, later runs one).
    look_back_days: int = Field(365, ge=1)
    # Of those, the latest daily_days are snapshotted every day and older ones every Sunday:
    # a first run fills a year in about 85 snapshots instead of 365 (each costs a rebuild
    # of the status marts as of that day). Days snapshotted daily stay when they age.
    daily_days: int = Field(35, ge=1)
    # No snapshot before this day, however far look_back_days reaches (None: no bound).
    start_date: date | None = None


class BacktestConfig(_Section):
    # A silence counts as a real lapse once it lasts this many days and this many times
    # the person's usual gap, whichever is longer.
    window_days: float = Field(60, gt=0)
    gap_multiple: float = Field(4, gt=0)
    # Statuses are recomputed as of this many past dates, this many days apart.
    cutoffs: int = Field(26, ge=1)
    step_days: float = Field(14, gt=0)


class OutputsConfig(_Section):
    # The digest page written at the end of every refresh; default: digest.html beside the
    # warehouse. Relative paths are relative to the config file's folder.
    digest_path: str | None = None
    # People shown per digest list before "and N more" (`keepwarm digest --all` shows all).
    digest_limit: int = Field(10, ge=1)

    def resolve(self, base: Path, warehouse: str) -> None:
        """Make digest_path absolute against `base`, defaulting to beside `warehouse`."""
        self.digest_path = (_resolve(self.digest_path, base) if self.digest_path
                            else str(Path(warehouse).with_name("digest.html")))


class DeploymentConfig(_Section):
    # multiprocess: every step a process on this machine. celery: steps are Celery tasks
    # on a pool of workers (docs/deploy.md); the warehouse writer steps go to the
    # `keepwarm-writer` queue, which exactly one worker (the one with the DuckDB file)
    # serves, and the landing steps to the default `dagster` queue every worker serves.
    executor: Literal["multiprocess", "celery"] = "multiprocess"
    # Celery broker and result backend URLs (Redis, RabbitMQ, ...); celery only.
    broker: str | None = None
    backend: str | None = None
    # Where steps hand values to each other: a folder every worker can read (NFS) or
    # s3://bucket/prefix. Default: the Dagster instance's storage folder (one machine).
    io_path: str | None = None

    @model_validator(mode="after")
    def _celery_has_broker(self) -> DeploymentConfig:
        if self.executor == "celery" and not self.broker:
            raise ValueError("executor celery needs a broker URL (deployment.broker), "
                             "for example redis://host:6379/0")
        return self


class ScheduleConfig(_Section):
    cron: str = "0 2 * * *"
    timezone: str = "UTC"


class KeepwarmConfig(_Section):
    me: MeConfig = Field(default_factory=MeConfig)
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    identities: IdentitiesConfig = Field(default_factory=IdentitiesConfig)
    noise: NoiseConfig = Field(default_factory=NoiseConfig)
    status: StatusConfig = Field(default_factory=StatusConfig)
    loops: LoopsConfig = Field(default_factory=LoopsConfig)
    strength: StrengthConfig = Field(default_factory=StrengthConfig)
    history: HistoryConfig = Field(default_factory=HistoryConfig)
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    deployment: DeploymentConfig = Field(default_factory=DeploymentConfig)
    outputs: OutputsConfig = Field(default_factory=OutputsConfig)
    store_subjects: bool = False

    def as_of(self) -> datetime:
        """The moment statuses are judged at: the configured time, else now."""
        as_of = self.status.as_of or datetime.now(UTC)
        return as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)

    def model_params(self) -> dict[str, Any]:
        """Bound parameters for the core and marts SQL files."""
        merge_addresses = [a for group in self.identities.merge for a in group]
        merge_into = [group[0] for group in self.identities.merge for _ in group]
        status = self.status.model_dump(exclude={"as_of", "cadence", "cadence_by_label"})
        return {
            "self_addresses": self.me.addresses,
            "merge_addresses": merge_addresses,
            "merge_into": merge_into,
            "split_addresses": [a.strip().lower() for a in self.identities.split],
            "allow_list": self.noise.allow,
            "max_meeting_attendees": self.noise.max_meeting_attendees,
            "role_local_parts": [p.lower() for p in self.noise.role_local_parts],
            "cadence_addresses": list(self.status.cadence),
            "cadence_days": list(self.status.cadence.values()),
            "cadence_labels": list(self.status.cadence_by_label),
            "cadence_label_days": list(self.status.cadence_by_label.values()),
            "as_of": self.as_of(),
            **status,
            **{f"strength_{k}": v for k, v in self.strength.model_dump().items()},
            "backtest_window_days": self.backtest.window_days,
            "backtest_gap_multiple": self.backtest.gap_multiple,
            **{f"loop_{k}" if k == "window_days" else k: v
               for k, v in self.loops.model_dump().items()},
        }


class ConfigError(ValueError):
    """keepwarm.yaml is missing or says something that cannot be used."""


def config_path() -> Path:
    """The config file in use: $KEEPWARM_CONFIG, else keepwarm.yaml at the repository root."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_config(path: Path | None = None) -> KeepwarmConfig:
    """Read and validate the config file; relative warehouse paths resolve against its folder."""
    path = path or config_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"no config file at {path}: name one with --config FILE or "
                          f"{CONFIG_ENV}=FILE") from None
    except (OSError, UnicodeDecodeError) as exc:
        problem = getattr(exc, "strerror", None) or "not a text file"
        raise ConfigError(f"cannot read config file {path}: {problem}; name a keepwarm.yaml "
                          "with --config FILE") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: not valid YAML ({problem}); check the indentation "
                          "and quoting there") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected sections such as `sources:` and `status:`, "
                          f"found a {type(data).__name__}")
    try:
        config = KeepwarmConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {'; '.join(map(_describe, exc.errors()))}") from None
    config.warehouse.resolve(path.resolve().parent)
    config.outputs.resolve(path.resolve().parent, config.warehouse.path)
    if config.deployment.io_path:
        config.deployment.io_path = _resolve(config.deployment.io_path, path.resolve().parent)
    return config


def _describe(error: Any) -> str:
    """One validation error as `key.path: problem`; a misspelt key gets the nearest real one."""
    loc = error["loc"]
    where = ".".join(str(part) for part in loc)
    if error["type"] == "value_error":
        # keepwarm's own checks: their sentence, without pydantic's "Value error, " prefix;
        # a check over a whole section has no key path of its own.
        problem = str(error["ctx"]["error"])
        return f"{where}: {problem}" if where else problem
    if error["type"] != "extra_forbidden":
        return f"{where}: {error['msg']}"
    known = _keys_at(KeepwarmConfig, loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(known)}"
    return f"{where}: unknown key ({hint})"


def _keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys of the section `loc` points into (list indices skipped)."""
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        inner = [t for t in _types_in(field.annotation if field else None)
                 if isinstance(t, type) and issubclass(t, BaseModel)]
        if not inner:
            return []
        model = inner[0]
    return list(model.model_fields)


def _types_in(annotation: Any) -> list[Any]:
    args = get_args(annotation)
    return [t for arg in args for t in _types_in(arg)] if args else [annotation]
