"""The ``mediins`` command line: parse options, call the library, render, map to an exit status.

Exit statuses (DESIGN §7): 0 done; 2 bad input or usage; 3 refused; 1 anything unexpected.
Errors go to stderr, results to stdout, ``--json`` prints machine-readable results on stdout.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import replace
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.columns import Columns
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Column, Table
from typer import rich_utils
from typer.core import TyperCommand, TyperGroup, TyperOption

from mediins_cli import __version__, report
from mediins_cli.calendar import make_calendar, schedule_dates
from mediins_cli.config import expand_returns, fill, load_settings
from mediins_cli.errors import BadInput, ExitCode, MediinsError, Refused, problems_frame
from mediins_cli.i18n import (
    _,
    current_lang,
    date_text,
    env_lang,
    month_text,
    resolve,
    set_lang,
)
from mediins_cli.months import CHINA, Month
from mediins_cli.rules import DEFAULT_PACK, check_in_force, load_all_packs, load_pack
from mediins_cli.tempnames import temporary_folder
from mediins_cli.words import word

# The engine (polars, pypinyin) is imported by the commands that run it, so that `--help`,
# `calendar` and `rules` start in a fraction of a second (DESIGN §10).
if TYPE_CHECKING:
    import polars as pl

    from mediins_cli.outputs import OutputFormat
    from mediins_cli.runs import DayPlan, DeductRequest

# Help text is made as the command line is built: in the environment's language (DESIGN §13)
set_lang(env_lang())
# Typer's own words in the help (its panels' titles, a default, a required option), too
rich_utils.ARGUMENTS_PANEL_TITLE = _("Arguments")
rich_utils.OPTIONS_PANEL_TITLE = _("Options")
rich_utils.COMMANDS_PANEL_TITLE = _("Commands")
rich_utils.DEFAULT_STRING = _("[default: {}]")
rich_utils.REQUIRED_LONG_STRING = _("[required]")


class _FoldingTable(Table):
    """Typer's help tables, whose cells fold onto the next line where they are too long for
    their column instead of ending in "…": a path or a line of Chinese, which has no spaces
    to wrap at, is shown whole at 80 columns (DESIGN §13)."""

    def add_row(self, *renderables: Any, **options: Any) -> None:
        while len(self.columns) < len(renderables):
            self.columns.append(
                Column(_index=len(self.columns), highlight=self.highlight, overflow="fold")
            )
        super().add_row(*renderables, **options)


class _FoldingColumns(Columns):
    """Typer's option help (the help, its default, whether it is required): folded, as
    :class:`_FoldingTable`."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for renderable in super().__rich_console__(console, options):
            if isinstance(renderable, Table):
                for column in renderable.columns:
                    column.overflow = "fold"
            yield renderable


rich_utils.Table = _FoldingTable  # type: ignore[misc]
rich_utils.Columns = _FoldingColumns  # type: ignore[misc]
#: the help of the options Typer adds itself, by option name
_THEIR_HELP = {
    "--help": _("Show this message and exit."),
    "--install-completion": _("Install completion for the current shell."),
    "--show-completion": _(
        "Show completion for the current shell, to copy it or customize the installation."
    ),
}

#: the arguments of the command line being run (``mediins`` itself left out): a refusal that
#: ``--force`` would let through shows them again with it (:class:`Commands`)
_ARGS: ContextVar[tuple[str, ...]] = ContextVar("mediins_args", default=())


class Commands(TyperGroup):
    """``mediins`` and ``mediins rules``: Typer's command groups, and three things of ours.

    - A usage error (an unknown option or command, a bad or missing value: exit 2, raised
      before a command runs) has the value typed masked in its message, and also prints one
      JSON object on stdout when ``--json`` is among the arguments (DESIGN §13); Typer shows
      the message on stderr as it does.

    (A context is typed ``Any``: Typer's is its vendored click's, which it does not export.)
    - A flag shows no type in ``--help``: it takes no value (typer 0.29's help prints
      ``<bool>`` beside every flag, ``--help`` included).
    - The arguments of the run are kept in :data:`_ARGS`, for a refusal's advice.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        given = tuple(sys.argv[1:] if args is None else args)
        token = _ARGS.set(given)
        before = current_lang()
        try:
            return super().main(
                list(given), prog_name, complete_var, standalone_mode, windows_expand_args, **extra
            )
        finally:
            _ARGS.reset(token)
            _given_before[0] = None
            set_lang(before)  # a command's language is its own: the library's after it as before

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        with _usage_errors(ctx):
            return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        with _usage_errors(ctx):
            return super().invoke(ctx)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _no_type_for_flags(command, ctx)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _no_type_for_flags(self, ctx)
        super().format_help(ctx, formatter)

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        _usage(self, ctx, formatter)


class Command(TyperCommand):
    """A command: its usage line in the language (``Usage:``, in Chinese ``用法：``)."""

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        _usage(self, ctx, formatter)


def _usage(command: Any, ctx: Any, formatter: Any) -> None:
    pieces = command.collect_usage_pieces(ctx)
    formatter.write_usage(ctx.command_path, " ".join(pieces), _("Usage: "))


def _no_type_for_flags(command: Any, ctx: Any) -> None:
    """Flags without a type; the options Typer adds (``--help``, completion) with their help
    in the language."""
    for param in command.get_params(ctx):
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""  # shown instead of the type
        theirs = next((_THEIR_HELP[o] for o in param.opts if o in _THEIR_HELP), None)
        if theirs is not None and isinstance(param, TyperOption):
            param.help = theirs


def _wants_json() -> bool:
    """``--json`` among the arguments of the run (before a ``--`` that ends the options)."""
    args = list(_ARGS.get())
    return "--json" in (args[: args.index("--")] if "--" in args else args)


@contextlib.contextmanager
def _usage_errors(ctx: Any) -> Iterator[None]:
    """Typer's usage errors, masked (a value typed where it does not belong may be an ID: the
    message quotes it), and also as JSON on stdout when ``--json`` was given. The outermost
    group does it, once: a subgroup's error passes through it."""
    try:
        yield
    except typer.TyperException as exc:  # click's UsageError and its kinds
        if ctx.parent is None and exc.exit_code == ExitCode.BAD_INPUT:
            from mediins_cli.mask import scrub

            exc.message = scrub(exc.message)
            if _wants_json():
                param = getattr(exc, "param", None)
                message = exc.format_message()
                problem = {
                    "file": "",
                    "line": 0,
                    "column": next(iter(getattr(param, "opts", None) or ()), ""),
                    "code": "USAGE",
                    "message": message,
                    "severity": "error",
                }
                _print_failure("bad_input", ExitCode.BAD_INPUT, message, [problem])
        raise


