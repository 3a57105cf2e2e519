"""The ``strat`` command line: a thin shell over :mod:`stratigraphy.job`.

Each command imports what it works with (the engine, torch, matplotlib, pyarrow) when it runs,
so ``strat --help`` and a command's ``--help`` answer at once instead of after seconds of
imports.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from stratigraphy.core.errors import ConfigError, StratigraphyError
from stratigraphy.curate.prune_by import prune_scores
from stratigraphy.curate.review_log import ReviewLog
from stratigraphy.probes.suites import BUILTIN_SUITES
from stratigraphy.rundir.layout import REPORT_HTML, REVIEW_DB

if TYPE_CHECKING:
    from .config import RunConfig
    from .job import RunResult

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="stratigraphy: find out what each example of a labelled dataset really is.",
)
console = Console(stderr=True)


RunDir = Annotated[Path, typer.Argument(help="a finished run directory")]
OutFile = Annotated[Path, typer.Option("--out", "-o", help=".npz (with inputs), .csv or .parquet")]


@contextmanager
def _user_errors(*extra: type[Exception]) -> Iterator[None]:
    """Print a typed error's message and exit with status 2, instead of a traceback."""
    catch: tuple[type[Exception], ...] = (StratigraphyError, *extra)
    try:
        yield
    except catch as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        console.print(f"[red]error:[/red] cannot write or read{escape(where)}: "
                      f"{escape(exc.strerror or str(exc))}")  # fmt: skip
        raise typer.Exit(2) from None


@app.callback()
def _root() -> None:
    """stratigraphy: find out what each example of a labelled dataset really is."""


def _parse_user_suites(specs: list[str]) -> dict[str, np.ndarray]:
    suites = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ConfigError(
                f"--suite takes NAME=FILE (a text file or .npy of indices); got {spec!r}."
            )
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"--suite {name}: no such file {p}.")
        try:
            if p.suffix == ".npy":
                suites[name] = np.load(p, allow_pickle=False)
            else:
                suites[name] = np.loadtxt(p, dtype=np.int64, ndmin=1)
        except (ValueError, OSError) as exc:
            raise ConfigError(
                f"--suite {name}: {p} must hold integer row indices, one per line (or a .npy "
                f"array of them): {exc}"
            ) from exc
    return suites


def _levels_header(levels: list[float]) -> str:
    """The column title of the other error levels' flag counts, e.g. "at 5% / 20%"."""
    return "at " + " / ".join(f"{100 * lv:g}%" for lv in levels)


def _answer_table(summary: dict[str, Any]) -> Table:
    """The estimated share of each kind in the data and how many are flagged."""
    from stratigraphy.analysis.flags import flagged_at, flagged_spread, other_levels

    prevalence, flags = summary["prevalence"], summary["flags"]
    table = Table(
        title=f"What the data holds: {flags['flagged']:,} examples flagged at an expected "
        f"false-flag share ≤ {flags['fdr']:g}"
    )
    at = flagged_at(summary)
    levels = other_levels(summary)
    for col in ("kind", "estimated share", "95% interval", "flagged", "as the probes vary",
                *([_levels_header(levels)] if levels else [])):  # fmt: skip
        table.add_column(col, justify="left" if col == "kind" else "right",
                         no_wrap=col in ("kind", "95% interval"))  # fmt: skip
    withheld = set(flags.get("withheld", []))
    spread = flagged_spread(summary)
    for kind, share in prevalence["share"].items():
        flagged = flags["by_kind"].get(kind)
        low, high = spread.get(kind, (None, None))
        shown = kind in at and kind not in withheld
        table.add_row(
            kind,
            f"{100 * share:.1f}%",
            f"{100 * prevalence['low'][kind]:.1f}–{100 * prevalence['high'][kind]:.1f}%",
            "withheld" if kind in withheld else "—" if flagged is None else f"{flagged:,}",
            "" if low is None or kind in withheld else f"{low:,}–{high:,}",
            *([" / ".join(f"~{at[kind][lv]:,}" for lv in levels) if shown else ""]
              if levels else []),
        )  # fmt: skip
    if flags.get("notes"):
        table.caption = " ".join(flags["notes"])
    return table


