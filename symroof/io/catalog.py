"""Finding cards: by name in the shipped ``models/`` folder, by card path, or a Hugging Face ``config.json``."""

from __future__ import annotations

from pathlib import Path

from ..errors import CardError, UnknownNameError
from typing import TYPE_CHECKING

from .cards import ModelCard, model_from_dict
from .json_reader import read_json
from .readers import read_yaml

if TYPE_CHECKING:        # chips and the config.json reader are imported where used: a model
    from .chips import ChipCard       # named by its card needs neither

_PACKAGE = Path(__file__).resolve().parent.parent   # symroof/


def data_dir(name: str) -> Path:
    """``models`` or ``derivations``: inside the installed package, else the source checkout."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise UnknownNameError(f"cannot find the {name}/ folder next to {_PACKAGE}")



def _card_files(kind: str) -> dict[str, Path]:
    folder = data_dir("models") / ("chips" if kind == "chip" else "")
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def list_cards() -> dict[str, list[str]]:
    """Card names by kind, read from the folder (never a hard-coded list)."""
    return {"models": list(_card_files("model")), "chips": list(_card_files("chip"))}


def load_model(ref: str) -> ModelCard:
    """A model card by name (``llama3-70b``), by YAML path, or a Hugging Face ``config.json`` path."""
    path = Path(ref)
    if path.suffix == ".json" or path.name == "config.json":
        from .hf import model_from_hf_config

        return model_from_hf_config(read_json(path), str(path))
    if path.suffix in (".yaml", ".yml"):
        return _model_from_file(path)
    files = _card_files("model")
    if ref not in files:
        raise UnknownNameError(f"unknown model {ref!r}; cards: {', '.join(files)} "
                               "(or give a card .yaml or a Hugging Face config.json path)")
    return _model_from_file(files[ref])


def _model_from_file(path: Path) -> ModelCard:
    raw = read_yaml(path)
    if raw.get("kind", "model") != "model":
        raise CardError(f"{path}: key 'kind' is {raw.get('kind')!r}; a model card needs 'model'")
    card = model_from_dict(raw, str(path))
    return card


def load_chip(ref: str, resolve: bool = True) -> ChipCard:
    """A chip card by name (``tpu-v5p``) or by YAML path (``resolve``: its ``calibrated_as`` read)."""
    path = Path(ref)
    if path.suffix not in (".yaml", ".yml"):
        files = _card_files("chip")
        if ref not in files:
            raise UnknownNameError(f"unknown chip {ref!r}; cards: {', '.join(files)} (or a card .yaml path)")
        path = files[ref]
    raw = read_yaml(path)
    if raw.get("kind", "chip") != "chip":
        raise CardError(f"{path}: key 'kind' is {raw.get('kind')!r}; a chip card needs 'chip'")
    from .chips import chip_from_dict

    card = chip_from_dict(raw, str(path))
    return _calibrated_as(card, path) if card.calibrated_as and resolve else card


def _calibrated_as(card: ChipCard, path: Path) -> ChipCard:
    """A card that says ``calibrated_as: OTHER`` (the same silicon, another interconnect: H800 and
    H100) takes OTHER's calibration block as OTHER's card records it, so a refit of OTHER carries over."""
    from dataclasses import replace

    other = card.calibrated_as
    where = f"{path}: key 'calibrated_as'"
    if card.calibration is not None or other == card.name:
        raise CardError(f"{where} names the card whose calibration this one uses, in place of its own "
                        f"'calibration' block (and not itself)")
    try:
        twin = load_chip(str(path.parent / other) if other.endswith((".yaml", ".yml")) else other, resolve=False)
    except (UnknownNameError, CardError) as err:
        raise CardError(f"{where}: {err}") from None
    if twin.calibrated_as or twin.calibration is None:
        raise CardError(f"{where}: {other} has no calibration block of its own to use")
    if (twin.family, twin.peak_flops_per_s) != (card.family, card.peak_flops_per_s):
        # its fitted numbers are fractions of its own peaks, on its own kind of chip
        raise CardError(f"{where}: {other} is not the same silicon (its family and peaks must be this card's)")
    return replace(card, calibration=twin.calibration)