def _examples(*commands: str, heading: str | None = None) -> str:
    """A help text's examples: the commands as they are typed, under a heading in the
    language (help is made in the environment's language: DESIGN §13)."""
    if heading is None:
        heading = _("Example:") if len(commands) == 1 else _("Examples:")
    return "\n\n".join([heading, *commands])


def _help(text: str, *examples: str) -> str:
    """A command's help: ``text`` (translated by the caller), then its examples, indented as
    the docstrings that were its help before were written."""
    if not examples:
        return text
    return text + "\n\n" + _examples(*("  " + e for e in examples))


EXAMPLES = "\n\n".join(
    [
        _examples(
            "mediins calendar --month 2024-02",
            "mediins validate --enrollees sample_data/enrollees.csv --ledger "
            "sample_data/ledger.csv",
            "mediins deduct --round 1 --month 2024-02 --enrollees sample_data/enrollees.csv\n"
            "--ledger sample_data/ledger.csv --out out/demo",
            "mediins rules show beijing-2007",
            "mediins deduct --help " + _("(every command's options, with examples)"),
            heading=_("Examples:"),
        ),
        _("Exit status: 0 done, 2 bad input or usage, 3 refused, 1 anything unexpected."),
    ]
)

RULES_EXAMPLES = _examples(
    "mediins rules list",
    "mediins rules show jilin-2022",
    "mediins rules show ./my-region.toml --json",
    "mediins rules banks pipe-gb18030-fen",
)

app = typer.Typer(
    cls=Commands,
    name="mediins",
    help=_(
        "Premium deduction rounds for flexible-employment enrollees (灵活就业人员) of China's "
        "employee medical insurance: dates, rule packs, input validation."
    ),
    epilog=EXAMPLES,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)
rules_app = typer.Typer(
    cls=Commands,
    help=_("Rule packs: the regulations of a region, each value citing its source."),
    epilog=RULES_EXAMPLES,
    no_args_is_help=True,
)
app.add_typer(rules_app, name="rules")

T = TypeVar("T")

RulesOption = Annotated[
    str,
    typer.Option("--rules", help=_("Rule pack id (see `mediins rules list`) or path to a .toml.")),
]


class CalendarName(StrEnum):
    official = "official"
    weekends = "weekends"


CalendarOption = Annotated[
    CalendarName | None,
    typer.Option(
        "--calendar",
        help=_(
            "Working-day calendar: official (holidays and make-up days) or weekends. "
            "Default: the rule pack's."
        ),
    ),
]
EnrolleesTemplate = Annotated[
    str | None,
    typer.Option(
        "--enrollees",
        help=_(
            "enrollees.csv of the run month; {month} and {round} are filled in. "
            "[setting: enrollees]"
        ),
    ),
]
EncodingOption = Annotated[
    str | None,
    typer.Option("--encoding", help=_("Inputs: auto (UTF-8, else GB18030), utf-8 or gb18030.")),
]
JsonOption = Annotated[bool, typer.Option("--json", help=_("Print the result as JSON on stdout."))]
ExcelOption = Annotated[
    bool | None,
    typer.Option("--excel/--no-excel", help=_("CSV with a UTF-8 BOM so Excel shows Chinese.")),
]
OutEncodingOption = Annotated[
    str | None,
    typer.Option("--out-encoding", help=_("CSV encoding: utf-8 (default) or gb18030.")),
]


class Lang(StrEnum):
    zh = "zh"
    en = "en"


#: ``mediins --lang zh COMMAND``: the language given before the command name
_given_before: list[Lang | None] = [None]


def _choose_lang_before(value: Lang | None) -> Lang | None:
    _given_before[0] = value
    return _choose_lang(value)


def _choose_lang(value: Lang | None) -> Lang | None:
    """Every command's language (DESIGN §13): ``--lang`` (after the command name, or before
    it), else ``MEDIINS_LANG``, else the setting ``lang``, else the locale. Chosen before the
    command's other options are read."""
    value = value or _given_before[0]
    setting = None
    if value is None and not os.environ.get("MEDIINS_LANG"):
        from mediins_cli.config import load_settings

        # a broken settings file is reported by the command that reads it; here: no setting
        with contextlib.suppress(BadInput):
            setting = load_settings().values.get("lang")
    try:
        set_lang(resolve(value.value if value else None, setting))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


LangOption = Annotated[
    Lang | None,
    typer.Option(
        "--lang",
        callback=_choose_lang,
        is_eager=True,
        help=_("Language of the terminal and the agency lists: zh or en. [setting: lang]"),
    ),
]