def _shortfall_hint(summary: dict[str, Any], run_dir: Path) -> str | None:
    """A line saying the flags fall far short of the estimated problems, and what a looser
    level would give (:func:`~stratigraphy.analysis.flags.flag_shortfall`)."""
    from stratigraphy.analysis.flags import flag_shortfall

    short = flag_shortfall(summary)
    if short is None:
        return None
    about = f" (about {short.looser[1]:,} at {short.level:g})" if short.looser else ""
    return (
        f"Only {short.flagged:,} flagged where the estimate holds at least {short.estimated:,} "
        f"problems: the rest overlap ordinary examples too much at this level. Rank by "
        f"mislabel_score in `strat review`, or accept more false flags{about}: "
        f"`strat analyze {run_dir} --fdr {short.level:g} --out relevelled`."
    )


def _summary_tables(summary: dict[str, Any]) -> list[Table]:
    counts = Table(title="Examples per inferred kind", min_width=40)
    counts.add_column("kind")
    counts.add_column("examples", justify="right")
    for kind, c in sorted(summary["counts"].items(), key=lambda kv: -kv[1]):
        counts.add_row(kind, str(c))
    inf = summary["inference"]
    held = Table(title=f"Held-out probe accuracy (using {inf['method']})")
    held.add_column("suite")
    for m in inf["heldout"]:
        held.add_column(m, justify="right")
    for s in [*inf["suites"], "overall"]:
        row = [s]
        for rep in inf["heldout"].values():
            v = rep["accuracy"] if s == "overall" else rep["per_suite"][s]
            row.append(f"{v:.2f}")
        held.add_row(*row)
    tables = [counts, held]
    if "prevalence" in summary:
        tables.insert(0, _answer_table(summary))
    det = summary.get("detection")
    if det:
        t = Table(
            title=f"Detection of {det['planted_scored']} planted errors "
            f"({det['noise_kind']}, rate {det['noise_rate']:g}); mislabel_score = "
            f"{summary['mislabel_score']['chosen']}"
            + (
                f" of {', '.join(summary['mislabel_score']['consensus_of'])}"
                if summary["mislabel_score"].get("consensus_of")
                else ""
            )
            + (
                " (not chosen by the probes: they are unlike this data's label errors)"
                if summary["mislabel_score"].get("because")
                else ""
            )
        )
        for col in ("score", "AUROC", "AP", "precision@k", "recall@k"):
            t.add_column(col, justify="left" if col == "score" else "right")
        for name, q in sorted(det["scores"].items(), key=lambda kv: -kv[1]["ap"]):
            t.add_row(
                name,
                f"{q['auroc']:.3f}",
                f"{q['ap']:.3f}",
                f"{q['precision_at_k']:.3f}",
                f"{q['recall_at_k']:.3f}",
            )
        tables.append(t)
    return tables


_DATA_HELP = (
    "digits (default), fashion-mnist, a .npz with X and y, a .csv/.parquet table, an image folder "
    "(one sub-folder per class) or a directory of idx files"
)
Opt = typer.Option
Engine = Annotated[str, Opt(help="local | ray: embed texts and score examples on a Ray cluster")]
Address = Annotated[str | None, Opt(help="with --engine ray: the cluster (default: start one)")]


