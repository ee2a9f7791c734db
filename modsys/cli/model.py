"""The toxicity model."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from modsys.cli.base import community_of, community_option, fail, main, open_db
from modsys.infra.config import load_settings


def scorer_or_fail(settings, name: str, *backends: str | None):
    from modsys.toxicity import get_scorer, scorer_unavailable_reason

    scorer = get_scorer(settings.model_dir, name, *backends)
    if scorer is None:
        fail(f"{name}: no usable model: {scorer_unavailable_reason(settings.model_dir, name, *backends)}")
    return scorer


def policy_plan(session, settings):
    from modsys.runtime.scoring import plan_for

    return plan_for(session, settings, community_of(session, settings).id)


@main.group()
def model() -> None:
    """The toxicity model: install, fetch, convert, status, re-score, evaluate."""


MODEL_NAME = click.option("--model", "name", default="original", show_default=True,
                          help="original, unbiased, multilingual, or the name of a model installed with --hf-dir")


@model.command("install")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="detoxify's .ckpt file")
@click.option("--config-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="the Hugging Face config and tokenizer files it was trained with")
@click.option("--hf-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="instead: a Hugging Face sequence-classification model (config.json, model.safetensors, tokenizer)")
@click.option("--labels", help="with --hf-dir: its output labels in order, comma-separated (map them onto modsys's "
                               "labels in the policy's toxicity.label_maps)")
@MODEL_NAME
@click.option("--sha256", help="Refuse the checkpoint (or model.safetensors) unless its SHA-256 is this.")
def model_install(checkpoint: Path | None, config_dir: Path | None, hf_dir: Path | None, labels: str | None,
                  name: str, sha256: str | None) -> None:
    """Install a checkpoint and its Hugging Face config directory brought in by hand,
    or any Hugging Face sequence-classification model with declared labels."""
    from modsys.toxicity import ModelError, install_model
    from modsys.toxicity.hf_import import install_hf_model

    settings = load_settings()
    if hf_dir is not None and (checkpoint or config_dir) or hf_dir is None and not (checkpoint and config_dir):
        fail("give --checkpoint and --config-dir (a detoxify checkpoint), or --hf-dir with --labels")
    if hf_dir is not None and not labels:
        fail("--hf-dir needs --labels: the model's outputs in order, e.g. --labels neutral,offensive,hate")
    try:
        if hf_dir is not None:
            info = install_hf_model(hf_dir, settings.model_dir, name, [x.strip() for x in labels.split(",")],
                                    expected_sha256=sha256)
        else:
            info = install_model(checkpoint, config_dir, settings.model_dir, name, expected_sha256=sha256)
    except (ModelError, ValueError) as e:
        fail(str(e))
    click.echo(f"installed {info.name} into {settings.model_dir}: sha256 {info.sha256}, labels {', '.join(info.labels)}")


@model.command("fetch")
@click.option("--model", "name", default="original", show_default=True, type=click.Choice(["original", "unbiased", "multilingual"]))
def model_fetch(name: str) -> None:
    """Download a checkpoint and its tokenizer, checksum verified (from detoxify's
    releases, or the mirror at MODSYS_MODEL_URL_BASE)."""
    from modsys.toxicity import ModelError
    from modsys.toxicity.fetch import fetch_model, terminal_bar

    settings = load_settings()
    try:
        info = fetch_model(settings.model_dir, name, url_base=settings.model_url_base,
                           progress=terminal_bar(f"downloading {name}"), allow_http=settings.model_allow_http,
                           pins=settings.model_pins)
    except ModelError as e:
        fail(str(e))
    click.echo(f"fetched {info.name} into {settings.model_dir}: sha256 {info.sha256}")


@model.command("convert")
@MODEL_NAME
@click.option("--to", "backend", required=True, type=click.Choice(["onnx-int8"]))
def model_convert(name: str, backend: str) -> None:
    """Export the installed checkpoint to ONNX with int8 weights, beside it. Refused
    unless it scores within 0.02 of torch on a fixed test set."""
    from modsys.toxicity import ModelError
    from modsys.toxicity.convert import MAX_DIFF, convert

    settings = load_settings()
    try:
        entry = convert(settings.model_dir, name)
    except (ModelError, ValueError) as e:
        fail(str(e))
    click.echo(f"converted {name} to {backend}: {entry['file']} sha256 {entry['sha256']}, largest probability "
               f"difference from torch {entry['max_abs_diff']:.4f} (limit {MAX_DIFF}); it is now the default backend")


@model.command("status")
def model_status() -> None:
    """Which model and backend the policy asks for, and whether it loads."""
    settings = load_settings()
    _, session = open_db(settings)
    plan = policy_plan(session, settings)
    for name, backends, role in ((plan.model, plan.backends, "live"), (plan.shadow_model, plan.shadow_backends, "shadow")):
        if name:
            scorer = scorer_or_fail(settings, name, *backends)
            click.echo(f"{name} ({role}): loaded on {scorer.info.backend} (sha256 {scorer.info.sha256}, "
                       f"{scorer.info.package_version}, {len(scorer.info.labels)} labels)")


@model.command("rescore")
@click.option("--since", required=True, type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]),
              help="Re-score flags reported since this date (UTC).")
@click.option("--batch", default=32, show_default=True)
def model_rescore(since, batch: int) -> None:
    """Score flags again after the model or the thresholds changed."""
    from datetime import UTC

    from modsys.runtime import scoring

    settings = load_settings()
    engine, session = open_db(settings)
    plan = policy_plan(session, settings)
    scorer = scorer_or_fail(settings, plan.model, *plan.backends)
    total = scoring.reset_for_rescore(engine, since.replace(tzinfo=UTC))
    scorers, owner = scoring.scorers_for(settings, plan), scoring.worker_id()
    with click.progressbar(length=total, label=f"re-scoring {total} flags", file=sys.stderr) as bar:
        while done := scoring.score_batch(engine, scorers, owner, batch):
            bar.update(done)
    click.echo(f"re-scored {total} flags with {plan.model} ({scorer.info.sha256[:12]}…) and the models "
               f"the policy routes languages to")


@model.command("evaluate")
@click.option("--target-precision", default=0.9, show_default=True, type=click.FloatRange(0.01, 1.0))
@community_option
@click.option("--compare", is_flag=True, help="Also the shadow candidate(s), on the flags every source scored.")
@click.option("--by-language", is_flag=True, help="Also precision and recall of the priority mark per language.")
def model_evaluate(target_precision: float, compare: bool, by_language: bool, community_slug: str | None) -> None:
    """Precision and recall of the thresholds against decisions (flags and appeals),
    and thresholds that reach a target precision."""
    from modsys.community import policy_for
    from modsys.reads.calibration import by_language as per_language
    from modsys.reads.calibration import calibrate, evaluation, labelled_examples

    settings = load_settings()
    _, session = open_db(settings)
    community = community_of(session, settings, community_slug)
    policy = policy_for(session, community.id)
    examples = labelled_examples(session, community.id)
    click.echo(f"{len(examples.toxic)} labelled flags: {examples.from_flags} moderator decisions, "
               f"{examples.from_appeals} appeal outcomes on auto-detected sanctions "
               f"({len(examples.overturned)} overturned: false positives); target precision {target_precision:.2f}")
    reports = evaluation(session, community.id, policy, target_precision) if compare else [
        calibrate(session, community.id, policy, target_precision)]
    if compare and len(reports) == 1:
        click.echo("no shadow scores yet: set the policy's toxicity.shadow and let the worker run")
    fmt = lambda v: "  -  " if v is None else f"{v:.3f}"  # noqa: E731
    for report in reports:
        click.echo(f"\n{report.source}: {report.decided} scored ({report.actioned} toxic, "
                   f"{report.overturned} overturned)")
        click.echo(f"{'label':<16} {'threshold':>9} {'precision':>9} {'recall':>7} {'suggested':>9} {'recall':>7}")
        for r in report.labels:
            click.echo(f"{r.label:<16} {fmt(r.threshold):>9} {fmt(r.precision):>9} {fmt(r.recall):>7} "
                       f"{fmt(r.suggested):>9} {fmt(r.suggested_recall):>7}")
    if by_language:
        click.echo("\nby language (the priority mark: any label over that language's thresholds)")
        click.echo(f"{'language':<9} {'scored':>6} {'toxic':>6} {'precision':>9} {'recall':>7} {'low conf.':>9}  models")
        for r in per_language(session, community.id, policy):
            click.echo(f"{r.language:<9} {r.decided:>6} {r.actioned:>6} {fmt(r.precision):>9} {fmt(r.recall):>7} "
                       f"{r.low_confidence:>9}  {', '.join(r.models)}")