def _guard(action: Callable[[], T], *, json_output: bool = False) -> T:
    """Run a command body; map the library's errors to messages on stderr and an exit status.

    With ``json_output`` (every command that has ``--json`` passes it) a failure also prints one
    JSON object on stdout (DESIGN §13, :func:`_print_failure`), masked as the text on stderr is.
    """
    err = report.console(stderr=True)
    try:
        return action()
    except BadInput as exc:
        report.render_problems(err, exc.frame)
        if json_output:
            _print_failure("bad_input", exc.exit_code, _first_problem(exc), problems=exc.frame)
        raise typer.Exit(exc.exit_code) from None
    except MediinsError as exc:
        err.print(f"mediins: {exc}", markup=False, soft_wrap=True)
        again = _again(exc)
        if again:  # the same command, as typed, with the option that lets it go ahead
            err.print(f"  {again}", markup=False, soft_wrap=True)
        if json_output:
            status = "refused" if isinstance(exc, Refused) else "error"
            _print_failure(status, exc.exit_code, str(exc), command=again)
        raise typer.Exit(exc.exit_code) from None
    except typer.Exit:
        raise
    except OSError as exc:  # the disk is full, a folder is read-only, …: say so in one line
        from mediins_cli.mask import scrub  # a path may hold a name or a number

        where = f": {scrub(str(exc.filename))}" if exc.filename else ""
        message = _("{problem}{where}; nothing partial was left").format(
            problem=exc.strerror or type(exc).__name__, where=where
        )
        err.print(f"mediins: {message}", markup=False, soft_wrap=True)
        if json_output:
            _print_failure("error", ExitCode.UNEXPECTED, message)
        raise typer.Exit(ExitCode.UNEXPECTED) from None
    except Exception as exc:  # the last line of defence: exit 1 with a readable line
        if os.environ.get("MEDIINS_DEBUG"):  # where it happened; the message only as below
            sys.stderr.write("".join(traceback.format_tb(exc.__traceback__)))
        # what polars or a library says may quote a file's rows: masked, first line only
        from mediins_cli.mask import scrub

        first = scrub(str(exc)).strip().splitlines()[:1]
        message = _("unexpected error: {kind}: {text}").format(
            kind=type(exc).__name__, text="".join(first)[:300]
        )
        err.print(
            "mediins: "
            + _("{message} (set MEDIINS_DEBUG=1 for the traceback)").format(message=message),
            markup=False,
            soft_wrap=True,
        )
        if json_output:
            _print_failure("error", ExitCode.UNEXPECTED, message)
        raise typer.Exit(ExitCode.UNEXPECTED) from None


def _again(exc: MediinsError) -> str | None:
    """A refusal's command line to run it again (``--force``): the arguments given, the
    ``--out`` among them, with the option added."""
    option = exc.again if isinstance(exc, Refused) else None
    if not option or not _ARGS.get():
        return None
    return shlex.join(["mediins", *_ARGS.get(), option])


def _first_problem(exc: BadInput) -> str:
    """A bad input's message in one line: its first error, and how many more there are."""
    lines = str(exc).splitlines()
    more = exc.errors - 1
    if not lines:
        return ""
    return lines[0] + (_(" (and {n} more errors)").format(n=more) if more > 0 else "")


def _print_failure(
    status: str,
    exit_code: int,
    message: str,
    problems: pl.DataFrame | list[dict[str, Any]] | None = None,
    command: str | None = None,
) -> None:
    """A failure as one JSON object on stdout (DESIGN §13): ``status`` (``bad_input``,
    ``refused``, ``error``), ``exit_code``, ``message``, ``problems`` (the first
    ``SHOWN_PROBLEMS``, errors first, each with ``file``, ``line``, ``column``, ``code``,
    ``message``, ``severity``: masked where they were made, as on stderr) and, for bad input,
    how many ``errors`` and ``warnings`` there are in all; ``command`` for a refusal that
    ``--force`` lets through. ``ok`` is false, as in ``validate``'s and ``replay``'s results."""
    data: dict[str, Any] = {"ok": False, "status": status, "exit_code": int(exit_code)}
    data["message"] = message
    if problems is None:
        data["problems"] = []
    elif isinstance(problems, list):
        errors = sum(p["severity"] == "error" for p in problems)
        data.update(errors=errors, warnings=len(problems) - errors, problems=problems)
    else:
        import polars as pl

        errors = int((problems["severity"] == "error").sum())
        shown = problems.sort(
            pl.col("severity") != "error", "file", "line", "column", maintain_order=True
        ).head(report.SHOWN_PROBLEMS)
        data.update(errors=errors, warnings=problems.height - errors, problems=shown.to_dicts())
    if command is not None:
        data["command"] = command
    report.print_json(data)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mediins {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help=_("Print the version.")),
    ] = False,
    lang: Annotated[
        Lang | None,
        typer.Option(
            "--lang",
            callback=_choose_lang_before,
            is_eager=True,
            help=_("Language of the terminal and the agency lists: zh or en. [setting: lang]"),
        ),
    ] = None,
) -> None:
    """mediins: monthly premium deduction rounds, by the regulations in force."""


def _today() -> datetime:
    """Now in China (UTC+8, no daylight saving): the day an operator or a cron job means."""
    return datetime.now(CHINA)


def _run_month(text: str | None) -> Month:
    """``--month``: YYYY-MM, or this month in China when not given."""
    try:
        return Month.parse(text) if text else Month.of(_today().date())
    except ValueError as exc:
        from mediins_cli.mask import scrub  # what was typed may be an ID pasted by mistake

        raise BadInput(_("--month: {problem}").format(problem=scrub(str(exc)))) from None


# --------------------------------------------------------------------------- calendar


@app.command(
    cls=Command,
    help=_help(
        _(
            "Show both rounds' due dates, effective dates and deposit-by dates, and why a date "
            "rolled."
        ),
        "mediins calendar --month 2024-02",
        "mediins calendar --year 2026 --calendar weekends",
        "mediins calendar --month 2020-01 --json",
    ),
)
def calendar(
    month: Annotated[
        str | None, typer.Option("--month", help=_("Run month YYYY-MM (default: this month)."))
    ] = None,
    year: Annotated[int | None, typer.Option("--year", help=_("Every month of a year."))] = None,
    rules: RulesOption = DEFAULT_PACK,
    calendar_name: CalendarOption = None,
    json_output: JsonOption = False,
    lang: LangOption = None,
) -> None:

    def action() -> None:
        if month is not None and year is not None:
            raise BadInput(_("give --month or --year, not both"))
        pack = load_pack(rules)
        name = calendar_name.value if calendar_name else pack.schedule.calendar.value
        cal = make_calendar(name)
        if year is not None:
            if not 1900 <= year <= 9999:
                raise BadInput(_("--year: {year} is not a year").format(year=year))
            # the months the pack is in force in (a year before it: refused, naming the day)
            since = Month.of(pack.validity.in_force_from.value)
            months = [Month(year, m) for m in range(1, 13) if Month(year, m) >= since]
            check_in_force(pack, months[0] if months else Month(year, 12))
            title = _("Deduction dates {year}").format(year=year)
        else:
            run_month = _run_month(month)
            check_in_force(pack, run_month)
            months = [run_month]
            title = _("Deduction dates {month}").format(month=month_text(str(run_month)))
        rounds = [r for m in months for r in schedule_dates(pack.schedule, cal, m)]
        if json_output:
            report.print_json(
                {
                    "rules": pack.id,
                    "calendar": name,
                    "rounds": [report.round_dict(r) for r in rounds],
                }
            )
        else:
            report.render_calendar(report.console(), pack, name, rounds, title)

    _guard(action, json_output=json_output)