@app.command("run")
def run_cmd(
    data: Annotated[str, typer.Argument(help=_DATA_HELP)] = "digits",
    out: Annotated[Path, Opt("--out", "-o", help="run directory to write")] = Path("runs/digits"),
    data_dir: Annotated[str | None, Opt(help="directory of MNIST-format idx files")] = None,
    epochs: Annotated[int, Opt(help="training epochs")] = 30,
    model: Annotated[str, Opt(help="auto | mlp | cnn")] = "auto",
    seed: Annotated[int, Opt(help="seed of noise, probes, initialisation, order")] = 0,
    probe_size: Annotated[
        int | None, Opt(help="probes per suite (N/40, ≥100 if N allows, ≤500)")
    ] = None,
    probes: Annotated[str, Opt(help="comma-separated suites")] = ",".join(BUILTIN_SUITES),
    suite: Annotated[list[str] | None, Opt(help="user suite NAME=FILE of indices")] = None,
    noise_rate: Annotated[float | None, Opt(help="plant label errors (digits: 0.1)")] = None,
    noise_kind: Annotated[str, Opt(help="symmetric | asymmetric (confusions)")] = "symmetric",
    corrupt_rate: Annotated[float, Opt(help="plant corrupted inputs (share)")] = 0.0,
    ood_rate: Annotated[float, Opt(help="insert out-of-distribution examples (share)")] = 0.0,
    text_column: Annotated[str | None, Opt(help="column of text (embedded offline)")] = None,
    label_column: Annotated[str, Opt(help="table column holding the label")] = "label",
    drop_column: Annotated[
        list[str] | None, Opt(help="table column to leave out of the features (repeatable)")
    ] = None,
    image_size: Annotated[int | None, Opt(help="resize folder images to this side")] = None,
    limit: Annotated[int | None, Opt(help="only the first N examples (indices kept)")] = None,
    seeds: Annotated[int, Opt(help="train this many seeds, average trajectories")] = 1,
    source_fold: Annotated[
        float, Opt(help="share of the data a second training judges probe sources on (0: off)")
    ] = 0.25,
    batch_size: Annotated[int, Opt()] = 128,
    lr: Annotated[float, Opt(help="peak SGD learning rate (cosine schedule)")] = 0.05,
    eval_pass: Annotated[bool, Opt(help="record from an extra evaluation pass")] = False,
    device: Annotated[str, Opt(help="auto (a GPU when torch sees one) | cpu | cuda[:N] | mps")] = (
        "auto"
    ),
    k: Annotated[int, Opt(help="neighbours for the kNN inference")] = 20,
    fdr: Annotated[float, Opt(help="expected share of false flags allowed")] = 0.1,
    resume: Annotated[bool, Opt(help="continue a run killed mid-way")] = False,
    test: Annotated[
        str | None,
        Opt(help="held-out set (same format): report test examples that duplicate training ones"),
    ] = None,
    groups: Annotated[
        str | None,
        Opt(
            help="one group per example: a file (text lines or .npy) or a column of the data's "
            "table; weak slices per group"
        ),
    ] = None,
    engine: Engine = "local",
    address: Address = None,
) -> None:
    """Train with probe suites mixed in, record every example's dynamics, infer its metadata."""
    flags = dict(locals())
    with _user_errors():
        cfg = _run_config(flags)
        result = _run_with_progress(cfg, epochs, seeds + int(source_fold > 0))
    _print_closing(result)


def _run_config(flags: dict[str, Any]) -> RunConfig:
    """``strat run``'s options as the job's configuration."""
    from .config import RunConfig

    flags["source"] = flags.pop("data")
    flags["drop_columns"] = tuple(flags.pop("drop_column") or ())
    flags["user_suites"] = _parse_user_suites(flags.pop("suite") or [])
    flags["probes"] = tuple(s.strip() for s in flags["probes"].split(",") if s.strip())
    return RunConfig.build(flags.pop("out"), seed=flags.pop("seed"), **flags)