# --------------------------------------------------------------------------- rules


@rules_app.command(
    "list",
    cls=Command,
    help=_help(
        _("List the rule packs in the rules folder (every one is validated)."),
        "mediins rules list",
    ),
)
def rules_list(json_output: JsonOption = False, lang: LangOption = None) -> None:

    def action() -> None:
        packs = load_all_packs()
        if json_output:
            report.print_json([{"id": p.id, "region": p.region, "title": p.title} for p in packs])
        else:
            report.render_pack_list(report.console(), packs, DEFAULT_PACK)

    _guard(action, json_output=json_output)


@rules_app.command(
    "show",
    cls=Command,
    help=_help(
        _("Show every value of a rule pack with the section of the regulation it comes from."),
        "mediins rules show beijing-2007",
        "mediins rules show ./my-region.toml --json",
    ),
)
def rules_show(
    pack_id: Annotated[str, typer.Argument(metavar="ID", help=_("Pack id or path to a .toml."))],
    json_output: JsonOption = False,
    lang: LangOption = None,
) -> None:

    def action() -> None:
        pack = load_pack(pack_id, given_as="")  # an argument, not --rules
        if json_output:
            report.print_json(report.pack_dict(pack))
        else:
            report.render_pack(report.console(), pack)

    _guard(action, json_output=json_output)


@rules_app.command(
    "banks",
    cls=Command,
    help=_help(
        _("List the bank formats in rules/banks/ (every one is validated), or show one in full."),
        "mediins rules banks",
        "mediins rules banks pipe-gb18030-fen --json",
    ),
)
def rules_banks(
    format_id: Annotated[
        str | None,
        typer.Argument(metavar="[ID]", help=_("A format to show in full (id or path to a .toml).")),
    ] = None,
    json_output: JsonOption = False,
    lang: LangOption = None,
) -> None:

    def action() -> None:
        from mediins_cli.bank.formats import DEFAULT_FORMAT, load_all_formats, load_format

        formats = load_all_formats() if format_id is None else [load_format(format_id, given_as="")]
        if json_output:
            shown = [report.bank_format_dict(f) for f in formats]
            report.print_json(shown if format_id is None else shown[0])
            return
        out = report.console()
        report.render_bank_formats(out, formats, DEFAULT_FORMAT)
        if format_id is not None:
            f = formats[0]
            out.print(
                _("instruction columns: {columns}").format(columns=", ".join(f.instruction)),
                markup=False,
            )
            out.print(
                _("return columns: {columns}").format(columns=", ".join(f.returns)), markup=False
            )
            for value, code in f.results.items():
                out.print(f"  {value} → {code}", markup=False)

    _guard(action, json_output=json_output)


# --------------------------------------------------------------------------- sample


@app.command(
    cls=Command,
    help=_help(
        _(
            "Generate a realistic synthetic month: enrollees.csv, ledger.csv (round 1) and\n"
            "ledger-round2.csv (round 2), deterministic for a seed. Fake data only."
        ),
        "mediins sample --enrollees 1000 --month 2024-02 --out /tmp/month",
        "mediins sample --enrollees 10000000 --month 2024-02 --out bench-data/10M --seed 7",
    ),
)
def sample(
    enrollees: Annotated[
        int, typer.Option("--enrollees", min=1, help=_("How many enrollees to generate."))
    ],
    month: Annotated[
        str, typer.Option("--month", help=_("Run month YYYY-MM of the generated data."))
    ],
    out: Annotated[Path, typer.Option("--out", help=_("Folder to write the month's files into."))],
    seed: Annotated[int, typer.Option("--seed", help=_("Same seed, same bytes."))] = 1,
    rules: RulesOption = DEFAULT_PACK,
    json_output: JsonOption = False,
    lang: LangOption = None,
) -> None:

    def action() -> None:
        from mediins_cli.sample import write_sample

        run_month = _run_month(month)
        result = write_sample(
            out, enrollees=enrollees, month=run_month, seed=seed, pack=load_pack(rules)
        )
        if json_output:
            report.print_json(result)
        else:
            console = report.console()
            for name, rows in result["files"].items():
                console.print(
                    _("{path}: {rows} rows").format(path=out / name, rows=rows),
                    markup=False,
                    soft_wrap=True,
                )

    _guard(action, json_output=json_output)


# --------------------------------------------------------------------------- validate


@app.command(
    cls=Command,
    help=_help(
        _(
            "Check the input files without running anything; list every problem as file:line.\n"
            "\n"
            "Exit status 0 when the files can be used (warnings allowed), 2 when they cannot."
        ),
        "mediins validate --enrollees sample_data/enrollees.csv --ledger sample_data/ledger.csv",
        "mediins validate --enrollees 参保人员.csv --ledger 流水.csv --encoding gb18030\n"
        "  --errors problems.csv",
    ),
)
def validate(
    enrollees: Annotated[
        Path, typer.Option("--enrollees", help=_("enrollees.csv of the run month."))
    ],
    ledger: Annotated[
        Path, typer.Option("--ledger", help=_("ledger.csv: the bank's transactions."))
    ],
    encoding: Annotated[
        str, typer.Option("--encoding", help=_("auto (UTF-8, else GB18030), utf-8 or gb18030."))
    ] = "auto",
    errors: Annotated[
        Path | None,
        typer.Option(
            "--errors",
            help=_(
                "Also write every problem to this CSV "
                "(file, line, column, code, message, severity)."
            ),
        ),
    ] = None,
    excel: ExcelOption = None,
    out_encoding: OutEncodingOption = None,
    json_output: JsonOption = False,
    lang: LangOption = None,
) -> None:

    def action() -> None:
        from mediins_cli.inputs import validate_inputs
        from mediins_cli.outputs import OutputFormat

        settings = load_settings()
        fmt = OutputFormat(
            excel=settings.get("excel", excel, False),
            encoding=settings.get("out_encoding", out_encoding, "utf-8"),
        )
        if fmt.encoding not in ("utf-8", "gb18030"):
            raise BadInput(
                _("--out-encoding: {value!r} is not utf-8 or gb18030").format(value=fmt.encoding)
            )
        try:
            inputs = validate_inputs(enrollees, ledger, encoding)
        except BadInput as exc:  # the failure's JSON is _guard's, as for every command
            if errors is not None:
                _write_problems(errors, exc.frame, fmt)
            raise
        if errors is not None:
            _write_problems(errors, inputs.warnings, fmt)
        summary = report.inputs_summary(inputs)
        if json_output:
            report.print_json(
                {
                    "ok": True,
                    "errors": 0,
                    **summary,
                    "problems": inputs.warnings.head(report.SHOWN_PROBLEMS).to_dicts(),
                }
            )
            return
        out = report.console()
        report.render_inputs_summary(out, summary)
        if inputs.warnings.height:
            report.render_problems(report.console(stderr=True), inputs.warnings)
        out.print(_("inputs are valid"), style="green")

    _guard(action, json_output=json_output)


def _write_problems(path: Path, problems: pl.DataFrame, fmt: OutputFormat) -> None:
    """``--errors PATH`` at once, in the format of the run's other CSV files: with a BOM for
    Excel (``--excel``), or in GB18030 (``--out-encoding``), as :class:`OutputFormat` writes."""
    from mediins_cli.outputs import atomic_write_bytes, csv_text

    text = csv_text(problems)
    if fmt.encoding == "gb18030":
        data = text.encode("gb18030")
    else:
        data = (("\ufeff" if fmt.excel else "") + text).encode("utf-8")
    atomic_write_bytes(path, data)


# --------------------------------------------------------------------------- deduct


class RoundChoice(StrEnum):
    one = "1"
    two = "2"
    auto = "auto"