def _print_closing(result: RunResult) -> None:
    """The run's answer tables and where to go next."""
    from stratigraphy.analysis.flags import wrong_labels_withheld

    out_console = Console()
    for table in _summary_tables(result.summary):
        out_console.print(table)
    hint = _shortfall_hint(result.summary, result.out)
    if hint:
        out_console.print(hint)
    review, fix = ("review the flagged with", "fix them with")
    if wrong_labels_withheld(result.summary):
        review, fix = ("review the likeliest label errors (none flagged: no error rate can be "
                       "vouched for) with", "apply your decisions with")  # fmt: skip
    elif hint:
        review = "review the likeliest label errors, flagged or not, with"
    out_console.print(
        f"Run written to [bold]{result.out}[/bold] in {result.summary['timings']['total_s']:.1f} s"
        f"; open [bold]{result.out / REPORT_HTML}[/bold], {review} "
        f"[bold]strat review {result.out}[/bold], {fix} [bold]strat fix {result.out} "
        f"--out fixed.npz[/bold]."
    )


def _run_with_progress(cfg: RunConfig, epochs: int, trainings: int) -> RunResult:
    """The main job under one progress bar; Ctrl+C says what was kept and how to resume."""
    from .job import run

    try:
        with _RunProgress(epochs, trainings) as progress:
            return run(cfg, on_batch=progress.on_batch, on_stage=progress.on_stage,
                       on_progress=progress.on_progress, on_epoch=progress.on_epoch)  # fmt: skip
    except KeyboardInterrupt:
        _interrupted(cfg.out)
        raise typer.Exit(130) from None


def _interrupted(out: Path) -> None:
    """What a Ctrl+C kept, and the command that continues the run."""
    from stratigraphy.record.store import DynamicsStore

    done = DynamicsStore(out / "dynamics").finished_epochs() if out.is_dir() else 0
    if done == 0:
        console.print(f"[yellow]Interrupted[/yellow] before the first epoch finished; {out} "
                      "holds nothing to resume.")  # fmt: skip
        return
    console.print(
        f"[yellow]Interrupted.[/yellow] {done} finished epoch(s) are kept in {out}. Continue "
        "with the same command plus [bold]--resume[/bold]; the result equals an uninterrupted run."
    )


class _RunProgress:
    """One progress bar for a run: its stage, then epochs (of every seed), then done."""

    def __init__(self, epochs: int, seeds: int) -> None:
        self.epochs, self.seeds = epochs, seeds
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.fields[stats]}"), console=console, transient=False,
        )  # fmt: skip
        self.done, self.last = 0, -1

    def __enter__(self) -> _RunProgress:
        self.progress.__enter__()
        self.task = self.progress.add_task("preparing", total=None, stats="")
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            total = self.epochs * self.seeds
            self.progress.update(self.task, completed=total, total=total, description="done")
        self.progress.__exit__(*exc)

    def on_stage(self, name: str) -> None:
        self.progress.update(self.task, description=name)

    def on_batch(self, epoch: int, batch: int) -> None:
        if batch != 1:
            return
        if epoch <= self.last:
            self.done += self.epochs
        self.last = epoch
        seed_note = (
            f" (training {self.done // self.epochs + 1}/{self.seeds})" if self.seeds > 1 else ""
        )
        self.progress.update(
            self.task, description=f"epoch {epoch + 1}/{self.epochs}{seed_note}",
            completed=self.done + epoch, total=self.epochs * self.seeds,
        )  # fmt: skip

    def on_epoch(self, epoch: int, loss: float, accuracy: float) -> None:
        self.progress.update(self.task, stats=f"loss {loss:.3f} · train acc {accuracy:.1%}")

    def on_progress(self, what: str, done: int, total: int) -> None:
        self.progress.update(self.task, description=what, completed=done, total=total)