@app.command(
    cls=Command,
    help=_help(
        _(
            "Run a deduction round: debit every enrollee due (round 1) or round 1's retry list "
            "(round 2).\n"
            "\n"
            "Writes success.csv, failure.csv, retry.csv and skipped.csv (round 1) or success.csv,\n"
            "failure.csv, breaks.csv, resumptions.csv and updates.csv (round 2), per-agency "
            "lists,\n"
            "summary.json and manifest.json to OUT/YYYY-MM/round-N/. Failed debits are results "
            "(exit 0).\n"
            "Exit 2 on bad input, 3 when refused: the round already ran with other inputs (see "
            "--force),\n"
            "round 2 before round 1, another run holding the lock. Options not given come from\n"
            "MEDIINS_* environment variables, then mediins.toml."
        ),
        "mediins deduct --round 1 --month 2024-02 --enrollees sample_data/enrollees.csv\n"
        "  --ledger sample_data/ledger.csv",
        "mediins deduct --round auto --enrollees '/srv/exports/{month}/enrollees.csv'\n"
        "  --ledger '/srv/bank/{month}/ledger-round{round}.csv' --out /srv/mediins/out",
        "mediins deduct --round 1 --month 2024-02 --enrollees sample_data/enrollees.csv\n"
        "  --returns sample_data/returns/round1 --out out/bank",
    ),
)
def deduct(
    round_no: Annotated[
        RoundChoice,
        typer.Option(
            "--round",
            help=_(
                "1 (everyone due), 2 (round 1's retry list) or auto (for cron: the round whose "
                "effective date is --date, if any)."
            ),
        ),
    ],
    enrollees: EnrolleesTemplate = None,
    ledger: Annotated[
        str | None,
        typer.Option(
            "--ledger",
            help=_(
                "The bank's transactions up to the round; {month} and {round} are filled in. "
                "[setting: ledger]"
            ),
        ),
    ] = None,
    returns: Annotated[
        list[str] | None,
        typer.Option(
            "--returns",
            help=_(
                "Return mode, instead of --ledger: the bank's return files of the round's "
                "instructions (see `mediins instruct`); repeat it, or give a folder or a pattern "
                "such as 'returns/*.txt'; {month} and {round} are filled in. [setting: returns]"
            ),
        ),
    ] = None,
    bank_format: Annotated[
        str | None,
        typer.Option(
            "--bank-format",
            help=_(
                "Return mode: the bank format the instructions were written in (default: "
                "theirs; another is refused). [setting: bank_format]"
            ),
        ),
    ] = None,
    month: Annotated[
        str | None,
        typer.Option("--month", help=_("Run month YYYY-MM (default: this month; not with auto).")),
    ] = None,
    on_date: Annotated[
        str | None,
        typer.Option("--date", help=_("With --round auto: the day YYYY-MM-DD (default: today).")),
    ] = None,
    rules: Annotated[
        str | None, typer.Option("--rules", help=_("Rule pack id or path. [setting: rules]"))
    ] = None,
    out: Annotated[
        str | None,
        typer.Option(
            "--out", help=_("Output folder (default out); runs go to OUT/YYYY-MM/round-N/.")
        ),
    ] = None,
    calendar_name: CalendarOption = None,
    encoding: EncodingOption = None,
    excel: ExcelOption = None,
    out_encoding: OutEncodingOption = None,
    xlsx: Annotated[
        bool | None,
        typer.Option(
            "--xlsx/--no-xlsx",
            help=_(
                "Also write the run's files as Excel workbooks: workbook.xlsx (a sheet per "
                "file) and agencies/AGENCY.xlsx. [setting: xlsx]"
            ),
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help=_("Run again with other inputs; the earlier run is moved aside.")
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help=_("Show what the round would do; write nothing."))
    ] = False,
    errors: Annotated[
        Path | None,
        typer.Option(
            "--errors",
            help=_(
                "Also write every problem of the inputs (warnings too) to this CSV, as "
                "validate does; with no rows when there are none."
            ),
        ),
    ] = None,
    strict: Annotated[
        bool | None,
        typer.Option(
            "--strict/--no-strict",
            help=_(
                "Refuse (exit 2) what pre-flight only warns about: a ledger whose latest row is "
                "more than 7 days before the cut-off. Recommended for cron. [setting: strict]"
            ),
        ),
    ] = None,
    json_output: JsonOption = False,
    lang: LangOption = None,
) -> None:

    def action() -> None:
        import polars as pl

        from mediins_cli.runs import DeductRequest, OutputFormat, plan_day

        settings = load_settings()
        template_e = settings.get("enrollees", enrollees)
        templates_r = list(returns) if returns else None
        if templates_r is None and ledger is None and settings.values.get("returns"):
            templates_r = [settings.values["returns"]]
        template_l = None if templates_r else settings.get("ledger", ledger)
        if ledger is not None and returns:
            raise BadInput(_("--ledger and --returns do not go together: one round, one mode"))
        if template_e is None or (template_l is None and templates_r is None):
            missing = "--enrollees" if template_e is None else "--ledger (or --returns)"
            raise BadInput(
                _("{option} is required (or set it in mediins.toml or MEDIINS_*)").format(
                    option=missing
                )
            )
        base = DeductRequest(
            round=1,
            month=Month(1900, 1),
            enrollees=Path(),
            ledger=Path(),
            out=Path(settings.get("out", out, "out")),
            rules=settings.get("rules", rules, DEFAULT_PACK),
            calendar=settings.get("calendar", calendar_name.value if calendar_name else None),
            encoding=settings.get("encoding", encoding, "auto"),
            force=force,
            dry_run=dry_run,
            format=OutputFormat(
                excel=settings.get("excel", excel, False),
                encoding=settings.get("out_encoding", out_encoding, "utf-8"),
                xlsx=settings.get("xlsx", xlsx, False),
            ),
            command=" ".join(sys.argv),
            strict=settings.get("strict", strict, False),
            bank_format=settings.get("bank_format", bank_format),
            lang=current_lang(),
        )

        def request(run_month: Month, number: int) -> DeductRequest:
            found: tuple[Path, ...] = ()
            if templates_r is not None:
                found = tuple(
                    p for t in templates_r for p in expand_returns(t, str(run_month), number)
                )
            return replace(
                base,
                round=number,
                month=run_month,
                enrollees=fill(template_e, str(run_month), number),
                ledger=fill(template_l, str(run_month), number) if template_l else Path(),
                returns=found,
            )

        if round_no is RoundChoice.auto:
            if month is not None:
                raise BadInput(_("--month does not go with --round auto (the date decides)"))
            day = _parse_day(on_date) if on_date else _today().date()
            plan = plan_day(base.rules, base.calendar, day)
            if plan.warning:
                report.console(stderr=True).print(
                    _("mediins: warning: {warning}").format(warning=plan.warning),
                    markup=False,
                    soft_wrap=True,
                )
            requests = [request(r.month, r.round) for r in plan.due]
            if not requests:
                _report_nothing_due(plan, json_output)
                return
            if templates_r is not None:  # return mode: a round runs once the bank answered
                waiting = [r for r in requests if not r.returns]
                if waiting:
                    _report_waiting(waiting, templates_r, json_output)
                    return
        else:
            if on_date is not None:
                raise BadInput(_("--date goes with --round auto; use --month for round 1 or 2"))
            run_month = _run_month(month)
            requests = [request(run_month, int(round_no.value))]
            if templates_r is not None and not requests[0].returns:
                raise BadInput(
                    _("--returns: no return file at {where}").format(where=", ".join(templates_r))
                )
        found: list[pl.DataFrame] = []
        try:
            outcomes = [_run_one(r, json_output, found) for r in requests]
        except BadInput as exc:
            if errors is not None:
                _write_problems(errors, exc.frame, base.format)
            raise
        if errors is not None:  # as validate: written when the inputs were read, problems or not
            _write_problems(errors, pl.concat(found) if found else problems_frame([]), base.format)
        if json_output:
            report.print_json(outcomes[0] if len(outcomes) == 1 else outcomes)

    _guard(action, json_output=json_output)


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        from mediins_cli.mask import scrub  # what was typed may be an ID pasted by mistake

        raise BadInput(
            _("--date: {text!r} is not a date YYYY-MM-DD").format(text=scrub(text))
        ) from None


def _run_one(
    request: DeductRequest, json_output: bool, found: list[pl.DataFrame]
) -> dict[str, object]:
    from mediins_cli.runs import deduct as run_deduct

    err = report.console(stderr=True)
    if err.is_terminal and not json_output:
        with err.status(_("starting")) as status:
            outcome = run_deduct(request, progress=lambda stage: status.update(stage))
    else:
        outcome = run_deduct(request)
    found.append(outcome.warnings)
    if outcome.warnings.height:
        report.render_problems(err, outcome.warnings)
    if not json_output:
        report.render_round(report.console(), outcome)
    return {
        "status": outcome.status,
        "run_dir": str(outcome.run_dir),
        "moved_aside": str(outcome.moved_aside) if outcome.moved_aside else None,
        "summary": outcome.summary,
    }


def _report_waiting(waiting: list[DeductRequest], templates: list[str], json_output: bool) -> None:
    """``--round auto`` in return mode on a round's day, before the bank's files are there:
    nothing runs (exit 0); the next cron run tries again."""
    rounds: list[dict[str, Any]] = [
        {
            "month": str(r.month),
            "round": r.round,
            "returns": [str(fill(t, str(r.month), r.round)) for t in templates],
        }
        for r in waiting
    ]
    if json_output:
        report.print_json({"status": "waiting", "rounds": rounds})
        return
    out = report.console()
    for r in rounds:
        out.print(
            _(
                "round {round} of {month} is due; waiting for the bank's return files "
                "({files}): nothing run"
            ).format(round=r["round"], month=month_text(r["month"]), files=", ".join(r["returns"])),
            markup=False,
            soft_wrap=True,
        )


def _report_nothing_due(plan: DayPlan, json_output: bool) -> None:
    nxt = plan.next
    if json_output:
        report.print_json(
            {
                "status": "nothing_due",
                "date": plan.day.isoformat(),
                "next": None
                if nxt is None
                else {"month": str(nxt.month), "round": nxt.round, "effective": str(nxt.effective)},
            }
        )
        return
    out = report.console()
    if nxt is None:
        out.print(
            _("{day}: no deduction round is due; the next cannot be told yet").format(
                day=date_text(plan.day)
            )
        )
    else:
        out.print(
            _(
                "{day}: no deduction round is due; next: round {round} of {month} on "
                "{effective} ({why})"
            ).format(
                day=date_text(plan.day),
                round=nxt.round,
                month=month_text(str(nxt.month)),
                effective=date_text(nxt.effective),
                why=report.why(nxt.roll),
            ),
            markup=False,
            soft_wrap=True,
        )


# --------------------------------------------------------------------------- instruct


@app.command(
    cls=Command,
    help=_help(
        _(
            "Write a round's debit instructions for the banks (送盘): one file per bank code.\n"
            "\n"
            "Round 1 instructs everyone due; round 2 the failures of round 1 the bank may answer\n"
            "differently next time (INSUFFICIENT_FUNDS, BANK_ERROR). manifest.json holds each "
            "file's\n"
            "control totals (count, sum in fen) and SHA-256. Send the files to the banks; read "
            "their\n"
            "answers with `mediins deduct --returns`. Exit 2 on bad input, 3 when refused."
        ),
        "mediins instruct --round 1 --month 2024-02 --enrollees sample_data/enrollees.csv",
        "mediins instruct --round 1 --month 2024-02 --enrollees sample_data/enrollees.csv\n"
        "  --bank-format pipe-gb18030-fen --out out/bank",
    ),
)
def instruct(
    round_no: Annotated[
        int,
        typer.Option(
            "--round",
            min=1,
            max=2,
            help=_("1 (everyone due) or 2 (round 1's retryable failures, round 1 in return mode)."),
        ),
    ],
    enrollees: EnrolleesTemplate = None,
    month: Annotated[
        str | None, typer.Option("--month", help=_("Run month YYYY-MM (default: this month)."))
    ] = None,
    rules: Annotated[
        str | None, typer.Option("--rules", help=_("Rule pack id or path. [setting: rules]"))
    ] = None,
    out: Annotated[
        str | None,
        typer.Option(
            "--out", help=_("Output folder (default out); files go to OUT/YYYY-MM/instructions-N/.")
        ),
    ] = None,
    bank_format: Annotated[
        str | None,
        typer.Option(
            "--bank-format",
            help=_(
                "Bank format id or path (see `mediins rules banks`; default generic). "
                "[setting: bank_format]"
            ),
        ),
    ] = None,
    calendar_name: CalendarOption = None,
    encoding: EncodingOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help=_("Write again from other inputs; the earlier files are moved aside.")
        ),
    ] = False,
    json_output: JsonOption = False,
    lang: LangOption = None,
) -> None:

    def action() -> None:
        from mediins_cli.bank.run import InstructRequest
        from mediins_cli.bank.run import instruct as run_instruct

        settings = load_settings()
        template_e = settings.get("enrollees", enrollees)
        if template_e is None:
            raise BadInput(_("--enrollees is required (or set it in mediins.toml or MEDIINS_*)"))
        run_month = _run_month(month)
        request = InstructRequest(
            round=round_no,
            month=run_month,
            enrollees=fill(template_e, str(run_month), round_no),
            out=Path(settings.get("out", out, "out")),
            rules=settings.get("rules", rules, DEFAULT_PACK),
            calendar=settings.get("calendar", calendar_name.value if calendar_name else None),
            encoding=settings.get("encoding", encoding, "auto"),
            force=force,
            bank_format=settings.get("bank_format", bank_format),
            command=" ".join(sys.argv),
        )
        outcome = run_instruct(request)
        if outcome.warnings is not None and outcome.warnings.height:
            report.render_problems(report.console(stderr=True), outcome.warnings)
        if json_output:
            report.print_json(
                {
                    "status": outcome.status,
                    "dir": str(outcome.dir),
                    "moved_aside": str(outcome.moved_aside) if outcome.moved_aside else None,
                    "summary": outcome.summary,
                }
            )
        else:
            report.render_instructions(report.console(), outcome)

    _guard(action, json_output=json_output)


@app.command(
    "simulate-bank",
    cls=Command,
    help=_help(
        _(
            "For tests and demos: answer a round's instruction files from a ledger, as a bank "
            "would.\n"
            "\n"
            "Writes one return file per instruction file into --to, in the instructions' bank "
            "format:\n"
            "OK, INSUFFICIENT_FUNDS or NO_ACCOUNT, decided as `deduct --ledger` decides them. Not "
            "part\n"
            "of a production run: there the bank sends the return files."
        ),
        "mediins simulate-bank --round 1 --month 2024-02 --ledger sample_data/ledger.csv\n"
        "  --to bank-answers/round1",
    ),
)
def simulate_bank(
    round_no: Annotated[int, typer.Option("--round", min=1, max=2, help=_("1 or 2."))],
    ledger: Annotated[
        Path, typer.Option("--ledger", help=_("The ledger the simulated bank debits from."))
    ],
    to: Annotated[Path, typer.Option("--to", help=_("Folder to write the return files into."))],
    month: Annotated[str, typer.Option("--month", help=_("Run month YYYY-MM."))],
    out: Annotated[
        Path, typer.Option("--out", help=_("Output folder holding the instructions."))
    ] = Path("out"),
    rules: Annotated[str, typer.Option("--rules", help=_("Rule pack id or path."))] = DEFAULT_PACK,
    calendar_name: CalendarOption = None,
    bank_format: Annotated[
        str | None,
        typer.Option(
            "--bank-format",
            help=_("The instructions' bank format by path, when it is not in rules/banks/."),
        ),
    ] = None,
    lang: LangOption = None,
) -> None:

    def action() -> None:
        from mediins_cli.bank.simulate import simulate_bank as run_simulation

        run_month = _run_month(month)
        done = run_simulation(
            out,
            run_month,
            round_no,
            ledger,
            to,
            rules,
            calendar_name.value if calendar_name else None,
            bank_format,
        )
        console = report.console()
        for name, rows in done.files.items():
            console.print(
                _("{path}: {rows} answers").format(path=to / name, rows=rows), markup=False
            )
        console.print(
            _("outcomes: {outcomes}").format(
                outcomes=_(", ").join(f"{word(code)} {n}" for code, n in done.outcomes.items())
            ),
            markup=False,
        )

    _guard(action)