def _class_table(
    names: list[str], given: np.ndarray, keep: np.ndarray, labels: np.ndarray
) -> Table:
    """Per class: examples before, written after (by their label after the change), share."""
    k = len(names)
    before = np.bincount(given, minlength=k)
    after = np.bincount(labels[keep], minlength=k)
    table = Table(title="Per class")
    for col in ("class", "before", "after", "after / before"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for c, name in enumerate(names):
        share = f"{after[c] / before[c]:.0%}" if before[c] else "—"
        table.add_row(escape(name), f"{before[c]:,}", f"{after[c]:,}", share)
    return table


@app.command("fix")
def fix_cmd(
    run_dir: RunDir,
    out: OutFile,
    policy: Annotated[str, typer.Option(help="relabel | remove | keep")] = "relabel",
    review: Annotated[
        bool, typer.Option(help="apply review.sqlite decisions first (--no-review to ignore)")
    ] = True,
) -> None:
    """Write the dataset with fixes applied (review decisions first), plus a CSV of every change."""
    from stratigraphy.curate.fixes import apply_fixes
    from stratigraphy.rundir.view import RunView

    with _user_errors():
        plan, changes = apply_fixes(run_dir, out, policy, review)
    actions = [c["action"] for c in plan.changes]
    sources = [c["source"] for c in plan.changes]
    table = Table(title=f"strat fix --policy {policy} (on the run's flags)")
    for col in ("action", "from review", "automatic"):
        table.add_column(col, justify="left" if col == "action" else "right")
    for a in ("relabel", "remove", "keep"):
        n_review = sum(1 for x, s in zip(actions, sources, strict=True) if x == a and s == "review")
        n_auto = sum(1 for x, s in zip(actions, sources, strict=True) if x == a and s == "auto")
        table.add_row(a, str(n_review), str(n_auto))
    out_console = Console()
    out_console.print(table)
    view = RunView.open(run_dir)
    given = view.examples["label"].astype(np.int64)
    out_console.print(_class_table(view.class_names, given, plan.keep, plan.labels))
    out_console.print(
        f"{int(plan.keep.sum()):,} of {plan.keep.size:,} examples written to [bold]{out}[/bold]; "
        f"every change with its reason in [bold]{changes}[/bold]"
    )


@app.command("prune")
def prune_cmd(
    run_dir: RunDir,
    out: OutFile,
    keep: Annotated[float, Opt(help="fraction of the data to keep")] = 0.5,
    by: Annotated[str, Opt(help=" | ".join(prune_scores()))] = "el2n",
    class_quotas: Annotated[bool, Opt(help="class quotas from class error (DRoP)")] = False,
    class_error: Annotated[Path | None, Opt(help="file of per-class error rates")] = None,
    drop_flagged: Annotated[bool, Opt(help="drop examples fix would change, first")] = False,
    seed: Annotated[int, Opt()] = 0,
) -> None:
    """Keep a fraction of the data by a score, optionally with class quotas."""
    from stratigraphy.curate.pruning import prune_run, unranked
    from stratigraphy.rundir.view import RunView

    with _user_errors(OSError):
        errors = None if class_error is None else np.loadtxt(class_error, ndmin=1)
        kept = prune_run(
            run_dir, out, keep, by, class_quotas or errors is not None, errors, drop_flagged, seed
        )
    view = RunView.open(run_dir)
    ex = view.examples
    labels = ex["label"].astype(np.int64)
    mask = np.zeros(labels.size, dtype=bool)
    mask[kept] = True
    out_console = Console()
    out_console.print(_class_table(view.class_names, labels, mask, labels))
    dropped_flagged = int((ex["flagged"].astype(bool) & ~mask).sum()) if "flagged" in ex else 0
    sources = int((ex["row"] < 0).sum())
    left_out = int(unranked(ex, view.summary, by).sum())
    out_console.print(
        f"Kept {kept.size:,} of {labels.size:,} examples by {by} "
        f"({'class quotas' if class_quotas or class_error else 'one global cut'}); "
        f"{dropped_flagged:,} flagged example(s) are among the dropped"
        + (" (dropped first: --drop-flagged)" if drop_flagged else "")
        + (f"; {left_out:,} probe-source examples without scores on the main training's scale "
           "are left out" if left_out else
           f"; the {sources:,} former probe sources are ranked by the source fold's scores on "
           "the main training's scale" if sources else "")
        + f". Written to [bold]{out}[/bold]."
    )  # fmt: skip


@app.command("report")
def report_cmd(
    run_dir: RunDir,
) -> None:
    """(Re)write RUN/report.html: one self-contained page that works offline."""
    from stratigraphy.present.report import write_report

    with _user_errors():
        path = write_report(run_dir)
    Console().print(f"Report written to [bold]{path}[/bold]")


def _load_callable(spec: str, what: str) -> Any:
    """``module:function`` or ``path/to/file.py:function``, imported."""
    import importlib
    import importlib.util

    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name:
        raise ConfigError(f"--{what} must be MODULE:FUNCTION or FILE.py:FUNCTION; got {spec!r}.")
    if target.endswith(".py"):
        loc = importlib.util.spec_from_file_location(Path(target).stem, target)
        if loc is None or loc.loader is None or not Path(target).is_file():
            raise ConfigError(f"--{what}: no Python file {target}.")
        module = importlib.util.module_from_spec(loc)
        loc.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ConfigError(f"--{what}: {target} has no function {name}.")
    return fn


def _reanalyse_with_progress(run_dir: Path, out: Path, engine: str, address: str | None,
                             fdr: float | None = None) -> None:  # fmt: skip
    """A finished run analysed again (``strat analyze RUN``), under a progress bar; then its
    answer table, as ``strat run`` closes with."""
    from stratigraphy.job import reanalyse

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:  # fmt: skip
        task = bar.add_task("rebuilding the probes", total=None)

        def progress(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total)

        summary = reanalyse(run_dir, out, engine, address, progress, fdr)
    out_console = Console()
    if "prevalence" in summary:
        out_console.print(_answer_table(summary))
    hint = _shortfall_hint(summary, out)
    if hint:
        out_console.print(hint)
    out_console.print(
        f"Analysed {summary['n_examples']:,} examples of {run_dir} again ({engine} engine): "
        f"[bold]{out / 'examples.parquet'}[/bold], {summary['flags']['flagged']:,} flagged "
        f"at an expected false-flag share ≤ {summary['flags']['fdr']:g}. {out} is a run "
        f"directory: `strat review {out}` and `strat fix {out}` act on these flags."
    )


@app.command("analyze")
def analyze_cmd(
    outputs: Annotated[
        list[Path],
        typer.Argument(
            help="per-epoch logits or probabilities (.npy/.npz, N×C each); with --model, "
            "checkpoints (files, checkpoint directories, or a Trainer output directory)"
        ),
    ],
    labels: Annotated[
        Path | None, Opt(help=".npy of the N integer labels (saved outputs only)")
    ] = None,
    model: Annotated[
        str | None, Opt(help="MODULE:FUNCTION (or FILE.py:FUNCTION) returning a fresh model")
    ] = None,
    dataset: Annotated[
        str | None,
        Opt(help="MODULE:FUNCTION returning the training Dataset (a ProbedDataset: full analysis)"),
    ] = None,
    batch_size: Annotated[int, Opt(help="batch size of the checkpoint passes")] = 256,
    device: Annotated[str, Opt(help="device of the checkpoint passes")] = "cpu",
    engine: Engine = "local",
    address: Address = None,
    fdr: Annotated[
        float | None,
        Opt(help="a finished run flagged again at this expected share of false flags"),
    ] = None,
    out: Annotated[Path, Opt("--out", "-o", help="directory for examples.parquet")] = Path(
        "runs/analyzed"
    ),
) -> None:
    """Scores and a mislabel ranking from a model you already trained (its saved per-epoch
    outputs, or its checkpoints replayed over the dataset), or a finished run analysed again
    (`strat analyze RUN --engine ray`, or at another error level: `--fdr 0.2`)."""
    with _user_errors():
        if len(outputs) == 1 and (outputs[0] / "run.json").is_file():
            _reanalyse_with_progress(outputs[0], out, engine, address, fdr)
            return
        if engine != "local":
            raise ConfigError("--engine applies to a finished run directory.")
        if fdr is not None:
            raise ConfigError("--fdr applies to a finished run directory.")
        rows, epochs = _analyze_trained(outputs, labels, model, dataset, batch_size, device, out)
    Console().print(
        f"Scored {rows:,} examples over {epochs} epochs; "
        f"[bold]{out / 'examples.parquet'}[/bold] (sort by mislabel_score, highest first)."
    )


def _analyze_trained(outputs: list[Path], labels: Path | None, model: str | None,
                     dataset: str | None, batch_size: int, device: str,
                     out: Path) -> tuple[int, int]:  # fmt: skip
    """``strat analyze`` over saved outputs or checkpoints: (examples, epochs)."""
    from stratigraphy.analysis.external import (
        analyze_checkpoints,
        analyze_outputs,
        read_epoch_arrays,
        signals_from_epochs,
    )
    from stratigraphy.record.checkpoints import checkpoint_paths

    if (model is None) != (dataset is None):
        raise ConfigError("Checkpoints need both --model and --dataset.")
    if model is not None and dataset is not None:
        paths = checkpoint_paths(outputs)
        data = _load_callable(dataset, "dataset")()
        table, _ = analyze_checkpoints(paths, data, _load_callable(model, "model"), out,
                                       batch_size=batch_size, device=device)  # fmt: skip
        return table.num_rows, len(paths)
    if labels is None:
        raise ConfigError("Saved outputs need --labels (an .npy of the N labels).")
    y = read_epoch_arrays([labels])[0]
    signals = signals_from_epochs(read_epoch_arrays(outputs), y)
    table, summary = analyze_outputs(signals, y, out=out)
    return table.num_rows, int(summary["epochs"])


@app.command("review")
def review_cmd(
    run_dir: RunDir,
    host: Annotated[str, Opt(help="address to bind; beyond loopback needs --token")] = "127.0.0.1",
    port: Annotated[int, Opt(help="port to listen on")] = 8765,
    token: Annotated[str | None, Opt(help="secret every request must carry")] = None,
    export: Annotated[Path | None, Opt(help="write the decisions as CSV here and exit")] = None,
    current: Annotated[bool, Opt(help="with --export: current decisions only")] = False,
    verify: Annotated[
        bool, Opt(help="check the log's hash chain and exit (status 1 if it was rewritten)")
    ] = False,
) -> None:
    """Review flagged examples in the browser; decisions go to RUN/review.sqlite (append-only)."""
    from stratigraphy.present.review_app import check_binding, serve
    from stratigraphy.rundir.view import RunView

    with _user_errors():
        if verify:
            view = RunView.open(run_dir)
            log = ReviewLog(run_dir / REVIEW_DB, view.n_examples, len(view.class_names))
            result = log.verify()
            legacy = f" ({result.unchained} written before the chain)" if result.unchained else ""
            if not result.ok:
                console.print(
                    f"[red]review log rewritten:[/red] row {result.first_bad} of "
                    f"{run_dir / REVIEW_DB} does not match the hash chain; the decisions from "
                    "there on cannot be trusted."
                )
                raise typer.Exit(1)
            Console().print(f"Review log intact: {result.rows} decisions checked{legacy}.")
            return
        if export is not None:
            view = RunView.open(run_dir)
            log = ReviewLog(run_dir / REVIEW_DB, view.n_examples, len(view.class_names))
            export.write_text(log.to_csv(current_only=current))
            Console().print(f"{log.count()} decisions logged; CSV written to [bold]{export}[/bold]")
            return
        check_binding(host, token)
        url = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
        Console().print(f"Reviewing [bold]{run_dir}[/bold] at {url} (Ctrl+C to stop)")
        serve(run_dir, host, port, token)


def main() -> None:
    app()