# --------------------------------------------------------------------------- replay


@app.command(
    cls=Command,
    help=_help(
        _(
            "Replay historical months and compare every output file with the expected one.\n"
            "\n"
            "Each month of HISTORY_DIR (YYYY-MM/ with enrollees.csv, ledger-round1.csv,\n"
            "ledger-round2.csv and expected/round-1/, expected/round-2/; or, in return mode,\n"
            "returns-round1/, returns-round2/ and also expected/instructions-1/, "
            "expected/instructions-2/,\n"
            "the bank format from replay.toml's bank_format) runs in order; every difference is "
            "shown by\n"
            "file, row and column. Exit 1 on any difference, 0 when all match."
        ),
        "mediins replay sample_data/history",
        "mediins replay sample_data/history --chain",
        "mediins replay sample_data/history --update",
    ),
)
def replay(
    history: Annotated[
        Path,
        typer.Argument(metavar="HISTORY_DIR", help=_("Folder of months with expected outputs.")),
    ],
    update: Annotated[
        bool,
        typer.Option(
            "--update", help=_("Rewrite the expected outputs (after a deliberate change).")
        ),
    ] = False,
    chain: Annotated[
        bool,
        typer.Option(
            "--chain",
            help=_(
                "Take each month's paid_through and waiting_until from the previous month's "
                "updates.csv instead of the stored enrollee file."
            ),
        ),
    ] = False,
    scratch: Annotated[
        Path | None,
        typer.Option(
            "--scratch",
            help=_(
                "Run into this empty folder and keep it (default: a "
                "temporary folder, removed afterwards)."
            ),
        ),
    ] = None,
    json_output: JsonOption = False,
    lang: LangOption = None,
) -> None:

    def action() -> None:
        from mediins_cli.replay import replay as run_replay

        err = report.console(stderr=True)
        with contextlib.ExitStack() as stack:
            folder = scratch or stack.enter_context(temporary_folder("mediins-replay"))
            if err.is_terminal and not json_output:
                status = stack.enter_context(err.status(_("replaying")))
                result = run_replay(
                    history,
                    folder,
                    chain=chain,
                    update=update,
                    progress=lambda stage: status.update(stage),
                )
            else:
                result = run_replay(history, folder, chain=chain, update=update)
        if json_output:
            report.print_json(
                {
                    "ok": result.ok,
                    "months": result.months,
                    "files_compared": result.files_compared,
                    "differences": [
                        {
                            "month": d.month,
                            "round": d.round,
                            "file": d.file,
                            "kind": d.kind,
                            "details": d.details,
                        }
                        for d in result.differences
                    ],
                    "updated": [str(p) for p in result.updated],
                    "notes": result.notes,
                }
            )
        else:
            report.render_replay(report.console(), result)
        if not result.ok:
            raise typer.Exit(ExitCode.UNEXPECTED)

    _guard(action, json_output=json_output)


# --------------------------------------------------------------------------- history


@app.command(
    cls=Command,
    help=_help(
        _(
            "List the months and rounds in an output folder: when each ran, ran, superseded or\n"
            "damaged, counts, amounts, collection rate, breaks, and what is next.\n"
            "\n"
            "Read from the run directories (summaries and manifests), never computed again; a run "
            "whose\n"
            "files no longer match its manifest is shown as damaged. Exit 2 when the folder or "
            "the\n"
            "month holds no run."
        ),
        "mediins status --out out",
        "mediins status --out out --month 2024-02 --json",
    ),
)
def status(
    out: Annotated[
        str | None, typer.Option("--out", help=_("Output folder (default out). [setting: out]"))
    ] = None,
    month: Annotated[
        str | None, typer.Option("--month", help=_("Only this month YYYY-MM."))
    ] = None,
    json_output: JsonOption = False,
    lang: LangOption = None,
) -> None:

    def action() -> None:
        from mediins_cli.desk.history import read_history
        from mediins_cli.desk.status import render_status, status_dict

        folder = Path(load_settings().get("out", out, "out"))
        history = read_history(folder, _run_month(month) if month else None)
        if json_output:
            report.print_json(status_dict(history))
        else:
            render_status(report.console(), history)

    _guard(action, json_output=json_output)


@app.command(
    "report",
    cls=Command,
    help=_help(
        _(
            "Write OUT/YYYY-MM/report.html: one self-contained page (no network) with the month's\n"
            "dates, collection by round and by agency, failures by reason, breaks by category and "
            "the\n"
            "collection rate of every month in the folder, each chart with its numbers beside it.\n"
            "\n"
            "Agency codes, counts and amounts only: no names, ID or account numbers. Exit 2 when "
            "the\n"
            "month has no round 1 in the folder, 3 when one of its runs is damaged."
        ),
        "mediins report --month 2024-02 --out out --lang zh",
    ),
)
def monthly_report(
    month: Annotated[str, typer.Option("--month", help=_("The month YYYY-MM."))],
    out: Annotated[
        str | None, typer.Option("--out", help=_("Output folder (default out). [setting: out]"))
    ] = None,
    lang: LangOption = None,
) -> None:

    def action() -> None:
        from mediins_cli.desk.monthly import write_report
        from mediins_cli.i18n import _

        folder = Path(load_settings().get("out", out, "out"))
        path, _made = write_report(folder, _run_month(month))
        report.console().print(_("report: {path}").format(path=path), markup=False)

    _guard(action)
